package serve

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/harness/probe"
)

// restartScript is a probe's --fault-cmd against pgdst serve run as a
// subprocess: kill -9 the server (when one runs), start it again on the
// same data directory and port (crash recovery), and return once it
// listens. The server's output goes to a file, so that it holds none of
// the fault command's pipes.
const restartScript = `#!/bin/sh
if [ -s "$PIDFILE" ]; then kill -9 "$(cat "$PIDFILE")" 2>/dev/null; fi
: > "$LOG"
"$BIN" serve --data "$DATA" --listen "$ADDR" -q > "$LOG" 2>&1 < /dev/null &
echo $! > "$PIDFILE"
i=0
until grep -q 'listening on' "$LOG"; do
	if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then cat "$LOG"; exit 1; fi
	i=$((i + 1)); if [ $i -gt 3000 ]; then echo 'pgdst serve did not listen within 60 s'; exit 1; fi
	sleep 0.02
done
`

// TestProbeAgainstServe points pgdst probe's workloads and checkers at
// pgdst serve, as at PostgreSQL 15 (harness/probe's tests): the mixed
// workload at each isolation level, then again with kill -9 and a restart
// on the same files at seeded moments (--fault-cmd). Nothing may be found
// that the level allows not: no lost acknowledged append, no
// non-linearizable register, no unbalanced bank snapshot. Short runs, to
// keep the suite fast; bench/probe_runs.sh gives the figures.
func TestProbeAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pgdst and runs it as a subprocess; skipped with -short")
	}
	bin := buildPgdst(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(data, 0o700))
	script := filepath.Join(dir, "restart.sh")
	require.NoError(t, os.WriteFile(script, []byte(restartScript), 0o700))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pidfile := filepath.Join(dir, "serve.pid")
	env := []string{"BIN=" + bin, "DATA=" + data, "ADDR=" + addr, "PIDFILE=" + pidfile, "LOG=" + filepath.Join(dir, "serve.log")}
	// The fault command as the probe runs it: sh -c with the variables
	// set on its command line.
	faultCmd := strings.Join(append(quoteAll(env), script), " ")
	start := exec.Command("sh", "-c", faultCmd)
	out, err := start.CombinedOutput()
	require.NoError(t, err, "starting pgdst serve: %s", out)
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	})
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", addr)

	run := func(t *testing.T, o probe.Options) *probe.Result {
		o.Target, o.Clients = url, 6
		if testing.Verbose() {
			o.Log = os.Stderr
		}
		res, err := probe.Run(context.Background(), o)
		require.NoError(t, err)
		var b strings.Builder
		res.Print(&b)
		t.Log("\n" + b.String())
		require.True(t, res.OK(), "first failing check: %s", res.Checker())
		rep := res.Report()
		require.Positive(t, rep.Totals.RegisterOps)
		require.Positive(t, rep.Totals.ListTxns)
		require.Positive(t, rep.Totals.BankReads)
		require.Zero(t, res.GaveUp)
		return res
	}
	for _, iso := range probe.Isolations {
		t.Run(iso, func(t *testing.T) {
			res := run(t, probe.Options{Isolation: iso, Duration: 1500 * time.Millisecond, Seed: 11})
			if iso != probe.Isolations[0] {
				require.Positive(t, res.Errors["ERROR 40001"], "no serialization failure at %s", iso)
			}
		})
	}
	for _, iso := range probe.Isolations {
		t.Run(iso+"/kill-9", func(t *testing.T) {
			res := run(t, probe.Options{Isolation: iso, Duration: 3 * time.Second, Seed: 12, FaultCmd: faultCmd, FaultEvery: time.Second})
			require.NotEmpty(t, res.Faults)
			for _, f := range res.Faults {
				require.Empty(t, f.Err, "the fault command failed: %s", f.Output)
			}
			require.Positive(t, res.Errors["connection"], "no client lost its connection to a kill -9")
		})
	}
}

// quoteAll quotes the values of NAME=value assignments for sh.
func quoteAll(assignments []string) []string {
	out := make([]string, len(assignments))
	for i, a := range assignments {
		name, val, _ := strings.Cut(a, "=")
		out[i] = name + "='" + strings.ReplaceAll(val, "'", `'\''`) + "'"
	}
	return out
}
