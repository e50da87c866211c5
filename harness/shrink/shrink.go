// Package shrink is `pgdst shrink`: it reduces a repro file to a smaller
// one that still fails with the same checker: fewer faults and simpler triggers, a smaller workload,
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
//
// The configuration steps come from harness/cli's table of run flags: each
// flag says how its fields move toward their defaults.
package shrink

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// The bounds of a shrink unless the command line gives others.
const (
	DefaultBudget   = 60 * time.Second
	DefaultAttempts = 500
)

// Run shrinks the repro file in and writes the result to out ("": in with
// .min.json), stopping after maxAttempts runs or budget of wall time.
// Each accepted step is printed unless quiet.
func Run(in, out string, maxAttempts int, budget time.Duration, quiet bool, stdout, stderr io.Writer) error {
	r, err := repro.Read(in)
	if err != nil {
		return cli.Usage("pgdst shrink: %s", err)
	}
	if this := repro.BuildID(); r.Build != this {
		fmt.Fprintf(stderr, "pgdst shrink: repro file from build %s, this is build %s; shrinking what this build does\n", r.Build, this)
	}
	dst := out
	if dst == "" {
		dst = strings.TrimSuffix(in, ".json") + ".min.json"
	}
	cli.UseCores(1)
	logf := func(string) {}
	if !quiet {
		logf = func(s string) { fmt.Fprintln(stdout, s) }
	}
	sh := New(r.Config, maxAttempts, time.Now().Add(budget), logf)
	if sh.res.OK {
		return cli.Failed(fmt.Sprintf("pgdst shrink: %s does not fail on this build (%s): nothing to shrink", in, cli.Verdict(sh.res)))
	}
	if sh.want != r.Failure.Checker {
		fmt.Fprintf(stderr, "pgdst shrink: the repro now fails %s, not %s as recorded; shrinking for %s\n", sh.want, r.Failure.Checker, sh.want)
	}
	fmt.Fprintf(stdout, "shrinking seed %d, fails %s: %s\n", r.Seed, sh.want, sizeOf(sh.cfg))
	began := time.Now()
	sh.Shrink()
	small := sh.cfg
	cmd := cli.Command(small)
	fmt.Fprintf(stdout, "shrunk in %d runs (%d kept), %s: %s -> %s\n", sh.attempts, sh.accepted,
		cli.Duration(time.Since(began).Round(time.Millisecond)), sizeOf(r.Config), sizeOf(small))
	switch sh.cut {
	case cutBudget:
		fmt.Fprintf(stdout, "stopped at the time budget (%s): the result is less shrunk than an unbounded shrink would give\n", cli.Duration(budget))
	case cutAttempts:
		fmt.Fprintf(stdout, "stopped after %d runs (--max-attempts): the result is less shrunk than an unbounded shrink would give\n", sh.attempts)
	}
	fmt.Fprintf(stdout, "reproduce: %s\n", cmd)
	fmt.Fprintf(stdout, "fault plan:\n")
	for _, l := range cli.PlanLines(small.Faults) {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	if len(cli.PlanLines(small.Faults)) == 0 {
		fmt.Fprintf(stdout, "  (none: the failure needs no injected fault; the run ends in a power loss after the workload)\n")
	}
	fmt.Fprintln(stdout, sh.res.Failures[0])
	fmt.Fprintln(stdout, cli.Verdict(sh.res))
	if err := repro.Write(dst, repro.New(small, sh.res, cmd)); err != nil {
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

// Shrinker holds the smallest failing config found so far.
type Shrinker struct {
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
	flag     *cli.RunFlag                         // the run flag being shrunk (nil: the plan)
}

// New runs cfg once to learn the checker it fails with.
func New(cfg simtest.Config, maxAttempts int, deadline time.Time, logf func(string)) *Shrinker {
	return newRun(cfg, maxAttempts, deadline, logf, simtest.Run)
}

func newRun(cfg simtest.Config, maxAttempts int, deadline time.Time, logf func(string), run func(simtest.Config) *simtest.Result) *Shrinker {
	cfg.TraceOut = nil
	s := &Shrinker{cfg: cfg, max: maxAttempts, deadline: deadline, seen: map[string]bool{}, logf: logf, run: run}
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
func (s *Shrinker) try(c simtest.Config, what string) bool {
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

// Shrink makes rounds of every kind of change until a round keeps none or
// a bound is reached.
func (s *Shrinker) Shrink() {
	s.explicitPlan()
	for s.cut == "" {
		before := s.accepted
		s.dropFaults()
		s.runFlags()
		s.simplerTriggers()
		if s.accepted == before {
			return
		}
	}
}

// explicitPlan writes the plan the run drew into the config, so that the
// workload can change without the plan being drawn anew.
func (s *Shrinker) explicitPlan() {
	if s.cfg.Faults != "" {
		return
	}
	c := s.cfg
	c.Faults = s.res.Plan
	if c.Faults == "" {
		c.Faults = cli.EmptyPlan
	}
	c.CrashStep, c.FaultIntensity = 0, 0 // both are in the drawn plan now
	s.try(c, "made the drawn plan explicit")
}

func (s *Shrinker) plan() fault.Plan {
	p, _ := fault.Parse(s.cfg.Faults) // Validate has parsed it
	return p
}

func (s *Shrinker) withPlan(p fault.Plan) simtest.Config {
	c := s.cfg
	c.Faults = planText(p)
	return c
}

func planText(p fault.Plan) string {
	if len(p.Faults) == 0 {
		return cli.EmptyPlan
	}
	return p.String()
}

// dropFaults tries the plan without each fault in turn.
func (s *Shrinker) dropFaults() {
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

// runFlags moves each run flag's fields toward their defaults, or to
// simpler values, as the flag's Shrink step says (harness/cli's table).
func (s *Shrinker) runFlags() {
	for i := range cli.RunFlags {
		f := &cli.RunFlags[i]
		if f.Shrink == nil || s.cut != "" {
			continue
		}
		s.flag = f
		f.Shrink(s)
		s.flag = nil
	}
}

// Config is the smallest failing config so far.
func (s *Shrinker) Config() simtest.Config { return s.cfg }

// Checker is the checker the runs must keep failing.
func (s *Shrinker) Checker() string { return s.want }

// Try runs c and keeps it when it still fails with the checker; the step
// is described by the words of the flag being shrunk, before and after.
func (s *Shrinker) Try(c simtest.Config) bool { return s.try(c, s.describe(c)) }

// Lower lowers a number of the flag being shrunk toward floor.
func (s *Shrinker) Lower(cur, floor uint64, mk func(uint64) simtest.Config) {
	s.shrinkNum(cur, floor, false, mk, func(_, to uint64) string { return s.describe(mk(to)) })
}

// describe says how c differs from the current config in the flag being
// shrunk: "--clients 6 -> --clients 3", "--clients 4 (default) -> --clients
// 1", "--client-timeout 30ms -> (default)".
func (s *Shrinker) describe(c simtest.Config) string {
	words := func(c simtest.Config) string {
		if w := s.flag.Words(c); len(w) > 0 {
			return strings.Join(w, " ")
		}
		if s.flag.Default != "" {
			return "--" + s.flag.Name + " " + s.flag.Default + " (default)"
		}
		return "(default)"
	}
	return words(s.cfg) + " -> " + words(c)
}

// shrinkNum lowers a number toward floor: floor itself, else a binary
// search between floor and the number (the smallest that still fails, if
// failing were monotonic), and then, with round set, a rounder number
// near it, above or below. Each kept value is printed as what says.
func (s *Shrinker) shrinkNum(cur, floor uint64, round bool, mk func(uint64) simtest.Config, what func(from, to uint64) string) {
	if cur <= floor {
		return
	}
	step := func(from, to uint64) bool {
		return s.try(mk(to), what(from, to))
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
func (s *Shrinker) simplerTriggers() {
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
func (s *Shrinker) simplerAtom(i int, path []int, desc func(string) string) {
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
		s.shrinkNum(a.Hit, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.Hit = v
			return with(b)
		}, numbered(a.Name+" hit", desc))
	case fault.AtomNth:
		s.shrinkNum(a.N, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.N = v
			return with(b)
		}, numbered("nth", desc))
	case fault.AtomStepGE:
		s.shrinkNum(a.N, 1, true, func(v uint64) simtest.Config {
			b := atom()
			b.N = v
			return with(b)
		}, numbered("step>=", desc))
	case fault.AtomTimeGE:
		// In microseconds, the trace's unit.
		s.shrinkNum(uint64(a.Dur/time.Microsecond), 0, true, func(v uint64) simtest.Config {
			b := atom()
			b.Dur = time.Duration(v) * time.Microsecond
			return with(b)
		}, numbered("time>= (us)", desc))
	case fault.AtomProb:
		if a.Prob != 1 {
			b := a
			b.Prob = 1
			s.try(with(b), desc(fmt.Sprintf("%s -> %s", a, b)))
		}
	}
}

// numbered describes a number's step in a fault's trigger: "fault 2: nth
// 21 -> 20".
func numbered(name string, desc func(string) string) func(from, to uint64) string {
	return func(from, to uint64) string { return desc(fmt.Sprintf("%s %d -> %d", name, from, to)) }
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
		faults = fmt.Sprintf("%d faults", len(cli.PlanLines(c.Faults)))
	}
	return fmt.Sprintf("%d clients x %d txns, writes<=%d, %s workload, %s", c.Clients, c.Txns, c.WritesMax, c.Workload, faults)
}
