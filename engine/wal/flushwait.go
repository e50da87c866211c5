package wal

import "time"

// Waiting for the WAL to be flushed past a position: a WAL sender that has
// sent everything durable sleeps until more is (WalSndWaitForWal, woken
// by WalSndWakeup after XLogFlush). The condition variable is made on the
// first wait, so that a node without WAL senders pays nothing in Flush.
// Both are guarded by posLck, as flushed is.

// WaitFlushed waits until the WAL is flushed beyond after, or timeout
// passes, and returns the flushed position (GetFlushRecPtr) either way.
func (w *WAL) WaitFlushed(after LSN, timeout time.Duration) LSN {
	if timeout <= 0 {
		panic("wal: WaitFlushed without a timeout")
	}
	w.posLck.Lock()
	defer w.posLck.Unlock()
	if w.flushed > after {
		return w.flushed
	}
	if w.flushCV == nil {
		w.flushCV = w.e.Sched.NewCond("WalSndWakeup", w.posLck)
	}
	w.flushCV.WaitTimeout(timeout)
	return w.flushed
}
