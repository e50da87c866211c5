package db

import (
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
)

// minRecoveryPoint (xlog.c UpdateMinRecoveryPoint, xlogrecovery.c
// CheckRecoveryConsistency): a standby's data pages may reach its disk
// carrying changes of WAL it replayed after its last restartpoint. If it
// then restarts, redo starts again from that restartpoint's REDO pointer,
// and until it has replayed past every change a written page holds, the
// data directory mixes pages from the future with pages from the past: not
// a state any query may see, and not one to promote. So during archive
// recovery XLogFlush does not flush WAL (nothing writes WAL) but moves
// minRecoveryPoint in the control file past the page's LSN before the
// page is written, and a restarted standby is consistent only once it has
// replayed to minRecoveryPoint (and, made from a base backup, replayed its
// XLOG_BACKUP_END). A restartpoint moves it to at least the end of its
// checkpoint record. Crash recovery replays to the end of the WAL and
// does not use it.
//
// Order: the control file is written and fsynced before the page's write
// begins (the buffer manager calls XLogFlush first), so a page on disk
// never holds a change beyond the durable minRecoveryPoint.

// updateMinRecoveryPoint is UpdateMinRecoveryPoint: called with the LSN of
// a page about to be written during recovery. Past the current
// minRecoveryPoint it moves it to the end of the last record replayed (or
// lsn, if a record being replayed changed the page: its end is not yet
// published), as PostgreSQL does to write the control file less often.
func (db *DB) updateMinRecoveryPoint(lsn wal.LSN) {
	if !db.standbyMode || lsn == wal.InvalidLSN {
		return
	}
	if db.cfg.Bugs.Has(bugs.MinRecoveryPointNotUpdated) {
		// Planted bug min-recovery-point-not-updated: the page is
		// written with nothing recorded, so a restarted standby calls
		// itself consistent while pages from its future are on disk.
		return
	}
	db.ctlMu.Lock()
	defer db.ctlMu.Unlock()
	if lsn <= db.minRecoveryPoint {
		return
	}
	ctl := readControl(db.e, db.cfg.Bugs)
	newMin := max(lsn, db.replayed)
	ctl.minRecoveryPoint = newMin
	writeControl(db.e, db.cfg.Bugs, ctl)
	if db.minRecoveryPoint == wal.InvalidLSN {
		db.e.Sometimes("standby-min-recovery-point")
	}
	db.minRecoveryPoint = newMin
}

// checkRecoveryConsistency is CheckRecoveryConsistency after each record
// a standby replays: consistent once the base backup's end is replayed
// (if it was made from one and has not replayed it yet) and replay has
// passed minRecoveryPoint.
func (db *DB) checkRecoveryConsistency() {
	if db.consistent {
		return
	}
	if db.backupStart != wal.InvalidLSN && !db.backupEndReached {
		return
	}
	if db.replayed < db.minRecoveryPoint {
		return
	}
	db.consistent = true
	db.e.Logf("consistent recovery state reached")
	if !db.standbyMode {
		return // a targeted recovery's (archive_recovery.go)
	}
	db.e.Sometimes("standby-consistent")
	if db.minRecoveryPoint != wal.InvalidLSN && db.backupStart == wal.InvalidLSN {
		db.e.Sometimes("standby-consistent-at-min-recovery-point")
	}
}
