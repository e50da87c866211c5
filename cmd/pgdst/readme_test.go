package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README is followed line by line by new users, so its commands are
// checked like code (issue 18): every pgdst command line in its code
// blocks parses, and the failing example runs exactly as printed, from
// the repository root of a fresh clone, with the exit statuses its
// comments promise and the explanation and shrink result it prints.

const readme = "../../README.md"

// readmeCommand finds "pgdst COMMAND" in a README line, explain included.
var readmeCommand = regexp.MustCompile(`(?:^|[\s/])pgdst\s+(run|campaign|merge|replay|shrink|report|explain|bugs|faults|points)(?:\s|$)`)

// shellComment is a README line's trailing comment (which may hold an
// apostrophe that shellWords would take for a quote).
var shellComment = regexp.MustCompile(`(?m)\s#\s.*$`)

// readmeBlocks are the README's code blocks.
func readmeBlocks(t *testing.T) []docBlock {
	md, err := os.ReadFile(readme)
	require.NoError(t, err)
	return markdownBlocks(string(md))
}

// TestReadmeCommandsParse: every pgdst command of the README parses and
// passes the checks made before anything runs, from the repository root
// (where the README's relative paths, such as docs/example.plan, are).
// explain is judged by TestReadmeFailingExample, which runs it; bugs
// and faults, which only print, run.
func TestReadmeCommandsParse(t *testing.T) {
	blocks := readmeBlocks(t)
	t.Chdir("../..")
	parseOnly = true
	t.Cleanup(func() { parseOnly = false })
	n := 0
	for _, b := range blocks {
		for _, args := range shellCommands(t, shellComment.ReplaceAllString(b.text, "")) {
			err := dispatch(args, io.Discard, io.Discard)
			if args[0] == "bugs" || args[0] == "faults" {
				// No parse-only mode: they only print.
				require.NoError(t, err, "README line %d: pgdst %s", b.line, strings.Join(args, " "))
				continue
			}
			require.ErrorIs(t, err, errParseOnly, "README line %d: pgdst %s", b.line, strings.Join(args, " "))
			n++
		}
	}
	require.Greater(t, n, 15, "the README's command lines were found")
}

// TestReadmeFailingExample runs the README's failing example (the block
// with `explain out/seed-1.repro.json`) line by line in a scratch
// directory: each command exits as its comment says (1 where it says
// "exits 1", else 0); explain prints the account the README shows for
// that seed, and shrink ends with the reproduce line it shows.
func TestReadmeFailingExample(t *testing.T) {
	blocks := readmeBlocks(t)
	var example, account, shrunk *docBlock
	for i := range blocks {
		b := &blocks[i]
		switch {
		case strings.Contains(b.text, "explain out/seed-1.repro.json"):
			example = b
		case strings.HasPrefix(b.text, "seed 1 failed "):
			account = b
		case strings.HasPrefix(b.text, "shrunk in "):
			shrunk = b
		}
	}
	require.NotNil(t, example, "the README's failing example")
	require.NotNil(t, account, "the README's explain output")
	require.NotNil(t, shrunk, "the README's shrink output")
	t.Chdir(t.TempDir())
	ran := map[string]bool{}
	for _, l := range strings.Split(example.text, "\n") {
		m := readmeCommand.FindStringSubmatchIndex(l)
		if m == nil {
			continue
		}
		args, err := shellWords(shellComment.ReplaceAllString(l[m[2]:], ""))
		require.NoError(t, err, l)
		want := 0
		if strings.Contains(l, "# exits 1") {
			want = 1
		}
		code, out, errOut := runCLI(args...)
		require.Equal(t, want, code, "%s\n%s%s", l, out, errOut)
		ran[args[0]] = true
		switch {
		case args[0] == "explain" && args[1] == "out/seed-1.repro.json":
			require.Equal(t, strings.Fields(account.text), strings.Fields(out), "the README prints what explain says of seed 1")
		case args[0] == "explain":
			require.Contains(t, out, "acknowledged before its commit record was durable", l)
		case args[0] == "shrink":
			wantLine := strings.Split(shrunk.text, "\n")[1]
			require.Contains(t, out, "\n"+wantLine+"\n", "the README's shrink result")
		}
	}
	for _, c := range []string{"campaign", "explain", "replay", "shrink", "report"} {
		require.True(t, ran[c], "the example has no %s line", c)
	}
}
