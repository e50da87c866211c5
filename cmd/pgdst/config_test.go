package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeFile writes text to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// sameRun runs both command lines and requires the same exit status and
// the same verdict line (seed, verdict and trace hash).
func sameRun(t *testing.T, name string, a, b []string) {
	t.Helper()
	codeA, outA, errA := runCLI(a...)
	codeB, outB, errB := runCLI(b...)
	require.Contains(t, []int{0, 1}, codeA, "%s: %q: %s", name, a, errA)
	require.Equal(t, codeA, codeB, "%s: %q vs %q: %s %s", name, a, b, errA, errB)
	require.Regexp(t, verdictLine, lastLine(outA), name)
	require.Equal(t, lastLine(outA), lastLine(outB), "%s: %q vs %q", name, a, b)
}

// TestConfigFileIsTheSameRunAsFlags: a --config file gives the run the
// equivalent flags give, to the trace hash; flags given with it override
// its fields, and its seed is not used.
func TestConfigFileIsTheSameRunAsFlags(t *testing.T) {
	dir := t.TempDir()
	plan := "crash when op=write and file=heap and nth=2\npause for=10ms role=bgwriter when point=bufmgr-before-write and prob=0.5 times=3\n"
	planJSON, err := json.Marshal(plan)
	require.NoError(t, err)
	for _, c := range []struct {
		name, json  string
		with, flags []string // with: flags given along with the file
	}{
		{name: "empty object: the defaults", json: `{}`},
		{name: "its seed is not used", json: `{"seed": 99, "txns": 6}`, flags: []string{"--txns", "6"}},
		{
			name:  "workload and sizes",
			json:  `{"workload": "insert", "clients": 2, "txns": 5, "writes_max": 2, "swarm": false}`,
			flags: []string{"--workload", "insert", "--clients", "2", "--txns", "5", "--writes", "2", "--no-swarm"},
		},
		{
			name:  "durations, isolation, crash mode, timings",
			json:  `{"think_max_ns": 1500000, "client_timeout_ns": 50000000, "isolation": "repeatable-read", "crash_mode": "torn", "pg_timings": true}`,
			flags: []string{"--think-max", "1.5ms", "--client-timeout", "50ms", "--isolation", "repeatable-read", "--crash-mode", "torn", "--pg-timings"},
		},
		{
			name:  "autocommit inserts",
			json:  `{"workload": "insert", "autocommit": true, "clients": 1, "writes_max": 1}`,
			flags: []string{"--workload", "insert", "--autocommit", "--clients", "1", "--writes", "1"},
		},
		{
			name:  "small rows",
			json:  `{"workload": "insert", "row_bytes": 8}`,
			flags: []string{"--workload", "insert", "--row-bytes", "8"},
		},
		{
			name:  "asynchronous commit",
			json:  `{"workload": "insert", "async_commit": true, "txns": 6}`,
			flags: []string{"--workload", "insert", "--synchronous-commit", "off", "--txns", "6"},
		},
		{
			name:  "a bug and a plan: a failing run",
			json:  `{"bugs": "ack-before-flush", "faults": ` + string(planJSON) + `, "crash_step": 3000}`,
			flags: []string{"--bug", "ack-before-flush", "--fault", "crash when op=write and file=heap and nth=2", "--fault", "pause for=10ms role=bgwriter when point=bufmgr-before-write and prob=0.5 times=3", "--crash-step", "3000"},
		},
		{
			name:  "intensity on a drawn plan",
			json:  `{"fault_intensity": 0.5}`,
			flags: []string{"--fault-intensity", "0.5"},
		},
		{
			name:  "a flag overrides its field",
			json:  `{"workload": "insert", "clients": 2, "txns": 5}`,
			with:  []string{"--txns", "3"},
			flags: []string{"--workload", "insert", "--clients", "2", "--txns", "3"},
		},
		{
			name:  "a flag given at its default still overrides",
			json:  `{"workload": "insert", "swarm": false}`,
			with:  []string{"--workload", "mixed", "--no-swarm=false"},
			flags: nil,
		},
		{
			name:  "--bug replaces the file's bugs",
			json:  `{"bugs": "ack-before-flush,early-clean"}`,
			with:  []string{"--bug", "early-clean"},
			flags: []string{"--bug", "early-clean"},
		},
		{
			name:  "--fault replaces the file's plan",
			json:  `{"bugs": "ack-before-flush", "faults": ` + string(planJSON) + `}`,
			with:  []string{"--fault", "crash when step>=2500"},
			flags: []string{"--bug", "ack-before-flush", "--fault", "crash when step>=2500"},
		},
		{
			name:  "--no-faults empties the file's plan, crash step and intensity",
			json:  `{"bugs": "ack-before-flush", "faults": ` + string(planJSON) + `, "crash_step": 3000, "fault_intensity": 0.5}`,
			with:  []string{"--no-faults"},
			flags: []string{"--bug", "ack-before-flush", "--no-faults"},
		},
	} {
		path := writeFile(t, dir, "c.json", c.json)
		for _, seed := range []string{"2", "5"} {
			withFile := append([]string{"run", "--seed", seed, "--config", path}, c.with...)
			sameRun(t, c.name, withFile, append([]string{"run", "--seed", seed}, c.flags...))
		}
	}
}

// TestConfigFileRepro: a repro file is a --config file too. With its own
// seed it is the recorded run; the run's reproduce command, rendered from
// the config, needs no file and is the same run again.
func TestConfigFileRepro(t *testing.T) {
	dir := t.TempDir()
	path, r := writeTestRepro(t, dir, plantedConfig(t))
	seed := itoa(r.Seed)
	code, out, errOut := runCLI("run", "--config", path, "--seed", seed)
	require.Equal(t, 1, code, out+errOut)
	require.Equal(t, "seed="+seed+" verdict=fail trace="+r.Failure.Trace, lastLine(out))
	require.NotContains(t, errOut, "does not use", "--seed names the file's seed")
	m := strings.TrimPrefix(lastLine(errOut), "reproduce: go run ./cmd/pgdst ")
	require.NotEqual(t, lastLine(errOut), m, errOut)
	require.NotContains(t, m, "--config", "the command stands alone")
	code, again, _ := runCLI(shellFields(m)...)
	require.Equal(t, 1, code, again)
	require.Equal(t, lastLine(out), lastLine(again))

	// Without --seed the run is seed 1, and stderr says so.
	code, out, errOut = runCLI("run", "--config", path, "--txns", "2")
	require.Contains(t, []int{0, 1}, code, out+errOut)
	require.Regexp(t, `^seed=1 `, lastLine(out))
	if r.Seed != 1 {
		require.Contains(t, errOut, "names seed "+seed+", which --config does not use")
	}
}

// TestCampaignConfigFile: a campaign from a --config file runs the seeds
// the equivalent flags run, and records the same configuration.
func TestCampaignConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "c.json", `{"workload": "insert", "txns": 6, "bugs": "ack-before-flush", "seed": 40}`)
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	codeA, outA, _ := runCLI("campaign", "--seeds", "6", "--jobs", "2", "--config", path, "--clients", "3", "--json", a)
	codeB, outB, _ := runCLI("campaign", "--seeds", "6", "--jobs", "2", "--workload", "insert", "--txns", "6", "--bug", "ack-before-flush", "--clients", "3", "--json", b)
	require.Equal(t, 1, codeA, outA)
	require.Equal(t, codeA, codeB, outB)
	ra, rb := mustReadCampaign(t, a), mustReadCampaign(t, b)
	require.Equal(t, rb.Params.Config, ra.Params.Config)
	require.Equal(t, rb.Totals.Steps, ra.Totals.Steps)
	require.Equal(t, len(rb.FailingSeeds), len(ra.FailingSeeds))
	for i, f := range ra.FailingSeeds {
		require.Equal(t, rb.FailingSeeds[i].Seed, f.Seed)
		require.Equal(t, rb.FailingSeeds[i].Trace, f.Trace)
		// Rendered from the config, the command needs no file.
		require.NotContains(t, f.Repro, "--config")
		code, out, _ := runCLI(shellFields(strings.TrimPrefix(f.Repro, "go run ./cmd/pgdst "))...)
		require.Equal(t, 1, code, f.Repro)
		require.Equal(t, "seed="+itoa(f.Seed)+" verdict=fail trace="+f.Trace, lastLine(out), f.Repro)
	}
}

// TestConfigFileBadIsOneLine: every kind of bad --config file is one line
// naming the file, and exit status 2, for run and campaign alike.
func TestConfigFileBadIsOneLine(t *testing.T) {
	dir := t.TempDir()
	r := failingRepro(t)
	good, err := json.Marshal(r)
	require.NoError(t, err)
	for name, text := range map[string]string{
		"empty":                "",
		"not json":             "workload=insert",
		"truncated":            `{"workload": "insert",`,
		"trailing garbage":     `{"workload": "insert"} x`,
		"two objects":          `{}{}`,
		"an array":             `[{"workload": "insert"}]`,
		"null":                 `null`,
		"unknown field":        `{"workload": "insert", "colour": "red"}`,
		"another case":         `{"Workload": "insert"}`,
		"a flag's name":        `{"writes": 2}`,
		"wrong type":           `{"txns": "5"}`,
		"duration as text":     `{"think_max_ns": "2ms"}`,
		"negative seed":        `{"seed": -1}`,
		"null field":           `{"clients": null}`,
		"invalid value":        `{"clients": 0}`,
		"unknown bug":          `{"bugs": "no-such-bug"}`,
		"bad plan":             `{"faults": "crash when (\n"}`,
		"async needs insert":   `{"async_commit": true}`,
		"repro: other format":  strings.Replace(string(good), `"format":1`, `"format":2`, 1),
		"repro: unknown field": strings.Replace(string(good), `"format":1`, `"format":1,"colour":"red"`, 1),
		"repro: no failure":    strings.Replace(string(good), `"checker":"`+r.Failure.Checker+`"`, `"checker":""`, 1),
	} {
		path := writeFile(t, dir, "bad.json", text)
		for _, args := range [][]string{{"run", "--config", path}, {"campaign", "--seeds", "2", "--config", path}} {
			code, out, errOut := runCLI(args...)
			require.Equal(t, 2, code, "%s: %q: %s %s", name, args, out, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "%s: %q", name, errOut)
			require.Contains(t, errOut, path, name)
			require.Empty(t, out, name)
		}
	}
	for _, path := range []string{filepath.Join(dir, "missing.json"), dir} {
		code, _, errOut := runCLI("run", "--config", path)
		require.Equal(t, 2, code, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
		require.Contains(t, errOut, path)
	}
	// Flags are checked against the file too: --txns 0 is no better with it.
	path := writeFile(t, dir, "ok.json", `{}`)
	code, _, errOut := runCLI("run", "--config", path, "--txns", "0")
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "-txns: must be in [1, 10000]")
}
