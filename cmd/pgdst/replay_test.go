package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// plantedConfig is the default config of the first seed that the planted
// bug ack-before-flush makes fail with the durability checker.
func plantedConfig(t testing.TB) simtest.Config {
	t.Helper()
	set, err := bugs.ParseSet("ack-before-flush")
	require.NoError(t, err)
	for seed := uint64(1); seed <= 50; seed++ {
		c := simtest.DefaultConfig(seed)
		c.Bugs = set
		if res := simtest.Run(c); !res.OK && res.Checker == simtest.CheckDurability {
			return c
		}
	}
	t.Fatal("no seed in 1..50 fails durability with ack-before-flush")
	return simtest.Config{}
}

// writeTestRepro runs cfg and writes its repro file into dir, as the
// campaign's --artifacts does.
func writeTestRepro(t testing.TB, dir string, cfg simtest.Config) (string, *repro.File) {
	t.Helper()
	res := simtest.Run(cfg)
	require.False(t, res.OK, "the config must fail")
	r := repro.New(cfg, res, cli.Command(cfg))
	path := filepath.Join(dir, "seed-"+itoa(cfg.Seed)+".repro.json")
	require.NoError(t, repro.Write(path, r))
	return path, r
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func TestReplayIdentical(t *testing.T) {
	path, r := writeTestRepro(t, t.TempDir(), plantedConfig(t))
	code, out, errOut := runCLI("replay", path)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "identical")
	require.Contains(t, out, "fails durability again, trace "+r.Failure.Trace)
	require.Equal(t, "seed="+itoa(r.Seed)+" verdict=fail trace="+r.Failure.Trace, lastLine(out))
	require.Empty(t, errOut)
}

func TestReplayTamperedTraceDiffers(t *testing.T) {
	dir := t.TempDir()
	path, r := writeTestRepro(t, dir, plantedConfig(t))
	r.Failure.Trace = "0123456789abcdef"
	require.NoError(t, repro.Write(path, r))
	code, out, _ := runCLI("replay", path)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "differs")
	require.Regexp(t, `trace hash: recorded 0123456789abcdef, now [0-9a-f]{16}`, out)
	require.NotContains(t, out, "checker:")

	// Another checker recorded: the checker differs too.
	r.Failure.Checker = simtest.CheckAtomicity
	require.NoError(t, repro.Write(path, r))
	code, out, _ = runCLI("replay", path)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "checker:    recorded atomicity, now durability")
}

func TestReplayOtherBuild(t *testing.T) {
	dir := t.TempDir()
	path, r := writeTestRepro(t, dir, plantedConfig(t))
	r.Build = "github.com/pgdst/pgdst@v0.0.0 deadbeef"
	require.NoError(t, repro.Write(path, r))

	code, out, errOut := runCLI("replay", path)
	require.Equal(t, 2, code, out+errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, "repro file from build github.com/pgdst/pgdst@v0.0.0 deadbeef, this is build "+repro.BuildID())
	require.Empty(t, out)

	// --force replays it, before or after the file.
	for _, args := range [][]string{{"replay", path, "--force"}, {"replay", "--force", path}} {
		code, out, errOut = runCLI(args...)
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "identical")
		require.Contains(t, errOut, "replaying anyway")
	}
}

func TestReplayBadFiles(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	noFailure := strings.Replace(string(good), `"checker": "durability"`, `"checker": ""`, 1)
	badPlan := strings.Replace(string(good), `"faults": "`, `"faults": "crsh\n`, 1)
	cases := map[string][]string{
		"truncated":   {"replay", write("truncated.json", good[:len(good)/2])},
		"garbage":     {"replay", write("garbage.json", []byte("\x00\x01not json at all"))},
		"empty":       {"replay", write("empty.json", nil)},
		"trailing":    {"replay", write("trailing.json", append(append([]byte{}, good...), []byte("{}")...))},
		"wrong type":  {"replay", write("array.json", []byte("[1, 2, 3]"))},
		"no failure":  {"replay", write("nofail.json", []byte(noFailure))},
		"bad plan":    {"replay", write("badplan.json", []byte(badPlan))},
		"missing":     {"replay", filepath.Join(dir, "no-such-file.json")},
		"no file":     {"replay"},
		"two files":   {"replay", path, path},
		"bad flag":    {"replay", path, "--frobnicate"},
		"a directory": {"replay", dir},
	}
	for name, args := range cases {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "%s: %s %s", name, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%s: want one line, got %q", name, errOut)
		require.NotContains(t, errOut, "goroutine", name)
		require.NotContains(t, errOut, "panic", name)
	}
}

// TestReplayCrashStepRepro: a run with --crash-step and no plan of its own
// replays identically (the drawn plan already holds the crash step's crash;
// repro.New must not let it be added a second time).
func TestReplayCrashStepRepro(t *testing.T) {
	cfg := plantedConfig(t)
	for cfg.CrashStep = 2500; simtest.Run(cfg).OK; cfg.CrashStep += 250 {
	}
	path, r := writeTestRepro(t, t.TempDir(), cfg)
	require.Zero(t, r.Config.CrashStep)
	require.Contains(t, r.Config.Faults, "step>=")
	code, out, errOut := runCLI("replay", path)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "identical")
}

// failingRepro is the repro of plantedConfig's run.
func failingRepro(t testing.TB) *repro.File {
	cfg := plantedConfig(t)
	return repro.New(cfg, simtest.Run(cfg), cli.Command(cfg))
}
