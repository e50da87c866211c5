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

// Workload variety (issue 17): shapes of client work that reach engine
// paths the fixed workloads never did, each drawn per seed by the swarm
// from a stream of its own (swarmVariety) and each pinned by a flag.
//
//   - deletes: the register clients also DELETE a key and INSERT it again.
//     A register's "no row" state is a value of the linearizability model
//     (regNone), so DELETE is a write of it and INSERT a compare-and-set
//     from it: a unique violation (23505) is the compare failing. Redo of
//     heap deletes, index entries of dead and re-inserted keys, and
//     _bt_check_unique's wait for an in-progress inserter are reached,
//     and judged by porcupine with the final reads after recovery.
//   - contended keys: insert transactions write, besides their own fresh
//     keys, one of a few keys every client may insert; the second inserter
//     of a key must wait for the first and then fail with 23505, which the
//     history records as its transaction failing. The checker of table t
//     judges every key by the transactions that wrote it: at most one
//     acknowledged inserter per key, and no key twice in the table.
//   - bulk reads: on a bulk-load seed, the last client reads table t by
//     key and by key range while the other clients' loads split its
//     B-tree leaves, and the reads are judged against the insert history:
//     a key whose transaction was acknowledged before the read began must
//     be found, one whose transaction failed or had not begun must not.
//   - wide registers: register values are padded to regWideBytes, so that
//     three or four versions fill a heap page and most updates of a hot key
//     move the row to another page (heap_update's RelationGetBufferForTuple
//     path), with other clients updating the same row meanwhile.
//
// After recovery, every table whose index has split is also read back key
// by key (amcheck's bt_index_parent_check with rootdescend: every row a
// full scan shows must be found by a search from the root), and every scan
// the checkers make rejects a key shown twice (amcheck's checkunique).

// variety is the part of a run's shape drawn by swarmVariety.
type variety struct {
	deletes   bool // register DELETEs and INSERTs
	contended bool // insert transactions share contendedKeys keys
	bulkReads bool // a reader races the bulk loads (implies bulk)
	regBytes  int  // the size of a register value a client writes
}

// The dimensions' flag values (Config.Deletes, ContendedKeys, BulkReads):
// "" draws from the seed under Swarm (off otherwise).
const (
	VarietyDraw = ""
	VarietyOn   = "on"
	VarietyOff  = "off"
)

// VarietyValues are the values a variety flag takes.
var VarietyValues = []string{VarietyOn, VarietyOff}

const (
	// regNone is a register's value when its row is missing: DELETE
	// writes it, INSERT expects it. No client writes it as a value.
	regNone = uint64(math.MaxUint64)
	// regGarbage is what a register value no client wrote reads as
	// (wrong size, or padding that does not match): no client writes it
	// either, so the checker sees garbage as garbage, never as "no row".
	regGarbage = uint64(math.MaxUint64 - 1)
	// regWideBytes is a wide register value's size: three versions and a
	// bit fill an 8 kB heap page.
	regWideBytes = 2000
	// contendedKeys are the keys every client's insert transactions may
	// write, above every bulk key (bulkKey stays below 1<<41 for any
	// valid Config).
	contendedKeys    = 6
	contendedKeyBase = 1 << 41
	// bulkReadStmts is how many statements one read burst of the bulk
	// reader sends, with a pause of up to bulkReadPauseMax before each,
	// so that a burst spans part of the other clients' loads.
	bulkReadStmts    = 12
	bulkReadPauseMax = 2 * time.Millisecond
	bulkReadRangeMax = 48 // keys in a range scan of a bulk load's block
	// bulkReadExtraRows keeps bulkRowsMax+bulkReadExtraRows below 255
	// (bulkKey's block, value's row byte).
	bulkReadExtraRows = 60
)

// swarmVariety draws the seed's workload variety from a stream of its own,
// so that every other draw of the run is what it was before, and a seed
// that draws none of it runs exactly as it did. Each dimension is drawn
// unconditionally, in a fixed order.
func swarmVariety(seed uint64) variety {
	rng := world.NewRand(seed ^ 0x776b6c6476617279) // "wkldvary"
	v := variety{regBytes: 8}
	v.deletes = rng.Intn(2) == 0
	v.contended = rng.Intn(3) == 0
	v.bulkReads = rng.Intn(2) == 0 // matters on bulk seeds only
	if rng.Intn(8) == 0 {
		v.regBytes = regWideBytes
	}
	return v
}

// resolveVariety sets r's variety: the seed's draw under Swarm, then the
// flags. Pinning bulk reads on also pins the bulk loads they race.
func resolveVariety(c Config, r *resolved) {
	v := variety{regBytes: 8}
	if c.Swarm {
		v = swarmVariety(c.Seed)
		if !r.bulk {
			v.bulkReads = false
		}
	}
	pin := func(flag string, dim *bool) {
		if flag != VarietyDraw {
			*dim = flag == VarietyOn
		}
	}
	pin(c.Deletes, &v.deletes)
	pin(c.ContendedKeys, &v.contended)
	pin(c.BulkReads, &v.bulkReads)
	if c.RegisterBytes != 0 {
		v.regBytes = c.RegisterBytes
	}
	ks := kinds(c.Workload)
	if !kindsHave(ks, WorkloadRegister) {
		v.deletes, v.regBytes = false, 8
	}
	if !kindsHave(ks, WorkloadInsert) || c.Autocommit || c.Clients < 2 {
		v.bulkReads = false
	}
	if !kindsHave(ks, WorkloadInsert) {
		v.contended = false
	}
	if v.bulkReads && !r.bulk {
		r.bulk = true
		if c.RowBytes == 0 {
			r.rowBytes = bulkRowBytes
		}
	}
	r.vary = v
}

// validateOnOff rejects a dimension's pinned value other than on, off or
// "" (drawn).
func validateOnOff(name, v string) error {
	if v != VarietyDraw && v != VarietyOn && v != VarietyOff {
		return fmt.Errorf("%s must be on or off, got %q", name, v)
	}
	return nil
}

// validateVariety rejects a pinned dimension the workload cannot run.
func (c Config) validateVariety() error {
	for _, f := range []struct{ name, v string }{{"deletes", c.Deletes}, {"contended-keys", c.ContendedKeys}, {"bulk-reads", c.BulkReads}} {
		if err := validateOnOff(f.name, f.v); err != nil {
			return err
		}
	}
	ks := kinds(c.Workload)
	switch {
	case c.Deletes == VarietyOn && !kindsHave(ks, WorkloadRegister):
		return fmt.Errorf("deletes are register DELETEs and INSERTs, and the %s workload has no registers", c.Workload)
	case c.RegisterBytes != 0 && !kindsHave(ks, WorkloadRegister):
		return fmt.Errorf("register bytes size the register values, and the %s workload has no registers", c.Workload)
	case c.RegisterBytes != 0 && (c.RegisterBytes < 8 || c.RegisterBytes > rowBytesMax):
		return fmt.Errorf("register bytes must be in [8, %d], got %d", rowBytesMax, c.RegisterBytes)
	case c.ContendedKeys == VarietyOn && !kindsHave(ks, WorkloadInsert):
		return fmt.Errorf("contended keys are keys of insert transactions, and the %s workload has none", c.Workload)
	case c.BulkReads == VarietyOn && (!kindsHave(ks, WorkloadInsert) || c.Autocommit || c.Clients < 2):
		return fmt.Errorf("bulk reads race the bulk loads of other clients: they need insert transactions in blocks (not autocommit) and at least 2 clients")
	}
	return nil
}

func (r resolved) stringVariety() string {
	return fmt.Sprintf(" deletes=%v contended_keys=%v bulk_reads=%v register_bytes=%d", r.vary.deletes, r.vary.contended, r.vary.bulkReads, r.vary.regBytes)
}

// ---------------------------------------------------------------------
// Registers: the "no row" state and wide values.

// regEncode is the bytes a client writes for register value v: the value
// alone, or the value padded as rowValue pads a row on wide seeds. The
// opening value 0 is always narrow (the rows initdb made).
func (w *workload) regEncode(v uint64) []byte {
	if v == 0 || w.rc.vary.regBytes <= 8 {
		return u64(v)
	}
	return rowValue(v, w.rc.vary.regBytes)
}

// regDecode reads a register value: regGarbage for bytes no client wrote.
func (w *workload) regDecode(b []byte) uint64 {
	if len(b) == 8 {
		return binary.LittleEndian.Uint64(b)
	}
	if n := w.rc.vary.regBytes; n > 8 && len(b) == n && rowIs(b, binary.LittleEndian.Uint64(b), n) {
		return binary.LittleEndian.Uint64(b)
	}
	return regGarbage
}

// regKind draws a register operation: read, write or compare-and-set, and
// on deletes seeds also DELETE and INSERT.
func (s *session) regKind() int {
	if s.w.rc.vary.deletes {
		return s.rng.Intn(regKinds)
	}
	return s.rng.Intn(3)
}

// The register operations regKind draws.
const (
	regKindRead = iota
	regKindWrite
	regKindCAS
	regKindDelete
	regKindInsert
	regKinds
)

// insertOutcome is what an autocommit INSERT of a register told its
// client: acknowledged (the compare from "no row" held), a unique
// violation (it did not: the row was there, committed), or as any other
// statement.
func (s *session) insertOutcome(err error) (Outcome, bool) {
	switch {
	case err == nil:
		return OK, true
	case pgerr.Is(err, pgerr.UniqueViolation):
		return OK, false
	}
	return s.autocommitOutcome(err), false
}

// ---------------------------------------------------------------------
// Contended keys of the insert transactions.

// contend replaces, on contended seeds and in half of the transactions,
// one of keys by a key every client may insert. The value stays the
// transaction's own, so the checker knows which inserter a row is from.
func (s *session) contend(keys []uint64) {
	if !s.w.rc.vary.contended || s.rng.Intn(2) == 0 {
		return
	}
	keys[s.rng.Intn(len(keys))] = contendedKeyBase + uint64(s.rng.Intn(contendedKeys))
}

func isContended(k uint64) bool { return k >= contendedKeyBase && k < contendedKeyBase+contendedKeys }

// CheckUnique judges primary keys: no key shown twice by a scan (amcheck's
// checkunique), and no key acknowledged by two inserting transactions
// (the second must have failed with unique_violation).
const CheckUnique = "unique"

// keyWriters indexes the insert history by key: the transactions that
// wrote each key, with the value each wrote.
type keyWriters map[uint64][]keyWrite

type keyWrite struct {
	op  *Op
	val uint64
}

func indexWriters(ops []*Op) keyWriters {
	m := make(keyWriters, len(ops)*2)
	for _, op := range ops {
		for i, k := range op.Keys {
			m[k] = append(m[k], keyWrite{op, op.Values[i]})
		}
	}
	return m
}

// writer is the transaction that wrote value id to key k (nil if none).
func (kw keyWriters) writer(k, id uint64) (*Op, bool) {
	for _, x := range kw[k] {
		if x.val == id {
			return x.op, true
		}
	}
	return nil, false
}

// judgeContended fails two acknowledged inserts of one key: the second
// should have waited for the first and failed with 23505 (_bt_check_unique).
// An acknowledged asynchronous insert may be lost at a crash-restart, and
// a later insert of its key then rightly succeeds.
func (w *workload) judgeContended(kw keyWriters, res *Result) {
	keys := make([]uint64, 0, contendedKeys)
	for k := range kw {
		if isContended(k) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		var first *Op
		for _, x := range kw[k] {
			if x.op.Outcome != OK {
				continue
			}
			// An asynchronous commit (synchronous_commit = off for the
			// run or SET LOCAL for the transaction) lost at a
			// crash-restart before the second insert began frees its key;
			// the crash may come before its client read the reply.
			if first != nil && !((w.rc.AsyncCommit || first.Async) && w.crashBetween(first.Call, x.op.Call)) {
				f := first.finding(CheckUnique, 0)
				f.Table, f.Key, f.Other = table, k, &Finding{Client: x.op.Client, Txn: x.op.Index, Call: x.op.Call, Return: x.op.Return, Outcome: x.op.Outcome}
				res.found(f)
				res.fail(CheckUnique, "key %d inserted by two acknowledged transactions, %s and %s: the second should have failed with unique_violation", k, first, x.op)
				break
			}
			first = x.op
		}
	}
}

// crashBetween reports whether a crash-restart began in [from, to].
func (w *workload) crashBetween(from, to time.Duration) bool {
	for _, t := range w.crashTimes {
		if t >= from && t <= to {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------
// Reads of table t while bulk loads split its index.

// KeyRead is one autocommit read of table t by the bulk reader: a key, or
// a range of keys, and the rows it returned (key and the id its value
// starts with), in one snapshot.
type KeyRead struct {
	Client       int
	Call, Return time.Duration
	Lo, Hi       uint64
	Rows         [][2]uint64
}

const kindBulkRead = "bulk-read"

// bulkReadsNow says whether the client's t-th transaction is a read burst:
// the bulk reader's first (instead of its load, so that it reads while
// the others load) and every other one after it.
func (w *workload) bulkReadsNow(s *session, t int) bool {
	return w.rc.vary.bulkReads && s.c == w.rc.Clients-1 && t%2 == 0
}

// bulkReadExtraRows is how many more rows each load has on a bulk-reads
// seed: the reader loads nothing, and the other loads together must still
// outgrow a leaf (about 400 keys) for the reads to race its split.
func (w *workload) bulkReadExtraRows() int {
	if w.rc.vary.bulkReads {
		return bulkReadExtraRows
	}
	return 0
}

// bulkReadTxn is one burst of autocommit reads of table t: point reads
// and range scans of the other clients' bulk-loaded keys, and range scans
// of their ordinary keys, each recorded with the rows it returned.
func (s *session) bulkReadTxn() bool {
	w := s.w
	for i := 0; i < bulkReadStmts; i++ {
		if !s.connect() {
			return false
		}
		w.node.Env.Clock.Sleep(time.Duration(s.rng.Intn(int(bulkReadPauseMax))))
		other := s.rng.Intn(w.rc.Clients - 1) // never the reader itself
		var lo, hi uint64
		switch s.rng.Intn(4) {
		case 0, 1: // one loaded key, read by key
			lo = w.bulkKey(other, 0, s.rng.Intn(bulkRowsMax+bulkReadExtraRows))
			hi = lo
		case 2: // a range of loaded keys
			lo = w.bulkKey(other, 0, s.rng.Intn(bulkRowsMax+bulkReadExtraRows))
			hi = lo + uint64(s.rng.Intn(bulkReadRangeMax))
		default: // every ordinary key of the other client
			lo, hi = w.key(other, 0, 0), w.key(other, w.rc.Txns-1, w.rc.WritesMax-1)
		}
		rd := KeyRead{Client: s.c, Call: w.node.Env.Clock.Now(), Lo: lo, Hi: hi}
		var err error
		if lo == hi {
			var resp pgproc.Response
			if resp, err = s.call(pgproc.Request{Op: pgproc.OpGet, Table: table, Key: lo}); err == nil && resp.Found {
				rd.Rows = append(rd.Rows, [2]uint64{lo, rowID(resp.Val)})
			}
		} else {
			var resp pgproc.Response
			if resp, err = s.call(pgproc.Request{Op: pgproc.OpScan, Table: table, Lo: lo, Hi: hi}); err == nil {
				for _, r := range resp.Rows {
					rd.Rows = append(rd.Rows, [2]uint64{r.Key, rowID(r.Val)})
				}
			}
		}
		if err != nil {
			continue // an error or a lost connection: nothing was read
		}
		rd.Return = w.node.Env.Clock.Now()
		w.hist.KeyReads = append(w.hist.KeyReads, rd)
	}
	return true
}

// rowID is the id a row's value starts with (rowValue), MaxUint64 for a
// value too short to hold one.
func rowID(b []byte) uint64 {
	if len(b) < 8 {
		return math.MaxUint64
	}
	return binary.LittleEndian.Uint64(b)
}

// judgeKeyReads judges the bulk reader's reads against the insert
// history. A read's snapshot is taken between its call and its return,
// so: every row it returned lies in its range and was written by a
// transaction that began before the read returned and did not fail
// (atomicity: no row of an aborted or rolled-back transaction is ever
// seen); and every key of a transaction acknowledged before the read began
// is among its rows (durability of a committed key to a later snapshot:
// a B-tree search that misses a key moved by a concurrent split fails
// here). Under synchronous_commit = off, an acknowledged key lost at a
// crash-restart before the read is not required.
func (w *workload) judgeKeyReads(kw keyWriters, res *Result) {
	if len(w.hist.KeyReads) == 0 {
		return
	}
	keys := make([]uint64, 0, len(kw))
	for k := range kw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for i := range w.hist.KeyReads {
		rd := &w.hist.KeyReads[i]
		got := make(map[uint64]bool, len(rd.Rows))
		for _, row := range rd.Rows {
			k, id := row[0], row[1]
			got[k] = true
			op, ok := kw.writer(k, id)
			switch {
			case k < rd.Lo || k > rd.Hi:
				res.fail(CheckAtomicity, "%s returned key %d, outside its range", rd, k)
			case !ok:
				res.fail(CheckAtomicity, "%s returned key %d with value %#x, which no transaction wrote", rd, k, id)
			case op.Outcome == Failed:
				res.fail(CheckAtomicity, "%s returned key %d of %s, which never committed", rd, k, op)
			case op.Call > rd.Return:
				res.fail(CheckAtomicity, "%s returned key %d of %s, which began after the read returned", rd, k, op)
			}
		}
		from := sort.Search(len(keys), func(j int) bool { return keys[j] >= rd.Lo })
		for j := from; j < len(keys) && keys[j] <= rd.Hi; j++ {
			k := keys[j]
			if got[k] {
				continue
			}
			for _, x := range kw[k] {
				op := x.op
				// An asynchronous commit lost at a crash-restart before the
				// read is allowed to be missing (judgeContended says why).
				// So is a write the new primary acknowledged, from a
				// read on a partitioned old primary (splitRead).
				if op.Outcome == OK && op.Return < rd.Call && !((w.rc.AsyncCommit || op.Async) && w.crashBetween(op.Call, rd.Call)) && !w.splitRead(i, op) {
					res.fail(CheckDurability, "%s did not find key %d of %s, acknowledged before the read began", rd, k, op)
					break
				}
			}
		}
	}
}

func (rd *KeyRead) String() string {
	what := fmt.Sprintf("key %d", rd.Lo)
	if rd.Lo != rd.Hi {
		what = fmt.Sprintf("keys %d..%d", rd.Lo, rd.Hi)
	}
	return fmt.Sprintf("client %d's read of %s (called at %v, returned at %v, %d rows)", rd.Client, what, rd.Call, rd.Return, len(rd.Rows))
}

// regBurst is how many register operations a register transaction of a
// wide seed sends back to back: wide rows are there to move hot rows
// between pages under concurrent writers, which needs the writers to
// overlap, as clients hammering one counter row do.
const regBurst = 4

// registerTxn is one register operation, or on wide seeds a burst of them.
func (s *session) registerTxn() bool {
	n := 1
	if s.w.rc.vary.regBytes > 8 {
		n = regBurst
	}
	for i := 0; i < n; i++ {
		if !s.registerOp() {
			return false
		}
	}
	return true
}
