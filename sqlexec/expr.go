package sqlexec

import (
	"fmt"
	"math"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// expr is a compiled expression: evaluated over a row of the statement's
// table (nil for a statement without one) and the bound parameters.
type expr interface {
	eval(env *evalEnv) (Value, error)
	typ() Type
}

// evalEnv is what an expression sees while it runs.
type evalEnv struct {
	row    []Value
	params []Value
}

// compiler compiles a statement's expressions.
type compiler struct {
	t      *Table // the FROM table, nil when none
	alias  string // the name the table goes by in the statement
	params *[]Type
	base   int // the statement's byte offset in the query string, for positions
	sess   *Session
}

type constExpr struct {
	v Value
	t Type
}

func (c *constExpr) eval(*evalEnv) (Value, error) { return c.v, nil }
func (c *constExpr) typ() Type                    { return c.t }

type colExpr struct {
	i int
	t Type
}

func (c *colExpr) eval(env *evalEnv) (Value, error) { return env.row[c.i], nil }
func (c *colExpr) typ() Type                        { return c.t }

type paramExpr struct {
	n     int
	types *[]Type
}

func (p *paramExpr) eval(env *evalEnv) (Value, error) { return env.params[p.n], nil }
func (p *paramExpr) typ() Type                        { return (*p.types)[p.n] }

// setHint gives an untyped parameter the type its context wants
// (PostgreSQL's parameter type inference, coerce_type on UNKNOWNOID).
func setHint(e expr, t Type) {
	if p, ok := e.(*paramExpr); ok && (*p.types)[p.n] == 0 && t != 0 && t != TypeUnknown {
		(*p.types)[p.n] = t
	}
}

// resolveUnknown turns an untyped literal into type t at compile time,
// as PostgreSQL resolves an unknown literal against the other operand.
func (c *compiler) resolveUnknown(e expr, t Type, loc int32) (expr, error) {
	k, ok := e.(*constExpr)
	if !ok || k.t != TypeUnknown || t == TypeUnknown || t == 0 {
		return e, nil
	}
	v, err := coerce(k.v, t)
	if err != nil {
		return nil, AsError(err).at(loc, c.base)
	}
	return &constExpr{v: v, t: t}, nil
}

type binExpr struct {
	op   string
	l, r expr
	t    Type
}

func (b *binExpr) typ() Type { return b.t }

func (b *binExpr) eval(env *evalEnv) (Value, error) {
	l, err := b.l.eval(env)
	if err != nil {
		return Null, err
	}
	r, err := b.r.eval(env)
	if err != nil {
		return Null, err
	}
	if l.k == kNull || r.k == kNull {
		return Null, nil
	}
	switch b.op {
	case "+", "-", "*", "/", "%":
		return arith(b.op, l, r, b.t)
	case "||":
		return Text(l.String() + r.String()), nil
	}
	c, err := compare(l, r)
	if err != nil {
		return Null, err
	}
	switch b.op {
	case "=":
		return Bool(c == 0), nil
	case "<>", "!=":
		return Bool(c != 0), nil
	case "<":
		return Bool(c < 0), nil
	case "<=":
		return Bool(c <= 0), nil
	case ">":
		return Bool(c > 0), nil
	case ">=":
		return Bool(c >= 0), nil
	}
	return Null, newErr(CodeInternalError, "unknown operator %s", b.op)
}

// arith is int4pl, int8mi and friends, with their overflow checks.
func arith(op string, l, r Value, t Type) (Value, error) {
	if l.k != kInt || r.k != kInt {
		return Null, newErr(CodeUndefinedFunction, "operator does not exist: %s %s %s", kindType(l.k), op, kindType(r.k))
	}
	a, b := l.i, r.i
	var v int64
	overflow := false
	switch op {
	case "+":
		v = a + b
		overflow = (a > 0 && b > 0 && v < 0) || (a < 0 && b < 0 && v >= 0)
	case "-":
		v = a - b
		overflow = (a >= 0 && b < 0 && v < 0) || (a < 0 && b > 0 && v >= 0)
	case "*":
		v = a * b
		overflow = a != 0 && (v/a != b || (a == -1 && b == math.MinInt64))
	case "/", "%":
		if b == 0 {
			return Null, newErr(CodeDivisionByZero, "division by zero")
		}
		if a == math.MinInt64 && b == -1 {
			if op == "%" {
				return Int(0), nil
			}
			overflow = true
		} else if op == "/" {
			v = a / b
		} else {
			v = a % b
		}
	}
	if overflow {
		return Null, outOfRange(t)
	}
	if t == TypeInt4 && (v < math.MinInt32 || v > math.MaxInt32) {
		return Null, outOfRange(t)
	}
	return Int(v), nil
}

func outOfRange(t Type) error {
	if t == TypeInt4 {
		return newErr(CodeNumericValueOutOfRange, "integer out of range")
	}
	return newErr(CodeNumericValueOutOfRange, "bigint out of range")
}

// compare orders two non-null values of comparable kinds; text compares
// bytewise (the C collation).
func compare(l, r Value) (int, error) {
	if l.k != r.k {
		// An untyped parameter's text against an integer: coerce it.
		switch {
		case l.k == kInt && r.k == kText:
			v, err := coerce(r, TypeInt8)
			if err != nil {
				return 0, err
			}
			r = v
		case l.k == kText && r.k == kInt:
			v, err := coerce(l, TypeInt8)
			if err != nil {
				return 0, err
			}
			l = v
		default:
			return 0, newErr(CodeUndefinedFunction, "operator does not exist: %s = %s", kindType(l.k), kindType(r.k))
		}
	}
	switch l.k {
	case kInt, kBool:
		switch {
		case l.i < r.i:
			return -1, nil
		case l.i > r.i:
			return 1, nil
		}
		return 0, nil
	}
	return strings.Compare(l.s, r.s), nil
}

type boolExpr struct {
	op   pg.BoolExprType
	args []expr
}

func (b *boolExpr) typ() Type { return TypeBool }

// eval is SQL's three-valued AND, OR and NOT.
func (b *boolExpr) eval(env *evalEnv) (Value, error) {
	if b.op == pg.BoolExprType_NOT_EXPR {
		v, err := b.args[0].eval(env)
		if err != nil || v.k == kNull {
			return Null, err
		}
		return Bool(v.i == 0), nil
	}
	sawNull := false
	for _, a := range b.args {
		v, err := a.eval(env)
		if err != nil {
			return Null, err
		}
		if v.k == kNull {
			sawNull = true
			continue
		}
		if b.op == pg.BoolExprType_AND_EXPR && v.i == 0 {
			return Bool(false), nil
		}
		if b.op == pg.BoolExprType_OR_EXPR && v.i != 0 {
			return Bool(true), nil
		}
	}
	if sawNull {
		return Null, nil
	}
	return Bool(b.op == pg.BoolExprType_AND_EXPR), nil
}

type nullTest struct {
	arg expr
	not bool
}

func (n *nullTest) typ() Type { return TypeBool }
func (n *nullTest) eval(env *evalEnv) (Value, error) {
	v, err := n.arg.eval(env)
	if err != nil {
		return Null, err
	}
	return Bool(v.IsNull() != n.not), nil
}

type inExpr struct {
	arg  expr
	list []expr
	not  bool
}

func (in *inExpr) typ() Type { return TypeBool }

// eval is x IN (a, b, ...): true on a match, NULL when there is none but
// a NULL was met, as the ORed equalities it stands for.
func (in *inExpr) eval(env *evalEnv) (Value, error) {
	v, err := in.arg.eval(env)
	if err != nil || v.k == kNull {
		return Null, err
	}
	sawNull := false
	for _, e := range in.list {
		w, err := e.eval(env)
		if err != nil {
			return Null, err
		}
		if w.k == kNull {
			sawNull = true
			continue
		}
		c, err := compare(v, w)
		if err != nil {
			return Null, err
		}
		if c == 0 {
			return Bool(!in.not), nil
		}
	}
	if sawNull {
		return Null, nil
	}
	return Bool(in.not), nil
}

type negExpr struct{ arg expr }

func (n *negExpr) typ() Type { return n.arg.typ() }
func (n *negExpr) eval(env *evalEnv) (Value, error) {
	v, err := n.arg.eval(env)
	if err != nil || v.k == kNull {
		return Null, err
	}
	if v.k != kInt {
		return Null, newErr(CodeUndefinedFunction, "operator does not exist: - %s", kindType(v.k))
	}
	if v.i == math.MinInt64 {
		return Null, outOfRange(TypeInt8)
	}
	return checkRangeErr(-v.i, n.typ())
}

func checkRangeErr(i int64, t Type) (Value, error) {
	if t == TypeInt4 && (i < math.MinInt32 || i > math.MaxInt32) {
		return Null, outOfRange(t)
	}
	return Int(i), nil
}

type castExpr struct {
	arg expr
	t   Type
}

func (c *castExpr) typ() Type { return c.t }
func (c *castExpr) eval(env *evalEnv) (Value, error) {
	v, err := c.arg.eval(env)
	if err != nil {
		return Null, err
	}
	if v.k == kBool && (c.t == TypeInt4 || c.t == TypeInt8) {
		return Int(v.i), nil
	}
	return coerce(v, c.t)
}

// funcExpr is a function of no arguments computed by the session
// (version(), current_setting is not among them).
type funcExpr struct {
	f func() Value
	t Type
}

func (f *funcExpr) typ() Type                    { return f.t }
func (f *funcExpr) eval(*evalEnv) (Value, error) { return f.f(), nil }

// typeByName maps a TypeName onto a Type (int, integer, int4, bigint,
// int8, text, varchar, boolean).
func typeByName(tn *pg.TypeName) (Type, string, bool) {
	if tn == nil || len(tn.Names) == 0 {
		return 0, "", false
	}
	name := tn.Names[len(tn.Names)-1].GetString_().GetSval()
	if len(tn.ArrayBounds) > 0 {
		return 0, name + "[]", false
	}
	switch name {
	case "int4", "int", "integer":
		return TypeInt4, name, true
	case "int8", "bigint":
		return TypeInt8, name, true
	case "text", "varchar":
		return TypeText, name, true
	case "bool", "boolean":
		return TypeBool, name, true
	}
	return 0, name, false
}

// compile compiles n; hint is the type the context wants (0: none), used
// for untyped parameters.
func (c *compiler) compile(n *pg.Node, hint Type) (expr, error) {
	switch {
	case n.GetAConst() != nil:
		return c.constant(n.GetAConst())
	case n.GetColumnRef() != nil:
		return c.column(n.GetColumnRef())
	case n.GetParamRef() != nil:
		p := n.GetParamRef()
		i := int(p.Number) - 1
		if i < 0 || i >= 65535 {
			return nil, newErr(CodeUndefinedParameter, "there is no parameter $%d", p.Number).at(p.Location, c.base)
		}
		for len(*c.params) <= i {
			*c.params = append(*c.params, 0)
		}
		e := &paramExpr{n: i, types: c.params}
		setHint(e, hint)
		return e, nil
	case n.GetAExpr() != nil:
		return c.aexpr(n.GetAExpr(), hint)
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		be := &boolExpr{op: b.Boolop}
		for _, a := range b.Args {
			e, err := c.compile(a, TypeBool)
			if err != nil {
				return nil, err
			}
			if err := c.wantBool(e, b.Location); err != nil {
				return nil, err
			}
			be.args = append(be.args, e)
		}
		return be, nil
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		e, err := c.compile(nt.Arg, 0)
		if err != nil {
			return nil, err
		}
		return &nullTest{arg: e, not: nt.Nulltesttype == pg.NullTestType_IS_NOT_NULL}, nil
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		t, name, ok := typeByName(tc.TypeName)
		if !ok {
			return nil, unsupported("type %q", name).at(tc.Location, c.base)
		}
		e, err := c.compile(tc.Arg, t)
		if err != nil {
			return nil, err
		}
		if k, ok := e.(*constExpr); ok {
			v, err := (&castExpr{arg: k, t: t}).eval(nil)
			if err != nil {
				return nil, AsError(err).at(tc.Location, c.base)
			}
			return &constExpr{v: v, t: t}, nil
		}
		return &castExpr{arg: e, t: t}, nil
	case n.GetFuncCall() != nil:
		return c.funcCall(n.GetFuncCall())
	}
	return nil, unsupported("expression %s", nodeName(n)).at(nodeLocation(n), c.base)
}

func (c *compiler) wantBool(e expr, loc int32) error {
	setHint(e, TypeBool)
	if t := e.typ(); t != TypeBool && t != 0 && t != TypeUnknown {
		return newErr(CodeDatatypeMismatch, "argument of WHERE must be type boolean, not type %s", t).at(loc, c.base)
	}
	return nil
}

func (c *compiler) constant(k *pg.A_Const) (expr, error) {
	if k.Isnull {
		return &constExpr{v: Null, t: TypeUnknown}, nil
	}
	switch v := k.Val.(type) {
	case *pg.A_Const_Ival:
		return &constExpr{v: Int(int64(v.Ival.Ival)), t: TypeInt4}, nil
	case *pg.A_Const_Fval:
		// An integer too large for int4 is a T_Float in the parse tree;
		// make_const turns it into int8 when it fits.
		s := v.Fval.Fval
		if val, err := coerce(Text(s), TypeInt8); err == nil {
			return &constExpr{v: val, t: TypeInt8}, nil
		}
		return nil, unsupported("numeric constant %s", s).at(k.Location, c.base)
	case *pg.A_Const_Sval:
		return &constExpr{v: Text(v.Sval.Sval), t: TypeUnknown}, nil
	case *pg.A_Const_Boolval:
		return &constExpr{v: Bool(v.Boolval.Boolval), t: TypeBool}, nil
	}
	return nil, unsupported("constant").at(k.Location, c.base)
}

func (c *compiler) column(cr *pg.ColumnRef) (expr, error) {
	var names []string
	for _, f := range cr.Fields {
		if f.GetAStar() != nil {
			return nil, unsupported("* in an expression").at(cr.Location, c.base)
		}
		names = append(names, f.GetString_().GetSval())
	}
	if c.t == nil {
		return nil, newErr(CodeUndefinedColumn, "column \"%s\" does not exist", strings.Join(names, ".")).at(cr.Location, c.base)
	}
	name := names[len(names)-1]
	if len(names) > 2 || (len(names) == 2 && names[0] != c.alias) {
		return nil, newErr(CodeUndefinedTable, "missing FROM-clause entry for table \"%s\"", names[0]).at(cr.Location, c.base)
	}
	i := c.t.col(name)
	if i < 0 {
		return nil, newErr(CodeUndefinedColumn, "column \"%s\" does not exist", strings.Join(names, ".")).at(cr.Location, c.base)
	}
	return &colExpr{i: i, t: c.t.Cols[i].Type}, nil
}

func (c *compiler) aexpr(a *pg.A_Expr, hint Type) (expr, error) {
	op := ""
	if len(a.Name) == 1 {
		op = a.Name[0].GetString_().GetSval()
	}
	switch a.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
	case pg.A_Expr_Kind_AEXPR_IN:
		l, err := c.compile(a.Lexpr, 0)
		if err != nil {
			return nil, err
		}
		in := &inExpr{arg: l, not: op == "<>"}
		for _, item := range a.Rexpr.GetList().GetItems() {
			e, err := c.compile(item, l.typ())
			if err != nil {
				return nil, err
			}
			if e, err = c.resolveUnknown(e, l.typ(), a.Location); err != nil {
				return nil, err
			}
			setHint(l, e.typ())
			in.list = append(in.list, e)
		}
		return in, nil
	default:
		return nil, unsupported("operator kind %s", strings.TrimPrefix(a.Kind.String(), "AEXPR_")).at(a.Location, c.base)
	}
	switch op {
	case "=", "<>", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "||":
	default:
		return nil, unsupported("operator %s", op).at(a.Location, c.base)
	}
	arith := op == "+" || op == "-" || op == "*" || op == "/" || op == "%"
	if a.Lexpr == nil { // prefix operator
		if op != "-" && op != "+" {
			return nil, unsupported("prefix operator %s", op).at(a.Location, c.base)
		}
		r, err := c.compile(a.Rexpr, orDefault(hint, TypeInt8))
		if err != nil {
			return nil, err
		}
		if k, ok := r.(*constExpr); ok && k.v.k == kInt && op == "-" {
			v, err := (&negExpr{arg: k}).eval(nil)
			if err != nil {
				return nil, AsError(err).at(a.Location, c.base)
			}
			return &constExpr{v: v, t: k.t}, nil
		}
		if op == "+" {
			return r, nil
		}
		return &negExpr{arg: r}, nil
	}
	l, err := c.compile(a.Lexpr, 0)
	if err != nil {
		return nil, err
	}
	r, err := c.compile(a.Rexpr, l.typ())
	if err != nil {
		return nil, err
	}
	setHint(l, r.typ())
	if arith {
		setHint(l, orDefault(hint, TypeInt8))
		setHint(r, orDefault(hint, TypeInt8))
	}
	if l, err = c.resolveUnknown(l, r.typ(), a.Location); err != nil {
		return nil, err
	}
	if r, err = c.resolveUnknown(r, l.typ(), a.Location); err != nil {
		return nil, err
	}
	t := TypeBool
	switch {
	case arith:
		lt, rt := l.typ(), r.typ()
		if !isInt(lt) || !isInt(rt) {
			return nil, newErr(CodeUndefinedFunction, "operator does not exist: %s %s %s", lt, op, rt).at(a.Location, c.base)
		}
		t = TypeInt8
		if lt == TypeInt4 && rt == TypeInt4 {
			t = TypeInt4
		}
	case op == "||":
		t = TypeText
	default:
		lt, rt := l.typ(), r.typ()
		if lt != 0 && rt != 0 && lt != TypeUnknown && rt != TypeUnknown && (isInt(lt) != isInt(rt) || (!isInt(lt) && lt != rt)) {
			return nil, newErr(CodeUndefinedFunction, "operator does not exist: %s %s %s", lt, op, rt).at(a.Location, c.base)
		}
	}
	return &binExpr{op: op, l: l, r: r, t: t}, nil
}

func isInt(t Type) bool { return t == TypeInt4 || t == TypeInt8 }

func orDefault(t, d Type) Type {
	if t == 0 || t == TypeUnknown || t == TypeBool {
		return d
	}
	return t
}

func (c *compiler) funcCall(f *pg.FuncCall) (expr, error) {
	name := f.Funcname[len(f.Funcname)-1].GetString_().GetSval()
	if len(f.Args) == 0 && !f.AggStar {
		switch name {
		case "version":
			return &funcExpr{f: func() Value { return Text(VersionString) }, t: TypeText}, nil
		case "pg_backend_pid":
			pid := c.sess.PID
			return &funcExpr{f: func() Value { return Int(int64(pid)) }, t: TypeInt4}, nil
		}
	}
	if name == "pg_isolation_test_session_is_blocked" && len(f.Args) == 2 && !f.AggStar && !f.FuncVariadic {
		return c.isBlockedCall(f)
	}
	return nil, unsupported("function %s()", name).at(f.Location, c.base)
}

// isBlockedExpr is pg_isolation_test_session_is_blocked(pid, interesting):
// the second argument is an int[] literal's text ('{1,2}'), the form
// isolationtester sends it in; pgdst serve has no array type.
type isBlockedExpr struct {
	cat              *Catalog
	pid, interesting expr
}

func (b *isBlockedExpr) typ() Type { return TypeBool }
func (b *isBlockedExpr) eval(env *evalEnv) (Value, error) {
	pid, err := b.pid.eval(env)
	if err != nil {
		return Null, err
	}
	arr, err := b.interesting.eval(env)
	if err != nil {
		return Null, err
	}
	if pid.IsNull() || arr.IsNull() {
		return Null, nil // strict
	}
	pids, err := parseIntArray(arr.String())
	if err != nil {
		return Null, err
	}
	return Bool(b.cat.isolationTestSessionIsBlocked(int(pid.i), pids)), nil
}

func (c *compiler) isBlockedCall(f *pg.FuncCall) (expr, error) {
	pid, err := c.compile(f.Args[0], TypeInt4)
	if err != nil {
		return nil, err
	}
	if pid, err = c.resolveUnknown(pid, TypeInt4, nodeLocation(f.Args[0])); err != nil {
		return nil, err
	}
	if !isInt(pid.typ()) {
		return nil, newErr(CodeUndefinedFunction, "function pg_isolation_test_session_is_blocked(%s, ...) does not exist", pid.typ()).at(f.Location, c.base)
	}
	arr, err := c.compile(f.Args[1], TypeText)
	if err != nil {
		return nil, err
	}
	if t := arr.typ(); t != TypeText && t != TypeUnknown {
		return nil, newErr(CodeUndefinedFunction, "function pg_isolation_test_session_is_blocked(integer, %s) does not exist", t).at(f.Location, c.base)
	}
	return &isBlockedExpr{cat: c.sess.cat, pid: pid, interesting: arr}, nil
}

// nodeName names a parse node's kind for an error message.
func nodeName(n *pg.Node) string {
	if n == nil || n.Node == nil {
		return "(empty)"
	}
	s := strings.TrimPrefix(strings.TrimPrefix(typeName(n.Node), "*pg_query.Node_"), "*pg_query.")
	return s
}

// nodeLocation is a node's location when it has one (-1 otherwise).
func nodeLocation(n *pg.Node) int32 {
	switch v := n.Node.(type) {
	case *pg.Node_SubLink:
		return v.SubLink.Location
	case *pg.Node_CaseExpr:
		return v.CaseExpr.Location
	case *pg.Node_AArrayExpr:
		return v.AArrayExpr.Location
	}
	return -1
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
