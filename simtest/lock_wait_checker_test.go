package simtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/simtest/world"
)

// lockSim runs, on the real lock manager in a simulation watched by a
// lock-wait checker, a holder of xid 7 and a backend that waits for it
// twice in a row, as a busy retry does; the holder sleeps 10 ms and ends
// the transaction with release.
func lockSim(t *testing.T, release func(m *lmgr.Manager, xid uint64)) *Result {
	res := &Result{OK: true, Online: CheckerCounts{}}
	chk := newLockWaitChecker(res)
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	t.Cleanup(node.Disk.Release)
	node.WatchEvents = chk.event
	m := lmgr.New(node.Env, time.Second)
	const xid = 7
	m.Hold(1, xid)
	node.Sim.Spawn("waiter", func() {
		for i := 0; i < 2; i++ { // a busy retry waits twice
			require.NoError(t, m.Wait(2, xid))
		}
	})
	node.Sim.Spawn("holder", func() {
		node.Env.Clock.Sleep(10 * time.Millisecond)
		release(m, xid)
	})
	node.Sim.Run()
	chk.judgeSleepers(node.Sim.Now(), nil)
	return res
}

// TestLockWaitCheckersOnTheLockManager: on the lock manager's own events,
// a release that wakes its sleeping waiter at once passes the wakeup
// check, and a second wait for a transaction the first wait saw end (the
// retry loop of mutant 13) fails the retry check. (A forgotten wakeup,
// mutant 34, needs a broken lock manager: TestLockWaitCheckerEvents plays
// its events, and the mutant itself is run by cmd/mutants.)
func TestLockWaitCheckersOnTheLockManager(t *testing.T) {
	res := lockSim(t, func(m *lmgr.Manager, xid uint64) { m.Release(xid) })
	require.Equal(t, CheckLockRetry, res.Checker, "%v", res.Failures)
	require.Len(t, res.Failures, 1, "the release woke the waiter at once: no wakeup failure")
	require.Equal(t, uint64(1), res.Online.of(countLockWakeups).Judged)
}

// TestLockWaitCheckerEvents feeds the checker the events of each case.
func TestLockWaitCheckerEvents(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	wait := func(pid int, xid uint64, held bool, at time.Duration) *env.Event {
		e := &env.Event{Kind: env.EvLockWait, Pid: pid, Xid: xid, A: int64(pid), Time: at}
		if held {
			e.B = 1
		}
		return e
	}
	end := func(pid int, xid uint64, at time.Duration) *env.Event {
		return &env.Event{Kind: env.EvLockWaitEnd, Pid: pid, Xid: xid, A: int64(pid), Time: at}
	}
	release := func(xid uint64, at time.Duration) *env.Event {
		return &env.Event{Kind: env.EvLockRelease, Xid: xid, A: 1, Time: at}
	}
	for _, tc := range []struct {
		name    string
		events  []*env.Event
		crashes []time.Duration
		end     time.Duration
		checker string
	}{
		{"prompt wakeup", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5)), end(3, 9, ms(5))}, nil, ms(100), ""},
		{"wait that never slept", []*env.Event{wait(3, 9, false, ms(1)), end(3, 9, ms(1))}, nil, ms(100), ""},
		{"missed wakeup", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5)), end(3, 9, ms(1001))}, nil, ms(2000), CheckLockWakeup},
		{"still asleep at the crash", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5))}, nil, ms(500), CheckLockWakeup},
		{"killed by a crash-restart at once", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5))}, []time.Duration{ms(5)}, ms(500), ""},
		{"asleep, never released", []*env.Event{wait(3, 9, true, ms(1))}, nil, ms(500), ""},
		{"other transactions", []*env.Event{wait(3, 9, true, ms(1)), release(8, ms(5)), end(3, 9, ms(900))}, nil, ms(1000), ""},
		{"killed by a crash-restart, its xid reused by the next lifetime", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(50))}, []time.Duration{ms(3)}, ms(500), ""},
		{"busy retry", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5)), end(3, 9, ms(5)), wait(3, 9, false, ms(6))}, nil, ms(100), CheckLockRetry},
		{"another backend waits for it later", []*env.Event{wait(3, 9, true, ms(1)), release(9, ms(5)), end(3, 9, ms(5)), wait(4, 9, false, ms(6))}, nil, ms(100), ""},
	} {
		res := &Result{OK: true, Online: CheckerCounts{}}
		c := newLockWaitChecker(res)
		c.crashes = func() []time.Duration { return tc.crashes }
		for _, e := range tc.events {
			c.event(e)
		}
		c.judgeSleepers(tc.end, tc.crashes)
		require.Equal(t, tc.checker, res.Checker, "%s: %v", tc.name, res.Failures)
	}
}

// TestLockWaitCheckersQuietOnRuns: plain runs, with lock waits, pass both
// checkers, which judge their waits; among them the seeds whose sleeper
// was killed by a crash-restart and whose xid the next lifetime reused
// (3537, 10374 and 19022 failed before the checker knew of crash-restarts).
func TestLockWaitCheckersQuietOnRuns(t *testing.T) {
	total := CheckerCounts{}
	for _, seed := range []uint64{3537, 10374, 19022} {
		r := Run(DefaultConfig(seed))
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
	}
	for seed := uint64(1); seed <= 60; seed++ {
		r := Run(DefaultConfig(seed))
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		require.LessOrEqual(t, r.lockWakeMax, lockWakeMax/10, "seed %d: far below the bound", seed)
		total.Add(r.Online)
	}
	require.NotZero(t, total.of(countLockWakeups).Judged)
}
