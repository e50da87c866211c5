package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSometimesRecordsReachedConditions: a run's result records the
// sometimes conditions its engine reached, and only those. Every run ends
// with a recovery and its end-of-recovery checkpoint; only a run whose
// plan kills a backend has a crash-restart; only a run that inserts more
// keys than a B-tree leaf holds (about 400) splits one.
func TestSometimesRecordsReachedConditions(t *testing.T) {
	plain := Run(pointsConfig(1))
	require.True(t, plain.OK, "%v", plain.Failures)
	require.True(t, plain.Sometimes.Has("end-of-recovery-checkpoint"), "%v", plain.Sometimes.Names())
	require.True(t, plain.Sometimes.Has("recovery-replayed"), "%v", plain.Sometimes.Names())
	require.False(t, plain.Sometimes.Has("crash-restart"), "%v", plain.Sometimes.Names())
	require.False(t, plain.Sometimes.Has("btree-leaf-split"), "%v", plain.Sometimes.Names())

	c := pointsConfig(1)
	c.Faults = "kill role=backend when point=backend-after-xlogflush#20\n"
	killed := Run(c)
	require.True(t, killed.OK, "%v", killed.Failures)
	require.Len(t, killed.CrashRestarts, 1)
	require.True(t, killed.Sometimes.Has("crash-restart"), "%v", killed.Sometimes.Names())

	c = pointsConfig(1)
	c.Txns = 200 // 4 clients x 200 transactions of up to 3 rows: past a leaf's 400 keys
	c.RowBytes = RowBytesMin
	c.CrashStep = 1 << 40 // power fails only after the workload
	many := Run(c)
	require.True(t, many.OK, "%v", many.Failures)
	require.True(t, many.Sometimes.Has("btree-leaf-split"), "rows %d: %v", many.Rows, many.Sometimes.Names())
}
