package world

import (
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// LWLock acquisitions as fault points (env.PointLWLockAcquire): every
// acquisition of a scheduler mutex (simMutex.Lock, not a spinlock's) and of
// an lwlock.LWLock (through InjectLock) is shown to the fault plan as a
// point event carrying the lock's tranche, so that a plan can pause a
// process just before it takes, say, ProcArrayLock. The acquisition is a
// scheduling point already; this adds none. Only a plan that names the
// point turns it on (PlanRunner.Install): otherwise an acquisition costs a
// flag test, and the run is the one it was before the point existed.

// InjectLock is env.LockInjector: an lwlock.LWLock is about to be
// acquired.
func (s *Sim) InjectLock(tranche string, grants *uint64) {
	if s.lockPoints && s.running && tranche != "" {
		s.faults.lock(tranche, grants)
	}
}

// notePause adds a pause of the running process to its total.
func (r *PlanRunner) notePause(d time.Duration) {
	p := r.node.Sim.cur
	if p == nil {
		return
	}
	if r.pausedFor == nil {
		r.pausedFor = map[int]time.Duration{}
	}
	r.pausedFor[p.id] += d
}

// PausedFor is how long the plan's pauses have held process pid in all:
// a checker that bounds how long a process may take to do something
// (the lock-wakeup checker) does not count the plan's time against it.
func (r *PlanRunner) PausedFor(pid int) time.Duration { return r.pausedFor[pid] }

// namesLockPoint reports whether p names env.PointLWLockAcquire anywhere.
func namesLockPoint(p fault.Plan) bool {
	for _, name := range p.PointNames() {
		if name == env.PointLWLockAcquire {
			return true
		}
	}
	return false
}

// lock is the faultHooks lock hook: the plan sees the acquisition as a hit
// of env.PointLWLockAcquire with the lock's tranche. A process paused here
// reports, when it resumes, whether another took the lock meanwhile.
func (r *PlanRunner) lock(tranche string, grants *uint64) {
	s := r.node.Sim
	r.LockHits++
	if p := s.cur; p != nil {
		if r.LockRoles == nil {
			r.LockRoles = map[string]env.RoleSet{}
		}
		if rs := r.LockRoles[tranche]; !rs.Has(p.role) {
			r.LockRoles[tranche] = rs.Add(p.role)
		}
	}
	ev := r.event(fault.EventPoint)
	ev.Point, ev.Hit, ev.Lock = env.PointLWLockAcquire, r.LockHits, tranche
	fired := r.eval(ev)
	if len(fired) == 0 {
		return
	}
	before := *grants
	stalls := r.Stalls
	r.actAll(fired, ev)
	if r.Stalls != stalls && !r.Stopped {
		r.node.Env.LockPauseEnded(*grants != before)
	}
}
