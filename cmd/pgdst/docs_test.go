package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// docs/campaigns.md is a page people copy commands and manifests from, so
// it is checked like code: every pgdst command line in its code blocks
// (shell blocks, indented blocks, and the strings of its YAML blocks) must
// parse with the real flags, every YAML block must parse, and the numbers
// that must agree (shards in the matrix and in --shard, completions and
// auto/N) must agree.

const campaignsDoc = "../../docs/campaigns.md"

// docBlock is a code block of a Markdown page.
type docBlock struct {
	lang string // the fence's info string; "" for an indented block
	line int    // the line of its first line of text, from 1
	text string
}

// markdownBlocks returns the fenced (```) and indented (four spaces) code
// blocks of md, in order. It knows just enough Markdown for the page: an
// indented block starts after a blank line, outside a fence.
func markdownBlocks(md string) []docBlock {
	lines := strings.Split(md, "\n")
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if lang, ok := strings.CutPrefix(l, "```"); ok {
			start := i + 1
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			}
			out = append(out, docBlock{lang: strings.TrimSpace(lang), line: start + 1, text: strings.Join(lines[start:min(i, len(lines))], "\n")})
			continue
		}
		if strings.HasPrefix(l, "    ") && (i == 0 || strings.TrimSpace(lines[i-1]) == "") {
			start := i
			var text []string
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == ""); i++ {
				text = append(text, strings.TrimPrefix(lines[i], "    "))
			}
			i--
			out = append(out, docBlock{line: start + 1, text: strings.TrimRight(strings.Join(text, "\n"), "\n")})
		}
	}
	return out
}

// pgdstCommand finds "pgdst COMMAND" in a line: the binary's name (alone,
// or the last element of a path such as ./bin/pgdst or ./cmd/pgdst) and
// one of its commands.
var pgdstCommand = regexp.MustCompile(`(?:^|[\s/])pgdst\s+(run|campaign|merge|replay|shrink|report|bugs|faults|points)(?:\s|$)`)

// ghExpr is a GitHub Actions expression, ${{ ... }}.
var ghExpr = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

// shellCommands returns the pgdst command lines of a piece of shell, each
// as its arguments after "pgdst" (the command first). Backslash-newline
// joins lines; comment lines are skipped; a command ends at a shell
// operator or comment. GitHub expressions become "0", the first matrix
// value of every matrix on the page.
func shellCommands(t *testing.T, text string) [][]string {
	t.Helper()
	text = strings.ReplaceAll(text, "\\\n", " ")
	text = ghExpr.ReplaceAllString(text, "0")
	var out [][]string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		m := pgdstCommand.FindStringSubmatchIndex(l)
		if m == nil {
			continue
		}
		words, err := shellWords(l[m[2]:])
		require.NoError(t, err, "%q", l)
		out = append(out, words)
	}
	return out
}

// shellWords splits a command line as sh does for the quoting the page
// uses (single and double quotes, no escapes inside them), up to the first
// shell operator or comment.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	have := false
	var quote rune
	flush := func() {
		if have {
			words = append(words, cur.String())
		}
		cur.Reset()
		have = false
	}
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, have = r, true
		case r == ' ' || r == '\t':
			flush()
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	for i, w := range words {
		if slices.Contains([]string{"|", "||", "&&", ";", "&"}, w) || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "#") {
			return words[:i], nil
		}
	}
	return words, nil
}

// yamlStrings returns every string scalar of a decoded YAML value.
func yamlStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, e := range v {
			out = append(out, yamlStrings(e)...)
		}
	case map[string]any:
		for _, k := range sortedAnyKeys(v) {
			out = append(out, yamlStrings(v[k])...)
		}
	}
	return out
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// dig follows keys (map keys, or list indexes as ints) into a decoded YAML
// value; nil when a step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// shardOf returns N of a command's --shard I/N (or auto/N), "" without
// --shard.
func shardOf(args []string) string {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--shard=")
		if !ok && a == "--shard" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			_, n, _ := strings.Cut(v, "/")
			return n
		}
	}
	return ""
}

// flagValue returns the value of --name in args ("" when absent).
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestCampaignsDoc(t *testing.T) {
	md, err := os.ReadFile(campaignsDoc)
	require.NoError(t, err)
	type command struct {
		where string // for the messages: the block's line
		args  []string
	}
	var commands []command
	var configJSON []string
	var workflows, indexedJobs []map[string]any
	for _, b := range markdownBlocks(string(md)) {
		where := fmt.Sprintf("%s:%d", filepath.Base(campaignsDoc), b.line)
		switch b.lang {
		case "yaml":
			dec := yaml.NewDecoder(strings.NewReader(b.text))
			for {
				var doc map[string]any
				err := dec.Decode(&doc)
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err, "%s: a YAML block that does not parse", where)
				require.NotEmpty(t, doc, where)
				for _, s := range yamlStrings(doc) {
					for _, args := range shellCommands(t, s) {
						commands = append(commands, command{where, args})
					}
				}
				if doc["jobs"] != nil {
					workflows = append(workflows, doc)
				}
				if dig(doc, "kind") == "Job" && dig(doc, "spec", "completionMode") == "Indexed" {
					indexedJobs = append(indexedJobs, doc)
				}
			}
		case "json":
			_, err := cli.ParseConfigFile(where, []byte(b.text))
			require.NoError(t, err, "%s: a JSON block is a --config file", where)
			configJSON = append(configJSON, b.text)
		case "dockerfile":
			// Not a pgdst command line in it; nothing to parse.
		default:
			for _, args := range shellCommands(t, b.text) {
				commands = append(commands, command{where, args})
			}
		}
	}

	// Every command line parses, and its flags pass the checks made before
	// anything is read or run. Relative paths land in a scratch directory,
	// where every --config file is the page's JSON block.
	require.Len(t, configJSON, 1, "the page's one --config example")
	t.Chdir(t.TempDir())
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	parseOnly = true
	t.Cleanup(func() { parseOnly = false })
	seen := map[string]bool{}
	for _, c := range commands {
		if p := flagValue(c.args, "config"); p != "" {
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, []byte(configJSON[0]), 0o644))
		}
		err := dispatch(c.args, io.Discard, io.Discard)
		require.ErrorIs(t, err, errParseOnly, "%s: pgdst %s", c.where, strings.Join(c.args, " "))
		seen[c.args[0]] = true
	}
	for _, want := range []string{"run", "campaign", "merge", "replay", "shrink", "report"} {
		require.True(t, seen[want], "the page shows no pgdst %s command", want)
	}

	// The GitHub workflow: a matrix of shards 0..N-1 whose campaign says
	// --shard I/N, and a merge job after it that runs whatever they did.
	require.Len(t, workflows, 1, "one GitHub Actions workflow")
	jobs, ok := workflows[0]["jobs"].(map[string]any)
	require.True(t, ok)
	var shardJob string
	for _, name := range sortedAnyKeys(jobs) {
		matrix, ok := dig(jobs[name], "strategy", "matrix", "shard").([]any)
		if !ok {
			continue
		}
		shardJob = name
		for i, v := range matrix {
			require.Equal(t, i, v, "the matrix lists shards 0..N-1")
		}
		runs := 0
		for _, s := range yamlStrings(dig(jobs[name], "steps")) {
			for _, args := range shellCommands(t, s) {
				if args[0] == "campaign" {
					runs++
					require.Equal(t, fmt.Sprint(len(matrix)), shardOf(args), "--shard I/N with N the matrix's size")
				}
			}
		}
		require.Equal(t, 1, runs, "the shard job runs one campaign")
	}
	require.NotEmpty(t, shardJob, "a job with a matrix of shards")
	merged := false
	for _, name := range sortedAnyKeys(jobs) {
		j := jobs[name]
		if dig(j, "needs") != shardJob {
			continue
		}
		require.Equal(t, "always()", dig(j, "if"), "the merge runs when shards failed too")
		for _, s := range yamlStrings(dig(j, "steps")) {
			for _, args := range shellCommands(t, s) {
				merged = merged || args[0] == "merge"
			}
		}
	}
	require.True(t, merged, "a job that needs the shards runs pgdst merge")

	// The Indexed Job: --shard auto/N with N its completions.
	require.Len(t, indexedJobs, 1, "one Kubernetes Indexed Job")
	job := indexedJobs[0]
	completions, ok := dig(job, "spec", "completions").(int)
	require.True(t, ok, "completions")
	parallelism, ok := dig(job, "spec", "parallelism").(int)
	require.True(t, ok, "parallelism")
	require.LessOrEqual(t, parallelism, completions)
	require.Equal(t, "Never", dig(job, "spec", "template", "spec", "restartPolicy"), "podFailurePolicy needs it")
	autos := 0
	for _, s := range yamlStrings(dig(job, "spec", "template")) {
		for _, args := range shellCommands(t, s) {
			if args[0] == "campaign" {
				autos++
				require.Equal(t, "auto/"+fmt.Sprint(completions), flagValue(args, "shard"))
			}
		}
	}
	require.Equal(t, 1, autos, "the Indexed Job runs one campaign")

	// The reproduce command the page shows for its --config example is the
	// one such a campaign prints.
	cfg, err := cli.ParseConfigFile("doc.json", []byte(configJSON[0]))
	require.NoError(t, err)
	cfg.Seed = 17
	require.Contains(t, string(md), "\n    "+cli.Command(cfg)+"\n")
}

// TestDocCommandsRejectBadLines: the check above fails for a command line
// that does not parse, so that it cannot pass by parsing nothing.
func TestDocCommandsRejectBadLines(t *testing.T) {
	parseOnly = true
	t.Cleanup(func() { parseOnly = false })
	for _, text := range []string{
		"./bin/pgdst campaign --seeds 10 --shard 8/8",
		"pgdst campaign --seeds 10 --no-such-flag",
		"go run ./cmd/pgdst run --seed 17 --no-faults --crash-step 3",
		"pgdst replay a.json b.json",
		"pgdst merge -o merged.json",
	} {
		cmds := shellCommands(t, text)
		require.Len(t, cmds, 1, text)
		err := dispatch(cmds[0], io.Discard, io.Discard)
		require.Error(t, err, text)
		require.NotErrorIs(t, err, errParseOnly, text)
	}
	require.Equal(t, [][]string{{"campaign", "--shard", "0/8", "--json", "r/s-0.json"}},
		shellCommands(t, "mkdir -p r\n# pgdst run is a comment\n./bin/pgdst campaign \\\n  --shard ${{ matrix.shard }}/8 --json r/s-${{ matrix.shard }}.json 2>&1 | tee log"))
}
