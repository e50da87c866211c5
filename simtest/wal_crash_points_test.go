package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestWALCrashDraw: the swarm draws a WAL crash on about one seed in
// walCrashSeedsPer, at every one of its points, kills and power losses
// both, each at a hit within the point's bound and a valid plan line. A
// plan given, or no swarm, draws none.
func TestWALCrashDraw(t *testing.T) {
	const seeds = 6000
	on, kills := 0, 0
	points := map[string]int{}
	for seed := uint64(1); seed <= seeds; seed++ {
		f := walCrashDraw(seed)
		if f == nil {
			continue
		}
		on++
		require.NoError(t, fault.Plan{Faults: []fault.Fault{*f}}.Validate())
		require.Equal(t, 1, f.Times)
		atom := f.When.Atom
		require.Equal(t, fault.AtomPoint, atom.Kind)
		points[atom.Name]++
		bound := uint64(0)
		for _, p := range walCrashPoints {
			if p.name == atom.Name {
				bound = p.hitMax
			}
		}
		require.True(t, atom.Hit >= 1 && atom.Hit <= bound, "seed %d: %s#%d", seed, atom.Name, atom.Hit)
		switch f.Action.Kind {
		case fault.ActKill:
			kills++
			require.False(t, f.Action.HasRole, "whoever reaches the point is killed")
		case fault.ActCrash:
		default:
			t.Fatalf("seed %d: a WAL crash is a kill or a power loss, not %s", seed, f.Action.Kind)
		}
	}
	require.InDelta(t, seeds/walCrashSeedsPer, on, seeds/walCrashSeedsPer/5)
	require.InDelta(t, on*3/4, kills, float64(on)/10, "kills on three draws in four")
	require.Len(t, points, 4, "every point drawn: %v", points)

	c := DefaultConfig(1)
	for c.Seed = 1; walCrashDraw(c.Seed) == nil; c.Seed++ {
	}
	require.NotNil(t, resolveWALCrash(c))
	c.Faults = "crash when step>=100\n"
	require.Nil(t, resolveWALCrash(c), "a plan given is the plan")
	c.Faults, c.CrashStep = "", 100
	require.Nil(t, resolveWALCrash(c), "a crash step given is the plan")
	c.CrashStep, c.Swarm = 0, false
	require.Nil(t, resolveWALCrash(c), "no swarm, no draw")
}

// TestWALCrashTakesTheWorkloadCrashsPlace: a seed that draws no WAL crash
// draws the plan it drew before the dimension existed; one that draws it
// has that plan with the WAL crash in place of its first fault, the
// workload crash.
func TestWALCrashTakesTheWorkloadCrashsPlace(t *testing.T) {
	drawn := 0
	for seed := uint64(1); seed <= 200; seed++ {
		c := DefaultConfig(seed)
		rc := resolve(c, world.NewRand(seed).Fork(3))
		with := dbPlan(c, rc, world.NewRand(seed).Fork(4), 0)
		wc := rc.walCrash
		rc.walCrash = nil
		without := dbPlan(c, rc, world.NewRand(seed).Fork(4), 0)
		if wc == nil {
			require.Equal(t, without.String(), with.String(), "seed %d", seed)
			continue
		}
		drawn++
		require.Equal(t, fault.ActCrash, without.Faults[0].Action.Kind, "seed %d: the workload crash comes first", seed)
		want := fault.Plan{Faults: append([]fault.Fault{*wc}, without.Faults[1:]...)}
		require.Equal(t, want.String(), with.String(), "seed %d", seed)
	}
	require.Positive(t, drawn)
}

// TestWALCrashRuns: the plain campaign's seeds that draw a WAL crash pass
// without a planted bug, and their crashes fire, at a segment boundary
// too (the kill or power loss is the plan's first line).
func TestWALCrashRuns(t *testing.T) {
	var seeds []uint64
	for seed := uint64(1); len(seeds) < 48; seed++ {
		if walCrashDraw(seed) != nil {
			seeds = append(seeds, seed)
		}
	}
	fired, atSegment := 0, 0
	for _, r := range runSeeds(len(seeds), func(i uint64) Config { return DefaultConfig(seeds[i-1]) }) {
		require.True(t, r.OK, "seed %d: %v\n%s", r.Seed, r.Failures, r.Summary())
		require.Equal(t, walCrashDraw(r.Seed).String(), strings.Split(r.Plan, "\n")[0])
		if r.FaultFired(0) {
			fired++
			if p := walCrashDraw(r.Seed).When.Atom.Name; p == "wal-after-segment-create" || p == wal.PointSegmentDurableMidRecord {
				atSegment++
			}
		}
	}
	t.Logf("%d of %d WAL crashes fired, %d at a segment boundary", fired, len(seeds), atSegment)
	require.Positive(t, atSegment)
}
