package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// plantedBugCases says, for every planted bug, which campaign must catch
// it and which checker must report it: the default seeded plans where they
// reach the bug's window often enough, otherwise the fault plan that aims
// at the window (as a researcher would write it). A bug missing here fails
// TestPlantedBugsAllCovered, so none can be added unproven.
var plantedBugCases = map[string]struct {
	plan      string // "" = the plans drawn from the seeds
	crashMode string
	seeds     int
	checkers  []string
	minCaught int
}{
	"ack-before-flush": {seeds: 100, checkers: []string{CheckDurability, CheckSelf}, minCaught: 50},
	"write-before-wal": {seeds: 100, checkers: []string{CheckWALBeforeData}, minCaught: 10},
	// An append-only workload's pages are mostly written by checkpoints,
	// which fsync them at once, and new pages are initialised by redo,
	// never read: a torn page needs a crash between a checkpoint's page
	// writes and its last fsync (the seeded plans reach it on about 1
	// seed in 150).
	"full-page-writes-off": {plan: "crash mode=torn when role=checkpointer and point=smgr-after-fsync", seeds: 200,
		checkers: []string{CheckRecovery}, minCaught: 20},
	// The window: a backend stalled between marking a page clean and
	// writing it, while a checkpoint runs past.
	"early-clean": {plan: "pause for=40ms role=backend when point=bufmgr-before-write", seeds: 200,
		checkers: []string{CheckCheckpoint, CheckDurability, CheckSelf}, minCaught: 10},
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
				c.CrashMode, c.Faults = tc.crashMode, tc.plan
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
