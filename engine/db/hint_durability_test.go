package db_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestHintBitOfAsyncCommitNotDurableBeforeItsRecord: a transaction
// inserts a row, a checkpoint writes the page, and the transaction then
// commits with SET LOCAL synchronous_commit = off. A reader sees the
// row; the page is written and fsynced (as the bgwriter may do), and
// power fails before the WAL writer flushes the commit record. SetHintBits
// must not have set HEAP_XMIN_COMMITTED (XLogNeedsFlush on the commit
// LSN): recovery loses the commit, so the row must be invisible and no
// hint may claim it.
//
// With full_page_writes on, the hint would be the page's first change
// since the checkpoint and log a full-page image after the commit record,
// whose flush before the page write would save the commit anyway; so the
// test runs with full_page_writes off (the planted switch stands for the
// setting), where, as in PostgreSQL without data checksums or
// wal_log_hints, a hint is never WAL-logged and the page LSN is all that
// orders its write. Without the check the hint reaches disk, recovery
// (from the checkpoint, after the page's last record) leaves the page
// alone, and the aborted row is visible after the crash, which
// CheckTable's hint check reports.
func TestHintBitOfAsyncCommitNotDurableBeforeItsRecord(t *testing.T) {
	cfg := testConfig()
	cfg.SharedBuffers = 64
	cfg.Bugs = cfg.Bugs.With(bugs.FullPageWritesOff)
	hintOfAsyncCommitScenario(t, cfg)
}

// TestHintBitOfAsyncCommitWithoutDataChecksums is the same scenario with
// full_page_writes on and data checksums off, the setting the swarm
// draws: XLogHintBitIsNeeded() is false, so the hint, although the page's
// first change since the checkpoint, logs no image, and again only
// SetHintBits' XLogNeedsFlush check keeps the page from reaching disk
// with a hint its commit record does not back. Recovery restores no image
// of the page either (its last record precedes the REDO pointer), so the
// hint would survive the crash and show the aborted row.
func TestHintBitOfAsyncCommitWithoutDataChecksums(t *testing.T) {
	cfg := testConfig()
	cfg.SharedBuffers = 64
	cfg.DataChecksums = false
	hintOfAsyncCommitScenario(t, cfg)
}

func hintOfAsyncCommitScenario(t *testing.T, cfg db.Config) {
	rng := world.NewRand(1)
	node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	var seen string
	var deferred bool
	node.Sim.Spawn("test", func() {
		must(db.InitDB(node.Env, cfg))
		d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
		must(err)
		must(d.CreateTable("t"))
		must(connect(d).Insert("t", 1, []byte("sync")))
		x := connect(d)
		must(x.Begin(db.ReadCommitted))
		require.Error(t, connect(d).SetLocalSynchronousCommitOff(), "SET LOCAL outside a transaction block")
		must(x.SetLocalSynchronousCommitOff())
		must(x.Insert("t", 2, []byte("async")))
		must(d.Checkpoint()) // REDO after the insert; the page is written
		must(x.Commit())
		require.True(t, d.WAL.NeedsFlush(d.WAL.InsertLSN()), "an asynchronous commit leaves its record unflushed")
		seen = get(connect(d), 2)
		deferred = node.Reached.Has("hint-deferred-async-commit")
		_, err = d.Pool.BufferSync() // a dirty page is written: its LSN needs no WAL flush
		must(err)
		require.True(t, d.WAL.NeedsFlush(d.WAL.InsertLSN()), "writing pages did not flush the commit record")
	})
	st := node.Sim.Run()
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
	require.Equal(t, "async", seen, "the committed row is visible before the crash")
	node.Sim.KillAll()
	node.Disk.Crash(rng, world.CrashDropAll)
	var got1, got2 string
	var checkErr error
	st = node.Reboot(func(e *env.Env) {
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		must(err)
		_, checkErr = d.CheckTable("t")
		s := connect(d)
		got1, got2 = get(s, 1), get(s, 2)
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
	require.NoError(t, checkErr, "no hint bit outlives its commit record")
	require.Equal(t, "sync", got1)
	require.Equal(t, "<none>", got2, "the asynchronous commit was lost, and so is its row")
	require.True(t, deferred, "the reader found the commit not yet durable and left the hint unset")
}
