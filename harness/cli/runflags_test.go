package cli

import (
	"flag"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/simtest"
)

// sameRun reduces a config to what its run depends on: the plan's faults
// rather than its text, no fault intensity where it draws nothing (an
// explicit plan or a crash step: simtest's dbPlan), and an explicit empty
// plan with a crash step as the crash step alone.
func sameRun(c simtest.Config) simtest.Config {
	lines := PlanLines(c.Faults)
	explicit := c.Faults != ""
	c.Faults = ""
	for _, l := range lines {
		c.Faults += l + "\n"
	}
	if explicit && len(lines) == 0 && c.CrashStep == 0 {
		c.Faults = EmptyPlan
	}
	if explicit || c.CrashStep != 0 {
		c.FaultIntensity = 0
	}
	if c.FaultIntensity != 0 || explicit || c.CrashStep != 0 {
		// FaultIntensitySet only tells an explicit 0 from the seed's
		// draw, and only a plan drawn from the seed has either.
		c.FaultIntensitySet = false
	}
	return c
}

// randomConfig draws a config with every field of the table varied.
func randomConfig(rng *rand.Rand) simtest.Config {
	pick := func(xs ...string) string { return xs[rng.Intn(len(xs))] }
	c := simtest.DefaultConfig(uint64(rng.Intn(1000)))
	c.Workload = pick(simtest.Workloads...)
	c.Isolation = pick("", simtest.IsoReadCommitted, simtest.IsoRepeatableRead)
	c.AsyncCommit = c.Workload == simtest.WorkloadInsert && rng.Intn(2) == 0
	c.Autocommit = (c.Workload == simtest.WorkloadInsert || c.Workload == simtest.WorkloadMixed) && rng.Intn(2) == 0
	c.ClientTimeout = time.Duration(rng.Intn(3)) * time.Duration(rng.Intn(5000)) * time.Microsecond
	c.Clients, c.Txns, c.WritesMax = 1+rng.Intn(64), 1+rng.Intn(10000), 1+rng.Intn(64)
	c.ThinkMax = time.Duration(rng.Intn(3000)) * 1500 * time.Nanosecond
	c.CrashMode = pick("", "drop-all", "random-subset", "torn")
	c.CrashStep = uint64(rng.Intn(2) * rng.Intn(100000))
	c.Swarm, c.PGTimings = rng.Intn(2) == 0, rng.Intn(2) == 0
	c.RowBytes = rng.Intn(2) * (simtest.RowBytesMin + rng.Intn(simtest.RowBytesMax-simtest.RowBytesMin+1))
	for _, b := range bugs.All() {
		if rng.Intn(8) == 0 {
			id, _ := bugs.Parse(b.Name)
			c.Bugs = c.Bugs.With(id)
		}
	}
	c.Faults = pick("", EmptyPlan, "crash when nth=3\n", "crash when op=write and file=heap and nth=2\npause for=10ms role=bgwriter when point=bufmgr-before-write and prob=0.5 times=3\n", "latency for=1500us when op=fsync and prob=0.25 times=0\n")
	c.FaultIntensity = float64(rng.Intn(3)) * rng.Float64() / 2
	c.FaultIntensitySet = rng.Intn(2) == 0
	return c
}

// TestWordsParseBack: the reproduce command's words, parsed by the run
// flags, give the config they were made from (the same run), for configs
// that vary every field of the table. It is the table's promise that one
// mapping serves both ways.
func TestWordsParseBack(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	checked := 0
	for i := 0; i < 2000; i++ {
		c := randomConfig(rng)
		if c.Validate() != nil {
			continue
		}
		checked++
		var r RunFlagSet
		fs := flag.NewFlagSet("run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		r.Register(fs)
		words := Words(c)
		require.NoError(t, fs.Parse(shellWords(words)), "%q", words)
		require.NoError(t, r.Prepare(), "%q", words)
		back, err := r.Config(c.Seed)
		require.NoError(t, err, "%q", words)
		require.Equal(t, sameRun(c), sameRun(back), "%q", words)
	}
	require.Greater(t, checked, 500)
}

// shellWords undoes ShellQuote for the words Words makes (single quotes).
func shellWords(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		if len(w) >= 2 && w[0] == '\'' && w[len(w)-1] == '\'' {
			w = w[1 : len(w)-1]
		}
		out[i] = w
	}
	return out
}
