package db

import (
	"errors"
	"time"
)

// CheckpointFlags are a checkpoint request's flags (CHECKPOINT_*).
type CheckpointFlags uint8

// CheckpointEndOfRecovery is CHECKPOINT_END_OF_RECOVERY: the checkpoint
// that ends crash recovery, written while recovery is still in progress
// (the checkpointer makes a real checkpoint, not a restartpoint, for it).
const CheckpointEndOfRecovery CheckpointFlags = 1 << 0

// RequestCheckpoint asks the checkpointer for a checkpoint now
// (RequestCheckpoint without CHECKPOINT_WAIT): it sets the request flag and
// sets the checkpointer's latch.
func (db *DB) RequestCheckpoint() {
	db.ckptReqMu.Lock()
	db.ckptReq = true
	db.ckptReqCV.Broadcast()
	db.ckptReqMu.Unlock()
}

// RequestCheckpointWait is RequestCheckpoint with CHECKPOINT_WAIT: it
// requests a checkpoint with flags, waits for a checkpoint that started
// after the request to finish, and fails if any checkpoint failed
// meanwhile ("checkpoint request failed"). The waits end when the
// checkpointer moves its counters, or when a crash-restart kills the
// waiter.
func (db *DB) RequestCheckpointWait(flags CheckpointFlags) error {
	db.ckptReqMu.Lock()
	defer db.ckptReqMu.Unlock()
	oldStarted, oldFailed := db.ckptStarted, db.ckptFailed
	db.ckptReq = true
	db.ckptFlags |= flags
	db.ckptReqCV.Broadcast()
	for db.ckptStarted == oldStarted {
		db.ckptReqCV.Wait()
	}
	started := db.ckptStarted
	for db.ckptDone < started {
		db.ckptReqCV.Wait()
	}
	if db.ckptFailed != oldFailed {
		return errors.New("checkpoint request failed")
	}
	return nil
}

// WaitForCheckpointRequest is the checkpointer's WaitLatch: it returns when
// a checkpoint is requested (true, and the request with its flags is
// consumed) or when timeout passes (false).
func (db *DB) WaitForCheckpointRequest(timeout time.Duration) (bool, CheckpointFlags) {
	db.ckptReqMu.Lock()
	defer db.ckptReqMu.Unlock()
	if !db.ckptReq && timeout > 0 {
		db.ckptReqCV.WaitTimeout(timeout)
	}
	req, flags := db.ckptReq, db.ckptFlags
	db.ckptReq, db.ckptFlags = false, 0
	return req, flags
}

// CheckpointerCheckpoint is the checkpointer's checkpoint: CreateCheckPoint
// between the ckpt_started and ckpt_done counters that requesters waiting
// with RequestCheckpointWait watch, and ckpt_failed when it fails.
func (db *DB) CheckpointerCheckpoint(flags CheckpointFlags) error {
	db.ckptReqMu.Lock()
	db.ckptStarted++
	started := db.ckptStarted
	db.ckptReqCV.Broadcast()
	db.ckptReqMu.Unlock()
	err := db.createCheckPoint(flags)
	db.ckptReqMu.Lock()
	if err != nil {
		db.ckptFailed++
	}
	db.ckptDone = started
	db.ckptReqCV.Broadcast()
	db.ckptReqMu.Unlock()
	return err
}

// WALSinceRedo is how much WAL was written since the latest REDO pointer:
// what max_wal_size bounds (XLogCheckpointNeeded).
func (db *DB) WALSinceRedo() int64 {
	return int64(db.WAL.InsertLSN()) - int64(db.RedoPtr())
}
