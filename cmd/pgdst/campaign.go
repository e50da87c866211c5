package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest"
)

// job is one run of a campaign: its config and the command that repeats it.
type job struct {
	cfg   simtest.Config
	repro string
}

// failure is a failed run and the command that reproduces it.
type failure struct {
	idx   uint64
	res   *simtest.Result
	repro string
}

// campaignStats is what a campaign gathered.
type campaignStats struct {
	runs        int
	failed      []failure // sorted by job
	detected    int       // passing runs whose destructive faults were detected
	faults      int       // faults applied over all runs
	planFired   []bool    // by job: the plan's crash fired (systematic campaigns)
	byChecker   map[string]int
	byCrash     map[string]int
	virtual     time.Duration
	steps       uint64
	wall        time.Duration
	jobs        int
	interrupted bool
}

// runCampaign runs jobs [0, n) on workers goroutines. Each worker runs one
// job at a time, each single-threaded and deterministic, so the results do
// not depend on the number of workers. stop, when closed, ends the campaign
// after the jobs in flight.
func runCampaign(n uint64, workers int, mk func(i uint64) job, progress func(done int, failed int), stop <-chan struct{}) *campaignStats {
	st := &campaignStats{byChecker: map[string]int{}, byCrash: map[string]int{}, jobs: workers, planFired: make([]bool, n)}
	type done struct {
		idx   uint64
		res   *simtest.Result
		repro string
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
				results <- done{i, r, j.repro}
			}
		}()
	}
	var interrupted atomic.Bool
	go func() {
		defer close(idxs)
		for i := uint64(0); i < n; i++ {
			select {
			case idxs <- i:
			case <-stop:
				interrupted.Store(true)
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	began := time.Now()
	for d := range results {
		r := d.res
		st.runs++
		st.virtual += r.Virtual
		st.steps += r.Steps
		st.byCrash[r.CrashKind]++
		st.faults += r.FaultsApplied
		st.planFired[d.idx] = strings.Contains(r.CrashDetail, "fault 1: crash")
		for _, c := range r.RecoveryCrashes {
			st.planFired[d.idx] = st.planFired[d.idx] || strings.Contains(c, "fault 1: crash")
		}
		if r.Detected != "" {
			st.detected++
		}
		if !r.OK {
			st.failed = append(st.failed, failure{d.idx, r, d.repro})
			st.byChecker[r.Checker]++
		}
		if progress != nil {
			progress(st.runs, len(st.failed))
		}
	}
	st.wall = time.Since(began)
	st.interrupted = interrupted.Load()
	sort.Slice(st.failed, func(i, j int) bool { return st.failed[i].idx < st.failed[j].idx })
	return st
}

func cmdCampaign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("campaign", flag.ContinueOnError)
	n := fs.Uint64("seeds", 0, "how many seeds to run (required, > 0, unless --systematic)")
	start := fs.Uint64("start", 1, "the first seed")
	jobs := fs.Int("jobs", runtime.NumCPU(), "seeds run in parallel")
	systematic := fs.Int("systematic", 0, "instead of seeds: crash at each crash point's first K hits, one run each, all on seed --start")
	var w workloadFlags
	w.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var plans []fault.Plan
	switch {
	case *systematic < 0 || *systematic > 1000:
		return usageErr("pgdst campaign: --systematic must be in [1, 1000]")
	case *systematic > 0 && (*n != 0 || w.faultsFile != "" || len(w.faultLines) > 0 || w.crashStep != 0):
		return usageErr("pgdst campaign: --systematic makes its own plans; drop --seeds, --faults, --fault and --crash-step")
	case *systematic > 0:
		plans = fault.Systematic(simtest.CrashPoints(), *systematic)
		*n = uint64(len(plans))
	case *n == 0:
		return usageErr("pgdst campaign: --seeds must be > 0")
	}
	if *start+*n < *start {
		return usageErr("pgdst campaign: --start + --seeds overflows")
	}
	if *jobs < 1 || *jobs > 1024 {
		return usageErr("pgdst campaign: --jobs must be in [1, 1024]")
	}
	if _, err := w.config(*start); err != nil {
		return usageErr("pgdst campaign: %v", err)
	}
	mk := func(i uint64) job {
		if plans != nil {
			c, _ := w.config(*start) // validated above
			line := strings.TrimSuffix(plans[i].String(), "\n")
			c.Faults = line + "\n"
			return job{c, fmt.Sprintf("%s --fault '%s'", reproCommand(*start, &w), line)}
		}
		c, _ := w.config(*start + i) // validated above; only the seed differs
		return job{c, reproCommand(*start+i, &w)}
	}

	if plans != nil {
		fmt.Fprintf(stdout, "campaign: systematic, %d crash points x first %d hits = %d runs on seed %d, %d workers%s\n",
			len(simtest.CrashPoints()), *systematic, *n, *start, *jobs, w.reproFlags())
	} else {
		fmt.Fprintf(stdout, "campaign: seeds %d..%d on %d workers%s\n", *start, *start+*n-1, *jobs, w.reproFlags())
	}
	progress := progressReporter(*n, stderr)
	stop := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			close(stop)
		}
	}()
	useCores(*jobs)
	st := runCampaign(*n, *jobs, mk, progress, stop)
	printCampaign(stdout, st)
	if plans != nil {
		printSystematic(stdout, st, plans, *systematic)
	}
	if len(st.failed) > 0 || st.interrupted {
		return &exitError{code: 1}
	}
	return nil
}

// useCores runs the Go scheduler on as many threads as there are runs at
// once (unless GOMAXPROCS is set): each run is single-threaded, and a spare
// core only lets the runtime move a run's goroutines across threads at
// every handoff, which costs a quarter of a run.
func useCores(jobs int) {
	if os.Getenv("GOMAXPROCS") == "" && jobs < runtime.NumCPU() {
		runtime.GOMAXPROCS(jobs)
	}
}

// progressReporter draws a progress bar on a terminal and prints a plain
// line every 10% otherwise (CI logs).
func progressReporter(total uint64, stderr io.Writer) func(done, failed int) {
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
		}
	}
	step := int(total / 10)
	if step == 0 {
		step = 1
	}
	began := time.Now()
	return func(done, failed int) {
		if done%step == 0 || done == int(total) {
			el := time.Since(began).Seconds()
			fmt.Fprintf(stderr, "progress: %d/%d seeds, %d failed, %.0f seeds/s\n", done, total, failed, float64(done)/el)
		}
	}
}

// printSystematic reports which crash points the enumeration reached, and
// the blind spots: points whose first hit never came in this workload.
func printSystematic(out io.Writer, st *campaignStats, plans []fault.Plan, k int) {
	points := simtest.CrashPoints()
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

func printCampaign(out io.Writer, st *campaignStats) {
	rate := float64(st.runs) / st.wall.Seconds()
	fmt.Fprintf(out, "seeds run:      %d%s\n", st.runs, map[bool]string{true: " (interrupted)", false: ""}[st.interrupted])
	fmt.Fprintf(out, "failures:       %d\n", len(st.failed))
	for _, k := range sortedKeys(st.byChecker) {
		fmt.Fprintf(out, "  %-14s%d\n", k+":", st.byChecker[k])
	}
	fmt.Fprintf(out, "crashes:       ")
	for _, k := range sortedKeys(st.byCrash) {
		fmt.Fprintf(out, " %s=%d", k, st.byCrash[k])
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "faults:         %d applied, %d runs beyond the recoverability limits and detected\n", st.faults, st.detected)
	fmt.Fprintf(out, "simulated:      %v virtual, %d steps\n", st.virtual.Round(time.Millisecond), st.steps)
	fmt.Fprintf(out, "wall:           %v on %d workers, %.0f seeds/s, virtual/wall %.0fx\n",
		st.wall.Round(time.Millisecond), st.jobs, rate, st.virtual.Seconds()/st.wall.Seconds())
	const show = 20
	for i, f := range st.failed {
		if i == show {
			fmt.Fprintf(out, "... and %d more failing runs\n", len(st.failed)-show)
			break
		}
		fmt.Fprintf(out, "FAIL seed=%d %s\n  reproduce: %s\n", f.res.Seed, f.res.Failures[0], f.repro)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
