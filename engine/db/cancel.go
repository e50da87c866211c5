package db

import "time"

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

// Backend is the session's backend id: the process number the lock
// manager's waits and deadlock reports name.
func (s *Session) Backend() int { return s.proc.Slot() }

// BlockedBy is the backend whose transaction the session's statement is
// waiting for (pg_blocking_pids), if it is waiting. It may be called from
// another process than the session's.
func (s *Session) BlockedBy() (backend int, ok bool) { return s.db.Locks.BlockedBy(s.proc.Slot()) }

// SetDeadlockTimeout is SET deadlock_timeout in this session: its lock
// waits run the deadlock check after d (d <= 0: the server's setting).
func (s *Session) SetDeadlockTimeout(d time.Duration) {
	s.db.Locks.SetDeadlockTimeout(s.proc.Slot(), d)
	s.ownDeadlockTimeout = d > 0
}
