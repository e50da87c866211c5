package world

import (
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// Latency is the virtual time each kind of disk operation costs. The
// calling process sleeps for it (other processes run meanwhile), so I/O
// overlaps as it does on a real machine.
type Latency struct {
	Read, Write, Sync, Meta time.Duration
}

// DefaultLatency is a datacenter SSD's order of magnitude.
var DefaultLatency = Latency{Read: 20 * time.Microsecond, Write: 20 * time.Microsecond, Sync: time.Millisecond, Meta: 50 * time.Microsecond}

// The disk event kinds follow DiskOpKind's order.
var _ = [1]struct{}{}[int(env.EvDiskSyncDir-env.EvDiskOpen)+1-int(diskOpKinds)]

// diskEventKind is the event kind of a disk operation.
func diskEventKind(k DiskOpKind) env.EventKind {
	if k >= diskOpKinds {
		panic("simtest: an invalid disk operation kind")
	}
	return env.EvDiskOpen + env.EventKind(k)
}

var waitDiskIO = plainWait("disk i/o")

// Node is one simulated machine: a scheduler with its clock, a disk that
// outlives crashes, its place on the network, and the env the engine sees.
type Node struct {
	Sim  *Sim
	Disk *SimDisk
	Env  *env.Env
	// Name is the node's name on the network (Env.Net.Node()).
	Name string
	// Net is the network the node is on. Clients is the view of it from
	// the node ClientsNode, where the workload's clients run, so that a
	// fault can come between them and the server.
	Net     *SimNet
	Clients env.Net
	lat     Latency
	// Watch, when set, sees every disk operation as it starts (before
	// any latency or fault): the I/O-history checkers hang here.
	Watch func(op DiskOp)
	// WatchEvents, when set, sees every semantic event of the engine
	// (env.Observe), stamped, after the trace has it: the online
	// checkers of locks hang here. It must not keep e.
	WatchEvents func(e *env.Event)
	// watched holds the copies of events WatchEvents is shown, one per
	// nesting level (Observe): the observed event itself would escape
	// through the function value and cost an allocation per event.
	watched    [2]env.Event
	watchDepth int
	// faults is the fault plan's runner, when one is installed.
	faults *PlanRunner
	// FixedClass, when set, classifies a file the engine did not register
	// (its fixed files: WAL, clog, control file, archive). The world knows
	// no engine path, so the harness that knows the engine installs it.
	FixedClass func(path string) env.FileClass
	// Postmaster says a postmaster supervises the server processes, so a
	// killed one is crash-restarted by it rather than by the harness.
	Postmaster bool
	// Reached is the sometimes conditions the engine on this node (and
	// its peers) reached: the run's coverage, which never touches the
	// trace.
	Reached env.Reached
	// FirstReach is, per condition of env.Conditions that Reached holds,
	// the scheduler step and virtual time at which the run first reached
	// it (reachedFirst): the end of the prefix a derived run with the
	// same seed, config and plan, and no fault firing before that step,
	// repeats exactly.
	FirstReach [64 * len(env.Reached{})]ReachAt
	// files is what the engine said each file holds (env.FileClassifier):
	// it outlives crashes, as the files do.
	files map[string]env.FileClass
	// lastPath and lastClass remember the last fileClass answer: runs of
	// disk operations on one file are common (an open file's path is the
	// same string, so the comparison is a pointer check).
	lastPath  string
	lastClass env.FileClass
}

// maxClassifiedFiles bounds the file-class registry: a run touches a few
// dozen files.
const maxClassifiedFiles = 1 << 16

// ClassifyFile records what the engine said the file at path holds.
func (n *Node) ClassifyFile(path string, class env.FileClass) {
	if class >= env.NumFileClasses {
		panic("simtest: an invalid file class")
	}
	if _, ok := n.files[path]; !ok && len(n.files) >= maxClassifiedFiles {
		panic("simtest: more classified files than maxClassifiedFiles")
	}
	n.files[path] = class
	n.lastPath = ""
}

// FileClass is what the file at path holds: what the engine registered
// for it (the catalog's heaps and indexes through the storage manager, the
// relation map), else what FixedClass says of the engine's fixed files
// (the WAL, clog, control file and archive, which the harness names), else
// "other".
func (n *Node) FileClass(path string) env.FileClass { return n.fileClass(path) }

func (n *Node) fileClass(path string) env.FileClass {
	if path == n.lastPath && path != "" {
		return n.lastClass
	}
	c := n.classOf(path)
	n.lastPath, n.lastClass = path, c
	return c
}

func (n *Node) classOf(path string) env.FileClass {
	if c, ok := n.files[path]; ok {
		return c
	}
	if n.FixedClass != nil {
		return n.FixedClass(path)
	}
	return env.FileOther
}

// The names of a run's nodes on its network: the database server's, and
// the one its clients run on.
const (
	NodeName    = "n1"
	ClientsNode = "clients"
)

// NewNode builds a node whose scheduling, engine randomness and disk
// behaviour are all derived from rng.
func NewNode(rng *Rand, trace *Trace, sched SchedConfig, lat Latency) *Node {
	n := &Node{lat: lat, Name: NodeName, files: map[string]env.FileClass{}}
	n.Sim = NewSim(rng.Fork(1), trace, sched)
	n.Disk = NewSimDisk(n.diskHook)
	n.Net = NewSimNet(n.Sim, DefaultNetConfig)
	n.Clients = n.Net.Host(ClientsNode)
	n.Env = &env.Env{
		Clock:  simClock{n.Sim},
		Disk:   n.Disk,
		Net:    n.Net.Host(n.Name),
		Sched:  n.Sim,
		Rand:   tracedRand{r: rng.Fork(2), s: n.Sim},
		Points: n.Sim,
		Log:    n.Sim,
		Files:  n,
		Events: n,
	}
	n.Env.Reached = &n.Reached
	n.Env.OnFirstReach = n.reachedFirst
	return n
}

// ReachAt is where a run first reached a sometimes condition: the
// scheduler's step count (the fault plans' step=) and its virtual time.
type ReachAt struct {
	Step uint64
	Time time.Duration
}

// reachedFirst is the env's OnFirstReach: it notes the step and time at
// which condition cond was first reached. It is called once per condition
// per run, and neither schedules nor traces anything.
func (n *Node) reachedFirst(cond int) {
	if cond < 0 || cond >= len(n.FirstReach) {
		panic("simtest: a sometimes condition's index out of range")
	}
	n.FirstReach[cond] = ReachAt{Step: n.Sim.steps, Time: n.Sim.now}
}

// diskHook makes every disk operation a scheduling point that is hashed
// into the trace and costs virtual time.
func (n *Node) diskHook(op DiskOp) error {
	s := n.Sim
	if n.Watch != nil && s.running {
		n.Watch(op)
	}
	s.yieldPoint(&env.Event{Kind: diskEventKind(op.Kind), Node: n.Name, Class: n.fileClass(op.Path), A: op.Off, B: int64(op.Len), Name: op.Path, Name2: op.Path2, NameHash: op.pathH})
	if !s.running {
		return nil
	}
	var d time.Duration
	switch op.Kind {
	case OpRead:
		d = n.lat.Read
	case OpWrite:
		d = n.lat.Write
	case OpSync, OpSyncDir:
		d = n.lat.Sync
	case OpOpen, OpRemove, OpRename, OpMkdir, OpTruncate:
		d = n.lat.Meta
	}
	if d > 0 {
		s.block(waitDiskIO, d)
	}
	if n.faults != nil {
		n.faults.disk(op)
	}
	return nil
}

// NewPeer makes another node on n's scheduler and network (a standby
// beside a primary): its own disk, its own name on the network, and its
// own clock, which reads the scheduler's virtual time plus offset. Its
// engine randomness comes from rng.
func (n *Node) NewPeer(name string, rng *Rand, offset time.Duration) *Node {
	if n.Net.lookup(name) != nil {
		panic("simtest: a node named " + name + " is already on the network")
	}
	p := &Node{lat: n.lat, Name: name, Sim: n.Sim, Net: n.Net, Clients: n.Clients, files: map[string]env.FileClass{}}
	p.Disk = NewSimDisk(p.diskHook)
	p.Net.SetClockOffset(p.Net.Host(name).Node(), offset)
	var clock env.Clock = simClock{n.Sim}
	if offset != 0 {
		clock = offsetClock{s: n.Sim, offset: offset}
	}
	p.Env = &env.Env{
		Clock:  clock,
		Disk:   p.Disk,
		Net:    p.Net.Host(name),
		Sched:  n.Sim,
		Rand:   tracedRand{r: rng, s: n.Sim},
		Points: n.Sim,
		Log:    n.Sim,
		Files:  p,
		Events: p,
		// A peer's conditions count for the run, as the primary's do.
		Reached:      &n.Reached,
		OnFirstReach: n.reachedFirst,
	}
	return p
}

// offsetClock is a node's clock that runs offset ahead of (or, negative,
// behind) the scheduler's virtual time.
type offsetClock struct {
	s      *Sim
	offset time.Duration
}

func (c offsetClock) Now() time.Duration {
	t := c.s.now + c.offset
	c.s.event(nil, &env.Event{Kind: env.EvNow, A: int64(t)})
	return t
}
func (c offsetClock) Sleep(d time.Duration) { c.s.Sleep(d) }
