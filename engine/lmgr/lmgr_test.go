package lmgr_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

func TestWaitEndsWhenHolderEnds(t *testing.T) {
	var waited time.Duration
	st, _ := world.InSim(1, func(e *env.Env) {
		m := lmgr.New(e, time.Second)
		m.Hold(1, 100)
		e.Sched.Spawn("holder", func() {
			e.Clock.Sleep(3 * time.Second)
			m.Release(100)
		})
		start := e.Clock.Now()
		require.NoError(t, m.Wait(2, 100))
		waited = e.Clock.Now() - start
		require.Equal(t, 1, m.Checks, "one deadlock check after deadlock_timeout")
	})
	require.Equal(t, world.StopAllDone, st.Kind, st.String())
	require.GreaterOrEqual(t, waited, 3*time.Second)
}

// Two transactions each waiting for the other: exactly one of them is told
// deadlock_detected, the other then proceeds once the victim releases.
func TestDeadlockDetected(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		var errs [2]error
		st, _ := world.InSim(seed, func(e *env.Env) {
			m := lmgr.New(e, time.Second)
			m.Hold(1, 10)
			m.Hold(2, 20)
			for i, w := range []struct {
				me   int
				mine lmgr.XID
				want lmgr.XID
			}{{1, 10, 20}, {2, 20, 10}} {
				e.Sched.Spawn("backend", func() {
					errs[i] = m.Wait(w.me, w.want)
					m.Release(w.mine) // commit or abort
				})
			}
		})
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s", seed, st)
		victims := 0
		for _, err := range errs {
			if err != nil {
				victims++
				require.True(t, pgerr.Is(err, pgerr.DeadlockDetected), "%v", err)
			}
		}
		require.Equal(t, 1, victims, "seed %d: %v", seed, errs)
	}
}

// A three-way cycle is found too; a chain without a cycle is not a deadlock.
func TestDeadlockThreeWayAndChain(t *testing.T) {
	st, _ := world.InSim(3, func(e *env.Env) {
		m := lmgr.New(e, time.Second)
		for b := 1; b <= 4; b++ {
			m.Hold(b, lmgr.XID(b*10))
		}
		errs := make([]error, 4)
		wants := map[int]lmgr.XID{1: 20, 2: 30, 3: 10}
		for b := 1; b <= 3; b++ {
			e.Sched.Spawn("cycle", func() {
				errs[b] = m.Wait(b, wants[b])
				m.Release(lmgr.XID(b * 10))
			})
		}
		e.Clock.Sleep(10 * time.Second)
		n := 0
		for _, err := range errs[1:] {
			if err != nil {
				n++
			}
		}
		require.Equal(t, 1, n, "exactly one victim in a three-way cycle")
		// Chain: 4 waits for 10's successor-free holder... 1 has ended by now.
		require.NoError(t, m.Wait(4, 10))
	})
	require.Equal(t, world.StopAllDone, st.Kind, st.String())
}

// The deadlock message names every edge of the cycle correctly, the
// victim's own included.
func TestDeadlockMessage(t *testing.T) {
	var got *pgerr.Error
	var victim int
	st, _ := world.InSim(1, func(e *env.Env) {
		m := lmgr.New(e, time.Second)
		m.Hold(1, 10)
		m.Hold(2, 20)
		e.Sched.Spawn("b2", func() {
			if err := m.Wait(2, 10); err != nil {
				got, victim = err.(*pgerr.Error), 2
			}
			m.Release(20)
		})
		if err := m.Wait(1, 20); err != nil {
			got, victim = err.(*pgerr.Error), 1
		}
		m.Release(10)
	})
	require.Equal(t, world.StopAllDone, st.Kind, st.String())
	require.NotNil(t, got)
	// DeadLockReport's message, detail (the victim's edge first) and hint.
	require.Equal(t, "deadlock detected", got.Msg)
	require.Equal(t, "See server log for query details.", got.Hint)
	lines := map[int]string{
		1: "Process 1 waits for ShareLock on transaction 20; blocked by process 2.",
		2: "Process 2 waits for ShareLock on transaction 10; blocked by process 1.",
	}
	require.Equal(t, lines[victim]+"\n"+lines[3-victim], got.Detail)
}

// TestDeadlockCheckNotPutOffByWakeups: the deadlock check comes
// deadlock_timeout after the wait began, however many other transactions
// end meanwhile (each release wakes every waiter). A timer re-armed at each
// wakeup put the check off for as long as others kept committing: in seed
// 9888 of the plain campaign a deadlock went unchecked 1.16 s into it, and
// the client-progress checker saw its client without a reply for 994 ms.
func TestDeadlockCheckNotPutOffByWakeups(t *testing.T) {
	var found time.Duration
	st, _ := world.InSim(1, func(e *env.Env) {
		m := lmgr.New(e, time.Second)
		m.Hold(1, 10)
		m.Hold(2, 20)
		start := e.Clock.Now()
		e.Sched.Spawn("others", func() {
			for x := lmgr.XID(100); x < 130; x++ { // a commit every 100 ms, for 3 s
				m.Hold(3, x)
				e.Clock.Sleep(100 * time.Millisecond)
				m.Release(x)
			}
		})
		for _, w := range []struct {
			me         int
			mine, want lmgr.XID
		}{{1, 10, 20}, {2, 20, 10}} {
			e.Sched.Spawn("backend", func() {
				if err := m.Wait(w.me, w.want); err != nil && found == 0 {
					found = e.Clock.Now() - start
				}
				m.Release(w.mine)
			})
		}
	})
	require.Equal(t, world.StopAllDone, st.Kind, st.String())
	require.NotZero(t, found, "the deadlock was found")
	require.Less(t, found, 1100*time.Millisecond, "found %v after the waits began (deadlock_timeout is 1 s)", found)
}
