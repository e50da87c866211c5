// Package campaign is `pgdst campaign` and `pgdst merge`: many runs on
// all cores, sharded across machines, and their results as JSON, JUnit XML
// and artifacts (report.go), merged from shards (merge.go).
package campaign

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// job is one run of a campaign: its config and the command that repeats it.
type job struct {
	cfg   simtest.Config
	repro string
	// index is the run's place in the whole campaign (seed - start, or the
	// plan's number under --systematic), whatever the shard.
	index uint64
	// name is the base name of the run's artifacts: seed-N, or under
	// --systematic, where every run has the same seed, seed-N-plan-K.
	name string
	plan string // the --systematic plan's fault line ("" otherwise)
	// derived: a guided campaign derived the run from its corpus.
	derived bool
}

// failure is a failed run, reduced to what the reports need: a campaign
// keeps no *simtest.Result, so that its memory grows only with the number
// of failures, by a few hundred bytes each.
type failure struct {
	idx       uint64 // job number within this campaign (shard)
	index     uint64 // job.index
	seed      uint64
	checker   string
	failures  []string // the first few
	trace     string
	repro     string
	plan      string
	artifacts ArtifactPaths
	// wall is how long the campaign had run when this run's result came:
	// with --jobs 1, the wall time to this detection.
	wall    time.Duration
	cpu     time.Duration // the process's CPU time by then (cpuTime)
	derived bool          // job.derived
}

// pointAgg is one injection point's totals over a campaign.
type pointAgg struct {
	hits        uint64 // hits summed over runs
	runsHit     int    // runs that hit it at least once
	runsCrashed int    // runs whose plan crashed there
}

// campaignOpts are runCampaign's optional parts.
type campaignOpts struct {
	progress func(done, failed int) // after each run, on one goroutine
	stop     <-chan struct{}        // closed: start no more runs
	budget   time.Duration          // > 0: start no more runs after this much wall time
	// onFail, when set, runs on the worker after a failing run (to write
	// its artifacts); its error is kept for the report.
	onFail     func(j job, r *simtest.Result) (ArtifactPaths, error)
	systematic bool // keep planFired
	// observe, when set, sees every run's result on the collecting
	// goroutine, in the order results arrive (the guided campaign puts
	// them back in job order).
	observe func(idx uint64, j job, r *simtest.Result)
	// epoch, when set, is when the campaign began, for failure.wall (a
	// guided campaign calls runCampaign once per generation).
	epoch time.Time
	// cpu0 is the process's CPU time when the campaign began (cpuTime).
	cpu0 time.Duration
	// traceHashes keeps every run's trace hash, by job.index.
	traceHashes bool
}

// campaignStats is what a campaign gathered.
type campaignStats struct {
	planned         uint64
	runs            int
	failed          []failure // sorted by job
	detected        int       // passing runs whose destructive faults were detected
	faults          int       // faults applied over all runs
	planFired       []bool    // by job: the plan's crash fired (systematic campaigns only)
	byChecker       map[string]int
	byCrash         map[string]int
	online          simtest.CheckerCounts // the online checkers' counts, summed
	points          map[string]*pointAgg
	sometimes       []int // by env.Conditions: the runs that reached each
	virtual         time.Duration
	steps           uint64
	wall            time.Duration
	jobs            int
	interrupted     bool
	budgetExhausted bool
	artifactErr     error // the first error writing artifacts
	// traces are the runs' trace hashes by job.index (campaignOpts.
	// traceHashes; nil otherwise).
	traces map[uint64]uint64
}

// runCampaign runs jobs [0, n) on workers goroutines. Each worker runs one
// job at a time, each single-threaded and deterministic, and jobs are
// handed out in order, so the results do not depend on the number of
// workers; when the campaign stops early (opts.stop, opts.budget) the jobs
// run are a prefix of [0, n), all finished. Nothing of a passing run is
// kept but its counts.
func runCampaign(n uint64, workers int, mk func(i uint64) job, opts campaignOpts) *campaignStats {
	st := &campaignStats{planned: n, byChecker: map[string]int{}, byCrash: map[string]int{}, points: map[string]*pointAgg{}, online: simtest.CheckerCounts{}, jobs: workers}
	st.sometimes = make([]int, len(env.Conditions))
	if opts.systematic {
		st.planFired = make([]bool, n)
	}
	if opts.traceHashes {
		st.traces = map[uint64]uint64{}
	}
	type done struct {
		idx    uint64
		job    job
		res    *simtest.Result
		art    ArtifactPaths
		artErr error
	}
	idxs := make(chan uint64)
	results := make(chan done, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idxs {
				j := mk(i)
				r := simtest.Run(j.cfg)
				r.History = nil // keep memory flat over many seeds
				d := done{idx: i, job: j, res: r}
				if !r.OK && opts.onFail != nil {
					d.art, d.artErr = opts.onFail(j, r)
				}
				results <- d
			}
		}()
	}
	var interrupted, budgetOut atomic.Bool
	began := time.Now()
	epoch, cpu0 := began, cpuTime()
	if !opts.epoch.IsZero() {
		epoch, cpu0 = opts.epoch, opts.cpu0
	}
	go func() {
		defer close(idxs)
		var budget <-chan time.Time
		if opts.budget > 0 {
			t := time.NewTimer(opts.budget)
			defer t.Stop()
			budget = t.C
		}
		for i := uint64(0); i < n; i++ {
			// Look at the stop conditions first: a select among ready
			// cases picks at random, and would start runs past them.
			select {
			case <-opts.stop:
				interrupted.Store(true)
				return
			case <-budget:
				budgetOut.Store(true)
				return
			default:
			}
			select {
			case idxs <- i:
			case <-opts.stop:
				interrupted.Store(true)
				return
			case <-budget:
				budgetOut.Store(true)
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for d := range results {
		r := d.res
		st.runs++
		st.virtual += r.Virtual
		st.steps += r.Steps
		st.byCrash[r.CrashKind]++
		st.online.Add(r.Online)
		st.faults += r.FaultsApplied
		if st.planFired != nil {
			// A systematic plan is one crash: fault 0.
			st.planFired[d.idx] = r.FaultFired(0)
		}
		st.addPoints(r)
		for i, c := range env.Conditions {
			if r.Sometimes.Has(c.Name) {
				st.sometimes[i]++
			}
		}
		if r.Detected != "" {
			st.detected++
		}
		if st.traces != nil {
			st.traces[d.job.index] = r.Trace
		}
		if opts.observe != nil {
			opts.observe(d.idx, d.job, r)
		}
		if !r.OK {
			fs := r.Failures
			if len(fs) > MaxReportedFailures {
				fs = fs[:MaxReportedFailures]
			}
			st.failed = append(st.failed, failure{
				idx: d.idx, index: d.job.index, seed: r.Seed, checker: r.Checker, failures: fs,
				trace: r.TraceString(), repro: d.job.repro, plan: d.job.plan, artifacts: d.art,
				wall: time.Since(epoch), cpu: cpuTime() - cpu0, derived: d.job.derived,
			})
			st.byChecker[r.Checker]++
			if d.artErr != nil && st.artifactErr == nil {
				st.artifactErr = d.artErr
			}
		}
		if opts.progress != nil {
			opts.progress(st.runs, len(st.failed))
		}
	}
	st.wall = time.Since(began)
	st.interrupted = interrupted.Load()
	st.budgetExhausted = budgetOut.Load()
	sort.Slice(st.failed, func(i, j int) bool { return st.failed[i].idx < st.failed[j].idx })
	return st
}

// MaxReportedFailures is how many of a failing run's failures the reports
// keep (the repro file has them all).
const MaxReportedFailures = 3

// addPoints adds a run's injection point hits and crashes.
func (st *campaignStats) addPoints(r *simtest.Result) {
	for name, h := range r.PointHits {
		a := st.point(name)
		a.hits += h
		if h > 0 {
			a.runsHit++
		}
	}
	for i, name := range r.CrashedAt {
		if !slices.Contains(r.CrashedAt[:i], name) {
			st.point(name).runsCrashed++
		}
	}
}

func (st *campaignStats) point(name string) *pointAgg {
	a := st.points[name]
	if a == nil {
		a = &pointAgg{}
		st.points[name] = a
	}
	return a
}

// Options define a campaign, its run configuration and its outputs; the
// command line checked them.
type Options struct {
	Start, Seeds uint64 // the first seed and how many (of all shards together)
	Jobs         int    // runs at once
	// Plans, under --systematic, are the runs' fault plans: run i has
	// plan i, all on seed Start; Systematic is K of --systematic K.
	Plans      []fault.Plan
	Systematic int
	// Shard, Shards: run shard Shard of Shards (0 of 1: all).
	Shard, Shards int
	Budget        time.Duration // > 0: start no new run after this much wall time
	// JSON, JUnit and Artifacts are where the results go ("": nowhere).
	JSON, JUnit, Artifacts string
	// Base is every run's configuration but for its seed, or its plan.
	Base simtest.Config
	// RequireCoverage makes a campaign in which some sometimes condition
	// (env.Conditions) was never reached fail, for CI: what the engine
	// declared must happen did not, so its code there went untested.
	RequireCoverage bool
	// Guided runs a feedback-directed campaign (guided.go): after the
	// first generation, most runs are derived from a corpus of runs that
	// reached new coverage, by mutating their knobs and fault plans.
	Guided bool
	// GuidedAnchor is the percent of a guided campaign's derived runs
	// that are anchored (guided_anchor.go); 0 makes none.
	GuidedAnchor int
	// Pinned are the run flags the command line gave: a guided campaign
	// mutates none of them (a plan flag pins the plan).
	Pinned []string
	// TraceHashes puts every run's trace hash into the JSON
	// (Report.TraceHashes), for comparing two builds run by run.
	TraceHashes bool
}

// Run runs a campaign and writes its results. It exits 1 (a cli.ExitError)
// when a run failed or the campaign was interrupted, 2 when an output
// cannot be written.
func Run(o Options, stdout, stderr io.Writer) error {
	base, plans, n, start, shard, shards := o.Base, o.Plans, o.Seeds, o.Start, o.Shard, o.Shards
	// The outputs are checked before any seed runs: a path that cannot be
	// written is a usage error, not an hour's campaign lost at the end.
	for _, p := range []struct{ flag, path string }{{"json", o.JSON}, {"junit", o.JUnit}} {
		if err := checkWritable(p.path); err != nil {
			return cli.Usage("pgdst campaign: --%s: %v", p.flag, err)
		}
	}
	if o.Artifacts != "" {
		if err := os.MkdirAll(o.Artifacts, 0o755); err != nil {
			return cli.Usage("pgdst campaign: --artifacts: %v", err)
		}
		if err := checkWritable(reportPath(o.Artifacts)); err != nil {
			return cli.Usage("pgdst campaign: --artifacts: %v", err)
		}
	}

	count := shardSize(n, shard, shards)
	mk := func(i uint64) job {
		g := uint64(shard) + i*uint64(shards) // the run's index in the whole campaign
		// Every run is base but for its seed or, under --systematic,
		// its plan.
		c := base
		if plans != nil {
			line := strings.TrimSuffix(plans[g].String(), "\n")
			c.Faults = line + "\n"
			return job{cfg: c, repro: cli.Command(c), index: g, name: fmt.Sprintf("seed-%d-plan-%d", start, g), plan: line}
		}
		c.Seed = start + g
		return job{cfg: c, repro: cli.Command(c), index: g, name: fmt.Sprintf("seed-%d", c.Seed)}
	}

	// Ctrl-C, or the SIGTERM a CI runner or Kubernetes sends at its
	// deadline, stops the campaign after the runs in flight, and the
	// results gathered so far are written; a second signal kills it as
	// usual.
	stop := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sig); close(sig) }()
	go func() {
		if _, ok := <-sig; ok {
			signal.Stop(sig)
			close(stop)
		}
	}()
	switch {
	case plans != nil:
		fmt.Fprintf(stdout, "campaign: systematic, %d crash points x first %d hits = %d runs on seed %d, %d workers%s\n",
			len(simtest.CrashPoints()), o.Systematic, n, start, o.Jobs, cli.Flags(base))
	case shards > 1:
		fmt.Fprintf(stdout, "campaign: shard %d/%d of seeds %d..%d (%d seeds) on %d workers%s\n",
			shard, shards, start, start+n-1, count, o.Jobs, cli.Flags(base))
	case o.Guided:
		fmt.Fprintf(stdout, "campaign: guided, %d runs on seeds %d..%d, generations of %d, on %d workers%s\n",
			n, start, start+n-1, guidedGeneration, o.Jobs, cli.Flags(base))
	default:
		fmt.Fprintf(stdout, "campaign: seeds %d..%d on %d workers%s\n", start, start+n-1, o.Jobs, cli.Flags(base))
	}
	progress, finish := progressReporter(count, stderr)
	opts := campaignOpts{progress: progress, stop: stop, budget: o.Budget, systematic: plans != nil, traceHashes: o.TraceHashes}
	if o.Artifacts != "" {
		dir := o.Artifacts
		opts.onFail = func(j job, r *simtest.Result) (ArtifactPaths, error) {
			return WriteArtifacts(dir, j.name, j.cfg, r, j.repro)
		}
	}
	cli.UseCores(o.Jobs)
	var st *campaignStats
	var gr *GuidedReport
	if o.Guided {
		st, gr = runGuided(o, count, mk, opts)
	} else {
		st = runCampaign(count, o.Jobs, mk, opts)
	}
	finish(st.runs)

	// Whatever ended the campaign, the outputs are written.
	flags := strings.TrimSpace(cli.Flags(base))
	base.Seed = 0
	params := Params{
		Start: start, Seeds: n, Systematic: o.Systematic, ShardCount: shards, Shards: []int{shard},
		Flags: flags, Config: base, Guided: o.Guided, GuidedAnchor: o.GuidedAnchor, TraceHashes: o.TraceHashes,
	}
	if o.Budget > 0 {
		params.TimeBudget = cli.Duration(o.Budget)
	}
	rep := newCampaignReport(params, st)
	rep.Guided = gr
	// The files first: they are what CI keeps, and stdout may be a pipe
	// already closed.
	wrote, werr := writeReportFiles(rep, o.JSON, o.JUnit, o.Artifacts)
	printCampaign(stdout, rep)
	if plans != nil {
		printSystematic(stdout, st, o.Systematic)
	}
	printWrote(stdout, wrote)
	if st.artifactErr != nil {
		fmt.Fprintf(stderr, "pgdst campaign: artifacts: %v\n", st.artifactErr)
		if werr == nil {
			werr = cli.Failed("")
		}
	}
	if werr != nil {
		return werr
	}
	if len(st.failed) > 0 || st.interrupted {
		return cli.Failed("")
	}
	if o.RequireCoverage {
		return coverageError("pgdst campaign", rep)
	}
	return nil
}

// coverageError is --require-coverage's verdict on a report: exit 1,
// naming them, when some sometimes condition was reached by no run.
func coverageError(cmd string, rep *Report) error {
	if len(rep.SometimesBlindSpots) == 0 {
		return nil
	}
	return cli.Failed(fmt.Sprintf("%s: --require-coverage: %d of %d sometimes conditions never reached: %s",
		cmd, len(rep.SometimesBlindSpots), len(rep.Sometimes), strings.Join(rep.SometimesBlindSpots, ", ")))
}

// writeReportFiles writes the report where the flags ask (any may be "")
// and returns what it wrote. It writes all it can; its error is the first.
func writeReportFiles(rep *Report, jsonPath, junitPath, artifactsDir string) (wrote []string, err error) {
	keep := func(what string, e error) {
		if e == nil {
			wrote = append(wrote, what)
		} else if err == nil {
			err = fmt.Errorf("writing the results: %w", e)
		}
	}
	if jsonPath != "" {
		keep(jsonPath, writeJSON(jsonPath, rep))
	}
	if junitPath != "" {
		keep(junitPath, writeJUnit(junitPath, rep))
	}
	if artifactsDir != "" {
		keep(fmt.Sprintf("%s (%d failing seeds)", artifactsDir, len(rep.FailingSeeds)),
			writeJSON(reportPath(artifactsDir), rep))
	}
	return wrote, err
}

func printWrote(out io.Writer, wrote []string) {
	if len(wrote) > 0 {
		fmt.Fprintf(out, "results:        %s\n", strings.Join(wrote, ", "))
	}
}

// progressReporter draws a progress bar on a terminal and prints a plain
// line every 10% otherwise (CI logs). finish, called once the campaign
// ends, clears the bar, or prints the last line if the campaign stopped
// early.
func progressReporter(total uint64, stderr io.Writer) (update func(done, failed int), finish func(done int)) {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions64(int64(total),
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("seeds"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("seeds"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		return func(done, failed int) {
				bar.Describe(fmt.Sprintf("seeds (%d failed)", failed))
				_ = bar.Set(done)
			}, func(done int) {
				if uint64(done) < total {
					_ = bar.Clear()
					_ = bar.Exit()
				}
			}
	}
	step := int(total / 10)
	if step == 0 {
		step = 1
	}
	began := time.Now()
	var lastDone, lastFailed, printed int
	line := func(done, failed int) {
		el := time.Since(began).Seconds()
		fmt.Fprintf(stderr, "progress: %d/%d seeds, %d failed, %.0f seeds/s\n", done, total, failed, float64(done)/el)
		printed = done
	}
	return func(done, failed int) {
			lastDone, lastFailed = done, failed
			if done%step == 0 || done == int(total) {
				line(done, failed)
			}
		}, func(done int) {
			if printed != lastDone {
				line(lastDone, lastFailed)
			}
		}
}

// printSystematic reports which crash points the enumeration reached, and
// the blind spots: points whose first hit never came in this workload.
func printSystematic(out io.Writer, st *campaignStats, k int) {
	points := simtest.CrashPoints()
	if uint64(st.runs) < st.planned {
		fmt.Fprintf(out, "only %d of %d plans ran: the counts below miss the rest\n", st.runs, st.planned)
	}
	var blind []string
	for p, name := range points {
		reached := 0
		for h := 0; h < k; h++ {
			if i := p*k + h; i < len(st.planFired) && st.planFired[i] {
				reached++
			}
		}
		fmt.Fprintf(out, "  %-36s crashed at %d of its first %d hits\n", name, reached, k)
		if reached == 0 {
			blind = append(blind, name)
		}
	}
	if len(blind) > 0 {
		fmt.Fprintf(out, "blind spots (never reached): %s\n", strings.Join(blind, ", "))
	} else {
		fmt.Fprintf(out, "every crash point was tried\n")
	}
}

// printCampaign prints a campaign's (or merged campaign's) summary table.
func printCampaign(out io.Writer, rep *Report) {
	t := rep.Totals
	fmt.Fprintf(out, "seeds run:      %d", t.Runs)
	if uint64(t.Runs) < t.Planned {
		fmt.Fprintf(out, " of %d", t.Planned)
	}
	switch {
	case rep.Interrupted:
		fmt.Fprintf(out, " (interrupted)")
	case rep.TimeBudgetExhausted:
		fmt.Fprintf(out, " (time budget of %s used up)", rep.Params.TimeBudget)
	}
	fmt.Fprintln(out)
	if p := rep.Params; p.ShardCount > 1 {
		fmt.Fprintf(out, "shards:         %s of %d", joinInts(p.Shards), p.ShardCount)
		if len(rep.MissingShards) > 0 {
			fmt.Fprintf(out, " (missing: %s)", joinInts(rep.MissingShards))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "failures:       %d\n", t.Failed)
	for _, k := range sortedKeys(rep.FailuresByChecker) {
		fmt.Fprintf(out, "  %-20s%d\n", k+":", rep.FailuresByChecker[k])
	}
	fmt.Fprintf(out, "crashes:       ")
	for _, k := range sortedKeys(rep.CrashesByKind) {
		fmt.Fprintf(out, " %s=%d", k, rep.CrashesByKind[k])
	}
	fmt.Fprintln(out)
	all := simtest.CrashPoints()
	hit, crashed := 0, 0
	for _, p := range rep.Points {
		if slices.Contains(all, p.Name) && p.Hits > 0 {
			hit++
		}
		if slices.Contains(all, p.Name) && p.RunsCrashed > 0 {
			crashed++
		}
	}
	fmt.Fprintf(out, "crash points:   %d of %d hit, %d crashed at\n", hit, len(all), crashed)
	if len(rep.BlindSpots) > 0 {
		fmt.Fprintf(out, "blind spots:    %s\n", strings.Join(rep.BlindSpots, ", "))
	}
	fmt.Fprintf(out, "sometimes:      %d of %d conditions reached\n", len(rep.Sometimes)-len(rep.SometimesBlindSpots), len(rep.Sometimes))
	if len(rep.SometimesBlindSpots) > 0 {
		fmt.Fprintf(out, "blind spots (sometimes): %s\n", strings.Join(rep.SometimesBlindSpots, ", "))
	}
	for _, line := range rep.OnlineCheckers.Lines() {
		fmt.Fprintf(out, "online checker: %s\n", line)
	}
	fmt.Fprintf(out, "faults:         %d applied, %d runs beyond the recoverability limits and detected\n", t.FaultsApplied, t.Detected)
	fmt.Fprintf(out, "simulated:      %v virtual, %d steps\n", time.Duration(t.VirtualNS).Round(time.Millisecond), t.Steps)
	wall := time.Duration(t.WallNS)
	fmt.Fprintf(out, "wall:           %v on %d workers, %.0f seeds/s, virtual/wall %.0fx\n",
		wall.Round(time.Millisecond), t.Workers, t.SeedsPerSec, quotient(time.Duration(t.VirtualNS).Seconds(), wall.Seconds()))
	printGuided(out, rep.Guided)
	const show = 20
	for i, f := range rep.FailingSeeds {
		if i == show {
			fmt.Fprintf(out, "... and %d more failing runs\n", len(rep.FailingSeeds)-show)
			break
		}
		first := f.Checker
		if len(f.Failures) > 0 {
			first = f.Failures[0]
		}
		fmt.Fprintf(out, "FAIL seed=%d %s\n  reproduce: %s\n", f.Seed, first, f.Repro)
	}
	printVerdict(out, rep)
}

// printVerdict ends the summary with one word a reader can act on, and
// what to do next: the campaign's exit status says the same.
func printVerdict(out io.Writer, rep *Report) {
	t := rep.Totals
	switch {
	case t.Failed > 0:
		f := rep.FailingSeeds[0]
		fmt.Fprintf(out, "FAIL: %d of %d seeds failed (first: seed %d, %s). Run a FAIL line's reproduce command; with --artifacts DIR, 'pgdst explain DIR/seed-%d.repro.json' says why it failed, 'pgdst shrink DIR/seed-%d.repro.json' reduces it and 'pgdst report DIR --seed %d' draws it.\n",
			t.Failed, t.Runs, f.Seed, f.Checker, f.Seed, f.Seed, f.Seed)
	case rep.Interrupted || len(rep.MissingShards) > 0:
		fmt.Fprintf(out, "INCOMPLETE: %d of %d seeds ran, none failed.\n", t.Runs, t.Planned)
	default:
		fmt.Fprintf(out, "PASS: %d seeds, no check failed.", t.Runs)
		if len(rep.BlindSpots) > 0 || len(rep.SometimesBlindSpots) > 0 {
			fmt.Fprintf(out, " Blind spots are not failures: no run reached them, so nothing was tested there (more seeds, or --fault aimed at them).")
		}
		fmt.Fprintln(out)
	}
}

// quotient is a / b, or 0 when b is not positive (an empty campaign).
func quotient(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
