// Command mutants runs pgdst's built-in mutation testing (`make mutants`):
// each mutant in testdata/mutants is applied to a temporary copy of the
// module, pgdst is built there, and the plain campaign (pgdst campaign
// --seeds N, no aiming flag) runs against it. It prints, for each mutant,
// whether the campaign killed it, after how many seeds, which checker, how
// many of its runs traced differently from the unmutated engine's run of
// the same seed (the RIP model's infection, mutation/rip.go), and the wall
// time. A mutant file's 'equivalent:' argues that it cannot change what
// pgdst observes; the summary gives the score with and without those, and
// a killed one refutes its argument.
//
// Exit status: 0 every mutant was judged (survivors are findings, not
// failures), 1 a mutant was stale, did not compile, or could not be run,
// 2 bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgdst/pgdst/mutation"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	seeds := fs.Uint64("seeds", 2000, "seeds of the plain campaign run against each mutant")
	only := fs.String("only", "", "run only these mutants (comma-separated: a full name, the name without its number, or the number alone, e.g. 24)")
	jobs := fs.Int("jobs", 1, "the campaign's --jobs")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	dir := fs.String("dir", "testdata/mutants", "where the mutants are")
	root := fs.String("root", ".", "the module root to copy")
	timeout := fs.Duration("timeout", 30*time.Minute, "per mutant, build and campaign (0: none)")
	keep := fs.Bool("keep", false, "keep each mutant's temporary tree, to reproduce a failing seed in it")
	baseline := fs.Bool("baseline", true, "first run the campaign on the unmutated engine, which must pass every seed; each mutant's runs are compared with its, seed by seed, by trace hash (the infected column: the runs the mutation changed at all, over the seeds both campaigns ran, which is every seed: a campaign does not stop at a failure). Without it the infected column is \"-\"")
	unit := fs.Bool("unit-tests", false, "also run the mutated package's own tests (go test), to compare them with the campaign")
	check := fs.Bool("check", false, "only check that every mutant applies exactly once; build nothing")
	campaignArgs := fs.String("campaign-args", "", "more flags for every campaign, split at spaces (e.g. \"--guided\"): compares a way of campaigning with the plain one on the same mutants")
	bug := fs.String("bug", "", "instead of mutants, run the campaign against these planted bugs (comma-separated names, see 'pgdst bugs'): each is one row, the campaign given --bug NAME")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *seeds == 0 {
		fmt.Fprintln(os.Stderr, "usage: mutants [--seeds N] [--only NAME,...] [--bug NAME,...] [--campaign-args FLAGS] [--jobs J] [--json FILE] [--check]")
		return 2
	}
	all, err := mutation.Load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		return 1
	}
	ms := all
	if *bug != "" && *only == "" {
		ms = nil
	}
	if *only != "" {
		ms = nil
		for _, name := range strings.Split(*only, ",") {
			found := false
			for _, m := range all {
				if m.Matches(strings.TrimSpace(name)) {
					ms, found = append(ms, m), true
				}
			}
			if !found {
				fmt.Fprintf(os.Stderr, "mutants: no mutant called %q in %s\n", name, *dir)
				return 2
			}
		}
	}

	if *bug != "" {
		for _, name := range strings.Split(*bug, ",") {
			ms = append(ms, mutation.PlantedBug(strings.TrimSpace(name)))
		}
	}

	// Every mutant must apply before any campaign runs: a stale one is a
	// one-line error, never skipped.
	stale := 0
	for _, m := range ms {
		if len(m.Hunks) == 0 {
			continue // a planted bug: nothing to apply
		}
		src, err := os.ReadFile(filepath.Join(*root, filepath.FromSlash(m.File)))
		if err == nil {
			_, err = m.Apply(src)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mutants:", err)
			stale++
		}
	}
	if stale > 0 {
		fmt.Fprintf(os.Stderr, "mutants: %d of %d mutants are stale; update them to the engine's code\n", stale, len(ms))
		return 1
	}
	if *check {
		equivalent := 0
		for _, m := range ms {
			if m.Equivalent != "" {
				equivalent++
			}
		}
		fmt.Printf("%d mutants apply exactly once (%d argued equivalent)\n", len(ms), equivalent)
		return 0
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := mutation.Options{Root: *root, Seeds: *seeds, Jobs: *jobs, Timeout: *timeout, Keep: *keep, UnitTests: *unit,
		CampaignArgs: strings.Fields(*campaignArgs)}
	what := "plain campaign"
	if *campaignArgs != "" {
		what = "campaign " + strings.Join(opts.CampaignArgs, " ")
	}
	fmt.Printf("mutants: %d mutants, %s of %d seeds each (--jobs %d)\n", len(ms), what, *seeds, *jobs)
	var rs []mutation.Result
	if *baseline {
		ms = append([]*mutation.Mutant{mutation.Baseline}, ms...)
	}
	for i, m := range ms {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "mutants: interrupted")
			break
		}
		r := mutation.Run(ctx, m, opts)
		if *baseline && m != mutation.Baseline {
			mutation.CompareWithBaseline(&r, &rs[0])
		}
		rs = append(rs, r)
		if m == mutation.Baseline && r.Verdict != mutation.Survived {
			fmt.Fprintf(os.Stderr, "mutants: the unmutated engine does not pass the campaign (%s: %s %s); no kill would mean anything\n", r.Verdict, r.Checker, r.Detail)
			return 1
		}
		line := fmt.Sprintf("[%d/%d] %s: %s", i+1, len(ms), m.Name, r.Verdict)
		if r.Verdict == mutation.Killed {
			line += fmt.Sprintf(" after %d seeds (%s), %d/%d seeds failed", r.SeedsToDetection, r.Checker, r.Failed, r.Runs)
		} else if r.Detail != "" {
			line += ": " + r.Detail
		}
		if r.Compared > 0 {
			line += fmt.Sprintf(", %s runs infected", r.InfectedString())
		}
		switch {
		case r.Equivalent != "" && r.Verdict == mutation.Killed:
			line += " (ARGUMENT REFUTED: it was argued equivalent)"
		case r.Equivalent != "":
			line += " (argued equivalent)"
		}
		fmt.Printf("%s in %v\n", line, time.Duration(r.WallNS).Round(100*time.Millisecond))
		if *jsonOut != "" {
			if err := writeJSON(*jsonOut, *seeds, rs); err != nil { // after each, so a long run keeps its results
				fmt.Fprintln(os.Stderr, "mutants:", err)
				return 1
			}
		}
	}
	fmt.Println()
	mutation.WriteTable(os.Stdout, rs)
	if s := mutation.Summarize(rs); s.Broken > 0 || len(rs) < len(ms) {
		return 1
	}
	return 0
}

func writeJSON(path string, seeds uint64, rs []mutation.Result) error {
	b, err := json.MarshalIndent(struct {
		Seeds   uint64            `json:"seeds"`
		Summary mutation.Summary  `json:"summary"`
		Results []mutation.Result `json:"results"`
	}{seeds, mutation.Summarize(rs), rs}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
