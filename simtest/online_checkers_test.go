package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestOnlineCheckersSeeRecovery: the online checkers judge every
// control-file update and every data-page write of a run, the startup
// processes' recoveries and the final one included, and skip none; among
// those writes are the background writer's during redo.
func TestOnlineCheckersSeeRecovery(t *testing.T) {
	var pageWrites uint64
	for _, r := range runSeeds(40, DefaultConfig) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		for _, kind := range []string{countControlUpdates, countPageWrites} {
			if c := r.Online[kind]; c != nil {
				require.Zero(t, c.SkippedTotal(), "seed %d: %s skipped: %v", r.Seed, kind, c.Skipped)
			}
		}
		if c := r.Online[countPageWrites]; c != nil {
			pageWrites += c.Judged
		}

		// The boot, each crash-restart and each recovery attempt write
		// the control file at their start and at their end-of-recovery
		// checkpoint: at least the boot's and the final recovery's.
		require.NotNil(t, r.Online[countControlUpdates], "seed %d", r.Seed)
		require.GreaterOrEqual(t, r.Online[countControlUpdates].Judged, uint64(4), "seed %d", r.Seed)
	}
	require.Positive(t, pageWrites)
}

// TestBgwriterWritesDuringRedo: in PostgreSQL 15's layout the background
// writer runs beside the startup process and writes the pages redo
// dirties; the WAL-before-data checker judges those writes against the
// durable WAL on disk. It writes only buffers the clock sweep is about to
// reuse (BgBufferSync skips recently used ones), so redo must cycle
// through shared buffers: large rows, many of them; and redo is quick, so
// the startup process is paused in the middle of the crash-restart's redo
// for the bgwriter to get a turn.
func TestBgwriterWritesDuringRedo(t *testing.T) {
	var bgwriterRedo uint64
	for _, r := range runSeeds(10, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload, c.RowBytes, c.Txns, c.Clients = WorkloadInsert, 2000, 40, 8
		c.Faults = "kill role=backend when point=backend-before-ack#150\npause for=50ms role=startup when point=startup-after-redo-record#250\n"
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if c := r.Online[countPageWritesRedo+" by bgwriter"]; c != nil {
			bgwriterRedo += c.Judged
		}
	}
	t.Logf("the bgwriter wrote %d pages during redo", bgwriterRedo)
	require.Positive(t, bgwriterRedo, "the background writer wrote nothing during redo")
}

// TestEndOfRecoveryCheckpointOrderCaughtOnline: planted bug
// end-of-recovery-ckpt-early-control changes only the end-of-recovery
// checkpoint, which runs while the startup process is still recovering
// (in the checkpointer under the postmaster, in the startup process of
// the final recovery). The checkpoint checker, watching the instance's
// shared memory through recovery, catches it at the control-file update
// itself, with no crash needed in the window; the same seeds pass without
// the bug.
func TestEndOfRecoveryCheckpointOrderCaughtOnline(t *testing.T) {
	const seeds = 40
	mk := func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Faults = "# no faults\n"
		return c
	}
	caught := 0
	for _, r := range runSeeds(seeds, func(seed uint64) Config {
		c := mk(seed)
		c.Bugs = c.Bugs.With(bugs.EndOfRecoveryCkptEarlyControl)
		return c
	}) {
		if r.OK {
			continue
		}
		caught++
		require.Equal(t, CheckCheckpoint, r.Checker, "seed %d: %v", r.Seed, r.Failures)
		require.True(t, strings.Contains(r.Failures[0], "checkpoint with REDO"), "seed %d: %v", r.Seed, r.Failures)
	}
	t.Logf("end-of-recovery-ckpt-early-control: caught on %d of %d seeds without faults", caught, seeds)
	// Some seeds cannot show it: a torn page without full-page writes
	// ends recovery before its checkpoint (beyond the limits), and a
	// standby or PITR run's end differs; 28 of 40 are caught.
	require.GreaterOrEqual(t, caught, seeds*2/3)
	for _, r := range runSeeds(seeds, mk) {
		require.True(t, r.OK, "seed %d: false alarm without the bug: %v", r.Seed, r.Failures)
	}
}

// TestWALBeforeDataDuringRedo: while redo runs nothing flushes the WAL, so
// the checker asks the disk whether the WAL below a page's LSN is durable:
// not while that WAL is only in the OS cache, yes once it is fsynced.
func TestWALBeforeDataDuringRedo(t *testing.T) {
	disk := world.NewSimDisk(func(world.DiskOp) error { return nil })
	cfg := wal.Config{SegmentSize: wal.SegmentSizeMin}
	require.NoError(t, disk.MkdirAll(wal.Dir))
	f, err := disk.Open(wal.SegmentPath(cfg, 1), env.OpenCreate)
	require.NoError(t, err)
	_, err = f.WriteAt(make([]byte, 4096), 0)
	require.NoError(t, err)
	c := &walBeforeDataChecker{disk: disk}
	seg1 := wal.LSN(cfg.SegmentSize)
	require.False(t, c.walDurableBefore(cfg, seg1+100), "unsynced WAL taken for durable")
	require.NoError(t, f.Sync())
	require.True(t, c.walDurableBefore(cfg, seg1+100), "fsynced WAL taken for not durable")
	require.True(t, c.walDurableBefore(cfg, seg1+4096))
	require.False(t, c.walDurableBefore(cfg, seg1+4097), "WAL past the end of the segment's data taken for durable")
	require.False(t, c.walDurableBefore(cfg, 100), "a missing segment taken for durable")
	_, err = f.WriteAt([]byte{1}, 50)
	require.NoError(t, err)
	require.False(t, c.walDurableBefore(cfg, seg1+100), "WAL changed in the OS cache taken for durable")
	require.True(t, c.walDurableBefore(cfg, seg1+50))
	require.NoError(t, f.Close())
}
