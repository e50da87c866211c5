package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// TestNoFaultsIsTheEmptyPlan: --no-faults runs the config whose plan is
// explicitly empty, which is another run than the plan drawn without it.
func TestNoFaultsIsTheEmptyPlan(t *testing.T) {
	for _, seed := range []uint64{3, 4} {
		c := simtest.DefaultConfig(seed)
		c.Faults = cli.EmptyPlan
		want := simtest.Run(c)
		require.Empty(t, want.Plan)
		code, out, errOut := runCLI("run", "--seed", itoa(seed), "--no-faults")
		require.Equal(t, map[bool]int{true: 0, false: 1}[want.OK], code, out+errOut)
		require.Equal(t, cli.Verdict(want), lastLine(out))
		require.NotContains(t, out, "fault plan:")
		require.NotEqual(t, simtest.Run(simtest.DefaultConfig(seed)).TraceString(), want.TraceString(), "seed %d: without --no-faults a plan is drawn", seed)
	}
}

// TestNoFaultsClashes: --no-faults with any flag that adds a fault is one
// line and exit status 2, as --systematic with --no-faults is.
func TestNoFaultsClashes(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "p.plan")
	require.NoError(t, os.WriteFile(plan, []byte("crash when nth=3\n"), 0o644))
	for _, extra := range [][]string{
		{"--fault", "crash when nth=3"},
		{"--faults", plan},
		{"--crash-step", "500"},
		{"--fault-intensity", "0.5"},
		{"--fault-intensity", "0"}, // given at all: the plan would not be exactly what it says
		{"--fault", "crash when nth=3", "--crash-step", "500"},
	} {
		for _, cmd := range [][]string{{"run"}, {"campaign", "--seeds", "2"}} {
			args := append(append(append([]string{}, cmd...), "--no-faults"), extra...)
			code, out, errOut := runCLI(args...)
			require.Equal(t, 2, code, "%q: %s %s", args, out, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: %q", args, errOut)
			require.Contains(t, errOut, "--no-faults makes the plan exactly empty: drop --", "%q", args)
		}
	}
	code, _, errOut := runCLI("campaign", "--systematic", "1", "--no-faults")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "--systematic makes its own plans")
}

// TestNoFaultsReproduces: a failing --no-faults run prints, and a
// campaign records, a command with --no-faults that is the same run.
// (Seed 3: seed 2 draws asynchronous commits for every insert, which
// ack-before-flush cannot harm.)
func TestNoFaultsReproduces(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI("run", "--seed", "3", "--workload", "insert", "--bug", "ack-before-flush", "--no-faults", "--artifacts", dir)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, errOut, "reproduce: go run ./cmd/pgdst run --seed 3 --workload insert --bug ack-before-flush --no-faults\n")
	r, err := repro.Read(filepath.Join(dir, "seed-3.repro.json"))
	require.NoError(t, err)
	require.Equal(t, cli.EmptyPlan, r.Config.Faults, "the repro file keeps the plan explicitly empty")
	require.Equal(t, lastLine(out), "seed=3 verdict=fail trace="+r.Failure.Trace)

	code, out, _ = runCLI("campaign", "--seeds", "3", "--workload", "insert", "--bug", "ack-before-flush", "--no-faults")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "campaign: seeds 1..3 on ")
	require.Contains(t, out, " --workload insert --bug ack-before-flush --no-faults\n")
	require.Contains(t, out, "reproduce: go run ./cmd/pgdst run --seed 3 --workload insert --bug ack-before-flush --no-faults\n")
}

// TestShrunkEmptyPlanCommandIsExact: the reproduce command of a shrunk
// repro whose plan is empty gives the trace hash that 'pgdst replay' of
// the file gives (it used to need a --fault that never fires, which
// changed the hash).
func TestShrunkEmptyPlanCommandIsExact(t *testing.T) {
	dir := t.TempDir()
	var cfg simtest.Config
	for seed := uint64(1); seed <= 20 && cfg.Seed == 0; seed++ {
		c := simtest.DefaultConfig(seed)
		c.Bugs = c.Bugs.With(bugs.AckBeforeFlush)
		c.Faults = cli.EmptyPlan
		if !simtest.Run(c).OK {
			cfg = c
		}
	}
	require.NotZero(t, cfg.Seed, "no seed in 1..20 fails with ack-before-flush and no faults")
	path, _ := writeTestRepro(t, dir, cfg)
	min := filepath.Join(dir, "min.json")
	// The plan has nothing to lose; the workload shrinks to one client's
	// one transaction in a few runs.
	code, out, errOut := runCLI("shrink", path, "-o", min, "-q")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "(none: the failure needs no injected fault")
	r, err := repro.Read(min)
	require.NoError(t, err)
	require.Empty(t, cli.PlanLines(r.Config.Faults))
	require.NotEmpty(t, r.Config.Faults, "the plan stays explicit")
	require.Contains(t, r.Command, " --no-faults")
	require.NotContains(t, r.Command, "--fault ")
	require.Contains(t, out, "reproduce: "+r.Command+"\n")

	code, replayed, errOut := runCLI("replay", min)
	require.Equal(t, 0, code, replayed+errOut)
	require.Contains(t, replayed, "identical")
	code, ran, errOut := runCLI(shellFields(strings.TrimPrefix(r.Command, "go run ./cmd/pgdst "))...)
	require.Equal(t, 1, code, ran+errOut)
	require.Equal(t, lastLine(replayed), lastLine(ran))
	require.Equal(t, "seed="+itoa(r.Seed)+" verdict=fail trace="+r.Failure.Trace, lastLine(ran))
}

// TestConfigCommandEmptyPlans: an explicitly empty plan is --no-faults,
// or, with a crash step, the crash step alone; both are the config's run.
func TestConfigCommandEmptyPlans(t *testing.T) {
	c := simtest.DefaultConfig(4)
	c.Faults, c.FaultIntensity = "# nothing\n", 0.5
	cs := c
	cs.CrashStep = 2500
	for _, c := range []simtest.Config{c, cs} {
		cmd := cli.Command(c)
		code, out, errOut := runCLI(shellFields(strings.TrimPrefix(cmd, "go run ./cmd/pgdst "))...)
		require.Contains(t, []int{0, 1}, code, cmd+": "+errOut)
		require.Equal(t, cli.Verdict(simtest.Run(c)), lastLine(out), cmd)
	}
	require.Equal(t, "go run ./cmd/pgdst run --seed 4 --no-faults", cli.Command(c))
	require.Equal(t, "go run ./cmd/pgdst run --seed 4 --crash-step 2500", cli.Command(cs))
}
