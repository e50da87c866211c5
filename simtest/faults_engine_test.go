package simtest_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// TestFaultReadEIOAndBitFlipOnHeapPages is the engine's reaction to the
// two read faults, on a table too big for shared buffers so that a scan
// reads its pages from disk: a read error fails the statement with the
// error; a bit flip in a page fails its checksum (a clear error naming the
// block), and no row the scan returned before that is wrong.
func TestFaultReadEIOAndBitFlipOnHeapPages(t *testing.T) {
	const rows = 200
	val := func(k uint64) []byte { return bytes.Repeat([]byte{byte(k)}, 500) }
	for _, tc := range []struct {
		flt  world.DiskFault
		want string
	}{
		{world.DiskFault{Kind: world.FaultEIO}, "input/output error"},
		{world.DiskFault{Kind: world.FaultBitFlip, Bits: 1}, "checksum"},
		{world.DiskFault{Kind: world.FaultBitFlip, Bits: 40}, "checksum"},
	} {
		t.Run(fmt.Sprintf("%v-%d", tc.flt.Kind, tc.flt.Bits), func(t *testing.T) {
			cfg := db.DefaultConfig()
			cfg.SharedBuffers = 16
			node := simt.Sim(t, 1, func(e *env.Env) {
				simt.Must(db.InitDB(e, cfg))
				d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
				simt.Must(err)
				simt.Must(d.CreateTable("t"))
				s, err := d.Connect()
				simt.Must(err)
				for k := uint64(1); k <= rows; k++ {
					simt.Must(s.Insert("t", k, val(k)))
				}
				simt.Must(d.Checkpoint())
			})
			var scanned int
			var scanErr error
			simt.Reboot(t, node, func(e *env.Env) {
				d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
				simt.Must(err)
				tbl, ok := d.Catalog.Lookup("t")
				simt.Check(ok, "table t")
				heap := fmt.Sprintf("base/%d", tbl.Heap)
				reads := 0
				node.Disk.SetFaultHook(func(op world.DiskOp) world.DiskFault {
					if op.Kind == world.OpRead && op.Path == heap {
						if reads++; reads == 3 { // the third heap page read
							return tc.flt
						}
					}
					return world.DiskFault{}
				}, world.NewRand(9))
				s, err := d.Connect()
				simt.Must(err)
				scanErr = s.Scan("t", 0, ^uint64(0), func(k uint64, v []byte) bool {
					simt.Check(bytes.Equal(v, val(k)), "key %d: wrong value returned", k)
					scanned++
					return true
				})
				node.Disk.SetFaultHook(nil, nil)
			})
			require.Error(t, scanErr, "the scan must not succeed over a failed page")
			require.True(t, strings.Contains(scanErr.Error(), tc.want), "error %q should mention %q", scanErr, tc.want)
			require.Less(t, scanned, rows)
		})
	}
}
