package fault

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// The plan generator: the one place that draws a run's fault plan from its
// seed. A drawn plan holds one crash — at a random scheduler step, at the
// k-th hit of an injection point (where the interesting windows are: a
// random step lands in them rarely), or just before the k-th data-page
// write — sometimes a second crash in the middle of the recovery from the
// first, sometimes a pause of one role at a point that widens a race window
// (a bgwriter stalled between marking a page clean and writing it, say)
// until other processes run through it, sometimes backends paused with
// their statement's snapshot taken, and, with a fault intensity, the
// swarm's disk and clock faults (Swarm).
//
// A role is paired only with a point the engine's table says it reaches
// (PointRoles, checked against what runs reach by simtest's
// TestPointsTableRolesAreReached): "pause role=bgwriter when
// point=backend-after-snapshot" can never fire, and a plan that holds it
// tests nothing while it looks like it does.

// PointRoles is one injection point and the roles that reach it.
type PointRoles struct {
	Name  string
	Roles env.RoleSet
}

// Gen is what Generate needs to know of the engine and of the run.
type Gen struct {
	// Points are the engine's injection points, in its table's order,
	// with the roles that reach each: crashes aim at any of them, and
	// role-aimed faults only at the pairs listed.
	Points []PointRoles
	// PausePoints are where a pause widens a race window: a page marked
	// clean but not yet written, a commit between its WAL and its clog
	// update, a checkpoint between taking REDO and flushing, a WAL write
	// not yet synced. Each must be among Points.
	PausePoints []string
	// RacePoints are race windows where a short pause of a backend lets
	// another process's steps land inside them (the points table's race
	// windows). Each must be among Points and reached by backends. A
	// pause there is drawn last, from the generator's stream after every
	// other draw, so that a plan without one is the plan drawn before
	// they existed.
	RacePoints []string
	// SnapshotPoint is where a statement holds its snapshot and has
	// touched no row (backend-after-snapshot); RedoPoint is where the
	// startup process has redone one WAL record.
	SnapshotPoint, RedoPoint string
	// StepsSoFar is the scheduler's step count when the plan starts;
	// CrashSteps the number of steps the workload is expected to take,
	// over which a step crash is drawn.
	StepsSoFar, CrashSteps uint64
	// Intensity adds Swarm's faults (kills, disk and clock faults; not its
	// crash: the plan has one) at this intensity in [0, 1].
	Intensity float64
	// Fork derives an independent stream from the generator's, for
	// Swarm's draws. It is called once, after every other draw but the
	// race pause's (RacePoints).
	Fork func(label uint64) Rand
}

// pauseRoles are the roles a point pause is aimed at: a process stalled
// mid-protocol while the others run past it. A pause of every role's hits
// would mostly stall the checkpointer too.
var pauseRoles = [...]Role{RoleBackend, RoleBgwriter, RoleCheckpointer, RoleWalwriter}

// maxGenPoints bounds the points table Generate accepts.
const maxGenPoints = 1024

// Generate draws a run's plan from rng. The plan depends only on the
// numbers rng returns (and Fork's stream), drawn in a fixed order; it is
// valid, and it pairs no role with a point that role does not reach.
func Generate(rng Rand, g Gen) Plan {
	if rng == nil || g.Fork == nil {
		panic("fault: Generate needs a Rand and a Fork")
	}
	if len(g.Points) == 0 || len(g.Points) > maxGenPoints {
		panic(fmt.Sprintf("fault: Generate with %d points", len(g.Points)))
	}
	if !(g.Intensity >= 0 && g.Intensity <= 1) {
		panic(fmt.Sprintf("fault: Generate intensity %v outside [0, 1]", g.Intensity))
	}
	reach := make(map[string]env.RoleSet, len(g.Points))
	names := make([]string, len(g.Points))
	for i, p := range g.Points {
		names[i] = p.Name
		reach[p.Name] = p.Roles
	}
	checkPoints(names)
	for _, pt := range append(append([]string{g.SnapshotPoint, g.RedoPoint}, g.PausePoints...), g.RacePoints...) {
		if _, ok := reach[pt]; !ok {
			panic("fault: Generate's point " + pt + " is not in its table")
		}
	}
	if !reach[g.SnapshotPoint].Has(RoleBackend) || !reach[g.RedoPoint].Has(RoleStartup) {
		panic("fault: the snapshot point must be a backend's and the redo point the startup process's")
	}

	gen := &swarmGen{rng: rng}
	var plan Plan
	crashAt := func(e *Expr) {
		plan.Faults = append(plan.Faults, Fault{Action: Action{Kind: ActCrash}, When: e, Times: 1})
	}
	// logUniform draws k in [1, 64], small values as often as large ones
	// in log scale: a rare point's first hits, a hot point's later ones.
	logUniform := func() uint64 { return 1 + uint64(gen.intn(1<<gen.intn(7))) }
	switch gen.intn(3) {
	case 0:
		est := g.CrashSteps + 1
		if est > 1<<62 {
			panic("fault: Generate's CrashSteps is out of range")
		}
		crashAt(AtomExpr(Atom{Kind: AtomStepGE, N: g.StepsSoFar + 1 + uint64(gen.intn(int(est)))}))
	case 1:
		point := names[gen.intn(len(names))]
		crashAt(AtomExpr(Atom{Kind: AtomPoint, Name: point, Hit: logUniform()}))
	default:
		// Just before the k-th data-page write: the writes before it
		// are likely still unsynced, which is what a torn or partial
		// crash needs to bite.
		class := [...]FileClass{FileHeap, FileIndex}[gen.intn(2)]
		crashAt(And(
			AtomExpr(Atom{Kind: AtomOp, Op: OpWrite}),
			AtomExpr(Atom{Kind: AtomFile, File: class}),
			AtomExpr(Atom{Kind: AtomNth, N: logUniform()})))
	}
	if gen.intn(4) == 0 {
		// A second crash, in the middle of the recovery from the first:
		// redo must be restartable.
		crashAt(And(AtomExpr(Atom{Kind: AtomRole, Role: RoleStartup}),
			AtomExpr(Atom{Kind: AtomPoint, Name: g.RedoPoint, Hit: logUniform()})))
	}
	if gen.intn(2) == 0 {
		// One role's hits of one point, paused at a seeded fraction of
		// them, a few times (a backend or the bgwriter stalled mid-write
		// while the checkpointer runs past it): a role that reaches the
		// point, drawn with one draw as before the table was consulted.
		point := g.PausePoints[gen.intn(len(g.PausePoints))]
		var roles [len(pauseRoles)]Role
		n := 0
		for _, r := range pauseRoles {
			if reach[point].Has(r) {
				roles[n] = r
				n++
			}
		}
		if n == 0 {
			panic("fault: pause point " + point + " is reached by none of the paused roles")
		}
		act := Action{Kind: ActPause, For: time.Duration(5+gen.intn(46)) * time.Millisecond, HasRole: true, Role: roles[gen.intn(n)]}
		plan.Faults = append(plan.Faults, Fault{
			Action: act,
			When: And(AtomExpr(Atom{Kind: AtomPoint, Name: point}),
				AtomExpr(Atom{Kind: AtomProb, Prob: [...]float64{0.05, 0.1, 0.25, 0.5}[gen.intn(4)]})),
			Times: 1 + gen.intn(8),
		})
	}
	if gen.intn(4) == 0 {
		// A backend stalled with its statement's snapshot taken, a few
		// times, while others commit updates its own must then follow
		// along the update chain (EvalPlanQual; planted bug
		// epq-next-version).
		plan.Faults = append(plan.Faults, Fault{
			Action: Action{Kind: ActPause, For: time.Duration(5+gen.intn(16)) * time.Millisecond, HasRole: true, Role: RoleBackend},
			When: And(AtomExpr(Atom{Kind: AtomPoint, Name: g.SnapshotPoint}),
				AtomExpr(Atom{Kind: AtomProb, Prob: [...]float64{0.05, 0.1, 0.25}[gen.intn(3)]})),
			Times: 1 + gen.intn(8),
		})
	}
	if g.Intensity > 0 {
		// The swarm's kill stays (the postmaster crash-restarts and the
		// workload goes on); its crash does not: the plan has one.
		for _, f := range Swarm(g.Fork(1), g.Intensity, names).Faults {
			if f.Action.Kind != ActCrash {
				plan.Faults = append(plan.Faults, f)
			}
		}
	}
	if len(g.RacePoints) > 0 && gen.intn(4) == 0 {
		// A backend stalled a few times in a race window, briefly: long
		// enough for others' I/O and commits (a millisecond's fsync) to
		// land inside it, short enough to leave the run its shape.
		point := g.RacePoints[gen.intn(len(g.RacePoints))]
		if !reach[point].Has(RoleBackend) {
			panic("fault: race point " + point + " is not reached by backends")
		}
		plan.Faults = append(plan.Faults, Fault{
			Action: Action{Kind: ActPause, For: time.Duration(1+gen.intn(10)) * time.Millisecond, HasRole: true, Role: RoleBackend},
			When: And(AtomExpr(Atom{Kind: AtomPoint, Name: point}),
				AtomExpr(Atom{Kind: AtomProb, Prob: [...]float64{0.02, 0.05, 0.1, 0.25}[gen.intn(4)]})),
			Times: 1 + gen.intn(8),
		})
	}
	if err := plan.Validate(); err != nil {
		panic("fault: Generate made an invalid plan: " + err.Error())
	}
	if bad := ImpossiblePairs(plan, g.Points); len(bad) > 0 {
		panic(fmt.Sprintf("fault: Generate paired roles with points they never reach: %v", bad))
	}
	return plan
}

// ImpossiblePairs lists the faults of p that aim a role at an injection
// point the role never reaches, by points' table: such a fault can never
// fire. A fault's role is its action's (kill or pause role=) and every
// role= of its trigger's top-level conjunction; its points are the point=
// atoms of that conjunction. Points the table does not know are not judged.
func ImpossiblePairs(p Plan, points []PointRoles) []string {
	reach := make(map[string]env.RoleSet, len(points))
	for _, pt := range points {
		reach[pt.Name] = pt.Roles
	}
	var out []string
	for i, f := range p.Faults {
		var roles []Role
		var pts []string
		if f.Action.HasRole && (f.Action.Kind == ActKill || f.Action.Kind == ActPause) {
			roles = append(roles, f.Action.Role)
		}
		conj := []*Expr{f.When}
		if f.When != nil && f.When.Op == ExprAnd {
			conj = f.When.Args
		}
		for _, e := range conj {
			if e == nil || e.Op != ExprAtom {
				continue
			}
			switch e.Atom.Kind {
			case AtomRole:
				roles = append(roles, e.Atom.Role)
			case AtomPoint:
				pts = append(pts, e.Atom.Name)
			}
		}
		for _, pt := range pts {
			rs, known := reach[pt]
			if !known {
				continue
			}
			for _, r := range roles {
				if !rs.Has(r) {
					out = append(out, fmt.Sprintf("fault %d: %s never reaches %s", i+1, r, pt))
				}
			}
		}
	}
	return out
}

// PointNames lists, in order of appearance, every injection point a plan's
// triggers name (anywhere in an expression, under not and or as well), so
// that a caller that knows the engine's points can reject a plan naming one
// that does not exist: such a fault would never fire, and the run would
// pass without testing what its author meant.
func (p Plan) PointNames() []string {
	var out []string
	for _, f := range p.Faults {
		out = appendAtomNames(out, f.When, AtomPoint, 1)
	}
	return out
}

// LockNames lists, in order of appearance, every lock tranche a plan's
// triggers name (lock=NAME, anywhere in an expression), so that a caller
// that knows the engine's locks can reject a name no lock has.
func (p Plan) LockNames() []string {
	var out []string
	for _, f := range p.Faults {
		out = appendAtomNames(out, f.When, AtomLock, 1)
	}
	return out
}
