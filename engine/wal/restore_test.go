package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSegmentNameTLI: a segment name carries its timeline
// (TTTTTTTTXXXXXXXXYYYYYYYY) and parses back; timeline 1's names are
// SegmentName's, which ParseSegmentName keeps to timeline 1.
func TestSegmentNameTLI(t *testing.T) {
	c := Config{SegmentSize: 64 << 10}
	perID := uint64(0x100000000) / uint64(c.SegmentSize)
	for _, tc := range []struct {
		tli uint32
		seg uint64
	}{{1, 0}, {1, 3}, {2, 3}, {0x1F, perID + 5}, {0xFFFFFFFF, 7}} {
		name := SegmentNameTLI(c, tc.tli, tc.seg)
		tli, seg, ok := ParseSegmentNameTLI(c, name)
		require.True(t, ok, name)
		require.Equal(t, tc.tli, tli, name)
		require.Equal(t, tc.seg, seg, name)
		_, ok1 := ParseSegmentName(c, name)
		require.Equal(t, tc.tli == 1, ok1, name)
		if tc.tli == 1 {
			require.Equal(t, SegmentName(c, tc.seg), name)
		}
	}
	require.Equal(t, "000000020000000000000003", SegmentNameTLI(c, 2, 3))
	for _, bad := range []string{"000000000000000000000003", "00000002000000000000000", "00000002000000000000000g", "000000020000000000010000", "00000002000000000000000" + "3.partial"} {
		_, _, ok := ParseSegmentNameTLI(c, bad)
		require.False(t, ok, bad)
	}
}
