package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExplainShrunkRepro: the README's path from a red verdict to its
// cause: a failing seed's repro file, shrunk, then explained. The account
// names the mechanism of the planted bug (ack-before-flush) in a
// PostgreSQL user's words.
func TestExplainShrunkRepro(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	min := filepath.Join(dir, "min.json")
	code, out, errOut := runCLI("shrink", path, "-o", min, "--max-attempts", "60", "-q")
	require.Equal(t, 0, code, out+errOut)
	code, out, errOut = runCLI("explain", min)
	require.Equal(t, 0, code, out+errOut)
	require.Empty(t, errOut)
	require.Contains(t, out, "failed durability")
	require.Contains(t, out, "acknowledged before its commit record was durable")
	require.Contains(t, out, "its commit record is at")
	require.Contains(t, out, "WAL was durable only to")
}

// TestExplainPassingRepro: a repro that passes with this build has nothing
// to explain: exit 1, one line.
func TestExplainPassingRepro(t *testing.T) {
	dir := t.TempDir()
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	// The same run without the bug passes.
	b = []byte(strings.Replace(string(b), `"bugs": "ack-before-flush"`, `"bugs": "none"`, 1))
	require.Contains(t, string(b), `"bugs": "none"`)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	code, out, errOut := runCLI("explain", path)
	require.Equal(t, 1, code, out+errOut)
	require.Empty(t, out)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, "nothing to explain")
}

// TestExplainBadInput: every bad command line or file is one line and
// exit status 2.
func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{not json"), 0o644))
	// A well-formed repro whose config no run can honour.
	path, _ := writeTestRepro(t, dir, plantedConfig(t))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	invalid := filepath.Join(dir, "invalid.json")
	require.NoError(t, os.WriteFile(invalid, []byte(strings.Replace(string(b), `"clients": `, `"clients": 1000`, 1)), 0o644))
	for _, args := range [][]string{
		{"explain"},
		{"explain", "a.json", "b.json"},
		{"explain", filepath.Join(dir, "missing.repro.json")},
		{"explain", bad},
		{"explain", "--bogus", bad},
		{"explain", invalid},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "%v: %s%s", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%v: %q", args, errOut)
		require.True(t, strings.HasPrefix(errOut, "pgdst explain: "), "%v: %q", args, errOut)
	}
	code, out, _ := runCLI("explain", "-h")
	require.Equal(t, 0, code)
	require.Contains(t, out, "usage: pgdst explain [flags] FILE")
}
