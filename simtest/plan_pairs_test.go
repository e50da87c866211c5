package simtest

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// drawnPlan is the plan Run draws for c, without running it: the same
// forks of the seed's stream in the same order (resolve, the node's
// scheduler and engine streams, the workload's, then the plan's).
func drawnPlan(c Config) fault.Plan {
	rng := world.NewRand(c.Seed)
	rc := resolve(c, rng.Fork(3))
	rng.Fork(1)
	rng.Fork(2)
	rng.Fork(5)
	return dbPlan(c, rc, rng.Fork(4), 0)
}

var stepRE = regexp.MustCompile(`step>=[0-9]+`)

// TestDrawnPlansPairOnlyReachedPoints: no drawn plan of the default
// campaign, with or without the swarm's faults, aims a role at an
// injection point the role never reaches (at 28d9850, 531 of the 1532
// pauses drawn over seeds 1-2000 did: role=bgwriter at
// backend-after-snapshot and the like, which can never fire). drawnPlan is
// checked against the plan Run really carries on a few seeds.
func TestDrawnPlansPairOnlyReachedPoints(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		c := DefaultConfig(seed)
		c.FaultIntensity = 0.5
		r := Run(c)
		// The step crash counts from the steps initdb took, which only a
		// run knows.
		require.Equal(t, stepRE.ReplaceAllString(r.Plan, "step>=N"), stepRE.ReplaceAllString(drawnPlan(c).String(), "step>=N"),
			"seed %d: drawnPlan must draw what Run draws", seed)
	}
	for _, intensity := range []float64{0, 0.5, 1} {
		pauses, aimed := 0, 0
		for seed := uint64(1); seed <= 2000; seed++ {
			c := DefaultConfig(seed)
			c.FaultIntensity = intensity
			p := drawnPlan(c)
			require.Empty(t, fault.ImpossiblePairs(p, planPoints), "seed %d at intensity %v:\n%s", seed, intensity, p)
			for _, f := range p.Faults {
				if f.Action.Kind == fault.ActPause {
					pauses++
					if f.Action.HasRole {
						aimed++
					}
				}
			}
		}
		t.Logf("intensity %v, seeds 1-2000: %d pauses, %d aimed at a role, 0 at a point the role never reaches", intensity, pauses, aimed)
		require.Positive(t, aimed, "the test must see role-aimed pauses")
	}
}

// TestFaultFiredIsTyped: whether a plan's fault fired, and where, comes
// from the runner's typed records (Result.FaultFires, Result.Applied), not
// from the wording of the crash detail: a crash at a point's first hit
// fired there, in a role that reaches it; one at a hit no run reaches did
// not fire.
func TestFaultFiredIsTyped(t *testing.T) {
	c := pointsConfig(1)
	c.Faults = "crash when point=checkpointer-after-redo#1\n"
	r := Run(c)
	require.True(t, r.OK, r.Summary())
	require.True(t, r.FaultFired(0))
	require.Equal(t, []int{1}, r.FaultFires)
	require.NotEmpty(t, r.Applied)
	a := r.Applied[0]
	require.Equal(t, 0, a.Fault)
	require.Equal(t, fault.ActCrash, a.Action)
	require.Equal(t, fault.EventPoint, a.Event)
	require.Equal(t, "checkpointer-after-redo", a.Point)
	require.Equal(t, uint64(1), a.Hit)
	require.True(t, planPointRoles("checkpointer-after-redo").Has(a.Role), "fired in %s", a.Role)

	c.Faults = "crash when point=checkpointer-after-redo#100000\n"
	r = Run(c)
	require.True(t, r.OK, r.Summary())
	require.False(t, r.FaultFired(0))
	require.Equal(t, []int{0}, r.FaultFires)
	require.Empty(t, r.Applied)
}

func planPointRoles(name string) env.RoleSet {
	for _, p := range planPoints {
		if p.Name == name {
			return p.Roles
		}
	}
	return 0
}
