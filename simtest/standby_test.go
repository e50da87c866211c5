package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// standbyConfig is the default run with n standbys, without standby
// reads (standby_reads_test.go has theirs): their writers load the
// primary while the base backup copies, and fewer backups finish before
// the plan's crash (18 of 60 seeds instead of 20 or more).
func standbyConfig(seed uint64, n int) Config {
	c := DefaultConfig(seed)
	c.Standbys = n
	c.StandbyReads = VarietyOff
	return c
}

// TestStandbyConverges: a primary with one standby made from a base
// backup mid-workload, under the seeds' own fault plans; every standby
// whose backup completed catches up after the primary's final recovery and
// holds exactly the primary's rows, and the run passes. Enough of the
// seeds make a standby for the check to mean something.
func TestStandbyConverges(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	made, restarted := 0, 0
	for _, r := range runSeeds(n, func(seed uint64) Config { return standbyConfig(seed, 1) }) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Equal(t, r.StandbysMade, r.StandbysConverged, "seed %d: a standby was made but not judged equal", r.Seed)
		made += r.StandbysMade
		restarted += r.StandbyRestarts
	}
	require.GreaterOrEqual(t, made, n/3, "too few seeds made a standby for the check to mean anything")
	if !testing.Short() {
		// A standby killed or powered off mid-workload starts again from
		// its disk and still converges.
		require.Greater(t, restarted, 0, "no standby restarted mid-workload")
	}
}

// TestStandbysThree: three standbys on one primary, each with its own
// disk and clock offset, all converge.
func TestStandbysThree(t *testing.T) {
	made := 0
	for _, r := range runSeeds(10, func(seed uint64) Config { return standbyConfig(seed, 3) }) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Equal(t, r.StandbysMade, r.StandbysConverged, "seed %d", r.Seed)
		made += r.StandbysMade
	}
	require.Greater(t, made, 0)
}

// TestStandbyDeterminism: with --standbys 1 the same seed gives the same
// trace hash, and the standbys change the run (their own nodes, disks and
// processes are in the trace).
func TestStandbyDeterminism(t *testing.T) {
	a := runSeeds(20, func(seed uint64) Config { return standbyConfig(seed, 1) })
	b := runSeeds(20, func(seed uint64) Config { return standbyConfig(seed, 1) })
	plain := runSeeds(20, DefaultConfig)
	for i := range a {
		require.Equal(t, a[i].TraceString(), b[i].TraceString(), "seed %d: two runs differ", a[i].Seed)
		require.Equal(t, a[i].Steps, b[i].Steps)
		require.NotEqual(t, a[i].TraceString(), plain[i].TraceString(), "seed %d: standbys left no trace", a[i].Seed)
	}
}

// TestStandbyCheckerCatchesUnflushedStreaming: the planted bug
// walsender-unflushed streams WAL the primary has written but not
// fsynced. With WAL fsyncs slowed (a wide window) and a power loss in the
// workload, the primary loses WAL its standby already holds: the standby
// checker must catch it on some seeds (its online half as the standby
// writes that WAL, or its final half when the standby has diverged), and
// the same seeds without the bug must all pass. The default campaign with
// one standby is simtest/bugs_test.go's case.
func TestStandbyCheckerCatchesUnflushedStreaming(t *testing.T) {
	const plan = "latency for=5ms when op=fsync and file=wal times=0\ncrash mode=drop-all when time>=250ms"
	mk := func(seed uint64, on bool) Config {
		c := standbyConfig(seed, 1)
		c.Faults = plan
		if on {
			c.Bugs = c.Bugs.With(bugs.WalSenderUnflushed)
		}
		return c
	}
	caught := 0
	for _, r := range runSeeds(40, func(seed uint64) Config { return mk(seed, true) }) {
		if !r.OK {
			require.Equal(t, CheckStandby, r.Checker, "seed %d: %v", r.Seed, r.Failures)
			caught++
		}
	}
	require.GreaterOrEqual(t, caught, 4, "the standby checker missed walsender-unflushed")
	for _, r := range runSeeds(40, func(seed uint64) Config { return mk(seed, false) }) {
		require.True(t, r.OK, "seed %d without the bug: %v", r.Seed, r.Failures)
	}
}

// TestStandbyRegressionSwitchAtSegmentEnd: seed 2916 (--standbys 1)
// streams a switch record that ends exactly at its segment's end. The WAL
// sender's ReadStream once returned the segment's end as the next
// position, inside the next segment's header, and the standby never
// caught up ("did not catch up within 5s: it replayed to 0/0001FFE0").
func TestStandbyRegressionSwitchAtSegmentEnd(t *testing.T) {
	r := Run(standbyConfig(2916, 1))
	require.True(t, r.OK, "%v", r.Failures)
	require.Equal(t, 1, r.StandbysMade)
	require.Equal(t, 1, r.StandbysConverged)
}

// TestStandbyRegressionFlushedInsideRecord: seed 1186 with two standbys, a
// failover and wal_buffers = 4. After the promoted standby's final
// recovery, the checks that read its tables insert hint full-page images
// until the WAL buffers are full; the write that makes room completes
// segment 0 and, as XLogWrite does (finishing_seg), moves the flushed
// position to 0/00010000, inside the record at 0/0000FB40, whose rest is
// only in the buffers. The follower replays to 0/0000FB40 and waits for
// that rest, as a PostgreSQL standby does; the checker's catch-up target
// was the flushed position ("did not catch up within 5s: it replayed to
// 0/0000FB40, the primary's WAL is flushed to 0/00010000") and is now the
// end of the last complete record at or before it (standby_target.go).
func TestStandbyRegressionFlushedInsideRecord(t *testing.T) {
	c := standbyConfig(1186, 2)
	c.StandbysSet, c.Failover, c.WALBuffers = true, true, 4
	r := Run(c)
	require.True(t, r.OK, "%v", r.Failures)
	require.Equal(t, 1, r.Failover.Followed)
}

// TestStandbyTargetIsLastCompleteRecord: the catch-up target is the
// flushed position when that ends a record, else the end of the last
// record at or before it, whether its flush was seen or not.
func TestStandbyTargetIsLastCompleteRecord(t *testing.T) {
	r := &recordEnds{}
	r.reset()
	see := func(evs ...env.Event) {
		for _, ev := range evs {
			r.event(&ev)
		}
	}
	see(env.Event{Kind: env.EvWALInsert, LSN: 0x100, LSN2: 0x180})
	require.Equal(t, wal.LSN(0x100), r.replayable(0x100, 0x100), "nothing inserted is flushed")
	see(env.Event{Kind: env.EvWALFlush, LSN: 0x180},
		env.Event{Kind: env.EvWALInsert, LSN: 0x180, LSN2: 0xFB40},
		env.Event{Kind: env.EvWALInsert, LSN: 0xFB40, LSN2: 0x11000}, // crosses 0/00010000
		env.Event{Kind: env.EvWALInsert, LSN: 0x11000, LSN2: 0x11200})
	require.Equal(t, wal.LSN(0x180), r.replayable(0x180, 0x100))
	require.Equal(t, wal.LSN(0xFB40), r.replayable(0x10000, 0x100), "a flush inside a record")
	require.Equal(t, wal.LSN(0x11200), r.replayable(0x11200, 0x100), "a flush not seen as an event")
	r.reset()
	require.Equal(t, wal.LSN(0x200), r.replayable(0x10000, 0x200), "ends forgotten at a new database")
	r.overflow = true
	require.Equal(t, wal.LSN(0x10000), r.replayable(0x10000, 0x200), "past the bound, the flushed position")
}
