package fault

import (
	"fmt"
	"strconv"
)

// Fault is one line of a plan: an action, the trigger that fires it and how
// many times it may fire.
type Fault struct {
	Action Action
	// When is the trigger; nil means always (on every event the action
	// applies to).
	When *Expr
	// Times is how many times the fault may fire; 0 means unlimited. The
	// text form's default, when times= is absent, is 1: a fault written
	// without a count fires once.
	Times int
}

// Plan is a run's fault plan: faults in order. Order matters: State.Eval
// evaluates faults in plan order, which fixes the order of nth counting, of
// the random draws and of the actions the simulator performs.
type Plan struct {
	Faults []Fault
}

// Validate reports whether f is well formed. A valid fault prints to a line
// that parses back to an equal fault.
func (f Fault) Validate() error {
	if err := f.Action.Validate(); err != nil {
		return err
	}
	if f.When != nil {
		if err := f.When.Validate(); err != nil {
			return fmt.Errorf("%s: %v", f.Action.Kind, err)
		}
	}
	if f.Times < 0 || f.Times > maxTimes {
		return fmt.Errorf("%s: times must be in 0..%d, got %d", f.Action.Kind, maxTimes, f.Times)
	}
	// The canonical form can be longer than what was written (1h prints
	// as 1h0m0s), and it must fit the parser's line limit to parse back.
	if n := len(f.appendTo(nil)); n > maxLineLen {
		return fmt.Errorf("%s: prints as %d bytes, more than %d", f.Action.Kind, n, maxLineLen)
	}
	return nil
}

// Validate reports whether every fault of p is well formed, naming the first
// one that is not (counting from 1, like the lines of the text form).
func (p Plan) Validate() error {
	if len(p.Faults) > maxLines {
		return fmt.Errorf("plan has %d faults, more than %d", len(p.Faults), maxLines)
	}
	for i, f := range p.Faults {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("fault %d: %v", i+1, err)
		}
	}
	return nil
}

// String prints f as one line of the text form, without a newline: the
// action and its arguments that differ from their defaults, "when" and the
// trigger unless it is nil, and "times=N" unless N is 1.
func (f Fault) String() string { return string(f.appendTo(nil)) }

func (f Fault) appendTo(b []byte) []byte {
	b = append(b, f.Action.Kind.String()...)
	b = f.Action.appendArgs(b)
	if f.When != nil {
		b = append(b, " when "...)
		b = f.When.appendTo(b)
	}
	if f.Times != 1 {
		b = append(b, " times="...)
		b = strconv.AppendInt(b, int64(f.Times), 10)
	}
	return b
}

// String prints p in the canonical text form: one line per fault, each
// ending in a newline. The empty plan prints as "". Parse reads it back to an
// equal plan when p is valid.
func (p Plan) String() string {
	var b []byte
	for _, f := range p.Faults {
		b = f.appendTo(b)
		b = append(b, '\n')
	}
	return string(b)
}
