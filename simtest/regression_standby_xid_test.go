package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegressionStandbyXidDuringCheckpoint keeps seed 7190 of
// `pgdst campaign --workload append --isolation serializable
// --list-inserts on` (found by that aimed campaign, 1 of 15000 seeds),
// which the standby-read checker failed on the unmodified engine: standby
// n2 started at a checkpoint whose record carried nextXid as it was when
// the record was inserted, past the xid of hs's setup transaction, which
// was assigned while the checkpoint's guts ran and after the background
// writer's running-xacts record that readied n2's snapshot. That xid never
// entered n2's KnownAssignedXids, a read took its rows for aborted while
// it ran (hinting them so), and once it committed a scan saw 6 of its 7
// rows.
// The checkpoint now reads nextXid at its REDO pointer (CreateCheckPoint);
// the run still has that shape (n2 starts at the checkpoint 0/1018 with
// REDO 0/A68, readied by the running-xacts record at 0/AF0, before the
// setup transaction's xid) and passes.
// engine/db's TestHotStandbyXidAssignedDuringCheckpoint is the
// deterministic test of the mechanism.
func TestRegressionStandbyXidDuringCheckpoint(t *testing.T) {
	c := DefaultConfig(7190)
	c.Workload, c.Isolation, c.ListInserts = WorkloadAppend, "serializable", "on"
	res := Run(c)
	require.True(t, res.OK, "seed 7190:\n%s", res.Summary())
	require.NotNil(t, res.StandbyReads, "the run has standby reads")
	require.Positive(t, res.StandbyReads.Reads)
}
