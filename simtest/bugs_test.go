package simtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// plantedBugCases says, for every planted bug, which seeds of which campaign
// must catch it and which checker must report it. A bug missing here fails
// TestPlantedBugsAllCovered, so none can be added unproven.
var plantedBugCases = map[string]struct {
	crashMode string
	seeds     int // at most 200 of the default campaign
	checkers  []string
	minCaught int
	tweak     func(*Config) // a workload that reaches the bug's window
}{
	"ack-before-flush":     {crashMode: "", seeds: 100, checkers: []string{CheckDurability}, minCaught: 50},
	"full-page-writes-off": {crashMode: "torn", seeds: 100, checkers: []string{CheckRecovery}, minCaught: 30},
	"write-before-wal":     {crashMode: "torn", seeds: 200, checkers: []string{CheckAtomicity, CheckRecovery}, minCaught: 1},
	// Rare under random crash points (1 seed in 200 here): the window is a
	// checkpoint's scan overlapping a bgwriter write.
	"early-clean": {crashMode: "drop-all", seeds: 200, checkers: []string{CheckSelf, CheckDurability}, minCaught: 1,
		tweak: func(c *Config) { c.Clients, c.WritesMax, c.ThinkMax, c.Txns = 3, 1, 300*time.Microsecond, 40 }},
}

func TestPlantedBugsAllCovered(t *testing.T) {
	for _, b := range bugs.All() {
		_, ok := plantedBugCases[b.Name]
		require.True(t, ok, "planted bug %q has no test case", b.Name)
	}
}

// TestPlantedBugsAreCaught: with the bug on, the named checker must fail
// some of the seeds; with it off, the very same seeds must all pass.
func TestPlantedBugsAreCaught(t *testing.T) {
	for name, tc := range plantedBugCases {
		t.Run(name, func(t *testing.T) {
			id, err := bugs.Parse(name)
			require.NoError(t, err)
			mk := func(seed uint64) Config {
				c := DefaultConfig(seed)
				c.CrashMode = tc.crashMode
				if tc.tweak != nil {
					tc.tweak(&c)
				}
				return c
			}
			caught := 0
			for _, r := range runSeeds(tc.seeds, func(seed uint64) Config {
				c := mk(seed)
				c.Bugs = c.Bugs.With(id)
				return c
			}) {
				if !r.OK {
					caught++
					require.Contains(t, tc.checkers, r.Checker, "seed %d: %v", r.Seed, r.Failures)
				}
			}
			require.GreaterOrEqual(t, caught, tc.minCaught, "%s must be caught", name)
			t.Logf("%s: caught on %d of %d seeds", name, caught, tc.seeds)
			for _, r := range runSeeds(tc.seeds, mk) {
				require.True(t, r.OK, "seed %d: false alarm without the bug: %v", r.Seed, r.Failures)
			}
		})
	}
}
