package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestSchedulerDrawnPerSeed: the plain campaign draws the scheduler per
// seed (random on most seeds, PCT of every depth 1-3 on some), the flag's
// value wins over the draw, --no-swarm keeps the random scheduler, and the
// resolved configuration names the scheduler the run used.
func TestSchedulerDrawnPerSeed(t *testing.T) {
	depths := map[int]int{}
	for seed := uint64(1); seed <= 800; seed++ {
		c := DefaultConfig(seed)
		d, _ := resolveScheduler(c)
		depths[d]++
		rc := resolveFor(c)
		require.Equal(t, d, rc.sched.PCTDepth)
		require.Contains(t, rc.String(), "scheduler="+world.SchedulerName(d))
		c.Scheduler = "pct:2"
		require.Equal(t, 2, resolveFor(c).sched.PCTDepth)
		c.Scheduler = "random"
		require.Equal(t, 0, resolveFor(c).sched.PCTDepth)
		c.Scheduler, c.Swarm = "", false
		require.Equal(t, 0, resolveFor(c).sched.PCTDepth)
	}
	t.Logf("schedulers over 800 seeds (depth 0 = random): %v", depths)
	for d := 1; d <= 3; d++ {
		require.Greater(t, depths[d], 20, "PCT of depth %d is drawn", d)
	}
	require.Greater(t, depths[0], 500, "random stays the majority")
	require.Error(t, Config{Seed: 1, Clients: 1, Txns: 1, WritesMax: 1, Workload: WorkloadInsert, Scheduler: "pct:0"}.Validate())
}

// TestSchedulerDrawIsItsOwn: the scheduler's draw consumes none of the
// run's streams, so pinning it changes nothing else of the resolved
// configuration, and a seed that draws the random scheduler runs exactly
// as it does with the scheduler pinned to random.
func TestSchedulerDrawIsItsOwn(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		c := DefaultConfig(seed)
		base := resolveFor(c)
		for _, s := range []string{"random", "pct:1", "pct:3"} {
			c.Scheduler = s
			rc := resolveFor(c)
			rc.Config.Scheduler, rc.sched.PCTDepth = "", base.sched.PCTDepth
			require.Equal(t, base.String(), rc.String(), "seed %d, %s", seed, s)
		}
	}
	var drawnRandom uint64
	for seed := uint64(1); drawnRandom == 0; seed++ {
		if d, _ := resolveScheduler(DefaultConfig(seed)); d == 0 {
			drawnRandom = seed
		}
	}
	c := DefaultConfig(drawnRandom)
	a := Run(c)
	c.Scheduler = "random"
	b := Run(c)
	require.Equal(t, a.Trace, b.Trace)
}

// TestPCTRunsAreDeterministic: a run under PCT is a deterministic repro
// like any other (same seed, same trace hash), differs from the same seed
// under the random scheduler, and passes.
func TestPCTRunsAreDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		c := DefaultConfig(seed)
		c.Scheduler = "pct:3"
		a, b := Run(c), Run(c)
		require.True(t, a.OK, "seed %d: %v", seed, a.Failures)
		require.Equal(t, a.Trace, b.Trace, "seed %d", seed)
		c.Scheduler = "random"
		require.NotEqual(t, a.Trace, Run(c).Trace, "seed %d", seed)
	}
}

// noteCounter counts the trace notes named name.
type noteCounter struct {
	name string
	n    int
}

func (c *noteCounter) Observe(e env.Event) {
	if e.Kind == env.EvNote && e.Name == c.name {
		c.n++
	}
}

// TestPCTNeverStarves: PCT's starvation bound (a process that runs
// 20000 yield points in a row while another is runnable is demoted) never
// fires in the default campaign's runs, at every depth, depth 1 (no change
// point at all) included: every process of the engine blocks, sleeps or
// waits long before that, so the bound is a guard against a spin, not a
// part of the schedules PCT explores. The runs pass.
func TestPCTNeverStarves(t *testing.T) {
	for _, sched := range []string{"pct:1", "pct:3"} {
		for seed := uint64(1); seed <= 60; seed++ {
			c := DefaultConfig(seed)
			c.Scheduler = sched
			notes := &noteCounter{name: world.PCTStarvationNote}
			c.Events = notes
			r := Run(c)
			require.True(t, r.OK, "%s seed %d: %v", sched, seed, r.Failures)
			require.Zero(t, notes.n, "%s seed %d: a starvation demotion", sched, seed)
		}
	}
}
