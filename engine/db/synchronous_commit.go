package db

import "github.com/pgdst/pgdst/engine/pgerr"

// SetLocalSynchronousCommitOff is SET LOCAL synchronous_commit = off: the
// open transaction block commits without waiting for its commit record to
// be durable (xact.Txn.SetLocalSynchronousCommitOff). PostgreSQL accepts
// SET LOCAL outside a block with a WARNING and no effect; a client that
// sends it there has made a mistake it should hear of, so pgdst refuses it
// with PostgreSQL's error for a command that needs a transaction block.
func (s *Session) SetLocalSynchronousCommitOff() error {
	if !s.inTxn {
		return pgerr.New(pgerr.NoActiveTransaction, "SET LOCAL can only be used in transaction blocks")
	}
	if s.failed {
		return pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	s.txn.SetLocalSynchronousCommitOff()
	return nil
}
