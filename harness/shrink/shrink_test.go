package shrink

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// plantedConfig is the default config of the first seed that the planted
// bug ack-before-flush makes fail with the durability checker.
func plantedConfig(t testing.TB) simtest.Config {
	t.Helper()
	for seed := uint64(1); seed <= 50; seed++ {
		c := simtest.DefaultConfig(seed)
		c.Bugs = c.Bugs.With(bugs.AckBeforeFlush)
		if res := simtest.Run(c); !res.OK && res.Checker == simtest.CheckDurability {
			return c
		}
	}
	t.Fatal("no seed in 1..50 fails durability with ack-before-flush")
	return simtest.Config{}
}

func TestRounder(t *testing.T) {
	require.Equal(t, []uint64{4000, 5000, 4300, 4400}, rounder(4373))
	require.Equal(t, []uint64{30, 40}, rounder(37))
	require.Equal(t, []uint64{4000, 5000}, rounder(4100))
	require.Empty(t, rounder(7))
	require.Empty(t, rounder(500))
}

// TestShrinkSteps drives the shrinker with a stand-in for the simulator
// that fails exactly when the config keeps what the "bug" needs: a crash
// whose trigger counts to 20 or more, any pause, 3 clients and 5
// transactions. Every other part of the plan and config must go.
func TestShrinkSteps(t *testing.T) {
	cfg := simtest.DefaultConfig(9)
	cfg.Clients, cfg.Txns, cfg.ClientTimeout, cfg.Isolation = 6, 40, 30*time.Millisecond, simtest.IsoRepeatableRead
	cfg.Faults = "pause for=37ms role=walwriter when point=bufmgr-before-write and prob=0.25 times=8\n" +
		"crash when op=write and file=heap and nth=37\n" +
		"crash when role=startup and point=startup-after-redo-record#6\n" +
		"latency for=3ms when (op=fsync or op=write) and prob=0.5 times=4\n"
	runs := 0
	fails := func(c simtest.Config) *simtest.Result {
		runs++
		p, err := fault.Parse(c.Faults)
		require.NoError(t, err)
		crash, pause := false, false
		for _, f := range p.Faults {
			pause = pause || f.Action.Kind == fault.ActPause
			if f.Action.Kind == fault.ActCrash && f.When != nil {
				for _, path := range exprPaths(f.When) {
					if a := exprAt(f.When, path); a.Op == fault.ExprAtom && a.Atom.Kind == fault.AtomNth && a.Atom.N >= 20 {
						crash = true
					}
				}
			}
		}
		if crash && pause && c.Clients >= 3 && c.Txns >= 5 {
			return &simtest.Result{Seed: c.Seed, Checker: simtest.CheckDurability, Failures: []string{"durability: lost"}}
		}
		return &simtest.Result{Seed: c.Seed, OK: true}
	}
	var log []string
	sh := newRun(cfg, 1000, time.Now().Add(time.Minute), func(s string) { log = append(log, s) }, fails)
	sh.Shrink()
	require.Empty(t, sh.cut)
	require.Equal(t, runs, sh.attempts)
	got := sh.cfg
	require.Equal(t, "pause for=37ms role=walwriter\ncrash when nth=20\n", got.Faults, strings.Join(log, "\n"))
	require.Equal(t, 3, got.Clients)
	require.Equal(t, 5, got.Txns)
	require.Equal(t, 1, got.WritesMax)
	require.False(t, got.Swarm)
	require.Zero(t, got.ClientTimeout)
	require.Equal(t, "", got.Isolation)
	require.Equal(t, simtest.WorkloadInsert, got.Workload)
	require.Contains(t, log, "dropped fault 3 (crash when role=startup and point=startup-after-redo-record#6): still fails durability")
	require.Contains(t, log, "fault 1: times=8 -> times=1: still fails durability")
	require.Contains(t, log, `fault 2: removed "op=write" from its trigger, now when file=heap and nth=37: still fails durability`)
	require.Contains(t, log, "fault 2: nth 21 -> 20: still fails durability")
	require.Equal(t, "go run ./cmd/pgdst run --seed 9 --workload insert --clients 3 --txns 5 --writes 1 --no-swarm --fault 'pause for=37ms role=walwriter' --fault 'crash when nth=20'", cli.Command(got))
}

// BenchmarkShrinkPlantedBug measures shrinking, to its fixed point, the
// repro of the first seed that the planted bug ack-before-flush makes fail
// with the durability checker from the default config; it reports the runs
// the shrink made and the workload left (clients x txns) with the time per
// shrink.
func BenchmarkShrinkPlantedBug(b *testing.B) {
	cfg := plantedConfig(b)
	r := repro.New(cfg, simtest.Run(cfg), cli.Command(cfg))
	var sh *Shrinker
	for b.Loop() {
		sh = New(r.Config, 1<<30, time.Now().Add(time.Hour), func(string) {})
		sh.Shrink()
	}
	if sh.res.Checker != r.Failure.Checker {
		b.Fatalf("shrunk to a %s failure, want %s", sh.res.Checker, r.Failure.Checker)
	}
	b.ReportMetric(float64(sh.attempts), "attempts")
	b.ReportMetric(float64(sh.cfg.Clients*sh.cfg.Txns), "txns-left")
	b.ReportMetric(float64(len(cli.PlanLines(sh.cfg.Faults))), "faults-left")
}
