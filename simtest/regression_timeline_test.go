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
