package main

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// requireSelfContained: no reference to anything outside the page but
// relative links.
func requireSelfContained(t *testing.T, page string) {
	t.Helper()
	require.NotContains(t, page, "http://")
	require.NotContains(t, page, "https://")
	require.NotRegexp(t, `<(script|img|iframe)[^>]*\ssrc=`, page)
	require.NotContains(t, page, "<link")
	require.NotContains(t, page, "@import")
	require.NotRegexp(t, `url\(`, page)
}

// TestReportWithoutTrace: with only the repro file, report re-runs it for
// the trace and writes one page with the verdict, the lanes and the crash.
func TestReportWithoutTrace(t *testing.T) {
	dir := t.TempDir()
	cfg := plantedConfig(t)
	_, r := writeTestRepro(t, dir, cfg)
	code, out, errOut := runCLI("report", dir)
	require.Equal(t, 0, code, out+errOut)
	want := filepath.Join(dir, fmt.Sprintf("report-seed-%d.html", cfg.Seed))
	require.Contains(t, out, "wrote "+want)
	require.Contains(t, out, "re-running")
	b, err := os.ReadFile(want)
	require.NoError(t, err)
	page := string(b)
	require.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	require.Contains(t, page, "FAIL durability")
	require.Contains(t, page, html.EscapeString(r.Failure.Failures[0]))
	for _, lane := range []string{"postmaster", "checkpointer", "bgwriter", "walwriter", "startup", "client-0", "backend 1", "autovacuum launcher"} {
		require.Regexp(t, `class="lane-name"[^>]*>p\d+ `+lane+`<`, page, lane)
	}
	require.Contains(t, page, `class="crash" id="crash-1"`, "the crash marker on the axis")
	require.Contains(t, page, `class="mk crash"`, "the crash line across the lanes")
	require.Contains(t, page, "identical: trace "+r.Failure.Trace)
	for _, l := range cli.PlanLines(r.Config.Faults) {
		require.Contains(t, page, html.EscapeString(l))
	}
	require.NotContains(t, page, "porcupine")
	requireSelfContained(t, page)
}

// TestReportWithArtifacts: the recorded events are read rather than the
// run repeated, the readable trace is linked, and the porcupine visualization is linked relatively, from
// wherever -o puts the page.
func TestReportWithArtifacts(t *testing.T) {
	dir := t.TempDir()
	cfg := plantedConfig(t)
	writeTestRepro(t, dir, cfg)
	name := fmt.Sprintf("seed-%d", cfg.Seed)
	f, err := os.Create(filepath.Join(dir, name+".trace.txt"))
	require.NoError(t, err)
	ef, err := os.Create(filepath.Join(dir, name+".events.jsonl"))
	require.NoError(t, err)
	events := world.NewEventWriter(ef)
	c := cfg
	c.TraceOut, c.Events = f, events
	simtest.Run(c)
	require.NoError(t, f.Close())
	require.NoError(t, events.Err())
	require.NoError(t, ef.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".porcupine.html"), []byte("<html></html>"), 0o644))
	// Another failing seed in the same directory: --seed picks one.
	other := cfg
	other.Seed = cfg.Seed + 1
	for simtest.Run(other).OK {
		other.Seed++
	}
	writeTestRepro(t, dir, other)

	page := filepath.Join(dir, "pages", "one.html")
	code, out, errOut := runCLI("report", dir, "--seed", fmt.Sprint(cfg.Seed), "-o", page)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "events from "+filepath.Join(dir, name+".events.jsonl"))
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	require.Contains(t, string(b), `class="porcupine" href="../`+name+`.porcupine.html"`)
	require.Contains(t, string(b), `href="../`+name+`.trace.txt"`)
	require.Contains(t, string(b), "the recorded events "+name+".events.jsonl")
	require.Contains(t, string(b), `class="crash" id="crash-1"`, "the crash, from the recorded events")
	requireSelfContained(t, strings.Replace(string(b), "../"+name+".porcupine.html", "", -1))

	// Without --seed, a page per repro file.
	code, out, errOut = runCLI("report", dir)
	require.Equal(t, 0, code, out+errOut)
	require.Equal(t, 2, strings.Count(out, "wrote "), out)
	require.FileExists(t, filepath.Join(dir, fmt.Sprintf("report-seed-%d.html", other.Seed)))
}

// TestReportIsBounded: a lane draws at most --max-events marks, thinned
// over the whole run, and the page says so.
func TestReportIsBounded(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	code, out, errOut := runCLI("report", path, "--max-events", "10")
	require.Equal(t, 0, code, out+errOut)
	m := regexp.MustCompile(`wrote (\S+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	require.Equal(t, filepath.Join(dir, "report-"+strings.TrimSuffix(filepath.Base(path), ".repro.json")+".html"), m[1])
	b, err := os.ReadFile(m[1])
	require.NoError(t, err)
	require.Contains(t, string(b), "At most 10 I/O events are drawn per lane")
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := t.TempDir()
	cfg := plantedConfig(t)
	writeTestRepro(t, dir, cfg)
	other := cfg
	other.Seed++
	for simtest.Run(other).OK {
		other.Seed++
	}
	writeTestRepro(t, dir, other)
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "seed-1.repro.json"), []byte(`{"format":1,`), 0o644))
	for _, args := range [][]string{
		{"report"},
		{"report", filepath.Join(dir, "missing")},
		{"report", empty},
		{"report", dir, "-o", filepath.Join(dir, "x.html")}, // two repros, one page
		{"report", dir, "--seed", "999999"},
		{"report", dir, "--max-events", "0"},
		{"report", bad},
		{"report", filepath.Join(bad, "seed-1.repro.json")},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "%q: %s %s", args, out, errOut)
		require.NotContains(t, errOut, "goroutine")
		lines := strings.Count(errOut, "\n")
		require.True(t, lines == 1 || (lines == 2 && strings.Contains(errOut, "skipped")), "%q: %q", args, errOut)
	}
}
