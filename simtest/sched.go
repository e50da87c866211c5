package simtest

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// Sim is the deterministic scheduler and virtual clock of one simulated node.
//
// Every simulated process is a goroutine, but exactly one of them runs at a
// time: control passes from one process to the next by a direct handoff on a
// per-process channel, only inside env calls (the yield points). Which
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
	harness chan struct{}
	stop    Stop

	// injectHook, when set, is asked at every injection point whether the
	// run must stop there (the crash plan's "k-th hit of point P").
	injectHook func(point string) bool
	hits       map[string]uint64

	// faults, when set, is the fault plan's runner (faults.go): asked at
	// every step, injection point and timer.
	faults faultHooks

	// panicKills makes a PANIC end only the panicking process (its parent,
	// the postmaster, reaps it and crash-restarts) instead of the run.
	panicKills bool
	killingAll bool // inside KillAll
}

// SetPanicKillsProcess chooses what a PANIC does: end the run (false, the
// default: the harness crash-restarts) or end only the process, which its
// parent reaps as an abnormal exit (true: the postmaster crash-restarts).
func (s *Sim) SetPanicKillsProcess(on bool) { s.panicKills = on }

// faultHooks is how a running fault plan sees the scheduler's events. The
// hooks run in the current process and may block it (a pause) or stop the
// run (Sim.stopForFault).
type faultHooks interface {
	step()
	point(name string, hit uint64)
	timer(d time.Duration) time.Duration
}

// SchedConfig is how a Sim interleaves processes.
type SchedConfig struct {
	// SwitchProb is the chance, at each yield point, that the scheduler
	// picks a (possibly different) runnable process to continue.
	SwitchProb float64
	// StepCost is the virtual CPU time charged per yield point.
	StepCost time.Duration
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
	s         *Sim
	id        int
	name      string
	fn        func()
	wake      chan struct{}
	state     procState
	killed    bool
	waitGen   uint64    // bumped at every block; timers carry it
	waitOn    string    // what a blocked process waits for (deadlock reports)
	cond      *simCond  // the condition a wait is queued on
	mutexWait *simMutex // the mutex a Lock is queued on
	timedOut  bool

	parent     *proc      // the process that spawned it (nil: the harness)
	exits      []env.Exit // ended children not yet reaped
	killReason string     // why it dies, once killed inside a run

	role      fault.Role // for fault plans, from the name; once roleKnown
	roleKnown bool
}

func (p *proc) ID() int      { return p.id }
func (p *proc) Name() string { return p.name }

type killSignal struct{}
type exitSignal struct{}

// NewSim makes a scheduler whose choices come from rng and whose events feed
// trace.
func NewSim(rng *Rand, trace *Trace, cfg SchedConfig) *Sim {
	if cfg.SwitchProb < 0 || cfg.SwitchProb > 1 {
		panic("simtest: SwitchProb outside [0,1]")
	}
	return &Sim{
		rng:        rng,
		trace:      trace,
		switchProb: cfg.SwitchProb,
		stepCost:   cfg.StepCost,
		harness:    make(chan struct{}, 1),
		hits:       make(map[string]uint64),
	}
}

// Now is the virtual time.
func (s *Sim) Now() time.Duration { return s.now }

// Steps is the number of yield points passed so far.
func (s *Sim) Steps() uint64 { return s.steps }

// SetStepLimit makes Run stop when the step count reaches n (0: no limit).
func (s *Sim) SetStepLimit(n uint64) { s.stepLimit = n }

// SetTimeLimit makes Run stop before virtual time passes t (0: no limit).
func (s *Sim) SetTimeLimit(t time.Duration) { s.timeLimit = t }

// SetInjectHook installs the function asked at every injection point.
func (s *Sim) SetInjectHook(h func(point string) bool) { s.injectHook = h }

// Hits returns how often each injection point was reached, sorted by name.
func (s *Sim) Hits() []PointHits {
	out := make([]PointHits, 0, len(s.hits))
	for name, n := range s.hits {
		out = append(out, PointHits{Point: name, Hits: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Point < out[j].Point })
	return out
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
func (s *Sim) Spawn(name string, fn func()) env.Proc {
	s.checkAlive()
	s.nextID++
	p := &proc{s: s, id: s.nextID, name: name, fn: fn, wake: make(chan struct{}, 1), parent: s.cur}
	s.procs = append(s.procs, p)
	s.runnable = append(s.runnable, p)
	pid := 0
	if s.cur != nil {
		pid = s.cur.id
	}
	s.trace.event(s.now, pid, "spawn", int64(p.id), 0, name)
	go s.procMain(p)
	return p
}

// procMain is the body of every process goroutine. The goroutine waits for
// its first turn, runs fn, and on the way out (return, Exit, kill or panic)
// passes control on.
func (s *Sim) procMain(p *proc) {
	defer func() { s.finish(p, recover()) }()
	s.park(p)
	p.fn()
}

func (s *Sim) park(p *proc) {
	<-p.wake
	if p.killed {
		panic(killSignal{})
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
		s.harness <- struct{}{}
		return
	}
	s.removeProc(p)
	p.state = stDone
	if p.killed {
		// Killed inside the run (Kill, or a PANIC under panicKills):
		// whatever its deferred calls raised, it is dead. Its parent reaps
		// an abnormal exit; the run goes on.
		s.trace.event(s.now, p.id, "killed", 0, 0, p.killReason)
		s.recordExit(p, env.Exit{Proc: p, Abnormal: true, Reason: p.killReason})
		s.handOff()
		return
	}
	if r != nil {
		if _, ok := r.(exitSignal); !ok {
			s.trace.event(s.now, p.id, "proc-panic", 0, 0, fmt.Sprint(r))
			s.stop = Stop{Kind: StopPanic, Proc: p.name, Value: r, Detail: fmt.Sprintf("%s: %v", p.name, r), Stack: string(debug.Stack())}
			s.cur = nil
			s.harness <- struct{}{}
			return
		}
	}
	s.trace.event(s.now, p.id, "exit", 0, 0, "")
	s.recordExit(p, env.Exit{Proc: p})
	s.handOff()
}

// handOff passes control from a process that ended to the next one.
func (s *Sim) handOff() {
	next := s.pickNext()
	if next == nil {
		s.cur = nil
		s.harness <- struct{}{}
		return
	}
	s.cur = next
	next.wake <- struct{}{}
}

// recordExit queues p's end for its parent's Reap.
func (s *Sim) recordExit(p *proc, e env.Exit) {
	if p.parent != nil && p.parent.state != stDone {
		p.parent.exits = append(p.parent.exits, e)
	}
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
	next.wake <- struct{}{}
	<-s.harness
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
		p.wake <- struct{}{}
		<-s.harness
		p.state = stDone
		s.trace.event(s.now, p.id, "killed", 0, 0, p.name)
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
		s.trace.event(s.now, p.id, "proc-panic", 0, 0, err.Msg)
		p.killed = true
		p.killReason = err.Error()
		panic(killSignal{})
	}
	s.trace.event(s.now, p.id, "proc-panic", 0, 0, err.Msg)
	s.stop = Stop{Kind: StopPanic, Proc: p.name, Value: err, Detail: fmt.Sprintf("%s: %v", p.name, err), Stack: string(debug.Stack())}
	p.state = stBlocked
	p.waitOn = "death (PANIC)"
	s.removeRunnable(p)
	s.cur = nil
	s.harness <- struct{}{}
	s.park(p) // only a kill wakes it
	panic("simtest: a crashed process was resumed")
}

// stopForFault, called in a running process by the fault plan's runner,
// ends the current Run with StopFault: the node crashes, or a process dies,
// right here. The caller stays parked until KillAll.
func (s *Sim) stopForFault(detail string) {
	p := s.cur
	s.stop = Stop{Kind: StopFault, Detail: detail, Proc: p.name}
	s.trace.event(s.now, p.id, "fault-stop", 0, 0, detail)
	s.harness <- struct{}{}
	s.park(p)
}

// pauseCurrent blocks the running process for d of virtual time (a fault
// plan's pause).
func (s *Sim) pauseCurrent(d time.Duration) { s.block("paused by the fault plan", d) }

// RequestStop, called by a running process, ends the current Run with
// StopRequested. The caller stays runnable and continues on a later Run.
func (s *Sim) RequestStop(reason string) {
	s.checkAlive()
	p := s.cur
	s.stop = Stop{Kind: StopRequested, Detail: reason, Proc: p.name}
	s.trace.event(s.now, p.id, "stop", 0, 0, reason)
	s.harness <- struct{}{}
	s.park(p)
}

// yieldPoint is called at the start of every env call that is a scheduling
// point. It hashes the event, charges CPU time, fires due timers, stops the
// run at the step limit and, with probability switchProb, lets a seeded
// choice of runnable process continue.
func (s *Sim) yieldPoint(kind string, a, b int64, str string) {
	if !s.running {
		return // the harness itself (setup, checks) is not scheduled
	}
	p := s.cur
	if p.killed {
		panic(killSignal{})
	}
	s.steps++
	s.now += s.stepCost
	s.trace.event(s.now, p.id, kind, a, b, str)
	if len(s.timers) > 0 && s.timers[0].when <= s.now {
		s.fireDue()
	}
	if s.stepLimit != 0 && s.steps >= s.stepLimit {
		s.stop = Stop{Kind: StopStepLimit, Detail: fmt.Sprintf("step %d", s.steps), Proc: p.name}
		s.harness <- struct{}{}
		s.park(p)
		return
	}
	if s.timeLimit != 0 && s.now > s.timeLimit {
		s.stop = Stop{Kind: StopTimeLimit, Detail: fmt.Sprintf("virtual time %v", s.timeLimit), Proc: p.name}
		s.harness <- struct{}{}
		s.park(p)
		return
	}
	if s.faults != nil {
		s.faults.step()
	}
	if len(s.runnable) > 1 && s.rng.Float64() < s.switchProb {
		q := s.runnable[s.rng.Intn(len(s.runnable))]
		if q != p {
			s.trace.event(s.now, p.id, "switch", int64(q.id), 0, "")
			s.cur = q
			q.wake <- struct{}{}
			s.park(p)
		}
	}
}

// block takes the current process off the run queue until another process
// makes it runnable or, when timeout >= 0, until the timeout expires.
func (s *Sim) block(what string, timeout time.Duration) {
	p := s.cur
	if !s.running || p == nil {
		panic("simtest: blocking env call outside a simulated process: " + what)
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
		s.harness <- struct{}{}
		s.park(p)
		return
	}
	s.trace.event(s.now, p.id, "block", int64(next.id), 0, what)
	s.cur = next
	next.wake <- struct{}{}
	s.park(p)
}

func (s *Sim) makeRunnable(p *proc) {
	if p.state != stBlocked {
		panic("simtest: waking a process that is not blocked: " + p.name)
	}
	p.state = stRunnable
	p.waitOn = ""
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
	return s.runnable[s.rng.Intn(len(s.runnable))]
}

func (s *Sim) deadlockReport() string {
	var b strings.Builder
	b.WriteString("no process runnable and no timer pending;")
	for _, p := range s.procs {
		fmt.Fprintf(&b, " [p%d %s waits on %s]", p.id, p.name, p.waitOn)
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
func (s *Sim) Yield() { s.yieldPoint("yield", 0, 0, "") }

// Exit ends the calling process, running its deferred calls.
func (s *Sim) Exit() {
	s.checkAlive()
	panic(exitSignal{})
}

// Sleep blocks the calling process for d of virtual time.
func (s *Sim) Sleep(d time.Duration) {
	s.yieldPoint("sleep", int64(d), 0, "")
	if s.faults != nil && s.running && d > 0 {
		d = s.faults.timer(d)
	}
	if d <= 0 {
		return
	}
	s.block("sleep", d)
}

// Inject is a named injection point: hashed, counted, a scheduling point,
// and the place where the inject hook may stop the run (crash there).
func (s *Sim) Inject(point string) {
	s.yieldPoint("inject", 0, 0, point)
	if !s.running {
		return
	}
	s.hits[point]++
	if s.faults != nil {
		s.faults.point(point, s.hits[point])
	}
	if s.injectHook != nil && s.injectHook(point) {
		p := s.cur
		s.stop = Stop{Kind: StopInject, Detail: point, Proc: p.name}
		s.harness <- struct{}{}
		s.park(p)
	}
}

// Logf records a log line in the trace, tagged with time and process.
func (s *Sim) Logf(format string, args ...any) {
	pid := 0
	if s.cur != nil {
		pid = s.cur.id
	}
	s.trace.note(s.now, pid, fmt.Sprintf(format, args...))
}

// NewMutex makes a simulated LWLock with FIFO handoff.
func (s *Sim) NewMutex(name string) env.Mutex { return &simMutex{s: s, name: name} }

// NewSpinLock makes a mutex whose uncontended Lock and whose Unlock are not
// yield points (see env.Scheduler).
func (s *Sim) NewSpinLock(name string) env.Mutex { return &simMutex{s: s, name: name, spin: true} }

// NewCond makes a simulated condition variable over m.
func (s *Sim) NewCond(name string, m env.Mutex) env.Cond {
	sm, ok := m.(*simMutex)
	if !ok || sm.s != s {
		panic("simtest: NewCond needs a mutex of the same Sim")
	}
	return &simCond{s: s, name: name, m: sm}
}

type simMutex struct {
	s       *Sim
	name    string
	spin    bool
	owner   *proc
	waiters []*proc
}

func (m *simMutex) Lock() {
	s := m.s
	if m.spin && s.running && m.owner == nil {
		s.checkAlive()
		m.owner = s.cur
		return
	}
	s.yieldPoint("lock", 0, 0, m.name)
	p := s.cur
	if m.owner == nil {
		m.owner = p
		return
	}
	if m.owner == p {
		panic("simtest: mutex " + m.name + " locked twice by " + p.name)
	}
	m.waiters = append(m.waiters, p)
	p.mutexWait = m
	s.block("mutex "+m.name+" held by "+m.owner.name, -1)
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
		s.trace.event(s.now, s.cur.id, "unlock", 0, 0, m.name)
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
	m.waiters = m.waiters[1:]
	m.owner = q
	m.s.makeRunnable(q)
}

type simCond struct {
	s       *Sim
	name    string
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
		s.trace.event(s.now, p.id, "cond-wait", int64(timeout), 0, c.name)
	}
	if c.m.owner != p {
		panic("simtest: cond " + c.name + " waited on without holding its mutex")
	}
	c.waiters = append(c.waiters, p)
	p.cond = c
	p.timedOut = false
	c.m.release()
	s.block("cond "+c.name, timeout)
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
		c.waiters = c.waiters[1:]
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
	c.s.trace.event(c.s.now, 0, "now", int64(c.s.now), 0, "")
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
	t.s.trace.event(t.s.now, 0, "rand", int64(v), 0, "")
	return v
}

func (t tracedRand) Intn(n int) int {
	v := t.r.Intn(n)
	t.s.trace.event(t.s.now, 0, "rand", int64(v), int64(n), "")
	return v
}
