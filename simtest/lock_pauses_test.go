package simtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
	"github.com/pgdst/pgdst/fault"
)

// TestLockTranchesTableRolesAreReached checks the lock tranches table's
// role column against what runs take, among the roles a drawn lock pause
// is aimed at, both ways: a pair the table claims must be reached (else
// a drawn pause could never fire), and a pair reached must be claimed
// (else no drawn pause aims there). Every tranche must be taken by some
// run, and nothing outside the table (the harness's own locks aside).
func TestLockTranchesTableRolesAreReached(t *testing.T) {
	reached := map[string]env.RoleSet{}
	// 240 seeds: the background writer takes ProcArrayLock and XidGenLock
	// only on a primary with standbys (its running-xacts records), which
	// the swarm draws on one seed in 16.
	for _, r := range runSeeds(240, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.LockPause = LockPauseAny
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.NotNil(t, r.LockRoles, "seed %d: the plan names lwlock-acquire, so acquisitions are shown to it", r.Seed)
		for tr, rs := range r.LockRoles {
			reached[tr] |= rs
		}
	}
	var names []string
	for tr := range reached {
		names = append(names, tr)
	}
	sort.Strings(names)
	for _, tr := range names {
		t.Logf("%s: %v", tr, reached[tr])
	}
	var omitted, never []string
	table := map[string]bool{}
	for _, tr := range lwlock.Tranches {
		table[tr.Name] = true
		got := reached[tr.Name]
		require.NotZero(t, got, "no run took a lock of tranche %s", tr.Name)
		for _, role := range lockPauseRoles {
			switch {
			case tr.Roles.Has(role) && !got.Has(role):
				never = append(never, fmt.Sprintf("%s %s", role, tr.Name))
			case !tr.Roles.Has(role) && got.Has(role):
				omitted = append(omitted, fmt.Sprintf("%s %s", role, tr.Name))
			}
		}
	}
	for _, tr := range names {
		if !table[tr] && tr != "group" {
			omitted = append(omitted, "tranche "+tr)
		}
	}
	require.Empty(t, omitted, "reached but not in lwlock.Tranches")
	require.Empty(t, never, "in lwlock.Tranches but never reached")
}

// TestLockPauseDraw: the swarm draws a lock pause on about one seed in
// lockPauseSeedsPer, over every tranche, each aimed at a role the table
// says takes it; "off" draws none, "any" one on every seed, and a tranche's
// name that tranche, the other draws as the seed makes them. A plan given
// takes no drawn pause, and a seed without one draws the plan it drew
// before the dimension existed.
func TestLockPauseDraw(t *testing.T) {
	const seeds = 4000
	on := 0
	locks := map[string]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		require.Nil(t, lockPauseDraw(seed, LockPauseOff))
		anyF := lockPauseDraw(seed, LockPauseAny)
		require.NotNil(t, anyF)
		require.NoError(t, fault.Plan{Faults: []fault.Fault{*anyF}}.Validate())
		lock := anyF.When.Args[1].Atom.Name
		i := slices.Index(LockTranches(), lock)
		require.GreaterOrEqual(t, i, 0, lock)
		require.True(t, lwlock.Tranches[i].Roles.Has(anyF.Action.Role), "%s aimed at %s", lock, anyF.Action.Role)
		locks[lock]++
		pinned := lockPauseDraw(seed, "WALWriteLock")
		require.Equal(t, "WALWriteLock", pinned.When.Args[1].Atom.Name)
		require.Equal(t, anyF.Action.For, pinned.Action.For)
		require.Equal(t, anyF.Times, pinned.Times)
		if f := lockPauseDraw(seed, ""); f != nil {
			on++
			require.Equal(t, anyF, f)
		}
	}
	require.InDelta(t, seeds/lockPauseSeedsPer, on, seeds/lockPauseSeedsPer/5)
	require.Len(t, locks, len(lwlock.Tranches), "every tranche drawn: %v", locks)

	c := DefaultConfig(1)
	c.LockPause = LockPauseAny
	require.NotNil(t, resolveLockPause(c))
	c.Faults = "crash when step>=100\n"
	require.Nil(t, resolveLockPause(c), "a plan given is the plan")
	c = DefaultConfig(1)
	c.Swarm = false
	require.Nil(t, resolveLockPause(c), "no swarm, no draw")

	// A seed that draws none has the plan drawn without the dimension;
	// one that draws a pause has that plan and the pause after it.
	for seed := uint64(1); seed <= 40; seed++ {
		c := DefaultConfig(seed)
		c.LockPause = LockPauseOff
		off := Run(c)
		c.LockPause = ""
		drawn := Run(c)
		require.True(t, off.OK && drawn.OK, "seed %d: %v %v", seed, off.Failures, drawn.Failures)
		if lockPauseDraw(seed, "") == nil {
			require.Equal(t, off.Plan, drawn.Plan, "seed %d", seed)
			require.Equal(t, off.Trace, drawn.Trace, "seed %d", seed)
			continue
		}
		require.True(t, strings.HasPrefix(drawn.Plan, off.Plan), "seed %d:\n%s\n%s", seed, off.Plan, drawn.Plan)
		require.Contains(t, drawn.Plan[len(off.Plan):], "point=lwlock-acquire and lock=")
	}
}

// TestPlanLockNamesChecked: a plan naming a lock the engine does not
// have is rejected with the list of those it has; the names it offers
// are accepted.
func TestPlanLockNamesChecked(t *testing.T) {
	c := DefaultConfig(1)
	c.Faults = "pause for=1ms role=backend when point=lwlock-acquire and lock=ProcArray\n"
	err := c.Validate()
	require.ErrorContains(t, err, `unknown lock "ProcArray" (lock= at point=lwlock-acquire names one of: ProcArrayLock, XidGenLock,`)
	for _, tr := range LockTranches() {
		c.Faults = "pause for=1ms role=backend when point=lwlock-acquire and lock=" + tr + "\n"
		require.NoError(t, c.Validate(), tr)
	}
	c.Faults = ""
	c.LockPause = "NoSuchLock"
	require.ErrorContains(t, c.Validate(), `lock pause must be off, any or a lock (ProcArrayLock,`)
}

// TestLockWakeupNotChargedWithPlanPauses: seed 7358 with a lock pause
// drew "pause for=10ms role=backend when point=lwlock-acquire and
// lock=LockManager": a backend woken at once by a row lock's release was
// paused as it retook the lock manager's lock (ProcSleep's LWLockAcquire
// after its wakeup), and the lock-wakeup checker took the 10 ms for a late
// wakeup (10.004 ms against its 10 ms limit). The engine is right; the
// checker no longer counts the plan's pauses of the waiter. (The lock is
// pinned since the tranche table grew: the seed's own draw moved.)
func TestLockWakeupNotChargedWithPlanPauses(t *testing.T) {
	c := DefaultConfig(7358)
	c.LockPause = "LockManager"
	r := Run(c)
	require.True(t, r.OK, "%v\n%s", r.Failures, r.Summary())
	require.Contains(t, r.Plan, "lock=LockManager")
	paused := false
	for _, a := range r.Applied {
		paused = paused || a.Lock == "LockManager"
	}
	require.True(t, paused, "the pause fired:\n%s", r.Summary())
}
