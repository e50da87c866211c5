package simtest

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/simtest/world"
)

func dbConfig(seed uint64) Config { return DefaultConfig(seed) }

// insertConfig is the default run with the insert workload only, whose
// history the tests that count transactions read.
func insertConfig(seed uint64) Config {
	c := DefaultConfig(seed)
	c.Workload = WorkloadInsert
	// 1000-byte rows outgrow shared buffers, so pages are evicted and read
	// back: the fault and planted-bug tests on this workload count on it.
	c.RowBytes = rowBytes
	return c
}

// The storage engine under the simulator: deterministic, seed-sensitive,
// and no false alarms over the seeds.
func TestEngineDBDeterministicAndClean(t *testing.T) {
	n := 120
	a := runSeeds(n, dbConfig)
	b := runSeeds(n, dbConfig)
	distinct := map[uint64]bool{}
	points, pauses := 0, 0
	for i := range a {
		require.True(t, a[i].OK, "seed %d: %v", a[i].Seed, a[i].Failures)
		require.Equal(t, a[i].Trace, b[i].Trace, "seed %d not deterministic", a[i].Seed)
		distinct[a[i].Trace] = true
		// A crash, or the swarm's WAL crash (wal_crash_points.go), at a point.
		if strings.Contains(a[i].Plan, "crash when point=") || walCrashDraw(a[i].Seed) != nil && strings.Contains(a[i].Plan, walCrashDraw(a[i].Seed).String()) {
			points++
		}
		if strings.Contains(a[i].Plan, "pause ") {
			pauses++
		}
	}
	require.Len(t, distinct, n)
	require.Greater(t, points, n/4, "some seeds crash at injection points")
	require.Greater(t, pauses, n/4, "some seeds pause a process")
}

// rowValue's word-at-a-time form must equal its byte-wise definition.
func TestRowValueDefinition(t *testing.T) {
	for _, n := range []int{rowBytesMin, 13, rowBytes, rowBytesMax} {
		for _, id := range []uint64{0, 1, 0xdeadbeefcafe, ^uint64(0)} {
			b := rowValue(id, n)
			require.Len(t, b, n)
			require.Equal(t, id, binary.LittleEndian.Uint64(b))
			for i := 8; i < n; i++ {
				require.Equal(t, byte(id>>(8*(i%8)))^byte(i), b[i], "id %#x byte %d", id, i)
			}
			// rowIs accepts exactly that row: any changed byte, or length, is
			// another row.
			require.True(t, rowIs(b, id, n))
			require.False(t, rowIs(b[:n-1], id, n))
			require.False(t, rowIs(append(slices.Clone(b), 0), id, n))
			require.False(t, rowIs(b, id+1, n))
			for _, i := range []int{0, 7, 9, n / 2, n - 1} {
				if i < 0 || i >= n {
					continue
				}
				c := slices.Clone(b)
				c[i] ^= 0x10
				require.False(t, rowIs(c, id, n), "%d bytes: byte %d flipped", n, i)
			}
		}
	}
}

// autocommitConfig is psql's shape: one client, single-row autocommit
// INSERTs back to back, under the plan drawn from the seed.
func autocommitConfig(seed uint64) Config {
	c := insertConfig(seed)
	c.Clients, c.Txns, c.ThinkMax, c.Autocommit = 2, 25, 0, true
	return c
}

// Autocommit INSERTs under the seeds' fault plans: every run passes, each
// transaction is one row, none is rolled back by its client, and the
// crashes leave some of them unknown (the reply never came), which the
// checkers must accept either way. With ack-before-flush on, the same
// seeds lose acknowledged autocommit rows and the durability checker says
// so.
func TestAutocommitInserts(t *testing.T) {
	// Every run's WAL begins with the same initdb and boot, whose last
	// checkpoint is at 0/1E8: a recovery from a later one recovers from a
	// checkpoint taken during the workload. Runs that crash before the
	// first such checkpoint pin the constant: some recover from exactly
	// it, none from before it.
	const bootCheckpoint = 0x1E8
	n := 100
	unknown, checkpoints, fromBoot := 0, 0, 0
	for _, r := range runSeeds(n, autocommitConfig) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.Contains(t, r.Config, "autocommit=true")
		for _, op := range r.History.Ops {
			require.Len(t, op.Keys, 1, "seed %d: an autocommit INSERT writes one row", r.Seed)
			require.NotEqual(t, errRolledBack.Error(), op.Err, "seed %d: no client rollback", r.Seed)
		}
		unknown += r.Unknown
		if r.Detected != "" && r.RecoveryDB.Checkpoint == 0 {
			continue // recovery reported damage beyond its limits (a torn page without full-page writes): nothing recovered
		}
		require.GreaterOrEqual(t, uint64(r.RecoveryDB.Checkpoint), uint64(bootCheckpoint), "seed %d", r.Seed)
		switch {
		case r.RecoveryDB.Checkpoint > bootCheckpoint:
			checkpoints++
		default:
			fromBoot++
		}
	}
	require.Positive(t, fromBoot, "the boot's checkpoint is at 0/1E8")
	require.Positive(t, unknown, "some crashes cut an INSERT off from its reply")
	// A stream of commits from one backend must not starve the
	// checkpointer (HaveVirtualXIDsDelayingChkpt compares VXIDs).
	require.Greater(t, checkpoints, n/4, "checkpoints complete under a stream of autocommits")

	caught := 0
	for _, r := range runSeeds(n, func(seed uint64) Config {
		c := autocommitConfig(seed)
		c.Bugs = bugs.Set(0).With(bugs.AckBeforeFlush)
		return c
	}) {
		if !r.OK {
			// The commit acknowledged before its flush is lost, or a
			// hint bit set for it reaches disk first (the checker
			// that sees it first reports).
			require.Contains(t, []string{CheckDurability, CheckHintBeforeCommit}, r.Checker, "seed %d: %v", r.Seed, r.Failures)
			caught++
		}
	}
	require.Greater(t, caught, n/10, "ack-before-flush loses acknowledged autocommit rows")
}

// Under Swarm the row size is drawn from the seed unless given; without
// it the default is 1000 bytes. The resolved size is in the printed
// configuration.
func TestRowBytesDrawnUnderSwarm(t *testing.T) {
	drawn := map[int]int{}
	for seed := uint64(1); seed <= 100; seed++ {
		rc := resolve(DefaultConfig(seed), world.NewRand(seed))
		drawn[rc.rowBytes]++
		require.Contains(t, rc.String(), fmt.Sprintf("row_bytes=%d ", rc.rowBytes))
	}
	require.Len(t, drawn, len(slices.Compact(slices.Sorted(slices.Values(swarmRowBytes[:])))), "every size is drawn: %v", drawn)
	require.Greater(t, drawn[rowBytes], drawn[rowBytesMin], "1000 bytes is the common case")
	fixed := DefaultConfig(1)
	fixed.Swarm = false
	require.Equal(t, rowBytes, resolve(fixed, world.NewRand(1)).rowBytes)
	given := DefaultConfig(1)
	given.RowBytes = 8
	require.Equal(t, 8, resolve(given, world.NewRand(1)).rowBytes)
}
