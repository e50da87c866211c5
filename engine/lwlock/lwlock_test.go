package lwlock_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
	"github.com/pgdst/pgdst/simtest/world"
)

// rwScenario runs readers and writers against one lock and returns an
// event log plus the invariant violations it saw.
func rwScenario(seed uint64, readers, writers, rounds int) (log []string, maxReaders int, violations []string, st world.Stop) {
	st, _ = world.InSim(seed, func(e *env.Env) {
		l := lwlock.New(e, "test")
		g := world.NewGroup(e, readers+writers)
		nReaders, nWriters := 0, 0
		check := func(who string) {
			if nWriters > 1 || (nWriters == 1 && nReaders > 0) {
				violations = append(violations, fmt.Sprintf("%s: readers=%d writers=%d", who, nReaders, nWriters))
			}
		}
		for r := 0; r < readers; r++ {
			name := fmt.Sprintf("r%d", r)
			e.Sched.Spawn(name, func() {
				defer g.Done()
				for i := 0; i < rounds; i++ {
					l.Acquire(lwlock.Shared)
					nReaders++
					if nReaders > maxReaders {
						maxReaders = nReaders
					}
					check(name)
					if !l.HeldByMeInMode(lwlock.Shared) || l.HeldByMeInMode(lwlock.Exclusive) {
						violations = append(violations, name+": wrong held mode")
					}
					log = append(log, name+"+")
					e.Clock.Sleep(time.Duration(1+e.Rand.Intn(20)) * time.Microsecond)
					nReaders--
					l.Release()
					if l.HeldByMe() {
						violations = append(violations, name+": still held after release")
					}
				}
			})
		}
		for w := 0; w < writers; w++ {
			name := fmt.Sprintf("w%d", w)
			e.Sched.Spawn(name, func() {
				defer g.Done()
				for i := 0; i < rounds; i++ {
					l.Acquire(lwlock.Exclusive)
					nWriters++
					check(name)
					if !l.HeldByMeInMode(lwlock.Exclusive) {
						violations = append(violations, name+": wrong held mode")
					}
					log = append(log, name+"+")
					e.Clock.Sleep(time.Duration(1+e.Rand.Intn(20)) * time.Microsecond)
					check(name)
					nWriters--
					l.Release()
				}
			})
		}
		g.Wait()
	})
	return log, maxReaders, violations, st
}

func TestReadersShareWritersExclude(t *testing.T) {
	sawConcurrentReaders := false
	for seed := uint64(1); seed <= 100; seed++ {
		log, maxReaders, violations, st := rwScenario(seed, 5, 2, 10)
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s", seed, st)
		require.Empty(t, violations, "seed %d", seed)
		require.Len(t, log, 70, "seed %d", seed)
		if maxReaders > 1 {
			sawConcurrentReaders = true
		}
	}
	require.True(t, sawConcurrentReaders, "readers never held the lock together")
}

func TestDeterministic(t *testing.T) {
	distinct := map[string]bool{}
	for seed := uint64(1); seed <= 30; seed++ {
		a, _, _, _ := rwScenario(seed, 4, 2, 5)
		b, _, _, _ := rwScenario(seed, 4, 2, 5)
		require.Equal(t, a, b, "seed %d gave two different runs", seed)
		distinct[strings.Join(a, ",")] = true
	}
	require.Greater(t, len(distinct), 20, "seeds should give different interleavings")
}

// TestWriterNotStarved runs a continuous stream of overlapping readers
// (there is always at least one holder, so a reader-preferring lock would
// never let the writer in) and checks that the writer's wait is bounded: with
// FIFO grants it waits only for the readers that held the lock or were
// queued when it arrived, each of which holds it for at most 15 µs.
func TestWriterNotStarved(t *testing.T) {
	const readers = 6
	const waitBound = 200 * time.Microsecond
	for seed := uint64(1); seed <= 100; seed++ {
		var worst time.Duration
		st, _ := world.InSim(seed, func(e *env.Env) {
			l := lwlock.New(e, "stream")
			// The readers give up after a deadline so that a starving
			// writer shows up as a failed bound rather than a hang.
			deadline := e.Clock.Now() + 100*time.Millisecond
			stop := false
			g := world.NewGroup(e, readers)
			for r := 0; r < readers; r++ {
				e.Sched.Spawn(fmt.Sprintf("r%d", r), func() {
					defer g.Done()
					for !stop && e.Clock.Now() < deadline {
						l.Acquire(lwlock.Shared)
						e.Clock.Sleep(time.Duration(5+e.Rand.Intn(10)) * time.Microsecond)
						l.Release()
					}
				})
			}
			for i := 0; i < 20; i++ {
				e.Clock.Sleep(time.Duration(e.Rand.Intn(30)) * time.Microsecond)
				start := e.Clock.Now()
				l.Acquire(lwlock.Exclusive)
				if d := e.Clock.Now() - start; d > worst {
					worst = d
				}
				l.Release()
			}
			stop = true
			g.Wait()
		})
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s", seed, st)
		require.LessOrEqual(t, worst, waitBound, "seed %d: writer waited %v", seed, worst)
	}
}

func TestConditionalAcquire(t *testing.T) {
	st, _ := world.InSim(7, func(e *env.Env) {
		l := lwlock.New(e, "cond")
		require.True(t, l.ConditionalAcquire(lwlock.Exclusive))
		g := world.NewGroup(e, 2)
		var gotShared, gotExclusive bool
		e.Sched.Spawn("other", func() {
			defer g.Done()
			gotShared = l.ConditionalAcquire(lwlock.Shared)
			gotExclusive = l.ConditionalAcquire(lwlock.Exclusive)
		})
		// A writer queues behind our exclusive hold.
		e.Sched.Spawn("writer", func() {
			defer g.Done()
			l.Acquire(lwlock.Exclusive)
			l.Release()
		})
		for l.Snapshot().Waiting == 0 {
			e.Clock.Sleep(time.Microsecond)
		}
		l.Release()
		g.Wait()
		require.False(t, gotShared)
		require.False(t, gotExclusive)

		// Shared holders admit a conditional shared acquire but not an
		// exclusive one; a queued writer blocks even the shared one.
		require.True(t, l.ConditionalAcquire(lwlock.Shared))
		g2 := world.NewGroup(e, 1)
		var shared2, excl2, sharedBehindWriter bool
		e.Sched.Spawn("other2", func() {
			defer g2.Done()
			excl2 = l.ConditionalAcquire(lwlock.Exclusive)
			shared2 = l.ConditionalAcquire(lwlock.Shared)
			if shared2 {
				l.Release()
			}
		})
		g2.Wait()
		require.True(t, shared2)
		require.False(t, excl2)
		g3 := world.NewGroup(e, 2)
		e.Sched.Spawn("writer2", func() {
			defer g3.Done()
			l.Acquire(lwlock.Exclusive)
			l.Release()
		})
		for l.Snapshot().Waiting == 0 {
			e.Clock.Sleep(time.Microsecond)
		}
		e.Sched.Spawn("reader3", func() {
			defer g3.Done()
			sharedBehindWriter = l.ConditionalAcquire(lwlock.Shared)
		})
		e.Clock.Sleep(100 * time.Microsecond)
		require.False(t, sharedBehindWriter)
		l.Release()
		g3.Wait()
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
}

func TestMisusePanics(t *testing.T) {
	st, _ := world.InSim(1, func(e *env.Env) {
		l := lwlock.New(e, "twice")
		l.Acquire(lwlock.Shared)
		l.Acquire(lwlock.Shared)
	})
	require.Equal(t, world.StopPanic, st.Kind)
	require.Contains(t, fmt.Sprint(st.Value), "already holds it")

	st, _ = world.InSim(1, func(e *env.Env) {
		l := lwlock.New(e, "unheld")
		l.Release()
	})
	require.Equal(t, world.StopPanic, st.Kind)
	require.Contains(t, fmt.Sprint(st.Value), "does not hold it")
}

// TestDeadlockReported shows that a lock cycle ends the run with the
// simulator's deadlock report rather than a hang.
func TestDeadlockReported(t *testing.T) {
	st, _ := world.InSim(3, func(e *env.Env) {
		a, b := lwlock.New(e, "a"), lwlock.New(e, "b")
		a.Acquire(lwlock.Exclusive)
		e.Sched.Spawn("other", func() {
			b.Acquire(lwlock.Exclusive)
			a.Acquire(lwlock.Exclusive)
		})
		e.Clock.Sleep(time.Millisecond)
		b.Acquire(lwlock.Exclusive)
	})
	require.Equal(t, world.StopDeadlock, st.Kind)
	require.Contains(t, st.Detail, "lwlock")
}
