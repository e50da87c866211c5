package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgdst/pgdst/harness/probe"
	"github.com/pgdst/pgdst/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// TestProbeBadInput: a probe's bad flags are one line and exit 2, before
// any connection is tried.
func TestProbeBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"probe"},
		{"probe", "--target", "postgres://x", "--isolation", "snapshot"},
		{"probe", "--target", "postgres://x", "--workload", "insert"},
		{"probe", "--target", "postgres://x", "--clients", "0"},
		{"probe", "--target", "postgres://x", "--duration", "0"},
		{"probe", "--target", "postgres://x", "--fault-every", "1s"},
		{"probe", "--target", "postgres://x", "--workload", "bank", "--unsafe", "cas"},
		{"probe", "--target", "postgres://x", "extra"},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "args %q: stdout %q stderr %q", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "args %q: want one line, got %q", args, errOut)
	}
}

// TestProbeCommand: pgdst probe against a real PostgreSQL prints the seed
// and a verdict per check, exits 0, and writes its JSON; with a planted
// client bug it exits 1 naming the checker and the command to repeat it.
func TestProbeCommand(t *testing.T) {
	s := pgtest.Start(t)
	out := filepath.Join(t.TempDir(), "probe.json")
	code, stdout, stderr := runCLI("probe", "--target", s.URL, "--isolation", "repeatable-read", "--clients", "4", "--ops", "400", "--seed", "42", "--json", out, "-q")
	require.Equal(t, 0, code, "stdout %s\nstderr %s", stdout, stderr)
	require.Contains(t, stderr, "seed 42")
	require.Contains(t, stdout, "PASS (seed 42)")
	for _, name := range []string{"linearizability", "bank", "durability", "atomicity", "isolation"} {
		require.Regexp(t, "(?m)^"+name+" +ok ", stdout)
	}
	var rep probe.Report
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, "pass", rep.Verdict)
	require.Equal(t, uint64(42), rep.Params.Seed)
	require.Equal(t, 400, rep.Totals.RegisterOps+rep.Totals.ListTxns+rep.Totals.BankTxns, "--ops bounds the operations over all clients")

	code, stdout, stderr = runCLI("probe", "--target", s.URL, "--workload", "bank", "--duration", "1500ms", "--seed", "3", "--unsafe", "transfers", "-q")
	require.Equal(t, 1, code, "stdout %s\nstderr %s", stdout, stderr)
	require.Contains(t, stdout, "FAIL: bank (seed 3)")
	require.Contains(t, stderr, "pgdst probe --target '"+s.URL+"' --workload bank --isolation read-committed --clients 8 --seed 3 --duration 1.5s --unsafe transfers")
}
