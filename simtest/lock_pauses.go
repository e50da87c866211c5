package simtest

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// Pauses at LWLock acquisitions (issue 17, item 3). PostgreSQL's races
// live at its LWLock acquisitions: a backend descheduled just before
// LWLockAcquire lets every other process run through the window the lock
// was meant to close. Every acquisition is a point, lwlock-acquire, that
// carries the lock's tranche (env.PointLWLockAcquire, lwlock.Tranches),
// and on a share of the seeds the swarm adds to the drawn plan a pause of
// one role at one tranche's acquisitions, the lock drawn over every
// tranche (not aimed at any one), its duration, probability and count
// drawn as the race windows' pauses are (fault.Generate's RacePoints):
//
//	pause for=3ms role=backend when point=lwlock-acquire and lock=ProcArrayLock and prob=0.05 times=4
//
// Config.LockPause overrides the draw: "off", "any" (a pause on every
// seed, the lock drawn) or a tranche's name (a pause at that lock on every
// seed). The draw has a stream of its own, so that a seed without a pause
// runs exactly as it did before this dimension existed.

// The values of Config.LockPause besides a tranche's name.
const (
	LockPauseOff = "off"
	LockPauseAny = "any"
)

// lockPauseSeedsPer: one seed in lockPauseSeedsPer draws a pause.
const lockPauseSeedsPer = 4

// lockPauseRoles are the roles a lock pause is aimed at, as the plan
// generator's point pauses are: a process stalled mid-protocol while the
// others run past it.
var lockPauseRoles = [...]env.Role{env.RoleBackend, env.RoleBgwriter, env.RoleCheckpointer, env.RoleWalwriter}

// LockTranches lists the lock tranches a plan may name by lock=, in the
// engine's table order.
func LockTranches() []string { return lwlock.TrancheNames() }

// LockPauseModes are Config.LockPause's values, for the flag.
func LockPauseModes() []string {
	return append([]string{LockPauseOff, LockPauseAny}, LockTranches()...)
}

func (c Config) validateLockPause() error {
	if c.LockPause == "" || slices.Contains(LockPauseModes(), c.LockPause) {
		return nil
	}
	return fmt.Errorf("lock pause must be %s, %s or a lock (%s), got %q", LockPauseOff, LockPauseAny, strings.Join(LockTranches(), ", "), c.LockPause)
}

// checkPlanLocks rejects a plan that names a lock tranche the engine does
// not have, with the list of those it has: its fault could never fire.
func checkPlanLocks(p fault.Plan) error {
	known := LockTranches()
	for _, name := range p.LockNames() {
		if !slices.Contains(known, name) {
			return fmt.Errorf("unknown lock %q (lock= at point=%s names one of: %s)", name, env.PointLWLockAcquire, strings.Join(known, ", "))
		}
	}
	return nil
}

// lockPauseDraw is the seed's lock pause under the swarm, or nil, drawn
// from a stream of its own; mode pins it (LockPauseAny: on, lock drawn; a
// tranche: on, that lock). Every number is drawn whatever the outcome, so
// that pinning one part leaves the others as the seed draws them.
func lockPauseDraw(seed uint64, mode string) *fault.Fault {
	rng := world.NewRand(seed ^ 0x6c776c6f636b7073) // "lwlockps"
	on := rng.Intn(lockPauseSeedsPer) == 0
	tr := lwlock.Tranches[rng.Intn(len(lwlock.Tranches))]
	roleDraw := rng.Intn(len(lockPauseRoles))
	d := time.Duration(1+rng.Intn(10)) * time.Millisecond
	prob := [...]float64{0.02, 0.05, 0.1, 0.25}[rng.Intn(4)]
	times := 1 + rng.Intn(8)
	switch mode {
	case LockPauseOff:
		return nil
	case "":
		if !on {
			return nil
		}
	case LockPauseAny:
	default:
		i := slices.Index(LockTranches(), mode)
		if i < 0 {
			panic("simtest: lock pause of an unknown lock " + mode) // Validate rejects it
		}
		tr = lwlock.Tranches[i]
	}
	// The role: the drawn one among those that take the tranche's locks
	// (the table's Roles), so that the pause can fire.
	var roles []env.Role
	for _, r := range lockPauseRoles {
		if tr.Roles.Has(r) {
			roles = append(roles, r)
		}
	}
	if len(roles) == 0 {
		panic("simtest: lock tranche " + tr.Name + " is taken by none of the paused roles")
	}
	return &fault.Fault{
		Action: fault.Action{Kind: fault.ActPause, For: d, HasRole: true, Role: roles[roleDraw%len(roles)]},
		When: fault.And(fault.AtomExpr(fault.Atom{Kind: fault.AtomPoint, Name: env.PointLWLockAcquire}),
			fault.AtomExpr(fault.Atom{Kind: fault.AtomLock, Name: tr.Name}),
			fault.AtomExpr(fault.Atom{Kind: fault.AtomProb, Prob: prob})),
		Times: times,
	}
}

// resolveLockPause is the run's lock pause: the seed's draw under Swarm or
// with a mode given, else none; never with a plan given.
func resolveLockPause(c Config) *fault.Fault {
	if (!c.Swarm && c.LockPause == "") || c.Faults != "" || c.CrashStep != 0 {
		return nil // no pause, or a plan given (dbPlan draws none)
	}
	return lockPauseDraw(c.Seed, c.LockPause)
}

// withLockPause adds the run's lock pause to a drawn plan. The plan, which
// the run's result and its repro file carry, is where the pause is
// recorded: the configuration's text leaves it out, so that a run without
// one, and a replay of the plan, trace exactly as before.
func withLockPause(p fault.Plan, rc resolved) fault.Plan {
	if rc.lockPause != nil {
		p.Faults = append(p.Faults, *rc.lockPause)
	}
	return p
}
