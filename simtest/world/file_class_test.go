package world

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/catalog"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/fault"
)

// TestIndexCreatedMidRunIsClassedIndex: a table created while the server
// runs (CREATE TABLE after initdb and the boot) has its primary-key index
// classed as an index and its heap as a heap, because the catalog tells
// the storage manager what each relfilenode is, not because a path looks
// like one (the path classifier this replaced called every base/ file
// that was not in initdb's list a heap). The classes come back after a
// restart that forgets them: recovery's catalog load registers them again.
func TestIndexCreatedMidRunIsClassedIndex(t *testing.T) {
	cfg := db.DefaultConfig()
	cfg.SegBlocks = 2 // several segments, each registered
	var late catalog.Table
	st, node := InSim(1, func(e *env.Env) {
		require.NoError(t, db.InitDB(e, cfg))
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		require.NoError(t, err)
		require.NoError(t, d.CreateTable("late"))
		s, err := d.Connect()
		require.NoError(t, err)
		for k := uint64(0); k < 1500; k++ {
			require.NoError(t, s.Insert("late", k, make([]byte, 200)))
		}
		s.Close()
		require.NoError(t, d.Checkpoint())
		var ok bool
		late, ok = d.Catalog.Lookup("late")
		require.True(t, ok)
	})
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	r := &PlanRunner{node: node}
	check := func() {
		t.Helper()
		for _, tc := range []struct {
			rel   smgr.RelFileNumber
			class fault.FileClass
		}{{late.Heap, fault.FileHeap}, {late.Index, fault.FileIndex}} {
			require.Equal(t, tc.class, r.fileClass(smgr.SegPath(tc.rel, smgr.MainForkNum, 0)), "relation %d", tc.rel)
			require.Equal(t, tc.class, r.fileClass(smgr.SegPath(tc.rel, smgr.MainForkNum, 1)), "relation %d's second segment", tc.rel)
		}
		require.Equal(t, fault.FileCatalog, r.fileClass("global/pg_catalog.map"))
	}
	check()

	clear(node.files)
	require.Equal(t, fault.FileOther, r.fileClass(smgr.SegPath(late.Index, smgr.MainForkNum, 0)), "an unregistered relation file has no class")
	st = node.Reboot(func(e *env.Env) {
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		require.NoError(t, err)
		_, err = d.CheckTable("late")
		require.NoError(t, err)
	})
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	check()
}
