// Package lmgr is the lock manager for what transactions wait on: another
// transaction's end (XactLockTableWait, used when a row lock or an update
// meets a tuple changed by a running transaction). Every transaction holds
// the lock on its own xid until it ends; a waiter blocks until the holder
// releases it. After deadlock_timeout of waiting, the waiter runs the
// deadlock check (DeadLockCheck) over the wait-for graph and, if it is part
// of a cycle, fails with deadlock_detected (40P01), as PostgreSQL's
// CheckDeadLock does: the process that finds the cycle is the victim.
//
// It owns the wait-for graph and nothing else; it never touches tuples,
// pages or the clog.
package lmgr

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// XID is a transaction id (the same integer as xact.XID).
type XID = uint64

// Manager tracks which backend holds which xid and who waits for whom.
type Manager struct {
	e       *env.Env
	mu      env.Mutex   // the lock manager's partition lock
	cv      env.Cond    // broadcast whenever an xid is released
	holder  map[XID]int // xid -> backend id holding it
	waiting map[int]XID // backend id -> xid it waits for
	// canceled holds the backends a query cancel aims at (cancel.go);
	// nil until the first cancel, which only the real server sends.
	canceled map[int]bool
	// DeadlockTimeout is deadlock_timeout (PostgreSQL's default is 1s).
	DeadlockTimeout time.Duration
	// timeouts are the backends' own deadlock_timeout, set by SET in
	// their session (a user-settable GUC); nil until the first.
	timeouts map[int]time.Duration
	// Checks counts deadlock checks run, for tests and traces.
	Checks int
}

// New makes a lock manager.
func New(e *env.Env, deadlockTimeout time.Duration) *Manager {
	mu := e.Sched.NewMutex("LockManager")
	return &Manager{
		e:               e,
		mu:              mu,
		cv:              e.Sched.NewCond("LockManagerWait", mu),
		holder:          make(map[XID]int),
		waiting:         make(map[int]XID),
		DeadlockTimeout: deadlockTimeout,
	}
}

// Hold registers backend as the holder of xid (at xid assignment).
func (m *Manager) Hold(backend int, xid XID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.holder[xid]; taken {
		panic(fmt.Sprintf("lmgr: xid %d already held", xid))
	}
	m.holder[xid] = backend
}

// Release ends xid's lock (at commit or abort) and wakes its waiters.
func (m *Manager) Release(xid XID) {
	m.mu.Lock()
	delete(m.holder, xid)
	if len(m.waiting) > 0 {
		// The event says how many sleep on xid, so that an observer can
		// hold the wakeup to its promise (ProcLockWakeup).
		sleepers := 0
		for _, w := range m.waiting {
			if w == xid {
				sleepers++
			}
		}
		if sleepers > 0 {
			m.e.LockReleased(xid, sleepers)
		}
	}
	m.cv.Broadcast()
	m.mu.Unlock()
}

// Wait blocks backend until xid ends (XactLockTableWait). It returns nil
// once xid is no longer held, or a deadlock_detected error if waiting
// would close a cycle in the wait-for graph.
func (m *Manager) Wait(backend int, xid XID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.holder[xid]; ok && h == backend {
		panic("lmgr: a backend waiting for its own transaction")
	}
	_, held := m.holder[xid]
	m.e.LockWaitBegan(backend, xid, held)
	checked := false
	// The deadlock check comes deadlock_timeout after the wait began, however
	// often the waiter is woken meanwhile (ProcSleep arms DEADLOCK_TIMEOUT
	// once, before its loop): every release broadcasts, and a timer
	// re-armed at each wakeup would put off the check of a real deadlock
	// for as long as other transactions keep ending (seed 9888).
	timeout := m.DeadlockTimeout
	if d, ok := m.timeouts[backend]; ok {
		timeout = d
	}
	deadline := m.e.Clock.Now() + timeout
	for {
		if _, running := m.holder[xid]; !running {
			delete(m.waiting, backend)
			m.e.LockWaitEnded(backend, xid, false)
			return nil
		}
		if m.canceled[backend] {
			delete(m.waiting, backend)
			m.e.LockWaitEnded(backend, xid, true)
			return errCanceled()
		}
		m.waiting[backend] = xid
		m.e.Sometimes("lock-wait")
		if checked {
			m.cv.Wait()
			continue
		}
		if left := deadline - m.e.Clock.Now(); left > 0 {
			if signalled := m.cv.WaitTimeout(left); signalled {
				continue
			}
		}
		checked = true
		m.Checks++
		m.e.Sometimes("deadlock-check-ran")
		if cycle := m.cycleFrom(backend); cycle != nil {
			detail := m.describe(cycle) // before the victim's edge goes
			delete(m.waiting, backend)
			m.e.LockWaitEnded(backend, xid, true)
			m.e.Sometimes("deadlock-detected")
			// DeadLockReport: the message alone, the cycle in the
			// detail, the hint PostgreSQL gives.
			err := pgerr.New(pgerr.DeadlockDetected, "deadlock detected")
			err.Detail = detail
			err.Hint = "See server log for query details."
			return err
		}
	}
}

// cycleFrom follows wait-for edges from start: backend -> the holder of the
// xid it waits for. It returns the cycle through start, or nil. The walk is
// bounded by the number of waiters, since each has one outgoing edge.
func (m *Manager) cycleFrom(start int) []int {
	path := []int{start}
	cur := start
	for i := 0; i <= len(m.waiting); i++ {
		xid, ok := m.waiting[cur]
		if !ok {
			return nil
		}
		next, held := m.holder[xid]
		if !held {
			return nil
		}
		if next == start {
			return path
		}
		if slices.Contains(path, next) {
			return nil // a cycle not through start: someone else's to break
		}
		path = append(path, next)
		cur = next
	}
	return nil
}

// describe is DeadLockReport's detail: one line per edge of the cycle,
// starting at the victim, in PostgreSQL's words (a transaction's end is
// waited for with a ShareLock on its xid, XactLockTableWait). The process
// numbers are backend ids; pgdst serve shows them as its PIDs.
func (m *Manager) describe(cycle []int) string {
	lines := make([]string, 0, len(cycle))
	for _, b := range cycle {
		xid := m.waiting[b]
		lines = append(lines, fmt.Sprintf("Process %d waits for ShareLock on transaction %d; blocked by process %d.", b, xid, m.holder[xid]))
	}
	return strings.Join(lines, "\n")
}

// SetDeadlockTimeout sets backend's own deadlock_timeout (SET
// deadlock_timeout); d <= 0 returns it to the server's.
func (m *Manager) SetDeadlockTimeout(backend int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d <= 0 {
		delete(m.timeouts, backend)
		return
	}
	if m.timeouts == nil {
		m.timeouts = make(map[int]time.Duration)
	}
	m.timeouts[backend] = d
}

// BlockedBy is the backend that blocks backend's lock wait: the holder of
// the xid it waits for (pg_blocking_pids for a transaction lock). ok is
// false when backend is not waiting, or the xid it waits for has just
// been released and it has yet to wake up: it is no longer blocked.
func (m *Manager) BlockedBy(backend int) (holder int, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	xid, waiting := m.waiting[backend]
	if !waiting {
		return 0, false
	}
	holder, ok = m.holder[xid]
	return holder, ok
}
