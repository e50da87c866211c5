package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

func pitrFailoverConfig(seed uint64) Config {
	c := DefaultConfig(seed)
	c.Standbys, c.StandbysSet, c.Failover, c.PITR = 1, true, true, VarietyOn
	return c
}

// TestPITRAcrossFailover: with a standby promoted after the primary's
// power loss and a PITR drawn, the old primary's base backup is restored
// from the shared archive across the failover (the new timeline's
// history file, the old timeline's .partial and the new timeline's
// segments archived by the promoted standby) to a target on the new
// timeline, and found equal to the commit order's WAL cut there; no seed
// fails. With promote-no-history-archive the archive lacks timeline 2's
// history and the PITR checker fails seeds 4 and 12 (the first two of 300
// aimed seeds that fail; 77 of 300 do), which pass without it.
func TestPITRAcrossFailover(t *testing.T) {
	across, onNew := 0, 0
	for _, r := range runSeeds(40, pitrFailoverConfig) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if strings.HasPrefix(r.PITR, "across the failover") && strings.Contains(r.PITR, ": restored to ") {
			across++
			if strings.Contains(r.PITR, "on the new timeline") {
				onNew++
			}
		}
	}
	t.Logf("%d of 40 seeds restored across the failover, %d to a target on the new timeline", across, onNew)
	require.Positive(t, onNew, "no PITR reached a target on the new timeline")

	caught := []uint64{4, 12}
	for _, r := range runSeeds(len(caught), func(i uint64) Config {
		c := pitrFailoverConfig(caught[i-1])
		c.Bugs = c.Bugs.With(bugs.PromoteNoHistoryArchive)
		return c
	}) {
		require.False(t, r.OK, "seed %d: promote-no-history-archive not caught", r.Seed)
		require.True(t, strings.HasPrefix(r.Failures[0], CheckPITR+": "), "seed %d: %v", r.Seed, r.Failures)
	}
	for _, r := range runSeeds(len(caught), func(i uint64) Config { return pitrFailoverConfig(caught[i-1]) }) {
		require.True(t, r.OK, "seed %d: false alarm without the bug: %v", r.Seed, r.Failures)
	}
}
