package world

// The fault plan's runner: it shows a fault.Plan every scheduler step,
// injection point, disk operation and timer of a run, and carries out what
// fires. The plan itself is data (package fault); this file decides what
// each action does to the simulated node:
//
//   - crash: power loss of the node, right at the event (the run stops; the
//     disk then keeps what the action's crash mode, or the run's, keeps).
//   - kill: the server process dies abnormally (SIGKILL); the postmaster
//     reaps it and crash-restarts: every other server process is
//     terminated, client connections end, the OS and its page cache
//     survive, recovery runs, connections are accepted again, and the
//     workload goes on. The target is chosen by the trigger: a kill with
//     proc= or role= fires only on that process's events. Clients are not
//     server processes and are never killed; killing the postmaster (or a
//     process in a run without one) crash-restarts the node from the
//     harness.
//   - pause: the process that raised the event sleeps for the duration (a
//     pause with proc= or role= fires only on that process's events).
//   - latency: the disk operation costs that much more virtual time.
//   - clock-skew: a sleep or timed wait lasts up to max longer or shorter
//     (never negative).
//   - the disk faults (fsync-eio, write-eio, read-eio, enospc, torn-write,
//     lost-write, misdirected-write, bitflip): the operation misbehaves as
//     disk_faults.go describes, which also states what the engine must
//     survive and what it must only detect.
//
// The runner draws its randomness (prob=, torn sectors, flipped bits, skew)
// from its own stream of the run's seed, so a plan never changes the
// scheduler's or the workload's draws except through its effects.

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// maxFaultLog bounds the applied-fault log a Result keeps.
const maxFaultLog = 32

// PlanRunner runs one plan on one node (NewPlanRunner, Install). The
// harness reads what happened from its exported fields after the run and
// clears Stopped to let the plan go on after a crash-restart; only the
// runner writes them otherwise.
type PlanRunner struct {
	// OnPromote carries out a promote action (a failover); nil: the run
	// has none to carry out, and the action does nothing.
	OnPromote func()
	// Spare is a harness process the plan's kills pass over (nil: none):
	// the failover's, which carries out the plan's promote and must not
	// die half-way through a failover as a server process may.
	Spare env.Proc

	node *Node
	plan fault.Plan
	st   *fault.State
	rng  *Rand

	diskRng *Rand // the disk's draws for torn sectors and flipped bits

	// Hits counts injection-point hits since the plan was installed, so
	// that point=P#K means the K-th hit of the phase the plan runs in.
	Hits map[string]uint64
	// Roles says, per injection point, which roles reached it while the
	// plan was installed: where a plan can aim a role at a point.
	Roles map[string]env.RoleSet
	// LockHits counts LWLock acquisitions (env.PointLWLockAcquire's
	// hits) and LockRoles says which roles took each tranche, both only
	// while a plan that names the point is installed (lockpoint.go).
	LockHits  uint64
	LockRoles map[string]env.RoleSet
	// pausedFor is, per process id, how long the plan's pauses held it
	// in all (PausedFor).
	pausedFor map[int]time.Duration
	// pending is, per process id, the disk fault decided in the
	// (yielding) disk hook for the operation that process is doing,
	// applied by the (non-yielding) fault hook.
	pending map[int]DiskFault

	// What happened.
	StopAction fault.Action // the crash or kill that stopped the run
	Stopped    bool         // a crash or kill stopped the run (StopAction)
	Described  []string     // first maxFaultLog faults applied, readable
	NApplied   int          // faults applied
	kills      int          // server processes killed (each a crash-restart)
	Stalls     int          // pauses, latencies and clock skews applied
	// StallsUntil is when the last stall applied stops holding anything
	// up: a pause's or a latency's end, and for a clock skew, which
	// moves a process's timers for the rest of the run, forever
	// (math.MaxInt64). Zero when nothing stalled.
	StallsUntil time.Duration
	CrashedAt   []string       // the injection points crashes fired at, in order
	destroyed   map[string]int // destructive faults applied, by "kind on class"
	ev          fault.Event

	// Fires counts, per fault of the plan, how often it was carried out;
	// Log holds the first maxFaultLog as typed records.
	Fires []int
	Log   []fault.Applied

	// fired collects what one Eval fired; the actions run after Eval
	// returns, because a pause blocks and other processes then evaluate
	// the plan themselves.
	fired []firedFault
	// touched lists the points whose counts the runner keeps in their
	// records (point), in the order first hit.
	touched []*pointHits
}

type firedFault struct {
	i int
	a fault.Action
}

// eval evaluates the plan on ev and returns what fired, in plan order. The
// result is valid until the next eval.
func (r *PlanRunner) eval(ev *fault.Event) []firedFault {
	r.fired = r.fired[:0]
	r.st.Eval(ev, r.collect)
	return r.fired
}

func (r *PlanRunner) collect(i int, a fault.Action) { r.fired = append(r.fired, firedFault{i, a}) }

// actAll carries out the process and node actions of fired, on a copy of
// the event (a pause lets other processes reuse the runner's buffers).
func (r *PlanRunner) actAll(fired []firedFault, ev *fault.Event) {
	if len(fired) == 0 {
		return
	}
	evc := *ev
	fs := append([]firedFault(nil), fired...)
	for _, f := range fs {
		r.act(f.i, f.a, &evc)
	}
}

// NewPlanRunner makes plan's runner for node (Install starts it). Kill and
// pause with a target get
// the target folded into their trigger, so that they fire on the target's
// own events (and nth= counts only those).
func NewPlanRunner(node *Node, plan fault.Plan, rng *Rand) *PlanRunner {
	eval := fault.Plan{Faults: make([]fault.Fault, len(plan.Faults))}
	for i, f := range plan.Faults {
		g := f
		a := f.Action
		if a.Kind == fault.ActKill || a.Kind == fault.ActPause {
			var target *fault.Expr
			switch {
			case a.Proc != "":
				target = fault.AtomExpr(fault.Atom{Kind: fault.AtomProc, Name: a.Proc})
			case a.HasRole:
				target = fault.AtomExpr(fault.Atom{Kind: fault.AtomRole, Role: a.Role})
			}
			if target != nil {
				if g.When == nil {
					g.When = target
				} else {
					g.When = fault.And(target, g.When)
				}
			}
		}
		eval.Faults[i] = g
	}
	r := &PlanRunner{
		node:      node,
		plan:      plan,
		st:        fault.NewState(eval, rng.Fork(1)),
		rng:       rng.Fork(2),
		pending:   map[int]DiskFault{},
		Hits:      map[string]uint64{},
		Roles:     map[string]env.RoleSet{},
		destroyed: map[string]int{},
		diskRng:   rng.Fork(3),
		Fires:     make([]int, len(plan.Faults)),
	}
	return r
}

// Install starts the plan: from now on it sees every event.
func (r *PlanRunner) Install() {
	r.node.Sim.faults = r
	r.node.Sim.lockPoints = namesLockPoint(r.plan)
	r.node.faults = r
	r.node.Disk.SetFaultHook(r.diskFault, r.diskRng)
}

// Destructive lists the destructive faults applied, sorted, with counts.
func (r *PlanRunner) Destructive() []string {
	out := make([]string, 0, len(r.destroyed))
	for k, n := range r.destroyed {
		out = append(out, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(out)
	return out
}

// Uninstall detaches the runner (the checks run fault-free).
func (r *PlanRunner) Uninstall() {
	r.syncPoints()
	r.node.Sim.faults = nil
	r.node.Sim.lockPoints = false
	r.node.faults = nil
	r.node.Disk.SetFaultHook(nil, nil)
}

// fileClass is what the file at path holds (Node.fileClass).
func (r *PlanRunner) fileClass(path string) fault.FileClass { return r.node.fileClass(path) }

var diskOpToFault = [diskOpKinds]fault.OpKind{
	OpOpen: fault.OpOpen, OpRead: fault.OpRead, OpWrite: fault.OpWrite, OpSync: fault.OpSync,
	OpTruncate: fault.OpTruncate, OpSize: fault.OpOther, OpClose: fault.OpOther, OpRemove: fault.OpRemove,
	OpRename: fault.OpRename, OpList: fault.OpOther, OpMkdir: fault.OpOther, OpSyncDir: fault.OpSyncDir,
}

// event fills the reusable event with what every kind has.
func (r *PlanRunner) event(kind fault.EventKind) *fault.Event {
	s := r.node.Sim
	r.ev = fault.Event{Kind: kind, Time: s.now, Step: s.steps}
	if p := s.cur; p != nil {
		r.ev.Proc = p.name
		r.ev.Role = p.role
	}
	return &r.ev
}

func (r *PlanRunner) note(i int, a fault.Action, ev *fault.Event) {
	r.NApplied++
	r.Fires[i]++
	if len(r.Log) < maxFaultLog {
		rec := fault.Applied{Fault: i, Action: a.Kind, Event: ev.Kind, Time: ev.Time, Proc: ev.Proc, Role: ev.Role}
		switch ev.Kind {
		case fault.EventPoint:
			rec.Point, rec.Hit, rec.Lock = ev.Point, ev.Hit, ev.Lock
		case fault.EventDisk:
			rec.File = ev.File
		}
		r.Log = append(r.Log, rec)
	}
	// The fault applied, in the process it fired in (its target): its
	// number, its action's kind, the file class a disk fault hit, and
	// the description for a reader. The strings are concatenated, not
	// formatted: a plan's latencies are noted thousands of times a
	// campaign second.
	s := r.node.Sim
	desc := "(" + a.String() + ") on " + describeEvent(ev)
	fe := env.Event{Kind: env.EvFault, Node: r.node.Name, A: int64(i + 1), B: int64(a.Kind), Name: desc}
	if ev.Kind == fault.EventDisk {
		fe.Class = ev.File
	}
	s.event(s.cur, &fe)
	if len(r.Described) < maxFaultLog {
		r.Described = append(r.Described, s.now.String()+" "+ev.Proc+": fault "+strconv.Itoa(i+1)+" "+desc)
	}
	switch a.Kind {
	case fault.ActTornWrite, fault.ActLostWrite, fault.ActMisdirectedWrite, fault.ActBitFlip:
		r.destroyed[fmt.Sprintf("%s on %s", a.Kind, ev.File)]++
	case fault.ActPause, fault.ActLatency:
		r.Stalls++
		r.StallsUntil = max(r.StallsUntil, s.now+a.For)
	case fault.ActClockSkew:
		r.Stalls++
		r.StallsUntil = math.MaxInt64
	}
}

func describeEvent(ev *fault.Event) string {
	switch ev.Kind {
	case fault.EventPoint:
		if ev.Lock != "" {
			return "point " + ev.Point + "#" + strconv.FormatUint(ev.Hit, 10) + " lock=" + ev.Lock
		}
		return "point " + ev.Point + "#" + strconv.FormatUint(ev.Hit, 10)
	case fault.EventDisk:
		return ev.Op.String() + " " + ev.Path + " (" + ev.File.String() + ")"
	case fault.EventTimer:
		return "a timer"
	}
	return fmt.Sprintf("step %d", ev.Step)
}

// act carries out a process or node action. A crash or kill stops the run:
// the calling process is parked and only KillAll unwinds it.
func (r *PlanRunner) act(i int, a fault.Action, ev *fault.Event) {
	switch a.Kind {
	case fault.ActKill:
		s := r.node.Sim
		cur := s.cur
		switch {
		case cur == nil || r.Stopped || cur.role == env.RoleClient || (r.Spare != nil && env.Proc(cur) == r.Spare):
			// Clients are not server processes; nothing to kill.
		case r.node.Postmaster && cur.role != env.RolePostmaster:
			// SIGKILL of one server process: its parent, the
			// postmaster, reaps it and crash-restarts.
			r.note(i, a, ev)
			r.kills++
			s.Kill(cur)
		default:
			// No postmaster to restart it (or the postmaster itself):
			// the harness crash-restarts the node.
			r.note(i, a, ev)
			r.Stopped, r.StopAction = true, a
			s.stopForFault(fmt.Sprintf("fault %d: %s on %s", i+1, a, describeEvent(ev)))
		}
	case fault.ActCrash:
		if r.Stopped {
			return
		}
		r.note(i, a, ev)
		r.Stopped, r.StopAction = true, a
		if ev.Kind == fault.EventPoint {
			r.CrashedAt = append(r.CrashedAt, ev.Point)
		}
		r.node.Sim.stopForFault(fmt.Sprintf("fault %d: %s on %s", i+1, a, describeEvent(ev)))
	case fault.ActPause:
		r.note(i, a, ev)
		r.notePause(a.For)
		r.node.Sim.pauseCurrent(a.For)
	case fault.ActPromote:
		// A failover: the harness's failover process carries it out
		// (simtest's failover.go); the event's process goes on.
		if r.Stopped || r.OnPromote == nil {
			return
		}
		r.note(i, a, ev)
		r.OnPromote()
	}
}

// step is the faultHooks step hook.
func (r *PlanRunner) step() {
	if !r.st.Listens(fault.EventStep) {
		return // nothing can fire: skip building the event
	}
	ev := r.event(fault.EventStep)
	r.actAll(r.eval(ev), ev)
}

// point is the faultHooks injection-point hook. The counts live in the
// point's own record while the runner is installed (touched lists them),
// and in Hits and Roles once it is uninstalled.
func (r *PlanRunner) point(h *pointHits) {
	name := h.name.s
	if h.plan != r {
		h.plan, h.planHits = r, r.Hits[name]
		h.planRoles, h.planProc = r.Roles[name]
		r.touched = append(r.touched, h)
	}
	h.planHits++
	if p := r.node.Sim.cur; p != nil {
		h.planRoles, h.planProc = h.planRoles.Add(p.role), true
	}
	if !r.st.Listens(fault.EventPoint) {
		return
	}
	ev := r.event(fault.EventPoint)
	ev.Point, ev.Hit = name, h.planHits
	r.actAll(r.eval(ev), ev)
}

// syncPoints writes the touched points' counts into Hits, and their roles
// into Roles for those a process reached.
func (r *PlanRunner) syncPoints() {
	for _, h := range r.touched {
		name := h.name.s
		r.Hits[name] = h.planHits
		if h.planProc {
			r.Roles[name] = h.planRoles
		}
	}
}

// timer is the faultHooks timer hook: clock skew.
func (r *PlanRunner) timer(d time.Duration) time.Duration {
	if !r.st.Listens(fault.EventTimer) {
		return d
	}
	ev := r.event(fault.EventTimer)
	for _, f := range r.eval(ev) {
		if f.a.Kind != fault.ActClockSkew || f.a.Max <= 0 {
			continue
		}
		r.note(f.i, f.a, ev)
		skew := time.Duration(r.rng.Intn(int(2*f.a.Max)+1)) - f.a.Max
		d = max(d+skew, 0)
	}
	return d
}

// disk is called by the node's disk hook for every operation, in the
// process doing it, after its latency: it may add latency, pause, crash,
// or decide a disk fault for diskFault to apply.
func (r *PlanRunner) disk(op DiskOp) {
	s := r.node.Sim
	p := s.cur
	if p == nil || !r.st.Listens(fault.EventDisk) {
		return // with no fault for disk events, nothing is ever pending
	}
	delete(r.pending, p.id)
	ev := r.event(fault.EventDisk)
	if int(op.Kind) < len(diskOpToFault) {
		ev.Op = diskOpToFault[op.Kind]
	}
	ev.Path = op.Path
	ev.File = r.fileClass(op.Path)
	var extra time.Duration
	var flt DiskFault
	var procActs []firedFault
	for _, f := range r.eval(ev) {
		i, a := f.i, f.a
		switch a.Kind {
		case fault.ActCrash, fault.ActKill, fault.ActPause, fault.ActPromote:
			procActs = append(procActs, f)
			continue
		case fault.ActLatency:
			extra += a.For
		case fault.ActFsyncEIO:
			flt = DiskFault{Kind: FaultSyncEIO}
		case fault.ActWriteEIO, fault.ActReadEIO:
			flt = DiskFault{Kind: FaultEIO}
		case fault.ActENOSPC:
			flt = DiskFault{Kind: FaultENOSPC}
		case fault.ActTornWrite:
			flt = DiskFault{Kind: FaultTornWrite}
		case fault.ActLostWrite:
			flt = DiskFault{Kind: FaultLostWrite}
		case fault.ActMisdirectedWrite:
			flt = DiskFault{Kind: FaultMisdirectedWrite, By: a.By}
		case fault.ActBitFlip:
			flt = DiskFault{Kind: FaultBitFlip, Bits: a.Bits}
		default:
			continue
		}
		r.note(i, a, ev)
	}
	if flt.Kind != FaultNone {
		r.pending[p.id] = flt
	}
	r.actAll(procActs, ev)
	if extra > 0 {
		s.block(plainWait("disk i/o (added latency)"), extra)
	}
}

// diskFault is the disk's fault hook: the fault decided for this process's
// current operation, if any.
func (r *PlanRunner) diskFault(op DiskOp) DiskFault {
	p := r.node.Sim.cur
	if p == nil {
		return DiskFault{}
	}
	f, ok := r.pending[p.id]
	if !ok {
		return DiskFault{}
	}
	delete(r.pending, p.id)
	return f
}
