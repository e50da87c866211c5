package simtest

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest/world"
)

// runSeeds runs seeds [1, n] on two goroutines (the campaign's shape: runs
// in parallel must not influence one another) and returns each result.
func runSeeds(n int, mk func(seed uint64) Config) []*Result {
	out := make([]*Result, n)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				out[i] = Run(mk(uint64(i + 1)))
			}
		}(w)
	}
	wg.Wait()
	return out
}

func TestDeterminismSameSeedSameTrace(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	a := runSeeds(n, DefaultConfig)
	b := runSeeds(n, DefaultConfig)
	distinct := map[uint64]bool{}
	for i := range a {
		require.True(t, a[i].OK, "seed %d failed: %v", a[i].Seed, a[i].Failures)
		require.Equal(t, a[i].TraceString(), b[i].TraceString(), "seed %d: two runs differ", a[i].Seed)
		require.Equal(t, a[i].Steps, b[i].Steps)
		distinct[a[i].Trace] = true
	}
	// The seed steers scheduling, timings and the crash point: every seed
	// must give its own run.
	require.Len(t, distinct, n, "different seeds must give different traces")
}

// The readable trace is a view of the same events: asking for it must not
// change the run.
func TestDeterminismTraceFileDoesNotChangeRun(t *testing.T) {
	var buf bytes.Buffer
	c := DefaultConfig(42)
	plain := Run(c)
	c.TraceOut = &buf
	traced := Run(c)
	require.Equal(t, plain.Trace, traced.Trace)
	require.Contains(t, buf.String(), "disk.sync")
	require.Contains(t, buf.String(), "crash: power-loss")
	require.Greater(t, bytes.Count(buf.Bytes(), []byte("\n")), 100)
}

func TestDeterminismCrashModesAndPlansVary(t *testing.T) {
	modes := map[string]int{}
	plans := map[string]bool{}
	for _, r := range runSeeds(60, DefaultConfig) {
		require.True(t, r.OK, "%v", r.Failures)
		modes[field(r.Config, "crash-mode")]++
		plans[r.Plan] = true
	}
	require.Len(t, modes, 3, "all three crash modes must be drawn")
	require.Greater(t, len(plans), 50, "the fault plan must vary with the seed")
}

// field returns the value of key=value in a space-separated config line.
func field(line, key string) string {
	for _, kv := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// A campaign runs many thousands of seeds in one OS process: a run must
// leave no goroutine behind, whatever state the crash caught it in.
func TestRunLeaksNoGoroutines(t *testing.T) {
	Run(DefaultConfig(1)) // warm up anything lazily started
	// Idle workers wait in the pool between runs by design; every other
	// goroutine a run left would be a leak.
	world.DrainWorkers()
	before := runtime.NumGoroutine()
	for seed := uint64(1); seed <= 200; seed++ {
		Run(DefaultConfig(seed))
	}
	world.DrainWorkers()
	for i := 0; i < 200 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(time.Millisecond) // killed goroutines finish exiting
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), before)
}
