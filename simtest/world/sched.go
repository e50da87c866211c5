package world

import (
	"fmt"
	"iter"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// Sim is the deterministic scheduler and virtual clock of one simulated node.
//
// Every simulated process runs on a coroutine (iter.Pull), and exactly one of
// them runs at a time: control passes from one process to the next only
// inside env calls (the yield points), by the running process suspending
// itself and naming the next one, which the harness's goroutine resumes
// (drive). A coroutine switch is a few tens of nanoseconds on the same
// thread, where a channel handoff between goroutines costs several times
// that and may cross threads. Which
// runnable process goes next is a choice drawn from the seeded RNG, so the
// seed alone fixes the interleaving. When nothing is runnable, virtual time
// jumps to the earliest pending timer; when nothing is runnable and no timer
// is pending, the run stops with a deadlock report.
//
// The harness (the test or the run loop) drives the simulation from outside
// any process: Run hands control to the processes and returns when the run
// stops (a step or time limit — the crash point —, a requested stop, all
// processes finished, a deadlock, or a process panic). KillAll then unwinds
// every process goroutine, so nothing leaks across the thousands of runs a
// campaign makes in one OS process.
//
// Engine code must never recover() a panic it did not raise: kills and Exit
// unwind process stacks with sentinel panics.
type Sim struct {
	rng   *Rand
	now   time.Duration
	trace *Trace

	procs    []*proc // live processes in id order
	runnable []*proc // in the order they became runnable
	timers   timerHeap
	timerSeq uint64
	cur      *proc
	nextID   int

	steps      uint64
	stepLimit  uint64        // stop at this many yield points; 0 = none
	timeLimit  time.Duration // stop when virtual time would pass it; 0 = none
	switchProb float64
	stepCost   time.Duration

	running bool
	handTo  *proc // who runs when the running process suspends (nil: the harness)
	stop    Stop

	// injectHook, when set, is asked at every injection point whether the
	// run must stop there (the crash plan's "k-th hit of point P").
	injectHook func(point string) bool
	hits       map[string]*pointHits
	// mutexes is the rest of the chunk newSimMutex takes mutexes from.
	mutexes []simMutex

	// faults, when set, is the fault plan's runner (faults.go): asked at
	// every step, injection point and timer.
	faults faultHooks
	// lockPoints: the fault plan names env.PointLWLockAcquire, so every
	// LWLock acquisition is shown to it (lockpoint.go).
	lockPoints bool

	// panicKills makes a PANIC end only the panicking process (its parent,
	// the postmaster, reaps it and crash-restarts) instead of the run.
	panicKills bool
	// panicPending: under panicKills, a process PANICked and no process
	// has reaped its abnormal exit yet (the postmaster has not begun its
	// crash-restart).
	panicPending bool
	killingAll   bool // inside KillAll

	reuse bool      // ended processes' goroutines wait for new ones
	idle  []*worker // such goroutines, waiting

	pct *pctState // the PCT scheduler (pct.go); nil: random switches
}

// SetPanicKillsProcess chooses what a PANIC does: end the run (false, the
// default: the harness crash-restarts) or end only the process, which its
// parent reaps as an abnormal exit (true: the postmaster crash-restarts).
func (s *Sim) SetPanicKillsProcess(on bool) { s.panicKills, s.panicPending = on, false }

// faultHooks is how a running fault plan sees the scheduler's events. The
// hooks run in the current process and may block it (a pause) or stop the
// run (Sim.stopForFault).
type faultHooks interface {
	step()
	point(h *pointHits)
	timer(d time.Duration) time.Duration
	lock(tranche string, grants *uint64)
}

// SchedConfig is how a Sim interleaves processes.
type SchedConfig struct {
	// SwitchProb is the chance, at each yield point, that the scheduler
	// picks a (possibly different) runnable process to continue.
	SwitchProb float64
	// StepCost is the virtual CPU time charged per yield point.
	StepCost time.Duration
	// PCTDepth, when not 0, schedules by PCT of that depth d (pct.go)
	// instead of SwitchProb, with priorities and change points drawn
	// from a stream seeded by PCTSeed.
	PCTDepth int
	PCTSeed  uint64
}

// DefaultSchedConfig is used when a run does not randomise the scheduler.
var DefaultSchedConfig = SchedConfig{SwitchProb: 0.2, StepCost: time.Microsecond}

// StopKind says why Run returned.
type StopKind int

const (
	StopAllDone   StopKind = iota // every process finished
	StopRequested                 // a process called Sim.RequestStop
	StopStepLimit                 // the step limit (crash point) was reached
	StopTimeLimit                 // virtual time reached the limit
	StopInject                    // the inject hook asked to stop at a point
	StopDeadlock                  // processes remain, none runnable, no timer
	StopPanic                     // a process died abnormally
	StopFault                     // the fault plan crashed the node or killed a process
)

var stopNames = [...]string{"all-done", "requested", "step-limit", "time-limit", "inject", "deadlock", "panic", "fault"}

func (k StopKind) String() string { return stopNames[k] }

// Stop describes why a Run returned.
type Stop struct {
	Kind   StopKind
	Detail string // deadlock report, requested reason, panic message, point
	Proc   string // the process that panicked or stopped the run
	Value  any    // the panic value, for StopPanic
	Stack  string // the panicking goroutine's stack, for StopPanic
}

func (s Stop) String() string {
	if s.Detail == "" {
		return s.Kind.String()
	}
	return s.Kind.String() + ": " + s.Detail
}

type procState uint8

const (
	stRunnable procState = iota
	stBlocked
	stDone
)

type proc struct {
	s     *Sim
	id    int
	name  string
	nameH uint64 // hashString(name)
	fn    func()
	// resume runs the process until it suspends or ends; yield, called
	// by the process, suspends it. Both belong to the worker running it.
	resume    func() (struct{}, bool)
	yield     func(struct{}) bool
	state     procState
	killed    bool
	waitGen   uint64    // bumped at every block; timers carry it
	waitOn    waitOn    // what a blocked process waits for (deadlock reports)
	cond      *simCond  // the condition a wait is queued on
	mutexWait *simMutex // the mutex a Lock is queued on
	timedOut  bool

	parent     *proc      // the process that spawned it (nil: the harness)
	exits      []env.Exit // ended children not yet reaped
	killReason string     // why it dies, once killed inside a run

	role env.Role // what the process is, from its spawn (SpawnAs)
	prio int64    // its PCT priority (pct.go)
}

func (p *proc) ID() int      { return p.id }
func (p *proc) Name() string { return p.name }

// Role is what the process is, from its spawn (env.RoleProc).
func (p *proc) Role() env.Role { return p.role }

// waitOn is what a blocked process waits for: a plain reason, or a mutex
// (and who held it) or a condition variable. The string is built only for
// a deadlock report or a readable trace.
type waitOn struct {
	kind  waitKind
	what  traceName // the reason, or the mutex's or condition's name
	owner *proc     // waitMutex: the holder when the wait began
}

type waitKind uint8

const (
	waitPlain waitKind = iota
	waitMutex
	waitCond
)

func plainWait(what string) waitOn { return waitOn{what: newTraceName(what)} }

func (w waitOn) String() string {
	switch w.kind {
	case waitMutex:
		return "mutex " + w.what.s + " held by " + w.owner.name
	case waitCond:
		return "cond " + w.what.s
	}
	return w.what.s
}

// hash is the digest of String(), taken from the parts' digests.
func (w waitOn) hash() uint64 {
	switch w.kind {
	case waitMutex:
		return mix(mix(mix(fnvOffset, uint64(waitMutex)), w.what.h), w.owner.nameH)
	case waitCond:
		return mix(mix(fnvOffset, uint64(waitCond)), w.what.h)
	}
	return w.what.h
}

// traceName is the wait as a trace string (formatted only for a readable
// trace).
func (w waitOn) traceName(t *Trace) traceName {
	n := traceName{h: w.hash()}
	if t.out != nil {
		n.s = w.String()
	}
	return n
}

// waitSleep is a sleeping process's wait.
var waitSleep = newTraceName("sleep")

type killSignal struct{}
type exitSignal struct{}

// NewSim makes a scheduler whose choices come from rng and whose events feed
// trace.
func NewSim(rng *Rand, trace *Trace, cfg SchedConfig) *Sim {
	if cfg.SwitchProb < 0 || cfg.SwitchProb > 1 {
		panic("simtest: SwitchProb outside [0,1]")
	}
	s := &Sim{
		rng:        rng,
		trace:      trace,
		switchProb: cfg.SwitchProb,
		stepCost:   cfg.StepCost,
		hits:       make(map[string]*pointHits),
	}
	if cfg.PCTDepth != 0 {
		s.pct = newPCT(cfg.PCTDepth, cfg.PCTSeed)
	}
	return s
}

// Now is the virtual time.
func (s *Sim) Now() time.Duration { return s.now }

// LastID is the highest process ID given out so far (ResumeAt's lastID).
func (s *Sim) LastID() int { return s.nextID }

// Steps is the number of yield points passed so far.
func (s *Sim) Steps() uint64 { return s.steps }

// ResumeAt starts a fresh simulation where another one ended: at virtual
// time now, after steps yield points, with process IDs above lastID. The
// run then continues from a copy of that simulation's disk (an initdb
// image) as if it had run those steps itself.
func (s *Sim) ResumeAt(now time.Duration, steps uint64, lastID int) {
	if s.now != 0 || s.steps != 0 || s.nextID != 0 || len(s.procs) != 0 || s.running {
		panic("simtest: ResumeAt on a simulation that has already run")
	}
	s.now, s.steps, s.nextID = now, steps, lastID
}

// SetStepLimit makes Run stop when the step count reaches n (0: no limit).
func (s *Sim) SetStepLimit(n uint64) { s.stepLimit = n }

// SetTimeLimit makes Run stop before virtual time passes t (0: no limit).
func (s *Sim) SetTimeLimit(t time.Duration) { s.timeLimit = t }

// SetInjectHook installs the function asked at every injection point.
func (s *Sim) SetInjectHook(h func(point string) bool) { s.injectHook = h }

// Hits returns how often each injection point was reached, sorted by name.
func (s *Sim) Hits() []PointHits {
	out := make([]PointHits, 0, len(s.hits))
	for name, h := range s.hits {
		out = append(out, PointHits{Point: name, Hits: h.n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Point < out[j].Point })
	return out
}

// pointHits is an injection point's name as the trace hashes it, and its
// hits: one map lookup per injection instead of a string hash and two.
type pointHits struct {
	name traceName
	n    uint64
	// plan is the plan runner that counts this point's hits in
	// planHits and planRoles (PlanRunner.point), sparing it two map
	// lookups per hit.
	plan      *PlanRunner
	planHits  uint64
	planRoles env.RoleSet
	planProc  bool // a process (not the harness) reached it
}

// PointHits is one injection point's hit count.
type PointHits struct {
	Point string
	Hits  uint64
}

// Live is the number of processes that have not finished.
func (s *Sim) Live() int { return len(s.procs) }

// Spawn creates a runnable process. It may be called by the harness or by a
// running process.
func (s *Sim) Spawn(name string, fn func()) env.Proc { return s.SpawnAs(env.RoleOther, name, fn) }

// SpawnAs is Spawn of a process of the given role (env.RoleSpawner): the
// engine says what it spawns, and fault plans aim at the role.
func (s *Sim) SpawnAs(role env.Role, name string, fn func()) env.Proc {
	s.checkAlive()
	if role >= env.NumRoles {
		panic("simtest: spawning a process with an invalid role")
	}
	s.nextID++
	p := &proc{s: s, id: s.nextID, name: name, nameH: hashString(name), fn: fn, parent: s.cur, role: role}
	if s.pct != nil {
		p.prio = s.pct.prio()
	}
	s.procs = append(s.procs, p)
	s.runnable = append(s.runnable, p)
	s.event(s.cur, &env.Event{Kind: env.EvSpawn, A: int64(p.id), Role2: role, Name: name, NameHash: p.nameH})
	var w *worker
	if n := len(s.idle); n > 0 {
		w = s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
	} else if s.reuse {
		w = getWorker()
	}
	if w == nil {
		w = newWorker()
	}
	w.s, w.p = s, p
	p.resume = w.resume
	return p
}

// worker is a coroutine that runs processes: one, or, with reuse, one
// after another, and across runs (a new coroutine's stack starts small and
// grows by copying as the engine's calls deepen, which a reused one has
// already done: stack growth was a twentieth of a run).
type worker struct {
	resume func() (struct{}, bool)
	stop   func()
	s      *Sim  // the simulation of the process below
	p      *proc // the process to run when next resumed
}

func newWorker() *worker {
	w := &worker{}
	w.resume, w.stop = iter.Pull(w.work)
	return w
}

func (w *worker) work(yield func(struct{}) bool) {
	for {
		s, p := w.s, w.p
		w.p = nil
		p.yield = yield
		s.procMain(p)
		if !s.reuse {
			return // control goes where finish said (s.handTo)
		}
		s.idle = append(s.idle, w)
		if !yield(struct{}{}) || w.p == nil {
			return // reuse ended
		}
	}
}

// ReuseGoroutines makes ended processes' coroutines run later processes
// (on) or, from now on, end (off: idle ones go back to the pool). A run
// turns it on for its length and off before it returns, so no coroutine
// outlives it other than idle in the pool. It must be called from outside
// the simulation.
func (s *Sim) ReuseGoroutines(on bool) {
	s.reuse = on
	if !on {
		for i, w := range s.idle {
			putWorker(w)
			s.idle[i] = nil
		}
		s.idle = s.idle[:0]
	}
}

// procMain runs a process: fn, and on the way out (return, Exit, kill or
// panic) it decides who runs next (finish).
func (s *Sim) procMain(p *proc) {
	defer func() { s.finish(p, recover()) }()
	if p.killed {
		panic(killSignal{}) // killed before its first turn
	}
	p.fn()
}

// suspend is how the running process p gives up control: to q, or to the
// harness when q is nil. It returns when p is resumed, unless p was killed
// meanwhile.
func (s *Sim) suspend(p, q *proc) {
	s.handTo = q
	p.yield(struct{}{})
	if p.killed {
		panic(killSignal{})
	}
}

// drive runs processes, starting with q, until one hands control to the
// harness. Only the harness calls it.
func (s *Sim) drive(q *proc) {
	for q != nil {
		s.handTo = nil // a process that ends without a word returns control
		q.resume()
		q = s.handTo
	}
}

// checkAlive raises the kill again when a killed process's deferred calls
// reach the env: a dead process must not touch the disk or shared state.
func (s *Sim) checkAlive() {
	if s.running && s.cur != nil && s.cur.killed {
		panic(killSignal{})
	}
}

func (s *Sim) finish(p *proc, r any) {
	if p.killed && s.killingAll {
		// Whatever a killed process's deferred calls raised, it is dead:
		// acknowledge the kill, and leave the process list to KillAll.
		s.handTo = nil
		return
	}
	s.removeProc(p)
	p.state = stDone
	if p.killed {
		// Killed inside the run (Kill, or a PANIC under panicKills):
		// whatever its deferred calls raised, it is dead. Its parent reaps
		// an abnormal exit; the run goes on.
		s.event(p, &env.Event{Kind: env.EvKilled, Name: p.killReason})
		s.recordExit(p, env.Exit{Proc: p, Abnormal: true, Reason: p.killReason})
		s.handOff()
		return
	}
	if _, exited := r.(exitSignal); r != nil && !exited && s.panicPending {
		// A process fails (an engine assertion) after another one's
		// PANIC, before the postmaster has reaped it: the server is
		// going down, and PostgreSQL's postmaster would SIGQUIT this
		// process (quickdie) whatever it was doing. What it met may be
		// the PANIC's cause (an fsync EIO drops the kernel's dirty
		// pages, so a page read now goes back in time), so it dies as
		// a killed process does, and the crash-restart goes on.
		p.killed, p.killReason = true, fmt.Sprintf("failed after a PANIC, before the crash-restart: %v", r)
		s.event(p, &env.Event{Kind: env.EvKilled, Name: p.killReason})
		s.recordExit(p, env.Exit{Proc: p, Abnormal: true, Reason: p.killReason})
		s.handOff()
		return
	}
	if r != nil {
		if _, ok := r.(exitSignal); !ok {
			s.event(p, &env.Event{Kind: env.EvPanic, Name: fmt.Sprint(r)})
			s.stop = Stop{Kind: StopPanic, Proc: p.name, Value: r, Detail: fmt.Sprintf("%s: %v", p.name, r), Stack: string(debug.Stack())}
			s.cur = nil
			s.handTo = nil
			return
		}
	}
	s.event(p, &env.Event{Kind: env.EvExit})
	s.recordExit(p, env.Exit{Proc: p})
	s.handOff()
}

// handOff passes control from a process that ended to the next one.
func (s *Sim) handOff() {
	next := s.pickNext()
	s.cur = next
	s.handTo = next // nil: the harness
}

// recordExit queues p's end for its parent's Reap.
func (s *Sim) recordExit(p *proc, e env.Exit) {
	if p.parent != nil && p.parent.state != stDone {
		p.parent.exits = append(p.parent.exits, e)
		if q := p.parent; e.Abnormal && q.state == stBlocked && q.waitOn == waitNetAccept {
			// An abnormal exit wakes a parent waiting in accept, as
			// SIGCHLD wakes PostgreSQL's postmaster in ServerLoop
			// (process_pm_child_exit; reaper before PostgreSQL 16),
			// which then runs HandleChildCrash and SIGQUITs every other
			// child at once. Waiting out the accept timeout instead
			// would let backends run on after a PANIC: after an fsync
			// EIO that dropped the kernel's dirty pages, they would read
			// pages gone back in time, and WAL-log changes made to them.
			// A normal exit is reaped at the next timeout, as before.
			s.makeRunnable(q)
		}
	}
}

// abnormalExitPending reports whether a child of p died abnormally and p
// has not reaped it yet (a pending SIGCHLD that interrupts a wait).
func (p *proc) abnormalExitPending() bool {
	for _, x := range p.exits {
		if x.Abnormal {
			return true
		}
	}
	return false
}

// Kill is env.Scheduler.Kill: q dies at once if it is the caller,
// otherwise the next time it is scheduled, which is made to happen: it is
// taken off whatever it waits on.
func (s *Sim) Kill(q env.Proc) {
	p, ok := q.(*proc)
	if !ok || p.s != s || p.state == stDone || p.killed {
		return
	}
	s.checkAlive()
	p.killed = true
	p.killReason = "killed"
	if s.cur != nil {
		p.killReason = "killed by " + s.cur.name
	}
	if p == s.cur {
		panic(killSignal{})
	}
	if p.state == stBlocked {
		if p.cond != nil {
			p.cond.remove(p)
			p.cond = nil
		}
		if m := p.mutexWait; m != nil {
			m.removeWaiter(p)
			p.mutexWait = nil
		}
		s.makeRunnable(p)
	}
}

// Reap is env.Scheduler.Reap.
func (s *Sim) Reap() []env.Exit {
	s.checkAlive()
	p := s.cur
	if p == nil {
		return nil
	}
	out := p.exits
	p.exits = nil
	for _, x := range out {
		if x.Abnormal {
			s.panicPending = false // the reaper knows: the crash-restart begins
		}
	}
	return out
}

func (s *Sim) removeProc(p *proc) {
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
	s.removeRunnable(p)
}

func (s *Sim) removeRunnable(p *proc) {
	for i, q := range s.runnable {
		if q == p {
			s.runnable = append(s.runnable[:i], s.runnable[i+1:]...)
			return
		}
	}
}

// Run hands control to the simulated processes until the run stops. It must
// be called from outside any process.
func (s *Sim) Run() Stop {
	if s.running {
		panic("simtest: Run called from inside the simulation")
	}
	s.stop = Stop{}
	next := s.pickNext()
	if next == nil {
		return s.stop
	}
	s.running = true
	s.cur = next
	s.drive(next)
	s.running = false
	s.cur = nil
	return s.stop
}

// KillAll unwinds every live process, in id order, without running any more
// of their env calls. Afterwards the Sim has no processes; shared state they
// held (locks, buffers) is garbage, as after a real crash.
func (s *Sim) KillAll() {
	if s.running {
		panic("simtest: KillAll called from inside the simulation")
	}
	s.running = true
	s.killingAll = true
	defer func() { s.killingAll = false }()
	procs := append([]*proc(nil), s.procs...)
	for _, p := range procs {
		p.killed = true
		s.cur = p
		s.drive(p)
		p.state = stDone
		s.event(p, &env.Event{Kind: env.EvKilled, Name: p.name, NameHash: p.nameH})
	}
	s.running = false
	s.cur = nil
	s.procs = s.procs[:0]
	s.runnable = s.runnable[:0]
	s.timers = s.timers[:0]
}

// Crash is env.Crasher: a PANIC ends the calling process on the spot, as
// abort() does, with no deferred cleanup and no other process running in
// between. The run stops with StopPanic; the process stays parked until
// KillAll unwinds it (its deferred env calls then raise the kill again and
// do nothing).
func (s *Sim) Crash(err *env.PanicError) {
	p := s.cur
	if !s.running || p == nil {
		panic(err)
	}
	if s.panicKills {
		s.event(p, &env.Event{Kind: env.EvPanic, Name: err.Msg})
		s.panicPending = true
		p.killed = true
		p.killReason = err.Error()
		panic(killSignal{})
	}
	s.event(p, &env.Event{Kind: env.EvPanic, Name: err.Msg})
	s.stop = Stop{Kind: StopPanic, Proc: p.name, Value: err, Detail: fmt.Sprintf("%s: %v", p.name, err), Stack: string(debug.Stack())}
	p.state = stBlocked
	p.waitOn = plainWait("death (PANIC)")
	s.removeRunnable(p)
	s.cur = nil
	s.suspend(p, nil) // only a kill resumes it
	panic("simtest: a crashed process was resumed")
}

// stopForFault, called in a running process by the fault plan's runner,
// ends the current Run with StopFault: the node crashes, or a process dies,
// right here. The caller stays parked until KillAll.
func (s *Sim) stopForFault(detail string) {
	p := s.cur
	s.stop = Stop{Kind: StopFault, Detail: detail, Proc: p.name}
	s.event(p, &env.Event{Kind: env.EvFaultStop, Name: detail})
	s.suspend(p, nil)
}

// pauseCurrent blocks the running process for d of virtual time (a fault
// plan's pause).
func (s *Sim) pauseCurrent(d time.Duration) { s.block(plainWait("paused by the fault plan"), d) }

// RequestStop, called by a running process, ends the current Run with
// StopRequested. The caller stays runnable and continues on a later Run.
func (s *Sim) RequestStop(reason string) {
	s.checkAlive()
	p := s.cur
	s.stop = Stop{Kind: StopRequested, Detail: reason, Proc: p.name}
	s.event(p, &env.Event{Kind: env.EvStop, Name: reason})
	s.suspend(p, nil)
}

// yieldPoint is called at the start of every env call that is a scheduling
// point. It hashes the event, charges CPU time, fires due timers, stops the
// run at the step limit and, with probability switchProb, lets a seeded
// choice of runnable process continue.
func (s *Sim) yieldPoint(e *env.Event) { s.yieldPointE(0, e) }

// yieldPointE is yieldPoint with the event's digest d known (0: compute
// it).
func (s *Sim) yieldPointE(d uint64, e *env.Event) {
	if !s.running {
		return // the harness itself (setup, checks) is not scheduled
	}
	p := s.cur
	if p.killed {
		panic(killSignal{})
	}
	s.steps++
	s.now += s.stepCost
	e.Time, e.Pid, e.Role = s.now, p.id, p.role
	if d == 0 {
		d = eventDigest(e)
	}
	if s.trace.hashD(d, p.id) {
		s.trace.record(e)
	}
	if len(s.timers) > 0 && s.timers[0].when <= s.now {
		s.fireDue()
	}
	if s.stepLimit != 0 && s.steps >= s.stepLimit {
		s.stop = Stop{Kind: StopStepLimit, Detail: fmt.Sprintf("step %d", s.steps), Proc: p.name}
		s.suspend(p, nil)
		return
	}
	if s.timeLimit != 0 && s.now > s.timeLimit {
		s.stop = Stop{Kind: StopTimeLimit, Detail: fmt.Sprintf("virtual time %v", s.timeLimit), Proc: p.name}
		s.suspend(p, nil)
		return
	}
	if s.faults != nil {
		s.faults.step()
	}
	if s.pct != nil {
		s.pctYield(p)
		return
	}
	if len(s.runnable) > 1 && s.rng.Float64() < s.switchProb {
		q := s.runnable[s.rng.Intn(len(s.runnable))]
		if q != p {
			s.event(p, &env.Event{Kind: env.EvSwitch, A: int64(q.id)})
			s.cur = q
			s.suspend(p, q)
		}
	}
}

// block takes the current process off the run queue until another process
// makes it runnable or, when timeout >= 0, until the timeout expires.
func (s *Sim) block(what waitOn, timeout time.Duration) {
	p := s.cur
	if !s.running || p == nil {
		panic("simtest: blocking env call outside a simulated process: " + what.String())
	}
	p.state = stBlocked
	p.waitGen++
	p.waitOn = what
	s.removeRunnable(p)
	if timeout >= 0 {
		s.timerSeq++
		s.timers.push(timer{when: s.now + timeout, seq: s.timerSeq, p: p, gen: p.waitGen})
	}
	next := s.pickNext()
	if next == p {
		return
	}
	if next == nil {
		s.cur = nil
		s.suspend(p, nil)
		return
	}
	wn := what.traceName(s.trace)
	s.event(p, &env.Event{Kind: env.EvBlock, A: int64(next.id), Name: wn.s, NameHash: wn.h})
	s.cur = next
	s.suspend(p, next)
}

func (s *Sim) makeRunnable(p *proc) {
	if p.state != stBlocked {
		panic("simtest: waking a process that is not blocked: " + p.name)
	}
	p.state = stRunnable
	p.waitOn = waitOn{}
	s.runnable = append(s.runnable, p)
}

// fireDue makes runnable every process whose timer is due.
func (s *Sim) fireDue() {
	for len(s.timers) > 0 && s.timers[0].when <= s.now {
		t := s.timers.pop()
		p := t.p
		if t.stale() {
			continue // woken earlier
		}
		if p.cond != nil {
			p.cond.remove(p)
			p.cond = nil
			p.timedOut = true
		}
		s.makeRunnable(p)
	}
}

// pickNext chooses the next process to run, advancing virtual time to the
// earliest timer when nothing is runnable. It returns nil, with s.stop set,
// when the run must stop.
func (s *Sim) pickNext() *proc {
	for len(s.runnable) == 0 {
		if len(s.procs) == 0 {
			s.stop = Stop{Kind: StopAllDone}
			return nil
		}
		for len(s.timers) > 0 && s.timers[0].stale() {
			s.timers.pop()
		}
		if len(s.timers) == 0 {
			s.stop = Stop{Kind: StopDeadlock, Detail: s.deadlockReport()}
			return nil
		}
		when := s.timers[0].when
		if s.timeLimit != 0 && when > s.timeLimit {
			s.stop = Stop{Kind: StopTimeLimit, Detail: fmt.Sprintf("virtual time %v", s.timeLimit)}
			return nil
		}
		if when > s.now {
			s.now = when
		}
		s.fireDue()
	}
	if len(s.runnable) == 1 {
		return s.runnable[0]
	}
	if s.pct != nil {
		return s.pctBest()
	}
	return s.runnable[s.rng.Intn(len(s.runnable))]
}

func (s *Sim) deadlockReport() string {
	var b strings.Builder
	b.WriteString("no process runnable and no timer pending;")
	for _, p := range s.procs {
		fmt.Fprintf(&b, " [p%d %s waits on %s]", p.id, p.name, p.waitOn.String())
	}
	return b.String()
}

// Self is the running process (nil outside the simulation).
func (s *Sim) Self() env.Proc {
	if s.cur == nil {
		return nil
	}
	return s.cur
}

// Yield is an explicit scheduling point.
func (s *Sim) Yield() { s.yieldPoint(&env.Event{Kind: env.EvYield}) }

// Exit ends the calling process, running its deferred calls.
func (s *Sim) Exit() {
	s.checkAlive()
	panic(exitSignal{})
}

// Sleep blocks the calling process for d of virtual time.
func (s *Sim) Sleep(d time.Duration) {
	s.yieldPoint(&env.Event{Kind: env.EvSleep, A: int64(d)})
	if s.faults != nil && s.running && d > 0 {
		d = s.faults.timer(d)
	}
	if d <= 0 {
		return
	}
	s.block(waitOn{what: waitSleep}, d)
}

// Inject is a named injection point: hashed, counted, a scheduling point,
// and the place where the inject hook may stop the run (crash there).
func (s *Sim) Inject(point string) {
	h := s.hits[point]
	if h == nil {
		h = &pointHits{name: newTraceName(point)}
		s.hits[point] = h
	}
	s.yieldPoint(&env.Event{Kind: env.EvInject, Name: point, NameHash: h.name.h})
	if !s.running {
		if h.n == 0 {
			delete(s.hits, point) // reached only outside the simulation
		}
		return
	}
	h.n++
	if s.faults != nil {
		s.faults.point(h)
	}
	if s.injectHook != nil && s.injectHook(point) {
		p := s.cur
		s.stop = Stop{Kind: StopInject, Detail: point, Proc: p.name}
		s.suspend(p, nil)
	}
}

// Logf records a log line in the trace, tagged with time and process.
func (s *Sim) Logf(format string, args ...any) {
	s.event(s.cur, &env.Event{Kind: env.EvLog, Name: fmt.Sprintf(format, args...)})
}

// NewMutex makes a simulated LWLock with FIFO handoff.
func (s *Sim) NewMutex(name string) env.Mutex {
	return newSimMutex(s, name, false)
}

// NewSpinLock makes a mutex whose uncontended Lock and whose Unlock are not
// yield points (see env.Scheduler).
func (s *Sim) NewSpinLock(name string) env.Mutex {
	return newSimMutex(s, name, true)
}

// NewCond makes a simulated condition variable over m.
func (s *Sim) NewCond(name string, m env.Mutex) env.Cond {
	sm, ok := m.(*simMutex)
	if !ok || sm.s != s {
		panic("simtest: NewCond needs a mutex of the same Sim")
	}
	return &simCond{s: s, name: name, nameT: newTraceName(name), m: sm}
}

func newSimMutex(s *Sim, name string, spin bool) *simMutex {
	// A run makes a few hundred mutexes (every buffer's locks, in every
	// pool a crash-restart makes): they come a chunk at a time.
	if len(s.mutexes) == 0 {
		s.mutexes = make([]simMutex, mutexChunk)
	}
	m := &s.mutexes[0]
	s.mutexes = s.mutexes[1:]
	*m = simMutex{s: s, name: name, nameT: newTraceName(name), spin: spin}
	if !spin {
		m.tranche = env.LockTranche(name)
	}
	m.lockEv = env.Event{Kind: env.EvLock, Name: name, NameHash: m.nameT.h}
	m.unlockEv = env.Event{Kind: env.EvUnlock, Name: name, NameHash: m.nameT.h}
	m.lockE, m.unlockE = eventDigest(&m.lockEv), eventDigest(&m.unlockEv)
	return m
}

// mutexChunk is how many mutexes newSimMutex allocates at once.
const mutexChunk = 64

type simMutex struct {
	s     *Sim
	name  string
	nameT traceName
	// This mutex's lock and unlock events, made once (each use stamps
	// the time and process), and their digests (eventDigest): unlocks
	// are the commonest event of a run.
	lockEv, unlockEv env.Event
	lockE, unlockE   uint64
	spin             bool
	owner            *proc
	waiters          []*proc
	// tranche is the lock's tranche for env.PointLWLockAcquire ("" for
	// a spinlock and an LWLock's inner mutex); grants counts the
	// acquisitions granted.
	tranche string
	grants  uint64
}

func (m *simMutex) Lock() {
	s := m.s
	if m.spin && s.running && m.owner == nil {
		s.checkAlive()
		m.owner = s.cur
		return
	}
	s.yieldPointE(m.lockE, &m.lockEv)
	if s.lockPoints && m.tranche != "" && s.running {
		s.faults.lock(m.tranche, &m.grants)
	}
	p := s.cur
	if m.owner == nil {
		m.owner = p
		m.grants++
		return
	}
	if m.owner == p {
		panic("simtest: mutex " + m.name + " locked twice by " + p.name)
	}
	m.waiters = append(m.waiters, p)
	p.mutexWait = m
	s.block(waitOn{kind: waitMutex, what: m.nameT, owner: m.owner}, -1)
	p.mutexWait = nil
	if m.owner != p {
		panic("simtest: woke without owning mutex " + m.name)
	}
}

func (m *simMutex) Unlock() {
	s := m.s
	s.checkAlive()
	if m.owner != s.cur {
		panic("simtest: mutex " + m.name + " unlocked by a process that does not hold it")
	}
	m.release()
	// Releasing is not a scheduling point, as LWLockRelease is not: it
	// makes the next waiter runnable and the releaser carries on to its
	// next scheduling point. (Traced, so that the trace still shows it.)
	if s.running && s.cur != nil {
		p, e := s.cur, &m.unlockEv
		e.Time, e.Pid, e.Role = s.now, p.id, p.role
		if s.trace.hashD(m.unlockE, p.id) {
			s.trace.record(e)
		}
	}
}

func (m *simMutex) removeWaiter(p *proc) {
	for i, q := range m.waiters {
		if q == p {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			return
		}
	}
}

// release hands the mutex to the oldest waiter, FIFO as LWLock queues are.
func (m *simMutex) release() {
	if len(m.waiters) == 0 {
		m.owner = nil
		return
	}
	q := m.waiters[0]
	m.waiters = popFront(m.waiters)
	m.owner = q
	m.grants++
	m.s.makeRunnable(q)
}

// popFront removes q's first element in place, so that the queue keeps its
// array (slicing q[1:] would make every later append reallocate).
func popFront(q []*proc) []*proc {
	n := copy(q, q[1:])
	q[n] = nil
	return q[:n]
}

type simCond struct {
	s       *Sim
	name    string
	nameT   traceName
	m       *simMutex
	waiters []*proc
}

func (c *simCond) Wait() { c.wait(-1) }

func (c *simCond) WaitTimeout(d time.Duration) bool {
	if d < 0 {
		d = 0
	}
	if c.s.faults != nil && c.s.running && d > 0 {
		d = c.s.faults.timer(d)
	}
	return c.wait(d)
}

// wait queues the caller, releases the mutex and blocks, with no
// scheduling point in between: as with a kernel's wait queue, a wakeup that
// comes after the caller decided to wait is never lost, and a process is
// never killed while it holds the mutex of the condition it is entering.
func (c *simCond) wait(timeout time.Duration) bool {
	s := c.s
	s.checkAlive()
	p := s.cur
	if s.running && p != nil {
		s.event(p, &env.Event{Kind: env.EvCondWait, A: int64(timeout), Name: c.name, NameHash: c.nameT.h})
	}
	if c.m.owner != p {
		panic("simtest: cond " + c.name + " waited on without holding its mutex")
	}
	c.waiters = append(c.waiters, p)
	p.cond = c
	p.timedOut = false
	c.m.release()
	s.block(waitOn{kind: waitCond, what: c.nameT}, timeout)
	signalled := !p.timedOut
	p.timedOut = false
	c.m.Lock()
	return signalled
}

func (c *simCond) remove(p *proc) {
	for i, q := range c.waiters {
		if q == p {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return
		}
	}
}

func (c *simCond) Signal() {
	c.s.checkAlive()
	if len(c.waiters) > 0 {
		q := c.waiters[0]
		c.waiters = popFront(c.waiters)
		q.cond = nil
		c.s.makeRunnable(q)
	}
}

func (c *simCond) Broadcast() {
	c.s.checkAlive()
	for _, q := range c.waiters {
		q.cond = nil
		c.s.makeRunnable(q)
	}
	c.waiters = c.waiters[:0]
}

type timer struct {
	when time.Duration
	seq  uint64
	p    *proc
	gen  uint64
}

// stale reports whether the wait the timer was set for is already over.
func (t timer) stale() bool { return t.p.state != stBlocked || t.p.waitGen != t.gen }

// timerHeap is a binary min-heap ordered by (when, seq): equal deadlines
// fire in the order they were set, so ties never depend on heap layout.
type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	a := *h
	i := len(a) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !a.less(i, parent) {
			break
		}
		a[i], a[parent] = a[parent], a[i]
		i = parent
	}
}

func (h *timerHeap) pop() timer {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && a.less(l, m) {
			m = l
		}
		if r < n && a.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// simClock is the Clock view of a Sim.
type simClock struct{ s *Sim }

func (c simClock) Now() time.Duration {
	c.s.event(nil, &env.Event{Kind: env.EvNow, A: int64(c.s.now)})
	return c.s.now
}
func (c simClock) Sleep(d time.Duration) { c.s.Sleep(d) }

// tracedRand is the engine's Rand: a separate stream whose draws are hashed.
type tracedRand struct {
	r *Rand
	s *Sim
}

func (t tracedRand) Uint64() uint64 {
	v := t.r.Uint64()
	t.s.event(nil, &env.Event{Kind: env.EvRand, A: int64(v)})
	return v
}

func (t tracedRand) Intn(n int) int {
	v := t.r.Intn(n)
	t.s.event(nil, &env.Event{Kind: env.EvRand, A: int64(v), B: int64(n)})
	return v
}
