package fault

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"time"
	"unicode/utf8"
)

// Triggers are boolean expressions over events. They are plain trees of
// plain structs, not closures, so that plans compare with reflect.DeepEqual,
// print, parse back and shrink. The tree keeps the shape that was written:
// "a and b and c" is one ExprAnd with three arguments, "(a and b) and c" an
// ExprAnd inside another, and printing keeps the parentheses that shape
// needs, so that parsing a printed expression gives the same tree.

// ExprOp is the operator of an expression node. The zero value is invalid,
// so that an Expr built without setting Op fails Validate.
type ExprOp uint8

const (
	_ ExprOp = iota // the invalid zero value
	// ExprAtom is a leaf: Atom holds the condition, Args is nil.
	ExprAtom
	// ExprNot negates its one argument.
	ExprNot
	// ExprAnd is true when all its arguments (at least two) are; it
	// evaluates them left to right and stops at the first false one.
	ExprAnd
	// ExprOr is true when any of its arguments (at least two) is; it
	// evaluates them left to right and stops at the first true one.
	ExprOr
)

// AtomKind is the kind of a leaf condition. The zero value is invalid.
type AtomKind uint8

const (
	_ AtomKind = iota // the invalid zero value
	// AtomTrue is "true".
	AtomTrue
	// AtomTimeGE is "time>=Dur" and AtomTimeLT "time<Dur", on virtual time.
	AtomTimeGE
	AtomTimeLT
	// AtomStepGE is "step>=N" and AtomStepLT "step<N", on scheduler steps.
	AtomStepGE
	AtomStepLT
	// AtomPoint is "point=Name", or "point=Name#Hit" when Hit > 0: an
	// injection point event with that name (and that hit number).
	AtomPoint
	// AtomOp is "op=Op", AtomFile "file=File" and AtomPath "path=Name" (a
	// path.Match pattern): disk events only.
	AtomOp
	AtomFile
	AtomPath
	// AtomRole is "role=Role" and AtomProc "proc=Name": the running
	// process.
	AtomRole
	AtomProc
	// AtomNth is "nth=N": stateful, true exactly on the N-th evaluation that
	// reaches it (as pebble's errorfs.OnIndex).
	AtomNth
	// AtomProb is "prob=Prob": true with probability Prob, drawn afresh at
	// every evaluation that reaches it.
	AtomProb
	// AtomLock is "lock=Name": an injection point event that carries the
	// tranche of a lock about to be acquired (point=lwlock-acquire), that
	// tranche.
	AtomLock

	numAtomKinds = iota
)

// maxExprDepth bounds how deeply expressions nest, both in the text (where it
// bounds the parser's recursion) and in trees (where it bounds Eval's).
const maxExprDepth = 64

// Atom is a leaf condition. Only the fields its Kind uses may be set.
type Atom struct {
	Kind AtomKind
	// Dur is the bound of time>= and time<.
	Dur time.Duration
	// N is the bound of step>= and step<, and the K of nth=K.
	N uint64
	// Name is the point name, the process name, the path pattern or the
	// lock's tranche.
	Name string
	// Hit is the K of point=NAME#K; 0 means any hit.
	Hit  uint64
	Op   OpKind
	File FileClass
	Role Role
	// Prob is the probability of prob=, in (0, 1].
	Prob float64
}

// Expr is a trigger expression: an operator with its arguments, or a leaf
// Atom.
type Expr struct {
	Op   ExprOp
	Args []*Expr
	Atom Atom
}

// Helpers to build expressions in Go; the generators and tests use them, and
// so may the simulator or a shrinker.

// AtomExpr returns the leaf expression a.
func AtomExpr(a Atom) *Expr { return &Expr{Op: ExprAtom, Atom: a} }

// Not returns "not e".
func Not(e *Expr) *Expr { return &Expr{Op: ExprNot, Args: []*Expr{e}} }

// And returns the conjunction of es, which must be at least two.
func And(es ...*Expr) *Expr {
	if len(es) < 2 {
		panic("fault: And needs at least two arguments")
	}
	return &Expr{Op: ExprAnd, Args: es}
}

// Or returns the disjunction of es, which must be at least two.
func Or(es ...*Expr) *Expr {
	if len(es) < 2 {
		panic("fault: Or needs at least two arguments")
	}
	return &Expr{Op: ExprOr, Args: es}
}

// Validate reports whether e is a well-formed expression: known operators
// with the right number of non-nil arguments, leaves with valid atoms, and no
// deeper than the parser accepts. A valid expression prints to text that
// parses back to an equal tree.
func (e *Expr) Validate() error { return e.validate(1) }

func (e *Expr) validate(depth int) error {
	if e == nil {
		return fmt.Errorf("nil expression")
	}
	if depth > maxExprDepth {
		return fmt.Errorf("expression nested deeper than %d", maxExprDepth)
	}
	switch e.Op {
	case ExprAtom:
		if e.Args != nil {
			return fmt.Errorf("atom %s has arguments", e.Atom.Kind)
		}
		return e.Atom.Validate()
	case ExprNot:
		if len(e.Args) != 1 {
			return fmt.Errorf("not takes one argument, has %d", len(e.Args))
		}
	case ExprAnd, ExprOr:
		if len(e.Args) < 2 {
			return fmt.Errorf("%s takes at least two arguments, has %d", opWord(e.Op), len(e.Args))
		}
	default:
		return fmt.Errorf("invalid expression operator %d", uint8(e.Op))
	}
	if e.Atom != (Atom{}) {
		return fmt.Errorf("%s node has an atom set", opWord(e.Op))
	}
	for _, a := range e.Args {
		if err := a.validate(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// depth returns the height of the tree, a leaf being 1.
func (e *Expr) depth() int {
	d := 0
	for _, a := range e.Args {
		d = max(d, a.depth())
	}
	return d + 1
}

func opWord(op ExprOp) string {
	switch op {
	case ExprNot:
		return "not"
	case ExprAnd:
		return "and"
	case ExprOr:
		return "or"
	}
	return "ExprOp(" + strconv.Itoa(int(op)) + ")"
}

func (k AtomKind) String() string {
	switch k {
	case AtomTrue:
		return "true"
	case AtomTimeGE, AtomTimeLT:
		return "time"
	case AtomStepGE, AtomStepLT:
		return "step"
	case AtomPoint:
		return "point"
	case AtomOp:
		return "op"
	case AtomFile:
		return "file"
	case AtomPath:
		return "path"
	case AtomRole:
		return "role"
	case AtomProc:
		return "proc"
	case AtomNth:
		return "nth"
	case AtomProb:
		return "prob"
	case AtomLock:
		return "lock"
	}
	return "AtomKind(" + strconv.Itoa(int(k)) + ")"
}

// Validate reports whether a is a well-formed atom: a known kind, values in
// range and no field set that its kind does not use.
func (a Atom) Validate() error {
	used := Atom{Kind: a.Kind}
	switch a.Kind {
	case AtomTrue:
	case AtomTimeGE, AtomTimeLT:
		if a.Dur < 0 {
			return fmt.Errorf("time: negative duration %s", formatDuration(a.Dur))
		}
		used.Dur = a.Dur
	case AtomStepGE, AtomStepLT:
		used.N = a.N
	case AtomPoint:
		if err := checkName(a.Name); err != nil {
			return fmt.Errorf("point=: %v", err)
		}
		used.Name, used.Hit = a.Name, a.Hit
	case AtomOp:
		if a.Op >= numOpKinds {
			return fmt.Errorf("op=: invalid op %d", uint8(a.Op))
		}
		used.Op = a.Op
	case AtomFile:
		if a.File >= numFileClasses {
			return fmt.Errorf("file=: invalid file class %d", uint8(a.File))
		}
		used.File = a.File
	case AtomPath:
		if err := checkGlob(a.Name); err != nil {
			return fmt.Errorf("path=: %v", err)
		}
		used.Name = a.Name
	case AtomRole:
		if a.Role >= numRoles {
			return fmt.Errorf("role=: invalid role %d", uint8(a.Role))
		}
		used.Role = a.Role
	case AtomProc:
		if err := checkName(a.Name); err != nil {
			return fmt.Errorf("proc=: %v", err)
		}
		used.Name = a.Name
	case AtomLock:
		if err := checkName(a.Name); err != nil {
			return fmt.Errorf("lock=: %v", err)
		}
		used.Name = a.Name
	case AtomNth:
		if a.N == 0 {
			return fmt.Errorf("nth= must be at least 1")
		}
		used.N = a.N
	case AtomProb:
		// Written so that NaN fails too.
		if !(a.Prob > 0 && a.Prob <= 1) {
			return fmt.Errorf("prob= must be in (0, 1], got %v", a.Prob)
		}
		used.Prob = a.Prob
	default:
		return fmt.Errorf("invalid atom kind %d", uint8(a.Kind))
	}
	if used != a {
		return fmt.Errorf("%s atom has fields set that it does not use", a.Kind)
	}
	return nil
}

// String prints e in the text form, with parentheses only where the tree's
// shape needs them.
func (e *Expr) String() string { return string(e.appendTo(nil)) }

func (e *Expr) appendTo(b []byte) []byte {
	if e == nil {
		return append(b, "<nil>"...)
	}
	switch e.Op {
	case ExprAtom:
		return e.Atom.appendTo(b)
	case ExprNot:
		if len(e.Args) != 1 {
			break
		}
		b = append(b, "not "...)
		return e.Args[0].appendOperand(b, ExprNot)
	case ExprAnd, ExprOr:
		for i, a := range e.Args {
			if i > 0 {
				b = append(b, ' ')
				b = append(b, opWord(e.Op)...)
				b = append(b, ' ')
			}
			b = a.appendOperand(b, e.Op)
		}
		return b
	}
	// Printing must never fail: an invalid node is shown as such and fails
	// to parse.
	return append(b, "<"+opWord(e.Op)+">"...)
}

// appendOperand prints e as an argument of parent, in parentheses when
// needed: an and or an or under not; an or under and (or binds looser); and
// an and under and or an or under or, because the parser makes one flat node
// of "a and b and c", so a nested one must be marked to keep its shape.
func (e *Expr) appendOperand(b []byte, parent ExprOp) []byte {
	paren := false
	if e != nil {
		switch e.Op {
		case ExprAnd:
			paren = parent == ExprNot || parent == ExprAnd
		case ExprOr:
			paren = true // under not, and, or or
		}
	}
	if !paren {
		return e.appendTo(b)
	}
	b = append(b, '(')
	b = e.appendTo(b)
	return append(b, ')')
}

func (a Atom) String() string { return string(a.appendTo(nil)) }

func (a Atom) appendTo(b []byte) []byte {
	b = append(b, a.Kind.String()...)
	switch a.Kind {
	case AtomTrue:
	case AtomTimeGE:
		b = append(b, ">="...)
		b = append(b, formatDuration(a.Dur)...)
	case AtomTimeLT:
		b = append(b, '<')
		b = append(b, formatDuration(a.Dur)...)
	case AtomStepGE:
		b = append(b, ">="...)
		b = strconv.AppendUint(b, a.N, 10)
	case AtomStepLT:
		b = append(b, '<')
		b = strconv.AppendUint(b, a.N, 10)
	case AtomPoint:
		b = append(b, '=')
		b = append(b, a.Name...)
		if a.Hit > 0 {
			b = append(b, '#')
			b = strconv.AppendUint(b, a.Hit, 10)
		}
	case AtomOp:
		b = append(b, '=')
		b = append(b, a.Op.String()...)
	case AtomFile:
		b = append(b, '=')
		b = append(b, a.File.String()...)
	case AtomRole:
		b = append(b, '=')
		b = append(b, a.Role.String()...)
	case AtomPath, AtomProc, AtomLock:
		b = append(b, '=')
		b = append(b, a.Name...)
	case AtomNth:
		b = append(b, '=')
		b = strconv.AppendUint(b, a.N, 10)
	case AtomProb:
		b = append(b, '=')
		// The shortest form that parses back to the same float64.
		b = strconv.AppendFloat(b, a.Prob, 'g', -1, 64)
	}
	return b
}

// maxNameLen bounds names; a line is at most maxLineLen anyway, but names can
// also come from Go code (Swarm's points, a hand-built plan).
const maxNameLen = 256

// checkName reports whether s is a valid name (a point, a process, a path
// pattern): 1 to maxNameLen characters of [A-Za-z0-9_.*?/\-\[\]]. The set
// excludes spaces, "=", "#", "(" and ")" so that a name never runs into the
// syntax around it.
func checkName(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("bad character %q in name %q", r, s)
		}
	}
	return nil
}

func isNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '.', '*', '?', '/', '-', '[', ']':
		return true
	}
	return false
}

// checkGlob reports whether s is a valid name and a well-formed path.Match
// pattern, so that Eval never meets a pattern error.
func checkGlob(s string) error {
	if err := checkName(s); err != nil {
		return err
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("bad pattern %q", s)
	}
	return nil
}

// probThreshold turns a probability into the integer bound Eval compares a
// 53-bit draw with: the draw is true when below it, so 1 is always true and a
// tiny probability is true once in about 2^53 draws at worst.
func probThreshold(p float64) uint64 {
	if !(p > 0 && p <= 1) {
		panic("fault: probability out of range")
	}
	t := uint64(math.Ldexp(p, 53))
	return max(t, 1)
}
