package sqlexec

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// ServerVersion is what server_version reports: PostgreSQL 15's protocol
// and SQL, as far as pgdst serve speaks them (psql reads this number to
// decide which catalog queries it may send).
const ServerVersion = "15.0"

// VersionString is version()'s result.
const VersionString = "PostgreSQL 15.0 (pgdst serve) on x86_64-pc-linux-gnu, compiled by Go, 64-bit"

// Session is one client connection's SQL state over an engine session:
// the transaction block's state as ReadyForQuery reports it, and the
// session's settings (SET/SHOW).
type Session struct {
	// PID is the backend's process id as BackendKeyData gave it.
	PID int
	d   *db.DB
	s   *db.Session
	cat *Catalog
	// failed says a statement failed in the open transaction block in
	// this layer (the engine's own failures it tracks itself):
	// TBLOCK_ABORT, where only ROLLBACK or COMMIT are accepted.
	failed bool
	// queries counts the statements run in the open block, for SET
	// TRANSACTION, which must come first.
	queries  int
	iso      db.Isolation // the open block's isolation level
	readOnly bool
	settings map[string]string
	canceled atomic.Bool
	// notices are the NOTICEs and WARNINGs of the statement running,
	// sent before its result.
	notices []*Error
	// reported are the GUC_REPORT settings a SET changed, sent as
	// ParameterStatus after the statement.
	reported map[string]string
}

// ReportedSettings are the parameters PostgreSQL reports to the client
// at startup and whenever they change (GUC_REPORT), with pgdst serve's
// values.
func (x *Session) ReportedSettings() [][2]string {
	names := []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only", "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding", "server_version", "session_authorization", "standard_conforming_strings", "TimeZone"}
	out := make([][2]string, 0, len(names))
	for _, n := range names {
		out = append(out, [2]string{n, x.settings[strings.ToLower(n)]})
	}
	return out
}

// NewSession wraps an engine session. user and app are the startup
// message's user and application_name.
func NewSession(d *db.DB, s *db.Session, cat *Catalog, pid int, user, app string) *Session {
	settings := map[string]string{
		"application_name":              app,
		"client_encoding":               "UTF8",
		"datestyle":                     "ISO, MDY",
		"default_transaction_isolation": "read committed",
		"default_transaction_read_only": "off",
		"in_hot_standby":                "off",
		"integer_datetimes":             "on",
		"intervalstyle":                 "postgres",
		"is_superuser":                  "on",
		"server_encoding":               "UTF8",
		"server_version":                ServerVersion,
		"server_version_num":            "150000",
		"session_authorization":         user,
		"standard_conforming_strings":   "on",
		"timezone":                      "UTC",
		"fsync":                         "on",
		"synchronous_commit":            "on",
		"max_connections":               fmt.Sprint(d.Config().MaxConnections),
		"search_path":                   `"$user", public`,
		"lc_collate":                    "C",
		"lc_ctype":                      "C",
		"extra_float_digits":            "1",
		"deadlock_timeout":              "1s",
	}
	x := &Session{PID: pid, d: d, s: s, cat: cat, settings: settings}
	cat.status.add(x)
	return x
}

// Status is ReadyForQuery's transaction status: 'I' idle, 'T' in a
// transaction block, 'E' in a failed one.
func (x *Session) Status() byte {
	open, failed := x.s.InTransactionBlock()
	switch {
	case !open:
		return 'I'
	case failed || x.failed:
		return 'E'
	}
	return 'T'
}

// MarkFailed records that an error was reported: in a transaction block
// it aborts the block (only ROLLBACK or COMMIT are accepted after it).
func (x *Session) MarkFailed() {
	if x.inBlock() {
		x.failed = true
	}
}

func (x *Session) inBlock() bool {
	open, _ := x.s.InTransactionBlock()
	return open
}

// Cancel is a CancelRequest for this session: the running statement
// stops at its next row or its lock wait with 57014.
func (x *Session) Cancel() {
	x.canceled.Store(true)
	x.s.Cancel()
}

func (x *Session) checkCancel() error {
	if x.canceled.Load() {
		return newErr(CodeQueryCanceled, "canceling statement due to user request")
	}
	return nil
}

// TakeNotices returns the notices the last statement raised.
func (x *Session) TakeNotices() []*Error {
	n := x.notices
	x.notices = nil
	return n
}

// TakeReported returns the reported settings the last statement changed.
func (x *Session) TakeReported() map[string]string {
	r := x.reported
	x.reported = nil
	return r
}

func (x *Session) notice(severity, code, format string, args ...any) {
	x.notices = append(x.notices, &Error{Severity: severity, Code: code, Message: fmt.Sprintf(format, args...)})
}

// RawStmt is one statement of a query string, parsed.
type RawStmt struct {
	node *pg.Node
	// SQL is the statement's text; base its byte offset in the query.
	SQL  string
	base int
}

// Parse splits a query string into its statements with PostgreSQL's
// parser. A syntax error is 42601 with the position it points at, as
// PostgreSQL reports it. An empty query has no statements.
func Parse(query string) ([]*RawStmt, error) {
	res, err := pg.Parse(query)
	if err != nil {
		e := &Error{Code: CodeSyntaxError, Message: err.Error()}
		if pe, ok := err.(*pgparser.Error); ok {
			e.Message = pe.Message
			e.Position = pe.Cursorpos
		}
		return nil, e
	}
	out := make([]*RawStmt, 0, len(res.Stmts))
	for _, rs := range res.Stmts {
		start := int(rs.StmtLocation)
		end := len(query)
		if rs.StmtLen > 0 {
			end = start + int(rs.StmtLen)
		}
		if start < 0 || start > end || end > len(query) {
			start, end = 0, len(query)
		}
		out = append(out, &RawStmt{node: rs.Stmt, SQL: query[start:end], base: start})
	}
	return out, nil
}

// IsDML reports whether the plan is a SELECT, INSERT, UPDATE or DELETE.
func (p *Plan) IsDML() bool { return AllDML([]*RawStmt{p.Raw}) }

// AllDML reports whether every statement is a SELECT, INSERT, UPDATE or
// DELETE: a message of several such statements runs as one implicit
// transaction (BeginImplicit).
func AllDML(stmts []*RawStmt) bool {
	for _, st := range stmts {
		n := st.node
		if n.GetSelectStmt() == nil && n.GetInsertStmt() == nil && n.GetUpdateStmt() == nil && n.GetDeleteStmt() == nil {
			return false
		}
	}
	return true
}

// BeginImplicit starts the implicit transaction block of a simple Query
// message with several statements (exec_simple_query's
// BeginImplicitTransactionBlock): they commit together, or an error rolls
// all of them back.
func (x *Session) BeginImplicit() error {
	if err := x.s.Begin(db.ReadCommitted); err != nil {
		return err
	}
	x.failed, x.queries, x.iso, x.readOnly = false, 0, db.ReadCommitted, false
	return nil
}

// EndImplicit ends the implicit block: commit, or roll back after an
// error.
func (x *Session) EndImplicit() error {
	if !x.inBlock() {
		return nil
	}
	if x.Status() == 'E' {
		x.failed = false
		return x.s.Rollback()
	}
	return AsErrorOrNil(x.s.Commit())
}

// AsErrorOrNil is AsError, keeping nil.
func AsErrorOrNil(err error) error {
	if err == nil {
		return nil
	}
	return AsError(err)
}

// ResultCol is one column of a statement's result.
type ResultCol struct {
	Name string
	Type Type
}

// Result is what a statement returned.
type Result struct {
	Rows [][]Value
	Tag  string
}

// Plan is a statement planned against the catalog: its parameter types,
// result columns (none for a statement that returns no rows) and how to
// run it.
type Plan struct {
	Raw    *RawStmt
	Params []Type
	Cols   []ResultCol
	// txControl: the statement is BEGIN, COMMIT, ROLLBACK and the like,
	// which do not count as the block's queries; endsBlock: COMMIT or
	// ROLLBACK, the only statements a failed block accepts.
	txControl bool
	endsBlock bool
	// implicit: the statement makes several engine calls that must be
	// one transaction; outside a block it gets an implicit one.
	implicit bool
	table    *Table
	run      func(params []Value) (*Result, error)
}

// Prepare plans raw; paramOIDs are the types the client gave for its
// parameters (0 or missing: inferred from the statement).
func (x *Session) Prepare(raw *RawStmt, paramOIDs []uint32) (*Plan, error) {
	types := make([]Type, len(paramOIDs))
	for i, o := range paramOIDs {
		switch Type(o) {
		case 0, TypeInt4, TypeInt8, TypeText, TypeBool, TypeUnknown:
			types[i] = Type(o)
			if types[i] == TypeUnknown {
				types[i] = 0
			}
		default:
			return nil, unsupported("parameter type %d", o)
		}
	}
	p := &Plan{Raw: raw, Params: types}
	if err := x.plan(p); err != nil {
		return nil, err
	}
	for i, t := range p.Params {
		if t == 0 {
			p.Params[i] = TypeText // an untyped parameter nothing constrains: text
		}
	}
	return p, nil
}

// Execute runs a plan with its bound parameters. In a failed transaction
// block only transaction control runs (25P02 otherwise). Outside a block a
// statement is its own transaction.
func (x *Session) Execute(p *Plan, params []Value) (*Result, error) {
	x.canceled.Store(false)
	x.s.ClearCancel()
	if x.Status() == 'E' && !p.endsBlock {
		return nil, newErr(CodeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	if p.table != nil {
		t, ok := x.cat.Lookup(p.table.Name)
		if !ok {
			return nil, newErr(CodeUndefinedTable, "relation \"%s\" does not exist", p.table.Name)
		}
		if t.ID != p.table.ID {
			return nil, newErr(CodeFeatureNotSupported, "cached plan must not change result type")
		}
	}
	if len(params) != len(p.Params) {
		return nil, newErr(CodeProtocolViolation, "bind message supplies %d parameters, but prepared statement requires %d", len(params), len(p.Params))
	}
	wasOpen := x.inBlock()
	implicit := p.implicit && !wasOpen
	if implicit {
		if err := x.s.Begin(db.ReadCommitted); err != nil {
			return nil, err
		}
	}
	res, err := p.run(params)
	switch {
	case implicit && err != nil:
		_ = x.s.Rollback()
	case implicit:
		err = x.s.Commit()
	case err != nil && wasOpen && x.inBlock():
		x.failed = true // the block is aborted, whoever raised the error
	}
	if err == nil && wasOpen && !p.txControl {
		x.queries++
	}
	if err != nil {
		e := AsError(err)
		if e.Code == string(pgerr.DeadlockDetected) {
			e.Detail = x.cat.deadlockDetail(e.Detail)
		}
		return nil, e
	}
	return res, nil
}

// plan fills p for its statement.
func (x *Session) plan(p *Plan) error {
	n := p.Raw.node
	if x.Status() == 'E' {
		if ts := n.GetTransactionStmt(); ts == nil || (ts.Kind != pg.TransactionStmtKind_TRANS_STMT_COMMIT && ts.Kind != pg.TransactionStmtKind_TRANS_STMT_ROLLBACK) {
			return newErr(CodeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
		}
	}
	switch {
	case n.GetSelectStmt() != nil:
		return x.planSelect(p, n.GetSelectStmt())
	case n.GetInsertStmt() != nil:
		return x.planInsert(p, n.GetInsertStmt())
	case n.GetUpdateStmt() != nil:
		return x.planUpdate(p, n.GetUpdateStmt())
	case n.GetDeleteStmt() != nil:
		return x.planDelete(p, n.GetDeleteStmt())
	case n.GetCreateStmt() != nil:
		return x.planCreate(p, n.GetCreateStmt())
	case n.GetDropStmt() != nil:
		return x.planDrop(p, n.GetDropStmt())
	case n.GetTransactionStmt() != nil:
		return x.planTransaction(p, n.GetTransactionStmt())
	case n.GetVariableSetStmt() != nil:
		return x.planSet(p, n.GetVariableSetStmt())
	case n.GetVariableShowStmt() != nil:
		return x.planShow(p, n.GetVariableShowStmt())
	case n.GetVacuumStmt() != nil:
		return x.planVacuum(p, n.GetVacuumStmt())
	case n.GetCheckPointStmt() != nil:
		p.run = func([]Value) (*Result, error) {
			if err := x.d.RequestCheckpointWait(db.CheckpointForce); err != nil {
				return nil, err
			}
			return &Result{Tag: "CHECKPOINT"}, nil
		}
		return nil
	}
	return unsupported("statement %s", stmtName(n))
}

// stmtName is the statement's kind in PostgreSQL's words ("CreateSeqStmt"
// → "CREATE SEQUENCE" would be nicer; the node name is unambiguous).
func stmtName(n *pg.Node) string {
	return strings.TrimSuffix(nodeName(n), "Stmt")
}

// ---------------------------------------------------------------------------
// Transaction control

func isoOf(s string) (db.Isolation, bool) {
	switch strings.ToLower(s) {
	case "read committed", "read uncommitted":
		return db.ReadCommitted, true
	case "repeatable read":
		return db.RepeatableRead, true
	case "serializable":
		return db.Serializable, true
	}
	return 0, false
}

// txOptions reads BEGIN's or SET TRANSACTION's options.
func (x *Session) txOptions(opts []*pg.Node, iso *db.Isolation, readOnly *bool) error {
	for _, o := range opts {
		de := o.GetDefElem()
		if de == nil {
			continue
		}
		k := de.Arg.GetAConst()
		switch de.Defname {
		case "transaction_isolation":
			lvl, ok := isoOf(k.GetSval().GetSval())
			if !ok {
				return newErr(CodeInvalidParameterValue, "invalid transaction isolation level")
			}
			*iso = lvl
		case "transaction_read_only":
			*readOnly = k.GetIval().GetIval() != 0 || k.GetBoolval().GetBoolval()
		case "transaction_deferrable":
			// DEFERRABLE matters only to SERIALIZABLE READ ONLY, which
			// then waits for a safe snapshot; pgdst runs it at once.
		default:
			return unsupported("transaction option %s", de.Defname)
		}
	}
	return nil
}

func (x *Session) defaultIso() db.Isolation {
	iso, ok := isoOf(x.settings["default_transaction_isolation"])
	if !ok {
		return db.ReadCommitted
	}
	return iso
}

func (x *Session) begin(iso db.Isolation, readOnly bool) error {
	var err error
	if readOnly {
		err = x.s.BeginReadOnly(iso)
	} else {
		err = x.s.Begin(iso)
	}
	if err == nil {
		x.failed, x.queries, x.iso, x.readOnly = false, 0, iso, readOnly
	}
	return err
}

func (x *Session) planTransaction(p *Plan, ts *pg.TransactionStmt) error {
	p.txControl = true
	switch ts.Kind {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
		tag := "BEGIN"
		if ts.Kind == pg.TransactionStmtKind_TRANS_STMT_START {
			tag = "START TRANSACTION"
		}
		iso, readOnly := x.defaultIso(), false
		if err := x.txOptions(ts.Options, &iso, &readOnly); err != nil {
			return err
		}
		p.run = func([]Value) (*Result, error) {
			if x.inBlock() {
				// BeginTransactionBlock: a WARNING, not an error.
				x.notice("WARNING", CodeActiveTransaction, "there is already a transaction in progress")
				return &Result{Tag: tag}, nil
			}
			return &Result{Tag: tag}, x.begin(iso, readOnly)
		}
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		p.endsBlock = true
		if ts.Chain {
			return unsupported("COMMIT AND CHAIN")
		}
		p.run = func([]Value) (*Result, error) {
			if !x.inBlock() {
				x.notice("WARNING", CodeNoActiveTransaction, "there is no transaction in progress")
				return &Result{Tag: "COMMIT"}, nil
			}
			if x.Status() == 'E' {
				// EndTransactionBlock of an aborted block: it rolls
				// back and says ROLLBACK, without an error.
				x.failed = false
				return &Result{Tag: "ROLLBACK"}, x.s.Rollback()
			}
			x.failed = false
			return &Result{Tag: "COMMIT"}, x.s.Commit()
		}
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		p.endsBlock = true
		if ts.Chain {
			return unsupported("ROLLBACK AND CHAIN")
		}
		p.run = func([]Value) (*Result, error) {
			if !x.inBlock() {
				x.notice("WARNING", CodeNoActiveTransaction, "there is no transaction in progress")
			}
			x.failed = false
			return &Result{Tag: "ROLLBACK"}, x.s.Rollback()
		}
	default:
		return unsupported("%s", strings.ReplaceAll(strings.TrimPrefix(ts.Kind.String(), "TRANS_STMT_"), "_", " "))
	}
	return nil
}

// setTransaction is SET TRANSACTION: before the block's first query it
// restarts the block with the new characteristics (nothing has happened in
// it yet); later it is 25001, as check_transaction_isolation says.
func (x *Session) setTransaction(opts []*pg.Node) error {
	iso, readOnly := x.iso, x.readOnly
	if err := x.txOptions(opts, &iso, &readOnly); err != nil {
		return err
	}
	if !x.inBlock() {
		x.notice("WARNING", CodeNoActiveTransaction, "SET TRANSACTION can only be used in transaction blocks")
		return nil
	}
	if iso == x.iso && readOnly == x.readOnly {
		return nil
	}
	if x.queries > 0 {
		return newErr(CodeActiveTransaction, "SET TRANSACTION ISOLATION LEVEL must be called before any query")
	}
	if err := x.s.Rollback(); err != nil {
		return err
	}
	return x.begin(iso, readOnly)
}

// ---------------------------------------------------------------------------
// SET and SHOW

// reportedNames maps a GUC_REPORT setting's lower-case name to its
// spelling in ParameterStatus.
var reportedNames = map[string]string{"application_name": "application_name", "datestyle": "DateStyle", "timezone": "TimeZone", "intervalstyle": "IntervalStyle", "client_encoding": "client_encoding"}

func constText(n *pg.Node) string {
	if k := n.GetAConst(); k != nil {
		switch v := k.Val.(type) {
		case *pg.A_Const_Ival:
			return fmt.Sprint(v.Ival.Ival)
		case *pg.A_Const_Sval:
			return v.Sval.Sval
		case *pg.A_Const_Fval:
			return v.Fval.Fval
		case *pg.A_Const_Boolval:
			if v.Boolval.Boolval {
				return "on"
			}
			return "off"
		}
	}
	if tc := n.GetTypeCast(); tc != nil {
		return constText(tc.Arg)
	}
	return ""
}

func (x *Session) planSet(p *Plan, vs *pg.VariableSetStmt) error {
	p.txControl = false
	name := strings.ToLower(vs.Name)
	switch vs.Kind {
	case pg.VariableSetKind_VAR_SET_MULTI:
		switch name {
		case "transaction":
			p.run = func([]Value) (*Result, error) { return &Result{Tag: "SET"}, x.setTransaction(vs.Args) }
			return nil
		case "session characteristics":
			iso, readOnly := x.defaultIso(), false
			if err := x.txOptions(vs.Args, &iso, &readOnly); err != nil {
				return err
			}
			p.run = func([]Value) (*Result, error) {
				x.settings["default_transaction_isolation"] = strings.ToLower(iso.String())
				return &Result{Tag: "SET"}, nil
			}
			return nil
		}
		return unsupported("SET %s", vs.Name)
	case pg.VariableSetKind_VAR_SET_VALUE, pg.VariableSetKind_VAR_SET_DEFAULT, pg.VariableSetKind_VAR_RESET:
	default:
		return unsupported("SET of this kind")
	}
	var vals []string
	for _, a := range vs.Args {
		vals = append(vals, constText(a))
	}
	val := strings.Join(vals, ", ")
	p.run = func([]Value) (*Result, error) {
		switch name {
		case "transaction_isolation":
			lvl, ok := isoOf(val)
			if !ok {
				return nil, newErr(CodeInvalidParameterValue, "invalid value for parameter \"transaction_isolation\": \"%s\"", val)
			}
			return &Result{Tag: "SET"}, x.setTransaction([]*pg.Node{{Node: &pg.Node_DefElem{DefElem: &pg.DefElem{Defname: "transaction_isolation", Arg: pg.MakeAConstStrNode(strings.ToLower(lvl.String()), -1)}}}})
		case "client_encoding":
			if v := strings.ToUpper(strings.ReplaceAll(val, "-", "")); val != "" && v != "UTF8" && v != "UNICODE" && vs.Kind == pg.VariableSetKind_VAR_SET_VALUE {
				return nil, unsupported("client_encoding %s (only UTF8)", val)
			}
			val = "UTF8"
		case "server_version", "server_encoding", "integer_datetimes", "is_superuser", "max_connections", "server_version_num":
			return nil, newErr("55P02", "parameter \"%s\" cannot be changed", name)
		case "deadlock_timeout":
			// A session's own deadlock_timeout: its lock waits run the
			// deadlock check after it (the engine's lock manager).
			d := time.Duration(0)
			if vs.Kind == pg.VariableSetKind_VAR_SET_VALUE {
				var err error
				if d, err = parseMilliseconds(name, val); err != nil {
					return nil, err
				}
			}
			x.s.SetDeadlockTimeout(d)
			if d == 0 {
				x.settings[name] = "1s" // the server's, PostgreSQL's default
				return &Result{Tag: "SET"}, nil
			}
		}
		if vs.Kind != pg.VariableSetKind_VAR_SET_VALUE {
			return &Result{Tag: "SET"}, nil // DEFAULT and RESET keep pgdst's value
		}
		x.settings[name] = val
		if rn, ok := reportedNames[name]; ok {
			if x.reported == nil {
				x.reported = map[string]string{}
			}
			x.reported[rn] = val
		}
		return &Result{Tag: "SET"}, nil
	}
	return nil
}

// parseMilliseconds reads a time setting whose unit is milliseconds
// (deadlock_timeout's GUC_UNIT_MS): a number of milliseconds, or a number
// with one of PostgreSQL's time units (parse_int with memory units aside).
// Zero or less, or more than INT_MAX milliseconds, is out of range.
func parseMilliseconds(name, val string) (time.Duration, error) {
	v := strings.TrimSpace(val)
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9') {
		i++
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	unit := strings.TrimSpace(v[i:])
	mult := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	m, ok := mult[unit]
	if err != nil || !ok {
		return 0, newErr(CodeInvalidParameterValue, "invalid value for parameter \"%s\": \"%s\"", name, val)
	}
	d := time.Duration(n) * m
	if n <= 0 || n > math.MaxInt32 || d < time.Millisecond || d > time.Duration(math.MaxInt32)*time.Millisecond {
		return 0, newErr(CodeInvalidParameterValue, "%d%s is outside the valid range for parameter \"%s\" (1 .. 2147483647)", n, unit, name)
	}
	return d, nil
}

func (x *Session) planShow(p *Plan, vs *pg.VariableShowStmt) error {
	name := strings.ToLower(vs.Name)
	switch name {
	case "transaction isolation level":
		name = "transaction_isolation"
	case "all":
		return unsupported("SHOW ALL")
	}
	p.Cols = []ResultCol{{Name: name, Type: TypeText}}
	p.run = func([]Value) (*Result, error) {
		var v string
		switch name {
		case "transaction_isolation":
			iso := x.defaultIso()
			if x.inBlock() {
				iso = x.iso
			}
			v = strings.ToLower(iso.String())
		case "transaction_read_only":
			v = "off"
			if x.inBlock() && x.readOnly {
				v = "on"
			}
		default:
			var ok bool
			if v, ok = x.settings[name]; !ok {
				return nil, newErr(CodeUndefinedObject, "unrecognized configuration parameter \"%s\"", vs.Name)
			}
		}
		return &Result{Rows: [][]Value{{Text(v)}}, Tag: "SHOW"}, nil
	}
	return nil
}

// ---------------------------------------------------------------------------
// DDL and maintenance

func (x *Session) planCreate(p *Plan, cs *pg.CreateStmt) error {
	rel := cs.Relation
	switch {
	case rel.Relpersistence == "t":
		return unsupported("CREATE TEMPORARY TABLE")
	case len(cs.InhRelations) > 0, cs.Partspec != nil, cs.Partbound != nil, cs.OfTypename != nil:
		return unsupported("CREATE TABLE with inheritance, partitions or a type")
	case rel.Schemaname != "" && rel.Schemaname != "public":
		return newErr("3F000", "schema \"%s\" does not exist", rel.Schemaname).at(rel.Location, p.Raw.base)
	}
	t := &Table{Name: rel.Relname, PK: -1}
	setPK := func(name string, loc int32) error {
		if t.PK >= 0 {
			return newErr(CodeInvalidTableDefinition, "multiple primary keys for table \"%s\" are not allowed", t.Name).at(loc, p.Raw.base)
		}
		i := t.col(name)
		if i < 0 {
			return newErr(CodeUndefinedColumn, "column \"%s\" named in key does not exist", name).at(loc, p.Raw.base)
		}
		t.PK = i
		t.Cols[i].NotNull = true
		return nil
	}
	var pendingPK []*pg.Constraint
	for _, el := range cs.TableElts {
		switch {
		case el.GetColumnDef() != nil:
			cd := el.GetColumnDef()
			typ, name, ok := typeByName(cd.TypeName)
			if !ok {
				return unsupported("column type %s", name).at(cd.TypeName.GetLocation(), p.Raw.base)
			}
			if t.col(cd.Colname) >= 0 {
				return newErr(CodeDuplicateColumn, "column \"%s\" specified more than once", cd.Colname).at(cd.Location, p.Raw.base)
			}
			t.Cols = append(t.Cols, Column{Name: cd.Colname, Type: typ, NotNull: cd.IsNotNull})
			for _, cn := range cd.Constraints {
				c := cn.GetConstraint()
				switch c.GetContype() {
				case pg.ConstrType_CONSTR_PRIMARY:
					if err := setPK(cd.Colname, c.Location); err != nil {
						return err
					}
				case pg.ConstrType_CONSTR_NOTNULL:
					t.Cols[len(t.Cols)-1].NotNull = true
				case pg.ConstrType_CONSTR_NULL:
				default:
					return unsupported("column constraint %s", strings.TrimPrefix(c.GetContype().String(), "CONSTR_")).at(c.GetLocation(), p.Raw.base)
				}
			}
		case el.GetConstraint() != nil:
			c := el.GetConstraint()
			if c.Contype != pg.ConstrType_CONSTR_PRIMARY {
				return unsupported("table constraint %s", strings.TrimPrefix(c.Contype.String(), "CONSTR_")).at(c.Location, p.Raw.base)
			}
			pendingPK = append(pendingPK, c)
		default:
			return unsupported("table element %s", nodeName(el))
		}
	}
	for _, c := range pendingPK {
		if len(c.Keys) != 1 {
			return unsupported("a primary key of %d columns", len(c.Keys)).at(c.Location, p.Raw.base)
		}
		if err := setPK(c.Keys[0].GetString_().GetSval(), c.Location); err != nil {
			return err
		}
	}
	switch {
	case len(t.Cols) == 0:
		return unsupported("a table without columns")
	case t.PK < 0:
		return unsupported("a table without a primary key")
	case !isInt(t.Cols[t.PK].Type):
		return unsupported("a primary key of type %s (int and bigint only)", t.Cols[t.PK].Type)
	}
	p.run = func([]Value) (*Result, error) {
		if x.inBlock() {
			return nil, unsupported("CREATE TABLE inside a transaction block")
		}
		def := *t
		def.Cols = append([]Column(nil), t.Cols...)
		notice, err := x.cat.create(x.d, x.s, &def, cs.IfNotExists)
		if notice != "" {
			x.notice("NOTICE", "42P07", "%s", notice)
		}
		return &Result{Tag: "CREATE TABLE"}, err
	}
	return nil
}

func (x *Session) planDrop(p *Plan, ds *pg.DropStmt) error {
	if ds.RemoveType != pg.ObjectType_OBJECT_TABLE {
		return unsupported("DROP %s", strings.TrimPrefix(ds.RemoveType.String(), "OBJECT_"))
	}
	if ds.Behavior == pg.DropBehavior_DROP_CASCADE {
		return unsupported("DROP TABLE ... CASCADE")
	}
	var names []string
	for _, o := range ds.Objects {
		items := o.GetList().GetItems()
		if len(items) == 0 {
			return unsupported("this DROP TABLE")
		}
		if len(items) == 2 && items[0].GetString_().GetSval() != "public" {
			return newErr("3F000", "schema \"%s\" does not exist", items[0].GetString_().GetSval())
		}
		names = append(names, items[len(items)-1].GetString_().GetSval())
	}
	p.run = func([]Value) (*Result, error) {
		if x.inBlock() {
			return nil, unsupported("DROP TABLE inside a transaction block")
		}
		for _, n := range names {
			notice, err := x.cat.drop(x.s, n, ds.MissingOk)
			if err != nil {
				return nil, err
			}
			if notice != "" {
				x.notice("NOTICE", "00000", "%s", notice)
			}
		}
		return &Result{Tag: "DROP TABLE"}, nil
	}
	return nil
}

func (x *Session) planVacuum(p *Plan, vs *pg.VacuumStmt) error {
	if !vs.IsVacuumcmd {
		return unsupported("ANALYZE")
	}
	for _, o := range vs.Options {
		switch o.GetDefElem().GetDefname() {
		case "verbose", "analyze", "skip_locked":
		default:
			return unsupported("VACUUM option %s", o.GetDefElem().GetDefname())
		}
	}
	var names []string
	for _, r := range vs.Rels {
		vr := r.GetVacuumRelation()
		if vr == nil || vr.Relation == nil {
			return unsupported("this VACUUM")
		}
		names = append(names, vr.Relation.Relname)
	}
	p.run = func([]Value) (*Result, error) {
		if x.inBlock() {
			return nil, newErr(CodeActiveTransaction, "VACUUM cannot run inside a transaction block")
		}
		targets := names
		if len(targets) == 0 {
			targets = x.cat.Names()
		}
		for _, n := range targets {
			t, ok := x.cat.Lookup(n)
			if !ok {
				return nil, newErr(CodeUndefinedTable, "relation \"%s\" does not exist", n)
			}
			if _, err := x.d.Vacuum(t.Engine); err != nil {
				return nil, err
			}
		}
		return &Result{Tag: "VACUUM"}, nil
	}
	return nil
}

// sortRows sorts rows by keys (ORDER BY), stably.
func sortRows(rows [][]Value, keys [][]Value, desc, nullsFirst []bool) {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		for j := range ka {
			va, vb := ka[j], kb[j]
			if va.IsNull() || vb.IsNull() {
				if va.IsNull() && vb.IsNull() {
					continue
				}
				return va.IsNull() == nullsFirst[j]
			}
			c, _ := compare(va, vb)
			if c == 0 {
				continue
			}
			if desc[j] {
				return c > 0
			}
			return c < 0
		}
		return false
	})
	sorted := make([][]Value, len(rows))
	for i, j := range idx {
		sorted[i] = rows[j]
	}
	copy(rows, sorted)
}
