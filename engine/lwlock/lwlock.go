// Package lwlock is the engine's lightweight lock (PostgreSQL's
// src/backend/storage/lmgr/lwlock.c): a reader-writer lock with shared and
// exclusive modes that protects shared-memory data structures such as a
// buffer's contents.
//
// The package owns only the lock's own state: who holds it, in which mode,
// and who waits for it. It never touches the data a lock protects, never
// does I/O, and reaches the scheduler only through the env.Mutex and
// env.Cond it is built from, so that under the simulator every acquire and
// release is a deterministic scheduling point.
//
// # Fairness policy
//
// PostgreSQL's LWLockAcquire is not FIFO: a releaser wakes the first waiter
// (and, if that one is shared, every shared waiter in the queue), and the
// woken processes then race newcomers for the lock (LWLockAttemptLock), so a
// stream of readers can in principle delay a writer without bound. This
// lock is strictly fair instead, because a simulator that explores
// adversarial schedules would otherwise find starvation that PostgreSQL's
// real timing makes unlikely:
//
//   - A newcomer gets the lock at once only if it is compatible with the
//     current holders and nobody is queued. Otherwise it joins the tail of
//     the queue, even if it is compatible with the holders (a reader never
//     overtakes a queued writer).
//   - Release hands the lock over directly (no retry race): when the lock
//     becomes free, the head of the queue is granted; if the head is shared,
//     every consecutive shared waiter behind it is granted too, up to the
//     first exclusive waiter.
//
// So a waiter is granted after at most the holders present when it queued
// plus the waiters ahead of it: no writer and no reader starves.
//
// # Assertions
//
// The lock records which processes hold it (by env Proc ID) and in which
// mode, as PostgreSQL's held_lwlocks array does, so that callers can assert
// LWLockHeldByMe / LWLockHeldByMeInMode. Acquiring a lock the caller
// already holds, or releasing one it does not hold, panics: both are engine
// bugs (the first would self-deadlock under the FIFO policy).
package lwlock

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
)

// Mode is a lock mode (LWLockMode).
type Mode uint8

const (
	// Shared is LW_SHARED: any number of shared holders at once.
	Shared Mode = iota + 1
	// Exclusive is LW_EXCLUSIVE: one holder, and no shared holders.
	Exclusive
)

func (m Mode) String() string {
	switch m {
	case Shared:
		return "LW_SHARED"
	case Exclusive:
		return "LW_EXCLUSIVE"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// waiter is a queued acquirer (PGPROC's lwWaiting/lwWaitMode). The
// releaser sets granted and signals cond, which is tied to the lock's
// internal mutex.
type waiter struct {
	pid     int
	mode    Mode
	granted bool
	cond    env.Cond
}

// LWLock is a lightweight lock. The zero value is not usable; call New.
type LWLock struct {
	name  string
	sched env.Scheduler
	// mu protects every field below. It is held only for short stretches
	// with no I/O, like the spinlock that protected LWLocks before 9.5.
	mu env.Mutex

	exclusive int   // pid of the exclusive holder; noHolder when none
	shared    []int // pids of shared holders, in acquisition order
	queue     []*waiter

	// tranche is the lock's name up to its first space (env.LockTranche);
	// inj hears each acquisition (env.PointLWLockAcquire), nil where the
	// environment does not listen (the real one); grants counts the
	// acquisitions granted, so that inj can tell whether another process
	// took the lock while it paused the caller.
	tranche string
	inj     env.LockInjector
	grants  uint64
}

// noHolder marks "no exclusive holder". Proc IDs start at 1 under the
// simulator and the real scheduler uses 0 for its main goroutine, so a
// negative value is never a process.
const noHolder = -1

// New makes a lock. name appears in deadlock reports and panics (it plays
// the part of PostgreSQL's tranche name).
func New(e *env.Env, name string) *LWLock {
	l := &LWLock{
		name:      name,
		sched:     e.Sched,
		mu:        e.Sched.NewMutex(env.LWLockMutexPrefix + name),
		exclusive: noHolder,
		tranche:   env.LockTranche(name),
	}
	l.inj, _ = e.Points.(env.LockInjector)
	return l
}

// Name is the lock's name.
func (l *LWLock) Name() string { return l.name }

// self is the calling process's ID (0 outside any process, for harness
// code that runs before the simulation starts).
func (l *LWLock) self() int {
	p := l.sched.Self()
	if p == nil {
		return 0
	}
	return p.ID()
}

// compatibleLocked reports whether mode could be granted now, ignoring
// the queue.
func (l *LWLock) compatibleLocked(mode Mode) bool {
	if l.exclusive != noHolder {
		return false
	}
	return mode == Shared || len(l.shared) == 0
}

func (l *LWLock) grantLocked(pid int, mode Mode) {
	l.grants++
	if mode == Exclusive {
		l.exclusive = pid
	} else {
		l.shared = append(l.shared, pid)
	}
}

func (l *LWLock) heldLocked(pid int) (Mode, bool) {
	if l.exclusive == pid {
		return Exclusive, true
	}
	for _, s := range l.shared {
		if s == pid {
			return Shared, true
		}
	}
	return 0, false
}

func checkMode(mode Mode) {
	if mode != Shared && mode != Exclusive {
		panic(fmt.Sprintf("lwlock: invalid mode %d", mode))
	}
}

// Acquire takes the lock in mode, waiting as long as necessary
// (LWLockAcquire). Waiting is FIFO as described in the package comment.
// Before it tries the lock it reaches env.PointLWLockAcquire, where a
// simulator's fault plan may pause it.
func (l *LWLock) Acquire(mode Mode) {
	checkMode(mode)
	if l.inj != nil {
		l.inj.InjectLock(l.tranche, &l.grants)
	}
	pid := l.self()
	l.mu.Lock()
	if m, held := l.heldLocked(pid); held {
		l.mu.Unlock()
		panic(fmt.Sprintf("lwlock: %s acquired in %s by process %d that already holds it in %s", l.name, mode, pid, m))
	}
	if len(l.queue) == 0 && l.compatibleLocked(mode) {
		l.grantLocked(pid, mode)
		l.mu.Unlock()
		return
	}
	// Sleep until a releaser hands the lock to us (LWLockQueueSelf and the
	// semaphore wait in LWLockAcquire). The releaser records the grant in
	// the holder set itself, so no newcomer can slip in between.
	w := &waiter{pid: pid, mode: mode, cond: l.sched.NewCond("lwlock "+l.name, l.mu)}
	l.queue = append(l.queue, w)
	for !w.granted {
		w.cond.Wait()
	}
	l.mu.Unlock()
}

// ConditionalAcquire takes the lock in mode if that is possible without
// waiting, and reports whether it did (LWLockConditionalAcquire). Unlike
// PostgreSQL's, it also fails when other processes are queued, so that it
// cannot overtake a waiting writer.
func (l *LWLock) ConditionalAcquire(mode Mode) bool {
	checkMode(mode)
	if l.inj != nil {
		l.inj.InjectLock(l.tranche, &l.grants)
	}
	pid := l.self()
	l.mu.Lock()
	defer l.mu.Unlock()
	if m, held := l.heldLocked(pid); held {
		panic(fmt.Sprintf("lwlock: %s acquired in %s by process %d that already holds it in %s", l.name, mode, pid, m))
	}
	if len(l.queue) == 0 && l.compatibleLocked(mode) {
		l.grantLocked(pid, mode)
		return true
	}
	return false
}

// Release gives up the calling process's hold on the lock, in whatever
// mode it holds it (LWLockRelease), and hands the lock to the waiters that
// may now have it (LWLockWakeup).
func (l *LWLock) Release() {
	pid := l.self()
	l.mu.Lock()
	switch {
	case l.exclusive == pid:
		l.exclusive = noHolder
	default:
		i := -1
		for j, s := range l.shared {
			if s == pid {
				i = j
				break
			}
		}
		if i < 0 {
			l.mu.Unlock()
			panic(fmt.Sprintf("lwlock: %s released by process %d that does not hold it", l.name, pid))
		}
		l.shared = append(l.shared[:i], l.shared[i+1:]...)
	}
	l.wakeupLocked()
	l.mu.Unlock()
}

// wakeupLocked grants the lock to the head of the queue if it is now
// compatible, and to every consecutive shared waiter behind a shared head.
func (l *LWLock) wakeupLocked() {
	n := 0
	for n < len(l.queue) {
		w := l.queue[n]
		if !l.compatibleLocked(w.mode) {
			break
		}
		l.grantLocked(w.pid, w.mode)
		w.granted = true
		w.cond.Signal()
		n++
		if w.mode == Exclusive {
			break
		}
	}
	if n > 0 {
		// Clear the popped slots so the waiters can be collected.
		for i := 0; i < n; i++ {
			l.queue[i] = nil
		}
		l.queue = l.queue[n:]
	}
}

// HeldByMe reports whether the calling process holds the lock in any mode
// (LWLockHeldByMe).
func (l *LWLock) HeldByMe() bool {
	pid := l.self()
	l.mu.Lock()
	_, held := l.heldLocked(pid)
	l.mu.Unlock()
	return held
}

// HeldByMeInMode reports whether the calling process holds the lock in
// exactly mode (LWLockHeldByMeInMode).
func (l *LWLock) HeldByMeInMode(mode Mode) bool {
	pid := l.self()
	l.mu.Lock()
	m, held := l.heldLocked(pid)
	l.mu.Unlock()
	return held && m == mode
}

// State is a snapshot of the lock for tests and diagnostics.
type State struct {
	Exclusive int   // holder pid, or -1
	Shared    []int // shared holder pids
	Waiting   int   // queued processes
}

// Snapshot returns the lock's current state.
func (l *LWLock) Snapshot() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return State{Exclusive: l.exclusive, Shared: append([]int(nil), l.shared...), Waiting: len(l.queue)}
}
