package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/db"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest/world"
)

// SERIALIZABLE in the swarm (issue 20). On a share of the seeds whose
// level is drawn, the clients' transaction blocks run at SERIALIZABLE
// instead of the level resolve drew, and the isolation checker holds the
// list-append history to serializability (no G0, G1, G-single, G2-item
// or G2). The draw comes from a stream of its own, so every other seed
// keeps its run.
//
// Serializable seeds also draw the predicate lock limits: PostgreSQL's
// defaults, or limits scaled down to the workload's few rows
// (max_pred_locks_per_transaction 8, so more than 3 locks on a relation
// promote to a relation lock, and transaction records for only a few
// more transactions than connections, so committed ones are summarized),
// so that promotion and summarization, which trade precision for memory
// in PostgreSQL, are part of the runs.

// IsoSerializable is the SERIALIZABLE level's name.
const IsoSerializable = "serializable"

// The predicate lock limits a serializable run may use (Config.PredLocks).
const (
	PredLocksDefault = "default"
	PredLocksScaled  = "scaled"
)

// PredLocksModes lists the values of Config.PredLocks ("" draws one).
var PredLocksModes = []string{PredLocksDefault, PredLocksScaled}

// serializablePer is one seed in serializablePer of those whose level is
// drawn that runs at SERIALIZABLE.
const serializablePer = 10

const serializableStream = 0x73657269616c697a // "serializ"

// resolveSerializable draws SERIALIZABLE for a swarm seed whose level is
// not given, and the predicate lock limits of a serializable run.
func resolveSerializable(c Config, r *resolved) {
	rng := world.NewRand(c.Seed ^ serializableStream)
	ks := kinds(r.Workload) // a failover narrows it (failover.go)
	judged := kindsHave(ks, WorkloadAppend) || kindsHave(ks, WorkloadBank)
	if c.Isolation == "" && c.Swarm && judged && rng.Intn(serializablePer) == 0 {
		// Only where a checker judges transaction blocks at the run's
		// level: the list-append and bank workloads.
		r.iso = db.Serializable
	}
	hot, hotKeys := drawHotKeys(c, ks)
	if c.HotKeys != VarietyDraw {
		hot = c.HotKeys == VarietyOn
	}
	if c.Isolation == "" && hot {
		r.iso = db.Serializable // hot seeds add to the share (hot_keys.go)
	}
	resolveHotKeys(c, r, hot, hotKeys)
	if r.iso != db.Serializable {
		return
	}
	scaled := rng.Intn(4) == 0
	switch c.PredLocks {
	case PredLocksDefault:
		scaled = false
	case PredLocksScaled:
		scaled = true
	}
	if scaled {
		r.engine.PredicateLocks = db.PredicateLockConfig{MaxPredLocksPerTransaction: 8, MaxSerializableXacts: r.engine.MaxConnections + 2}
	}
	r.listInserts = rng.Intn(4) != 0 || r.hot
	switch c.ListInserts {
	case "on":
		r.listInserts = true
	case "off":
		r.listInserts = false
	}
	if !kindsHave(ks, WorkloadAppend) {
		r.listInserts = false // no lists to insert
	}
	if r.listInserts {
		// Few items per B-tree page, so that the lists' index splits
		// under the scans that locked its leaves.
		r.engine.BtreeMaxTuplesPerPage = btreeScaledTuples
	}
}

// btreeScaledTuples is the B-tree page capacity of a list-inserts run.
const btreeScaledTuples = 8

// listKey is the list a list-append micro-operation drawing k touches:
// k itself, or on list-inserts runs, for odd k, a list that does not
// exist until its first append inserts it, so that reads of missing lists
// are predicate reads a concurrent insert must conflict with (phantoms,
// through the B-tree leaf pages' SIREAD locks) -- the shape of Jepsen's
// PostgreSQL test, where every list is made by INSERT ... ON CONFLICT DO
// UPDATE. The new lists move on as the run goes (every
// listEpochTxns list-append transactions, four new keys), so that
// inserts go on all run long: odd keys from listKeys+1 up.
func (w *workload) listKey(k uint64) uint64 {
	if !w.rc.listInserts || k%2 == 0 {
		return k
	}
	epoch := min(uint64(len(w.hist.Lists)/listEpochTxns), (maxLists-2*listKeys)/listKeys)
	return listKeys + k + listKeys*epoch
}

// listEpochTxns is how many list-append transactions a list-inserts
// run's new lists last; maxLists bounds every list key.
const (
	listEpochTxns = 6
	maxLists      = 256
)

// isListKey reports whether key is a list: one of the listKeys lists
// initdb made (on list-inserts runs the odd ones stay empty, since appends
// to an odd key go to the moving new lists), or a new list the workload
// can make. A range read over the first lists meets the odd ones, which it
// records as the empty lists they are: before they counted as no list, so
// that every range read from an even key failed its transaction with a
// client-side error, and half of a list-inserts run's range-reading
// transactions rolled back.
func (r resolved) isListKey(key uint64) bool {
	if key < listKeys {
		return true
	}
	return r.listInserts && key%2 == 1 && key < maxLists
}

// listInsertsKind is the kind of a transaction whose drawn kind is kind:
// on list-inserts runs the register and bank transactions are
// list-append ones, so that three quarters of a mixed run's transactions
// append and serializable list-append transactions overlap often (the
// bank workload runs at SERIALIZABLE on the other serializable seeds).
func (r resolved) listInsertsKind(kind string) string {
	if r.listInserts && (kind == WorkloadRegister || kind == WorkloadBank) {
		return WorkloadAppend
	}
	if r.hot && kind == WorkloadInsert {
		return WorkloadAppend // every client crowds the lists (hot_keys.go)
	}
	return kind
}

// appendOp is the statement of a list append: an upsert on list-inserts
// runs, else an update of the existing row.
func (r resolved) appendOp() pgproc.Op {
	if r.listInserts {
		return pgproc.OpUpsertAppend
	}
	return pgproc.OpAppend
}

func (c Config) validateListInserts() error {
	switch c.ListInserts {
	case "", "on", "off":
		return nil
	}
	return fmt.Errorf("list-inserts must be on or off, got %q", c.ListInserts)
}

func (c Config) validatePredLocks() error {
	switch c.PredLocks {
	case "", PredLocksDefault, PredLocksScaled:
		return nil
	}
	return fmt.Errorf("pred-locks must be %s or %s, got %q", PredLocksDefault, PredLocksScaled, c.PredLocks)
}

// usesXactSnapshot is IsolationUsesXactSnapshot: REPEATABLE READ and
// SERIALIZABLE read from one snapshot taken by the first statement.
func (r resolved) usesXactSnapshot() bool {
	return r.iso == db.RepeatableRead || r.iso == db.Serializable
}

// listRangeWidth is how many keys past its first a range read of lists
// covers.
const listRangeWidth = 16

// readListRange is a predicate read of list-inserts runs: SELECT key, val
// FROM lists WHERE key BETWEEN lo AND lo+listRangeWidth, recorded as a
// read of every list the workload can make in the range, an empty list
// for one with no row yet. Its index scan locks the leaf pages it reads,
// which later inserts and splits of those pages must respect.
func (s *session) readListRange(txn func() *lin.Txn, lo uint64) error {
	hi := lo + listRangeWidth
	resp, err := s.stmt(pgproc.Request{Op: pgproc.OpScan, Table: tableLists, Lo: lo, Hi: hi})
	if err != nil {
		return err
	}
	rows := make(map[uint64][]byte, len(resp.Rows))
	for _, r := range resp.Rows {
		rows[r.Key] = r.Val
	}
	for key := lo; key <= hi; key++ {
		if !s.w.rc.isListKey(key) {
			continue
		}
		txn().Mops = append(txn().Mops, lin.Mop{Kind: lin.MopRead, Key: key, List: decodeList(rows[key])})
		delete(rows, key)
	}
	for k := range rows {
		return fmt.Errorf("range read of lists %d..%d: row %d is no list the workload makes", lo, hi, k)
	}
	return nil
}

// listMopsMax is the most micro-operations a list-append transaction
// draws: twice the usual on list-inserts runs, whose longer transactions
// overlap more and so meet more rw-conflicts.
func (r resolved) listMopsMax() int {
	if r.listInserts {
		return 2 * listMopsMax
	}
	return listMopsMax
}

// stringSerializable is the serializable draws for the run's config line
// (nothing on other runs, whose line stays as it was).
func (r resolved) stringSerializable() string {
	if r.iso != db.Serializable {
		return ""
	}
	locks := PredLocksDefault
	if r.engine.PredicateLocks.MaxPredLocksPerTransaction != 0 {
		locks = PredLocksScaled
	}
	return fmt.Sprintf(" pred_locks=%s list_inserts=%s", locks, map[bool]string{true: "on", false: "off"}[r.listInserts]) + r.stringSSIReadOnly() + r.stringHotKeys()
}
