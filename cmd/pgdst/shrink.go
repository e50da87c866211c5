package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest"
)

// pgdst shrink reduces a repro file to a smaller one that still fails with
// the same checker: fewer faults and simpler triggers, a smaller workload,
// and a configuration closer to the defaults. It is greedy: it tries one
// change at a time, keeps it when the run still fails with the same
// checker, and goes over every kind of change again until a whole round
// keeps none.
//
// Determinism: a run is a function of its Config, so the sequence of
// attempts, and so the result, is a function of the input file alone. Only
// the bounds cut it short: --max-attempts at a fixed point of the sequence,
// --time-budget wherever the wall clock runs out. A budget cut gives a
// less-shrunk repro (a prefix of the same sequence), never a different one,
// and the output says that it was cut.

const (
	defaultShrinkBudget   = 60 * time.Second
	defaultShrinkAttempts = 500
)

func cmdShrink(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("shrink", flag.ContinueOnError)
	out := fs.String("o", "", "write the shrunk repro here (default: FILE with .min.json)")
	budget := fs.Duration("time-budget", defaultShrinkBudget, "stop shrinking after this much wall time (a cut gives a less-shrunk result)")
	maxAttempts := fs.Int("max-attempts", defaultShrinkAttempts, "stop shrinking after this many runs")
	quiet := fs.Bool("q", false, "do not print each accepted step")
	files, err := parseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageErr("pgdst shrink: want one repro file, got %d (usage: pgdst shrink FILE [-o OUT] [--time-budget D])", len(files))
	}
	if *budget <= 0 {
		return usageErr("pgdst shrink: --time-budget must be > 0")
	}
	if *maxAttempts < 1 {
		return usageErr("pgdst shrink: --max-attempts must be >= 1")
	}
	if parseOnly {
		return errParseOnly
	}
	in := files[0]
	r, err := readRepro(in)
	if err != nil {
		return usageErr("pgdst shrink: %s", oneLine(err.Error()))
	}
	if this := buildID(); r.Build != this {
		fmt.Fprintf(stderr, "pgdst shrink: repro file from build %s, this is build %s; shrinking what this build does\n", r.Build, this)
	}
	dst := *out
	if dst == "" {
		dst = strings.TrimSuffix(in, ".json") + ".min.json"
	}
	useCores(1)
	logf := func(string) {}
	if !*quiet {
		logf = func(s string) { fmt.Fprintln(stdout, s) }
	}
	sh := newShrinker(r.Config, *maxAttempts, time.Now().Add(*budget), logf)
	if sh.res.OK {
		return &exitError{code: 1, msg: fmt.Sprintf("pgdst shrink: %s does not fail on this build (%s): nothing to shrink", in, verdictOf(sh.res))}
	}
	if sh.want != r.Failure.Checker {
		fmt.Fprintf(stderr, "pgdst shrink: the repro now fails %s, not %s as recorded; shrinking for %s\n", sh.want, r.Failure.Checker, sh.want)
	}
	fmt.Fprintf(stdout, "shrinking seed %d, fails %s: %s\n", r.Seed, sh.want, sizeOf(sh.cfg))
	began := time.Now()
	sh.shrink()
	small := sh.cfg
	cmd := configCommand(small)
	fmt.Fprintf(stdout, "shrunk in %d runs (%d kept), %v: %s -> %s\n", sh.attempts, sh.accepted,
		time.Since(began).Round(time.Millisecond), sizeOf(r.Config), sizeOf(small))
	switch sh.cut {
	case cutBudget:
		fmt.Fprintf(stdout, "stopped at the time budget (%v): the result is less shrunk than an unbounded shrink would give\n", *budget)
	case cutAttempts:
		fmt.Fprintf(stdout, "stopped after %d runs (--max-attempts): the result is less shrunk than an unbounded shrink would give\n", sh.attempts)
	}
	fmt.Fprintf(stdout, "reproduce: %s\n", cmd)
	fmt.Fprintf(stdout, "fault plan:\n")
	for _, l := range planLines(small.Faults) {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	if len(planLines(small.Faults)) == 0 {
		fmt.Fprintf(stdout, "  (none: the failure needs no injected fault; the run ends in a power loss after the workload)\n")
	}
	fmt.Fprintln(stdout, sh.res.Failures[0])
	fmt.Fprintln(stdout, verdictOf(sh.res))
	if err := writeRepro(dst, newRepro(small, sh.res, cmd)); err != nil {
		return fmt.Errorf("writing the shrunk repro: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", dst)
	return nil
}

// Why a shrink stopped before its fixed point.
const (
	cutBudget   = "time budget"
	cutAttempts = "attempt limit"
)

// shrinker holds the smallest failing config found so far.
type shrinker struct {
	want     string          // the checker the runs must keep failing
	cfg      simtest.Config  // the current, smallest failing config
	res      *simtest.Result // its run
	attempts int             // runs made, the first one included
	accepted int
	max      int
	deadline time.Time
	cut      string          // why it stopped early ("": it did not)
	seen     map[string]bool // configs already run, and whether they failed as wanted
	logf     func(string)
	run      func(simtest.Config) *simtest.Result // simtest.Run; tests stub it
}

// newShrinker runs cfg once to learn the checker it fails with.
func newShrinker(cfg simtest.Config, maxAttempts int, deadline time.Time, logf func(string)) *shrinker {
	return newShrinkerRun(cfg, maxAttempts, deadline, logf, simtest.Run)
}

func newShrinkerRun(cfg simtest.Config, maxAttempts int, deadline time.Time, logf func(string), run func(simtest.Config) *simtest.Result) *shrinker {
	cfg.TraceOut = nil
	s := &shrinker{cfg: cfg, max: maxAttempts, deadline: deadline, seen: map[string]bool{}, logf: logf, run: run}
	s.res = run(cfg)
	s.attempts = 1
	s.want = s.res.Checker
	s.seen[configKey(cfg)] = !s.res.OK
	return s
}

func configKey(c simtest.Config) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// try runs c and keeps it when it fails with the wanted checker, printing
// what changed.
func (s *shrinker) try(c simtest.Config, what string) bool {
	if s.cut != "" || c == s.cfg || c.Validate() != nil {
		return false
	}
	key := configKey(c)
	if _, done := s.seen[key]; done {
		return false // it failed to fail before, or it is where we came from
	}
	if s.attempts >= s.max {
		s.cut = cutAttempts
		return false
	}
	if time.Now().After(s.deadline) {
		s.cut = cutBudget
		return false
	}
	s.attempts++
	res := s.run(c)
	ok := !res.OK && res.Checker == s.want
	s.seen[key] = ok
	if !ok {
		return false
	}
	s.cfg, s.res = c, res
	s.accepted++
	s.logf(fmt.Sprintf("%s: still fails %s", what, s.want))
	return true
}

// shrink makes rounds of every kind of change until a round keeps none or
// a bound is reached.
func (s *shrinker) shrink() {
	s.explicitPlan()
	for s.cut == "" {
		before := s.accepted
		s.dropFaults()
		s.towardDefaults()
		s.smallerWorkload()
		s.simplerTriggers()
		if s.accepted == before {
			return
		}
	}
}

// explicitPlan writes the plan the run drew into the config, so that the
// workload can change without the plan being drawn anew.
func (s *shrinker) explicitPlan() {
	if s.cfg.Faults != "" {
		return
	}
	c := s.cfg
	c.Faults = s.res.Plan
	if c.Faults == "" {
		c.Faults = emptyPlan
	}
	c.CrashStep, c.FaultIntensity = 0, 0 // both are in the drawn plan now
	s.try(c, "made the drawn plan explicit")
}

func (s *shrinker) plan() fault.Plan {
	p, _ := fault.Parse(s.cfg.Faults) // Validate has parsed it
	return p
}

func (s *shrinker) withPlan(p fault.Plan) simtest.Config {
	c := s.cfg
	c.Faults = planText(p)
	return c
}

func planText(p fault.Plan) string {
	if len(p.Faults) == 0 {
		return emptyPlan
	}
	return p.String()
}

// planLines is a Faults text's faults, one a line ("" and an empty plan
// give none).
func planLines(text string) []string {
	p, err := fault.Parse(text)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range p.Faults {
		out = append(out, f.String())
	}
	return out
}

// dropFaults tries the plan without each fault in turn.
func (s *shrinker) dropFaults() {
	if s.cfg.Faults == "" {
		return // the plan is drawn (explicitPlan could not fix it)
	}
	for i := 0; i < len(s.plan().Faults) && s.cut == ""; {
		p := s.plan()
		f := p.Faults[i]
		p.Faults = append(p.Faults[:i:i], p.Faults[i+1:]...)
		if !s.try(s.withPlan(p), fmt.Sprintf("dropped fault %d (%s)", i+1, f)) {
			i++
		}
	}
}

// checkerWorkloads are the single workloads to try instead of mixed, the
// ones the checker judges first.
func checkerWorkloads(checker string) []string {
	first := map[string]string{
		simtest.CheckIsolation:       simtest.WorkloadAppend,
		simtest.CheckLinearizability: simtest.WorkloadRegister,
		simtest.CheckBank:            simtest.WorkloadBank,
		simtest.CheckDurability:      simtest.WorkloadInsert,
		simtest.CheckAtomicity:       simtest.WorkloadInsert,
	}[checker]
	out := []string{}
	if first != "" {
		out = append(out, first)
	}
	for _, w := range []string{simtest.WorkloadInsert, simtest.WorkloadRegister, simtest.WorkloadBank, simtest.WorkloadAppend} {
		if w != first {
			out = append(out, w)
		}
	}
	return out
}

// towardDefaults tries the configuration's knobs at their defaults, one at
// a time.
func (s *shrinker) towardDefaults() {
	c := s.cfg
	if c.CrashStep != 0 {
		c.CrashStep = 0
		s.try(c, fmt.Sprintf("crash-step %d -> none (the plan's crash only)", s.cfg.CrashStep))
	}
	if c = s.cfg; c.Swarm {
		c.Swarm = false
		s.try(c, "swarm off (fixed engine timings)")
	}
	if c = s.cfg; c.ClientTimeout != 0 {
		c.ClientTimeout = 0
		s.try(c, fmt.Sprintf("client-timeout %v -> 0", s.cfg.ClientTimeout))
	}
	if c = s.cfg; c.FaultIntensity != 0 && c.Faults != "" {
		c.FaultIntensity = 0
		s.try(c, fmt.Sprintf("fault-intensity %v -> 0 (the plan is explicit)", s.cfg.FaultIntensity))
	}
	// Without swarm, "" is read committed; with it, "" draws a level.
	target := ""
	if s.cfg.Swarm {
		target = simtest.IsoReadCommitted
	}
	if c = s.cfg; c.Isolation != target {
		c.Isolation = target
		s.try(c, fmt.Sprintf("isolation %s -> %s", orDefault(s.cfg.Isolation, "(drawn)"), orDefault(target, "(default: read-committed)")))
	}
	if c = s.cfg; c.AsyncCommit {
		c.AsyncCommit = false
		s.try(c, "synchronous-commit off -> on")
	}
	if c = s.cfg; c.PGTimings {
		c.PGTimings = false
		s.try(c, "pg-timings off")
	}
	if c = s.cfg; c.Autocommit {
		c.Autocommit = false
		s.try(c, "autocommit off: transaction blocks")
	}
	if c = s.cfg; c.RowBytes != 0 {
		c.RowBytes = 0
		s.try(c, fmt.Sprintf("row-bytes %d -> %s", s.cfg.RowBytes, map[bool]string{true: "(drawn)", false: "(default: 1000)"}[c.Swarm]))
	}
	if s.cfg.Workload == simtest.WorkloadMixed {
		for _, w := range checkerWorkloads(s.want) {
			c = s.cfg
			c.Workload = w
			if s.try(c, "workload mixed -> "+w) {
				break
			}
		}
	}
	if names := s.cfg.Bugs.Names(); len(names) > 1 {
		// Keep one planted bug at least: a failure with none is an engine
		// bug, which deserves its own repro rather than a shrunk one.
		for _, n := range names {
			if len(s.cfg.Bugs.Names()) == 1 {
				break
			}
			id, _ := bugs.Parse(n)
			c = s.cfg
			c.Bugs = s.cfg.Bugs &^ bugs.Set(0).With(id)
			s.try(c, "dropped bug "+n)
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// smallerWorkload tries fewer clients, fewer transactions, fewer writes
// per transaction and the default think time.
func (s *shrinker) smallerWorkload() {
	s.shrinkNum("clients", uint64(s.cfg.Clients), 1, false, func(v uint64) simtest.Config {
		c := s.cfg
		c.Clients = int(v)
		return c
	})
	s.shrinkNum("txns", uint64(s.cfg.Txns), 1, false, func(v uint64) simtest.Config {
		c := s.cfg
		c.Txns = int(v)
		return c
	})
	s.shrinkNum("writes", uint64(s.cfg.WritesMax), 1, false, func(v uint64) simtest.Config {
		c := s.cfg
		c.WritesMax = int(v)
		return c
	})
	if d := simtest.DefaultConfig(1).ThinkMax; s.cfg.ThinkMax != d {
		c := s.cfg
		c.ThinkMax = d
		s.try(c, fmt.Sprintf("think-max %v -> %v", s.cfg.ThinkMax, d))
	}
}

// shrinkNum lowers a number toward floor: floor itself, else a binary
// search between floor and the number (the smallest that still fails, if
// failing were monotonic), and then, with round set, a rounder number
// near it, above or below. Each kept value is printed as "NAME from -> to".
func (s *shrinker) shrinkNum(name string, cur, floor uint64, round bool, mk func(uint64) simtest.Config) {
	if cur <= floor {
		return
	}
	step := func(from, to uint64) bool {
		return s.try(mk(to), fmt.Sprintf("%s %d -> %d", name, from, to))
	}
	hi := cur
	if step(hi, floor) {
		return
	}
	for lo := floor; hi-lo > 1 && s.cut == ""; {
		mid := lo + (hi-lo)/2
		if step(hi, mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if !round {
		return
	}
	for _, v := range rounder(hi) {
		if v > floor && step(hi, v) {
			return
		}
	}
}

// rounder lists numbers with fewer significant digits than v, near it: v
// rounded to one digit down and up, then to two digits down and up (4373:
// 4000, 5000, 4300, 4400).
func rounder(v uint64) []uint64 {
	digits := len(strconv.FormatUint(v, 10))
	if digits < 2 {
		return nil
	}
	sig := func(x uint64) int { return len(strings.TrimRight(strconv.FormatUint(x, 10), "0")) }
	var out []uint64
	d := uint64(1)
	for i := 1; i < digits; i++ {
		d *= 10
	}
	for k := 0; k < 2 && d >= 10; k++ {
		down := v / d * d
		for _, x := range []uint64{down, down + d} {
			if x != v && x > 0 && sig(x) < sig(v) {
				out = append(out, x)
			}
		}
		d /= 10
	}
	return out
}

// simplerTriggers tries, fault by fault: times=1, no trigger at all, each
// trigger without one of its and/or arguments, and smaller numbers in its
// atoms (hits and nth toward 1, steps and times earlier, probabilities 1).
func (s *shrinker) simplerTriggers() {
	if s.cfg.Faults == "" {
		return
	}
	for i := 0; i < len(s.plan().Faults) && s.cut == ""; i++ {
		desc := func(what string) string { return fmt.Sprintf("fault %d: %s", i+1, what) }
		set := func(f fault.Fault) simtest.Config {
			p := s.plan()
			p.Faults[i] = f
			return s.withPlan(p)
		}
		if f := s.plan().Faults[i]; f.Times != 1 {
			g := f
			g.Times = 1
			s.try(set(g), desc(fmt.Sprintf("times=%d -> times=1", f.Times)))
		}
		if f := s.plan().Faults[i]; f.When != nil {
			g := f
			g.When = nil
			s.try(set(g), desc(fmt.Sprintf("dropped its trigger (when %s)", f.When)))
		}
		// Remove and/or arguments until none can go; after each removal the
		// paths change, so start over.
	removal:
		for s.cut == "" {
			f := s.plan().Faults[i]
			if f.When == nil {
				break
			}
			for _, path := range exprPaths(f.When) {
				n := exprAt(f.When, path)
				if n.Op != fault.ExprAnd && n.Op != fault.ExprOr {
					continue
				}
				for j, a := range n.Args {
					rest := append(append([]*fault.Expr{}, n.Args[:j]...), n.Args[j+1:]...)
					repl := &fault.Expr{Op: n.Op, Args: rest}
					if len(rest) == 1 {
						repl = rest[0]
					}
					g := f
					g.When = replaceAt(f.When, path, repl)
					if s.try(set(g), desc(fmt.Sprintf("removed %q from its trigger, now when %s", a.String(), g.When))) {
						continue removal
					}
				}
			}
			break
		}
		f := s.plan().Faults[i]
		if f.When == nil {
			continue
		}
		for _, path := range exprPaths(f.When) {
			s.simplerAtom(i, path, desc)
		}
	}
}

// simplerAtom shrinks the number of the atom at path in fault i's trigger.
func (s *shrinker) simplerAtom(i int, path []int, desc func(string) string) {
	atom := func() fault.Atom { return exprAt(s.plan().Faults[i].When, path).Atom }
	with := func(a fault.Atom) simtest.Config {
		p := s.plan()
		p.Faults[i].When = replaceAt(p.Faults[i].When, path, fault.AtomExpr(a))
		return s.withPlan(p)
	}
	if exprAt(s.plan().Faults[i].When, path).Op != fault.ExprAtom {
		return
	}
	a := atom()
	switch a.Kind {
	case fault.AtomPoint:
		if a.Hit == 0 {
			return
		}
		b := a
		b.Hit = 0
		if s.try(with(b), desc(fmt.Sprintf("%s -> %s (any hit)", a, b))) {
			return
		}
		s.shrinkNum(desc(a.Name+" hit"), a.Hit, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.Hit = v
			return with(b)
		})
	case fault.AtomNth:
		s.shrinkNum(desc("nth"), a.N, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.N = v
			return with(b)
		})
	case fault.AtomStepGE:
		s.shrinkNum(desc("step>="), a.N, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.N = v
			return with(b)
		})
	case fault.AtomTimeGE:
		// In microseconds, the trace's unit.
		s.shrinkNum(desc("time>= (us)"), uint64(a.Dur/time.Microsecond), 0, true, func(v uint64) simtest.Config {
			b := atom()
			b.Dur = time.Duration(v) * time.Microsecond
			return with(b)
		})
	case fault.AtomProb:
		if a.Prob != 1 {
			b := a
			b.Prob = 1
			s.try(with(b), desc(fmt.Sprintf("%s -> %s", a, b)))
		}
	}
}

// exprPaths lists the paths (argument indexes from the root) of every node
// of e, the root's (empty) first.
func exprPaths(e *fault.Expr) [][]int {
	var out [][]int
	var walk func(e *fault.Expr, path []int)
	walk = func(e *fault.Expr, path []int) {
		out = append(out, append([]int(nil), path...))
		for j, a := range e.Args {
			walk(a, append(path, j))
		}
	}
	walk(e, nil)
	return out
}

func exprAt(e *fault.Expr, path []int) *fault.Expr {
	for _, j := range path {
		e = e.Args[j]
	}
	return e
}

// replaceAt returns a copy of root with the node at path replaced by repl;
// root itself is not changed.
func replaceAt(root *fault.Expr, path []int, repl *fault.Expr) *fault.Expr {
	if len(path) == 0 {
		return repl
	}
	cp := *root
	cp.Args = append([]*fault.Expr(nil), root.Args...)
	cp.Args[path[0]] = replaceAt(root.Args[path[0]], path[1:], repl)
	return &cp
}

// sizeOf describes a config's size: clients, transactions and faults.
func sizeOf(c simtest.Config) string {
	faults := "a drawn plan"
	if c.Faults != "" {
		faults = fmt.Sprintf("%d faults", len(planLines(c.Faults)))
	}
	return fmt.Sprintf("%d clients x %d txns, writes<=%d, %s workload, %s", c.Clients, c.Txns, c.WritesMax, c.Workload, faults)
}

// configCommand renders the command line that runs c: the flags of
// 'pgdst run' for every field that differs from its default, and one
// --fault per line of an explicit plan, or --no-faults for an explicit
// empty one. The run of the command is c's run, to the trace hash.
func configCommand(c simtest.Config) string {
	d := simtest.DefaultConfig(c.Seed)
	parts := []string{fmt.Sprintf("go run ./cmd/pgdst run --seed %d", c.Seed)}
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if c.Workload != d.Workload {
		add("--workload %s", c.Workload)
	}
	if c.Isolation != "" {
		add("--isolation %s", c.Isolation)
	}
	if c.AsyncCommit {
		add("--synchronous-commit off")
	}
	if c.ClientTimeout != 0 {
		add("--client-timeout %s", flagDuration(c.ClientTimeout))
	}
	if c.Clients != d.Clients {
		add("--clients %d", c.Clients)
	}
	if c.Txns != d.Txns {
		add("--txns %d", c.Txns)
	}
	if c.WritesMax != d.WritesMax {
		add("--writes %d", c.WritesMax)
	}
	if c.ThinkMax != d.ThinkMax {
		add("--think-max %s", flagDuration(c.ThinkMax))
	}
	if c.CrashMode != "" {
		add("--crash-mode %s", c.CrashMode)
	}
	if c.CrashStep != 0 {
		add("--crash-step %d", c.CrashStep)
	}
	if !c.Swarm {
		add("--no-swarm")
	}
	if c.PGTimings {
		add("--pg-timings")
	}
	if c.Autocommit {
		add("--autocommit")
	}
	if c.RowBytes != 0 {
		add("--row-bytes %d", c.RowBytes)
	}
	for _, b := range c.Bugs.Names() {
		add("--bug %s", b)
	}
	// An explicit plan without faults: the run's plan is --crash-step's
	// crash alone, if there is one, which --crash-step without a plan
	// flag gives too (a crash step leaves nothing to draw); otherwise it is
	// exactly empty, which is --no-faults. Either way the fault intensity
	// draws nothing, since the plan is not drawn, and --no-faults refuses
	// it: it is left out.
	lines := planLines(c.Faults)
	emptyExplicit := c.Faults != "" && len(lines) == 0
	for _, l := range lines {
		add("--fault %s", shellQuote(l))
	}
	if emptyExplicit && c.CrashStep == 0 {
		add("--no-faults")
	}
	if c.FaultIntensity != 0 && !emptyExplicit {
		add("--fault-intensity %v", c.FaultIntensity)
	}
	return strings.Join(parts, " ")
}

// flagDuration prints d as the duration flags read it, in ASCII.
func flagDuration(d time.Duration) string {
	return strings.Replace(d.String(), "µ", "u", 1)
}
