package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/fault"
)

// TestRegressionFsyncEIOWindowSeed6617: found at seed 6617 (before the WAL's
// page format moved every run's trace; seed 4016 now has the same
// checkpointer fsync EIO and crash-restart). With the range statements on, the
// checkpointer's fsync of reg's heap failed with EIO and the simulated
// disk dropped the unsynced page, as Linux may after a writeback error.
// The checkpointer PANICked at once, but the postmaster only noticed at
// the end of its 1 ms accept timeout, and 0.4 ms after the failure a
// backend re-read the page from disk and returned a register value from
// before an acknowledged compare-and-set (linearizability failed). A
// write in that window would have been worse: its full-page image of the
// stale page, replayed by recovery, would have undone the
// compare-and-set for good. PostgreSQL's postmaster is woken by SIGCHLD
// and SIGQUITs every child at once (process_pm_child_exit,
// HandleChildCrash); pgdst's now is too, so the crash-restart begins at
// the PANIC's virtual instant and the run passes.
func TestRegressionFsyncEIOWindowSeed6617(t *testing.T) {
	c := DefaultConfig(4016)
	c.RangeStatements = VarietyOn
	r := Run(c)
	require.True(t, r.OK, "%v\n%s", r.Failures, r.Summary())
	var eio *fault.Applied
	for i := range r.Applied {
		if r.Applied[i].Action == fault.ActFsyncEIO && r.Applied[i].Proc == "checkpointer" {
			eio = &r.Applied[i]
			break
		}
	}
	require.NotNil(t, eio, "the checkpointer's fsync EIO never fired:\n%s", r.Summary())
	require.NotEmpty(t, r.CrashRestarts)
	require.True(t, strings.Contains(r.CrashRestarts[0], "could not fsync file"), "first crash-restart: %s", r.CrashRestarts[0])
}
