package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegressionVacuumAfterLostWriteSeed4253: with every dimension of the
// workload's variety pinned on, a lost write of heap block 21 (evicted
// while VACUUM cleaned the indexes) brought the page back in time, and
// vacuum's second pass found a line pointer its first pass had collected
// no longer LP_DEAD. The engine panicked (a Go panic: the liveness checker
// reported an engine bug); it now ends the VACUUM with data_corrupted,
// and the run passes (the lost write is beyond the recoverability limits,
// judged as such if its damage shows).
func TestRegressionVacuumAfterLostWriteSeed4253(t *testing.T) {
	c := DefaultConfig(4253)
	c.Deletes, c.ContendedKeys, c.BulkReads, c.RegisterBytes = VarietyOn, VarietyOn, VarietyOn, RegWideBytes
	r := Run(c)
	require.True(t, r.OK, "%v\n%s", r.Failures, r.Summary())
	lost := -1
	for i, l := range strings.Split(strings.TrimSuffix(r.Plan, "\n"), "\n") {
		if strings.HasPrefix(l, "lost-write") {
			lost = i
		}
	}
	require.GreaterOrEqual(t, lost, 0, "the plan has no lost write:\n%s", r.Plan)
	require.True(t, r.FaultFired(lost), "the lost write never fired:\n%s", r.Summary())
}
