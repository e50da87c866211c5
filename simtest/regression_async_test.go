package simtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// TestRegressionAsyncAckAfterCrashRestart keeps the three seeds of issue 16
// whose synchronous_commit=off runs were failed by the durability judge on
// the unmodified engine. In each, a backend inserted a commit record into
// the WAL buffers and sent its reply just before the postmaster began a
// crash-restart (after another process's PANIC); the WAL writer never wrote
// the record, so the crash-restart lost it, as PostgreSQL may. The client
// read the reply only after the crash-restart had begun, and the judge took
// that read, not the commit, as the start of the transaction's epoch: it
// then counted transactions of the next server lifetime as "later" in the
// same WAL and reported a non-suffix loss.
func TestRegressionAsyncAckAfterCrashRestart(t *testing.T) {
	cases := []struct {
		seed      uint64
		intensity float64
	}{
		// pgdst campaign --seeds 10000 --workload insert
		// --synchronous-commit off --fault-intensity 0.5
		{seed: 7537, intensity: 0.5},
		// pgdst campaign --workload insert --synchronous-commit off
		// --fault-intensity 0.3 --start 20001 --seeds 10000
		{seed: 21828, intensity: 0.3},
		{seed: 22129, intensity: 0.3},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.seed), func(t *testing.T) {
			c := DefaultConfig(tc.seed)
			c.Workload, c.AsyncCommit, c.FaultIntensity = WorkloadInsert, true, tc.intensity
			res := Run(c)
			require.True(t, res.OK, "seed %d:\n%s", tc.seed, res.Summary())
		})
	}
	// A change of schedule anywhere moves these seeds off the race that
	// found the false alarm, so the shape itself is searched for too: runs
	// of the same campaign that crash-restart during the workload and lose
	// an acknowledged commit with it must pass, and there must be some.
	// The constructed histories below pin the judge's rule exactly.
	shaped := 0
	for seed := uint64(1); seed <= 3000 && shaped < 3; seed++ {
		c := DefaultConfig(seed)
		c.Workload, c.AsyncCommit, c.FaultIntensity = WorkloadInsert, true, 0.5
		res := Run(c)
		require.True(t, res.OK, "seed %d:\n%s", seed, res.Summary())
		if len(res.CrashRestarts) > 0 && res.AsyncLost > 0 {
			shaped++
		}
	}
	require.Positive(t, shaped, "no run of seeds 1..3000 crash-restarted and lost an acknowledged asynchronous commit")
}

// TestAsyncLossEpochOfTheCommit: the synchronous_commit=off judge on
// constructed histories around a crash-restart. A transaction whose reply
// the client read after the crash-restart began committed in the lifetime
// that crash-restart ended, so a survivor of the next lifetime does not
// contradict its loss; a truly non-suffix loss inside one lifetime, before
// or after the crash-restart, is still a failure.
func TestAsyncLossEpochOfTheCommit(t *testing.T) {
	rc := resolved{Config: Config{AsyncCommit: true, Workload: WorkloadInsert}}
	rc.engine.WalWriterDelay = 2 * time.Millisecond
	rc.lat.Sync = time.Millisecond // bound: 6ms + 4ms
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	op := func(call, ret float64) *Op {
		return &Op{Call: ms(call), Return: ms(ret), Keys: []uint64{uint64(ms(call))}, Outcome: OK}
	}
	restart, power := ms(65.853997), ms(124)
	judge := func(ops []*Op, present map[*Op]int) *Result {
		w := &workload{rc: rc, hist: &History{Ops: ops}, crashAt: power, crashTimes: []time.Duration{restart}}
		res := &Result{OK: true, History: w.hist}
		w.judge(present, res)
		return res
	}

	// Seed 7537's shape: a called at 65.823997ms, committed, its reply
	// read at 65.859997ms after the crash-restart at 65.853997ms, lost
	// with the WAL buffers; b in the next lifetime survives.
	a, b := op(65.823997, 65.859997), op(96.116615, 96.174615)
	res := judge([]*Op{a, b}, map[*Op]int{b: 1})
	require.True(t, res.OK, "%v", res.Failures)
	require.Equal(t, 1, res.AsyncLost)

	// Within the first lifetime: c acknowledged, then d began after the
	// acknowledgement and survived the crash-restart while c was lost.
	// The WAL is replayed in order, so that is not a suffix.
	c, d := op(60, 61), op(62, 63)
	res = judge([]*Op{c, d, b}, map[*Op]int{d: 1, b: 1})
	require.False(t, res.OK)
	require.Len(t, res.Failures, 1)
	require.Contains(t, res.Failures[0], "client 0 txn 0 (1 writes, called at 60ms")
	require.Contains(t, res.Failures[0], "must be a suffix")

	// The same inside the last lifetime, which the power loss ends: e
	// lost, f begun after e's acknowledgement survived.
	e, f := op(100, 101), op(102, 103)
	res = judge([]*Op{a, e, f}, map[*Op]int{f: 1})
	require.False(t, res.OK)
	require.Len(t, res.Failures, 1, "a is allowed, e is not: %v", res.Failures)
	require.Contains(t, res.Failures[0], "called at 100ms")
	require.Contains(t, res.Failures[0], "must be a suffix")

	// The time bound still applies within the commit's own lifetime: g
	// acknowledged 11ms before the crash-restart (bound 10ms) and lost.
	g := op(42, 54.853997)
	res = judge([]*Op{g}, map[*Op]int{})
	require.False(t, res.OK)
	require.Contains(t, res.Failures[0], "3 x wal_writer_delay")
}

// TestAsyncSuffixCatchesPlantedBugAcrossCrashRestart: judging each loss in
// the lifetime of its commit must not blind the suffix rule in runs that
// crash-restart. With the planted redo-after-flush bug (a checkpoint's
// REDO pointer taken after its buffer writes, so changes logged meanwhile
// are neither on disk nor replayed), some seeds crash-restart during the
// workload and then lose acknowledged commits that came before survivors
// of the same lifetime; the judge must say so, and the same seeds must
// pass without the bug. The seeds are searched for rather than named, so
// that a change of schedule elsewhere cannot quietly empty the test: the
// campaign pgdst campaign --seeds 1000 --workload insert
// --synchronous-commit off --fault-intensity 0.5 --bug redo-after-flush
// showed 5 such catches when the rule was written. (Seeds 1..600 held
// one until the WAL buffer ring moved every schedule; the search now goes
// to 2000.)
func TestAsyncSuffixCatchesPlantedBugAcrossCrashRestart(t *testing.T) {
	const seedsMax = 2000
	caught := 0
	for seed := uint64(1); seed <= seedsMax && caught < 2; seed++ {
		c := DefaultConfig(seed)
		c.Workload, c.AsyncCommit, c.FaultIntensity = WorkloadInsert, true, 0.5
		c.Bugs = c.Bugs.With(bugs.RedoAfterFlush)
		res := Run(c)
		if res.OK || len(res.CrashRestarts) == 0 {
			continue
		}
		suffix := 0
		for _, f := range res.Failures {
			if strings.HasPrefix(f, CheckDurability) && strings.Contains(f, "must be a suffix") {
				suffix++
			}
		}
		if suffix == 0 {
			continue
		}
		caught++
		c.Bugs = 0
		clean := Run(c)
		require.True(t, clean.OK, "seed %d: false alarm without the bug:\n%s", seed, clean.Summary())
	}
	require.Positive(t, caught, "no seed in 1..%d lost a non-suffix after a crash-restart with redo-after-flush", seedsMax)
}
