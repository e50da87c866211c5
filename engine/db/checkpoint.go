package db

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// delayWaitMax bounds the checkpointer's wait for commits in their
// critical section (each step sleeps 1 ms, as CreateCheckPoint's
// pg_usleep(10000L) loop does with 10 ms).
const delayWaitMax = 10000

// Checkpoint is CreateCheckPoint, in PostgreSQL's order:
//
//  1. take the REDO pointer under the WAL insert lock, then read nextXid
//     for the checkpoint record;
//  2. wait for transactions inside their commit critical section
//     (DELAY_CHKPT_START): a commit record before REDO whose clog update
//     is still to come must reach the clog before the clog is flushed;
//  3. CheckPointGuts: flush the clog, then write every dirty buffer (WAL
//     first; CheckPointBuffers), then fsync every file written
//     (ProcessSyncRequests: the pending-sync table, SMgr.SyncAll);
//  4. insert the checkpoint record and flush it;
//  5. update the control file, which is what makes the new REDO pointer
//     the place recovery starts;
//  6. remove WAL segments older than the REDO pointer.
//
// Checkpoint runs it in the calling process, as the CHECKPOINT command of
// a standalone backend does; the checkpointer runs it through
// CheckpointerCheckpoint.
func (db *DB) Checkpoint() error { return db.createCheckPoint(0) }

// createCheckPoint is CreateCheckPoint with its request's flags. The
// end-of-recovery checkpoint (CheckpointEndOfRecovery) runs while recovery
// is still in progress, with the WAL already open for writing; its steps
// are the same.
func (db *DB) createCheckPoint(flags CheckpointFlags) error {
	if db.WAL == nil || db.Procs == nil {
		panic("db: a checkpoint before the startup process opened the WAL")
	}
	if db.inRecovery != (flags&CheckpointEndOfRecovery != 0) {
		panic("db: an end-of-recovery checkpoint outside recovery, or another checkpoint during it")
	}
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	e := db.e
	e.CheckpointBegan(int64(flags))
	var redo wal.LSN
	var nextXid xact.XID
	takeRedo := func() {
		db.WAL.WithInsertLockExclusive(func(next wal.LSN) {
			redo = next
			db.redoPtr = next
		})
		// nextXid is read here, just after the REDO pointer and before
		// CheckPointGuts, as CreateCheckPoint reads it ("Get the other
		// info we need for the checkpoint record"), not when the record
		// is inserted: a hot standby starting at this checkpoint observes
		// xids from it on (ProcArrayInitRecovery), so an xid assigned
		// after REDO (whose records replay will meet) must be at or past
		// it. Read at the record, it would skip the xids assigned while
		// the guts ran: if a running-xacts record from before their
		// assignment then readies the standby's snapshot, replay never
		// adds them to KnownAssignedXids, and a standby read takes them
		// for aborted while they run. (Not under the insert lock:
		// LogRunningXacts takes XidGenLock before it.)
		nextXid = db.Procs.NextXID()
		e.CheckpointRedo(uint64(redo))
		if e.Collecting() && db.Procs.AnyRunningUnlocked() {
			e.Sometimes("checkpoint-with-open-xact")
		}
		e.Inject(PointAfterRedo)
	}
	// Planted bug redo-after-flush: the REDO pointer is taken after
	// CheckPointGuts (clog, buffers, fsync) instead of before, against
	// CreateCheckPoint's order. A change logged while the guts ran, to a
	// buffer already written or never dirty when its turn came, is then
	// before REDO (not replayed) and not on disk. (The wait for commits in
	// their critical section stays before the clog flush, so a commit
	// whose record lands before the late REDO can lose its clog bit too.)
	lateRedo := db.cfg.Bugs.Has(bugs.RedoAfterFlush)
	if !lateRedo {
		takeRedo()
	}
	// Planted bug delay-chkpt-by-backend: wait while the backends seen in a
	// commit critical section are in one, not while those critical
	// sections last (HaveVirtualXIDsDelayingChkpt compares VXIDs).
	still := db.Procs.StillDelaying
	if db.cfg.Bugs.Has(bugs.DelayChkptByBackend) {
		still = db.Procs.StillDelayingBackends
	}
	if ds := db.Procs.DelayingCheckpoint(); len(ds) > 0 {
		e.Sometimes("checkpoint-delayed-by-commit")
		for i := 0; still(ds); i++ {
			if i == delayWaitMax {
				return fmt.Errorf("checkpoint: commits still in their critical section after %d waits", delayWaitMax)
			}
			e.Clock.Sleep(time.Millisecond)
		}
	}
	e.Inject(PointAfterDelayWait)
	// Planted bug end-of-recovery-ckpt-early-control: the end-of-recovery
	// checkpoint does steps 4 and 5 (record, control file) before step 3,
	// so the control file names a REDO pointer past changes that redo
	// left only in shared buffers.
	if flags&CheckpointEndOfRecovery != 0 && db.cfg.Bugs.Has(bugs.EndOfRecoveryCkptEarlyControl) {
		start := db.logCheckpoint(redo, nextXid)
		if err := db.checkPointGuts(); err != nil {
			return err
		}
		return db.removeOldWAL(redo, start)
	}
	if err := db.checkPointGuts(); err != nil {
		return err
	}
	// CreateCheckPoint's LogStandbySnapshot (hotstandby.go).
	db.logStandbySnapshot()
	if lateRedo {
		takeRedo()
	}
	start := db.logCheckpoint(redo, nextXid)
	if err := db.removeOldWAL(redo, start); err != nil {
		return err
	}
	if flags&CheckpointEndOfRecovery != 0 {
		e.Sometimes("end-of-recovery-checkpoint")
	}
	return nil
}

// checkPointGuts is step 3 (CheckPointGuts): the clog, then every dirty
// buffer, then an fsync of every file written.
func (db *DB) checkPointGuts() error {
	e := db.e
	// CheckPointGuts begins with CheckPointRelationMap.
	db.Catalog.CheckPoint()
	if err := db.Clog.Checkpoint(); err != nil {
		return fmt.Errorf("checkpoint: clog: %w", err)
	}
	e.Inject(PointAfterClog)
	if _, err := db.Pool.CheckPointBuffers(); err != nil {
		return fmt.Errorf("checkpoint: buffers: %w", err)
	}
	e.Inject(PointAfterBuffers)
	db.SMgr.SyncAll()
	e.Inject(PointAfterSync)
	return nil
}

// logCheckpoint is steps 4 and 5: the checkpoint record (with nextXid as
// it was at the REDO pointer), flushed, then the control file naming it
// and its REDO pointer. A failure to write the control file is a PANIC in
// writeControl (update_controlfile), so a checkpoint that returns has
// made it durable.
func (db *DB) logCheckpoint(redo wal.LSN, nextXid xact.XID) (start wal.LSN) {
	e := db.e
	rec := checkpointRecord(redo, nextXid)
	start, end := db.WAL.Insert(&rec)
	e.Inject(PointAfterRecord)
	db.WAL.Flush(end)
	e.Inject(PointAfterFlush)
	db.ctlMu.Lock()
	writeControl(e, db.cfg.Bugs, controlData{state: StateInProduction, checkpoint: start, redo: redo, nextXid: nextXid, segSize: db.cfg.WAL.SegmentSize, dataChecksumVersion: db.cfg.dataChecksumVersion(), timeline: db.timeline})
	db.ctlMu.Unlock()
	e.CheckpointEnded(uint64(start), uint64(redo))
	return start
}

// removeOldWAL is step 6: WAL segments older than the REDO pointer go,
// but for the wal_keep_size kept for standbys (keepLogSeg): recycled into
// future segments up to XLOGfileslop's horizon, deleted past it
// (RemoveOldXlogFiles, wal/recycle.go), after the estimate of the WAL
// between checkpoints is updated (CreateCheckPoint's
// UpdateCheckPointDistanceEstimate).
func (db *DB) removeOldWAL(ckptRedo, start wal.LSN) error {
	e := db.e
	if db.priorRedo != wal.InvalidLSN && ckptRedo > db.priorRedo {
		db.updateCheckPointDistanceEstimate(float64(ckptRedo - db.priorRedo))
	}
	db.priorRedo = ckptRedo
	redo := db.keepLogSeg(ckptRedo)
	slop := wal.XLogFileSlop(db.cfg.WAL, ckptRedo, db.cfg.MinWALSize, db.cfg.MaxWALSize, db.ckptDistance, checkPointCompletionTarget)
	// The end of the checkpoint record is flushed: the first name a
	// recycled segment may take is the flushed end's segment (endptr).
	if _, err := db.WAL.RemoveOldXlogFiles(redo, db.WAL.Flushed(), db.cfg.WALRecycle, slop); err != nil {
		return fmt.Errorf("checkpoint: removing old WAL: %w", err)
	}
	// Make more segments if needed, after recycling, which may supply
	// them (CreateCheckPoint's PreallocXlogFiles).
	if db.cfg.WALPrealloc {
		db.WAL.PreallocXlogFiles(db.WAL.Flushed())
	}
	e.Inject(PointAfterRemoveSegment)
	e.Logf("checkpoint complete: redo %s, record %s", ckptRedo, start)
	return nil
}

// checkPointCompletionTarget is checkpoint_completion_target's default:
// pgdst's checkpoints are not spread, but XLOGfileslop still counts on
// the next checkpoint taking this fraction of the interval to complete.
const checkPointCompletionTarget = 0.9

// updateCheckPointDistanceEstimate is UpdateCheckPointDistanceEstimate: a
// moving average of the WAL between two checkpoints that rises at once
// and decays slowly.
func (db *DB) updateCheckPointDistanceEstimate(nbytes float64) {
	if db.ckptDistance < nbytes {
		db.ckptDistance = nbytes
		return
	}
	db.ckptDistance = 0.90*db.ckptDistance + 0.10*nbytes
}

// keepLogSeg is KeepLogSeg: the oldest WAL position to keep, redo or,
// with wal_keep_size, that much WAL before the insert position if that is
// older, so that standbys yet to stream it find it.
func (db *DB) keepLogSeg(redo wal.LSN) wal.LSN {
	k := db.cfg.WALKeepSize
	if k <= 0 {
		return redo
	}
	ins := db.WAL.InsertLSN()
	return min(redo, wal.LSN(max(int64(ins)-k, int64(wal.FirstLSN))))
}
