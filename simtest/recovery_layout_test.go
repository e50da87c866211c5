package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckpointerDiesInEndOfRecoveryCheckpoint: under PostgreSQL 15's
// layout the end-of-recovery checkpoint runs in the checkpointer, started
// before the startup process. A checkpointer that dies in it (here,
// killed right after writing the buffers of the checkpoint that ends the
// crash-restart's recovery) is a crash like any other (HandleChildCrash):
// the postmaster crash-restarts and recovers again, rather than giving up
// as it does when the startup process itself fails; and the run passes.
func TestCheckpointerDiesInEndOfRecoveryCheckpoint(t *testing.T) {
	for _, r := range runSeeds(4, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload = WorkloadInsert
		// Seeds 1-4 crash-restart at 63.9-65.1 ms, and their first
		// checkpoint after that is the end-of-recovery one (each kill
		// lands between that recovery's "redo done" and the next).
		c.Faults = "kill role=backend when point=backend-before-ack#5\nkill role=checkpointer when point=checkpointer-after-buffers and time>=66ms\n"
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Equal(t, 2, r.FaultsApplied, "seed %d: %v", r.Seed, r.FaultLog)
		require.Len(t, r.CrashRestarts, 2, "seed %d", r.Seed)
		require.True(t, strings.Contains(r.CrashRestarts[1], `"checkpointer"`), "seed %d: %v", r.Seed, r.CrashRestarts)
	}
}
