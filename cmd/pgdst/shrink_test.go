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
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
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

	min, err := repro.Read(strings.TrimSuffix(path, ".json") + ".min.json")
	require.NoError(t, err)
	require.Equal(t, orig.Failure.Checker, min.Failure.Checker)
	require.LessOrEqual(t, min.Config.Clients, orig.Config.Clients)
	require.LessOrEqual(t, min.Config.Txns, orig.Config.Txns)
	require.LessOrEqual(t, min.Config.WritesMax, orig.Config.WritesMax)
	require.LessOrEqual(t, len(cli.PlanLines(min.Config.Faults)), len(cli.PlanLines(orig.Config.Faults)))
	require.True(t, min.Config.Bugs.Has(bugs.AckBeforeFlush))
	require.NotEmpty(t, min.Config.Faults, "the plan stays explicit")
	require.Less(t, min.Config.Clients*min.Config.Txns, orig.Config.Clients*orig.Config.Txns, "the workload shrank")
	require.Equal(t, cli.Command(min.Config), min.Command)
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
	var got []*repro.File
	var logs []string
	for i, o := range []string{"a.json", "b.json"} {
		o = filepath.Join(dir, o)
		code, out, errOut := runCLI("shrink", "-o", o, path)
		require.Equal(t, 0, code, "%d: %s%s", i, out, errOut)
		r, err := repro.Read(o)
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
	r, err := repro.Read(o)
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
	require.NoError(t, repro.Write(path, r))
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

// TestConfigCommandRunsTheConfig: the command cli.Command prints runs
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
		cmd := cli.Command(c)
		code, out, _ := runCLI(shellFields(strings.TrimPrefix(cmd, "go run ./cmd/pgdst "))...)
		res := simtest.Run(c)
		require.Equal(t, cli.Verdict(res), lastLine(out), cmd)
		require.Equal(t, map[bool]int{true: 0, false: 1}[res.OK], code, cmd)
	}
	require.Equal(t, "go run ./cmd/pgdst run --seed 3", cli.Command(simtest.DefaultConfig(3)))
}
