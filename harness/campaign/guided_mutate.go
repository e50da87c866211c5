package campaign

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// How a guided campaign derives a run from a corpus entry: a stack of one
// to three mutations of the parent's configuration, each of a knob (a run
// flag of cli.RunFlags, set through the flag's own Apply, so that a
// derived config is one the command line could have given) or of the
// fault plan (add, drop or alter a fault line, or draw the plan afresh
// from the seed), or a crossover of two parents. One derived run in five
// keeps the parent's seed, whose schedule reached the parent's coverage,
// and changes only what the mutations change; the others take the seed of
// their own index.

// knob is a run flag the guided campaign mutates and the values it tries;
// "" stands for the campaign's own value of the flag's fields (for most
// knobs: drawn from the seed). drawnPlan marks a knob that only matters
// when the plan is drawn from the seed.
type knob struct {
	flag      string
	values    []string
	drawnPlan bool
}

// guidedKnobs are the mutated run flags that take a value. Bool run flags
// (--no-swarm, --autocommit, ...) are mutated without a row: true or
// false. A flag another change adds to cli.RunFlags needs a row here or
// in guidedFixed (TestGuidedKnobsCoverRunFlags says which).
var guidedKnobs = []knob{
	{flag: "workload", values: simtest.Workloads},
	{flag: "isolation", values: append([]string{""}, simtest.Isolations...)},
	{flag: "synchronous-commit", values: []string{"on", "off"}},
	{flag: "client-timeout", values: []string{"", "20ms", "50ms", "200ms", "1s"}},
	{flag: "clients", values: []string{"1", "2", "3", "4", "6", "8"}},
	{flag: "txns", values: []string{"4", "8", "12", "20", "32"}},
	{flag: "writes", values: []string{"1", "2", "3", "5", "8"}},
	{flag: "think-max", values: []string{"0s", "500us", "2ms", "10ms"}},
	{flag: "crash-mode", values: []string{"", "drop-all", "random-subset", "torn"}},
	{flag: "row-bytes", values: []string{"", "8", "100", "1000", "2000"}},
	{flag: "fault-intensity", values: []string{"", "0", "0.1", "0.25", "0.5", "1"}, drawnPlan: true},
	{flag: "scheduler", values: []string{"", "random", "pct:1", "pct:2", "pct:3"}},
	{flag: "full-page-writes", values: []string{"", "on", "off"}},
	{flag: "data-checksums", values: []string{"", "on", "off"}},
	{flag: "shared-buffers", values: []string{"", "16", "32", "128"}},
	{flag: "wal-buffers", values: []string{"", "4", "8", "16"}},
	{flag: "checkpoint-timeout", values: []string{"", "2ms", "10ms", "60ms"}},
	{flag: "archive-timeout", values: []string{"", "off", "2ms", "20ms"}},
	{flag: "deadlock-timeout", values: []string{"", "1ms", "10ms", "1s"}},
	{flag: "wal-segment-size", values: []string{"", "64", "256", "512"}},
	{flag: "autovacuum-vacuum-threshold", values: []string{"", "0", "5", "50"}},
	{flag: "autovacuum-vacuum-scale-factor", values: []string{"", "0", "0.05", "0.2"}},
	{flag: "deletes", values: []string{"", "on", "off"}},
	{flag: "contended-keys", values: []string{"", "on", "off"}},
	{flag: "bulk-reads", values: []string{"", "on", "off"}},
	{flag: "register-bytes", values: []string{"", "8", "2000"}},
	{flag: "async-share", values: []string{"", "0", "0.25", "1"}},
	{flag: "hint-bits", values: []string{"", "dirty", "no-dirty"}},
	{flag: "lock-pause", values: append([]string{"", "off", "any"}, simtest.LockTranches()...), drawnPlan: true},
	{flag: "script-client", values: []string{"", "on", "off"}},
	{flag: "range-statements", values: []string{"", "on", "off"}},
	{flag: "follow-reads", values: []string{"", "on", "off"}},
	{flag: "standby-reads", values: []string{"", "on", "off"}},
	{flag: "pred-locks", values: []string{"", simtest.PredLocksDefault, simtest.PredLocksScaled}},
	{flag: "list-inserts", values: []string{"", "on", "off"}},
	{flag: "hot-keys", values: []string{"", "on", "off"}},
	{flag: "ssi-read-only", values: []string{"", simtest.SSIReadOnlyOff, simtest.SSIReadOnlyOn, simtest.SSIReadOnlyDeferrable, simtest.SSIReadOnlyMixed}},
	// The coverage draws (simtest/clog_start.go, fsync_queue.go,
	// wal_senders.go); max_wal_senders never below the three standbys a
	// run may have, which Validate refuses.
	{flag: "next-xid", values: []string{"", "3", "32760", "1048560"}},
	{flag: "fsync-queue", values: []string{"", "1", "4", "4096"}},
	{flag: "max-wal-senders", values: []string{"", "3", "10"}},
}

// guidedFixed are the run flags that are not knobs: the planted bugs
// define what is tested, and the plan flags are mutated as a plan;
// --standbys and --pitr (issue 19) change which nodes a run has, not a
// knob of one, and the synchronous-replication flags act only with the
// standbys it fixes (a setting naming standbys a run lacks is refused),
// as --failover-kind acts only with the --failover it needs.
var guidedFixed = []string{"bug", "faults", "fault", "no-faults", "crash-step", "standbys", "pitr",
	"synchronous-standby-names", "syncrep-cancel", "failover-standby-power-loss", "standby-archive", "failover-kind"}

// mutator derives runs; it holds what every derivation reads.
type mutator struct {
	base simtest.Config
	// planPinned: a plan flag gave the plan, which derived runs keep.
	planPinned bool
	knobs      []knob // guidedKnobs and the bool run flags
	points     []fault.PointRoles
	names      []string
}

// newMutator derives runs from base; pinned are the run flags the command
// line gave, which no derived run changes: what a user fixed stays fixed.
func newMutator(base simtest.Config, pinned []string) *mutator {
	m := &mutator{base: base}
	for _, k := range guidedKnobs {
		if !slices.Contains(pinned, k.flag) {
			m.knobs = append(m.knobs, k)
		}
	}
	for _, f := range cli.RunFlags {
		if f.Bool && f.Apply != nil && !slices.Contains(guidedFixed, f.Name) && !slices.Contains(pinned, f.Name) {
			m.knobs = append(m.knobs, knob{flag: f.Name, values: []string{"true", "false"}})
		}
	}
	for _, name := range []string{"faults", "fault", "no-faults", "crash-step"} {
		m.planPinned = m.planPinned || slices.Contains(pinned, name)
	}
	for _, p := range pgproc.Points {
		m.points = append(m.points, fault.PointRoles{Name: p.Name, Roles: p.Roles})
		m.names = append(m.names, p.Name)
	}
	return m
}

// guidedDeriveTries bounds the attempts at a valid derived config; after
// them the run is the plain campaign's.
const guidedDeriveTries = 8

// derive makes a run from parent, crossed with mate when it is not nil:
// seed is the run's own seed. It returns the config and the mutations
// applied.
func (m *mutator) derive(rng *rand.Rand, parent simtest.Config, mate *simtest.Config, seed uint64, corpus []*corpusEntry) (simtest.Config, []string) {
	for try := 0; try < guidedDeriveTries; try++ {
		c := parent
		keepSeed := rng.IntN(100) < guidedKeepSeedShare
		if !keepSeed {
			c.Seed = seed
		}
		var muts []string
		n := 1 + rng.IntN(3)
		if mate != nil {
			muts = append(muts, m.cross(rng, &c, *mate))
			n = rng.IntN(2) // a crossover is a mutation already
		}
		for k := 0; k < n; k++ {
			muts = append(muts, m.mutateOnce(rng, &c, keepSeed, corpus))
		}
		if c.Validate() != nil || reflect.DeepEqual(c, parent) {
			continue
		}
		return c, muts
	}
	c := m.base
	c.Seed = seed
	return c, []string{"none"}
}

// guidedKeepSeedShare is the share, in percent, of derived runs that keep
// their parent's seed. Measured over 17 mutants and planted bugs (docs/
// mutants.md), a derived run that kept its parent's seed failed about a
// third as often as a fresh run, and one with a seed of its own about as
// often: a near replay of a passing run rarely fails, unless the bug
// waits in the parent's neighbourhood (a crash moved by a few hits, as for
// early-clean), so that share of the budget stays.
const guidedKeepSeedShare = 20

// guidedKeptSeedKnobShare is the share of a kept seed's mutations that
// change a knob rather than the plan. The seed's swarm shape (bulk loads,
// vacuum period, long reads, fault intensity) and its workload variety
// are drawn from streams of their own, so they stay with the seed when a
// knob changes; the schedule does not.
const guidedKeptSeedKnobShare = 30

// mutateOnce applies one mutation to c and names it.
func (m *mutator) mutateOnce(rng *rand.Rand, c *simtest.Config, keepSeed bool, corpus []*corpusEntry) string {
	x := rng.IntN(100)
	if m.planPinned || len(m.knobs) == 0 {
		if len(m.knobs) == 0 {
			return "none"
		}
		return m.mutateKnob(rng, c)
	}
	if keepSeed {
		// The parent's seed keeps its schedule up to the first fault
		// that fires differently, and the seed's own swarm draws: a
		// plan mutation explores the parent's neighbourhood. A knob
		// leaves the schedule but keeps the seed's shape.
		if x < guidedKeptSeedKnobShare {
			return m.mutateKnob(rng, c)
		}
		x = 40 + x/2
	}
	switch {
	case x < 40 || c.Faults == "":
		// A drawn plan cannot be edited: only knobs change then.
		return m.mutateKnob(rng, c)
	case x < 65:
		return m.editPlan(c, func(p *fault.Plan) string { return m.alterFault(rng, p) })
	case x < 80:
		return m.editPlan(c, func(p *fault.Plan) string { return m.addFault(rng, p, corpus) })
	case x < 90:
		return m.editPlan(c, func(p *fault.Plan) string {
			if len(p.Faults) == 0 {
				return m.addFault(rng, p, corpus)
			}
			i := rng.IntN(len(p.Faults))
			p.Faults = slices.Delete(p.Faults, i, i+1)
			return "plan-drop"
		})
	case !keepSeed:
		// The plan the new seed draws, with the knobs as they are.
		c.Faults, c.CrashStep = m.base.Faults, m.base.CrashStep
		return "plan-redraw"
	}
	return m.mutateKnob(rng, c)
}

// cross is AFL's splice for runs: each free knob takes the mate's value
// with probability one half, and, unless the plan is pinned, the plan is
// the parent's first faults followed by the mate's last ones. The states
// two parents reached separately (one's isolation and vacuum period,
// another's crash point) meet in one run.
func (m *mutator) cross(rng *rand.Rand, c *simtest.Config, mate simtest.Config) string {
	var fields []string
	for _, k := range m.knobs {
		if rng.IntN(2) == 0 {
			if f := cli.Lookup(k.flag); f != nil {
				fields = append(fields, f.JSON...)
			}
		}
	}
	if len(fields) > 0 {
		resetFields(c, mate, fields)
	}
	if m.planPinned || c.Faults == "" || mate.Faults == "" || rng.IntN(2) == 0 {
		return "cross-knobs"
	}
	other, err := fault.Parse(mate.Faults)
	if err != nil {
		panic("campaign: a corpus plan does not parse: " + err.Error())
	}
	return m.editPlan(c, func(p *fault.Plan) string {
		i := rng.IntN(len(p.Faults) + 1)
		j := rng.IntN(len(other.Faults) + 1)
		p.Faults = append(slices.Clone(p.Faults[:i]), other.Faults[j:]...)
		return "cross-plan"
	})
}

// mutateKnob sets one knob to another of its values.
func (m *mutator) mutateKnob(rng *rand.Rand, c *simtest.Config) string {
	k := m.knobs[rng.IntN(len(m.knobs))]
	if k.drawnPlan && c.Faults != "" {
		// It would change nothing: the first knob instead.
		k = m.knobs[0]
	}
	f := cli.Lookup(k.flag)
	if f == nil || f.Apply == nil {
		panic("campaign: guided knob " + k.flag + " is not a run flag with a value")
	}
	// A knob the parent set goes back to the campaign's own value (for
	// most knobs: drawn from the seed) on half its mutations, any other
	// knob on one in len+1: knobs set generation after generation would
	// drift from the plain campaign's variety, whose runs find more bugs
	// per run than runs pinned to a few chosen values.
	v := ""
	if isSet(*c, m.base, f.JSON) && rng.IntN(2) == 0 {
		v = ""
	} else if i := rng.IntN(len(k.values) + 1); i < len(k.values) {
		v = k.values[i]
	}
	if v == "" {
		resetFields(c, m.base, f.JSON)
	} else if f.Check(v) == nil {
		f.Apply(c, []string{v})
	}
	return "knob:" + k.flag
}

// isSet reports whether c's JSON fields names differ from base's.
func isSet(c, base simtest.Config, names []string) bool {
	a, b := configFields(c), configFields(base)
	for _, n := range names {
		if string(a[n]) != string(b[n]) {
			return true
		}
	}
	return false
}

// configFields is c's JSON fields by name.
func configFields(c simtest.Config) map[string]json.RawMessage {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		panic(err)
	}
	return all
}

// resetFields sets c's JSON fields names to base's.
func resetFields(c *simtest.Config, base simtest.Config, names []string) {
	b, err := json.Marshal(base)
	if err != nil {
		panic(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		panic(err)
	}
	sub := map[string]json.RawMessage{}
	for _, n := range names {
		sub[n] = all[n]
	}
	b, err = json.Marshal(sub)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		panic(err)
	}
}

// editPlan applies edit to c's plan, keeping the result only when it is a
// valid plan that pairs no role with a point it never reaches.
func (m *mutator) editPlan(c *simtest.Config, edit func(p *fault.Plan) string) string {
	p, err := fault.Parse(c.Faults)
	if err != nil {
		panic("campaign: a corpus plan does not parse: " + err.Error())
	}
	what := edit(&p)
	if p.Validate() != nil || len(fault.ImpossiblePairs(p, m.points)) > 0 {
		return what + "(rejected)"
	}
	c.Faults = p.String()
	if len(p.Faults) == 0 {
		c.Faults = cli.EmptyPlan
	}
	return what
}

// addFault adds a fault line: one of another corpus entry's plan (AFL's
// splice), or one the swarm draws (a disk, clock, pause or kill fault).
func (m *mutator) addFault(rng *rand.Rand, p *fault.Plan, corpus []*corpusEntry) string {
	if rng.IntN(2) == 0 && len(corpus) > 0 {
		other, err := fault.Parse(corpus[rng.IntN(len(corpus))].cfg.Faults)
		if err == nil && len(other.Faults) > 0 {
			p.Faults = append(p.Faults, other.Faults[rng.IntN(len(other.Faults))])
			return "plan-splice"
		}
	}
	intensity := [...]float64{0.25, 0.5, 1}[rng.IntN(3)]
	for try := 0; try < guidedDeriveTries; try++ {
		s := fault.Swarm(rng, intensity, m.names)
		if len(s.Faults) > 0 {
			p.Faults = append(p.Faults, s.Faults[rng.IntN(len(s.Faults))])
			return "plan-add"
		}
	}
	return "plan-add(none)"
}

// alterFault changes one number or point of one fault: a point's hit,
// a step or nth count, a probability, a duration, the times it may fire,
// or the point it is aimed at.
func (m *mutator) alterFault(rng *rand.Rand, p *fault.Plan) string {
	if len(p.Faults) == 0 {
		return "plan-alter(empty)"
	}
	f := &p.Faults[rng.IntN(len(p.Faults))]
	var sites []func() string
	if f.Times > 0 {
		sites = append(sites, func() string { f.Times = int(nudge(rng, uint64(f.Times))); return "plan-alter:times" })
	}
	if f.Action.For > 0 {
		sites = append(sites, func() string { f.Action.For = nudgeDur(rng, f.Action.For); return "plan-alter:for" })
	}
	if f.Action.Max > 0 {
		sites = append(sites, func() string { f.Action.Max = nudgeDur(rng, f.Action.Max); return "plan-alter:max" })
	}
	var walk func(e *fault.Expr, depth int)
	walk = func(e *fault.Expr, depth int) {
		if e == nil || depth > 8 {
			return
		}
		if e.Op != fault.ExprAtom {
			for _, a := range e.Args {
				walk(a, depth+1)
			}
			return
		}
		a := &e.Atom
		switch a.Kind {
		case fault.AtomPoint:
			if a.Hit > 0 {
				sites = append(sites, func() string { a.Hit = nudge(rng, a.Hit); return "plan-alter:hit" })
			}
			sites = append(sites, func() string { a.Name = m.names[rng.IntN(len(m.names))]; return "plan-alter:point" })
		case fault.AtomStepGE, fault.AtomStepLT:
			sites = append(sites, func() string {
				d := a.N/8 + 1
				a.N = max(1, a.N-d+rng.Uint64N(2*d+1))
				return "plan-alter:step"
			})
		case fault.AtomNth:
			sites = append(sites, func() string { a.N = nudge(rng, a.N); return "plan-alter:nth" })
		case fault.AtomProb:
			sites = append(sites, func() string {
				a.Prob = min(1, max(0.0001, a.Prob*[...]float64{0.25, 0.5, 2, 4}[rng.IntN(4)]))
				return "plan-alter:prob"
			})
		case fault.AtomTimeGE, fault.AtomTimeLT:
			sites = append(sites, func() string { a.Dur = nudgeDur(rng, a.Dur); return "plan-alter:time" })
		}
	}
	walk(f.When, 1)
	if len(sites) == 0 {
		return "plan-alter(none)"
	}
	return sites[rng.IntN(len(sites))]()
}

// nudge moves a count of at least 1 to a near one: one or two either side,
// double or half.
func nudge(rng *rand.Rand, n uint64) uint64 {
	switch rng.IntN(6) {
	case 0:
		n--
	case 1:
		n++
	case 2:
		n -= 2
	case 3:
		n += 2
	case 4:
		n *= 2
	default:
		n /= 2
	}
	if n == 0 || n > 1<<40 {
		return 1
	}
	return n
}

// nudgeDur halves, doubles or shifts a duration by a quarter, staying
// positive.
func nudgeDur(rng *rand.Rand, d time.Duration) time.Duration {
	switch rng.IntN(4) {
	case 0:
		d /= 2
	case 1:
		d *= 2
	case 2:
		d += d / 4
	default:
		d -= d / 4
	}
	return max(d, time.Microsecond)
}
