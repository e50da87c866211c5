package mutation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Verdicts of a mutant.
const (
	Killed       = "killed"        // the campaign failed on at least one seed
	Survived     = "survived"      // every seed passed
	CompileError = "compile-error" // the mutant does not build: a defect in the mutant
	Stale        = "stale"         // its original snippet is not in the file exactly once
	Error        = "error"         // the campaign could not be run or read
	Timeout      = "timeout"       // the campaign ran past Options.Timeout
)

// Options configure a run of mutants.
type Options struct {
	Root    string        // the module root to copy
	Seeds   uint64        // seeds of the plain campaign
	Jobs    int           // the campaign's --jobs
	Timeout time.Duration // per mutant, build and campaign (0: none)
	Keep    bool          // keep each mutant's temporary tree (to reproduce in it)
	// UnitTests also runs `go test` on the mutated file's package in the
	// tree, to compare the campaign with the package's own tests.
	UnitTests bool
	Log       io.Writer // progress lines (nil: none)
	// CampaignArgs are more flags for the campaign (--guided, say), to
	// compare a way of campaigning with the plain one on the same
	// mutants. An aiming flag here makes the campaign no longer plain.
	CampaignArgs []string
}

// Result is what one mutant did.
type Result struct {
	Mutant  string `json:"mutant"`
	Area    string `json:"area"`
	File    string `json:"file"`
	Verdict string `json:"verdict"`
	// SeedsToDetection is how many seeds the campaign had run when the
	// first failing seed came: the smallest failing index + 1 (0 when
	// not killed).
	SeedsToDetection uint64 `json:"seeds_to_detection,omitempty"`
	FirstSeed        uint64 `json:"first_seed,omitempty"`
	// DetectionNS is the campaign's wall time when the first failing
	// run finished (with --jobs 1, the time to first detection).
	DetectionNS int64 `json:"detection_ns,omitempty"`
	// DetectionCPUNS is the campaign's CPU time by then: on a shared
	// machine, a truer measure of the work to first detection.
	DetectionCPUNS  int64  `json:"detection_cpu_ns,omitempty"`
	Checker         string `json:"checker,omitempty"`   // of the first failing seed
	Failure         string `json:"failure,omitempty"`   // its first failure line
	Repro           string `json:"repro,omitempty"`     // its reproduce command, in the mutated tree
	Failed          int    `json:"failed"`              // failing seeds
	Runs            int    `json:"runs"`                // seeds run
	Checkers        string `json:"checkers,omitempty"`  // failures by checker, all seeds
	Detail          string `json:"detail,omitempty"`    // why, for compile-error, stale, error
	Tree            string `json:"tree,omitempty"`      // the kept temporary tree
	BuildNS         int64  `json:"build_ns"`            // wall time of copy and build
	CampaignNS      int64  `json:"campaign_ns"`         // wall time of the campaign
	WallNS          int64  `json:"wall_ns"`             // both
	Seeds           uint64 `json:"seeds"`               // asked for
	Description     string `json:"description"`         // the mutant's
	MutantFile      string `json:"mutant_file"`         // where the mutant is kept
	CampaignCommand string `json:"campaign_command"`    // what ran, in the tree
	Applied         bool   `json:"applied"`             // the mutant applied cleanly
	ExitCode        int    `json:"campaign_exit_code"`  // of pgdst campaign
	TimedOut        bool   `json:"timed_out,omitempty"` // build or campaign hit Options.Timeout
	// The campaign's simulated time and scheduler steps over all seeds:
	// beside the baseline's, they show a mutant that made the engine slow
	// or spin without any checker failing.
	VirtualNS int64  `json:"virtual_ns"`
	Steps     uint64 `json:"steps"`
	// Unit is the verdict of the mutated package's own tests (Options.
	// UnitTests): killed (a test failed), survived, or "" when not run.
	Unit       string `json:"unit,omitempty"`
	UnitDetail string `json:"unit_detail,omitempty"` // the first failing test
	// Equivalent is the mutant's equivalence argument (Mutant.Equivalent);
	// Refuted says the campaign killed it all the same, so the argument
	// is wrong (and the mutant counts as killed).
	Equivalent string `json:"equivalent,omitempty"`
	Refuted    bool   `json:"refuted,omitempty"`
	// The RIP model (reach, infect, propagate; rip.go): of the Compared
	// seeds, run by both the baseline and the mutant, Infected traced
	// differently from the baseline's same seed, the first of them
	// FirstInfectedSeed. Compared is 0 when there was no baseline to
	// compare with (--baseline=false) or either campaign gave no trace
	// hashes.
	Compared          int    `json:"infection_compared"`
	Infected          int    `json:"infected_runs"`
	FirstInfectedSeed uint64 `json:"first_infected_seed,omitempty"`
	// Traces are the campaign's trace hashes by index, seed TraceStart
	// first (campaign --trace-hashes); kept out of the JSON, which would
	// otherwise carry 2000 hashes per mutant.
	Traces     []string `json:"-"`
	TraceStart uint64   `json:"-"`
}

// skipDirs are not copied: version control, build outputs, campaign outputs.
var skipDirs = map[string]bool{".git": true, "bin": true, "out": true}

// CopyTree copies the regular files under src to dst, leaving out skipDirs
// at any depth and symbolic links.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel != "." && skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
}

// campaignJSON is the part of `pgdst campaign --json` the runner reads.
type campaignJSON struct {
	Params struct {
		Start uint64 `json:"start"`
	} `json:"params"`
	TraceHashes []string `json:"trace_hashes"`
	Totals      struct {
		Runs      int    `json:"runs"`
		Failed    int    `json:"failed"`
		VirtualNS int64  `json:"virtual_ns"`
		Steps     uint64 `json:"steps"`
	} `json:"totals"`
	FailuresByChecker map[string]int `json:"failures_by_checker"`
	FailingSeeds      []struct {
		Seed     uint64   `json:"seed"`
		Index    uint64   `json:"index"`
		Checker  string   `json:"checker"`
		Failures []string `json:"failures"`
		Repro    string   `json:"repro_command"`
		WallNS   int64    `json:"wall_ns"`
		CPUNS    int64    `json:"cpu_ns"`
	} `json:"failing_seeds"`
}

// Run applies m to a temporary copy of the module, builds pgdst there, runs
// the plain campaign and returns what it found. The copy is removed unless
// o.Keep.
func Run(ctx context.Context, m *Mutant, o Options) (res Result) {
	res = Result{Mutant: m.Name, Area: m.Area, File: m.File, Seeds: o.Seeds, Description: m.Description, MutantFile: m.Path, Equivalent: m.Equivalent}
	start := time.Now()
	defer func() {
		res.WallNS = int64(time.Since(start))
		res.Refuted = res.Equivalent != "" && res.Verdict == Killed
	}()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	tmp, err := os.MkdirTemp("", "pgdst-mutant-"+m.Name+"-")
	if err != nil {
		res.Verdict, res.Detail = Error, err.Error()
		return res
	}
	if o.Keep {
		res.Tree = tmp
	} else {
		defer os.RemoveAll(tmp)
	}
	tree := filepath.Join(tmp, "src")
	if err := CopyTree(o.Root, tree); err != nil {
		res.Verdict, res.Detail = Error, "copying the module: "+err.Error()
		return res
	}
	if err := m.ApplyTo(tree); err != nil {
		res.Verdict, res.Detail = Stale, err.Error()
		if !errors.Is(err, ErrStale) {
			res.Verdict = Error
		}
		return res
	}
	res.Applied = true

	// -trimpath keeps the build cache's keys free of the temporary path,
	// so only the mutated package and those above it are compiled again;
	// -tags nosql leaves pgdst serve's SQL layer (cgo) out of the binary
	// (cmd/pgdst/serve_nosql.go): a mutant is judged by the simulator.
	bin := filepath.Join(tmp, "pgdst")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "nosql", "-o", bin, "./cmd/pgdst")
	build.Dir = tree
	out, err := build.CombinedOutput()
	res.BuildNS = int64(time.Since(start))
	if err != nil {
		res.Verdict, res.Detail = CompileError, firstLines(string(out), 6)
		if ctx.Err() != nil {
			res.Verdict, res.TimedOut, res.Detail = Timeout, true, "build: "+ctx.Err().Error()
		}
		return res
	}

	if o.UnitTests && len(m.Hunks) > 0 {
		pkg := "./" + filepath.ToSlash(filepath.Dir(filepath.FromSlash(m.File)))
		test := exec.CommandContext(ctx, "go", "test", "-trimpath", "-count=1", pkg)
		test.Dir = tree
		out, err := test.CombinedOutput()
		res.Unit = Survived
		if err != nil {
			res.Unit, res.UnitDetail = Killed, firstFailure(string(out))
		}
	}

	jsonPath := filepath.Join(tmp, "campaign.json")
	// --trace-hashes: every seed's trace hash, for the RIP comparison
	// with the baseline (rip.go).
	args := []string{"campaign", "--seeds", strconv.FormatUint(o.Seeds, 10), "--jobs", strconv.Itoa(max(o.Jobs, 1)), "--json", jsonPath, "--trace-hashes"}
	extra := append(slices.Clone(m.Args), o.CampaignArgs...)
	args = append(args, extra...)
	res.CampaignCommand = "pgdst " + strings.Join(append(args[:5:5], extra...), " ")
	camp := exec.CommandContext(ctx, bin, args...)
	camp.Dir = tree
	var stderr bytes.Buffer
	camp.Stdout, camp.Stderr = io.Discard, &stderr
	cstart := time.Now()
	err = camp.Run()
	res.CampaignNS = int64(time.Since(cstart))
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.Verdict, res.TimedOut, res.Detail = Timeout, true, "campaign: "+ctx.Err().Error()
		return res
	case errors.As(err, &exit):
		res.ExitCode = exit.ExitCode() // 1 is a failing seed, read below
	case err != nil:
		res.Verdict, res.Detail = Error, "campaign: "+err.Error()
		return res
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		res.Verdict, res.Detail = Error, fmt.Sprintf("campaign exited %d without its JSON: %s", res.ExitCode, firstLines(stderr.String(), 6))
		return res
	}
	var cj campaignJSON
	if err := json.Unmarshal(data, &cj); err != nil {
		res.Verdict, res.Detail = Error, "campaign JSON: "+err.Error()
		return res
	}
	res.Runs, res.Failed = cj.Totals.Runs, cj.Totals.Failed
	res.VirtualNS, res.Steps = cj.Totals.VirtualNS, cj.Totals.Steps
	res.Checkers = checkerCounts(cj.FailuresByChecker)
	res.Traces, res.TraceStart = cj.TraceHashes, cj.Params.Start
	if res.Failed == 0 || len(cj.FailingSeeds) == 0 {
		res.Verdict = Survived
		if res.ExitCode != 0 {
			res.Verdict, res.Detail = Error, fmt.Sprintf("campaign exited %d with no failing seed: %s", res.ExitCode, firstLines(stderr.String(), 6))
		}
		return res
	}
	first := cj.FailingSeeds[0]
	for _, f := range cj.FailingSeeds[1:] {
		if f.Index < first.Index {
			first = f
		}
	}
	res.Verdict = Killed
	res.SeedsToDetection = first.Index + 1
	res.FirstSeed = first.Seed
	res.DetectionNS, res.DetectionCPUNS = first.WallNS, first.CPUNS
	res.Checker = first.Checker
	res.Repro = first.Repro
	if len(first.Failures) > 0 {
		res.Failure = firstLines(first.Failures[0], 1)
	}
	return res
}

// checkerCounts renders failures by checker as "durability=3 isolation=1",
// sorted by name.
func checkerCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// firstLines returns at most n lines of s, trimmed, joined with " | ".
func firstLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
		if len(out) == n {
			break
		}
	}
	return strings.Join(out, " | ")
}

// WriteTable prints the results as a table, then the reproduce command of
// each killed mutant's first failing seed and the detail of each mutant
// that could not be judged.
func WriteTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var base *Result
	for i := range rs {
		if rs[i].Mutant == Baseline.Name && rs[i].Verdict == Survived {
			base = &rs[i]
		}
	}
	fmt.Fprintln(tw, "mutant\tarea\tverdict\tseeds to first\twall (cpu) to first\tfailed/runs\tchecker\tinfected/compared runs\tsimulated\tsteps\tvs baseline\tunit tests\twall")
	for _, r := range rs {
		verdict := r.Verdict
		switch {
		case r.Mutant == Baseline.Name && verdict == Survived:
			verdict = "passes"
		case r.Equivalent != "" && verdict == Killed:
			verdict = "killed: ARGUMENT REFUTED"
		case r.Equivalent != "" && verdict == Survived:
			verdict = "survived (argued equivalent)"
		}
		first, checker, firstWall := "-", "-", "-"
		if r.Verdict == Killed {
			first, checker = strconv.FormatUint(r.SeedsToDetection, 10), r.Checker
			firstWall = fmt.Sprintf("%v (%v)", time.Duration(r.DetectionNS).Round(10*time.Millisecond), time.Duration(r.DetectionCPUNS).Round(10*time.Millisecond))
		}
		fr := "-"
		if r.Runs > 0 {
			fr = fmt.Sprintf("%d/%d", r.Failed, r.Runs)
		}
		unit := r.Unit
		if unit == "" {
			unit = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\t%s\t%s\n", r.Mutant, r.Area, verdict, first, firstWall, fr, checker, r.InfectedString(),
			time.Duration(r.VirtualNS).Round(time.Second), r.Steps, VersusBaseline(r, base), unit, time.Duration(r.WallNS).Round(100*time.Millisecond))
	}
	tw.Flush()
	s := Summarize(rs)
	fmt.Fprintf(w, "\n%d mutants: %d killed, %d survived", s.Total, s.Killed, s.Survived)
	if s.Broken > 0 {
		fmt.Fprintf(w, ", %d not judged (stale, compile error, error or timeout)", s.Broken)
	}
	if s.Judged > 0 {
		fmt.Fprintf(w, "; %.0f%% of the judged killed", 100*float64(s.Killed)/float64(s.Judged))
	}
	if s.Equivalent > 0 {
		fmt.Fprintf(w, "; %d argued equivalent, so %d of the other %d killed", s.Equivalent, s.Killed, s.Judged-s.Equivalent)
		if s.Judged > s.Equivalent {
			fmt.Fprintf(w, " (%.0f%%)", 100*float64(s.Killed)/float64(s.Judged-s.Equivalent))
		}
	}
	fmt.Fprintln(w)
	if s.Refuted > 0 {
		fmt.Fprintf(w, "ARGUMENT REFUTED: %d mutants argued equivalent were killed (counted as killed); fix or remove their 'equivalent:'\n", s.Refuted)
	}
	if s.SurvivorsCompared > 0 {
		fmt.Fprintf(w, "survivors against the baseline's traces: %d infected no run (equivalent or out of reach), %d infected runs no checker judged wrong\n",
			s.SurvivorsCompared-s.SurvivorsInfected, s.SurvivorsInfected)
	}
	for _, r := range rs {
		switch r.Verdict {
		case Killed:
			fmt.Fprintf(w, "%s: seed %d, %s: %s\n  reproduce (in a tree with the mutant applied: --only %s --keep): %s\n",
				r.Mutant, r.FirstSeed, r.Checker, r.Failure, r.Mutant, r.Repro)
			if r.Equivalent != "" {
				fmt.Fprintf(w, "  ARGUMENT REFUTED: it was argued equivalent: %s\n", r.Equivalent)
			}
			if r.Compared > 0 && r.Infected == 0 {
				fmt.Fprintf(w, "  %s\n", r.RIP())
			}
		case Survived:
			if r.Mutant == Baseline.Name {
				break
			}
			if rip := r.RIP(); rip != "" {
				fmt.Fprintf(w, "%s: survived, %s infected: %s\n", r.Mutant, r.InfectedString(), rip)
			}
			if r.Equivalent != "" && r.Infected > 0 {
				fmt.Fprintf(w, "  note: argued equivalent, yet %d runs traced differently from the baseline (first seed %d): the argument holds only if the change preserves behaviour (a different but still total lock order), not if it says the code never decides\n",
					r.Infected, r.FirstInfectedSeed)
			}
		default:
			fmt.Fprintf(w, "%s: %s: %s\n", r.Mutant, r.Verdict, r.Detail)
		}
		if r.Unit == Killed {
			fmt.Fprintf(w, "%s: unit tests of its package: %s\n", r.Mutant, r.UnitDetail)
		}
		if r.Tree != "" {
			fmt.Fprintf(w, "  kept tree: %s\n", r.Tree)
		}
	}
}

// Summary counts verdicts.
type Summary struct {
	Total, Killed, Survived, Broken, Judged int
	// Equivalent counts the survivors argued equivalent: the usual
	// mutation score is Killed / (Judged - Equivalent). Refuted counts the
	// mutants argued equivalent that were killed (in Killed).
	Equivalent int
	Refuted    int
	// Of the survivors compared with the baseline's traces, how many,
	// and how many had an infected run.
	SurvivorsCompared int
	SurvivorsInfected int
}

// Summarize counts the verdicts of rs, the baseline left out.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		if r.Mutant == Baseline.Name {
			continue
		}
		s.Total++
		switch r.Verdict {
		case Killed:
			s.Killed++
			if r.Equivalent != "" {
				s.Refuted++
			}
		case Survived:
			s.Survived++
			if r.Equivalent != "" {
				s.Equivalent++
			}
			if r.Compared > 0 {
				s.SurvivorsCompared++
				if r.Infected > 0 {
					s.SurvivorsInfected++
				}
			}
		default:
			s.Broken++
		}
	}
	s.Judged = s.Killed + s.Survived
	return s
}

// VersusBaseline compares a campaign with the baseline's: "identical" when
// it took the same scheduler steps and simulated time over the same seeds
// (the mutated code never changed any run: it was not reached, or reached
// only where it makes no difference), else the change in steps and
// simulated time, which shows a mutant that slows the engine down or makes
// it spin while every checker passes.
func VersusBaseline(r Result, base *Result) string {
	if base == nil || r.Mutant == base.Mutant || r.Runs != base.Runs || r.Runs == 0 || base.Steps == 0 || base.VirtualNS == 0 {
		return "-"
	}
	if r.Steps == base.Steps && r.VirtualNS == base.VirtualNS {
		return "identical"
	}
	pct := func(a, b float64) float64 { return 100 * (a - b) / b }
	return fmt.Sprintf("steps %+.1f%% sim %+.1f%%", pct(float64(r.Steps), float64(base.Steps)), pct(float64(r.VirtualNS), float64(base.VirtualNS)))
}

// firstFailure returns the first "--- FAIL" line of go test's output, or its
// first lines when there is none (a build failure or a panic).
func firstFailure(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--- FAIL") {
			return strings.TrimSpace(l)
		}
	}
	return firstLines(out, 2)
}
