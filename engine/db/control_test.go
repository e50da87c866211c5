package db

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/wal"
)

// TestControlRoundTrip: every field of the control file decodes as it was
// encoded, and a node that never was a standby nor promoted writes the
// bytes it wrote before backupStart, timeline and minRecoveryPoint
// existed (zero in their slots).
func TestControlRoundTrip(t *testing.T) {
	c := controlData{state: StateInArchiveRecovery, checkpoint: 0x1234, redo: 0x1200, nextXid: 99, segSize: 1 << 19,
		dataChecksumVersion: 1, backupStart: 0x1100, timeline: 3, minRecoveryPoint: 0x1300}
	got, err := decodeControl(c.encode())
	require.NoError(t, err)
	require.Equal(t, c, got)

	plain := controlData{state: StateInProduction, checkpoint: 0x40, redo: 0x28, nextXid: 3, segSize: 1 << 19, timeline: 1}
	b := plain.encode()
	require.Equal(t, make([]byte, 16), b[64:80], "backupStart and timeline slots of a plain node")
	require.Equal(t, make([]byte, 8), b[80:88], "minRecoveryPoint slot of a plain node")
	got, err = decodeControl(b)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	require.Equal(t, wal.InvalidLSN, got.minRecoveryPoint)

	b[81] ^= 1 // a flipped bit anywhere past the CRC is caught
	_, err = decodeControl(b)
	require.ErrorContains(t, err, "incorrect checksum")
}
