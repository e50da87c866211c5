package simtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/pgdst/pgdst/engine/pgerr"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
)

// Range statements: on some seeds the clients also run statements that
// read the rows they write in the same command, the class of bug called
// the Halloween problem. INSERT INTO hw SELECT k + d, v FROM hw WHERE k
// BETWEEN a AND b copies a block of keys into the empty block after it,
// the range covering both, and UPDATE hw SET v = v + d WHERE k BETWEEN a
// AND b adds interest to every row of a range. The engine runs each as
// one command whose sequential scan is still reading while it writes
// (engine/db/range_statements.go), so only HeapTupleSatisfiesMVCC's cmin
// >= curcid rule keeps it from copying its own copies or updating a row's
// new version again.
//
// Each client works in a key region of its own in table hw, so that the
// rows a statement must find are exactly those its transaction read just
// before it: the transaction reads its region (a plain index scan), runs
// the statements with RETURNING, and reads the region again. The
// statement-effect checker replays the statements on the first read and
// judges each one's RETURNING rows (the row count, and each row inserted
// or updated once, with the right value) and the second read.

// rangeStmts is the part of a run's shape drawn by swarmRangeStatements.
type rangeStmts struct {
	on       bool
	every    int // a client's transactions between range transactions
	rowBytes int // the rows' size: counter and padding
	rows     int // rows of a client's first block, a power of two
}

// The draw: on one seed in rangeSeedsPer (a range seed costs about half
// as much again as another; one in 40 keeps the plain campaign's cost
// within 2%), with rows wide enough on most seeds that a block spans
// pages (a copy then lands on a page the scan has yet to read).
const (
	rangeSeedsPer = 40
	tableRanges   = "hw"
	// rangeBlockKeys is the width of a block of keys; a client's region
	// holds rangeBlocksMax blocks from rangeRegion(c).
	rangeBlockKeys = 256
	rangeBlocksMax = 64
	rangeRowsMin   = 4 // rows of a seeded block: 4, 8 or 16
	// rangeVacuumEvery: one range transaction in rangeVacuumEvery is
	// followed by a VACUUM of hw, which the range UPDATEs fill with dead
	// versions.
	rangeVacuumEvery = 3
	// rangeTxnsMax bounds a client's range transactions: its first seeds
	// and copies a block, which is most of what finds a statement that
	// reads its own writes, and each one after it scans a larger table.
	rangeTxnsMax = 1
)

// rangeRowBytes are the row sizes drawn: small rows pack a page (the
// statements' rows and versions share it), wide ones spread a block over
// pages, which is where a scan meets its own rows (about half the seeds
// with mutant 23 fail at 400 to 1800 bytes, one in twelve at 16).
var rangeRowBytes = [...]int{16, 400, 400, 1000, 1000, 1800}

// swarmRangeStatements draws the seed's range statements from a stream of
// its own, so that every other draw of the seed is what it was, and a
// seed that draws them off runs exactly as it did.
func swarmRangeStatements(seed uint64) rangeStmts {
	rng := world.NewRand(seed ^ 0x68616c6c6f77656e) // "halloweN"
	var r rangeStmts
	r.on = rng.Intn(rangeSeedsPer) == 0
	r.every = 4 + 2*rng.Intn(2)
	r.rowBytes = rangeRowBytes[rng.Intn(len(rangeRowBytes))]
	r.rows = rangeRowsMin << rng.Intn(3)
	return r
}

// resolveRangeStatements sets r's range statements: the seed's draw, on
// under Swarm only, then Config.RangeStatements.
func resolveRangeStatements(c Config, r *resolved) {
	v := swarmRangeStatements(c.Seed)
	v.on = v.on && c.Swarm
	switch c.RangeStatements {
	case VarietyOn:
		v.on = true
	case VarietyOff:
		v.on = false
	}
	r.ranges = v
}

func (c Config) validateRangeStatements() error {
	return validateOnOff("range statements", c.RangeStatements)
}

// RangeStatementsOf reports whether c's run has range statements, as
// resolve decides it (the shrinker tries them off only when on).
func RangeStatementsOf(c Config) bool {
	var r resolved
	resolveRangeStatements(c, &r)
	return r.ranges.on
}

func (r resolved) stringRanges() string {
	if !r.ranges.on {
		return "" // seeds without them print, and hash, as before
	}
	return fmt.Sprintf(" range_statements=on range_every=%d range_row_bytes=%d range_rows=%d", r.ranges.every, r.ranges.rowBytes, r.ranges.rows)
}

const kindRange = "range"

// rangeNow says whether client c's t-th transaction is a range
// transaction; it draws nothing.
func (w *workload) rangeNow(c, t int) bool {
	e := w.rc.ranges.every
	return w.rc.ranges.on && (t+c)%e == e-1 && (t+c)/e < rangeTxnsMax
}

func rangeRegion(c int) uint64 { return uint64(c) * rangeBlockKeys * rangeBlocksMax }

func rangeBlockStart(c, b int) uint64 { return rangeRegion(c) + uint64(b)*rangeBlockKeys }

// ---------------------------------------------------------------------
// Values: an 8-byte counter, then padding that never changes.

// rangeGarbage is what a value no client wrote reads as.
const rangeGarbage = uint64(math.MaxUint64)

func (w *workload) rangeEncode(counter uint64) []byte {
	b := make([]byte, w.rc.ranges.rowBytes)
	binary.LittleEndian.PutUint64(b, counter)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i) ^ 0x5a
	}
	return b
}

func (w *workload) rangeDecode(b []byte) uint64 {
	if len(b) != w.rc.ranges.rowBytes || len(b) < 8 {
		return rangeGarbage
	}
	for i := 8; i < len(b); i++ {
		if b[i] != byte(i)^0x5a {
			return rangeGarbage
		}
	}
	return binary.LittleEndian.Uint64(b)
}

// ---------------------------------------------------------------------
// The history.

// RangeRow is a row of table hw: its key and its value's counter.
type RangeRow struct{ Key, Val uint64 }

// The statements of a range transaction.
const (
	RangeInsert       = "insert"        // INSERT of one row (Key, Val)
	RangeInsertSelect = "insert-select" // INSERT INTO hw SELECT k + Delta, v FROM hw WHERE k BETWEEN Lo AND Hi
	RangeUpdate       = "update-range"  // UPDATE hw SET v = v + Delta WHERE k BETWEEN Lo AND Hi
)

// RangeStmt is one statement of a range transaction and what it returned.
type RangeStmt struct {
	Kind          string
	Lo, Hi, Delta uint64
	Key, Val      uint64     // RangeInsert's row
	Rows          []RangeRow // the RETURNING rows
	OK            bool       // it returned without an error (only those are judged)
}

// RangeTxn is one range transaction of a client: the reads of its region
// before and after its statements (Before is nil when the first read
// failed, AfterOK false when the last one did), in one transaction.
type RangeTxn struct {
	Client       int
	Call, Return time.Duration
	Outcome      Outcome
	Lo, Hi       uint64
	Before       []RangeRow
	Stmts        []RangeStmt
	After        []RangeRow
	AfterOK      bool
}

func (t *RangeTxn) String() string {
	return fmt.Sprintf("client %d's range transaction on keys %d..%d (called at %v, %s)", t.Client, t.Lo, t.Hi, t.Call, t.Outcome)
}

func (st *RangeStmt) String() string {
	switch st.Kind {
	case RangeInsertSelect:
		return fmt.Sprintf("INSERT INTO hw SELECT k + %d, v FROM hw WHERE k BETWEEN %d AND %d", st.Delta, st.Lo, st.Hi)
	case RangeUpdate:
		return fmt.Sprintf("UPDATE hw SET v = v + %d WHERE k BETWEEN %d AND %d", st.Delta, st.Lo, st.Hi)
	}
	return fmt.Sprintf("INSERT INTO hw VALUES (%d, %d)", st.Key, st.Val)
}

// ---------------------------------------------------------------------
// The client.

// rangeTxn is one range transaction: read the client's region, seed its
// first block if it is empty (one INSERT, then copies that double it), copy its last block (or two) into the empty
// blocks after it, add interest to a range of blocks, read the region
// again, and commit (one in eight rolls back). The transaction is recorded
// before its first call and updated in place, so that a crash leaves it
// in the history as unknown with what it did see.
func (s *session) rangeTxn() bool {
	w := s.w
	if !s.connect() {
		return false
	}
	if !w.rangeTable {
		// The first range transaction creates table hw (CREATE TABLE
		// is durable when it returns); a second client's 42P07 says
		// it is there.
		if _, err := s.call(pgproc.Request{Op: pgproc.OpCreateTable, Table: tableRanges}); err != nil && !pgerr.Is(err, pgerr.DuplicateTable) {
			return true
		}
		w.rangeTable = true
	}
	lo := rangeRegion(s.c)
	hi := lo + rangeBlocksMax*rangeBlockKeys - 1
	id := len(w.hist.Ranges)
	w.hist.Ranges = append(w.hist.Ranges, RangeTxn{Client: s.c, Call: w.node.Env.Clock.Now(), Lo: lo, Hi: hi})
	txn := func() *RangeTxn { return &w.hist.Ranges[id] }
	_, err := s.call(pgproc.Request{Op: pgproc.OpBegin, Iso: w.rc.iso})
	var before []RangeRow
	if err == nil {
		before, err = s.rangeRead(lo, hi)
		txn().Before = before
	}
	// The blocks the region holds, by the first read.
	top := -1
	for _, r := range before {
		top = max(top, int((r.Key-lo)/rangeBlockKeys))
	}
	stmt := func(st RangeStmt, req pgproc.Request) {
		if err != nil {
			return
		}
		i := len(txn().Stmts)
		txn().Stmts = append(txn().Stmts, st)
		var resp pgproc.Response
		resp, err = s.stmt(req)
		if err != nil {
			return
		}
		rows := make([]RangeRow, 0, len(resp.Rows))
		for _, r := range resp.Rows {
			rows = append(rows, RangeRow{r.Key, w.rangeDecode(r.Val)})
		}
		t := txn()
		t.Stmts[i].Rows, t.Stmts[i].OK = rows, true
	}
	if top < 0 {
		// An empty region: seed its first block with one row, then
		// double it by copies whose range covers source and target
		// alike, each a statement that must not read its own rows.
		k0, v := rangeBlockStart(s.c, 0), uint64(s.c+1)<<32
		stmt(RangeStmt{Kind: RangeInsert, Key: k0, Val: v}, pgproc.Request{Op: pgproc.OpInsert, Table: tableRanges, Key: k0, Val: w.rangeEncode(v)})
		for n := uint64(1); n < uint64(w.rc.ranges.rows); n *= 2 {
			st := RangeStmt{Kind: RangeInsertSelect, Lo: k0, Hi: k0 + 2*n - 1, Delta: n}
			stmt(st, pgproc.Request{Op: pgproc.OpInsertSelect, Table: tableRanges, Lo: st.Lo, Hi: st.Hi, Delta: int64(st.Delta)})
		}
		top = 0
	}
	// Copy the last block (on half the transactions the last two) into
	// the empty blocks after them; the range covers source and target,
	// so the copies are rows the scan would qualify if it saw them.
	m := 1 + s.rng.Intn(2)
	if m > top+1 {
		m = 1
	}
	if top+m < rangeBlocksMax {
		from := top - m + 1
		st := RangeStmt{Kind: RangeInsertSelect, Lo: rangeBlockStart(s.c, from), Hi: rangeBlockStart(s.c, top+m+1) - 1, Delta: uint64(m) * rangeBlockKeys}
		stmt(st, pgproc.Request{Op: pgproc.OpInsertSelect, Table: tableRanges, Lo: st.Lo, Hi: st.Hi, Delta: int64(st.Delta)})
		top += m
	}
	// Interest on a range of blocks, from a drawn one to the last.
	from := s.rng.Intn(top + 1)
	st := RangeStmt{Kind: RangeUpdate, Lo: rangeBlockStart(s.c, from), Hi: rangeBlockStart(s.c, top+1) - 1, Delta: uint64(1 + s.rng.Intn(100))}
	stmt(st, pgproc.Request{Op: pgproc.OpUpdateRange, Table: tableRanges, Lo: st.Lo, Hi: st.Hi, Delta: int64(st.Delta)})
	if err == nil {
		var after []RangeRow
		if after, err = s.rangeRead(lo, hi); err == nil {
			t := txn()
			t.After, t.AfterOK = after, true
		}
	}
	if pgerr.Is(err, pgerr.UndefinedTable) {
		w.rangeTable = false // lost with a crash before its record was durable? create it again
	}
	outcome, _ := s.end(err, s.rng.Intn(8) == 0)
	t := txn()
	t.Return, t.Outcome = w.node.Env.Clock.Now(), outcome
	if s.conn != nil && s.rng.Intn(rangeVacuumEvery) == 0 {
		_, _ = s.call(pgproc.Request{Op: pgproc.OpVacuum, Table: tableRanges})
	}
	return true
}

// rangeRead reads the rows of [lo, hi] in one statement.
func (s *session) rangeRead(lo, hi uint64) ([]RangeRow, error) {
	resp, err := s.stmt(pgproc.Request{Op: pgproc.OpScan, Table: tableRanges, Lo: lo, Hi: hi})
	if err != nil {
		return nil, err
	}
	rows := make([]RangeRow, 0, len(resp.Rows))
	for _, r := range resp.Rows {
		rows = append(rows, RangeRow{r.Key, s.w.rangeDecode(r.Val)})
	}
	return rows, nil
}

// ---------------------------------------------------------------------
// The checker.

// CheckStatementEffect judges the range statements: a statement's
// RETURNING rows are exactly the rows in its range as of its snapshot,
// each inserted or updated once with the right value (a statement that
// reads its own writes copies its copies or updates a new version again),
// and a later read of the transaction sees the statements' effect.
const CheckStatementEffect = "statement-effect"

// checkRangeStatements replays each range transaction on its first read.
func (w *workload) checkRangeStatements(res *Result) {
	for i := range w.hist.Ranges {
		t := &w.hist.Ranges[i]
		v := judgeRange(t)
		if v.why == "" {
			continue
		}
		effect := EffectWrongRows
		if v.own {
			effect = EffectOwnWrites
		}
		res.found(Finding{Checker: CheckStatementEffect, Client: t.Client, Call: t.Call, Return: t.Return,
			Outcome: t.Outcome, Stmt: v.stmt, StmtKind: v.kind, Effect: effect, Detail: v.why})
		res.fail(CheckStatementEffect, "%s: %s", t, v.why)
	}
}

// What a statement-effect failure found (Finding.Effect).
const (
	// EffectOwnWrites: a statement's scan read rows its own command had
	// written (a copy of its own copy, a second update of a row).
	EffectOwnWrites = "own-writes"
	// EffectWrongRows: the transaction's statements or reads disagree
	// with the rows its snapshot held in some other way.
	EffectWrongRows = "wrong-rows"
)

// rangeVerdict is judgeRange's answer: why the transaction is wrong (""
// when it is not), the statement that showed it (1-based; 0 for the
// transaction's reads) and its kind, and whether the statement saw its
// own writes.
type rangeVerdict struct {
	why  string
	stmt int
	kind string
	own  bool
}

// judgeRangeTxn is judgeRange's reason alone.
func judgeRangeTxn(t *RangeTxn) string { return judgeRange(t).why }

// judgeRangeTxn says what is wrong with one range transaction ("" when
// nothing is). Only what the transaction saw itself is judged: its region
// is its client's alone, so nothing but its own statements changes it
// between its reads.
func judgeRange(t *RangeTxn) rangeVerdict {
	if t.Before == nil && len(t.Stmts) == 0 {
		return rangeVerdict{} // the first read failed: nothing to judge
	}
	model := make(map[uint64]uint64, len(t.Before))
	for _, r := range t.Before {
		if r.Key < t.Lo || r.Key > t.Hi {
			return rangeVerdict{why: fmt.Sprintf("the read of its region returned key %d, outside it", r.Key)}
		}
		if _, dup := model[r.Key]; dup {
			return rangeVerdict{why: fmt.Sprintf("the read of its region returned key %d twice", r.Key)}
		}
		model[r.Key] = r.Val
	}
	for i := range t.Stmts {
		st := &t.Stmts[i]
		if !st.OK {
			return rangeVerdict{} // the statement failed: the transaction is over
		}
		var why string
		var own bool
		switch st.Kind {
		case RangeInsert:
			if _, ok := model[st.Key]; ok {
				why = fmt.Sprintf("succeeded, but key %d was already there", st.Key)
			}
			model[st.Key] = st.Val
		case RangeInsertSelect:
			why, own = judgeInsertSelect(st, model)
		case RangeUpdate:
			why, own = judgeUpdateRange(st, model)
		}
		if why != "" {
			return rangeVerdict{why: fmt.Sprintf("statement %d, %s, %s", i+1, st, why), stmt: i + 1, kind: st.Kind, own: own}
		}
	}
	if !t.AfterOK {
		return rangeVerdict{}
	}
	if len(t.After) != len(model) {
		return rangeVerdict{why: fmt.Sprintf("its last read shows %d rows, its statements leave %d", len(t.After), len(model))}
	}
	for _, r := range t.After {
		if v, ok := model[r.Key]; !ok || v != r.Val {
			return rangeVerdict{why: fmt.Sprintf("its last read shows key %d = %s, its statements leave %s", r.Key, rangeValName(r.Val), rangeModelName(v, ok))}
		}
	}
	return rangeVerdict{}
}

// judgeInsertSelect judges an INSERT ... SELECT's RETURNING rows against
// the rows in its range before it (model), then applies it to model.
func judgeInsertSelect(st *RangeStmt, model map[uint64]uint64) (why string, own bool) {
	want := make(map[uint64]uint64)
	for k, v := range model {
		if k >= st.Lo && k <= st.Hi {
			want[k+st.Delta] = v
		}
	}
	got := make(map[uint64]uint64, len(st.Rows))
	for _, r := range st.Rows {
		if _, dup := got[r.Key]; dup {
			return fmt.Sprintf("inserted key %d twice", r.Key), false
		}
		got[r.Key] = r.Val
	}
	// A copy of a copy: a row the statement inserted was read by its own
	// scan (HeapTupleSatisfiesMVCC's cmin >= curcid).
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; ok {
			continue
		}
		if _, own := got[k-st.Delta]; own {
			if _, before := model[k-st.Delta]; !before {
				return fmt.Sprintf("returned %d rows where its snapshot held %d in range: it copied key %d, a row it had inserted itself (the statement saw its own writes)", len(got), len(want), k-st.Delta), true
			}
		}
		return fmt.Sprintf("returned %d rows where its snapshot held %d in range: key %d is the copy of no row in range", len(got), len(want), k), false
	}
	for _, k := range sortedKeys(want) {
		v, ok := got[k]
		switch {
		case !ok:
			return fmt.Sprintf("returned %d rows where its snapshot held %d in range: key %d was not copied", len(got), len(want), k-st.Delta), false
		case v != want[k]:
			return fmt.Sprintf("copied key %d as %s, the row holds %s", k-st.Delta, rangeValName(v), rangeValName(want[k])), false
		}
	}
	for k, v := range want {
		if _, there := model[k]; there {
			return fmt.Sprintf("succeeded, but the copy's key %d was already there", k), false
		}
		model[k] = v
	}
	return "", false
}

// judgeUpdateRange judges a range UPDATE's RETURNING rows: every row in
// range, once, its value increased by Delta; then applies it to model.
func judgeUpdateRange(st *RangeStmt, model map[uint64]uint64) (why string, own bool) {
	want := 0
	for k := range model {
		if k >= st.Lo && k <= st.Hi {
			want++
		}
	}
	got := make(map[uint64]uint64, len(st.Rows))
	for _, r := range st.Rows {
		if _, dup := got[r.Key]; dup {
			return fmt.Sprintf("returned %d rows where its snapshot held %d in range: it updated key %d twice (the statement saw its own new version)", len(st.Rows), want, r.Key), true
		}
		got[r.Key] = r.Val
		old, ok := model[r.Key]
		switch {
		case r.Key < st.Lo || r.Key > st.Hi:
			return fmt.Sprintf("updated key %d, outside its range", r.Key), false
		case !ok:
			return fmt.Sprintf("returned %d rows where its snapshot held %d in range: it updated key %d, which its snapshot does not hold", len(st.Rows), want, r.Key), false
		case r.Val != old+st.Delta:
			return fmt.Sprintf("set key %d to %s, from %s", r.Key, rangeValName(r.Val), rangeValName(old)), false
		}
	}
	if len(got) != want {
		for _, k := range sortedKeys(model) {
			if _, ok := got[k]; !ok && k >= st.Lo && k <= st.Hi {
				return fmt.Sprintf("returned %d rows where its snapshot held %d in range: key %d was not updated", len(got), want, k), false
			}
		}
	}
	for k, v := range got {
		model[k] = v
	}
	return "", false
}

func sortedKeys(m map[uint64]uint64) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

func rangeValName(v uint64) string {
	if v == rangeGarbage {
		return "a value no client wrote"
	}
	return fmt.Sprint(v)
}

func rangeModelName(v uint64, ok bool) string {
	if !ok {
		return "no such row"
	}
	return rangeValName(v)
}

// rangeSummary counts the range transactions and their statements that
// returned, for a run's summary.
func rangeSummary(txns []RangeTxn) string {
	ok, copies, updates, rows := 0, 0, 0, 0
	for i := range txns {
		if txns[i].Outcome == OK {
			ok++
		}
		for _, st := range txns[i].Stmts {
			if !st.OK {
				continue
			}
			switch st.Kind {
			case RangeInsertSelect:
				copies++
			case RangeUpdate:
				updates++
			default:
				continue
			}
			rows += len(st.Rows)
		}
	}
	return fmt.Sprintf("%d transactions (%d committed), %d INSERT ... SELECT and %d range UPDATEs returned, %d rows", len(txns), ok, copies, updates, rows)
}
