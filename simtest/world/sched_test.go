package world

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

func newTestSim(seed uint64, p float64) *Sim {
	return NewSim(NewRand(seed), newTrace(nil), SchedConfig{SwitchProb: p, StepCost: time.Microsecond})
}

func TestSchedMutexCounter(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s := newTestSim(seed, 0.5)
		mu := s.NewMutex("counter")
		counter := 0
		for i := 0; i < 5; i++ {
			s.Spawn("worker", func() {
				for j := 0; j < 10; j++ {
					mu.Lock()
					v := counter
					s.Yield() // a switch here would expose a broken mutex
					counter = v + 1
					mu.Unlock()
				}
			})
		}
		st := s.Run()
		require.Equal(t, StopAllDone, st.Kind, st.String())
		require.Equal(t, 50, counter)
		require.Equal(t, 0, s.Live())
	}
}

func TestSchedSleepAdvancesVirtualTime(t *testing.T) {
	s := newTestSim(1, 0)
	var woke []time.Duration
	s.Spawn("a", func() { s.Sleep(10 * time.Second); woke = append(woke, s.Now()) })
	s.Spawn("b", func() { s.Sleep(3 * time.Second); woke = append(woke, s.Now()) })
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind)
	require.Len(t, woke, 2)
	require.GreaterOrEqual(t, woke[0], 3*time.Second)
	require.Less(t, woke[0], 4*time.Second)
	require.GreaterOrEqual(t, woke[1], 10*time.Second)
}

func TestSchedCondSignalAndTimeout(t *testing.T) {
	s := newTestSim(7, 0.3)
	mu := s.NewMutex("m")
	c := s.NewCond("c", mu)
	ready := false
	var gotSignal, gotTimeout bool
	s.Spawn("waiter", func() {
		mu.Lock()
		for !ready {
			c.Wait()
		}
		gotSignal = true
		mu.Unlock()
	})
	s.Spawn("timeout", func() {
		mu.Lock()
		gotTimeout = !c.WaitTimeout(time.Millisecond)
		mu.Unlock()
	})
	s.Spawn("signaller", func() {
		s.Sleep(time.Second)
		mu.Lock()
		ready = true
		c.Broadcast()
		mu.Unlock()
	})
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind, st.String())
	require.True(t, gotSignal)
	require.True(t, gotTimeout, "WaitTimeout must time out before the signaller runs")
}

func TestSchedDeadlockReport(t *testing.T) {
	s := newTestSim(3, 0)
	a, b := s.NewMutex("A"), s.NewMutex("B")
	s.Spawn("p1", func() { a.Lock(); s.Sleep(time.Millisecond); b.Lock() })
	s.Spawn("p2", func() { b.Lock(); s.Sleep(time.Millisecond); a.Lock() })
	st := s.Run()
	require.Equal(t, StopDeadlock, st.Kind)
	require.Contains(t, st.Detail, "p1 waits on mutex B held by p2")
	require.Contains(t, st.Detail, "p2 waits on mutex A held by p1")
	s.KillAll()
	require.Equal(t, 0, s.Live())
}

func TestSchedStepLimitThenKillRunsNoMoreEnvCalls(t *testing.T) {
	s := newTestSim(5, 0.5)
	mu := s.NewMutex("m")
	after := 0
	for i := 0; i < 3; i++ {
		s.Spawn("looper", func() {
			defer func() {
				// A killed process's deferred env calls must not run.
				mu.Lock()
				after++
				mu.Unlock()
			}()
			for {
				s.Yield()
			}
		})
	}
	s.SetStepLimit(100)
	st := s.Run()
	require.Equal(t, StopStepLimit, st.Kind)
	require.EqualValues(t, 100, s.Steps())
	s.KillAll()
	require.Equal(t, 0, after)
	require.Equal(t, 0, s.Live())
}

func TestSchedPanicIsReported(t *testing.T) {
	s := newTestSim(5, 0.5)
	s.Spawn("ok", func() { s.Sleep(time.Hour) })
	s.Spawn("bad", func() { s.Yield(); panic("boom") })
	st := s.Run()
	require.Equal(t, StopPanic, st.Kind)
	require.Equal(t, "bad", st.Proc)
	require.Contains(t, st.Stack, "sched_test.go")
	s.KillAll()
}

func TestSchedExitRunsDefers(t *testing.T) {
	s := newTestSim(5, 0.5)
	ran := false
	s.Spawn("x", func() { defer func() { ran = true }(); s.Exit(); t.Error("Exit returned") })
	require.Equal(t, StopAllDone, s.Run().Kind)
	require.True(t, ran)
}

func TestSchedNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for seed := uint64(0); seed < 200; seed++ {
		s := newTestSim(seed, 0.5)
		mu := s.NewMutex("m")
		for i := 0; i < 4; i++ {
			s.Spawn("p", func() {
				for {
					mu.Lock()
					s.Sleep(time.Millisecond)
					mu.Unlock()
				}
			})
		}
		s.SetStepLimit(50 + seed)
		s.Run()
		s.KillAll()
	}
	// Goroutines exit asynchronously after acknowledging the kill.
	for i := 0; i < 100 && runtime.NumGoroutine() > before+2; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before+2)
}

func TestSchedDeterministicAndSeedSensitive(t *testing.T) {
	run := func(seed uint64) uint64 {
		tr := newTrace(nil)
		s := NewSim(NewRand(seed), tr, SchedConfig{SwitchProb: 0.3, StepCost: time.Microsecond})
		mu := s.NewMutex("m")
		for i := 0; i < 4; i++ {
			s.Spawn("p", func() {
				for j := 0; j < 20; j++ {
					mu.Lock()
					s.Yield()
					mu.Unlock()
				}
			})
		}
		s.Run()
		return tr.Hash()
	}
	seen := map[uint64]bool{}
	for seed := uint64(1); seed <= 50; seed++ {
		h := run(seed)
		require.Equal(t, h, run(seed), "seed %d not deterministic", seed)
		seen[h] = true
	}
	require.Greater(t, len(seen), 45, "seeds must steer the interleaving")
}

// BenchmarkSchedSwitch measures one context switch: two processes that hand
// control to each other at every yield point.
func BenchmarkSchedSwitch(b *testing.B) {
	s := newTestSim(1, 1)
	n := b.N
	for i := 0; i < 2; i++ {
		s.Spawn("pingpong", func() {
			for j := 0; j < n; j++ {
				s.Yield()
			}
		})
	}
	b.ResetTimer()
	s.Run()
	b.StopTimer()
	// With SwitchProb 1 and two runnable processes, half the yields pick
	// the other process.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/yield")
}

// A PANIC ends the process at once, as abort() does: its deferred unlock
// does not run, and no other process runs after it.
func TestSchedPanicfStopsAtOnce(t *testing.T) {
	s := newTestSim(9, 0.5)
	e := &env.Env{Sched: s}
	mu := s.NewMutex("WALWriteLock")
	ranAfter := false
	s.Spawn("walwriter", func() {
		mu.Lock()
		defer mu.Unlock()
		s.Yield()
		e.Panicf("could not fsync")
	})
	s.Spawn("backend", func() {
		s.Sleep(time.Microsecond)
		mu.Lock() // must never get the lock the dead process held
		ranAfter = true
		mu.Unlock()
	})
	st := s.Run()
	require.Equal(t, StopPanic, st.Kind, st.String())
	perr, ok := st.Value.(*env.PanicError)
	require.True(t, ok)
	require.Equal(t, "could not fsync", perr.Msg)
	require.Equal(t, "walwriter", st.Proc)
	s.KillAll()
	require.False(t, ranAfter)
	require.Equal(t, 0, s.Live())
}

// A killed process whose deferred code panics for real must still count as
// killed, and KillAll must unwind every other process.
func TestSchedKillAllWithPanickingDefer(t *testing.T) {
	s := newTestSim(4, 0.5)
	var nilMap map[int]int
	for _, name := range []string{"a", "b", "c"} {
		s.Spawn(name, func() {
			defer func() { nilMap[1] = 1 }() // panics during the kill
			for {
				s.Sleep(time.Millisecond)
			}
		})
	}
	s.SetStepLimit(20)
	require.Equal(t, StopStepLimit, s.Run().Kind)
	s.KillAll()
	require.Equal(t, 0, s.Live())
}

// A timer left behind by a signalled wait must not move the clock when the
// simulation then deadlocks: the deadlock is reported at the time it began.
func TestSchedStaleTimerDoesNotMoveClock(t *testing.T) {
	s := newTestSim(2, 0)
	mu := s.NewMutex("m")
	c := s.NewCond("c", mu)
	a, b := s.NewMutex("A"), s.NewMutex("B")
	s.Spawn("waiter", func() {
		mu.Lock()
		c.WaitTimeout(time.Hour) // signalled long before the hour
		mu.Unlock()
		a.Lock()
		s.Sleep(time.Millisecond)
		b.Lock()
	})
	s.Spawn("signaller", func() {
		mu.Lock()
		c.Signal()
		mu.Unlock()
		b.Lock()
		s.Sleep(time.Millisecond)
		a.Lock()
	})
	st := s.Run()
	require.Equal(t, StopDeadlock, st.Kind, st.String())
	require.Less(t, s.Now(), time.Second)
	s.KillAll()
}
