package sqlexec

import (
	"fmt"
	"math"
	"sort"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgdst/pgdst/engine/pgerr"
)

// access is how a statement finds its rows: by primary-key values (pk =
// v, pk IN (...)), or by a primary-key range (the bounds of pk <, <=, >,
// >= conjuncts), else the whole table.
type access struct {
	eq     []expr // nil: no equality on the key
	lo, hi []bound
	// exact: the WHERE clause is only the key equality, so a row found
	// by key needs no other check.
	exact bool
}

type bound struct {
	e      expr
	strict bool
}

// conjuncts flattens a WHERE clause's top-level ANDs.
func conjuncts(e expr) []expr {
	if b, ok := e.(*boolExpr); ok && b.op == pg.BoolExprType_AND_EXPR {
		var out []expr
		for _, a := range b.args {
			out = append(out, conjuncts(a)...)
		}
		return out
	}
	if e == nil {
		return nil
	}
	return []expr{e}
}

// isKeyValue says whether e is a constant or a parameter: a key value
// computed before the scan.
func isKeyValue(e expr) bool {
	switch e.(type) {
	case *constExpr, *paramExpr:
		return true
	}
	return false
}

// chooseAccess is the planner's choice of an index scan on the primary
// key (pgdst's tables have no other index).
func chooseAccess(t *Table, where expr) access {
	var a access
	cs := conjuncts(where)
	for _, c := range cs {
		switch e := c.(type) {
		case *binExpr:
			l, r, op := e.l, e.r, e.op
			if lc, ok := r.(*colExpr); ok && lc.i == t.PK && isKeyValue(l) {
				l, r = r, l
				op = map[string]string{"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
			}
			lc, ok := l.(*colExpr)
			if !ok || lc.i != t.PK || !isKeyValue(r) {
				continue
			}
			switch op {
			case "=":
				if a.eq == nil {
					a.eq = []expr{r}
					a.exact = len(cs) == 1
				}
			case "<":
				a.hi = append(a.hi, bound{r, true})
			case "<=":
				a.hi = append(a.hi, bound{r, false})
			case ">":
				a.lo = append(a.lo, bound{r, true})
			case ">=":
				a.lo = append(a.lo, bound{r, false})
			}
		case *inExpr:
			if lc, ok := e.arg.(*colExpr); ok && lc.i == t.PK && !e.not && a.eq == nil {
				all := true
				for _, v := range e.list {
					all = all && isKeyValue(v)
				}
				if all {
					a.eq = e.list
					a.exact = len(cs) == 1
				}
			}
		}
	}
	return a
}

// keyOf evaluates a key value as an integer (NULL: ok false).
func keyOf(e expr, env *evalEnv) (int64, bool, error) {
	v, err := e.eval(env)
	if err != nil || v.IsNull() {
		return 0, false, err
	}
	if v, err = coerce(v, TypeInt8); err != nil {
		return 0, false, err
	}
	return v.i, true, nil
}

// keys returns the access's key values, sorted and distinct, or ok false
// when it is a range scan.
func (a access) keys(env *evalEnv) ([]int64, bool, error) {
	if a.eq == nil {
		return nil, false, nil
	}
	var ks []int64
	for _, e := range a.eq {
		k, ok, err := keyOf(e, env)
		if err != nil {
			return nil, true, err
		}
		if ok {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	out := ks[:0]
	for i, k := range ks {
		if i == 0 || k != ks[i-1] {
			out = append(out, k)
		}
	}
	return out, true, nil
}

// bounds returns the key range [lo, hi] (empty: ok false).
func (a access) bounds(env *evalEnv) (lo, hi int64, ok bool, err error) {
	lo, hi = math.MinInt64, math.MaxInt64
	for _, b := range a.lo {
		k, nonNull, err := keyOf(b.e, env)
		if err != nil || !nonNull {
			return 0, 0, false, err
		}
		if b.strict {
			if k == math.MaxInt64 {
				return 0, 0, false, nil
			}
			k++
		}
		lo = max(lo, k)
	}
	for _, b := range a.hi {
		k, nonNull, err := keyOf(b.e, env)
		if err != nil || !nonNull {
			return 0, 0, false, err
		}
		if b.strict {
			if k == math.MinInt64 {
				return 0, 0, false, nil
			}
			k--
		}
		hi = min(hi, k)
	}
	return lo, hi, lo <= hi, nil
}

// tableOf resolves a FROM or target relation.
func (x *Session) tableOf(rv *pg.RangeVar, base int) (*Table, string, error) {
	if rv.Schemaname != "" && rv.Schemaname != "public" {
		return nil, "", newErr(CodeUndefinedTable, "relation \"%s.%s\" does not exist", rv.Schemaname, rv.Relname).at(rv.Location, base)
	}
	t, ok := x.cat.Lookup(rv.Relname)
	if !ok {
		return nil, "", newErr(CodeUndefinedTable, "relation \"%s\" does not exist", rv.Relname).at(rv.Location, base)
	}
	alias := t.Name
	if rv.Alias != nil {
		alias = rv.Alias.Aliasname
	}
	return t, alias, nil
}

// row is one row a statement found: its key and columns.
type row struct {
	key  uint64
	vals []Value
}

// fetch returns the rows of t that a's scan finds and where accepts.
func (x *Session) fetch(t *Table, a access, where expr, env *evalEnv) ([]row, error) {
	var out []row
	var ferr error
	visit := func(key uint64, val []byte) bool {
		if ferr = x.checkCancel(); ferr != nil {
			return false
		}
		vals, err := decodeRow(t, key, val)
		if err != nil {
			ferr = err
			return false
		}
		ok, err := qualifies(where, vals, env)
		if err != nil {
			ferr = err
			return false
		}
		if ok {
			out = append(out, row{key: key, vals: vals})
		}
		return true
	}
	ks, byKey, err := a.keys(env)
	if err != nil {
		return nil, err
	}
	if byKey {
		for _, k := range ks {
			val, found, err := x.s.Get(t.Engine, intToKey(k))
			if err != nil {
				return nil, err
			}
			if found && !visit(intToKey(k), val) {
				break
			}
		}
		return out, ferr
	}
	lo, hi, ok, err := a.bounds(env)
	if err != nil || !ok {
		return nil, err
	}
	if err := x.s.Scan(t.Engine, intToKey(lo), intToKey(hi), visit); err != nil {
		return nil, err
	}
	return out, ferr
}

// qualifies evaluates a WHERE clause on a row (NULL is false).
func qualifies(where expr, vals []Value, env *evalEnv) (bool, error) {
	if where == nil {
		return true, nil
	}
	e := *env
	e.row = vals
	v, err := where.eval(&e)
	if err != nil {
		return false, err
	}
	return v.k == kBool && v.i != 0, nil
}

// target is one output column.
type target struct {
	name string
	e    expr
}

// targets compiles a target list (SELECT's or RETURNING's); * expands to
// the table's columns.
func (c *compiler) targets(list []*pg.Node) ([]target, error) {
	var out []target
	for _, n := range list {
		rt := n.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			if c.t == nil {
				return nil, newErr(CodeSyntaxErrorOrAccess, "SELECT * with no tables specified is not valid").at(cr.Location, c.base)
			}
			for i, col := range c.t.Cols {
				out = append(out, target{name: col.Name, e: &colExpr{i: i, t: col.Type}})
			}
			continue
		}
		e, err := c.compile(rt.Val, 0)
		if err != nil {
			return nil, err
		}
		if k, ok := e.(*constExpr); ok && k.t == TypeUnknown {
			e = &constExpr{v: k.v, t: TypeText}
		}
		name := rt.Name
		if name == "" {
			name = figureColname(rt.Val)
		}
		out = append(out, target{name: name, e: e})
	}
	return out, nil
}

// figureColname is FigureColname: a column's name, a function's, a
// cast's type, else ?column?.
func figureColname(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().Fields
		return f[len(f)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall().Funcname
		return f[len(f)-1].GetString_().GetSval()
	case n.GetTypeCast() != nil:
		if name := figureColname(n.GetTypeCast().Arg); name != "?column?" {
			return name
		}
		names := n.GetTypeCast().TypeName.Names
		return names[len(names)-1].GetString_().GetSval()
	case n.GetAConst() != nil && n.GetAConst().GetBoolval() != nil:
		return "bool"
	}
	return "?column?"
}

func cols(ts []target) []ResultCol {
	out := make([]ResultCol, len(ts))
	for i, t := range ts {
		typ := t.e.typ()
		if typ == 0 || typ == TypeUnknown {
			typ = TypeText
		}
		out[i] = ResultCol{Name: t.name, Type: typ}
	}
	return out
}

// returning compiles a DML statement's RETURNING list (empty without
// one) and makes its targets the plan's result columns.
func (c *compiler) returning(p *Plan, list []*pg.Node) ([]target, error) {
	ret, err := c.targets(list)
	if err != nil {
		return nil, err
	}
	if len(ret) > 0 {
		p.Cols = cols(ret)
	}
	return ret, nil
}

// appendReturning adds the RETURNING row of a row the statement changed,
// vals, to res; without a RETURNING list it adds nothing.
func (res *Result) appendReturning(ret []target, vals []Value, env *evalEnv) error {
	if len(ret) == 0 {
		return nil
	}
	out, err := project(ret, vals, env)
	if err != nil {
		return err
	}
	res.Rows = append(res.Rows, out)
	return nil
}

func project(ts []target, vals []Value, env *evalEnv) ([]Value, error) {
	e := *env
	e.row = vals
	out := make([]Value, len(ts))
	for i, t := range ts {
		v, err := t.e.eval(&e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (x *Session) planSelect(p *Plan, ss *pg.SelectStmt) error {
	base := p.Raw.base
	switch {
	case ss.Op != pg.SetOperation_SETOP_NONE:
		return unsupported("UNION/INTERSECT/EXCEPT")
	case len(ss.ValuesLists) > 0:
		return unsupported("VALUES as a query")
	case ss.WithClause != nil:
		return unsupported("WITH")
	case ss.IntoClause != nil:
		return unsupported("SELECT INTO")
	case len(ss.GroupClause) > 0, ss.HavingClause != nil:
		return unsupported("GROUP BY/HAVING")
	case len(ss.DistinctClause) > 0:
		return unsupported("DISTINCT")
	case len(ss.WindowClause) > 0:
		return unsupported("window functions")
	case len(ss.FromClause) > 1:
		return unsupported("a query over several tables (joins)")
	}
	c := &compiler{params: &p.Params, base: base, sess: x}
	if len(ss.FromClause) == 1 {
		rv := ss.FromClause[0].GetRangeVar()
		if rv == nil {
			return unsupported("FROM %s", nodeName(ss.FromClause[0]))
		}
		t, alias, err := x.tableOf(rv, base)
		if err != nil {
			return err
		}
		c.t, c.alias, p.table = t, alias, t
	}
	ts, err := c.targets(ss.TargetList)
	if err != nil {
		return err
	}
	p.Cols = cols(ts)
	var where expr
	if ss.WhereClause != nil {
		if where, err = c.compile(ss.WhereClause, TypeBool); err != nil {
			return err
		}
		if err := c.wantBool(where, -1); err != nil {
			return err
		}
	}
	// ORDER BY: an output column's position or name, or an expression.
	var sortKeys []func(out, in []Value, env *evalEnv) (Value, error)
	var desc, nullsFirst []bool
	for _, n := range ss.SortClause {
		sb := n.GetSortBy()
		if len(sb.UseOp) > 0 {
			return unsupported("ORDER BY ... USING")
		}
		d := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
		desc = append(desc, d)
		nullsFirst = append(nullsFirst, sb.SortbyNulls == pg.SortByNulls_SORTBY_NULLS_FIRST || (d && sb.SortbyNulls == pg.SortByNulls_SORTBY_NULLS_DEFAULT))
		if k := sb.Node.GetAConst(); k != nil && k.GetIval() != nil {
			pos := int(k.GetIval().Ival)
			if pos < 1 || pos > len(ts) {
				return newErr("42P10", "ORDER BY position %d is not in select list", pos).at(k.Location, base)
			}
			sortKeys = append(sortKeys, func(out, _ []Value, _ *evalEnv) (Value, error) { return out[pos-1], nil })
			continue
		}
		if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
			name := cr.Fields[0].GetString_().GetSval()
			found := -1
			for i, t := range ts {
				if t.name == name {
					found = i
					break
				}
			}
			if found >= 0 {
				sortKeys = append(sortKeys, func(out, _ []Value, _ *evalEnv) (Value, error) { return out[found], nil })
				continue
			}
		}
		e, err := c.compile(sb.Node, 0)
		if err != nil {
			return err
		}
		sortKeys = append(sortKeys, func(_, in []Value, env *evalEnv) (Value, error) {
			en := *env
			en.row = in
			return e.eval(&en)
		})
	}
	var limit, offset expr
	if ss.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		return unsupported("FETCH ... WITH TIES")
	}
	if ss.LimitCount != nil {
		if limit, err = c.compile(ss.LimitCount, TypeInt8); err != nil {
			return err
		}
	}
	if ss.LimitOffset != nil {
		if offset, err = c.compile(ss.LimitOffset, TypeInt8); err != nil {
			return err
		}
	}
	lock := false
	for _, n := range ss.LockingClause {
		lc := n.GetLockingClause()
		if lc.WaitPolicy != pg.LockWaitPolicy_LockWaitBlock {
			return unsupported("NOWAIT/SKIP LOCKED")
		}
		lock = true
	}
	if lock && c.t == nil {
		return unsupported("FOR UPDATE without a table")
	}
	t := c.t
	acc := access{}
	if t != nil {
		acc = chooseAccess(t, where)
	}
	p.implicit = t != nil && (lock || len(acc.eq) != 1)
	p.run = func(params []Value) (*Result, error) {
		env := &evalEnv{params: params}
		lim, off, err := limits(limit, offset, env)
		if err != nil {
			return nil, err
		}
		var rows []row
		if t == nil {
			ok, err := qualifies(where, nil, env)
			if err != nil {
				return nil, err
			}
			if ok {
				rows = []row{{}}
			}
		} else if rows, err = x.fetch(t, acc, where, env); err != nil {
			return nil, err
		}
		outs := make([][]Value, len(rows))
		for i, r := range rows {
			if outs[i], err = project(ts, r.vals, env); err != nil {
				return nil, err
			}
		}
		if len(sortKeys) > 0 {
			keys := make([][]Value, len(rows))
			for i := range rows {
				keys[i] = make([]Value, len(sortKeys))
				for j, sk := range sortKeys {
					if keys[i][j], err = sk(outs[i], rows[i].vals, env); err != nil {
						return nil, err
					}
				}
			}
			// Sort the rows and their outputs together.
			perm := make([][]Value, len(rows))
			for i := range perm {
				perm[i] = []Value{Int(int64(i))}
			}
			sortRows(perm, keys, desc, nullsFirst)
			so, sr := make([][]Value, len(rows)), make([]row, len(rows))
			for i, pv := range perm {
				so[i], sr[i] = outs[pv[0].i], rows[pv[0].i]
			}
			outs, rows = so, sr
		}
		res := &Result{}
		for i := range rows {
			if lim >= 0 && int64(len(res.Rows)) >= lim+off {
				break
			}
			if lock {
				// FOR UPDATE and FOR SHARE lock the row the way an
				// UPDATE does (a new version with the same value),
				// re-checking WHERE on the newest version as
				// EvalPlanQual does for LockRows.
				latest, ok, err := x.lockRow(t, rows[i].key, where, env)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				if outs[i], err = project(ts, latest, env); err != nil {
					return nil, err
				}
			}
			res.Rows = append(res.Rows, outs[i])
		}
		if off > 0 {
			if int64(len(res.Rows)) <= off {
				res.Rows = nil
			} else {
				res.Rows = res.Rows[off:]
			}
		}
		res.Tag = fmt.Sprintf("SELECT %d", len(res.Rows))
		return res, nil
	}
	return nil
}

// limits evaluates LIMIT (-1: none) and OFFSET.
func limits(limit, offset expr, env *evalEnv) (lim, off int64, err error) {
	lim = -1
	if limit != nil {
		k, ok, err := keyOf(limit, env)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			if k < 0 {
				return 0, 0, newErr("2201W", "LIMIT must not be negative")
			}
			lim = k
		}
	}
	if offset != nil {
		k, ok, err := keyOf(offset, env)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			if k < 0 {
				return 0, 0, newErr("2201X", "OFFSET must not be negative")
			}
			off = k
		}
	}
	return lim, off, nil
}

// lockRow locks key's row for FOR UPDATE/SHARE and returns its newest
// version, or ok false when that version no longer qualifies or is gone.
func (x *Session) lockRow(t *Table, key uint64, where expr, env *evalEnv) ([]Value, bool, error) {
	var latest []Value
	var ferr error
	done, err := x.s.Modify(t.Engine, key, func(old []byte) ([]byte, bool) {
		vals, err := decodeRow(t, key, old)
		if err != nil {
			ferr = err
			return nil, false
		}
		ok, err := qualifies(where, vals, env)
		if err != nil || !ok {
			ferr = err
			return nil, false
		}
		latest = vals
		return old, true
	})
	if err != nil {
		return nil, false, err
	}
	if ferr != nil {
		return nil, false, ferr
	}
	return latest, done, nil
}

// checkRow coerces a new row's values to the column types and checks
// NOT NULL (ExecConstraints).
func checkRow(t *Table, vals []Value) error {
	for i, c := range t.Cols {
		v, err := coerce(vals[i], c.Type)
		if err != nil {
			return err
		}
		if v.IsNull() && c.NotNull {
			e := newErr(CodeNotNullViolation, "null value in column \"%s\" of relation \"%s\" violates not-null constraint", c.Name, t.Name)
			return e
		}
		vals[i] = v
	}
	return nil
}

// uniqueViolation rewrites the engine's 23505 in PostgreSQL's words.
func uniqueViolation(t *Table, vals []Value, err error) error {
	if pgerr.Is(err, pgerr.UniqueViolation) {
		e := newErr(CodeUniqueViolation, "duplicate key value violates unique constraint \"%s_pkey\"", t.Name)
		e.Detail = fmt.Sprintf("Key (%s)=(%s) already exists.", t.Cols[t.PK].Name, vals[t.PK].String())
		return e
	}
	return err
}

func (x *Session) planInsert(p *Plan, is *pg.InsertStmt) error {
	base := p.Raw.base
	switch {
	case is.OnConflictClause != nil:
		return unsupported("INSERT ... ON CONFLICT")
	case is.WithClause != nil:
		return unsupported("WITH")
	case is.SelectStmt == nil:
		return unsupported("INSERT ... DEFAULT VALUES")
	}
	sel := is.SelectStmt.GetSelectStmt()
	if sel == nil || len(sel.ValuesLists) == 0 {
		return unsupported("INSERT ... SELECT")
	}
	t, alias, err := x.tableOf(is.Relation, base)
	if err != nil {
		return err
	}
	p.table = t
	// The target columns: listed, or all in order.
	var targetCols []int
	if len(is.Cols) == 0 {
		for i := range t.Cols {
			targetCols = append(targetCols, i)
		}
	}
	for _, n := range is.Cols {
		rt := n.GetResTarget()
		i := t.col(rt.Name)
		if i < 0 {
			return newErr(CodeUndefinedColumn, "column \"%s\" of relation \"%s\" does not exist", rt.Name, t.Name).at(rt.Location, base)
		}
		if len(rt.Indirection) > 0 {
			return unsupported("INSERT into a subfield")
		}
		targetCols = append(targetCols, i)
	}
	c := &compiler{params: &p.Params, base: base, sess: x}
	var rows [][]expr
	for _, vl := range sel.ValuesLists {
		items := vl.GetList().GetItems()
		if len(items) > len(targetCols) {
			return newErr(CodeSyntaxError, "INSERT has more expressions than target columns")
		}
		if len(items) < len(targetCols) {
			return newErr(CodeSyntaxError, "INSERT has more target columns than expressions")
		}
		r := make([]expr, len(items))
		for j, it := range items {
			if it.GetSetToDefault() != nil {
				r[j] = &constExpr{v: Null, t: t.Cols[targetCols[j]].Type}
				continue
			}
			e, err := c.compile(it, t.Cols[targetCols[j]].Type)
			if err != nil {
				return err
			}
			if e, err = c.resolveUnknown(e, t.Cols[targetCols[j]].Type, -1); err != nil {
				return err
			}
			r[j] = e
		}
		rows = append(rows, r)
	}
	rc := &compiler{t: t, alias: alias, params: &p.Params, base: base, sess: x}
	ret, err := rc.returning(p, is.ReturningList)
	if err != nil {
		return err
	}
	p.implicit = len(rows) > 1
	p.run = func(params []Value) (*Result, error) {
		env := &evalEnv{params: params}
		res := &Result{}
		for _, r := range rows {
			if err := x.checkCancel(); err != nil {
				return nil, err
			}
			vals := make([]Value, len(t.Cols))
			for j, e := range r {
				v, err := e.eval(env)
				if err != nil {
					return nil, err
				}
				vals[targetCols[j]] = v
			}
			if err := checkRow(t, vals); err != nil {
				return nil, err
			}
			key := intToKey(vals[t.PK].i)
			if err := x.s.Insert(t.Engine, key, encodeRow(t, vals)); err != nil {
				return nil, uniqueViolation(t, vals, err)
			}
			if err := res.appendReturning(ret, vals, env); err != nil {
				return nil, err
			}
		}
		res.Tag = fmt.Sprintf("INSERT 0 %d", len(rows))
		return res, nil
	}
	return nil
}

func (x *Session) planUpdate(p *Plan, us *pg.UpdateStmt) error {
	base := p.Raw.base
	switch {
	case len(us.FromClause) > 0:
		return unsupported("UPDATE ... FROM")
	case us.WithClause != nil:
		return unsupported("WITH")
	}
	t, alias, err := x.tableOf(us.Relation, base)
	if err != nil {
		return err
	}
	p.table = t
	c := &compiler{t: t, alias: alias, params: &p.Params, base: base, sess: x}
	type assign struct {
		col int
		e   expr
	}
	var sets []assign
	for _, n := range us.TargetList {
		rt := n.GetResTarget()
		i := t.col(rt.Name)
		if i < 0 {
			return newErr(CodeUndefinedColumn, "column \"%s\" of relation \"%s\" does not exist", rt.Name, t.Name).at(rt.Location, base)
		}
		if i == t.PK {
			return unsupported("UPDATE of the primary key column").at(rt.Location, base)
		}
		if rt.Val.GetMultiAssignRef() != nil || len(rt.Indirection) > 0 {
			return unsupported("this form of SET")
		}
		var e expr
		if rt.Val.GetSetToDefault() != nil {
			e = &constExpr{v: Null, t: t.Cols[i].Type}
		} else {
			if e, err = c.compile(rt.Val, t.Cols[i].Type); err != nil {
				return err
			}
			if e, err = c.resolveUnknown(e, t.Cols[i].Type, rt.Location); err != nil {
				return err
			}
		}
		sets = append(sets, assign{i, e})
	}
	var where expr
	if us.WhereClause != nil {
		if where, err = c.compile(us.WhereClause, TypeBool); err != nil {
			return err
		}
		if err := c.wantBool(where, -1); err != nil {
			return err
		}
	}
	ret, err := c.returning(p, us.ReturningList)
	if err != nil {
		return err
	}
	acc := chooseAccess(t, where)
	p.implicit = len(acc.eq) != 1
	p.run = func(params []Value) (*Result, error) {
		env := &evalEnv{params: params}
		// The keys to update: by key directly, else what the scan
		// finds (each is re-checked on its newest version below).
		ks, byKey, err := acc.keys(env)
		if err != nil {
			return nil, err
		}
		var keys []uint64
		if byKey {
			for _, k := range ks {
				keys = append(keys, intToKey(k))
			}
		} else {
			rows, err := x.fetch(t, acc, where, env)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				keys = append(keys, r.key)
			}
		}
		res := &Result{}
		n := 0
		for _, key := range keys {
			if err := x.checkCancel(); err != nil {
				return nil, err
			}
			var ferr error
			var newVals []Value
			done, err := x.s.Modify(t.Engine, key, func(old []byte) ([]byte, bool) {
				// ExecUpdate's target list over the version being
				// updated, after EvalPlanQual's re-check of WHERE.
				vals, err := decodeRow(t, key, old)
				if err != nil {
					ferr = err
					return nil, false
				}
				ok, err := qualifies(where, vals, env)
				if err != nil || !ok {
					ferr = err
					return nil, false
				}
				en := *env
				en.row = vals
				nv := append([]Value(nil), vals...)
				for _, s := range sets {
					v, err := s.e.eval(&en)
					if err != nil {
						ferr = err
						return nil, false
					}
					nv[s.col] = v
				}
				if err := checkRow(t, nv); err != nil {
					ferr = err
					return nil, false
				}
				newVals = nv
				return encodeRow(t, nv), true
			})
			if err != nil {
				return nil, err
			}
			if ferr != nil {
				return nil, ferr
			}
			if !done {
				continue
			}
			n++
			if err := res.appendReturning(ret, newVals, env); err != nil {
				return nil, err
			}
		}
		res.Tag = fmt.Sprintf("UPDATE %d", n)
		return res, nil
	}
	return nil
}

func (x *Session) planDelete(p *Plan, ds *pg.DeleteStmt) error {
	base := p.Raw.base
	switch {
	case len(ds.UsingClause) > 0:
		return unsupported("DELETE ... USING")
	case ds.WithClause != nil:
		return unsupported("WITH")
	}
	t, alias, err := x.tableOf(ds.Relation, base)
	if err != nil {
		return err
	}
	p.table = t
	c := &compiler{t: t, alias: alias, params: &p.Params, base: base, sess: x}
	var where expr
	if ds.WhereClause != nil {
		if where, err = c.compile(ds.WhereClause, TypeBool); err != nil {
			return err
		}
		if err := c.wantBool(where, -1); err != nil {
			return err
		}
	}
	ret, err := c.returning(p, ds.ReturningList)
	if err != nil {
		return err
	}
	acc := chooseAccess(t, where)
	direct := acc.exact && len(acc.eq) == 1 && len(ret) == 0
	p.implicit = !direct
	p.run = func(params []Value) (*Result, error) {
		env := &evalEnv{params: params}
		res := &Result{}
		if direct {
			ks, _, err := acc.keys(env)
			if err != nil || len(ks) == 0 {
				return &Result{Tag: "DELETE 0"}, err
			}
			done, err := x.s.Delete(t.Engine, intToKey(ks[0]))
			if err != nil {
				return nil, err
			}
			if done {
				return &Result{Tag: "DELETE 1"}, nil
			}
			return &Result{Tag: "DELETE 0"}, nil
		}
		rows, err := x.fetch(t, acc, where, env)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, r := range rows {
			if err := x.checkCancel(); err != nil {
				return nil, err
			}
			done, err := x.s.Delete(t.Engine, r.key)
			if err != nil {
				return nil, err
			}
			if !done {
				continue
			}
			n++
			if err := res.appendReturning(ret, r.vals, env); err != nil {
				return nil, err
			}
		}
		res.Tag = fmt.Sprintf("DELETE %d", n)
		return res, nil
	}
	return nil
}
