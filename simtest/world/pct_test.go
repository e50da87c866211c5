package world

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newPCTSim(seed uint64, depth int) *Sim {
	return NewSim(NewRand(seed), newTrace(nil), SchedConfig{SwitchProb: 0.5, StepCost: time.Microsecond, PCTDepth: depth, PCTSeed: seed * 7919})
}

// pctLog spawns n processes that each run steps yield points, logging
// which process ran each step, and runs the simulation.
func pctLog(t *testing.T, s *Sim, n, steps int, horizon uint64) ([]int, []*proc) {
	var log []int
	procs := make([]*proc, n)
	for i := range procs {
		procs[i] = s.Spawn(fmt.Sprintf("p%d", i), func() {
			for j := 0; j < steps; j++ {
				s.Yield()
				log = append(log, i)
			}
		}).(*proc)
	}
	if horizon > 0 {
		s.SetPCTHorizon(0, horizon)
	}
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind, st.String())
	require.Len(t, log, n*steps)
	return log, procs
}

func TestParseScheduler(t *testing.T) {
	for _, name := range []string{"random", "pct:1", "pct:2", "pct:8"} {
		d, err := ParseScheduler(name)
		require.NoError(t, err)
		require.Equal(t, name, SchedulerName(d))
	}
	for _, bad := range []string{"", "pct", "pct:0", "pct:9", "pct:x", "PCT:2", "fair"} {
		_, err := ParseScheduler(bad)
		require.Error(t, err, bad)
	}
}

// TestPCTDeterministic: the same seed gives the same interleaving, and
// seeds differ (the priorities and change points are drawn, not fixed).
func TestPCTDeterministic(t *testing.T) {
	distinct := map[string]bool{}
	for seed := uint64(1); seed <= 20; seed++ {
		a, _ := pctLog(t, newPCTSim(seed, 3), 4, 10, 40)
		b, _ := pctLog(t, newPCTSim(seed, 3), 4, 10, 40)
		require.Equal(t, a, b, "seed %d", seed)
		distinct[fmt.Sprint(a)] = true
	}
	require.Greater(t, len(distinct), 10, "PCT's interleavings must vary with the seed")
}

// TestPCTRunsHighestPriority: with depth 1 (no change point) and no
// process ever blocking, each process runs to its end in turn, the
// highest priority first.
func TestPCTRunsHighestPriority(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s := newPCTSim(seed, 1)
		log, procs := pctLog(t, s, 5, 8, 0)
		for _, p := range procs {
			require.GreaterOrEqual(t, p.prio, pctPrioBase, "an initial priority is above every change point's")
		}
		var order []int
		for i, id := range log {
			if i%8 == 0 {
				order = append(order, id)
			} else {
				require.Equal(t, log[i-1], id, "seed %d: a process was preempted with no change point: %v", seed, log)
			}
		}
		for i := 1; i < len(order); i++ {
			require.Greater(t, procs[order[i-1]].prio, procs[order[i]].prio, "seed %d: ran %v", seed, order)
		}
		passed, starved := s.PCTStats()
		require.Zero(t, passed)
		require.Zero(t, starved)
	}
}

// TestPCTChangePoint: with depth 2 the one change point, drawn within the
// horizon, drops the running process below the other exactly at its
// step: the first process runs until that step, the second then runs to
// its end, and the first finishes last.
func TestPCTChangePoint(t *testing.T) {
	const steps = 30
	seen := map[uint64]bool{}
	for seed := uint64(1); seed <= 40; seed++ {
		s := newPCTSim(seed, 2)
		var log []int
		var procs [2]*proc
		for i := range procs {
			procs[i] = s.Spawn(fmt.Sprintf("p%d", i), func() {
				for j := 0; j < steps; j++ {
					s.Yield()
					log = append(log, i)
				}
			}).(*proc)
		}
		s.SetPCTHorizon(0, 2*steps)
		cps := s.PCTChangePoints()
		require.Len(t, cps, 1)
		k := cps[0].Step
		require.True(t, k >= 1 && k <= 2*steps, "change point %d outside the horizon", k)
		seen[k] = true
		first := 0
		if procs[1].prio > procs[0].prio {
			first = 1
		}
		st := s.Run()
		require.Equal(t, StopAllDone, st.Kind)
		passed, _ := s.PCTStats()
		if k > steps {
			// Past the first process's end: the point falls on the
			// second one, which runs alone by then.
			want := append(repeatInt(first, steps), repeatInt(1-first, steps)...)
			require.Equal(t, want, log, "seed %d: change point at step %d", seed, k)
			require.Equal(t, uint64(1), passed)
			continue
		}
		// The change point is the k-th yield point: the first process
		// has logged k-1 steps, then the second runs all of its steps.
		want := []int{}
		for i := uint64(1); i < k; i++ {
			want = append(want, first)
		}
		for i := 0; i < steps; i++ {
			want = append(want, 1-first)
		}
		for len(want) < 2*steps {
			want = append(want, first)
		}
		require.Equal(t, want, log, "seed %d: change point at step %d", seed, k)
		require.Equal(t, uint64(1), passed)
		require.Equal(t, int64(1), procs[first].prio, "the change point's priority is 1, below all others")
		// Descheduled for its slice: the other's 30 steps take 30 us of
		// virtual time, the slice at least pctSliceMin, so the run ends
		// a slice after the change point.
		slice := cps[0].Slice
		require.True(t, slice >= pctSliceMin && slice <= pctSliceMax, "slice %v", slice)
		require.GreaterOrEqual(t, s.Now(), slice+time.Duration(k)*time.Microsecond)
	}
	require.Greater(t, len(seen), 10, "change points must be spread over the horizon")
}

func repeatInt(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestPCTSleeperIsNotRunnable: a high-priority process that sleeps lets
// lower ones run, and preempts them at their first yield point after it
// wakes.
func TestPCTSleeperIsNotRunnable(t *testing.T) {
	s := newPCTSim(3, 1)
	var log []string
	hi := s.Spawn("hi", func() {
		for i := 0; i < 3; i++ {
			log = append(log, "hi")
			s.Sleep(100 * time.Microsecond)
		}
	}).(*proc)
	lo := s.Spawn("lo", func() {
		for i := 0; i < 500; i++ {
			s.Yield()
			if len(log) == 0 || log[len(log)-1] != "lo" {
				log = append(log, "lo")
			}
		}
	}).(*proc)
	hi.prio, lo.prio = pctPrioBase+2, pctPrioBase+1
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind)
	require.Equal(t, []string{"hi", "lo", "hi", "lo", "hi", "lo"}, log)
}

// TestPCTNoStarvation: a high-priority process that spins through yield
// points waiting for a lower one is demoted after pctStarveSteps steps in
// a row, so the run still ends, with one starvation demotion and no
// deadlock; without the bound it would spin for ever (PCT's guarantee
// assumes termination).
func TestPCTNoStarvation(t *testing.T) {
	s := newPCTSim(5, 1)
	flag := false
	spins := 0
	spin := s.Spawn("spinner", func() {
		for !flag {
			spins++
			s.Yield()
		}
	}).(*proc)
	setter := s.Spawn("setter", func() { s.Yield(); flag = true }).(*proc)
	spin.prio, setter.prio = pctPrioBase+2, pctPrioBase+1
	st := s.Run()
	require.Equal(t, StopAllDone, st.Kind, st.String())
	_, starved := s.PCTStats()
	require.Equal(t, uint64(1), starved)
	require.Equal(t, pctStarveSteps, spins)
	require.Less(t, spin.prio, int64(0), "a starvation demotion ranks below every change point")
}

// TestPCTSpawnedLaterGetRandomPriorities: processes spawned by a running
// process draw their priority as the first ones did, and may outrank their
// parent at once.
func TestPCTSpawnedLaterGetRandomPriorities(t *testing.T) {
	outranked := 0
	for seed := uint64(1); seed <= 30; seed++ {
		s := newPCTSim(seed, 1)
		var child *proc
		ranChild, ranFirst := false, false
		parent := s.Spawn("parent", func() {
			child = s.Spawn("child", func() { ranChild = true }).(*proc)
			s.Yield()
			ranFirst = ranChild
			if ranChild {
				outranked++
			}
		}).(*proc)
		st := s.Run()
		require.Equal(t, StopAllDone, st.Kind)
		require.GreaterOrEqual(t, child.prio, pctPrioBase)
		require.NotEqual(t, parent.prio, child.prio)
		require.True(t, ranChild)
		require.Equal(t, child.prio > parent.prio, ranFirst)
	}
	require.Greater(t, outranked, 5)
	require.Less(t, outranked, 25)
}
