package fault

import (
	"fmt"
	"strconv"
	"strings"
)

// The text form, one fault per line:
//
//	ACTION {ARG=VALUE} [when EXPR] [times=N]
//
//	EXPR := OR
//	OR   := AND {"or" AND}
//	AND  := UNARY {"and" UNARY}
//	UNARY:= "not" UNARY | "(" OR ")" | ATOM
//	ATOM := "true" | time>=DURATION | time<DURATION | step>=N | step<N
//	      | point=NAME | point=NAME#K | op=KIND | file=CLASS | path=GLOB
//	      | role=ROLE | proc=NAME | nth=K | prob=P | lock=NAME
//
// times=N may also stand among the arguments; it may appear once. A "#" at
// the start of a line or after a space or tab starts a comment that runs to
// the end of the line; a "#" inside a word is part of it (point=NAME#K).
// Blank lines and comment lines are ignored.
//
// The parser is bounded: it rejects texts of more than maxLines lines, lines
// longer than maxLineLen bytes, and expressions nested deeper than
// maxExprDepth, so that no input can make it run long or deep.

const (
	maxLines   = 10_000
	maxLineLen = 4096
)

// ParseError is a Parse error: the 1-based line and what is wrong there. Its
// message is one line.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Msg }

// Parse reads a plan from its text form. Every fault it returns is valid
// (Fault.Validate), and the first error stops it.
func Parse(text string) (Plan, error) {
	var p Plan
	rest := text
	for line := 1; rest != ""; line++ {
		if line > maxLines {
			return Plan{}, &ParseError{Line: line, Msg: fmt.Sprintf("more than %d lines", maxLines)}
		}
		s := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			s, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		s = strings.TrimSuffix(s, "\r")
		if len(s) > maxLineLen {
			return Plan{}, &ParseError{Line: line, Msg: fmt.Sprintf("line longer than %d bytes", maxLineLen)}
		}
		f, ok, err := parseLine(s)
		if err != nil {
			return Plan{}, &ParseError{Line: line, Msg: err.Error()}
		}
		if ok {
			p.Faults = append(p.Faults, f)
		}
	}
	return p, nil
}

// ParseFault reads one fault from one line of the text form.
func ParseFault(line string) (Fault, error) {
	line = strings.TrimSuffix(line, "\r")
	if strings.Contains(line, "\n") {
		return Fault{}, fmt.Errorf("fault text spans lines")
	}
	if len(line) > maxLineLen {
		return Fault{}, fmt.Errorf("line longer than %d bytes", maxLineLen)
	}
	f, ok, err := parseLine(line)
	if err != nil {
		return Fault{}, err
	}
	if !ok {
		return Fault{}, fmt.Errorf("no fault on the line")
	}
	return f, nil
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tLParen
	tRParen
	tEq
	tGE
	tLT
)

type token struct {
	kind tokKind
	text string
}

func (t token) describe() string {
	if t.kind == tEOF {
		return "end of line"
	}
	return strconv.Quote(t.text)
}

// lex splits a line into tokens, dropping a trailing comment. Words are runs
// of anything but spaces, tabs, parentheses, "=", "<" and ">"; their
// contents are checked where they are used (a name, a number, a duration).
// Control characters are rejected here so that no error message can contain
// one raw.
func lex(s string) ([]token, error) {
	var toks []token
	// A line of maxLineLen bytes has at most that many tokens; the loop
	// advances at least one byte per turn.
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
			continue
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return append(toks, token{kind: tEOF}), nil
		case c == '(':
			toks = append(toks, token{tLParen, "("})
			i++
			continue
		case c == ')':
			toks = append(toks, token{tRParen, ")"})
			i++
			continue
		case c == '=':
			toks = append(toks, token{tEq, "="})
			i++
			continue
		case c == '<':
			toks = append(toks, token{tLT, "<"})
			i++
			continue
		case c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{tGE, ">="})
				i += 2
				continue
			}
			return nil, fmt.Errorf("unexpected %q (only >= compares)", ">")
		case c < 0x20 || c == 0x7f:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j == i {
			// Unreachable: every byte that does not start a word is
			// handled above. Asserted, since the loop must advance.
			panic("fault: lexer made no progress")
		}
		toks = append(toks, token{tWord, s[i:j]})
		i = j
	}
	return append(toks, token{kind: tEOF}), nil
}

func isWordByte(c byte) bool {
	switch c {
	case ' ', '\t', '(', ')', '=', '<', '>':
		return false
	}
	return c >= 0x20 && c != 0x7f
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

// peek2 returns the token after the next one, or EOF.
func (p *parser) peek2() token {
	if p.pos+1 < len(p.toks) {
		return p.toks[p.pos+1]
	}
	return token{kind: tEOF}
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// parseLine parses one line; ok is false for a blank or comment line.
func parseLine(s string) (f Fault, ok bool, err error) {
	toks, err := lex(s)
	if err != nil {
		return Fault{}, false, err
	}
	p := &parser{toks: toks}
	t := p.next()
	switch t.kind {
	case tEOF:
		return Fault{}, false, nil
	case tWord:
	default:
		return Fault{}, false, fmt.Errorf("expected an action, found %s", t.describe())
	}
	kind, err := ParseActionKind(t.text)
	if err != nil {
		return Fault{}, false, err
	}
	f = Fault{Action: newAction(kind), Times: 1}
	seen := map[string]bool{}
	timesSeen := false
	// Arguments, each KEY=VALUE, until "when" or the end of the line.
	for p.peek().kind == tWord && p.peek().text != "when" {
		key, val, err := p.keyValue()
		if err != nil {
			return Fault{}, false, err
		}
		if key == "times" {
			if timesSeen {
				return Fault{}, false, fmt.Errorf("times= given twice")
			}
			timesSeen = true
			if f.Times, err = parseTimes(val); err != nil {
				return Fault{}, false, err
			}
			continue
		}
		if seen[key] {
			return Fault{}, false, fmt.Errorf("%s: argument %q given twice", kind, key)
		}
		seen[key] = true
		if err := f.Action.setArg(key, val); err != nil {
			return Fault{}, false, err
		}
	}
	if t := p.peek(); t.kind == tWord && t.text == "when" {
		p.next()
		if f.When, err = p.parseOr(1); err != nil {
			return Fault{}, false, err
		}
		if d := f.When.depth(); d > maxExprDepth {
			return Fault{}, false, fmt.Errorf("expression nested deeper than %d", maxExprDepth)
		}
	}
	if t := p.peek(); t.kind == tWord && t.text == "times" && p.peek2().kind == tEq {
		if timesSeen {
			return Fault{}, false, fmt.Errorf("times= given twice")
		}
		_, val, err := p.keyValue()
		if err != nil {
			return Fault{}, false, err
		}
		if f.Times, err = parseTimes(val); err != nil {
			return Fault{}, false, err
		}
	}
	if t := p.peek(); t.kind != tEOF {
		if f.When != nil {
			return Fault{}, false, fmt.Errorf(`expected "and", "or", times=N or end of line after expression, found %s`, t.describe())
		}
		return Fault{}, false, fmt.Errorf("expected ARG=VALUE, when, or end of line, found %s", t.describe())
	}
	if err := f.Validate(); err != nil {
		return Fault{}, false, err
	}
	return f, true, nil
}

// keyValue reads KEY=VALUE.
func (p *parser) keyValue() (key, val string, err error) {
	k := p.next()
	if k.kind != tWord {
		return "", "", fmt.Errorf("expected ARG=VALUE, found %s", k.describe())
	}
	if t := p.next(); t.kind != tEq {
		return "", "", fmt.Errorf("expected \"=\" after %q, found %s", k.text, t.describe())
	}
	v := p.next()
	if v.kind != tWord {
		return "", "", fmt.Errorf("%s=: missing value", k.text)
	}
	return k.text, v.text, nil
}

func parseTimes(val string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 || n > maxTimes {
		return 0, fmt.Errorf("times=: want a count in 0..%d (0: unlimited), got %q", maxTimes, val)
	}
	return n, nil
}

// parseOr parses OR at nesting depth depth (the number of enclosing
// parentheses and nots, plus one).
func (p *parser) parseOr(depth int) (*Expr, error) {
	if depth > maxExprDepth {
		return nil, fmt.Errorf("expression nested deeper than %d", maxExprDepth)
	}
	first, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	args := []*Expr{first}
	for t := p.peek(); t.kind == tWord && t.text == "or"; t = p.peek() {
		p.next()
		e, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return first, nil
	}
	return &Expr{Op: ExprOr, Args: args}, nil
}

func (p *parser) parseAnd(depth int) (*Expr, error) {
	first, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	args := []*Expr{first}
	for t := p.peek(); t.kind == tWord && t.text == "and"; t = p.peek() {
		p.next()
		e, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return first, nil
	}
	return &Expr{Op: ExprAnd, Args: args}, nil
}

func (p *parser) parseUnary(depth int) (*Expr, error) {
	if depth > maxExprDepth {
		return nil, fmt.Errorf("expression nested deeper than %d", maxExprDepth)
	}
	t := p.peek()
	switch {
	case t.kind == tWord && t.text == "not":
		p.next()
		e, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not(e), nil
	case t.kind == tLParen:
		p.next()
		e, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if t := p.next(); t.kind != tRParen {
			return nil, fmt.Errorf(`expected ")" after expression, found %s`, t.describe())
		}
		return e, nil
	case t.kind == tWord:
		return p.parseAtom()
	}
	return nil, fmt.Errorf("expected a condition, found %s", t.describe())
}

// conditionNames are the trigger's conditions, as an error lists them.
const conditionNames = "true, time, step, point, op, file, path, role, proc, nth, prob"

func (p *parser) parseAtom() (*Expr, error) {
	k := p.next()
	if k.text == "true" {
		return AtomExpr(Atom{Kind: AtomTrue}), nil
	}
	cmp := p.next()
	if cmp.kind != tEq && cmp.kind != tGE && cmp.kind != tLT {
		switch k.text {
		case "time", "step", "point", "op", "file", "path", "role", "proc", "nth", "prob", "lock":
			return nil, fmt.Errorf("expected a comparison after %q, found %s", k.text, cmp.describe())
		}
		return nil, fmt.Errorf("unknown condition %q (valid: %s)", k.text, conditionNames)
	}
	v := p.next()
	if v.kind != tWord {
		return nil, fmt.Errorf("%s%s: missing value", k.text, cmp.text)
	}
	a, err := makeAtom(k.text, cmp.kind, v.text)
	if err != nil {
		return nil, err
	}
	return AtomExpr(a), nil
}

// makeAtom builds the atom KEY CMP VAL and validates it.
func makeAtom(key string, cmp tokKind, val string) (Atom, error) {
	var a Atom
	ordered := key == "time" || key == "step"
	switch {
	case ordered && cmp == tEq:
		return Atom{}, fmt.Errorf("%s takes >= or <, not =", key)
	case !ordered && cmp != tEq:
		switch key {
		case "point", "op", "file", "path", "role", "proc", "nth", "prob", "lock":
			return Atom{}, fmt.Errorf("%s takes =", key)
		}
	}
	switch key {
	case "time":
		d, err := parseDuration(val)
		if err != nil {
			return Atom{}, fmt.Errorf("time: %v", err)
		}
		a = Atom{Kind: AtomTimeGE, Dur: d}
		if cmp == tLT {
			a.Kind = AtomTimeLT
		}
	case "step":
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return Atom{}, fmt.Errorf("step: not a count: %q", val)
		}
		a = Atom{Kind: AtomStepGE, N: n}
		if cmp == tLT {
			a.Kind = AtomStepLT
		}
	case "point":
		name, hit, found := strings.Cut(val, "#")
		a = Atom{Kind: AtomPoint, Name: name}
		if found {
			n, err := strconv.ParseUint(hit, 10, 64)
			if err != nil || n == 0 {
				return Atom{}, fmt.Errorf("point=%s: hit must be a count from 1, got %q", name, hit)
			}
			a.Hit = n
		}
	case "op":
		op, err := ParseOpKind(val)
		if err != nil {
			return Atom{}, err
		}
		a = Atom{Kind: AtomOp, Op: op}
	case "file":
		fc, err := ParseFileClass(val)
		if err != nil {
			return Atom{}, err
		}
		a = Atom{Kind: AtomFile, File: fc}
	case "role":
		r, err := ParseRole(val)
		if err != nil {
			return Atom{}, err
		}
		a = Atom{Kind: AtomRole, Role: r}
	case "path":
		a = Atom{Kind: AtomPath, Name: val}
	case "proc":
		a = Atom{Kind: AtomProc, Name: val}
	case "lock":
		a = Atom{Kind: AtomLock, Name: val}
	case "nth":
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return Atom{}, fmt.Errorf("nth: not a count: %q", val)
		}
		a = Atom{Kind: AtomNth, N: n}
	case "prob":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return Atom{}, fmt.Errorf("prob: not a number: %q", val)
		}
		a = Atom{Kind: AtomProb, Prob: f}
	default:
		return Atom{}, fmt.Errorf("unknown condition %q (valid: %s)", key, conditionNames)
	}
	if err := a.Validate(); err != nil {
		return Atom{}, err
	}
	return a, nil
}
