package simtest

import (
	"encoding/json"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/stretchr/testify/require"
	"testing"
)

func TestConfigJSONRoundTrip(t *testing.T) {
	c := DefaultConfig(9)
	c.Bugs = c.Bugs.With(bugs.AckBeforeFlush).With(bugs.FsyncRetry)
	c.Faults = "crash when point=smgr-after-write#3\n"
	c.Isolation, c.ClientTimeout, c.FaultIntensity = IsoRepeatableRead, 30e6, 0.5
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(b), `"bugs":"ack-before-flush,fsync-retry"`)
	var d Config
	require.NoError(t, json.Unmarshal(b, &d))
	require.Equal(t, c, d)
	require.Equal(t, Run(c).Trace, Run(d).Trace)
	require.Error(t, json.Unmarshal([]byte(`{"bugs":"no-such-bug"}`), &d))
}

// TestExplicitPlanIsTheSameRun: a run given its own drawn plan as an
// explicit plan is the same run, so repro files and the shrinker can work
// on the plan as data.
func TestExplicitPlanIsTheSameRun(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		c := DefaultConfig(seed)
		c.FaultIntensity = 0.5
		r := Run(c)
		c.Faults = r.Plan
		e := Run(c)
		require.Equal(t, r.TraceString(), e.TraceString(), "seed %d: plan\n%s", seed, r.Plan)
		require.Equal(t, r.OK, e.OK)
	}
}
