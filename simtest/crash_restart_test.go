package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A backend killed in the middle of the workload: the postmaster
// crash-restarts; every other session's connection ends with 08006 (its
// transaction in flight unknown if its COMMIT was sent, failed otherwise);
// recovery runs; the clients reconnect and the server serves again —
// transactions that began after the restart are acknowledged — and every
// checker passes at the end.
func TestCrashRestartAfterABackendDies(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		c := pointsConfig(seed)
		c.Workload = WorkloadInsert
		c.Faults = "kill role=backend when point=backend-after-xlogflush#20\n"
		r := Run(c)
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		require.Len(t, r.CrashRestarts, 1, "seed %d", seed)
		terminated, afterOK := 0, 0
		var killedAt = r.History.Ops[0].Call
		for _, op := range r.History.Ops {
			if strings.Contains(op.Err, "server closed the connection unexpectedly") {
				terminated++
				require.Contains(t, []Outcome{Unknown, Failed}, op.Outcome, "seed %d: %s", seed, op)
				killedAt = max(killedAt, op.Return)
			}
		}
		for _, op := range r.History.Ops {
			if op.Outcome == OK && op.Call > killedAt {
				afterOK++
			}
		}
		require.GreaterOrEqual(t, terminated, 2, "seed %d: the killed backend's session and the others' see their connections end", seed)
		require.Positive(t, afterOK, "seed %d: the server serves again after the crash-restart", seed)
	}
}
