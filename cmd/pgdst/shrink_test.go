package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest"
)

// TestShrinkPlantedBug: the shrunk repro of a planted bug still fails the
// same checker, is no bigger in any dimension, replays identically, and its
// command fails the same way.
func TestShrinkPlantedBug(t *testing.T) {
	dir := t.TempDir()
	cfg := plantedConfig(t)
	path, orig := writeTestRepro(t, dir, cfg)
	code, out, errOut := runCLI("shrink", path, "--time-budget", "15s")
	require.Equal(t, 0, code, out+errOut)
	require.Regexp(t, `(?m)^.*: still fails durability$`, out)
	require.Contains(t, out, "wrote "+strings.TrimSuffix(path, ".json")+".min.json")

	min, err := readRepro(strings.TrimSuffix(path, ".json") + ".min.json")
	require.NoError(t, err)
	require.Equal(t, orig.Failure.Checker, min.Failure.Checker)
	require.LessOrEqual(t, min.Config.Clients, orig.Config.Clients)
	require.LessOrEqual(t, min.Config.Txns, orig.Config.Txns)
	require.LessOrEqual(t, min.Config.WritesMax, orig.Config.WritesMax)
	require.LessOrEqual(t, len(planLines(min.Config.Faults)), len(planLines(orig.Config.Faults)))
	require.True(t, min.Config.Bugs.Has(bugs.AckBeforeFlush))
	require.NotEmpty(t, min.Config.Faults, "the plan stays explicit")
	require.Less(t, min.Config.Clients*min.Config.Txns, orig.Config.Clients*orig.Config.Txns, "the workload shrank")
	require.Equal(t, configCommand(min.Config), min.Command)
	require.Contains(t, out, "reproduce: "+min.Command)

	code, out, errOut = runCLI("replay", filepath.Join(dir, filepath.Base(path[:len(path)-5])+".min.json"))
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "identical")

	// The command line is the same run: the same failure and trace hash.
	args := shellFields(strings.TrimPrefix(min.Command, "go run ./cmd/pgdst "))
	code, out, _ = runCLI(args...)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "FAIL durability")
	require.Equal(t, "seed="+itoa(min.Seed)+" verdict=fail trace="+min.Failure.Trace, lastLine(out))
}

// TestShrinkIsDeterministic: the same file shrinks to the same repro.
func TestShrinkIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	var got []*Repro
	var logs []string
	for i, o := range []string{"a.json", "b.json"} {
		o = filepath.Join(dir, o)
		code, out, errOut := runCLI("shrink", "-o", o, path)
		require.Equal(t, 0, code, "%d: %s%s", i, out, errOut)
		r, err := readRepro(o)
		require.NoError(t, err)
		got = append(got, r)
		// The steps, without the wall time and the file name.
		logs = append(logs, regexp.MustCompile(`(?m)^(shrunk in .*), [0-9.]+[mµn]?s:|^wrote .*$`).ReplaceAllString(out, "$1"))
	}
	require.Equal(t, got[0], got[1])
	require.Equal(t, logs[0], logs[1])
}

// TestShrinkBounds: an attempt limit of one keeps the input as it is, says
// it was cut, and still writes a repro (exit 0).
func TestShrinkBounds(t *testing.T) {
	dir := t.TempDir()
	path, orig := writeTestRepro(t, dir, plantedConfig(t))
	o := filepath.Join(dir, "cut.json")
	code, out, errOut := runCLI("shrink", path, "-o", o, "--max-attempts", "1")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "stopped after 1 runs")
	r, err := readRepro(o)
	require.NoError(t, err)
	require.Equal(t, orig.Config, r.Config)
	require.Equal(t, orig.Failure, r.Failure)

	code, out, errOut = runCLI("shrink", path, "-o", o, "--time-budget", "1ns")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "stopped at the time budget")
}

// TestShrinkInputThatPasses: a repro that does not fail exits 1 and says so.
func TestShrinkInputThatPasses(t *testing.T) {
	dir := t.TempDir()
	path, r := writeTestRepro(t, dir, plantedConfig(t))
	r.Config.Bugs = 0
	require.True(t, simtest.Run(r.Config).OK)
	require.NoError(t, writeRepro(path, r))
	code, out, errOut := runCLI("shrink", path)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, errOut, "does not fail")
	_, err := os.Stat(strings.TrimSuffix(path, ".json") + ".min.json")
	require.True(t, os.IsNotExist(err), "no repro written")
}

func TestShrinkBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "g.json")
	require.NoError(t, os.WriteFile(garbage, []byte(`{"format": 1, "seed":`), 0o644))
	for _, args := range [][]string{
		{"shrink"},
		{"shrink", filepath.Join(dir, "missing.json")},
		{"shrink", garbage},
		{"shrink", garbage, "--time-budget", "0s"},
		{"shrink", garbage, "--max-attempts", "0"},
		{"shrink", garbage, "--time-budget", "soon"},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "%q: %s %s", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: %q", args, errOut)
	}
}

// TestConfigCommandRunsTheConfig: the command configCommand prints runs
// the same config (the same trace hash).
func TestConfigCommandRunsTheConfig(t *testing.T) {
	set, err := bugs.ParseSet("ack-before-flush,early-clean")
	require.NoError(t, err)
	configs := []simtest.Config{simtest.DefaultConfig(3)}
	c := simtest.DefaultConfig(5)
	c.Workload, c.Isolation, c.AsyncCommit = simtest.WorkloadInsert, simtest.IsoRepeatableRead, true
	c.Clients, c.Txns, c.WritesMax, c.ThinkMax = 2, 5, 2, 1500*time.Microsecond
	c.CrashMode, c.Swarm, c.ClientTimeout, c.Bugs = "torn", false, 50*time.Millisecond, set
	c.Faults = "crash when op=write and file=heap and nth=2\npause for=10ms role=bgwriter when point=bufmgr-before-write and prob=0.5 times=3\n"
	configs = append(configs, c)
	c.CrashStep, c.PGTimings = 3000, true
	configs = append(configs, c)
	for _, c := range configs {
		cmd := configCommand(c)
		code, out, _ := runCLI(shellFields(strings.TrimPrefix(cmd, "go run ./cmd/pgdst "))...)
		res := simtest.Run(c)
		require.Equal(t, verdictOf(res), lastLine(out), cmd)
		require.Equal(t, map[bool]int{true: 0, false: 1}[res.OK], code, cmd)
	}
	require.Equal(t, "go run ./cmd/pgdst run --seed 3", configCommand(simtest.DefaultConfig(3)))
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
	sh := newShrinkerRun(cfg, 1000, time.Now().Add(time.Minute), func(s string) { log = append(log, s) }, fails)
	sh.shrink()
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
	require.Equal(t, "go run ./cmd/pgdst run --seed 9 --workload insert --clients 3 --txns 5 --writes 1 --no-swarm --fault 'pause for=37ms role=walwriter' --fault 'crash when nth=20'", configCommand(got))
}
