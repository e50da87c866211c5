package db

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
)

// delayWaitMax bounds the checkpointer's wait for commits in their
// critical section (each step sleeps 1 ms, as CreateCheckPoint's
// pg_usleep(10000L) loop does with 10 ms).
const delayWaitMax = 10000

// Checkpoint is CreateCheckPoint, in PostgreSQL's order:
//
//  1. take the REDO pointer under the WAL insert lock;
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
func (db *DB) Checkpoint() error {
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	e := db.e
	var redo wal.LSN
	takeRedo := func() {
		db.WAL.WithInsertLock(func(next wal.LSN) {
			redo = next
			db.redoPtr = next
		})
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
		for i := 0; still(ds); i++ {
			if i == delayWaitMax {
				return fmt.Errorf("checkpoint: commits still in their critical section after %d waits", delayWaitMax)
			}
			e.Clock.Sleep(time.Millisecond)
		}
	}
	e.Inject(PointAfterDelayWait)
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
	if lateRedo {
		takeRedo()
	}
	nextXid := db.Procs.NextXID()
	rec := checkpointRecord(redo, nextXid)
	start, end := db.WAL.Insert(&rec)
	e.Inject(PointAfterRecord)
	db.WAL.Flush(end)
	e.Inject(PointAfterFlush)
	if err := writeControl(e, controlData{state: StateInProduction, checkpoint: start, redo: redo, nextXid: nextXid, segSize: db.cfg.WAL.SegmentSize}); err != nil {
		return err
	}
	if _, err := db.WAL.RemoveSegmentsBefore(redo); err != nil {
		return fmt.Errorf("checkpoint: removing old WAL: %w", err)
	}
	e.Inject(PointAfterRemoveSegment)
	e.Logf("checkpoint complete: redo %s, record %s", redo, start)
	return nil
}
