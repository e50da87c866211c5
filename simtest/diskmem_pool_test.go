package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A run must not see what an earlier run left in the spare arrays it
// reuses: with every pooled array filled with garbage, each seed gives the
// trace and result it gives otherwise.
func TestSpareDiskArraysAreInvisible(t *testing.T) {
	poison := func() (arrays int) {
		diskMems.each(func(m *diskMem) {
			for k := range m.spare {
				for _, b := range m.spare[k] {
					b = b[:cap(b)]
					for i := range b {
						b[i] = 0xa5
					}
					arrays++
				}
			}
		})
		return arrays
	}
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
