package env

import "strings"

// LWLock acquisition as a fault point. PostgreSQL's races live at its
// LWLock acquisitions: a backend descheduled just before LWLockAcquire, or
// while it waits there, lets every other process run through the window
// the lock was meant to close (GetNewTransactionId publishing its xid under
// ProcArrayLock, a commit's clog update under CLogControlLock, a buffer's
// content lock). Every LWLock acquisition is therefore a named point,
// PointLWLockAcquire, that carries the lock's tranche, so that a fault plan
// can say "pause role=backend when point=lwlock-acquire and
// lock=ProcArrayLock".
//
// It is not an injection point of Inject's kind: it adds no scheduling
// point (the acquisition already is one), counts no hits in the engine's
// points table and traces nothing, so a run whose plan never names it is
// exactly the run it was before the point existed. A simulator that hears
// it (LockInjector) does work only when its plan names the point.

// PointLWLockAcquire is the point every LWLock acquisition reaches, before
// it tries the lock.
const PointLWLockAcquire = "lwlock-acquire"

// LWLockMutexPrefix starts the name of the scheduler mutex inside an
// lwlock.LWLock (its internal spinlock's stand-in): that mutex is taken to
// release the LWLock too, so its Lock is no acquisition, and the LWLock
// announces its own acquisitions instead (LockTranche gives it none).
const LWLockMutexPrefix = "lwlock "

// LockInjector is an Injector that also hears LWLock acquisitions. The
// simulator implements it; the real environment does not, and the engine
// then announces nothing.
type LockInjector interface {
	// InjectLock announces that the calling process is about to acquire
	// a lock of the tranche (LockTranche of its name); grants counts
	// the lock's acquisitions so far, so that the injector can tell
	// whether another process took it while this one was paused here.
	InjectLock(tranche string, grants *uint64)
}

// LockTranche is the tranche of the lock a scheduler mutex or an
// lwlock.LWLock is named: the name up to its first space ("heap 16384" is
// of tranche "heap", "BufferContent 7" of "BufferContent"), as PostgreSQL
// names a lock by its tranche in wait events. It is "" for the mutex
// inside an LWLock (LWLockMutexPrefix), which is no acquisition.
func LockTranche(name string) string {
	if strings.HasPrefix(name, LWLockMutexPrefix) {
		return ""
	}
	if i := strings.IndexByte(name, ' '); i >= 0 {
		return name[:i]
	}
	return name
}

// LockPauseEnded is told by a simulator that a process it paused at
// PointLWLockAcquire resumes, and whether another process took the same
// lock during the pause: the race the pause is there to open.
func (e *Env) LockPauseEnded(overtaken bool) {
	if overtaken {
		e.Sometimes("lwlock-pause-overtaken")
	}
}
