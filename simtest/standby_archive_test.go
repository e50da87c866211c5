package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStandbyArchiveSource: standbys given restore_command restore
// segments from the archive, go back to it when a stream fails, and
// stream again after it, and every run passes the standby checker
// (catch-up and equal rows).
func TestStandbyArchiveSource(t *testing.T) {
	conds := []string{"standby-segment-from-archive", "standby-stream-failed-to-archive", "standby-archive-to-stream", "walsender-streaming"}
	seen := map[string]int{}
	small := 0
	// 80 seeds: a stream failing back to the archive is rare (1 of seeds
	// 1..80 since the checkpoint reads nextXid at its REDO pointer).
	for _, r := range runSeeds(80, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Standbys, c.StandbyArchive = 1, VarietyOn
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Contains(t, r.Config, " standby_restore=on", "seed %d", r.Seed)
		if !strings.Contains(r.Config, "wal_keep_segments=-1") {
			small++
		}
		for _, c := range conds {
			if r.Sometimes.Has(c) {
				seen[c]++
			}
		}
	}
	t.Logf("reached: %v; small wal_keep_size on %d seeds", seen, small)
	for _, c := range conds {
		require.Positive(t, seen[c], "no seed reached %s", c)
	}
	require.Positive(t, small)
}

// TestStandbyArchiveOffLeavesRunsAlone: pinned off, restore_command is
// not given and the run is the one its seed draws when the draw says off
// (same trace), so the draw's own stream moves no other draw.
func TestStandbyArchiveOffLeavesRunsAlone(t *testing.T) {
	same := 0
	for seed := uint64(1); seed <= 12; seed++ {
		c := DefaultConfig(seed)
		c.Standbys = 1
		drawn := Run(c)
		c.StandbyArchive = VarietyOff
		off := Run(c)
		require.NotContains(t, off.Config, "standby_restore", "seed %d", seed)
		if !strings.Contains(drawn.Config, "standby_restore") {
			require.Equal(t, drawn.TraceString(), off.TraceString(), "seed %d", seed)
			same++
		}
	}
	require.Positive(t, same)
}
