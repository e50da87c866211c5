// Package bugs is the registry of planted bugs: named switches, off by
// default, that make the engine break one real PostgreSQL rule on purpose.
// They exist to prove that the checkers can fail: a campaign with a bug on
// must report it, and the same campaign with it off must stay quiet.
//
// The engine reads a Set from its configuration; nothing else in the engine
// may change behaviour for testing.
package bugs

import (
	"fmt"
	"sort"
	"strings"
)

// Bug is one planted bug.
type Bug struct {
	Name string // lowercase with dashes
	// What says what the bug breaks and which PostgreSQL rule it violates.
	What string
}

// ID indexes a Bug in the registry.
type ID uint

const (
	AckBeforeFlush ID = iota
	FullPageWritesOff
	WriteBeforeWAL
	EarlyClean
	SnapshotNoInProgress
	RRNoSerializationFailure
	AbortedRead
	RedoAfterFlush
	FsyncRetry
	EPQNextVersion
	DelayChkptByBackend
	DirtyAfterWALInsert
	EndOfRecoveryCkptEarlyControl
	ClogStatusLostUpdate
	WalSenderUnflushed
	StandbyAppliesUnflushed
	PromotionReusesTimeline
	MinRecoveryPointNotUpdated
	KnownAssignedNoGaps
	StandbyNoSnapshotConflict
	SSIReadNoSIREAD
	SSINoT3FirstCheck
	SSISplitNoTransfer
	SyncRepReleaseAtWrite
	ArchiverDoneBeforeDurable
	RestoreWrongTimeline
	TimelineFollowPastFork
	StandbyArchiveSourceSkips
	StandbyLatestCompletedStale
	SSIOptOutNotReadOnly
	SSIConflictOutUpdater
	NoOverwriteContrecord
	PromoteNoHistoryArchive
	ControlTwoSectorsNoCRC
	RecycleBeforeArchived
	FlushNoWaitInsertions
	PITRTimeInclusiveInverted
	SyncQueueFullNoFsync
	ClogZeroPageNotLogged
	WALBufferReuseUnwritten
	numBugs
)

var registry = [numBugs]Bug{
	AckBeforeFlush: {
		Name: "ack-before-flush",
		What: "A commit is acknowledged before its WAL is flushed; violates RecordTransactionCommit's XLogFlush before the client is told (synchronous_commit=on), so a crash loses acknowledged commits.",
	},
	FullPageWritesOff: {
		Name: "full-page-writes-off",
		What: "No full-page image on a page's first change after a checkpoint (full_page_writes=off); a page torn by a crash mid-write is then unrepairable by redo and fails its checksum.",
	},
	WriteBeforeWAL: {
		Name: "write-before-wal",
		What: "A dirty page is written without first flushing WAL up to its LSN; violates FlushBuffer's XLogFlush (WAL before data), so a crash leaves data on disk whose commit record never became durable.",
	},
	EarlyClean: {
		Name: "early-clean",
		What: "A page is marked clean when its write starts, not when it ends; violates FlushBuffer's BM_IO_IN_PROGRESS/BM_JUST_DIRTIED protocol, so a checkpoint can skip a page whose write lands after its fsync, and REDO moves past a change that is then lost.",
	},
	SnapshotNoInProgress: {
		Name: "snapshot-no-inprogress",
		What: "A snapshot is built without its list of running transactions; violates GetSnapshotData's xip array (XidInMVCCSnapshot), so a transaction that commits after the snapshot was taken becomes visible to it and a REPEATABLE READ transaction sees non-repeatable reads and read skew.",
	},
	RRNoSerializationFailure: {
		Name: "rr-no-serialization-failure",
		What: "REPEATABLE READ follows a concurrent update's chain as READ COMMITTED does instead of failing with serialization_failure; violates ExecUpdate/ExecDelete's IsolationUsesXactSnapshot check, so an update based on the transaction's snapshot overwrites a newer committed one (lost update).",
	},
	AbortedRead: {
		Name: "aborted-read",
		What: "A plain MVCC read returns row versions inserted by aborted transactions; violates HeapTupleSatisfiesMVCC's TransactionIdDidCommit check on xmin, so readers see writes that never committed (Adya G1a).",
	},
	RedoAfterFlush: {
		Name: "redo-after-flush",
		What: "A checkpoint takes its REDO pointer after writing and fsyncing the buffers instead of before; violates CreateCheckPoint's order (REDO is the WAL insert position before CheckPointGuts), so a change logged while the buffers were being written is neither on disk nor replayed after a crash.",
	},
	FsyncRetry: {
		Name: "fsync-retry",
		What: "A failed fsync of a data file is logged and retried at the next checkpoint instead of raising a PANIC, as PostgreSQL did before 2018; violates data_sync_retry=off (ProcessSyncRequests), so the checkpoint completes although the kernel dropped the unwritten pages, and the retry succeeds over data that is gone.",
	},
	EPQNextVersion: {
		Name: "epq-next-version",
		What: "A READ COMMITTED UPDATE whose row was updated concurrently re-evaluates its change on the next version of the row, as a fresh snapshot sees it, instead of locking the newest one; violates ExecUpdate's table_tuple_lock with TUPLE_LOCK_FLAG_FIND_LAST_VERSION, so when a second committed update already superseded that version, the UPDATE finds no row and its change is lost (pgdst's own bug until a campaign found it).",
	},
	DelayChkptByBackend: {
		Name: "delay-chkpt-by-backend",
		What: "A checkpoint waits while the backends it saw in a commit critical section are in one, instead of while those critical sections last; violates HaveVirtualXIDsDelayingChkpt's comparison of VXIDs, so one backend committing back to back keeps the checkpoint from ever completing (pgdst's own bug until the crash-cycle benchmark's recovery log showed it).",
	},
	DirtyAfterWALInsert: {
		Name: "dirty-after-wal-insert",
		What: "A heap or B-tree change marks its buffers dirty after inserting its WAL record instead of before; violates the transam README's WAL coding rule (MarkBufferDirty before XLogInsert, see SyncOneBuffer), so a checkpoint that takes its REDO pointer after the record and scans the buffers before they are dirty skips the page, and a crash after it loses a change that redo starts past (pgdst's own B-tree bug until the checkpoint checker found it).",
	},
	EndOfRecoveryCkptEarlyControl: {
		Name: "end-of-recovery-ckpt-early-control",
		What: "The end-of-recovery checkpoint inserts its record and updates the control file before it writes and fsyncs the buffers redo dirtied, instead of after; violates CreateCheckPoint's order (CheckPointGuts before the control file names the new REDO), so a crash while those buffers are written starts the next recovery past changes that are on no disk.",
	},
	ClogStatusLostUpdate: {
		Name: "clog-status-lost-update",
		What: "Setting a transaction's clog status reads its status byte, releases the control lock and takes it again, then writes back the byte it read with its own bits; violates TransactionIdSetStatusBit's read-modify-write under one exclusive lock, so a commit of another xid of the same byte (four share one) that lands in between is overwritten, and that transaction reads as aborted once it leaves the proc array: a depth-2 race (read, the other's store, write back) for the PCT scheduler.",
	},
	WalSenderUnflushed: {
		Name: "walsender-unflushed",
		What: "A WAL sender streams the WAL its segment files hold, written but not yet fsynced, instead of only what is flushed; violates WalSndWaitForWal's GetFlushRecPtr bound, so a power loss of the primary takes back WAL a standby already holds and replays, and the standby's history diverges from the primary's (caught only by runs with --standbys).",
	},
	StandbyAppliesUnflushed: {
		Name: "standby-applies-unflushed",
		What: "A standby's startup process replays WAL its WAL receiver has written but not yet fsynced, instead of only what it flushed; violates XLogPageRead's flushedUpto bound, so the standby's background writer or a restartpoint can write a data page whose WAL a power loss of the standby takes back (WAL before data, on the standby; caught only by runs with --standbys).",
	},
	PromotionReusesTimeline: {
		Name: "promotion-reuses-timeline",
		What: "A promoted standby keeps its parent's timeline ID and writes no timeline history file; violates StartupXLOG's findNewestTimeLine + 1 and writeTimeLineHistory, so the old and the new primary write WAL on the same timeline and their histories cannot be told apart (caught only by runs with --standbys and --failover).",
	},
	MinRecoveryPointNotUpdated: {
		Name: "min-recovery-point-not-updated",
		What: "A standby writes a data page during recovery without first moving minRecoveryPoint in its control file past the page's LSN; violates XLogFlush's UpdateMinRecoveryPoint in recovery (PostgreSQL fixed a bug of this kind in 2018 for processes other than the startup process), so a standby that restarts calls itself consistent (it may then be promoted or serve reads) while its disk holds pages from its future (caught only by runs with standbys that restart).",
	},
	KnownAssignedNoGaps: {
		Name: "known-assigned-no-gaps",
		What: "A hot standby records only the xid of each replayed record in KnownAssignedXids, not the xids between the last observed one and it; violates RecordKnownAssignedTransactionIds, so a transaction whose first record comes after a later xid's counts as finished to standby snapshots while it runs: a standby read sets its rows' abort hints or sees it commit mid-snapshot (read skew, not a prefix of the primary's commits).",
	},
	StandbyNoSnapshotConflict: {
		Name: "standby-no-snapshot-conflict",
		What: "A hot standby replays prune and vacuum records without resolving their conflict with standby snapshots; violates ResolveRecoveryConflictWithSnapshot (heap_xlog_prune's call with the record's snapshotConflictHorizon), so a standby query whose snapshot still needs a removed row version finds it gone: rows vanish or show an older state mid-transaction.",
	},
	SSIReadNoSIREAD: {
		Name: "ssi-read-no-siread",
		What: "A serializable transaction's read takes no SIREAD lock, neither on the heap tuple it reads nor on the B-tree leaf pages its index scan visits; violates heapam_fetch's PredicateLockTID and _bt_readpage's PredicateLockPage, so a concurrent transaction that later writes the row flags no rw-conflict and write skew commits under SERIALIZABLE.",
	},
	SSINoT3FirstCheck: {
		Name: "ssi-no-t3-first-check",
		What: "The dangerous-structure test asks whether Tout has committed instead of whether it has passed its pre-commit check; violates OnConflict_CheckForSerializationFailure's SxactIsPrepared test, so a pivot whose out-conflict is between PreCommit_CheckForSerializationFailure and the end of its commit is let through (too permissive).",
	},
	SSISplitNoTransfer: {
		Name: "ssi-split-no-transfer",
		What: "A B-tree page split leaves the page's SIREAD locks on the left half only; violates _bt_split's PredicateLockPageSplit, so an insert into the keys that moved right flags no rw-conflict with a scan that read the page before the split (a phantom).",
	},
	SyncRepReleaseAtWrite: {
		Name: "syncrep-release-at-write",
		What: "SyncRepReleaseWaiters releases a commit waiting for its standbys' flush (synchronous_commit = on) once their write position passes it, as if remote_write were asked; violates SyncRepWakeQueue's per-mode release by walsndctl->lsn[SYNC_REP_WAIT_FLUSH], so a commit is acknowledged while the standby holds it only in its page cache, and a power loss of both machines followed by the standby's promotion loses it (caught only by runs with synchronous standbys and a failover).",
	},
	ArchiverDoneBeforeDurable: {
		Name: "archiver-done-before-durable",
		What: "The archiver renames a segment's copy into the archive and marks the segment .done without fsyncing the copy; violates pgarch_archiveXlog's promise that archive_command returns only once the copy is safe, so a power loss empties the archived copy while the checkpoint removes pg_wal's.",
	},
	RestoreWrongTimeline: {
		Name: "restore-wrong-timeline",
		What: "Archive recovery reads each segment from the oldest timeline that has it rather than the newest one whose history covers it; violates XLogFileReadAnyTLI's newest-first walk of expectedTLEs, so a recovery that follows a newer timeline replays the old timeline's WAL past the switch point.",
	},
	TimelineFollowPastFork: {
		Name: "timeline-follow-past-fork",
		What: "A standby's startup process follows a new timeline even when it forked off before the standby's replay position; violates rescanLatestTimeLine's check (\"new timeline forked off current database system timeline before current recovery point\"), so the standby splices the new timeline's WAL after records the new primary never had and diverges from it.",
	},
	StandbyArchiveSourceSkips: {
		Name: "standby-archive-source-skips",
		What: "A standby that read WAL from the archive asks for streaming from the start of the segment after the one replay is in rather than from its replay position; violates WaitForWALToBecomeAvailable's RequestXLogStreaming from the record it needs, so the tail of that segment is never streamed and the standby stalls or fails on it.",
	},
	StandbyLatestCompletedStale: {
		Name: "standby-latest-completed-stale",
		What: "A hot standby's replay of a commit or abort removes the xid from KnownAssignedXids without advancing latestCompletedXid; violates ExpireTreeKnownAssignedTransactionIds's MaintainLatestCompletedXidRecovery, so standby snapshots keep the xmax of the last running-xacts record and a commit the standby has replayed stays invisible to its queries: a synchronous_commit = remote_apply commit acknowledged to the client is missing from a read on the synchronous standby that follows the acknowledgement (caught only by runs with a synchronous standby at remote_apply and standby reads).",
	},
	SSIOptOutNotReadOnly: {
		Name: "ssi-opt-out-not-read-only",
		What: "A serializable transaction that starts while no read-write serializable transaction runs opts out of SSI whether or not it is READ ONLY; violates GetSerializableTransactionSnapshotInt's opt-out (XactReadOnly && WritableSxactCount == 0), which is safe only for a read-only transaction: a read-write one then takes no SIREAD locks and checks no rw-conflicts, so write skew with a transaction that starts after it commits under SERIALIZABLE.",
	},
	SSIConflictOutUpdater: {
		Name: "ssi-conflict-out-updater",
		What: "A serializable read that misses both a concurrent insert and a concurrent update of the inserted version conflicts out to the updater only, never to the inserter; PostgreSQL 12.3's HeapCheckForSerializableConflictOut bug (the G2-item Jepsen's Elle found, fixed in 12.4 by commit 5940ffb221, \"Avoid update conflict out serialization anomalies\"), so a reader and the inserter can each miss the other's write and both commit.",
	},
	NoOverwriteContrecord: {
		Name: "no-overwrite-contrecord",
		What: "The end of recovery with an incomplete record (its continuation missing) writes new WAL from the record's start, rewriting the tail of a segment that may be complete and archived, with no XLOG_OVERWRITE_CONTRECORD; violates StartupXLOG's missingContrecPtr and CreateOverwriteContrecordRecord (PostgreSQL 14.1, the 2021 fix), so the archive's or a standby's old tail and the new WAL disagree and can be spliced.",
	},
	PromoteNoHistoryArchive: {
		Name: "promote-no-history-archive",
		What: "A promoted standby with archive_mode = on writes its new timeline's history file but never notifies it for archiving; violates writeTimeLineHistory's XLogArchiveNotify, so the archive holds the new timeline's WAL without its history and a point-in-time recovery from the archive with recovery_target_timeline = latest never finds the new timeline: it stops at the old timeline's end (or reads the old primary's WAL past the switch point), losing the commits made after the failover.",
	},
	ControlTwoSectorsNoCRC: {
		Name: "control-two-sectors-no-crc",
		What: "The control file is written as two 512-byte sectors (ControlFileData grown past PG_CONTROL_MAX_SAFE_SIZE, its checkPointCopy in the second) and read without its CRC check; violates the one-sector rule of WriteControlFile/update_controlfile and ReadControlFile's \"incorrect checksum in control file\", so a power loss that tears it between the sectors leaves a new checkpoint location with an old REDO pointer (or the reverse), and the startup process believes it.",
	},
	RecycleBeforeArchived: {
		Name: "recycle-before-archived",
		What: "A checkpoint recycles an old WAL segment into a future segment's name whether or not the archiver has archived it; violates RemoveOldXlogFiles's XLogArchiveCheckDone, so the archive misses the segment and archive recovery, PITR or a standby fed from the archive cannot get past it.",
	},
	FlushNoWaitInsertions: {
		Name: "flush-no-wait-insertions",
		What: "XLogFlush and XLogWrite write and mark flushed the WAL up to the reserved insert position without WaitXLogInsertionsToFinish, so a record another backend is still copying into the WAL buffers (CopyXLogRecordToWAL, its bytes zero or partial) is written torn and never rewritten; a commit after it is acknowledged as flushed, and recovery ends at the torn record and loses it.",
	},
	PITRTimeInclusiveInverted: {
		Name: "pitr-time-inclusive-inverted",
		What: "Archive recovery to a recovery_target_time compares a commit or abort record's xact_time with the target the wrong way round for recovery_target_inclusive: >= when inclusive and > when not; violates recoveryStopsBefore's time test, so an inclusive restore loses the transactions that committed in the target's very microsecond and an exclusive one keeps them.",
	},
	SyncQueueFullNoFsync: {
		Name: "sync-queue-full-no-fsync",
		What: "A writer that finds the checkpointer's fsync request queue full goes on without fsyncing the segment itself; violates register_dirty_segment's fallback when ForwardSyncRequest fails (\"could not forward fsync request because request queue is full\", then FileSync), so the next checkpoint completes without the write durable and a power loss after it loses a change before the checkpoint's REDO pointer.",
	},
	ClogZeroPageNotLogged: {
		Name: "clog-zeropage-not-logged",
		What: "ExtendCLOG zeroes a new clog page in memory but inserts no CLOG_ZEROPAGE record; violates ZeroCLOGPage's WriteZeroPageXlogRec, so after a crash before the page reached disk, redo of a commit on it finds the page missing from its segment (could not access status of transaction) or stale, instead of first writing it zeroed (clog_redo).",
	},
	WALBufferReuseUnwritten: {
		Name: "wal-buffer-reuse-unwritten",
		What: "AdvanceXLInsertBuffer reuses a WAL buffer page for a new page without first writing out the page it held (no WaitXLogInsertionsToFinish and XLogWrite up to OldPageRqstPtr when LogwrtResult.Write is behind it), so the old page's records, commits among them, are overwritten in the ring before they reach disk; the next flush writes the new page's bytes at the old page's place, acknowledges the commits, and recovery ends at the page whose xlp_pageaddr is wrong and loses them.",
	},
}

// All lists every bug, sorted by name.
func All() []Bug {
	out := append([]Bug(nil), registry[:]...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Set is a set of switched-on bugs.
type Set uint64

// Has reports whether bug id is on.
func (s Set) Has(id ID) bool { return s&(1<<id) != 0 }

// With returns s with id switched on.
func (s Set) With(id ID) Set { return s | 1<<id }

// Names lists the switched-on bugs, sorted.
func (s Set) Names() []string {
	var out []string
	for id := ID(0); id < numBugs; id++ {
		if s.Has(id) {
			out = append(out, registry[id].Name)
		}
	}
	sort.Strings(out)
	return out
}

func (s Set) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// MarshalText writes the set as its sorted names ("none" when empty), so
// that a repro file names bugs rather than bit positions, which a later
// build may renumber.
func (s Set) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote; an unknown name is an error.
func (s *Set) UnmarshalText(b []byte) error {
	set, err := ParseSet(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}

// Parse looks a bug up by name.
func Parse(name string) (ID, error) {
	for id := ID(0); id < numBugs; id++ {
		if registry[id].Name == name {
			return id, nil
		}
	}
	names := make([]string, 0, numBugs)
	for _, b := range All() {
		names = append(names, b.Name)
	}
	return 0, fmt.Errorf("unknown bug %q (known: %s)", name, strings.Join(names, ", "))
}

// ParseSet parses a comma-separated list of bug names ("" and "none" are
// the empty set).
func ParseSet(list string) (Set, error) {
	var s Set
	if list == "" || list == "none" {
		return s, nil
	}
	for _, name := range strings.Split(list, ",") {
		id, err := Parse(strings.TrimSpace(name))
		if err != nil {
			return 0, err
		}
		s = s.With(id)
	}
	return s, nil
}
