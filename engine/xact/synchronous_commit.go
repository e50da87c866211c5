package xact

// SetLocalSynchronousCommitOff is SET LOCAL synchronous_commit = off
// inside a transaction block: PostgreSQL lets each transaction choose
// (synchronous_commit is a user-settable GUC, and RecordTransactionCommit
// reads it at commit), so that a commit whose loss the application can
// afford does not wait for the WAL flush. The commit record is then
// inserted but not flushed, and the clog keeps its LSN for hint bits and
// clog page writes (TransactionIdAsyncCommitTree); the WAL writer, or any
// later flush, makes it durable. It must be called before the commit.
func (t *Txn) SetLocalSynchronousCommitOff() {
	if t.done {
		panic("xact: SET LOCAL synchronous_commit after the transaction ended")
	}
	t.asyncCommit = true
}

// AsyncCommit reports whether the transaction commits asynchronously:
// the server's synchronous_commit is off, or the transaction set it off.
func (t *Txn) AsyncCommit() bool { return !t.m.SynchronousCommit || t.asyncCommit }
