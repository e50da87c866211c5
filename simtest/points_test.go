package simtest

import (
	"fmt"
	"github.com/pgdst/pgdst/engine/wal"
	"testing"

	"github.com/stretchr/testify/require"

	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// pointsConfig is a workload that reaches every injection point: fixed
// timings (checkpoints, bgwriter rounds, WAL segment switches within the
// run), enough transactions to outgrow shared buffers, client rollbacks
// and VACUUMs for the vacuum points, CREATE TABLE for the catalog's, and
// archive mode for the archiver's.
func pointsConfig(seed uint64) Config {
	c := DefaultConfig(seed)
	c.Workload = WorkloadInsert // its 1000-byte rows fill WAL segments, which the archiver's points need
	c.Swarm = false
	c.Txns = 40
	return c
}

// TestCrashAtEveryInjectionPoint is table-driven over proc.Points, so a new
// point cannot be added untested: for each, power fails at its first hit
// (a crash inside recovery for the startup's point), and separately the
// process that reaches it is killed there, which the postmaster answers
// with a crash-restart while the workload goes on. Every checker must pass.
func TestCrashAtEveryInjectionPoint(t *testing.T) {
	for _, p := range pgproc.Points {
		t.Run(p.Name, func(t *testing.T) {
			for _, tc := range []struct{ action, check string }{
				{"crash", "power-loss"},
				{"kill", "killed"},
			} {
				c := pointsConfig(1)
				if p.Name == wal.PointBuffersFullWrite {
					// The WAL writer keeps ahead of this workload's
					// commits at 8 WAL buffers: PostgreSQL's floor, 4,
					// and asynchronous commits let insertions outrun it.
					c.WALBuffers, c.AsyncCommit = 4, true
				}
				c.Faults = fmt.Sprintf("%s when point=%s#1\n", tc.action, p.Name)
				r := Run(c)
				require.True(t, r.OK, "%s at %s: %v\n%s", tc.action, p.Name, r.Failures, r.Summary())
				require.True(t, r.FaultFired(0), "%s at %s never fired:\n%s", tc.action, p.Name, r.Summary())
				require.Equal(t, p.Name, r.Applied[0].Point)
				require.True(t, p.Roles.Has(r.Applied[0].Role), "%s at %s fired in %s, which the table does not list", tc.action, p.Name, r.Applied[0].Role)
				if tc.action == "kill" && p.Name != "startup-after-redo-record" {
					require.NotEmpty(t, r.CrashRestarts, "a killed server process means a crash-restart:\n%s", r.Summary())
				}
			}
		})
	}
}
