// Command pgdst runs the deterministic simulator: one seed (run), many seeds
// on all cores (campaign), and the registry of planted bugs (bugs).
//
// It is thin: each command parses its flags (the run flags from the one
// table in harness/cli) and calls the harness package that does the work:
// harness/campaign, harness/shrink, harness/report, harness/repro.
//
// Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/campaign"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/explain"
	"github.com/pgdst/pgdst/harness/report"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/harness/shrink"
	"github.com/pgdst/pgdst/simtest"
)

const usage = `usage: pgdst <command> [flags]

commands:
  run       run one seed: pgdst run --seed N
  campaign  run many seeds on all cores: pgdst campaign --seeds N [--start S] [--jobs J]
            or every crash point's first K hits: pgdst campaign --systematic K
  merge     combine the JSON results of campaign shards: pgdst merge a.json b.json ... [-o all.json]
  replay    re-run a repro file and say whether it fails identically: pgdst replay FILE
  shrink    reduce a repro file to a minimal one that still fails: pgdst shrink FILE [-o OUT]
  report    one self-contained HTML page for a failing run: pgdst report DIR
  explain   why a repro file's run failed, in plain words: pgdst explain FILE
  bugs      list the planted bugs that --bug switches on
  faults    the fault plan language that --faults and --fault take
  points    the injection points, and what a crash at each means
  probe     the workloads and checkers against any PostgreSQL server: pgdst probe --target postgres://...
  serve     the engine on real files for real PostgreSQL clients: pgdst serve --data DIR [--listen 127.0.0.1:5432]
  version   the build id that repro files record (also --version)

'pgdst <command> -h' lists a command's flags.`

func main() {
	tuneGC()
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// tuneGC raises the collector's target unless GOGC is set. A run's live heap
// is a few hundred kilobytes while it allocates about a megabyte, so at the
// default target the collector runs every run or two; measured on 2 cores,
// GOGC=1000 makes a campaign 3-5x faster. The memory limit keeps the heap
// bounded all the same.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(simtest.CampaignGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(2 << 30)
	}
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	err := dispatch(args, stdout, stderr)
	if err == nil {
		return 0
	}
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(stderr, ee.Msg)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, "pgdst:", err)
	return 1
}

// dispatch runs the command args[0] names (args is not empty).
func dispatch(args []string, stdout, stderr io.Writer) error {
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "campaign":
		return cmdCampaign(args[1:], stdout, stderr)
	case "merge":
		return cmdMerge(args[1:], stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "shrink":
		return cmdShrink(args[1:], stdout, stderr)
	case "report":
		return cmdReport(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "bugs":
		return cmdBugs(args[1:], stdout)
	case "faults":
		return cmdFaults(args[1:], stdout)
	case "points":
		return cmdPoints(args[1:], stdout)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	case "version", "-version", "--version":
		// The build id is what repro files record and replay compares:
		// module, version, VCS revision (+modified for a dirty tree).
		fmt.Fprintf(stdout, "pgdst %s %s\n", repro.BuildID(), runtime.Version())
		return nil
	default:
		return cli.Usage("pgdst: unknown command %q (want run, campaign, merge, replay, shrink, report, explain, probe, serve, bugs, faults, points or version)", args[0])
	}
}

// parseOnly, which only tests set, makes run, campaign, merge, replay,
// shrink, report and points return errParseOnly as soon as their flags and
// arguments are parsed and checked, before they read a repro or campaign
// file, write anything or run a seed: docs_test.go checks every command
// line of docs/campaigns.md so, in no time.
var parseOnly bool

var errParseOnly = errors.New("parse only: the command line is well formed")

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "the seed")
	traceFile := fs.String("trace", "", "write the readable trace to this file")
	artifacts := fs.String("artifacts", "", "if the run fails, write its repro file, trace and porcupine visualization to this directory (as campaign --artifacts does)")
	var w cli.RunFlagSet
	w.Register(fs)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := w.Prepare(); err != nil {
		return cli.Usage("pgdst run: %v", err)
	}
	cfg, err := w.Config(*seed)
	if err != nil {
		return cli.Usage("pgdst run: %v", err)
	}
	if parseOnly {
		return errParseOnly
	}
	if path, fileSeed := w.File(); path != "" && fileSeed != 0 && fileSeed != *seed && !cli.Given(fs, "seed") {
		// Most likely a repro file given to reproduce it: say that this
		// is another run, not that one.
		fmt.Fprintf(stderr, "pgdst run: %s names seed %d, which --config does not use: running seed %d (--seed %d runs that one)\n",
			path, fileSeed, *seed, fileSeed)
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return cli.Usage("pgdst run: %v", err)
		}
		defer f.Close()
		cfg.TraceOut = f
	}
	if *artifacts != "" {
		if err := os.MkdirAll(*artifacts, 0o755); err != nil {
			return cli.Usage("pgdst run: --artifacts: %v", err)
		}
	}
	cli.UseCores(1)
	res := simtest.Run(cfg)
	if !res.OK && *artifacts != "" {
		cfg.TraceOut = nil
		p, err := campaign.WriteArtifacts(*artifacts, fmt.Sprintf("seed-%d", *seed), cfg, res, cli.Command(cfg))
		if err != nil {
			fmt.Fprintf(stderr, "pgdst run: artifacts: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "artifacts: %s\n", strings.Join(p.List(), " "))
		}
	}
	fmt.Fprintln(stdout, res.Summary())
	if !res.OK {
		fmt.Fprintf(stderr, "reproduce: %s\n", cli.Command(cfg))
		return cli.Failed("")
	}
	return nil
}

// jobsPerCore bounds --jobs: each run is single-threaded, so more workers
// than a few per core only add memory and contention.
const jobsPerCore = 4

func cmdCampaign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("campaign", flag.ContinueOnError)
	n := cli.Uint64(fs, "seeds", 0, 1, math.MaxUint64, "how many seeds to run (required, > 0, unless --systematic); with --shard, of all shards together")
	start := fs.Uint64("start", 1, "the first seed")
	jobs := cli.Int(fs, "jobs", runtime.NumCPU(), 1, math.MaxInt, fmt.Sprintf("seeds run in parallel (at most %d per core)", jobsPerCore))
	systematic := cli.Int(fs, "systematic", 0, 1, 1000, "instead of seeds: crash at each crash point's first K hits, one run each, all on seed --start")
	jsonOut := fs.String("json", "", "write the results as JSON to this file (see 'pgdst merge')")
	junitOut := fs.String("junit", "", "write the results as JUnit XML to this file: a testcase per failing seed and a summary testcase")
	artifacts := fs.String("artifacts", "", "write each failing seed's repro file, trace and porcupine visualization, and campaign.json, to this directory")
	shardFlag := fs.String("shard", "", "run shard I of N: the seeds whose index (seed - start) is I mod N; 'auto/N' takes I from $JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
	budget := cli.DurationFlag(fs, "time-budget", 0, 0, math.MaxInt64, "start no new seed after this much wall time (0: no limit); running out is not a failure")
	requireCoverage := fs.Bool("require-coverage", false, "fail (exit 1) when a sometimes condition of the engine ('pgdst points') was reached by no run, naming them: for CI")
	traceHashes := fs.Bool("trace-hashes", false, "put every run's trace hash into the --json results (trace_hashes, by seed - start): two builds' lists, compared seed by seed, show which runs a change to the engine changed")
	guided := fs.Bool("guided", false, "feedback-directed: after a first generation of seeds, derive most runs from a corpus of runs that reached new coverage, by mutating their knobs and fault plans (each run is still a full config with its reproduce command; deterministic for the flags, whatever --jobs)")
	anchor := cli.Int(fs, "guided-anchor", 0, 0, 100, "with --guided: the percent of derived runs that fork a corpus run at the first reach of one of its rarest sometimes conditions (0: none; measured no faster, docs/mutants.md)")
	var w cli.RunFlagSet
	w.Register(fs)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	var plans []fault.Plan
	switch {
	case *anchor > 0 && !*guided:
		return cli.Usage("pgdst campaign: --guided-anchor is a share of a guided campaign's derived runs: add --guided")
	case *systematic > 0 && *guided:
		return cli.Usage("pgdst campaign: --systematic enumerates crash points; --guided explores from seeds: give one")
	case *systematic > 0 && *shardFlag != "":
		return cli.Usage("pgdst campaign: --shard splits --seeds; a --systematic campaign is not sharded")
	case *systematic > 0 && (*n != 0 || w.PlanGiven() || w.CrashStepGiven()):
		return cli.Usage("pgdst campaign: --systematic makes its own plans; drop --seeds, --faults, --fault, --no-faults and --crash-step")
	case *systematic > 0:
		plans = fault.Systematic(simtest.CrashPoints(), *systematic)
		*n = uint64(len(plans))
	case *n == 0:
		return cli.Usage("pgdst campaign: say how many seeds: --seeds N (or --systematic K)")
	}
	if *start+*n < *start {
		return cli.Usage("pgdst campaign: --start + --seeds overflows")
	}
	shard, shards, err := campaign.ParseShard(*shardFlag, os.Getenv)
	if err != nil {
		return cli.Usage("pgdst campaign: --shard: %v", err)
	}
	if err := w.Prepare(); err != nil {
		return cli.Usage("pgdst campaign: %v", err)
	}
	base, err := w.Config(*start)
	if err != nil {
		return cli.Usage("pgdst campaign: %v", err)
	}
	if plans != nil {
		// Each run's plan is one of the systematic plans; a --config
		// file's plan and crash step would add their faults to it.
		base.Faults, base.CrashStep = "", 0
	}
	if parseOnly {
		return errParseOnly
	}
	if cores := runtime.NumCPU(); *jobs > jobsPerCore*cores {
		fmt.Fprintf(stderr, "pgdst campaign: --jobs %d is far above the %d cores (each run is single-threaded): running %d\n", *jobs, cores, jobsPerCore*cores)
		*jobs = jobsPerCore * cores
	}
	return campaign.Run(campaign.Options{
		Start: *start, Seeds: *n, Jobs: *jobs, Plans: plans, Systematic: *systematic,
		Shard: shard, Shards: shards, Budget: *budget,
		JSON: *jsonOut, JUnit: *junitOut, Artifacts: *artifacts, Base: base,
		RequireCoverage: *requireCoverage, Guided: *guided, GuidedAnchor: *anchor, Pinned: w.GivenNames(), TraceHashes: *traceHashes,
	}, stdout, stderr)
}

func cmdMerge(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	out := fs.String("o", "", "write the merged JSON to this file")
	junit := fs.String("junit", "", "write the merged results as JUnit XML to this file")
	requireCoverage := fs.Bool("require-coverage", false, "fail (exit 1) when a sometimes condition was reached by no run of any shard, naming them: for CI")
	inputs, err := cli.ParseInterleaved(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(inputs) == 0 {
		return cli.Usage("pgdst merge: no input files (usage: pgdst merge a.json b.json ... [-o out.json])")
	}
	if parseOnly {
		return errParseOnly
	}
	return campaign.Merge(inputs, *out, *junit, *requireCoverage, stdout, stderr)
}

func cmdShrink(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shrink", flag.ContinueOnError)
	out := fs.String("o", "", "write the shrunk repro here (default: FILE with .min.json)")
	budget := cli.DurationFlag(fs, "time-budget", shrink.DefaultBudget, time.Nanosecond, math.MaxInt64, "stop shrinking after this much wall time (a cut gives a less-shrunk result)")
	maxAttempts := cli.Int(fs, "max-attempts", shrink.DefaultAttempts, 1, math.MaxInt, "stop shrinking after this many runs")
	quiet := fs.Bool("q", false, "do not print each accepted step")
	files, err := cli.ParseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return cli.Usage("pgdst shrink: want one repro file, got %d (usage: pgdst shrink FILE [-o OUT] [--time-budget D])", len(files))
	}
	if parseOnly {
		return errParseOnly
	}
	return shrink.Run(files[0], *out, *maxAttempts, *budget, *quiet, stdout, stderr)
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("o", "", "write the page here (default: DIR/report-NAME.html for DIR/NAME.repro.json); only with one repro")
	seed := fs.Uint64("seed", 0, "only the repro of this seed")
	maxEvents := cli.Int(fs, "max-events", report.DefaultEvents, 1, math.MaxInt, "most I/O events drawn per process lane (the rest are counted)")
	args2, err := cli.ParseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(args2) != 1 {
		return cli.Usage("pgdst report: want one artifacts directory or repro file, got %d (usage: pgdst report DIR [-o report.html] [--seed N])", len(args2))
	}
	if parseOnly {
		return errParseOnly
	}
	return report.Run(args2[0], *out, *seed, cli.Given(fs, "seed"), *maxEvents, stdout, stderr)
}

func cmdBugs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bugs", flag.ContinueOnError)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	for _, b := range bugs.All() {
		fmt.Fprintf(stdout, "%s\t%s\n", b.Name, b.What)
	}
	return nil
}

// cmdReplay re-runs a repro file and says whether the run fails as it was
// recorded: the same checker and the same trace hash. A repro file written
// by another build is refused unless --force, because a changed build
// usually means a changed run.
//
// Exit status: 0 identical, 1 it differs, 2 bad input (a missing,
// malformed or truncated file, another build without --force).
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	force := fs.Bool("force", false, "replay a repro file written by another build")
	traceFile := fs.String("trace", "", "write the readable trace of the replay to this file")
	verbose := fs.Bool("v", false, "print the replay's whole summary")
	files, err := cli.ParseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return cli.Usage("pgdst replay: want one repro file, got %d (usage: pgdst replay FILE [--force])", len(files))
	}
	if parseOnly {
		return errParseOnly
	}
	r, err := repro.Read(files[0])
	if err != nil {
		return cli.Usage("pgdst replay: %s", err)
	}
	if this := repro.BuildID(); r.Build != this {
		msg := fmt.Sprintf("pgdst replay: repro file from build %s, this is build %s", r.Build, this)
		if !*force {
			return cli.Usage("%s (--force replays it anyway)", msg)
		}
		fmt.Fprintf(stderr, "%s; replaying anyway (--force)\n", msg)
	}
	cfg := r.Config
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return cli.Usage("pgdst replay: %s", err)
		}
		defer f.Close()
		cfg.TraceOut = f
	}
	cli.UseCores(1)
	res := simtest.Run(cfg)
	if *verbose {
		fmt.Fprintln(stdout, res.Summary())
	}
	diffs := r.Diffs(res)
	if len(diffs) == 0 {
		fmt.Fprintf(stdout, "identical: fails %s again, trace %s\n", res.Checker, res.TraceString())
	} else {
		fmt.Fprintf(stdout, "differs from the recording (%s):\n", files[0])
		for _, d := range diffs {
			fmt.Fprintf(stdout, "  %s\n", d)
		}
	}
	if !*verbose {
		fmt.Fprintln(stdout, cli.Verdict(res))
	}
	if len(diffs) > 0 {
		return cli.Failed("")
	}
	return nil
}

// cmdExplain replays a repro file with an event observer and prints why
// it failed, in plain words (harness/explain).
//
// Exit status: 0 explained, 1 the replay passes, 2 bad input.
func cmdExplain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	files, err := cli.ParseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return cli.Usage("pgdst explain: want one repro file, got %d (usage: pgdst explain FILE)", len(files))
	}
	if parseOnly {
		return errParseOnly
	}
	return explain.Run(files[0], stdout, stderr)
}
