package simtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/simtest/world"
)

// tornCheckpointPlan crashes in torn mode while the checkpointer fsyncs the
// pages it wrote: some are still unsynced, and the crash tears them.
const tornCheckpointPlan = "crash mode=torn when role=checkpointer and point=smgr-after-fsync"

// TestFullPageWritesOffTornPageDetected: with full_page_writes off, a page
// a power loss tore cannot be repaired, and the run passes only because
// the page's checksum reports it ("detected"), never by reading wrong
// rows. The same seeds with the setting on repair every page from its
// image and detect nothing; with it on and the planted bug that drops the
// images behind the harness's back, the torn pages fail the run. Were the
// engine's page verification removed, the torn pages would be read as
// they are and these runs would fail (wrong rows or a broken page).
func TestFullPageWritesOffTornPageDetected(t *testing.T) {
	const seeds = 60
	mk := func(fpw string, b bugs.Set) func(uint64) Config {
		return func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Workload, c.Faults, c.FullPageWrites, c.Bugs = WorkloadInsert, tornCheckpointPlan, fpw, b
			// The checksum is what reports a torn page here; without
			// data checksums the planted bug's torn pages are found by
			// the self-checks instead (data_checksums.go).
			c.DataChecksums = DataChecksumsOn
			return c
		}
	}
	detected := map[uint64]bool{}
	for _, r := range runSeeds(seeds, mk(FullPageWritesOff, 0)) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if r.Detected != "" {
			require.Contains(t, r.Detected, "full_page_writes=off", "seed %d", r.Seed)
			require.Contains(t, r.Detected, "invalid page in", "seed %d", r.Seed)
			detected[r.Seed] = true
		}
	}
	t.Logf("full_page_writes=off: %d of %d seeds detected a torn page", len(detected), seeds)
	require.GreaterOrEqual(t, len(detected), 5)
	for _, r := range runSeeds(seeds, mk(FullPageWritesOn, 0)) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Empty(t, r.Detected, "seed %d: full-page images must repair every torn page", r.Seed)
	}
	failed := 0
	for _, r := range runSeeds(seeds, mk(FullPageWritesOn, bugs.Set(0).With(bugs.FullPageWritesOff))) {
		if !r.OK {
			require.Equal(t, CheckRecovery, r.Checker, "seed %d: %v", r.Seed, r.Failures)
			failed++
		}
	}
	t.Logf("full-page-writes-off planted under full_page_writes=on: %d of %d seeds fail", failed, seeds)
	require.GreaterOrEqual(t, failed, 5)
}

// TestTornWithoutFPWAllowsOnlyAVerificationFailure: a torn page without
// an image may end a run only in a page that fails verification when read;
// wrong rows, lost commits or any other failure stay failures.
func TestTornWithoutFPWAllowsOnlyAVerificationFailure(t *testing.T) {
	const torn = "power loss tore a write of base/16385 with full_page_writes=off"
	for _, tc := range []struct {
		checker, failure string
		allowed          bool
	}{
		{CheckRecovery, "recovery failed: startup: PANIC: redo ... failed: invalid page in block 0 of relation base/16385: page verification failed", true},
		{CheckSelf, "table t: invalid page in block 3 of relation base/16385: checksum mismatch", true},
		{CheckAtomicity, "key 7 holds 00, want 0x1 from client 0", false},
		{CheckDurability, "acknowledged txn: 1 of 3 writes lost after power-loss", false},
		{CheckRecovery, "recovery failed: redo of record at 0/00001228 failed: tuple at (0,3) over a used line pointer", false},
	} {
		res := &Result{OK: true, tornNoFPW: []string{torn}}
		res.fail(tc.checker, "%s", tc.failure)
		res.judgeBeyondLimits()
		require.Equal(t, tc.allowed, res.OK, "%s: %s", tc.checker, tc.failure)
		if tc.allowed {
			require.Contains(t, res.Detected, torn)
		}
		// Without the torn page the same failure is a failure.
		res = &Result{OK: true}
		res.fail(tc.checker, "%s", tc.failure)
		res.judgeBeyondLimits()
		require.False(t, res.OK)
	}
}

// TestUndetectableDamageWithoutChecksums: after a destructive fault on a
// heap or index page, partial data (atomicity) passes only when the
// cluster had no data checksums to detect the damage; with checksums, or
// after damage elsewhere (the WAL, whose records carry CRCs), it fails.
func TestUndetectableDamageWithoutChecksums(t *testing.T) {
	const failure = "transaction 12 half visible: key 3 written, key 9 not"
	for _, tc := range []struct {
		noChecksums bool
		destructive string
		allowed     bool
	}{
		{true, "1x torn-write on heap", true},
		{true, "2x bitflip on index", true},
		{false, "1x torn-write on heap", false},
		{true, "1x torn-write on wal", false},
	} {
		res := &Result{OK: true, noChecksums: tc.noChecksums, Destructive: []string{tc.destructive}}
		res.fail(CheckAtomicity, "%s", failure)
		res.judgeBeyondLimits()
		require.Equal(t, tc.allowed, res.OK, "checksums off %v, %s", tc.noChecksums, tc.destructive)
		if tc.allowed {
			require.Contains(t, res.Detected, "undetectable without data checksums")
		}
	}
}

// TestRedoBlkDoneReachedWithFullPageWritesOff: with full_page_writes off,
// redo meets pages the checkpoint or the bgwriter wrote after the record
// it replays, and skips them (BLK_DONE); with it on, the first change
// after REDO restores an image and the path is dead. Crashes that keep
// whole writes only (drop-all), so nothing is torn and every seed must
// pass with all its data.
func TestRedoBlkDoneReachedWithFullPageWritesOff(t *testing.T) {
	const seeds = 60
	mk := func(fpw string) func(uint64) Config {
		return func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.CrashMode, c.FullPageWrites = "drop-all", fpw
			return c
		}
	}
	reached := 0
	for _, r := range runSeeds(seeds, mk(FullPageWritesOff)) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if r.Sometimes.Has("redo-blk-done") {
			reached++
		}
	}
	t.Logf("full_page_writes=off: redo-blk-done on %d of %d seeds", reached, seeds)
	require.GreaterOrEqual(t, reached, seeds/4)
	for _, r := range runSeeds(seeds, mk(FullPageWritesOn)) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.False(t, r.Sometimes.Has("redo-blk-done"), "seed %d", r.Seed)
	}
}

// TestSettingsDrawnOnTheirOwnStream: the settings' draws leave every other
// part of a seed's configuration as it was, and the flags' values win.
func TestSettingsDrawnOnTheirOwnStream(t *testing.T) {
	off, eager := 0, 0
	for seed := uint64(1); seed <= 400; seed++ {
		s := swarmSettings(seed)
		if !s.fullPageWrites {
			off++
		}
		if s.avThreshold < 50 {
			eager++
		}
	}
	require.InDelta(t, 100, off, 40)
	require.InDelta(t, 133, eager, 45)
	for seed := uint64(1); seed <= 50; seed++ {
		a := DefaultConfig(seed)
		b := a
		b.FullPageWrites, b.CheckpointTimeout = FullPageWritesOff, 0
		ra, rb := resolve(a, world.NewRand(seed)), resolve(b, world.NewRand(seed))
		require.Equal(t, ra.stringDB(), rb.stringDB(), "seed %d: a setting's flag moved another draw", seed)
	}

	th, sf := 7, 0.5
	c := DefaultConfig(3)
	c.FullPageWrites, c.SharedBuffers, c.WALSegmentSize = FullPageWritesOff, 16, 64<<10
	c.AutovacuumThreshold, c.AutovacuumScaleFactor = &th, &sf
	r := resolve(c, world.NewRand(c.Seed))
	require.False(t, r.engine.FullPageWrites)
	require.Equal(t, 16, r.engine.SharedBuffers)
	require.Equal(t, int64(64<<10), r.server.DB.WAL.SegmentSize)
	require.Equal(t, int64(64<<10), r.server.Archiver.WAL.SegmentSize)
	require.Equal(t, 7, r.server.AutovacuumConf.VacuumThreshold)
	require.Equal(t, 0.5, r.server.AutovacuumConf.VacuumScaleFactor)
	c.Swarm = false
	c.FullPageWrites, c.AutovacuumThreshold, c.AutovacuumScaleFactor = "", nil, nil
	r = resolve(c, world.NewRand(c.Seed))
	require.True(t, r.engine.FullPageWrites)
	require.Equal(t, 50, r.server.AutovacuumConf.VacuumThreshold)
}

// TestSettingsReachTheirBranches: each setting pinned to the value that
// matters runs the branch it is there for, and every seed passes.
func TestSettingsReachTheirBranches(t *testing.T) {
	zero, none := 0, 0.0
	for _, tc := range []struct {
		name, cond string
		tweak      func(c *Config)
		min        int
	}{
		{"archive_timeout=10ms", "wal-switch-forced", func(c *Config) { c.ArchiveTimeout = 10 * time.Millisecond }, 10},
		{"deadlock_timeout=1ms", "deadlock-check-ran", func(c *Config) { c.DeadlockTimeout = time.Millisecond }, 5},
		{"autovacuum thresholds 0", "autovacuum-ran", func(c *Config) { c.AutovacuumThreshold, c.AutovacuumScaleFactor = &zero, &none }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const seeds = 40
			reached := 0
			for _, r := range runSeeds(seeds, func(seed uint64) Config {
				c := DefaultConfig(seed)
				tc.tweak(&c)
				return c
			}) {
				require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
				if r.Sometimes.Has(tc.cond) {
					reached++
				}
			}
			t.Logf("%s: %s on %d of %d seeds", tc.name, tc.cond, reached, seeds)
			require.GreaterOrEqual(t, reached, tc.min)
		})
	}
}
