package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = realMain(args, &o, &e)
	return code, o.String(), e.String()
}

var verdictLine = regexp.MustCompile(`^seed=(\d+) verdict=(ok|fail) trace=([0-9a-f]{16})$`)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestRunPrintsVerdictLast(t *testing.T) {
	code, out, _ := runCLI("run", "--seed", "7")
	require.Equal(t, 0, code, out)
	m := verdictLine.FindStringSubmatch(lastLine(out))
	require.NotNil(t, m, "last line %q", lastLine(out))
	require.Equal(t, "7", m[1])
	require.Equal(t, simtest.Run(simtest.DefaultConfig(7)).TraceString(), m[3])
}

func TestBadInputIsOneLineAndExit2(t *testing.T) {
	cases := [][]string{
		{},
		{"frobnicate"},
		{"run", "--seed", "abc"},
		{"run", "--seed", "-1"},
		{"run", "--no-such-flag"},
		{"run", "--clients", "0"},
		{"run", "--workload", "insert", "--row-bytes", "7"},
		{"run", "--workload", "insert", "--row-bytes", "2001"},
		{"run", "--crash-mode", "sideways"},
		{"run", "--bug", "no-such-bug"},
		{"run", "extra-arg"},
		{"run", "--engine", "db"},
		{"campaign"},
		{"campaign", "--seeds", "0"},
		{"campaign", "--seeds", "x"},
		{"campaign", "--seeds", "5", "--jobs", "0"},
		{"campaign", "--seeds", "5", "--start", "18446744073709551615"},
		{"bugs", "--verbose"},
		{"run", "--fault-intensity", "0.5", "--fault", "crash when step>=10"},
		{"campaign", "--seeds", "5", "--fault-intensity", "0.5", "--crash-step", "100"},
	}
	for _, args := range cases {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "args %q: stdout %q stderr %q", args, out, errOut)
		if len(args) == 0 {
			continue // bare pgdst prints the usage
		}
		require.Equal(t, 1, strings.Count(errOut, "\n"), "args %q: want one line, got %q", args, errOut)
		require.NotContains(t, errOut, "goroutine", "args %q", args)
	}
}

func TestHelpExitsZero(t *testing.T) {
	code, out, _ := runCLI("run", "-h")
	require.Equal(t, 0, code)
	require.Contains(t, out, "-seed")
}

func TestBugsListsRegistry(t *testing.T) {
	code, out, _ := runCLI("bugs")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^ack-before-flush\t.*XLogFlush`, out)
}

// TestCampaignFailureReproduces: a failing campaign exits 1 and prints, per
// failing seed, a command; running that command gives the same failure.
func TestCampaignFailureReproduces(t *testing.T) {
	code, out, _ := runCLI("campaign", "--seeds", "20", "--bug", "ack-before-flush", "--jobs", "2")
	require.Equal(t, 1, code, out)
	m := regexp.MustCompile(`(?m)^FAIL seed=(\d+) (\S+): .*\n  reproduce: go run ./cmd/pgdst (run .*)$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	code, runOut, _ := runCLI(strings.Fields(m[3])...)
	require.Equal(t, 1, code, runOut)
	require.Contains(t, runOut, "FAIL "+m[2])
	require.Regexp(t, "seed="+m[1]+" verdict=fail", lastLine(runOut))
}

func TestCampaignPassesAndSummarises(t *testing.T) {
	code, out, errOut := runCLI("campaign", "--seeds", "30", "--start", "100")
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, "seeds run:      30")
	require.Contains(t, out, "failures:       0")
	require.Contains(t, errOut, "progress: 30/30 seeds")
}

// TestDeterminismAcrossProcesses runs seeds in separate OS processes under
// GOMAXPROCS=1 and GOMAXPROCS=2 and requires the same verdict line from
// each, and the same as in this process.
func TestDeterminismAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "pgdst")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	for seed := uint64(1); seed <= 12; seed++ {
		want := fmt.Sprintf("seed=%d verdict=ok trace=%s", seed, simtest.Run(simtest.DefaultConfig(seed)).TraceString())
		for _, procs := range []string{"1", "2"} {
			cmd := exec.Command(bin, "run", "--seed", fmt.Sprint(seed))
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
			out, err := cmd.Output()
			require.NoError(t, err, "seed %d GOMAXPROCS=%s: %s", seed, procs, out)
			require.Equal(t, want, lastLine(string(out)), "seed %d GOMAXPROCS=%s", seed, procs)
		}
	}
}

// shellFields splits a command line as a POSIX shell would for the quoting
// reproduce commands use (single quotes only).
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	in, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			in, have = !in, true
		case r == ' ' && !in:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// A systematic campaign reports every crash point, and a failing plan's
// reproduce command (with its --fault line) fails the same way.
func TestSystematicCampaignAndItsRepro(t *testing.T) {
	code, out, _ := runCLI("campaign", "--systematic", "2", "--workload", "insert", "--no-swarm", "--txns", "40", "--bug", "ack-before-flush")
	require.Equal(t, 1, code, out)
	n := len(simtest.CrashPoints())
	require.Contains(t, out, fmt.Sprintf("systematic, %d crash points x first 2 hits = %d runs", n, 2*n))
	require.Contains(t, out, "every crash point was tried")
	m := regexp.MustCompile(`(?m)^FAIL seed=(\d+) (\S+): .*\n  reproduce: go run ./cmd/pgdst (run .*--fault '.*')$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	code, runOut, _ := runCLI(shellFields(m[3])...)
	require.Equal(t, 1, code, runOut)
	require.Contains(t, runOut, "FAIL "+m[2])

	code, out, _ = runCLI("campaign", "--systematic", "1", "--workload", "insert", "--no-swarm", "--txns", "40")
	require.Equal(t, 0, code, out)
}

func TestPointsListsTheTable(t *testing.T) {
	code, out, _ := runCLI("points")
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^checkpointer-after-control\s+checkpointer, startup\s+the control file names`, out)
	// The points' table with its header, a blank line, and the sometimes
	// conditions' table with its header.
	require.Equal(t, len(simtest.CrashPoints())+1+1+len(env.Conditions)+1, strings.Count(out, "\n"))
}

func TestFaultsCommandAndBadPlans(t *testing.T) {
	code, out, _ := runCLI("faults")
	require.Equal(t, 0, code)
	require.Contains(t, out, "misdirected-write")
	require.Contains(t, out, "checkpointer-after-control")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.plan")
	require.NoError(t, os.WriteFile(bad, []byte("crash\npause when (\n"), 0o644))
	for _, args := range [][]string{
		{"run", "--faults", bad},
		{"run", "--faults", filepath.Join(dir, "missing.plan")},
		{"run", "--fault", "crsh"},
		{"run", "--fault-intensity", "2"},
		{"campaign", "--systematic", "-1"},
		{"campaign", "--systematic", "2", "--seeds", "5"},
		{"run", "--workload", "nope"},
		{"campaign", "--seeds", "3", "--workload", "nope"},
		{"run", "--isolation", "snapshot"},
		{"run", "--synchronous-commit", "maybe"},
		{"run", "--synchronous-commit", "off"}, // needs --workload insert
		{"run", "--client-timeout", "-1s"},
	} {
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "args %q: %s %s", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "args %q: %q", args, errOut)
	}
	_, _, errOut := runCLI("run", "--faults", bad)
	require.Contains(t, errOut, "line 2")
}

// A quoted word reaches the program as it was, whatever it holds: the
// shell itself is the judge.
func TestShellQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"plain", "crash when step>=10", "it's", "a b'c\"d$e`f\\g", "", "my plans/x.plan", "*"} {
		out, err := exec.Command("sh", "-c", "printf %s "+cli.ShellQuote(s)).Output()
		require.NoError(t, err, s)
		require.Equal(t, s, string(out))
	}
	require.Equal(t, "seeds/a.plan", cli.ShellQuote("seeds/a.plan"), "plain words stay bare")
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-version"} {
		code, out, errOut := runCLI(arg)
		require.Equal(t, 0, code, "%s: %s", arg, errOut)
		require.True(t, strings.HasPrefix(out, "pgdst "+repro.BuildID()+" go"), "%s: %q", arg, out)
		require.Equal(t, 1, strings.Count(out, "\n"), "%s: one line, got %q", arg, out)
	}
}

// TestHelpNamesPositionalArguments: -h of a command that takes a file or a
// directory says so, not only its flags.
func TestHelpNamesPositionalArguments(t *testing.T) {
	for cmd, want := range map[string]string{"replay": "FILE", "shrink": "FILE", "report": "DIR", "merge": "FILE..."} {
		code, out, errOut := runCLI(cmd, "-h")
		require.Equal(t, 0, code, "%s -h: %s", cmd, errOut)
		first, _, _ := strings.Cut(out, "\n")
		require.Contains(t, first, "usage: pgdst "+cmd+" [flags] "+want, "%s -h", cmd)
	}
}
