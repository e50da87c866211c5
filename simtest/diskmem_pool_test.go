package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest/world"
)

// A run must not see what an earlier run left in the spare arrays it
// reuses: with every pooled array filled with garbage, each seed gives the
// trace and result it gives otherwise.
func TestSpareDiskArraysAreInvisible(t *testing.T) {
	poison := func() (arrays int) { return world.FillSpareDiskArrays(0xa5) }
	for seed := uint64(1); seed <= 10; seed++ {
		c := DefaultConfig(seed)
		c.FaultIntensity = 0.5
		clean := Run(c)
		require.True(t, clean.OK, "seed %d: %v", seed, clean.Failures)
		require.Positive(t, poison(), "the run left spare arrays behind")
		again := Run(c)
		require.Equal(t, clean.TraceString(), again.TraceString(), "seed %d: garbage in reused arrays changed the run", seed)
		require.Equal(t, clean.Summary(), again.Summary())
	}
}
