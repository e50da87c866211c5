package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pgdst/pgdst/simtest"
)

// campaignStats is what a campaign gathered.
type campaignStats struct {
	runs        int
	failed      []*simtest.Result // sorted by seed
	byChecker   map[string]int
	byCrash     map[string]int
	virtual     time.Duration
	steps       uint64
	wall        time.Duration
	jobs        int
	interrupted bool
}

// runCampaign runs seeds [start, start+n) on jobs workers. Each worker runs
// one seed at a time, each seed single-threaded and deterministic, so the
// results do not depend on the number of workers. stop, when closed, ends
// the campaign after the seeds in flight.
func runCampaign(start, n uint64, jobs int, mk func(seed uint64) simtest.Config, progress func(done int, failed int), stop <-chan struct{}) *campaignStats {
	st := &campaignStats{byChecker: map[string]int{}, byCrash: map[string]int{}, jobs: jobs}
	seeds := make(chan uint64)
	results := make(chan *simtest.Result, jobs)
	var wg sync.WaitGroup
	for i := 0; i < jobs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range seeds {
				r := simtest.Run(mk(s))
				r.History = nil // keep memory flat over many seeds
				results <- r
			}
		}()
	}
	var interrupted atomic.Bool
	go func() {
		defer close(seeds)
		for s := start; s < start+n; s++ {
			select {
			case seeds <- s:
			case <-stop:
				interrupted.Store(true)
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	began := time.Now()
	for r := range results {
		st.runs++
		st.virtual += r.Virtual
		st.steps += r.Steps
		st.byCrash[r.CrashKind]++
		if !r.OK {
			st.failed = append(st.failed, r)
			st.byChecker[r.Checker]++
		}
		if progress != nil {
			progress(st.runs, len(st.failed))
		}
	}
	st.wall = time.Since(began)
	st.interrupted = interrupted.Load()
	sort.Slice(st.failed, func(i, j int) bool { return st.failed[i].Seed < st.failed[j].Seed })
	return st
}

func cmdCampaign(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("campaign", flag.ContinueOnError)
	n := fs.Uint64("seeds", 0, "how many seeds to run (required, > 0)")
	start := fs.Uint64("start", 1, "the first seed")
	jobs := fs.Int("jobs", runtime.NumCPU(), "seeds run in parallel")
	var w workloadFlags
	w.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *n == 0 {
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
	mk := func(seed uint64) simtest.Config {
		c, _ := w.config(seed) // validated above; only the seed differs
		return c
	}

	fmt.Fprintf(stdout, "campaign: seeds %d..%d on %d workers%s\n", *start, *start+*n-1, *jobs, w.reproFlags())
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
	st := runCampaign(*start, *n, *jobs, mk, progress, stop)
	printCampaign(stdout, st, &w)
	if len(st.failed) > 0 || st.interrupted {
		return &exitError{code: 1}
	}
	return nil
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

func printCampaign(out io.Writer, st *campaignStats, w *workloadFlags) {
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
	fmt.Fprintf(out, "simulated:      %v virtual, %d steps\n", st.virtual.Round(time.Millisecond), st.steps)
	fmt.Fprintf(out, "wall:           %v on %d workers, %.0f seeds/s, virtual/wall %.0fx\n",
		st.wall.Round(time.Millisecond), st.jobs, rate, st.virtual.Seconds()/st.wall.Seconds())
	const show = 20
	for i, r := range st.failed {
		if i == show {
			fmt.Fprintf(out, "... and %d more failing seeds\n", len(st.failed)-show)
			break
		}
		fmt.Fprintf(out, "FAIL seed=%d %s\n  reproduce: %s\n", r.Seed, r.Failures[0], reproCommand(r.Seed, w))
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
