package world

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// A parent kills children blocked on a mutex, a condition variable and a
// sleep, and one that is runnable; each dies without running any more of
// its code, is taken off what it waited on (the mutex then goes to the
// live waiter, not to a dead one), and the parent reaps every child, the
// killed ones as abnormal.
func TestSchedKillBlockedChildrenAndReap(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		s := newTestSim(seed, 0.3)
		mu := s.NewMutex("m")
		cmu := s.NewMutex("cm")
		cond := s.NewCond("c", cmu)
		ran := map[string]bool{}
		var reaped []env.Exit
		var liveGotLock bool
		s.Spawn("parent", func() {
			mu.Lock() // held, so lockers queue
			kids := map[string]env.Proc{
				"locker": s.Spawn("locker", func() { mu.Lock(); ran["locker"] = true; mu.Unlock() }),
				"waiter": s.Spawn("waiter", func() { cmu.Lock(); cond.Wait(); ran["waiter"] = true; cmu.Unlock() }),
				"sleeper": s.Spawn("sleeper", func() {
					s.Sleep(time.Hour)
					ran["sleeper"] = true
				}),
				"spinner": s.Spawn("spinner", func() {
					for i := 0; i < 1000000; i++ {
						s.Yield()
					}
					ran["spinner"] = true
				}),
			}
			live := s.Spawn("live-locker", func() { mu.Lock(); liveGotLock = true; mu.Unlock() })
			s.Sleep(time.Millisecond) // let them all block
			for _, name := range []string{"locker", "sleeper", "spinner", "waiter"} {
				s.Kill(kids[name])
			}
			mu.Unlock()
			cmu.Lock()
			cond.Broadcast() // nobody left to wake
			cmu.Unlock()
			for i := 0; i < 100 && len(reaped) < 5; i++ {
				s.Sleep(time.Millisecond)
				reaped = append(reaped, s.Reap()...)
			}
			_ = live
		})
		st := s.Run()
		require.Equal(t, StopAllDone, st.Kind, "seed %d: %s", seed, st)
		require.Empty(t, ran, "seed %d: a killed process ran on", seed)
		require.True(t, liveGotLock, "seed %d", seed)
		require.Len(t, reaped, 5, "seed %d", seed)
		abnormal := map[string]bool{}
		for _, e := range reaped {
			abnormal[e.Proc.Name()] = e.Abnormal
		}
		require.Equal(t, map[string]bool{"locker": true, "waiter": true, "sleeper": true, "spinner": true, "live-locker": false}, abnormal, "seed %d", seed)
	}
}

// Under SetPanicKillsProcess a PANIC ends the process only: the run goes
// on and the parent reaps an abnormal exit with the PANIC's message; a
// process may kill itself.
func TestSchedPanicKillsOnlyTheProcess(t *testing.T) {
	s := newTestSim(1, 0.2)
	s.SetPanicKillsProcess(true)
	e := &env.Env{Sched: s, Clock: simClock{s}, Points: s, Log: s}
	var reaped []env.Exit
	after := false
	s.Spawn("parent", func() {
		s.Spawn("panicker", func() {
			e.Panicf("could not fsync file %q", "base/1")
			after = true
		})
		s.Spawn("suicide", func() {
			s.Kill(s.Self())
			after = true
		})
		for i := 0; i < 10 && len(reaped) < 2; i++ {
			s.Sleep(time.Millisecond)
			reaped = append(reaped, s.Reap()...)
		}
	})
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind, st.String())
	require.False(t, after)
	require.Len(t, reaped, 2)
	for _, ex := range reaped {
		require.True(t, ex.Abnormal, ex.Proc.Name())
	}
	require.Contains(t, reaped[0].Reason+reaped[1].Reason, "PANIC: could not fsync file")
}
