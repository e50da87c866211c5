package simtest

import (
	"errors"

	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// What the archive checker caught (Finding.Archive).
const (
	// ArchiveReadyEarly: a .ready was created for a segment not yet
	// complete and durable in pg_wal.
	ArchiveReadyEarly = "ready-early"
	// ArchiveDoneNeverComplete: a .done names a segment that was never
	// complete and durable in pg_wal.
	ArchiveDoneNeverComplete = "done-never-complete"
	// ArchiveDoneBadCopy: a segment was marked .done while the archive's
	// durable copy was not the completed segment (Finding.Copy says how).
	ArchiveDoneBadCopy = "done-bad-copy"
	// ArchiveRemovedNotDone: a completed segment was removed from pg_wal
	// with no .done.
	ArchiveRemovedNotDone = "removed-not-done"
	// ArchiveRemovedBadCopy: a completed segment was removed from pg_wal
	// while the archive's durable copy was not it.
	ArchiveRemovedBadCopy = "removed-bad-copy"
	// ArchiveNoSegment: after recovery pg_wal durably holds no segment.
	ArchiveNoSegment = "no-segment"
	// ArchiveRecoveredDoneBadCopy: after recovery a durable .done names a
	// segment whose durable copy is not it.
	ArchiveRecoveredDoneBadCopy = "recovered-done-bad-copy"
	// ArchiveRecoveredGoneBadCopy: after recovery a segment gone from
	// pg_wal has no good durable copy in the archive.
	ArchiveRecoveredGoneBadCopy = "recovered-gone-bad-copy"
	// ArchiveRecoveredRewritten: after recovery a completed segment still
	// in pg_wal durably holds other bytes than when it was completed.
	ArchiveRecoveredRewritten = "recovered-rewritten"
)

// What was wrong with the archive's durable copy (Finding.Copy).
const (
	CopyMissing    = "missing"    // no durable file at all
	CopyIncomplete = "incomplete" // not a complete segment (no switch record)
	CopyTrailing   = "trailing"   // bytes past its switch record
	CopySize       = "size"       // a length other than the completed segment's
	CopyDiffers    = "differs"    // the completed segment's length, other bytes
)

// What the engine's self-check found (Finding.Self).
const (
	// SelfBufferCoherence: a clean buffer changed without MarkBufferDirty
	// (buffer.CheckClean at the end of the workload).
	SelfBufferCoherence = "buffer-coherence"
	// SelfIndexStructure: the index's structure is broken (nbtree's
	// Check, as amcheck's bt_index_check).
	SelfIndexStructure = "index-structure"
	// SelfPageContents: a page's LSN lies beyond the end of WAL, or a
	// commit hint names a transaction the clog does not show committed
	// (SQLSTATE XX001 from the table check).
	SelfPageContents = "page-contents"
	// SelfIndexHeap: the heap's visible rows and the index's entries
	// disagree (SQLSTATE XX002).
	SelfIndexHeap = "index-heap"
	// SelfTable: the table check failed otherwise (a row that does not
	// decode, a catalog error).
	SelfTable = "table"
	// SelfScan, SelfSearch: a full scan of a table, or a search of it for
	// one key, failed after recovery.
	SelfScan   = "scan"
	SelfSearch = "search"
	// SelfRootDescend: a key a full scan shows is not found by a search
	// from the root (amcheck's rootdescend).
	SelfRootDescend = "rootdescend"
)

// Where starting the server or reading it after recovery stopped
// (Finding.Stage).
const (
	StageConfig   = "config"   // the run's configuration is invalid
	StageBoot     = "boot"     // initdb's image or the postmaster failed to start
	StageStartup  = "startup"  // a startup process failed in a run no fault touched
	StageRecovery = "recovery" // the final recovery failed (an error or a PANIC)
	StageConnect  = "connect"  // connecting after recovery failed
	StageScan     = "scan"     // a scan after recovery failed

	StageEnginePanic     = "engine-panic"     // liveness: a process hit a Go panic
	StageWorkloadStopped = "workload-stopped" // liveness: the workload's simulation stopped
	StageRecoveryStopped = "recovery-stopped" // liveness: the final recovery's simulation stopped
)

// selfFinding is the Finding of a self-check failure err of kind self in
// table (the table check's kind is refined from err's type and SQLSTATE).
func selfFinding(self, table string, key uint64, err error) Finding {
	code := pgerr.CodeOf(err)
	if self == SelfTable {
		switch {
		case errors.Is(err, nbtree.ErrCorrupt):
			self = SelfIndexStructure
		case code == pgerr.DataCorrupted:
			self = SelfPageContents
		case code == pgerr.IndexCorrupted:
			self = SelfIndexHeap
		}
	}
	f := Finding{Checker: CheckSelf, Self: self, Table: table, Key: key, Code: string(code)}
	if err != nil {
		f.Detail = err.Error()
	}
	return f
}

// stageFinding is the Finding of a recovery failure err at stage.
func stageFinding(stage string, err error) Finding {
	f := Finding{Checker: CheckRecovery, Stage: stage, Code: string(pgerr.CodeOf(err))}
	if err != nil {
		f.Detail = err.Error()
	}
	return f
}

// CheckerNames lists every checker a run can fail with (TestCheckerNames
// keeps it in step with the Check* constants), for explain's test that each
// has an account.
func CheckerNames() []string {
	return []string{CheckDurability, CheckAtomicity, CheckSelf, CheckRecovery, CheckLiveness,
		CheckWALBeforeData, CheckHintBeforeCommit, CheckCheckpoint, CheckArchive, CheckLockWakeup, CheckLockRetry, CheckProgress,
		CheckLinearizability, CheckIsolation, CheckBank, CheckUnique, CheckStatementEffect, CheckEngineError, CheckStandby, CheckFailover, CheckStandbyReads, CheckSyncRep, CheckPITR}
}
