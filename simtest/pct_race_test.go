package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// TestPCTVersusRandomOnADepth2Race measures how many of the same seeds
// find planted bug clog-status-lost-update, a depth-2 race (one commit
// reads its clog byte, another's status lands, the first writes the stale
// byte back), under the random scheduler and under PCT of depths 2 and 3,
// everything else being the default campaign's. It logs the counts and
// their ratio (the README's scheduler section gives them for 1000 seeds
// of the campaign) and asserts that the random scheduler finds the race;
// a false alarm without the bug is TestPlantedBugsAreCaught's business.
func TestPCTVersusRandomOnADepth2Race(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 900 seeds")
	}
	const seeds = 300
	id, err := bugs.Parse("clog-status-lost-update")
	require.NoError(t, err)
	found := map[string]int{}
	for _, sched := range []string{"random", "pct:2", "pct:3"} {
		for _, r := range runSeeds(seeds, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Scheduler = sched
			c.Bugs = c.Bugs.With(id)
			return c
		}) {
			if !r.OK {
				found[sched]++
			}
		}
		t.Logf("%s: the race found on %d of %d seeds", sched, found[sched], seeds)
	}
	pct := found["pct:2"] + found["pct:3"]
	t.Logf("random / PCT (depths 2 and 3, per seed): %.1f", float64(found["random"])/max(float64(pct)/2, 0.5))
	require.Greater(t, found["random"], 0, "the random scheduler must find the race")
}
