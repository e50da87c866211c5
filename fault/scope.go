package fault

// scope is the set of events a trigger can be true on, as far as the
// stateless atoms it leads with tell: and short-circuits left to right, so
// a conjunction whose stateless prefix holds point= is false, with nothing
// counted (nth=) or drawn (prob=), on every event that is not an injection
// point's; one holding op=, file= or path= on every event that is not a
// disk operation's (and, with op=X, on every disk operation but X's).
// NewState lists a fault only for the events in its scope, which changes
// no run: an event out of scope would have found the trigger false.
type scope struct {
	kinds uint8  // bit k: events of kind k
	ops   uint16 // bit o: disk events of op o
	// point, when not empty, is the injection point the prefix's point=
	// names; role, when hasRole, the role its role= names. Eval checks
	// them before the trigger: a mismatch makes the prefix false.
	point   string
	role    Role
	hasRole bool
}

// admits reports whether the prefix's point= and role= allow ev: when
// false, the trigger is false on ev with nothing counted or drawn.
func (sc *scope) admits(ev *Event) bool {
	if sc.point != "" && ev.Point != sc.point {
		return false
	}
	return !sc.hasRole || ev.Role == sc.role
}

// everything is the scope of a trigger whose prefix says nothing.
var everything = scope{kinds: 1<<numEventKinds - 1, ops: 1<<numOpKinds - 1}

// The masks must hold every kind and op.
var (
	_ [8 - numEventKinds]struct{}
	_ [16 - numOpKinds]struct{}
)

// has reports whether events of kind (disk events: of op) are in sc.
func (sc scope) has(kind EventKind, op OpKind) bool {
	if sc.kinds&(1<<kind) == 0 {
		return false
	}
	return kind != EventDisk || sc.ops&(1<<op) != 0
}

// triggerScope is e's scope (everything for a nil trigger). Nested and
// nodes are followed, as their operands are evaluated in the same order;
// the scan stops at the first atom that counts or draws, and at or and
// not, whose short-circuits this does not model. The depth is bounded by
// Validate's maxExprDepth.
func triggerScope(e *Expr) scope {
	sc := everything
	if e != nil {
		narrowScope(e, &sc, 0)
	}
	return sc
}

// narrowScope narrows sc by e's leading stateless atoms and reports
// whether the scan may go on past e (e is all stateless).
func narrowScope(e *Expr, sc *scope, depth int) bool {
	if depth > maxExprDepth {
		return false
	}
	switch e.Op {
	case ExprAnd:
		for _, a := range e.Args {
			if !narrowScope(a, sc, depth+1) {
				return false
			}
		}
		return true
	case ExprAtom:
	default:
		return false
	}
	switch e.Atom.Kind {
	case AtomPoint:
		sc.kinds &= 1 << EventPoint
		if sc.point == "" {
			sc.point = e.Atom.Name // a second point= is checked by the trigger
		}
	case AtomOp:
		sc.kinds &= 1 << EventDisk
		sc.ops &= 1 << e.Atom.Op
	case AtomFile, AtomPath:
		sc.kinds &= 1 << EventDisk
	case AtomLock:
		sc.kinds &= 1 << EventPoint // only an lwlock-acquire point carries a lock
	case AtomRole:
		if !sc.hasRole {
			sc.role, sc.hasRole = e.Atom.Role, true // likewise a second role=
		}
	case AtomTrue, AtomTimeGE, AtomTimeLT, AtomStepGE, AtomStepLT, AtomProc:
	default:
		return false // nth= and prob= change the state: stop before them
	}
	return true
}

// Listens reports whether some fault of the plan is listed for events of
// kind (a disk event's: of any op), so that a simulator can skip building
// an event that Eval would return from at once.
func (s *State) Listens(kind EventKind) bool {
	if kind == EventDisk {
		return s.anyDisk
	}
	return kind < numEventKinds && len(s.byKind[kind]) > 0
}
