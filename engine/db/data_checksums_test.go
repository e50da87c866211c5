package db_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// heapBlock0 is the path of table t's heap's first segment.
func heapBlock0(d *db.DB) string {
	tbl, ok := d.Catalog.Lookup("t")
	if !ok {
		panic("no table t")
	}
	return smgr.SegPath(tbl.Heap, smgr.MainForkNum, 0)
}

// TestDataChecksumsHintAfterCheckpoint: a row is inserted and a
// checkpoint writes its page; a reader then sets the row's commit hint,
// the page's first change since the checkpoint's REDO pointer. With data
// checksums MarkBufferDirtyHint logs a full-page image for it
// (XLogHintBitIsNeeded) and the page reaches disk with its checksum.
// Without them no WAL is written for the hint, the page reaches disk with
// pd_checksum 0, and, after a crash, reads back fine: its header is all
// that PageIsVerifiedExtended checks.
func TestDataChecksumsHintAfterCheckpoint(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := testConfig()
		cfg.DataChecksums = on
		rng := world.NewRand(1)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		var before, after wal.LSN
		var path string
		node.Sim.Spawn("test", func() {
			must(db.InitDB(node.Env, cfg))
			d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
			require.Equal(t, on, d.DataChecksumsEnabled())
			must(d.CreateTable("t"))
			must(connect(d).Insert("t", 1, []byte("one")))
			must(d.Checkpoint()) // REDO after the insert; the page is written, clean
			before = d.WAL.InsertLSN()
			require.Equal(t, "one", get(connect(d), 1)) // sets the commit hint
			after = d.WAL.InsertLSN()
			_, err = d.Pool.BufferSync() // the hinted page is written
			must(err)
			must(d.Checkpoint()) // and fsynced
			path = heapBlock0(d)
		})
		st := node.Sim.Run()
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		require.True(t, node.Reached.Has("hint-bit-set"), "data checksums %v", on)
		require.True(t, node.Reached.Has("hint-page-written"), "data checksums %v", on)
		blk := node.Disk.DurableAt(path, 0, page.BlockSize)
		require.Len(t, blk, page.BlockSize)
		if on {
			require.Greater(t, after, before, "the hint logged a full-page image")
			require.True(t, node.Reached.Has("hint-fpi-logged"))
			require.False(t, node.Reached.Has("hint-first-change-unlogged"))
			require.False(t, node.Reached.Has("hint-page-written-no-checksum"))
			require.NoError(t, page.Verify(blk, 0))
			require.NotZero(t, page.Checksum(blk))
		} else {
			require.Equal(t, before, after, "no WAL for a hint without data checksums")
			require.False(t, node.Reached.Has("hint-fpi-logged"))
			require.True(t, node.Reached.Has("hint-first-change-unlogged"))
			require.True(t, node.Reached.Has("hint-page-written-no-checksum"))
			require.Zero(t, page.Checksum(blk), "pd_checksum stays 0")
			require.ErrorIs(t, page.Verify(blk, 0), page.ErrChecksum, "the page has no checksum to verify")
			require.NoError(t, page.VerifyNoChecksum(blk, 0))
		}
		node.Sim.KillAll()
		node.Disk.Crash(rng, world.CrashDropAll)
		var got string
		st = node.Reboot(func(e *env.Env) {
			d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
			must(err)
			_, err = d.CheckTable("t")
			must(err)
			got = get(connect(d), 1)
		})
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		require.Equal(t, "one", got, "data checksums %v: the written page reads back", on)
	}
}

// TestDataChecksumsCorruptionBelowTheHeader: a durable page has one byte
// of a row's value changed on disk, below a sane header. With data
// checksums the read fails verification (PageIsVerifiedExtended: "invalid
// page"), never returning the wrong value. Without them nothing can
// notice, and the changed value is returned: why PostgreSQL cannot
// promise anything for a torn page with neither checksums nor
// full_page_writes, and why pgdst refuses to run that combination.
func TestDataChecksumsCorruptionBelowTheHeader(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := testConfig()
		cfg.DataChecksums = on
		rng := world.NewRand(1)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		var path string
		node.Sim.Spawn("test", func() {
			must(db.InitDB(node.Env, cfg))
			d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
			must(d.CreateTable("t"))
			must(connect(d).Insert("t", 1, []byte("one")))
			must(d.Checkpoint())
			path = heapBlock0(d)
		})
		st := node.Sim.Run()
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		node.Sim.KillAll()
		node.Disk.Crash(rng, world.CrashDropAll)
		var got string
		var getErr error
		st = node.Reboot(func(e *env.Env) {
			f, err := e.Disk.Open(path, env.OpenExisting)
			must(err)
			blk := make([]byte, page.BlockSize)
			_, err = f.ReadAt(blk, 0)
			must(err)
			id := page.GetItemID(blk, page.FirstOffset)
			last := int(id.Off) + int(id.Len) - 1 // the value's last byte, "e"
			require.Equal(t, byte('e'), blk[last])
			blk[last] = 'x'
			_, err = f.WriteAt(blk, 0)
			must(err)
			must(f.Sync())
			must(f.Close())
			d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
			must(err)
			var v []byte
			v, _, getErr = connect(d).Get("t", 1)
			got = string(v)
		})
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		if on {
			require.ErrorContains(t, getErr, "invalid page", "the checksum catches the change")
			require.True(t, node.Reached.Has("page-verify-failed"))
		} else {
			require.NoError(t, getErr)
			require.Equal(t, "onx", got, "without checksums the change goes unnoticed")
		}
	}
}

// TestDataChecksumsFixedAtInitdb: the control file records initdb's
// choice (data_checksum_version), and a server configured otherwise
// refuses to start rather than read checksummed pages as unchecksummed or
// the reverse.
func TestDataChecksumsFixedAtInitdb(t *testing.T) {
	cfg := testConfig()
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.Spawn("initdb", func() { must(db.InitDB(node.Env, cfg)) })
	st := node.Sim.Run()
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
	node.Sim.KillAll()
	off := cfg
	off.DataChecksums = false
	st = node.Reboot(func(e *env.Env) {
		_, _, err := db.Open(e, off, db.RegisterAccessMethods)
		must(err)
	})
	require.Equal(t, world.StopPanic, st.Kind, "%s", st)
	require.Contains(t, st.String(), "data_checksum_version 1 in the control file, 0 configured")
	st = node.Reboot(func(e *env.Env) {
		_, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		must(err)
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}
