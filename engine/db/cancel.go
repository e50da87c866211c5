package db

// Cancel is a query cancel aimed at the session's backend
// (pg_cancel_backend): a lock wait in progress, or one that starts before
// ClearCancel, fails with query_canceled (57014). It may be called from
// another process than the session's.
func (s *Session) Cancel() { s.db.Locks.Cancel(s.proc.Slot()) }

// ClearCancel forgets a cancel that arrived after the statement it aimed
// at ended: the session's next statement starts clean.
func (s *Session) ClearCancel() { s.db.Locks.ClearCancel(s.proc.Slot()) }

// InTransactionBlock reports whether an explicit transaction block is
// open, and whether a statement failed in it (TBLOCK_INPROGRESS and
// TBLOCK_ABORT, which ReadyForQuery reports as T and E).
func (s *Session) InTransactionBlock() (open, failed bool) { return s.inTxn, s.failed }
