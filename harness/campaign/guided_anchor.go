package campaign

import (
	"math/rand/v2"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest"
)

// Anchored derivations: forks at the first reach of a rare condition, as
// Antithesis and FoundationDB-style explorers keep the prefix of a run that
// reached a rare state and try many futures from it.
//
// pgdst keeps no snapshots, but a run is deterministic in its seed, config
// and plan, and a fault that cannot fire before scheduler step F leaves
// steps 1..F-1 as they were (guided_anchor_test.go checks it). The
// simulator notes the step at which each sometimes condition was first
// reached (simtest.Result.FirstReach). An anchored run keeps its parent's
// seed, knobs and plan, picks one of the parent's rarest conditions (rarity
// over the campaign's runs so far, as the energy counts it), reached at
// step K, and changes the future after K only:
//
//   - a crash (power loss, its mode drawn) or a kill of a drawn role at
//     step F = K+d, d log-uniform in [1, 4096] steps: the parent's crashes
//     and kills are held to the steps before F (each trigger gets "and
//     step<F" appended, evaluated last, so that the nth= counts and prob=
//     draws before F are the parent's), so one that fired before K still
//     fires and the prefix keeps it;
//   - or a pause of a role at an injection point that role reaches, at its
//     first hit from step K on, the parent's plan kept whole;
//   - or a disk fault the engine must survive (an I/O error on a read or
//     a write, ENOSPC, an fsync failure) at the first matching operation
//     from step K on, the parent's plan kept whole.
//
// A fault the plan already held keeps firing where it did before F; the
// new one fires at or after K. Everything else is the parent's, so the run
// is the parent's up to the fork and a different future after it: a crash
// right after the checkpoint that removed WAL, a stall of the process
// that had just made the rare state, an I/O error while it is in flight.

// anchorDeltaMaxLog2 bounds the fork's distance after the first reach:
// d in [1, 2^anchorDeltaMaxLog2] steps.
const anchorDeltaMaxLog2 = 12

// reachStep is a condition a corpus entry reached and the scheduler step
// of its first reach.
type reachStep struct {
	cond int
	step uint64
}

// entryReach lists the conditions r reached, with their first-reach steps.
func entryReach(r *simtest.Result) []reachStep {
	var out []reachStep
	for i := range env.Conditions {
		if r.Sometimes[i/64]&(1<<(i%64)) != 0 && r.FirstReach[i].Step > 0 {
			out = append(out, reachStep{cond: i, step: r.FirstReach[i].Step})
		}
	}
	return out
}

// anchorRoles are the roles an anchored kill or pause is aimed at.
var anchorRoles = [...]fault.Role{fault.RoleBackend, fault.RoleBgwriter, fault.RoleCheckpointer, fault.RoleWalwriter, fault.RoleAutovacuumWorker}

// anchorCondition picks one of e's conditions, weighted by the inverse
// square of the runs that reached it: the rarest most often. ok is false
// when e has none.
func (g *guided) anchorCondition(e *corpusEntry) (reachStep, bool) {
	if len(e.reach) == 0 {
		return reachStep{}, false
	}
	if cap(g.weights) < len(e.reach) {
		g.weights = make([]float64, len(e.reach), 2*len(e.reach))
	}
	w := g.weights[:len(e.reach)]
	sum := 0.0
	for i, rs := range e.reach {
		n := 1.0
		if id, ok := g.ids[featureKey(fkSometimes, conditionHashes[rs.cond], 0)]; ok {
			n = float64(g.count[id])
		}
		w[i] = 1 / (n * n)
		sum += w[i]
	}
	x := g.rng.Float64() * sum
	for i := range w {
		if x < w[i] {
			return e.reach[i], true
		}
		x -= w[i]
	}
	return e.reach[len(e.reach)-1], true
}

// anchor derives a run from parent that forks at the first reach of one
// of its rarest conditions. It returns the config and what it did; ok is
// false when no anchored run can be made (no condition, a pinned plan, a
// plan that does not parse back), and the caller derives otherwise.
func (g *guided) anchor(parent *corpusEntry) (simtest.Config, string, bool) {
	if g.mut.planPinned || parent.cfg.Faults == "" {
		return simtest.Config{}, "", false
	}
	rs, ok := g.anchorCondition(parent)
	if !ok {
		return simtest.Config{}, "", false
	}
	c := parent.cfg
	what := ""
	for try := 0; try < guidedDeriveTries; try++ {
		c = parent.cfg
		what = g.mut.editPlan(&c, func(p *fault.Plan) string { return anchorPlan(g.rng, p, rs.step, g.mut.points) })
		if c.Faults != parent.cfg.Faults && c.Validate() == nil {
			return c, what, true
		}
	}
	return simtest.Config{}, "", false
}

// anchorPlan edits p to fork after step k: see the comment at the top.
func anchorPlan(rng *rand.Rand, p *fault.Plan, k uint64, points []fault.PointRoles) string {
	switch x := rng.IntN(100); {
	case x < 45 && len(points) > 0:
		// A power loss at the n-th hit of an injection point from step
		// K on (n log-uniform in [1, 64], as the plan generator draws a
		// point's hit): inside a protocol's window, as the seeded plans'
		// point crashes are. A power loss at a step drawn after K (the
		// first version) lands where nothing is in flight and cuts the
		// workload short: such runs failed 0.1% as often as fresh runs
		// (docs/mutants.md, third round).
		a := fault.Action{Kind: fault.ActCrash, Mode: [...]string{"", fault.ModeDropAll, fault.ModeRandomSubset, fault.ModeTorn}[rng.IntN(4)]}
		holdBefore(p, k+1)
		n := 1 + rng.Uint64N(uint64(1)<<rng.IntN(7))
		pt := points[rng.IntN(len(points))].Name
		p.Faults = append(p.Faults, fault.Fault{Action: a, Times: 1, When: fault.And(
			fault.AtomExpr(fault.Atom{Kind: fault.AtomStepGE, N: k + 1}),
			fault.AtomExpr(fault.Atom{Kind: fault.AtomPoint, Name: pt}),
			fault.AtomExpr(fault.Atom{Kind: fault.AtomNth, N: n}))})
		return "anchor-crash"
	case x < 65:
		// A kill of a role's process at step K+d: the postmaster
		// crash-restarts and the workload goes on from the rare state.
		f := k + 1 + rng.Uint64N(uint64(1)<<rng.IntN(anchorDeltaMaxLog2+1))
		holdBefore(p, f)
		a := fault.Action{Kind: fault.ActKill, HasRole: true, Role: anchorRoles[rng.IntN(len(anchorRoles))]}
		p.Faults = append(p.Faults, fault.Fault{Action: a, When: fault.AtomExpr(fault.Atom{Kind: fault.AtomStepGE, N: f}), Times: 1})
		return "anchor-kill"
	case x < 75 && len(points) > 0:
		// A point one of the roles reaches: a few draws, as most do.
		var roles [len(anchorRoles)]fault.Role
		n := 0
		var pt fault.PointRoles
		for try := 0; try < guidedDeriveTries && n == 0; try++ {
			pt = points[rng.IntN(len(points))]
			for _, r := range anchorRoles {
				if pt.Roles.Has(r) {
					roles[n] = r
					n++
				}
			}
		}
		if n == 0 {
			return "anchor-pause(none)"
		}
		a := fault.Action{Kind: fault.ActPause, For: time.Duration(1+rng.IntN(50)) * time.Millisecond, HasRole: true, Role: roles[rng.IntN(n)]}
		p.Faults = append(p.Faults, fault.Fault{Action: a, Times: 1 + rng.IntN(4),
			When: fault.And(fault.AtomExpr(fault.Atom{Kind: fault.AtomStepGE, N: k + 1}), fault.AtomExpr(fault.Atom{Kind: fault.AtomPoint, Name: pt.Name}))})
		return "anchor-pause"
	default:
		// Only the faults the engine must survive whole (an I/O error,
		// ENOSPC, an fsync failure): a silent one (a torn or lost
		// write) is judged by detection, which data checksums off
		// cannot give (docs/mutants.md, third round).
		var a fault.Action
		op := fault.OpWrite
		switch rng.IntN(4) {
		case 0:
			a = fault.Action{Kind: fault.ActWriteEIO}
		case 1:
			a = fault.Action{Kind: fault.ActENOSPC}
		case 2:
			a, op = fault.Action{Kind: fault.ActFsyncEIO}, fault.OpSync
		default:
			a, op = fault.Action{Kind: fault.ActReadEIO}, fault.OpRead
		}
		when := fault.And(fault.AtomExpr(fault.Atom{Kind: fault.AtomStepGE, N: k + 1}), fault.AtomExpr(fault.Atom{Kind: fault.AtomOp, Op: op}))
		if rng.IntN(2) == 0 {
			file := [...]fault.FileClass{fault.FileWAL, fault.FileHeap, fault.FileIndex, fault.FileClog}[rng.IntN(4)]
			when.Args = append(when.Args, fault.AtomExpr(fault.Atom{Kind: fault.AtomFile, File: file}))
		}
		p.Faults = append(p.Faults, fault.Fault{Action: a, When: when, Times: 1})
		return "anchor-disk"
	}
}

// holdBefore holds p's crashes and kills to the steps before f: each
// trigger gets "and step<f" appended, evaluated after the trigger itself,
// so that before f every count and draw the trigger makes is the same.
func holdBefore(p *fault.Plan, f uint64) {
	for i := range p.Faults {
		x := &p.Faults[i]
		if x.Action.Kind != fault.ActCrash && x.Action.Kind != fault.ActKill {
			continue
		}
		before := fault.AtomExpr(fault.Atom{Kind: fault.AtomStepLT, N: f})
		if x.When == nil {
			x.When = before
		} else {
			x.When = fault.And(x.When, before)
		}
	}
}
