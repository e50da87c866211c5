package db

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/wal"
)

func TestBackupLabelRoundTrip(t *testing.T) {
	for _, c := range [][2]wal.LSN{{wal.FirstLSN, wal.FirstLSN}, {0x1228, 0x1258}, {0x1_0000_0040, 0x2_0000_0000}} {
		start, ckpt, err := ParseBackupLabel(BackupLabel(c[0], c[1]))
		require.NoError(t, err)
		require.Equal(t, c[0], start)
		require.Equal(t, c[1], ckpt)
	}
}

// A malformed backup label is an error, never a guess or a panic.
func TestParseBackupLabelRejects(t *testing.T) {
	for _, b := range []string{
		"",
		"START WAL LOCATION: 0/00001228\n",
		"CHECKPOINT LOCATION: 0/00001228\n",
		"START WAL LOCATION: 0/00001228\nCHECKPOINT LOCATION: 0/00001000\n", // checkpoint before start
		"START WAL LOCATION: 0/0000122G\nCHECKPOINT LOCATION: 0/00001228\n",
		"START WAL LOCATION: 00001228\nCHECKPOINT LOCATION: 0/00001228\n",
		"START WAL LOCATION: 123456789/0\nCHECKPOINT LOCATION: 0/00001228\n",
		"START WAL LOCATION: /\nCHECKPOINT LOCATION: 0/00001228\n",
		"START WAL LOCATION: 0/00000000\nCHECKPOINT LOCATION: 0/00001228\n",
	} {
		_, _, err := ParseBackupLabel([]byte(b))
		require.Error(t, err, "%q", b)
	}
}

// FuzzParseBackupLabel: any bytes parse or are rejected, never a panic;
// what parses has its checkpoint at or after its start.
func FuzzParseBackupLabel(f *testing.F) {
	f.Add(BackupLabel(0x1228, 0x1258))
	f.Add([]byte("START WAL LOCATION: 0/1\nCHECKPOINT LOCATION: 0/2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		start, ckpt, err := ParseBackupLabel(b)
		if err == nil && (start == wal.InvalidLSN || ckpt < start) {
			t.Fatalf("%q parsed to start %s checkpoint %s", b, start, ckpt)
		}
	})
}
