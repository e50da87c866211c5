package db

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/predicate"
	"github.com/pgdst/pgdst/engine/xact"
)

// PredicateLockConfig is the GUCs that size SERIALIZABLE's predicate
// locks; a zero field takes PostgreSQL's default (64, -2, 2, and ten
// transaction records per connection).
type PredicateLockConfig struct {
	MaxPredLocksPerTransaction int // max_pred_locks_per_transaction
	MaxPredLocksPerRelation    int // max_pred_locks_per_relation
	MaxPredLocksPerPage        int // max_pred_locks_per_page
	// MaxSerializableXacts bounds the serializable transaction records
	// (PostgreSQL: (MaxBackends + max_prepared_xacts) * 10); past it the
	// oldest committed one is summarized.
	MaxSerializableXacts int
}

// predicateLocks is the instance's predicate lock manager, made on first
// use: it lives in shared memory only, so a restart after a crash starts
// with none (predicate locks are not WAL-logged).
func (db *DB) predicateLocks() *predicate.Manager {
	if db.pred == nil {
		c := predicate.DefaultConfig(max(db.cfg.MaxConnections, 1), func() xact.XID { return db.Procs.NextXID() })
		pc := db.cfg.PredicateLocks
		if pc.MaxPredLocksPerTransaction > 0 {
			c.MaxPredLocksPerXact = pc.MaxPredLocksPerTransaction
		}
		if pc.MaxPredLocksPerRelation != 0 {
			c.MaxPredLocksPerRelation = pc.MaxPredLocksPerRelation
		}
		if pc.MaxPredLocksPerPage > 0 {
			c.MaxPredLocksPerPage = pc.MaxPredLocksPerPage
		}
		if pc.MaxSerializableXacts > 0 {
			c.MaxSxacts = max(pc.MaxSerializableXacts, db.cfg.MaxConnections+1)
		}
		c.Bugs = db.cfg.Bugs
		db.pred = predicate.New(db.e, c)
	}
	return db.pred
}

// PredicateLockStats is the predicate lock manager's size, for tests.
func (db *DB) PredicateLockStats() predicate.Stats { return db.predicateLocks().Stats() }

// ssiReader is a serializable session's side of heapam's reads and writes
// (heapam.Serializable).
type ssiReader struct{ s *Session }

func (r ssiReader) ConflictOut(xid xact.XID) error {
	return r.s.db.predicateLocks().ConflictOut(r.s.sx, xid)
}

func (r ssiReader) LockTID(rel uint32, tid page.ItemPointer, tupleXid xact.XID) {
	r.s.db.predicateLocks().LockTID(r.s.sx, rel, tid.Block, uint16(tid.Offset), tupleXid)
}

func (r ssiReader) ConflictIn(rel uint32, tid page.ItemPointer) error {
	return r.s.db.predicateLocks().ConflictIn(r.s.sx, rel, tid.Block, uint16(tid.Offset))
}

func (r ssiReader) Xmin() xact.XID { return r.s.sx.Xmin() }

// ssiStatement prepares a statement of the session's transaction: a
// SERIALIZABLE transaction's first snapshot registers it with the
// predicate lock manager (GetSerializableTransactionSnapshot), and its
// statements' heap accesses check conflicts and take SIREAD locks.
// Other levels take no SIREAD locks and check no conflicts, not even on
// their writes: PostgreSQL's SerializationNeededForWrite asks only
// whether the writer is serializable, so SERIALIZABLE's guarantee holds
// among serializable transactions only. A READ ONLY DEFERRABLE
// transaction's first snapshot waits until it is safe, and may be
// replaced by a later one (GetSafeSnapshot, safe_snapshot.go): the
// statement runs with the snapshot returned.
func (s *Session) ssiStatement(tx *heapam.Tx, snap *xact.Snapshot) *xact.Snapshot {
	if s.iso != Serializable {
		tx.SSI = nil
		return snap
	}
	if s.sx == nil {
		if s.readOnly && s.deferrable {
			snap = s.getSafeSnapshot(snap)
		} else {
			s.sx = s.db.predicateLocks().Register(snap, s.readOnly)
		}
	}
	tx.SSI = ssiReader{s}
	return snap
}

// ssiWritable is RegisterPredicateLockingXid: the transaction's new xid
// names it to other readers' conflict-out checks.
func (s *Session) ssiWritable(xid xact.XID) {
	if s.sx != nil {
		s.db.predicateLocks().RegisterXid(s.sx, xid)
	}
}

// ssiPreCommit is PreCommit_CheckForSerializationFailure, run by COMMIT
// before the commit record: a 40001 here rolls the transaction back.
func (s *Session) ssiPreCommit() error {
	if s.sx == nil {
		return nil
	}
	return s.db.predicateLocks().PreCommit(s.sx)
}

// ssiRelease is ReleasePredicateLocks at the end of the transaction:
// after the commit is recorded and the xid has left the proc array, or at
// abort.
func (s *Session) ssiRelease(commit bool) {
	if s.sx != nil {
		s.db.predicateLocks().Release(s.sx, commit)
		s.sx = nil
		s.ssiWakeSafeSnapshotWaiters()
	}
}

// ssiIndexLookup is the index scan of a read: for a serializable
// transaction, every leaf page the scan reads gets a SIREAD lock
// (PredicateLockPage), so that an insert of a key in the scanned range,
// even one that did not exist, conflicts with it.
func (s *Session) ssiIndexScan(t *table, lo, hi uint64, fn func(nbtree.Entry) bool) error {
	if s.sx == nil || s.db.cfg.Bugs.Has(bugs.SSIReadNoSIREAD) {
		// Planted bug ssi-read-no-siread: the read's index scan takes
		// no SIREAD lock on its leaf pages either (see
		// predicate.LockTID).
		return t.idx.Scan(lo, hi, fn)
	}
	pl, rel := s.db.predicateLocks(), uint32(t.idx.Rel())
	return t.idx.ScanLocking(lo, hi, fn, func(blk uint32) { pl.LockPage(s.sx, rel, blk) })
}

// ssiIndexConflictIn is _bt_doinsert's CheckForSerializableConflictIn on
// the leaf page a new entry goes to; nil for a session not serializable.
func (s *Session) ssiIndexConflictIn(t *table) func(blk uint32) error {
	if s.sx == nil {
		return nil
	}
	pl, rel := s.db.predicateLocks(), uint32(t.idx.Rel())
	return func(blk uint32) error { return pl.ConflictIn(s.sx, rel, blk, 0) }
}

// ssiHeapInsert is heap_insert's CheckForSerializableConflictIn at
// relation granularity (a sequential scan's lock).
func (s *Session) ssiHeapInsert(t *table) error {
	if s.sx == nil {
		return nil
	}
	return s.db.predicateLocks().ConflictIn(s.sx, uint32(t.heap.Rel()), predicate.InvalidBlock, 0)
}

// ssiHeapScan is heap_beginscan's PredicateLockRelation for a sequential
// scan of a serializable transaction.
func (s *Session) ssiHeapScan(t *table) {
	if s.sx != nil {
		s.db.predicateLocks().LockRelation(s.sx, uint32(t.heap.Rel()))
	}
}

// BeginReadOnly is BEGIN ISOLATION LEVEL iso READ ONLY: the transaction
// may not write (25006), and a SERIALIZABLE one gets SSI's read-only
// optimizations.
func (s *Session) BeginReadOnly(iso Isolation) error { return s.BeginMode(iso, ModeReadOnly) }

// errReadOnly is the 25006 of a write in a READ ONLY transaction.
func errReadOnly() error {
	return pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute a write in a read-only transaction")
}

// search calls fn with the index entries of key: the index scan of a
// read by key, through ssiIndexScan when tx is a serializable
// transaction's.
func (t *table) search(tx *heapam.Tx, key uint64, fn func(nbtree.Entry) bool) error {
	if r, ok := tx.SSI.(ssiReader); ok {
		return r.s.ssiIndexScan(t, key, key, fn)
	}
	return t.idx.Scan(key, key, fn)
}

// PredicateLocks describes the SIREAD locks the session's serializable
// transaction holds, by relation: "relation", or its pages and tuples
// ("heap 16384: pages 0,2 tuples 3"); "none" when it holds none.
func (s *Session) PredicateLocks() string {
	if s.sx == nil {
		return "none"
	}
	type rel struct {
		whole         bool
		pages, tuples int
	}
	var order []uint32
	rels := map[uint32]*rel{}
	for _, t := range s.db.predicateLocks().Locks(s.sx) {
		r := rels[t.Rel]
		if r == nil {
			r = &rel{}
			rels[t.Rel] = r
			order = append(order, t.Rel)
		}
		switch {
		case t.Block == predicate.InvalidBlock:
			r.whole = true
		case t.Offset == 0:
			r.pages++
		default:
			r.tuples++
		}
	}
	if len(order) == 0 {
		return "none"
	}
	out := ""
	for i, id := range order {
		if i > 0 {
			out += "; "
		}
		r := rels[id]
		out += fmt.Sprintf("rel %d:", id)
		if r.whole {
			out += " relation"
		}
		if r.pages > 0 {
			out += fmt.Sprintf(" %d pages", r.pages)
		}
		if r.tuples > 0 {
			out += fmt.Sprintf(" %d tuples", r.tuples)
		}
	}
	return out
}

// ssiBegin is check_transaction_isolation's rule for a hot standby: no
// SERIALIZABLE during recovery, where no predicate locks exist to see the
// primary's writers.
func (s *Session) ssiBegin(iso Isolation) error {
	if iso != Serializable || !s.db.inRecovery {
		return nil
	}
	err := pgerr.New(pgerr.FeatureNotSupported, "cannot use serializable mode in a hot standby")
	err.Hint = "You can use REPEATABLE READ instead."
	return err
}
