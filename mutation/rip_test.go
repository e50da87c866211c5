package mutation

import (
	"strings"
	"testing"
)

const (
	hashA = "0123456789abcdef"
	hashB = "fedcba9876543210"
	hashC = "00000000000000c0"
)

// Infection compares by index, only where both campaigns ran the seed.
func TestInfection(t *testing.T) {
	for _, c := range []struct {
		name                     string
		base, mut                []string
		compared, infected, frst int
	}{
		{"identical", []string{hashA, hashB}, []string{hashA, hashB}, 2, 0, -1},
		{"second differs", []string{hashA, hashB, hashC}, []string{hashA, hashC, hashB}, 3, 2, 1},
		{"mutant ran fewer", []string{hashA, hashB, hashC}, []string{hashB}, 1, 1, 0},
		{"holes are not compared", []string{"", hashB, hashC}, []string{hashA, "", hashA}, 1, 1, 2},
		{"nothing", nil, []string{hashA}, 0, 0, -1},
	} {
		compared, infected, first := Infection(c.base, c.mut)
		if compared != c.compared || infected != c.infected || first != c.frst {
			t.Errorf("%s: compared %d infected %d first %d, want %d %d %d", c.name, compared, infected, first, c.compared, c.infected, c.frst)
		}
	}
}

func TestCompareWithBaseline(t *testing.T) {
	base := Result{Mutant: Baseline.Name, Verdict: Survived, Traces: []string{hashA, hashB, hashC}, TraceStart: 10}
	r := Result{Mutant: "01-x", Verdict: Survived, Traces: []string{hashA, hashB, hashA}, TraceStart: 10}
	CompareWithBaseline(&r, &base)
	if r.Compared != 3 || r.Infected != 1 || r.FirstInfectedSeed != 12 {
		t.Fatalf("compared %d infected %d first seed %d, want 3 1 12", r.Compared, r.Infected, r.FirstInfectedSeed)
	}
	if got := r.InfectedString(); got != "1/3 from seed 12" {
		t.Fatalf("InfectedString %q", got)
	}
	// Another first seed, no baseline, no hashes: nothing compared, "-".
	for name, b := range map[string]*Result{
		"other start": {Mutant: Baseline.Name, Traces: base.Traces, TraceStart: 11},
		"no baseline": nil,
		"no hashes":   {Mutant: Baseline.Name, TraceStart: 10},
	} {
		CompareWithBaseline(&r, b)
		if r.Compared != 0 || r.Infected != 0 || r.InfectedString() != "-" || r.RIP() != "" {
			t.Errorf("%s: %+v", name, r)
		}
	}
	same := Result{Mutant: "02-same", Verdict: Survived, Traces: []string{hashA, hashB, hashC}, TraceStart: 10}
	CompareWithBaseline(&same, &base)
	if same.InfectedString() != "0/3" || !strings.Contains(same.RIP(), "coverage gap") {
		t.Fatalf("uninfected survivor: %q %q", same.InfectedString(), same.RIP())
	}
	CompareWithBaseline(&r, &base)
	if !strings.Contains(r.RIP(), "checker gap") {
		t.Fatalf("infected survivor: %q", r.RIP())
	}
	// A killed mutant whose runs all trace like the baseline's is a broken
	// comparison, said loudly.
	killed := Result{Mutant: "03-k", Verdict: Killed, Traces: base.Traces, TraceStart: 10}
	CompareWithBaseline(&killed, &base)
	if !strings.Contains(killed.RIP(), "KILLED WITHOUT AN INFECTED RUN") {
		t.Fatalf("killed, uninfected: %q", killed.RIP())
	}
}

const equivalentSample = `file: engine/x/x.go
area: WAL
description: The rule.
equivalent: The mutated comparison never decides in pgdst, because
  search keys carry TID 0.
--- original
	a := 1
--- replacement
	a := 2
--- end
`

func TestParseEquivalent(t *testing.T) {
	m, err := Parse("01-eq", []byte(equivalentSample))
	if err != nil {
		t.Fatal(err)
	}
	if want := "The mutated comparison never decides in pgdst, because search keys carry TID 0."; m.Equivalent != want {
		t.Fatalf("equivalent %q, want %q", m.Equivalent, want)
	}
	if m.Description != "The rule." {
		t.Fatalf("description %q", m.Description)
	}
	plain, err := Parse("02-plain", []byte(sample))
	if err != nil || plain.Equivalent != "" {
		t.Fatalf("a mutant without the field: %q %v", plain.Equivalent, err)
	}
	for name, text := range map[string]string{
		"empty":      strings.Replace(equivalentSample, "equivalent: The mutated comparison never decides in pgdst, because\n  search keys carry TID 0.\n", "equivalent:\n", 1),
		"blank":      strings.Replace(equivalentSample, "equivalent: The mutated comparison never decides in pgdst, because\n  search keys carry TID 0.\n", "equivalent:    \n", 1),
		"one word":   strings.Replace(equivalentSample, "equivalent: The mutated comparison never decides in pgdst, because\n  search keys carry TID 0.\n", "equivalent: obviously\n", 1),
		"twice":      strings.Replace(equivalentSample, "--- original", "equivalent: and a second argument that is long enough to pass\n--- original", 1),
		"empty then": strings.Replace(equivalentSample, "equivalent: The mutated comparison never decides in pgdst, because\n  search keys carry TID 0.\n", "equivalent:\nequivalent: a long enough argument for the length check to pass\n", 1),
	} {
		_, err := Parse("03-bad", []byte(text))
		if err == nil {
			t.Errorf("%s: parsed", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "equivalent") || !strings.Contains(msg, "03-bad") || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q: want one line naming the mutant and the field", name, msg)
		}
	}
}

// The summary gives the score both ways: killed of the judged, and killed
// of the judged not argued equivalent; a mutant argued equivalent and
// killed counts as killed and is reported as a refuted argument.
func TestEquivalentScores(t *testing.T) {
	base := Result{Mutant: Baseline.Name, Verdict: Survived, Runs: 4, Steps: 10, VirtualNS: 10, Compared: 0}
	rs := []Result{
		base,
		{Mutant: "01-k", Verdict: Killed, Failed: 1, Runs: 4, Compared: 4, Infected: 2, FirstInfectedSeed: 2},
		{Mutant: "02-k", Verdict: Killed, Failed: 4, Runs: 4, Compared: 4, Infected: 4, FirstInfectedSeed: 1},
		{Mutant: "03-eq", Verdict: Survived, Runs: 4, Equivalent: "an argument", Compared: 4},
		{Mutant: "04-gap", Verdict: Survived, Runs: 4, Compared: 4, Infected: 3, FirstInfectedSeed: 2},
		{Mutant: "05-broken", Verdict: CompileError, Detail: "x"},
	}
	s := Summarize(rs)
	if want := (Summary{Total: 5, Killed: 2, Survived: 2, Broken: 1, Judged: 4, Equivalent: 1, SurvivorsCompared: 2, SurvivorsInfected: 1}); s != want {
		t.Fatalf("summary %+v, want %+v", s, want)
	}
	var b strings.Builder
	WriteTable(&b, rs)
	out := b.String()
	for _, want := range []string{
		"infected/compared runs", "2/4 from seed 2", "0/4", "survived (argued equivalent)",
		"5 mutants: 2 killed, 2 survived", "50% of the judged killed", "1 argued equivalent, so 2 of the other 3 killed (67%)",
		"1 infected no run (equivalent or out of reach), 1 infected runs no checker judged wrong",
		"04-gap: survived, 3/4 from seed 2 infected: runs infected, none judged wrong",
		"03-eq: survived, 0/4 infected: no run infected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "REFUTED") {
		t.Errorf("no argument refuted, yet:\n%s", out)
	}

	// The equivalent survivor's runs infected: a note, not a refutation.
	rs[3].Infected, rs[3].FirstInfectedSeed = 1, 3
	b.Reset()
	WriteTable(&b, rs)
	if !strings.Contains(b.String(), "note: argued equivalent, yet 1 runs traced differently from the baseline (first seed 3)") {
		t.Errorf("no note on the infected equivalent survivor:\n%s", b.String())
	}

	// Killed although argued equivalent: counted as killed, said loudly.
	rs[3].Verdict, rs[3].Failed, rs[3].FirstSeed, rs[3].Checker = Killed, 1, 3, "durability"
	s = Summarize(rs)
	if want := (Summary{Total: 5, Killed: 3, Survived: 1, Broken: 1, Judged: 4, Refuted: 1, SurvivorsCompared: 1, SurvivorsInfected: 1}); s != want {
		t.Fatalf("refuted summary %+v, want %+v", s, want)
	}
	b.Reset()
	WriteTable(&b, rs)
	for _, want := range []string{"killed: ARGUMENT REFUTED", "ARGUMENT REFUTED: 1 mutants argued equivalent were killed", "ARGUMENT REFUTED: it was argued equivalent: an argument"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "argued equivalent, so") {
		t.Errorf("a refuted mutant still counted as equivalent:\n%s", b.String())
	}
}
