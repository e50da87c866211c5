package lmgr

import "github.com/pgdst/pgdst/engine/pgerr"

// Cancel is a query cancel (pg_cancel_backend, or a client's
// CancelRequest) aimed at backend: its current wait, and any it starts
// before ClearCancel, ends with query_canceled (57014), as
// ProcessInterrupts' QueryCancelPending does when ProcSleep's latch is
// set. The flag stays until ClearCancel so that a cancel that arrives
// just before the wait begins is not lost.
func (m *Manager) Cancel(backend int) {
	m.mu.Lock()
	if m.canceled == nil {
		m.canceled = make(map[int]bool)
	}
	m.canceled[backend] = true
	m.cv.Broadcast()
	m.mu.Unlock()
}

// ClearCancel forgets a cancel aimed at backend (a new statement starts,
// as PostgreSQL clears QueryCancelPending when it begins one).
func (m *Manager) ClearCancel(backend int) {
	m.mu.Lock()
	delete(m.canceled, backend)
	m.mu.Unlock()
}

// errCanceled is the error of a wait a cancel ended.
func errCanceled() error {
	return pgerr.New(pgerr.QueryCanceled, "canceling statement due to user request")
}
