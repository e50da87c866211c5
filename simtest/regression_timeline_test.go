package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegressionSeed3517PromotionUnrecorded: the plan kills the new
// primary's background writer after the promotion's end-of-recovery
// checkpoint, while the startup process renames the old timeline's
// segment .partial: the crash-restart's recovery is then the first the
// postmaster records, and ends past the switch point. The failover
// checker took it for the promotion's and failed the history file; it
// now takes only a recovery that ended "promoted", and judges no switch
// point when none was recorded.
func TestRegressionSeed3517PromotionUnrecorded(t *testing.T) {
	c := DefaultConfig(3517)
	c.Standbys, c.Failover = 1, true
	// The PITR across the failover, drawn on every archiving failover
	// seed since, would take a second base backup beside the standby's
	// and change the run.
	c.PITR = VarietyOff
	r := Run(c)
	require.True(t, r.OK, "%v", r.Failures)
	require.NotNil(t, r.Failover)
}

// TestRegressionSeed1618TimelineGap: on a partition failover, standby 1's
// first promotion wrote timeline 2's history file and crashed before it
// ended; the next promotion took timeline 3 (findNewestTimeLine + 1, as
// PostgreSQL does). Standby 2's WAL receiver, told at the end of timeline
// 1 that the next is 3, fetched timeline 3's history only, and its
// startup process's findNewestTimeLine stopped at the missing timeline 2:
// it never followed, and the standby checker found it stuck at the switch
// point. The receiver now fetches every history it lacks up to the
// primary's timeline (WalRcvFetchTimeLineHistoryFiles).
func TestRegressionSeed1618TimelineGap(t *testing.T) {
	c := DefaultConfig(1618)
	c.Standbys, c.Failover, c.FailoverKind = 2, true, FailoverPartition
	r := Run(c)
	require.True(t, r.OK, "%s: %v", r.Checker, r.Failures)
	require.Equal(t, 1, r.StandbysConverged, "standby 2 must follow timeline 3 and catch up")
}
