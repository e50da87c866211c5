package world

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestDiskTornByCrashNamesTornFiles: a torn-mode crash names exactly the
// files where it kept some sectors of an unsynced write and dropped
// others, by path; the other modes tear nothing.
func TestDiskTornByCrashNamesTornFiles(t *testing.T) {
	page := bytes.Repeat([]byte{7}, 16*DiskSectorSize)
	tornSeen := false
	for seed := uint64(1); seed <= 20; seed++ {
		for _, mode := range []CrashMode{CrashDropAll, CrashRandomSubset, CrashTorn} {
			d := NewSimDisk(nil)
			require.NoError(t, d.MkdirAll("base"))
			diskCreateDurable(t, d, "base/1", make([]byte, len(page)))
			diskCreateDurable(t, d, "synced", make([]byte, len(page)))
			f := diskOpen(t, d, "base/1", env.OpenExisting)
			diskWriteAll(t, f, 0, page) // never synced
			g := diskOpen(t, d, "synced", env.OpenExisting)
			diskWriteAll(t, g, 0, page)
			require.NoError(t, g.Sync())
			d.Crash(NewRand(seed), mode)
			got := d.Snapshot()["base/1"]
			mixed := bytes.Contains(got, []byte{7}) && bytes.Contains(got, []byte{0})
			if mode != CrashTorn {
				require.Empty(t, d.TornByCrash(), "seed %d mode %v", seed, mode)
				require.False(t, mixed, "seed %d mode %v: a mode that keeps whole writes tore one", seed, mode)
				continue
			}
			if mixed {
				require.Equal(t, []string{"base/1"}, d.TornByCrash(), "seed %d", seed)
				tornSeen = true
			} else {
				require.Empty(t, d.TornByCrash(), "seed %d: the write was kept or dropped whole", seed)
			}
		}
	}
	require.True(t, tornSeen)
}
