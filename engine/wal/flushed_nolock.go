package wal

// FlushedNoLock is Flushed without its spinlock, for the simulator's
// online checkers: a contended spinlock is a scheduling point, so a
// checker that took it on every page write could change the run it
// watches. The simulator runs one process at a time, so the read is never
// torn there; nothing in the engine may call it.
func (w *WAL) FlushedNoLock() LSN { return w.flushed }
