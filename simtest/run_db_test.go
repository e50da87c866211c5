package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

func dbConfig(seed uint64) Config {
	c := DefaultConfig(seed)
	c.Engine = "db"
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
		if strings.Contains(a[i].Plan, "crash when point=") {
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

// The bugs the storage-engine run catches today, by the named checker,
// with zero reports without them (TestEngineDBDeterministicAndClean).
// write-before-wal and early-clean are not listed: on this engine random
// crash points and pauses reach their windows too rarely (see README).
func TestEngineDBPlantedBugs(t *testing.T) {
	for _, tc := range []struct {
		bug       bugs.ID
		crashMode string
		checkers  []string
		minCaught int
	}{
		{bugs.AckBeforeFlush, "", []string{CheckDurability, CheckSelf}, 60},
		{bugs.FullPageWritesOff, "torn", []string{CheckRecovery}, 1},
		{bugs.WriteBeforeWAL, "", []string{CheckWALBeforeData}, 10},
	} {
		caught := 0
		for _, r := range runSeeds(100, func(seed uint64) Config {
			c := dbConfig(seed)
			c.CrashMode = tc.crashMode
			c.Bugs = c.Bugs.With(tc.bug)
			return c
		}) {
			if !r.OK {
				caught++
				require.Contains(t, tc.checkers, r.Checker, "seed %d: %v", r.Seed, r.Failures)
			}
		}
		require.GreaterOrEqual(t, caught, tc.minCaught, "%v", bugs.Set(0).With(tc.bug))
		t.Logf("%s: caught on %d of 100 seeds", bugs.Set(0).With(tc.bug), caught)
	}
}
