package fault

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Plan generation. Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012;
// TigerBeetle's VOPR and FoundationDB's simulation do the same) gives each
// run a different random subset of the fault kinds instead of all of them at
// a fixed rate: a bug that needs many write errors and no crash, or a crash
// and nothing else, is found by some runs instead of being drowned by the
// other faults in every run.

// Ladders of readable values. Swarm picks from them rather than from a
// continuous range so that printed plans read like hand-written ones
// ("prob=0.005", "for=20ms") and stay short in repro files.
var (
	probLadder = [...]float64{0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5}
	durLadder  = [...]time.Duration{
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
		200 * time.Millisecond, 500 * time.Millisecond, time.Second,
	}
	stepLadder = [...]uint64{1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000}
)

// Indexes into probLadder and durLadder, named for the ranges Swarm uses.
const (
	p0001 = 0  // 0.0001
	p001  = 3  // 0.001
	p002  = 4  // 0.002
	p01   = 6  // 0.01
	p05   = 8  // 0.05
	p1    = 9  // 0.1
	p5    = 11 // 0.5

	d1ms   = 0
	d10ms  = 3
	d50ms  = 5
	d100ms = 6
	d1s    = 9
)

// The roles Swarm kills or pauses: the ones whose abnormal death PostgreSQL
// answers with a crash-restart. Killing the postmaster, the startup process
// or the logger ends or blocks the node instead, which is a different test.
var swarmRoles = [...]Role{RoleBackend, RoleBgwriter, RoleCheckpointer, RoleWalwriter, RoleAutovacuumWorker}

// The file classes Swarm aims disk faults at when it narrows one.
var swarmFiles = [...]FileClass{FileWAL, FileHeap, FileIndex, FileClog, FileControl, FileCatalog}

// Swarm draws a random plan from rng. Each survivable fault kind (fsync-eio,
// write-eio, enospc, read-eio, latency, pause, clock-skew) is on with
// probability 1/2; each destructive one (bitflip, torn-write, lost-write,
// misdirected-write) with probability 1/4 and always at a low rate and once;
// and at most one crash or kill, with probability 1/2. intensity in [0, 1]
// scales how often and how many times the faults that are on fire: 0 gives
// the empty plan, 1 a heavy one. points are the engine's injection point
// names, which crash, kill and pause triggers aim at; they may be empty.
//
// The plan depends only on the numbers rng returns (Swarm draws them in a
// fixed order), and is valid, so it prints and parses back equal.
func Swarm(rng Rand, intensity float64, points []string) Plan {
	if rng == nil {
		panic("fault: Swarm with a nil Rand")
	}
	if !(intensity >= 0 && intensity <= 1) {
		panic(fmt.Sprintf("fault: Swarm intensity %v outside [0, 1]", intensity))
	}
	checkPoints(points)
	if intensity == 0 {
		return Plan{}
	}
	g := &swarmGen{rng: rng, intensity: intensity, points: points}
	var p Plan
	add := func(f Fault) { p.Faults = append(p.Faults, f) }

	if g.coin(1, 2) {
		add(g.crashOrKill())
	}
	for _, k := range [...]ActionKind{ActFsyncEIO, ActWriteEIO, ActENOSPC, ActReadEIO} {
		if !g.coin(1, 2) {
			continue
		}
		// Errors the engine answers with an ERROR and a retry, or a PANIC
		// and recovery: frequent enough to hit the retry paths, few enough
		// that the run still gets work done.
		var when *Expr
		if g.coin(1, 2) {
			when = AtomExpr(g.prob(p001, p05))
		} else {
			when = And(AtomExpr(Atom{Kind: AtomFile, File: swarmFiles[g.intn(len(swarmFiles))]}), AtomExpr(g.prob(p001, p1)))
		}
		add(Fault{Action: Action{Kind: k}, When: when, Times: g.count(5)})
	}
	if g.coin(1, 2) {
		// Latency only moves time, so it may fire without limit.
		a := Action{Kind: ActLatency, For: g.dur(d1ms, d50ms)}
		var when *Expr
		if g.coin(1, 2) {
			op := [...]OpKind{OpSync, OpWrite, OpRead}[g.intn(3)]
			when = And(AtomExpr(Atom{Kind: AtomOp, Op: op}), AtomExpr(g.prob(p01, p5)))
		} else {
			when = AtomExpr(g.prob(p01, p1))
		}
		add(Fault{Action: a, When: when, Times: 0})
	}
	if g.coin(1, 2) {
		// A pause at an injection point opens the window between two steps
		// of a protocol (a buffer written but not yet synced) for everyone
		// else; a pause on scheduler steps of one role starves it.
		a := Action{Kind: ActPause, For: g.dur(d1ms, d100ms)}
		var when *Expr
		if len(points) > 0 && g.coin(1, 2) {
			pt := points[g.intn(len(points))]
			when = And(AtomExpr(Atom{Kind: AtomPoint, Name: pt}), AtomExpr(g.prob(p01, p5)))
		} else {
			r := swarmRoles[g.intn(len(swarmRoles))]
			when = And(AtomExpr(Atom{Kind: AtomRole, Role: r}), AtomExpr(g.prob(p0001, p01)))
		}
		add(Fault{Action: a, When: when, Times: g.count(4)})
	}
	if g.coin(1, 2) {
		a := Action{Kind: ActClockSkew, Max: g.dur(d1ms, d50ms)}
		var when *Expr
		if g.coin(1, 2) {
			when = AtomExpr(g.prob(p01, p5))
		}
		add(Fault{Action: a, When: when, Times: 0})
	}
	for _, k := range [...]ActionKind{ActBitFlip, ActTornWrite, ActLostWrite, ActMisdirectedWrite} {
		if !g.coin(1, 4) {
			continue
		}
		a := newAction(k)
		switch k {
		case ActBitFlip:
			a.Bits = [...]int{1, 1, 1, 2, 8}[g.intn(5)]
		case ActMisdirectedWrite:
			a.By = [...]int64{DefaultMisdirectBy, -DefaultMisdirectBy, 4096, 512}[g.intn(4)]
		}
		// Aimed at the files whose pages carry checksums, so that the run
		// can be judged on detection, and rare.
		fc := [...]FileClass{FileHeap, FileIndex}[g.intn(2)]
		when := And(AtomExpr(Atom{Kind: AtomFile, File: fc}), AtomExpr(g.prob(p0001, p002)))
		add(Fault{Action: a, When: when, Times: 1})
	}
	if err := p.Validate(); err != nil {
		panic("fault: Swarm made an invalid plan: " + err.Error())
	}
	return p
}

// crashOrKill draws the run's one crash or kill.
func (g *swarmGen) crashOrKill() Fault {
	if g.coin(2, 3) {
		a := Action{Kind: ActCrash}
		a.Mode = [...]string{"", ModeDropAll, ModeRandomSubset, ModeTorn}[g.intn(4)]
		a.NonAtomicRename = g.coin(1, 8)
		return Fault{Action: a, When: g.when(), Times: 1}
	}
	a := Action{Kind: ActKill}
	var when *Expr
	if len(g.points) > 0 && g.coin(1, 2) {
		// Kill whoever reaches the point: no role needed.
		when = g.when()
	} else {
		a.Role, a.HasRole = swarmRoles[g.intn(len(swarmRoles))], true
		when = g.timeOrStep()
	}
	return Fault{Action: a, When: when, Times: 1}
}

// when draws a one-shot trigger: an injection point's early hit when there
// are points (half the time), else a virtual time or a step count.
func (g *swarmGen) when() *Expr {
	if len(g.points) > 0 && g.coin(1, 2) {
		pt := g.points[g.intn(len(g.points))]
		return AtomExpr(Atom{Kind: AtomPoint, Name: pt, Hit: uint64(1 + g.intn(4))})
	}
	return g.timeOrStep()
}

func (g *swarmGen) timeOrStep() *Expr {
	if g.coin(1, 2) {
		return AtomExpr(Atom{Kind: AtomTimeGE, Dur: g.dur(d10ms, d1s)})
	}
	return AtomExpr(Atom{Kind: AtomStepGE, N: stepLadder[g.intn(len(stepLadder))]})
}

type swarmGen struct {
	rng       Rand
	intensity float64
	points    []string
}

// intn returns a value in [0, n) with one draw (Lemire's multiply-shift; the
// bias is below 2^-60 for the small n used here).
func (g *swarmGen) intn(n int) int {
	if n <= 0 {
		panic("fault: intn with n <= 0")
	}
	hi, _ := bits.Mul64(g.rng.Uint64(), uint64(n))
	return int(hi)
}

func (g *swarmGen) coin(num, den int) bool { return g.intn(den) < num }

// scaled returns the top of the index range [lo, hi] at this intensity: lo
// at the lightest, hi at 1.
func (g *swarmGen) scaled(lo, hi int) int {
	return lo + int(math.Round(g.intensity*float64(hi-lo)))
}

// prob draws prob=P from probLadder[lo..hi], the top scaled by intensity.
func (g *swarmGen) prob(lo, hi int) Atom {
	top := g.scaled(lo, hi)
	return Atom{Kind: AtomProb, Prob: probLadder[lo+g.intn(top-lo+1)]}
}

// dur draws a duration from durLadder[lo..hi], the top scaled by intensity.
func (g *swarmGen) dur(lo, hi int) time.Duration {
	top := g.scaled(lo, hi)
	return durLadder[lo+g.intn(top-lo+1)]
}

// count draws times=N in 1..most, the top scaled by intensity.
func (g *swarmGen) count(most int) int {
	top := g.scaled(1, most)
	return 1 + g.intn(top)
}

// maxSystematic bounds Systematic's output, so that a mistaken k cannot ask
// for billions of plans.
const maxSystematic = 1 << 20

// Systematic enumerates crash points: for every point in points order and
// every hit 1..k in order, one plan holding exactly one fault, "crash when
// point=P#H". Run all of them and every crash window the engine names has
// been tried in its first k occurrences.
func Systematic(points []string, k int) []Plan {
	if k < 0 {
		panic("fault: Systematic with negative k")
	}
	checkPoints(points)
	if len(points) > 0 && k > maxSystematic/len(points) {
		panic(fmt.Sprintf("fault: Systematic would make more than %d plans", maxSystematic))
	}
	plans := make([]Plan, 0, len(points)*k)
	for _, pt := range points {
		for h := 1; h <= k; h++ {
			f := Fault{
				Action: Action{Kind: ActCrash},
				When:   AtomExpr(Atom{Kind: AtomPoint, Name: pt, Hit: uint64(h)}),
				Times:  1,
			}
			plans = append(plans, Plan{Faults: []Fault{f}})
		}
	}
	return plans
}

// checkPoints panics unless points are valid, distinct names: they come from
// the engine's own list, so a bad one is a programmer error.
func checkPoints(points []string) {
	if len(points) > maxSystematic {
		panic("fault: too many injection points")
	}
	seen := make(map[string]bool, len(points))
	for _, pt := range points {
		if err := checkName(pt); err != nil {
			panic("fault: bad injection point name: " + err.Error())
		}
		if seen[pt] {
			panic("fault: injection point " + pt + " listed twice")
		}
		seen[pt] = true
	}
}
