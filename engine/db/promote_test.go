package db

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/wal"
)

func TestParseHistory(t *testing.T) {
	tlis, sw, err := ParseHistory([]byte("1\t0/3000060\tno recovery target specified\n2\t1/20\tno recovery target specified\n"))
	require.NoError(t, err)
	require.Equal(t, []uint32{1, 2}, tlis)
	require.Equal(t, []wal.LSN{0x3000060, 0x100000020}, sw)
	for _, bad := range []string{"x", "2\t0/10\ta\n1\t0/20\tb\n", "1\t0/10\ta\nx\n"} {
		_, _, err := ParseHistory([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
	// readTimeLineHistory skips blank lines and comments: an empty file is
	// a timeline without parents.
	for _, empty := range []string{"", "\n", "  \n# a comment\n\n"} {
		tlis, sw, err := ParseHistory([]byte(empty))
		require.NoError(t, err, "%q", empty)
		require.Empty(t, tlis, "%q", empty)
		require.Empty(t, sw, "%q", empty)
	}
	tlis, _, err = ParseHistory([]byte("# made by hand\n1\t0/10\tx\n\n"))
	require.NoError(t, err)
	require.Equal(t, []uint32{1}, tlis)
}

func FuzzParseHistory(f *testing.F) {
	f.Add([]byte("1\t0/3000060\tno recovery target specified\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tlis, sw, err := ParseHistory(b)
		if err == nil && len(tlis) != len(sw) {
			t.Fatalf("%d timelines, %d switch points", len(tlis), len(sw))
		}
	})
}
