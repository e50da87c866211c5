package fault

import (
	"fmt"
	"path"
	"time"
)

// Rand is the plan's source of randomness. The simulator passes one of its
// seeded streams; nothing else in this package draws random numbers.
type Rand interface{ Uint64() uint64 }

// State is the per-run mutable state of a plan: the nth counters, the fire
// counts and the random streams of prob=. It holds the plan compiled into
// flat arrays, so that Eval runs without allocating, and the faults that
// apply to each kind of event, so that an event no fault applies to costs
// two array lookups.
//
// The random streams: NewState draws exactly one number from the Rand it is
// given and never touches it again. Each fault gets its own stream, derived
// from that number and the fault's own text (and its ordinal among faults
// with the same text), and its prob= conditions draw from that stream only.
// So evaluating one fault never shifts another's draws, and removing a fault
// from a plan (as a shrinker does) leaves every other fault's draws as they
// were; and a simulator that shares its Rand with the plan sees one draw
// however many prob= evaluations the run makes.
type State struct {
	faults []compiledFault
	nodes  []node
	// kids holds the children of and, or and not nodes, contiguously per
	// node.
	kids []int32
	// nth holds one counter per nth= atom: the evaluations that reached it,
	// stopping one past its K so that it can never wrap.
	nth   []uint64
	fired []int
	// byKind lists, in plan order, the faults that apply to non-disk events
	// of each kind; byOp those that apply to disk events of each op.
	byKind [numEventKinds][]int32
	byOp   [numOpKinds][]int32
	// anyDisk says some byOp list is not empty (Listens).
	anyDisk bool
	inEval  bool
}

type compiledFault struct {
	action Action
	// root is the trigger's node, or -1 when the trigger is nil (always).
	root  int32
	times int
	// stream is the splitmix64 state of this fault's prob= draws.
	stream uint64
	// scope is what the trigger's stateless prefix requires (scope.go).
	scope scope
}

// node is one compiled expression node. Atom operands are packed into a
// few fields: u is the step bound, the nth K, the point hit or the prob
// threshold; sub the op, file class or role.
type node struct {
	op    ExprOp
	kind  AtomKind
	sub   uint8
	first int32 // and, or, not: index of the first child in kids
	n     int32 // and, or, not: number of children
	slot  int32 // nth: index in State.nth
	u     uint64
	dur   time.Duration
	name  string
}

// maxNodes bounds a compiled plan. The text form cannot come close (10,000
// lines of 4096 bytes hold fewer nodes), so this only catches a plan built in
// Go that has run away.
const maxNodes = 1 << 24

// NewState compiles p for one run. p must be valid (Parse, Swarm and
// Systematic only make valid plans): an invalid plan is a programmer error and
// panics. rng must not be nil; NewState draws exactly one number from it.
func NewState(p Plan, rng Rand) *State {
	if err := p.Validate(); err != nil {
		panic("fault: NewState on an invalid plan: " + err.Error())
	}
	if rng == nil {
		panic("fault: NewState with a nil Rand")
	}
	seed := rng.Uint64()
	s := &State{
		faults: make([]compiledFault, len(p.Faults)),
		fired:  make([]int, len(p.Faults)),
	}
	// ordinals tells apart faults with the same text, so that each still
	// gets a stream of its own. Only looked up, never iterated.
	ordinals := make(map[string]uint64, len(p.Faults))
	for i, f := range p.Faults {
		text := f.String()
		ord := ordinals[text]
		ordinals[text] = ord + 1
		cf := compiledFault{
			action: f.Action,
			root:   -1,
			times:  f.Times,
			stream: mix64(seed ^ mix64(fnv64(text)^(ord*0x9e3779b97f4a7c15))),
		}
		if f.When != nil {
			cf.root = s.compile(f.When)
		}
		s.faults[i] = cf
		idx := int32(i)
		// A fault is listed only for the events its trigger's stateless
		// prefix allows (scope.go): the plans' pauses lead with point=,
		// their crashes with op= or role= and point=, and a run has a
		// step event at every scheduling point and a disk event at every
		// I/O. Leaving the others out changes no run.
		sc := triggerScope(f.When)
		s.faults[i].scope = sc
		for k := EventKind(0); k < numEventKinds; k++ {
			if k != EventDisk && sc.has(k, 0) && f.Action.Kind.Applies(&Event{Kind: k}) {
				s.byKind[k] = append(s.byKind[k], idx)
			}
		}
		for op := OpKind(0); op < numOpKinds; op++ {
			if sc.has(EventDisk, op) && f.Action.Kind.Applies(&Event{Kind: EventDisk, Op: op}) {
				s.byOp[op] = append(s.byOp[op], idx)
				s.anyDisk = true
			}
		}
	}
	return s
}

// compile appends e's nodes and returns the index of its root. Recursion is
// bounded by the depth Validate allows.
func (s *State) compile(e *Expr) int32 {
	if len(s.nodes) >= maxNodes {
		panic(fmt.Sprintf("fault: plan has more than %d expression nodes", maxNodes))
	}
	idx := int32(len(s.nodes))
	s.nodes = append(s.nodes, node{op: e.Op, slot: -1})
	if e.Op != ExprAtom {
		children := make([]int32, len(e.Args))
		for i, a := range e.Args {
			children[i] = s.compile(a)
		}
		n := &s.nodes[idx]
		n.first, n.n = int32(len(s.kids)), int32(len(children))
		s.kids = append(s.kids, children...)
		return idx
	}
	a := e.Atom
	n := &s.nodes[idx]
	n.kind = a.Kind
	switch a.Kind {
	case AtomTimeGE, AtomTimeLT:
		n.dur = a.Dur
	case AtomStepGE, AtomStepLT:
		n.u = a.N
	case AtomPoint:
		n.name, n.u = a.Name, a.Hit
	case AtomOp:
		n.sub = uint8(a.Op)
	case AtomFile:
		n.sub = uint8(a.File)
	case AtomRole:
		n.sub = uint8(a.Role)
	case AtomPath, AtomProc, AtomLock:
		n.name = a.Name
	case AtomNth:
		n.u = a.N
		n.slot = int32(len(s.nth))
		s.nth = append(s.nth, 0)
	case AtomProb:
		n.u = probThreshold(a.Prob)
	}
	return idx
}

// Eval shows ev to the plan. It evaluates, in plan order, the trigger of
// every fault whose action applies to ev (ActionKind.Applies) and has not
// yet fired its Times times, and calls fire(i, action) for each whose trigger
// is true, counting the firing first. Triggers of faults that do not apply to
// ev, or are used up, are not evaluated at all, so their nth counters and
// prob draws do not move: "fsync-eio when file=heap and nth=2" fires on the
// second heap fsync.
//
// fire must not call Eval on the same State (that panics): the simulator
// should act on the action, or note it and act after Eval returns. If fire
// does not return (it ends the running process), the remaining faults are
// not evaluated for this event.
func (s *State) Eval(ev *Event, fire func(i int, a Action)) {
	var list []int32
	if ev.Kind == EventDisk {
		if ev.Op >= numOpKinds {
			panic("fault: Eval on a disk event with invalid op " + ev.Op.String())
		}
		list = s.byOp[ev.Op]
	} else {
		if ev.Kind >= numEventKinds {
			panic("fault: Eval on an invalid event kind " + ev.Kind.String())
		}
		list = s.byKind[ev.Kind]
	}
	if len(list) == 0 {
		return
	}
	if s.inEval {
		panic("fault: Eval called again from inside fire")
	}
	s.inEval = true
	// Deferred so that a fire that ends the process (a panic or
	// runtime.Goexit that the simulator recovers) does not leave the state
	// looking re-entered.
	defer func() { s.inEval = false }()
	for _, i := range list {
		f := &s.faults[i]
		if f.times > 0 && s.fired[i] >= f.times {
			continue
		}
		if !f.scope.admits(ev) {
			continue // the trigger is false, with nothing counted or drawn
		}
		if f.root >= 0 && !s.eval(f, f.root, ev) {
			continue
		}
		s.fired[i]++
		fire(int(i), f.action)
	}
}

// eval evaluates node i of fault f's trigger, and/or short-circuiting left
// to right.
func (s *State) eval(f *compiledFault, i int32, ev *Event) bool {
	n := &s.nodes[i]
	switch n.op {
	case ExprAtom:
		return s.evalAtom(f, n, ev)
	case ExprNot:
		return !s.eval(f, s.kids[n.first], ev)
	case ExprAnd:
		for _, k := range s.kids[n.first : n.first+n.n] {
			if !s.eval(f, k, ev) {
				return false
			}
		}
		return true
	case ExprOr:
		for _, k := range s.kids[n.first : n.first+n.n] {
			if s.eval(f, k, ev) {
				return true
			}
		}
		return false
	}
	panic("fault: corrupt compiled expression")
}

func (s *State) evalAtom(f *compiledFault, n *node, ev *Event) bool {
	switch n.kind {
	case AtomTrue:
		return true
	case AtomTimeGE:
		return ev.Time >= n.dur
	case AtomTimeLT:
		return ev.Time < n.dur
	case AtomStepGE:
		return ev.Step >= n.u
	case AtomStepLT:
		return ev.Step < n.u
	case AtomPoint:
		return ev.Kind == EventPoint && ev.Point == n.name && (n.u == 0 || ev.Hit == n.u)
	case AtomOp:
		return ev.Kind == EventDisk && uint8(ev.Op) == n.sub
	case AtomFile:
		return ev.Kind == EventDisk && uint8(ev.File) == n.sub
	case AtomPath:
		if ev.Kind != EventDisk {
			return false
		}
		// The pattern was checked when the plan was validated, so the
		// only error path.Match can return cannot happen.
		ok, _ := path.Match(n.name, ev.Path)
		return ok
	case AtomRole:
		return uint8(ev.Role) == n.sub
	case AtomProc:
		return ev.Proc == n.name
	case AtomLock:
		return ev.Kind == EventPoint && ev.Lock == n.name
	case AtomNth:
		c := &s.nth[n.slot]
		if *c <= n.u {
			*c++
		}
		return *c == n.u
	case AtomProb:
		f.stream += 0x9e3779b97f4a7c15
		return mix64(f.stream)>>11 < n.u
	}
	panic("fault: corrupt compiled atom")
}

// Fired returns how many times fault i has fired.
func (s *State) Fired(i int) int { return s.fired[i] }

// mix64 is splitmix64's finalizer: a bijection on 64 bits that spreads every
// input bit over every output bit.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fnv64 is 64-bit FNV-1a, used to key each fault's stream by its text.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
