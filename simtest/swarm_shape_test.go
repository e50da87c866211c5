package simtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgdst/pgdst/simtest/world"
	"github.com/stretchr/testify/require"
)

func resolveFor(c Config) resolved { return resolve(c, world.NewRand(c.Seed)) }

// swarmOnlyActions are fault actions only fault.Swarm puts in a plan drawn
// from the seed (fault.Generate draws crashes and pauses alone).
var swarmOnlyActions = []string{"fsync-eio", "write-eio", "read-eio", "enospc", "latency", "clock-skew", "kill", "torn-write", "lost-write", "misdirected-write", "bitflip"}

func hasSwarmFault(plan string) bool {
	for _, a := range swarmOnlyActions {
		if strings.Contains(plan, a) {
			return true
		}
	}
	return false
}

// TestSwarmDrawsShape: the plain campaign's configuration (DefaultConfig,
// no flag) draws, per seed, the swarm's disk and clock faults (on some
// seeds and not on others), bulk loads that split a B-tree leaf, frequent
// VACUUMs and lingering REPEATABLE READ reads; every run passes; and a
// seed whose draw is the old fixed shape splits no leaf, so the splits
// come from the bulk loads.
func TestSwarmDrawsShape(t *testing.T) {
	const seeds = 200
	var faulted, clean, split, bulk, vacuumOften, long int
	for _, r := range runSeeds(seeds, func(seed uint64) Config { return DefaultConfig(seed) }) {
		require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
		sh := swarmShape(r.Seed)
		require.Equal(t, sh.faultIntensity, r.FaultIntensity, "the result records the draw")
		if sh.faultIntensity > 0 {
			require.Contains(t, r.Summary(), fmt.Sprintf("swarm faults at intensity %g", sh.faultIntensity))
		}
		if strings.Contains(r.Config, " failover=") {
			// A failover run is narrowed to synchronous inserts
			// (resolveFailover): no bulk loads, no lingering reads.
			require.Contains(t, r.Config, fmt.Sprintf(" bulk=false vacuum_every=%d long_reads=false ", sh.vacuumEvery))
		} else {
			require.Contains(t, r.Config, fmt.Sprintf(" bulk=%v vacuum_every=%d long_reads=%v ", sh.bulk, sh.vacuumEvery, sh.longReads))
		}
		// The WAL crash (wal_crash_points.go), a kill on most draws, is
		// no swarm fault.
		plan := r.Plan
		if f := walCrashDraw(r.Seed); f != nil {
			plan = strings.Replace(plan, f.String()+"\n", "", 1)
		}
		if sh.faultIntensity > 0 && hasSwarmFault(plan) {
			faulted++
		}
		if sh.faultIntensity == 0 {
			require.False(t, hasSwarmFault(plan), "seed %d draws no swarm faults, yet its plan is\n%s", r.Seed, r.Plan)
			clean++
		}
		if r.IndexBlocksMax > 2 {
			split++
			// Bulk loads split pages; so do the small B-tree pages of a
			// serializable list-inserts run (serializable.go).
			require.True(t, sh.bulk || strings.Contains(r.Config, " list_inserts=on"), "seed %d split a B-tree page without bulk loads", r.Seed)
		}
		if sh.bulk {
			bulk++
		}
		if sh.vacuumEvery < vacuumEveryDefault {
			vacuumOften++
		}
		if sh.longReads {
			long++
		}
	}
	t.Logf("of %d seeds: %d with swarm faults, %d without; %d bulk, %d split a leaf; %d vacuum often; %d long reads", seeds, faulted, clean, bulk, split, vacuumOften, long)
	require.Greater(t, faulted, seeds/5)
	require.Greater(t, clean, seeds/4)
	require.Greater(t, split, 0)
	require.Greater(t, vacuumOften, 0)
	require.Greater(t, long, 0)
}

// TestExplicitFaultIntensityWins: --fault-intensity (FaultIntensitySet),
// 0 included, replaces the seed's draw; without it the draw decides.
func TestExplicitFaultIntensityWins(t *testing.T) {
	for seed := uint64(1); seed <= 64; seed++ {
		c := DefaultConfig(seed)
		require.Equal(t, swarmShape(seed).faultIntensity, resolveFor(c).faultIntensity)
		c.FaultIntensity, c.FaultIntensitySet = 0, true
		require.Zero(t, resolveFor(c).faultIntensity)
		c.FaultIntensity = 0.3
		require.Equal(t, 0.3, resolveFor(c).faultIntensity)
		c.Swarm, c.FaultIntensitySet, c.FaultIntensity = false, false, 0
		require.Zero(t, resolveFor(c).faultIntensity, "fixed timings draw nothing")
	}
}
