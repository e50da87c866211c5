// Command pgdst runs the deterministic simulator: one seed (run), many seeds
// on all cores (campaign), and the registry of planted bugs (bugs).
//
// Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/fault"
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
  bugs      list the planted bugs that --bug switches on
  faults    the fault plan language that --faults and --fault take
  points    the injection points, and what a crash at each means

'pgdst <command> -h' lists a command's flags.`

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, args...)}
}

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
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, ee.msg)
		}
		return ee.code
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
	case "bugs":
		return cmdBugs(args[1:], stdout)
	case "faults":
		return cmdFaults(args[1:], stdout)
	case "points":
		return cmdPoints(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return usageErr("pgdst: unknown command %q (want run, campaign, merge, replay, shrink, report, bugs, faults or points)", args[0])
	}
}

// parseOnly, which only tests set, makes run, campaign, merge, replay,
// shrink, report and points return errParseOnly as soon as their flags and
// arguments are parsed and checked, before they read a repro or campaign
// file, write anything or run a seed: docs_test.go checks every command
// line of docs/campaigns.md so, in no time.
var parseOnly bool

var errParseOnly = errors.New("parse only: the command line is well formed")

// workloadFlags are the flags that define a run besides its seed; run and
// campaign share them, and the reproduce command repeats them.
type workloadFlags struct {
	clients, txns, writes int
	thinkMax              time.Duration
	crashMode             string
	crashStep             uint64
	noSwarm               bool
	pgTimings             bool
	autocommit            bool
	rowBytes              int
	bugList               bugList
	faultsFile            string
	faultLines            faultList
	faultIntensity        float64
	noFaults              bool
	workload, isolation   string
	clientTimeout         time.Duration
	syncCommit            string
	configFile            string

	// Filled by prepare, once the flags are parsed.
	set        map[string]bool // the flags given on the command line
	faultsText string          // the --faults file's contents
	// file is the --config file's configuration (nil without --config),
	// and fileSeed the seed it names, which the run does not use.
	file     *simtest.Config
	fileSeed uint64
}

// faultList is the repeatable --fault flag: fault lines given inline.
type faultList []string

func (f *faultList) String() string { return strings.Join(*f, "; ") }
func (f *faultList) Set(v string) error {
	if _, err := fault.ParseFault(v); err != nil {
		return err
	}
	*f = append(*f, v)
	return nil
}

type bugList []string

func (b *bugList) String() string { return strings.Join(*b, ",") }
func (b *bugList) Set(v string) error {
	if _, err := bugs.ParseSet(v); err != nil {
		return err
	}
	*b = append(*b, v)
	return nil
}

func (w *workloadFlags) register(fs *flag.FlagSet) {
	d := simtest.DefaultConfig(1)
	fs.StringVar(&w.workload, "workload", d.Workload, "what the clients do: "+strings.Join(simtest.Workloads, ", "))
	fs.StringVar(&w.isolation, "isolation", "", "isolation level of the clients' transactions: "+strings.Join(simtest.Isolations, ", ")+" (default: drawn from the seed)")
	fs.DurationVar(&w.clientTimeout, "client-timeout", 0, "how long a client waits for a reply before it abandons the connection (default: drawn from the seed; with --no-swarm, forever)")
	fs.StringVar(&w.syncCommit, "synchronous-commit", "on", "synchronous_commit: on, or off (acknowledged commits may be lost within PostgreSQL's bound; needs --workload insert)")
	fs.IntVar(&w.clients, "clients", d.Clients, "simulated client processes")
	fs.IntVar(&w.txns, "txns", d.Txns, "transactions per client")
	fs.IntVar(&w.writes, "writes", d.WritesMax, "most writes per transaction")
	fs.DurationVar(&w.thinkMax, "think-max", d.ThinkMax, "longest virtual pause of a client between transactions")
	fs.StringVar(&w.crashMode, "crash-mode", "", "what survives of unsynced writes: drop-all, random-subset or torn (default: drawn from the seed)")
	fs.Uint64Var(&w.crashStep, "crash-step", 0, "crash at this scheduler step (default: drawn from the seed)")
	fs.BoolVar(&w.noSwarm, "no-swarm", false, "use fixed engine timings instead of drawing them from the seed")
	fs.BoolVar(&w.pgTimings, "pg-timings", false, "keep PostgreSQL's default bgwriter_delay and checkpoint_timeout")
	fs.BoolVar(&w.autocommit, "autocommit", false, "make each insert transaction one autocommit INSERT of one row, as psql runs a script (insert and mixed workloads)")
	fs.IntVar(&w.rowBytes, "row-bytes", 0, "size of each inserted row's value, in [8, 2000] (default: drawn from the seed; with --no-swarm, 1000)")
	fs.Var(&w.bugList, "bug", "switch on a planted bug (repeatable; see 'pgdst bugs')")
	fs.StringVar(&w.faultsFile, "faults", "", "run this fault plan (a file, one fault per line; see 'pgdst faults') instead of one drawn from the seed")
	fs.Var(&w.faultLines, "fault", "run this fault, written as a line of a plan (repeatable; see 'pgdst faults'); the plan is then exactly the faults given (with --faults: the file's and these)")
	fs.Float64Var(&w.faultIntensity, "fault-intensity", 0, "add the swarm's disk and clock faults, drawn from the seed, at this intensity in [0, 1]")
	fs.BoolVar(&w.noFaults, "no-faults", false, "run with an empty fault plan: no fault at all, the run ends in a power loss after the workload (not with --fault, --faults, --crash-step or --fault-intensity)")
	fs.StringVar(&w.configFile, "config", "", "start from this configuration (JSON: a repro file, or the \"config\" object of one); the flags given override its fields, and its seed is not used")
}

// planGiven says whether the plan flags (--faults, --fault, --no-faults)
// say what the fault plan is.
func (w *workloadFlags) planGiven() bool {
	return w.faultsFile != "" || len(w.faultLines) > 0 || w.noFaults
}

// prepare checks the flags together once they are parsed, and reads the
// files they name: the --config file and the --faults plan. It must run
// before config.
func (w *workloadFlags) prepare(fs *flag.FlagSet) error {
	w.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { w.set[f.Name] = true })
	if w.noFaults {
		var clash []string
		for _, name := range []string{"fault", "faults", "crash-step", "fault-intensity"} {
			if w.set[name] {
				clash = append(clash, "--"+name)
			}
		}
		if len(clash) > 0 {
			return fmt.Errorf("--no-faults makes the plan exactly empty: drop %s", strings.Join(clash, " and "))
		}
	}
	if w.set["fault-intensity"] {
		// The swarm's faults join a plan drawn from the seed; a plan
		// given by flags is exactly what it says (simtest's dbPlan).
		var clash []string
		for _, name := range []string{"fault", "faults", "crash-step"} {
			if w.set[name] {
				clash = append(clash, "--"+name)
			}
		}
		if len(clash) > 0 {
			return fmt.Errorf("--fault-intensity adds faults to the plan drawn from the seed, and %s give the plan exactly: drop one", strings.Join(clash, " and "))
		}
	}
	if w.configFile != "" {
		c, err := readConfigFile(w.configFile)
		if err != nil {
			return fmt.Errorf("--config: %s", oneLine(err.Error()))
		}
		w.fileSeed = c.Seed
		w.file = &c
	}
	if w.faultsFile != "" {
		text, err := os.ReadFile(w.faultsFile)
		if err != nil {
			return fmt.Errorf("reading the fault plan: %w", err)
		}
		if len(text) == 0 {
			return fmt.Errorf("fault plan %s is empty", w.faultsFile)
		}
		w.faultsText = string(text)
	}
	return nil
}

// config is the run of seed the flags describe. Without --config every
// flag counts, at its default if not given; with --config the file's
// configuration is the base and only the flags given on the command line
// change it, each replacing the fields it sets (--bug the whole set of
// bugs, --fault, --faults and --no-faults the whole plan).
func (w *workloadFlags) config(seed uint64) (simtest.Config, error) {
	c := simtest.DefaultConfig(seed)
	if w.file != nil {
		c = *w.file
		c.Seed = seed
	}
	given := func(name string) bool { return w.file == nil || w.set[name] }
	if given("clients") {
		c.Clients = w.clients
	}
	if given("txns") {
		c.Txns = w.txns
	}
	if given("writes") {
		c.WritesMax = w.writes
	}
	if given("think-max") {
		c.ThinkMax = w.thinkMax
	}
	if given("crash-mode") {
		c.CrashMode = w.crashMode
	}
	if given("crash-step") {
		c.CrashStep = w.crashStep
	}
	if given("no-swarm") {
		c.Swarm = !w.noSwarm
	}
	if given("pg-timings") {
		c.PGTimings = w.pgTimings
	}
	if given("autocommit") {
		c.Autocommit = w.autocommit
	}
	if given("row-bytes") {
		c.RowBytes = w.rowBytes
	}
	if given("workload") {
		c.Workload = w.workload
	}
	if given("isolation") {
		c.Isolation = w.isolation
	}
	if given("client-timeout") {
		c.ClientTimeout = w.clientTimeout
	}
	if given("synchronous-commit") {
		switch w.syncCommit {
		case "on":
			c.AsyncCommit = false
		case "off":
			c.AsyncCommit = true
		default:
			return c, fmt.Errorf("synchronous-commit must be on or off, got %q", w.syncCommit)
		}
	}
	if given("bug") {
		set, err := bugs.ParseSet(w.bugList.String())
		if err != nil {
			return c, err
		}
		c.Bugs = set
	}
	if given("fault-intensity") {
		c.FaultIntensity = w.faultIntensity
	}
	// A --config file's plan stays unless a plan flag replaces it: an
	// explicit --no-faults=false, say, is no plan of its own.
	if w.file == nil || w.planGiven() {
		c.Faults = w.faultsText
		for _, l := range w.faultLines {
			c.Faults += "\n" + l + "\n"
		}
		if w.noFaults {
			// Exactly empty: the file's crash step and swarm faults
			// would add faults to it (the flags cannot: prepare
			// rejects them with --no-faults).
			c.Faults, c.CrashStep, c.FaultIntensity = emptyPlan, 0, 0
		}
	}
	return c, c.Validate()
}

// reproFlags renders the non-default flags, so that the printed command
// reproduces the run exactly.
func (w *workloadFlags) reproFlags() string {
	d := simtest.DefaultConfig(1)
	var parts []string
	if w.workload != d.Workload {
		parts = append(parts, "--workload "+w.workload)
	}
	if w.isolation != "" {
		parts = append(parts, "--isolation "+w.isolation)
	}
	if w.syncCommit != "on" {
		parts = append(parts, "--synchronous-commit "+w.syncCommit)
	}
	if w.clientTimeout != 0 {
		parts = append(parts, fmt.Sprintf("--client-timeout %v", w.clientTimeout))
	}
	if w.clients != d.Clients {
		parts = append(parts, fmt.Sprintf("--clients %d", w.clients))
	}
	if w.txns != d.Txns {
		parts = append(parts, fmt.Sprintf("--txns %d", w.txns))
	}
	if w.writes != d.WritesMax {
		parts = append(parts, fmt.Sprintf("--writes %d", w.writes))
	}
	if w.thinkMax != d.ThinkMax {
		parts = append(parts, fmt.Sprintf("--think-max %v", w.thinkMax))
	}
	if w.crashMode != "" {
		parts = append(parts, "--crash-mode "+w.crashMode)
	}
	if w.crashStep != 0 {
		parts = append(parts, fmt.Sprintf("--crash-step %d", w.crashStep))
	}
	if w.noSwarm {
		parts = append(parts, "--no-swarm")
	}
	if w.pgTimings {
		parts = append(parts, "--pg-timings")
	}
	if w.autocommit {
		parts = append(parts, "--autocommit")
	}
	if w.rowBytes != 0 {
		parts = append(parts, fmt.Sprintf("--row-bytes %d", w.rowBytes))
	}
	for _, b := range w.bugList {
		parts = append(parts, "--bug "+b)
	}
	if w.faultsFile != "" {
		parts = append(parts, "--faults "+shellQuote(w.faultsFile))
	}
	for _, l := range w.faultLines {
		parts = append(parts, "--fault "+shellQuote(l))
	}
	if w.faultIntensity != 0 {
		parts = append(parts, fmt.Sprintf("--fault-intensity %v", w.faultIntensity))
	}
	if w.noFaults {
		parts = append(parts, "--no-faults")
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, " ")
}

// command is the command line that runs c, a config these flags made.
// With --config it is rendered from the config itself (configCommand), so
// that it needs neither the file nor the flags that overrode it.
func (w *workloadFlags) command(c simtest.Config) string {
	if w.file != nil {
		return configCommand(c)
	}
	return fmt.Sprintf("go run ./cmd/pgdst run --seed %d%s", c.Seed, w.reproFlags())
}

// flagsOf is the flags part of command(c), with a leading space unless it
// is empty: what a campaign prints and records as its workload flags.
func (w *workloadFlags) flagsOf(c simtest.Config) string {
	if w.file != nil {
		return strings.TrimPrefix(configCommand(c), fmt.Sprintf("go run ./cmd/pgdst run --seed %d", c.Seed))
	}
	return w.reproFlags()
}

// shellQuote makes s one word for a POSIX shell: as it is when it holds
// only characters no shell treats specially, else in single quotes, with
// each single quote inside closing the quotes, escaped, and reopening them.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// parseFlags parses a command's flags, turning every problem into one line
// and exit status 2 (-h prints the flags and exits 0).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, "usage: pgdst %s [flags]\n", fs.Name())
			fs.PrintDefaults()
			return &exitError{code: 0}
		}
		return usageErr("pgdst %s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usageErr("pgdst %s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "the seed")
	traceFile := fs.String("trace", "", "write the readable trace to this file")
	artifacts := fs.String("artifacts", "", "if the run fails, write its repro file, trace and porcupine visualization to this directory (as campaign --artifacts does)")
	var w workloadFlags
	w.register(fs)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := w.prepare(fs); err != nil {
		return usageErr("pgdst run: %v", err)
	}
	cfg, err := w.config(*seed)
	if err != nil {
		return usageErr("pgdst run: %v", err)
	}
	if parseOnly {
		return errParseOnly
	}
	seedGiven := false
	fs.Visit(func(f *flag.Flag) { seedGiven = seedGiven || f.Name == "seed" })
	if w.file != nil && w.fileSeed != 0 && w.fileSeed != *seed && !seedGiven {
		// Most likely a repro file given to reproduce it: say that this
		// is another run, not that one.
		fmt.Fprintf(stderr, "pgdst run: %s names seed %d, which --config does not use: running seed %d (--seed %d runs that one)\n",
			w.configFile, w.fileSeed, *seed, w.fileSeed)
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return usageErr("pgdst run: %v", err)
		}
		defer f.Close()
		cfg.TraceOut = f
	}
	if *artifacts != "" {
		if err := os.MkdirAll(*artifacts, 0o755); err != nil {
			return usageErr("pgdst run: --artifacts: %v", err)
		}
	}
	useCores(1)
	res := simtest.Run(cfg)
	if !res.OK && *artifacts != "" {
		cfg.TraceOut = nil
		p, err := writeArtifacts(*artifacts, fmt.Sprintf("seed-%d", *seed), cfg, res, w.command(cfg))
		if err != nil {
			fmt.Fprintf(stderr, "pgdst run: artifacts: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "artifacts: %s\n", strings.Join(p.list(), " "))
		}
	}
	fmt.Fprintln(stdout, res.Summary())
	if !res.OK {
		fmt.Fprintf(stderr, "reproduce: %s\n", w.command(cfg))
		return &exitError{code: 1}
	}
	return nil
}

func cmdBugs(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bugs", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	for _, b := range bugs.All() {
		fmt.Fprintf(stdout, "%s\t%s\n", b.Name, b.What)
	}
	return nil
}
