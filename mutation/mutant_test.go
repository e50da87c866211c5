package mutation

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the module root, seen from this package's directory.
const root = ".."

const sample = `# a comment
file: engine/x/x.go
area: WAL
description: The first line of the rule,
  and its continuation.
--- original
	a := 1
	b := 2
--- replacement
	a := 2
--- end
`

func TestParse(t *testing.T) {
	m, err := Parse("01-sample", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if m.File != "engine/x/x.go" || m.Area != "WAL" {
		t.Fatalf("file %q area %q", m.File, m.Area)
	}
	if m.Description != "The first line of the rule, and its continuation." {
		t.Fatalf("description %q", m.Description)
	}
	if len(m.Hunks) != 1 || m.Hunks[0].Original != "\ta := 1\n\tb := 2\n" || m.Hunks[0].Replacement != "\ta := 2\n" {
		t.Fatalf("hunks %q", m.Hunks)
	}
	if !m.Matches("01-sample") || !m.Matches("sample") || !m.Matches("01") || m.Matches("1") || m.Matches("other") {
		t.Fatal("Matches")
	}
}

func TestParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no file":           strings.Replace(sample, "file: engine/x/x.go\n", "", 1),
		"no description":    strings.Replace(sample, "description: The first line of the rule,\n  and its continuation.\n", "", 1),
		"no hunk":           sample[:strings.Index(sample, "--- original")],
		"unterminated":      strings.Replace(sample, "--- end\n", "", 1),
		"no replacement":    strings.Replace(sample, "--- replacement\n", "", 1),
		"identical":         strings.Replace(sample, "\ta := 2\n--- end", "\ta := 1\n\tb := 2\n--- end", 1),
		"empty original":    strings.Replace(sample, "\ta := 1\n\tb := 2\n--- replacement", "--- replacement", 1),
		"unknown key":       "colour: red\n" + sample,
		"outside module":    strings.Replace(sample, "engine/x/x.go", "../x.go", 1),
		"stray line":        strings.Replace(sample, "--- end\n", "--- end\nstray\n", 1),
		"bad continuation":  strings.Replace(sample, "area: WAL\n", "area: WAL\n  more\n", 1),
		"too many hunks":    sample + strings.Repeat(sample[strings.Index(sample, "--- original"):], hunksMax),
		"header not a pair": strings.Replace(sample, "area: WAL", "area WAL", 1),
	} {
		if _, err := Parse(name, []byte(text)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// Each original snippet must occur exactly once: zero is a stale mutant,
// two an ambiguous one, and both are errors that name the mutant, the hunk
// and the count, never a silent skip.
func TestApplyExactlyOnce(t *testing.T) {
	m, err := Parse("01-sample", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	src := "func f() {\n\ta := 1\n\tb := 2\n\treturn\n}\n"
	out, err := m.Apply([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if want := "func f() {\n\ta := 2\n\treturn\n}\n"; string(out) != want {
		t.Fatalf("applied:\n%s\nwant:\n%s", out, want)
	}
	for name, text := range map[string]string{
		"stale":     strings.Replace(src, "b := 2", "b := 3", 1),
		"reindent":  strings.ReplaceAll(src, "\t", "    "),
		"ambiguous": src + src,
	} {
		_, err := m.Apply([]byte(text))
		if !errors.Is(err, ErrStale) {
			t.Fatalf("%s: error %v, want ErrStale", name, err)
		}
		want := "occurs 0 times"
		if name == "ambiguous" {
			want = "occurs 2 times"
		}
		if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "01-sample") || strings.Contains(msg, "\n") {
			t.Fatalf("%s: error %q: want one line naming the mutant and %q", name, msg, want)
		}
	}
}

// Hunks apply in order, each to the result of the ones before.
func TestApplyHunksInOrder(t *testing.T) {
	text := sample + "--- original\n\ta := 2\n--- replacement\n\ta := 3\n--- end\n"
	m, err := Parse("02-two", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Apply([]byte("\ta := 1\n\tb := 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "\ta := 3\n" {
		t.Fatalf("applied %q", out)
	}
}

func TestCopyTreeSkipsOutputs(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for _, f := range []string{"go.mod", "a/b.go", ".git/HEAD", "bin/pgdst", "a/out/x", "a/c/d.txt"} {
		p := filepath.Join(src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := CopyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"go.mod": true, "a/b.go": true, "a/c/d.txt": true, ".git/HEAD": false, "bin/pgdst": false, "a/out/x": false} {
		data, err := os.ReadFile(filepath.Join(dst, f))
		if got := err == nil; got != want {
			t.Errorf("%s copied: %v, want %v", f, got, want)
		}
		if err == nil && string(data) != f {
			t.Errorf("%s: content %q", f, data)
		}
	}
}

// Every kept mutant parses, applies exactly once to today's engine, and
// leaves its file syntactically valid Go. When engine code changes under a
// mutant, this test names the stale mutant; update its snippet.
func TestMutantsApplyToTheEngine(t *testing.T) {
	ms, err := Load(filepath.Join(root, "testdata", "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 30 {
		t.Fatalf("%d mutants, want at least 30", len(ms))
	}
	areas := map[string]bool{}
	for _, m := range ms {
		areas[strings.SplitN(m.Area, "/", 2)[0]] = true
		if !strings.HasPrefix(m.File, "engine/") {
			t.Errorf("%s: mutates %s, outside the engine", m.Name, m.File)
		}
		src, err := os.ReadFile(filepath.Join(root, m.File))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		out, err := m.Apply(src)
		if err != nil {
			t.Error(err)
			continue
		}
		if _, err := parser.ParseFile(token.NewFileSet(), m.File, out, parser.SkipObjectResolution); err != nil {
			t.Errorf("%s: the mutated file does not parse: %v", m.Name, err)
		}
		if strings.Contains(string(out), "bugs.") && !strings.Contains(string(src), "bugs.") {
			t.Errorf("%s: introduces a planted-bug switch", m.Name)
		}
	}
	if len(areas) < 8 {
		t.Errorf("mutants cover %d areas, want the engine's breadth: %v", len(areas), areas)
	}
}

// End to end: the mutant that drops the commit's XLogFlush is built in a
// temporary copy and the plain campaign kills it within 50 seeds; the copy
// is gone afterwards.
func TestRunKillsCommitWithoutFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pgdst and runs a campaign")
	}
	ms, err := Load(filepath.Join(root, "testdata", "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	var m *Mutant
	for _, x := range ms {
		if x.Matches("commit-no-xlogflush") {
			m = x
		}
	}
	if m == nil {
		t.Fatal("no mutant commit-no-xlogflush")
	}
	r := Run(context.Background(), m, Options{Root: root, Seeds: 50, Jobs: 1})
	if r.Verdict != Killed {
		t.Fatalf("verdict %s (%s), want killed", r.Verdict, r.Detail)
	}
	if r.SeedsToDetection < 1 || r.SeedsToDetection > 50 || r.Checker == "" || r.Runs != 50 || r.Failed < 1 {
		t.Fatalf("result %+v", r)
	}
	if !strings.Contains(r.Repro, "--seed ") {
		t.Fatalf("repro %q", r.Repro)
	}
	if r.WallNS <= 0 || r.CampaignNS <= 0 {
		t.Fatalf("times: wall %d campaign %d", r.WallNS, r.CampaignNS)
	}
	if r.Tree != "" {
		t.Fatalf("tree kept: %s", r.Tree)
	}
	// Infection: the unmutated engine's runs of the same seeds, compared
	// by trace hash. Every failing seed is an infected one, so the first
	// infected seed comes no later than the first failing one.
	if len(r.Traces) != 50 || r.TraceStart != 1 {
		t.Fatalf("trace hashes: %d from seed %d, want 50 from seed 1", len(r.Traces), r.TraceStart)
	}
	base := Run(context.Background(), Baseline, Options{Root: root, Seeds: 50, Jobs: 1})
	if base.Verdict != Survived || len(base.Traces) != 50 {
		t.Fatalf("baseline %s (%s), %d trace hashes", base.Verdict, base.Detail, len(base.Traces))
	}
	CompareWithBaseline(&r, &base)
	if r.Compared != 50 || r.Infected < r.Failed || r.FirstInfectedSeed < 1 || r.FirstInfectedSeed > r.FirstSeed {
		t.Fatalf("compared %d, infected %d (first seed %d), failed %d (first seed %d)", r.Compared, r.Infected, r.FirstInfectedSeed, r.Failed, r.FirstSeed)
	}
	t.Logf("%d of 50 runs infected (first seed %d), %d failed (first seed %d)", r.Infected, r.FirstInfectedSeed, r.Failed, r.FirstSeed)
}

// A mutant whose snippet is gone is reported stale by Run, with no build.
func TestRunStale(t *testing.T) {
	m, err := Parse("99-stale", []byte(strings.Replace(sample, "engine/x/x.go", "go.mod", 1)))
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), m, Options{Root: root, Seeds: 1, Jobs: 1})
	if r.Verdict != Stale || r.Applied || !strings.Contains(r.Detail, "occurs 0 times") {
		t.Fatalf("result %+v", r)
	}
}

// A mutant that does not compile is a defect in the mutant, reported as
// compile-error with the compiler's first lines.
func TestRunCompileError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	m, err := Parse("98-broken", []byte("file: engine/pgerr/pgerr.go\ndescription: does not compile\n--- original\npackage pgerr\n--- replacement\npackage pgerr\n\nvar _ int = \"not an int\"\n--- end\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), m, Options{Root: root, Seeds: 1, Jobs: 1})
	if r.Verdict != CompileError || !r.Applied || !strings.Contains(r.Detail, "pgerr") {
		t.Fatalf("result %+v", r)
	}
}

// The table compares each campaign with the baseline's, and the summary
// leaves the baseline out.
func TestTableAgainstBaseline(t *testing.T) {
	base := Result{Mutant: Baseline.Name, Verdict: Survived, Runs: 10, Steps: 1000, VirtualNS: 2e9}
	same := Result{Mutant: "01-same", Verdict: Survived, Runs: 10, Steps: 1000, VirtualNS: 2e9}
	slow := Result{Mutant: "02-slow", Verdict: Survived, Runs: 10, Steps: 1500, VirtualNS: 3e9}
	dead := Result{Mutant: "03-dead", Verdict: Killed, Runs: 10, Failed: 2, SeedsToDetection: 4, FirstSeed: 4, Checker: "durability", Repro: "go run ./cmd/pgdst run --seed 4"}
	if got := VersusBaseline(same, &base); got != "identical" {
		t.Fatalf("same: %q", got)
	}
	if got := VersusBaseline(slow, &base); got != "steps +50.0% sim +50.0%" {
		t.Fatalf("slow: %q", got)
	}
	if got := VersusBaseline(slow, nil); got != "-" {
		t.Fatalf("no baseline: %q", got)
	}
	rs := []Result{base, same, slow, dead}
	if s := Summarize(rs); s != (Summary{Total: 3, Killed: 1, Survived: 2, Judged: 3}) {
		t.Fatalf("summary %+v", s)
	}
	var b strings.Builder
	WriteTable(&b, rs)
	for _, want := range []string{"baseline", "passes", "identical", "3 mutants: 1 killed, 2 survived", "--seed 4"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
