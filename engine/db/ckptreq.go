package db

import "time"

// RequestCheckpoint asks the checkpointer for a checkpoint now
// (RequestCheckpoint without CHECKPOINT_WAIT): it sets the request flag and
// sets the checkpointer's latch.
func (db *DB) RequestCheckpoint() {
	db.ckptReqMu.Lock()
	db.ckptReq = true
	db.ckptReqCV.Broadcast()
	db.ckptReqMu.Unlock()
}

// WaitForCheckpointRequest is the checkpointer's WaitLatch: it returns when
// a checkpoint is requested (true, and the request is consumed) or when
// timeout passes (false).
func (db *DB) WaitForCheckpointRequest(timeout time.Duration) bool {
	db.ckptReqMu.Lock()
	defer db.ckptReqMu.Unlock()
	if !db.ckptReq && timeout > 0 {
		db.ckptReqCV.WaitTimeout(timeout)
	}
	req := db.ckptReq
	db.ckptReq = false
	return req
}

// WALSinceRedo is how much WAL was written since the latest REDO pointer:
// what max_wal_size bounds (XLogCheckpointNeeded).
func (db *DB) WALSinceRedo() int64 {
	return int64(db.WAL.InsertLSN()) - int64(db.RedoPtr())
}
