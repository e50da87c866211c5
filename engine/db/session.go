package db

import (
	"encoding/binary"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/catalog"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/predicate"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Isolation is a transaction isolation level.
type Isolation int

const (
	ReadCommitted Isolation = iota
	RepeatableRead
	Serializable
)

func (i Isolation) String() string {
	return [...]string{"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"}[i]
}

// retriesMax bounds every wait-and-retry loop of a statement (waits on
// another transaction, following a chain of updated versions).
const retriesMax = 1000

// RegisterAccessMethods installs the heap and B-tree redo functions; pass
// it to Open.
func RegisterAccessMethods(db *DB) {
	heap := func(db *DB, rec wal.Record, _ wal.LSN) error { return heapam.Redo(rec, db.Pool, db.SMgr) }
	db.RegisterRedo(heapam.RMHeap, heap)
	db.RegisterRedo(heapam.RMHeap2, heap)
	db.RegisterRedo(nbtree.RMBtree, func(db *DB, rec wal.Record, _ wal.LSN) error {
		return nbtree.Redo(db.e, db.Pool, db.SMgr, rec)
	})
}

// table is an open table: its heap and primary-key index (a relcache
// entry, shared here because handles hold no per-backend state).
type table struct {
	heap *heapam.Relation
	idx  *nbtree.Index
	stat *tableStat // its shared statistics entry (pgstat.go)
	// vacuumLock is the part of ShareUpdateExclusiveLock that matters
	// here: one vacuum of the table at a time.
	vacuumLock env.Mutex
}

func (db *DB) openTable(name string) (*table, error) {
	db.relMu.Lock()
	defer db.relMu.Unlock()
	if t, ok := db.tables[name]; ok {
		return t, nil
	}
	if db.inRecovery {
		return db.openTableInRecovery(name)
	}
	def, ok := db.Catalog.Lookup(name)
	if !ok {
		return nil, pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name)
	}
	heap, err := heapam.Open(db.e, heapam.Config{Rel: def.Heap, Pool: db.Pool, SMgr: db.SMgr, WAL: db.WAL, NeedsFPI: db.NeedsFPI, HintBitsDirty: db.cfg.HintBitsDirty, Bugs: db.cfg.Bugs})
	if err != nil {
		return nil, err
	}
	idx, err := nbtree.Open(db.e, nbtree.Config{Rel: def.Index, Pool: db.Pool, SMgr: db.SMgr, WAL: db.WAL, NeedsFPI: db.NeedsFPI, Bugs: db.cfg.Bugs, PredicateLocks: db.predicateLocks(), MaxTuplesPerPage: db.cfg.BtreeMaxTuplesPerPage})
	if err != nil {
		return nil, err
	}
	t := &table{heap: heap, idx: idx, stat: newTableStat(db.e), vacuumLock: db.e.Sched.NewMutex("VacuumLock " + name)}
	db.tables[name] = t
	return t, nil
}

// CreateTable defines a table with a uint64 primary key and a byte-string
// value; its empty index is built before the catalog names the table.
func (db *DB) CreateTable(name string) error {
	_, err := db.Catalog.Create(name, func(def catalog.Table) error {
		_, err := nbtree.Create(db.e, nbtree.Config{Rel: def.Index, Pool: db.Pool, SMgr: db.SMgr, WAL: db.WAL, NeedsFPI: db.NeedsFPI, Bugs: db.cfg.Bugs, MaxTuplesPerPage: db.cfg.BtreeMaxTuplesPerPage})
		return err
	})
	if err != nil {
		return err
	}
	_, err = db.openTable(name)
	return err
}

// Session is one connection's backend: at most one transaction at a time.
type Session struct {
	db   *DB
	proc *xact.Proc
	// backup is the session's base backup in progress, if any
	// (replication.go: pg_backup_start's sessionBackupState).
	backup sessionBackup
	// hs is the session's hot standby state (hotstandby.go).
	hs  sessionHotStandby
	txn *xact.Txn
	// syncRepEnd is how the last commit's sync-rep wait ended when the
	// standbys did not confirm it (TakeSyncRepWarning).
	syncRepEnd syncRepEnd
	iso        Isolation
	snap       *xact.Snapshot // REPEATABLE READ's transaction snapshot
	inTxn      bool           // an explicit BEGIN is open
	failed     bool           // a statement failed: only ROLLBACK is allowed
	combos     [][2]uint32
	pgstat     []*xactTabStat // the transaction's pending table counts (pgstat.go)
	// committed is the transaction the last statement committed, for
	// the backend's acknowledgement event (TakeCommit).
	committed struct {
		xid uint64
		lsn wal.LSN
	}
	// tx is the statement's heap transaction (statementTx), kept so that
	// a statement allocates neither it nor its two method values; txInUse
	// says a statement is running with it.
	tx      heapam.Tx
	txInUse bool
	// sx is the SERIALIZABLE transaction's predicate lock record, from
	// its first snapshot to its end; readOnly is READ ONLY
	// (serializable.go), deferrable DEFERRABLE (safe_snapshot.go).
	sx         *predicate.Sxact
	readOnly   bool
	deferrable bool
	// ownDeadlockTimeout says SET deadlock_timeout gave the session's
	// backend a deadlock_timeout of its own (cancel.go).
	ownDeadlockTimeout bool
}

// statementTx is the heap transaction of a statement about to run: the
// session's own, or a fresh one should a statement ever run inside
// another. Nothing keeps a *heapam.Tx past its statement.
func (s *Session) statementTx() *heapam.Tx {
	if s.txInUse {
		return &heapam.Tx{Xid: s.txn.XID(), Cid: s.txn.CID(), Oracle: oracle{s}, Combo: s.combo, Wait: s.wait}
	}
	if s.tx.Wait == nil {
		s.tx.Oracle, s.tx.Combo, s.tx.Wait = oracle{s}, s.combo, s.wait
	}
	s.tx.Xid, s.tx.Cid = s.txn.XID(), s.txn.CID()
	s.txInUse = true
	return &s.tx
}

// noteCommit remembers a successful commit of the session's transaction.
func (s *Session) noteCommit(lsn wal.LSN, err error) {
	if err == nil && lsn != wal.InvalidLSN {
		s.committed.xid, s.committed.lsn = uint64(s.txn.XID()), lsn
		s.syncRepEnd = s.db.takeSyncRepEnd(s.proc.Slot())
	}
}

// TakeSyncRepWarning returns, once, the WARNING of the last commit's
// sync-rep wait when a cancel or a termination ended it before the
// standbys confirmed the commit (syncrep.go), and whether the backend
// must then end without replying (a termination: ProcDiePending).
func (s *Session) TakeSyncRepWarning() (warning string, terminate bool) {
	end := s.syncRepEnd
	s.syncRepEnd = syncRepEnd{}
	return end.warning, end.die
}

// TakeCommit returns, once, the xid and commit LSN of a transaction the
// last request committed (ok false: none).
func (s *Session) TakeCommit() (xid uint64, lsn wal.LSN, ok bool) {
	xid, lsn = s.committed.xid, s.committed.lsn
	s.committed.xid, s.committed.lsn = 0, wal.InvalidLSN
	return xid, lsn, lsn != wal.InvalidLSN
}

// Connect opens a session (a backend). Past max_connections it fails with
// too_many_connections, as the postmaster does.
func (db *DB) Connect() (*Session, error) {
	p, err := db.Procs.Register()
	if err != nil {
		return nil, pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already")
	}
	return &Session{db: db, proc: p}, nil
}

// Close ends the session, rolling back an open transaction.
func (s *Session) Close() {
	s.abortBackup()
	if s.txn != nil {
		s.txn.Abort()
		s.ssiRelease(false)
		s.atEOXactPgStat(false)
		s.txn = nil
	}
	if s.ownDeadlockTimeout {
		// The slot's next session starts with the server's
		// deadlock_timeout.
		s.db.Locks.SetDeadlockTimeout(s.proc.Slot(), 0)
	}
	s.db.Procs.Unregister(s.proc)
}

// Begin starts a transaction block. SERIALIZABLE is serializable
// snapshot isolation (serializable.go).
func (s *Session) Begin(iso Isolation) error {
	if s.inTxn {
		return pgerr.New(pgerr.ActiveTransaction, "there is already a transaction in progress")
	}
	if err := s.ssiBegin(iso); err != nil {
		return err
	}
	s.start(iso)
	s.inTxn = true
	return nil
}

func (s *Session) start(iso Isolation) {
	s.txn = s.db.Xacts.Begin(s.proc)
	s.hs.readOnly = s.db.RecoveryInProgress()
	s.iso = iso
	s.snap = nil
	s.failed = false
	s.combos = s.combos[:0]
	s.sx, s.readOnly, s.deferrable = nil, false, false
}

// Commit ends the transaction block; a failed transaction rolls back and
// says so, as COMMIT of an aborted transaction does.
func (s *Session) Commit() error {
	if !s.inTxn {
		return pgerr.New(pgerr.NoActiveTransaction, "there is no transaction in progress")
	}
	s.inTxn = false
	if s.failed {
		s.txn.Abort()
		s.ssiRelease(false)
		s.atEOXactPgStat(false)
		s.txn = nil
		s.failed = false // the block has ended; the session is usable again
		return pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commit rolled back")
	}
	if err := s.ssiPreCommit(); err != nil {
		s.txn.Abort()
		s.ssiRelease(false)
		s.atEOXactPgStat(false)
		s.txn = nil
		return err
	}
	lsn, err := s.txn.Commit()
	s.ssiRelease(err == nil)
	s.noteCommit(lsn, err)
	s.atEOXactPgStat(err == nil)
	s.txn = nil
	return err
}

// Rollback ends the transaction block, undoing it.
func (s *Session) Rollback() error {
	if s.txn != nil {
		s.txn.Abort()
		s.ssiRelease(false)
		s.atEOXactPgStat(false)
		s.txn = nil
	}
	s.inTxn = false
	s.failed = false
	return nil
}

// statement runs fn as one statement: in the open transaction block, or in
// a transaction of its own (autocommit). A failing statement aborts the
// transaction, as every ERROR does in PostgreSQL.
func (s *Session) statement(fn func(tx *heapam.Tx, snap *xact.Snapshot) error) error {
	if s.failed {
		return pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	auto := !s.inTxn
	if auto {
		s.start(ReadCommitted)
	}
	snap := s.snap
	if snap == nil {
		if s.iso == ReadCommitted {
			s.db.Procs.ClearXmin(s.proc)
		}
		snap = s.db.Procs.GetSnapshot(s.proc)
		if s.iso != ReadCommitted {
			s.snap = snap
		}
	}
	tx := s.statementTx()
	snap = s.ssiStatement(tx, snap)
	s.db.e.Inject(PointAfterSnapshot)
	err := fn(tx, snap)
	if s.hs.readOnly {
		if cerr := s.recoveryConflict(); cerr != nil {
			err = cerr
		}
	}
	if tx == &s.tx {
		s.txInUse = false
	}
	s.txn.NextCommand()
	if auto {
		if err != nil {
			s.txn.Abort()
			s.atEOXactPgStat(false)
		} else {
			var lsn wal.LSN
			lsn, err = s.txn.Commit()
			s.noteCommit(lsn, err)
			s.atEOXactPgStat(err == nil)
		}
		s.txn = nil
		return err
	}
	if err != nil {
		s.failed = true
	}
	return err
}

// writable gives the transaction an xid and tx its value.
func (s *Session) writable(tx *heapam.Tx) error {
	if s.hs.readOnly || s.readOnly {
		// A hot standby's session (hotstandby.go), or a READ ONLY
		// transaction (serializable.go): PreventCommandIfReadOnly.
		return errReadOnly()
	}
	xid, err := s.txn.AssignXID()
	if err != nil {
		return err
	}
	tx.Xid = xid
	s.ssiWritable(xid)
	return nil
}

func (s *Session) wait(xid xact.XID) error { return s.db.Locks.Wait(s.proc.Slot(), uint64(xid)) }

func (s *Session) combo(cmin, cmax uint32) uint32 {
	s.combos = append(s.combos, [2]uint32{cmin, cmax})
	return uint32(len(s.combos) - 1)
}

// oracle answers the heap's questions about transactions for a session.
type oracle struct{ s *Session }

func (o oracle) IsCurrent(x xact.XID) bool {
	return o.s.txn != nil && x != xact.InvalidXID && x == o.s.txn.XID()
}

func (o oracle) Status(x xact.XID) (clog.Status, wal.LSN) { return o.s.db.xidStatus(x) }

// xidStatus is the clog's answer for x. A clog that cannot be read is a
// PANIC here: PostgreSQL's SlruReportIOError is an ERROR, but the
// visibility code has no way to return one, and a guess could show rows
// that never committed.
func (db *DB) xidStatus(x xact.XID) (clog.Status, wal.LSN) {
	st, lsn, err := db.Clog.GetStatus(uint64(x))
	if err != nil {
		db.e.Panicf("could not access status of transaction %d: %v", x, err)
	}
	return st, lsn
}

func (o oracle) Combo(cid uint32) (uint32, uint32) {
	c := o.s.combos[cid]
	return c[0], c[1]
}

func (o oracle) IsInProgress(x xact.XID) bool { return o.s.db.Procs.IsRunning(x) }

func encodeRow(key uint64, val []byte) []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(val)), key)
	return append(b, val...)
}

func decodeRow(b []byte) (uint64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, pgerr.New(pgerr.DataCorrupted, "row of %d bytes", len(b))
	}
	return binary.LittleEndian.Uint64(b), b[8:], nil
}

// visible finds the version of key that snap sees, through the index.
func (t *table) visible(tx *heapam.Tx, key uint64, snap *xact.Snapshot) (page.ItemPointer, []byte, bool, error) {
	var tids []page.ItemPointer
	err := t.search(tx, key, func(en nbtree.Entry) bool { tids = append(tids, en.TID); return true })
	if err != nil {
		return page.ItemPointer{}, nil, false, err
	}
	for _, tid := range tids {
		data, ok, err := t.heap.Fetch(tx, tid, snap)
		if err != nil {
			return tid, nil, false, err
		}
		if !ok {
			continue
		}
		k, val, err := decodeRow(data)
		if err != nil {
			return tid, nil, false, err
		}
		if k != key {
			return tid, nil, false, pgerr.New(pgerr.IndexCorrupted, "index entry for key %d points at a row with key %d", key, k)
		}
		return tid, val, true, nil
	}
	return page.ItemPointer{}, nil, false, nil
}

// lockLatest is EvalPlanQual's table_tuple_lock with
// TUPLE_LOCK_FLAG_FIND_LAST_VERSION (heapam_tuple_lock, LockTupleExclusive):
// from tid, the version a committed update made, it follows the update
// chain to the row's newest version, waiting for every updater still in
// progress, and locks that version for tx (heap_lock_tuple), so that no one
// updates it before tx's own change does. It returns the locked version and
// its value, which snap, taken after the lock, sees; or found false when
// the chain ends in a delete. Looking at the next version alone is not
// enough: when two updates commit between a statement's snapshot and its
// update, the version after the one it saw is already superseded.
func (t *table) lockLatest(tx *heapam.Tx, key uint64, tid page.ItemPointer, snap func() *xact.Snapshot) (page.ItemPointer, []byte, bool, error) {
	for i := 0; i < retriesMax; i++ {
		res, fd, err := t.heap.LockTuple(tx, tid, nil, true)
		if err != nil {
			return tid, nil, false, err
		}
		switch res {
		case heapam.TMOk:
			cur, err := t.fetchLatest(tx, key, tid, snap())
			if err == nil && cur == nil {
				err = fmt.Errorf("update of key %d: the version at %v is locked but not visible to a new snapshot", key, tid)
			}
			return tid, cur, err == nil, err
		case heapam.TMUpdated:
			if fd.Ctid == tid {
				return tid, nil, false, nil // deleted
			}
			tid = fd.Ctid
		case heapam.TMDeleted, heapam.TMSelfModified, heapam.TMInvisible:
			return tid, nil, false, nil
		default:
			return tid, nil, false, fmt.Errorf("update of key %d: unexpected TM result %d locking %v", key, res, tid)
		}
	}
	return tid, nil, false, fmt.Errorf("update of key %d: update chain longer than %d versions", key, retriesMax)
}

// fetchLatest returns the value of the row version at tid as snap sees
// it, or nil if snap does not see it.
func (t *table) fetchLatest(tx *heapam.Tx, key uint64, tid page.ItemPointer, snap *xact.Snapshot) ([]byte, error) {
	data, ok, err := t.heap.Fetch(tx, tid, snap)
	if err != nil || !ok {
		return nil, err
	}
	k, val, err := decodeRow(data)
	if err != nil {
		return nil, err
	}
	if k != key {
		return nil, pgerr.New(pgerr.IndexCorrupted, "update chain of key %d leads to a row with key %d", key, k)
	}
	return val, nil
}

// Get returns key's value as the statement's snapshot sees it.
func (s *Session) Get(tableName string, key uint64) (val []byte, found bool, err error) {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return nil, false, err
	}
	err = s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		_, val, found, err = t.visible(tx, key, snap)
		return err
	})
	return val, found, err
}

// Scan calls fn for every visible row with lo <= key <= hi, in key order.
func (s *Session) Scan(tableName string, lo, hi uint64, fn func(key uint64, val []byte) bool) error {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return err
	}
	return s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		var entries []nbtree.Entry
		if err := s.ssiIndexScan(t, lo, hi, func(en nbtree.Entry) bool { entries = append(entries, en); return true }); err != nil {
			return err
		}
		for _, en := range entries {
			data, ok, err := t.heap.Fetch(tx, en.TID, snap)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			k, val, err := decodeRow(data)
			if err != nil {
				return err
			}
			if !fn(k, val) {
				return nil
			}
		}
		return nil
	})
}

// Insert adds a row. A key that a committed or concurrent transaction holds
// waits for that transaction (as _bt_check_unique does) and then fails
// with unique_violation if the row is still there.
func (s *Session) Insert(tableName string, key uint64, val []byte) error {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return err
	}
	return s.statement(func(tx *heapam.Tx, _ *xact.Snapshot) error {
		if err := s.writable(tx); err != nil {
			return err
		}
		return s.insertRow(t, tx, key, val)
	})
}

// insertRow is ExecInsert of one row by a writable tx: heap_insert, then
// the index entry with its uniqueness check (_bt_check_unique), waiting
// for an inserter or deleter of the same key still in progress.
func (s *Session) insertRow(t *table, tx *heapam.Tx, key uint64, val []byte) error {
	if err := s.ssiHeapInsert(t); err != nil {
		return err
	}
	tid, err := t.heap.Insert(tx, encodeRow(key, val))
	if err != nil {
		return err
	}
	s.pgstatCountInsert(t)
	for i := 0; i < retriesMax; i++ {
		waitXid, err := t.idx.InsertUniqueChecked(key, tid, func(other page.ItemPointer) (bool, uint64) {
			if other == tid {
				return false, 0
			}
			present, wait, err := t.heap.FetchDirty(tx, other)
			if err != nil {
				return true, 0 // an unreadable row blocks the key rather than risk a duplicate
			}
			return present && wait == xact.InvalidXID, uint64(wait)
		}, s.ssiIndexConflictIn(t))
		if err != nil {
			return err
		}
		if waitXid == 0 {
			return nil
		}
		if err := s.wait(xact.XID(waitXid)); err != nil {
			return err
		}
	}
	return fmt.Errorf("insert of key %d: still waiting after %d retries", key, retriesMax)
}

// Update sets key's value; it reports whether a row was updated.
func (s *Session) Update(tableName string, key uint64, val []byte) (bool, error) {
	return s.modify(tableName, key, func([]byte) ([]byte, bool) { return val, true }, false)
}

// Modify is UPDATE t SET val = f(val) WHERE key = k AND q(val): fn gets the
// row version the update applies to and returns the new value, or false
// when the qualification fails. Under READ COMMITTED, a concurrent update
// makes fn run again on the newest version (EvalPlanQual re-evaluates the
// quals and the target list on it), so an append or an increment is never
// lost. It reports whether a row was updated.
func (s *Session) Modify(tableName string, key uint64, fn func(old []byte) (val []byte, ok bool)) (bool, error) {
	return s.modify(tableName, key, fn, false)
}

// Delete removes key's row; it reports whether a row was deleted.
func (s *Session) Delete(tableName string, key uint64) (bool, error) {
	return s.modify(tableName, key, nil, true)
}

// modify is UPDATE or DELETE of one key, with PostgreSQL's concurrency
// rules (ExecUpdate/ExecDelete): the row version the snapshot sees is
// locked for the change, waiting for a concurrent updater to finish. If
// that transaction committed a newer version, READ COMMITTED follows the
// update chain and applies the change to the newest version (EvalPlanQual;
// the key cannot change, so the re-check always holds), while REPEATABLE
// READ fails with serialization_failure.
func (s *Session) modify(tableName string, key uint64, fn func(old []byte) ([]byte, bool), del bool) (done bool, err error) {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return false, err
	}
	err = s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		if err := s.writable(tx); err != nil {
			return err
		}
		tid, cur, found, err := t.visible(tx, key, snap)
		if err != nil || !found {
			return err
		}
		done, err = s.modifyVersion(t, tx, key, tid, cur, fn, del)
		return err
	})
	return done, err
}

// modifyVersion is the part of ExecUpdate and ExecDelete after the scan:
// it updates (fn) or deletes (del) the row version at tid, whose value
// cur the statement's scan saw, with PostgreSQL's concurrency rules (see
// modify), and reports whether a row was changed.
func (s *Session) modifyVersion(t *table, tx *heapam.Tx, key uint64, tid page.ItemPointer, cur []byte, fn func(old []byte) ([]byte, bool), del bool) (done bool, err error) {
	// No crosscheck snapshot: PostgreSQL passes one only for RI
	// checks. A committed concurrent update shows up as TMUpdated on
	// its own, and ExecUpdate raises serialization_failure for
	// IsolationUsesXactSnapshot levels.
	var crosscheck *xact.Snapshot
	for i := 0; i < retriesMax; i++ {
		var res heapam.TMResult
		var fd heapam.TMFailure
		var newTid page.ItemPointer
		if del {
			res, fd, err = t.heap.Delete(tx, tid, crosscheck, true)
		} else {
			val, ok := fn(cur)
			if !ok {
				return done, nil // the qualification fails on this version
			}
			newTid, res, fd, err = t.heap.Update(tx, tid, encodeRow(key, val), crosscheck, true)
		}
		if err != nil {
			return done, err
		}
		switch res {
		case heapam.TMOk:
			done = true
			if !del {
				s.pgstatCountUpdate(t)
				return done, t.idx.InsertChecked(key, newTid, s.ssiIndexConflictIn(t)) // no HOT: every version is indexed
			}
			s.pgstatCountDelete(t)
			return done, nil
		case heapam.TMSelfModified:
			// ExecUpdate and ExecDelete: a version this very command
			// already changed is skipped; one a later command changed
			// (a trigger's) is an error.
			if fd.Cmax != tx.Cid {
				return done, pgerr.New(pgerr.TriggeredDataChangeViolation, "tuple to be updated was already modified by an operation triggered by the current command")
			}
			return done, nil
		case heapam.TMInvisible:
			// heap_update and heap_delete: the scan showed a version
			// the command may not change (one its own command
			// inserted, say), which PostgreSQL reports rather than
			// skip: skipping would hide the scan's error behind a
			// wrong row count.
			verb := "update"
			if del {
				verb = "delete"
			}
			return done, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "attempted to %s invisible tuple", verb)
		case heapam.TMUpdated, heapam.TMDeleted:
			// Planted bug rr-no-serialization-failure: ExecUpdate and
			// ExecDelete without their IsolationUsesXactSnapshot
			// check, so REPEATABLE READ falls through to
			// EvalPlanQual as READ COMMITTED does.
			if s.iso != ReadCommitted && !s.db.cfg.Bugs.Has(bugs.RRNoSerializationFailure) {
				s.db.e.Sometimes("serialization-failure")
				return done, pgerr.New(pgerr.SerializationFailure, "could not serialize access due to concurrent update")
			}
			if res == heapam.TMDeleted || fd.Ctid == tid {
				return done, nil // the row is gone
			}
			if s.db.cfg.Bugs.Has(bugs.EPQNextVersion) {
				// Planted bug epq-next-version: the next version as a
				// fresh snapshot sees it, nil when a later committed
				// update superseded it, and the change evaluated on
				// that (the next attempt).
				tid = fd.Ctid
				if !del {
					if cur, err = t.fetchLatest(tx, key, tid, s.db.Procs.GetSnapshot(s.proc)); err != nil {
						return done, err
					}
				}
				continue
			}
			// EvalPlanQual: lock the newest version of the row, then
			// evaluate the change on it (the next attempt).
			s.db.e.Sometimes("epq-recheck")
			var found bool
			if tid, cur, found, err = t.lockLatest(tx, key, fd.Ctid, func() *xact.Snapshot { return s.db.Procs.GetSnapshot(s.proc) }); err != nil || !found {
				return done, err
			}
		case heapam.TMBeingModified:
			if err := s.wait(fd.Xmax); err != nil {
				return done, err
			}
		default:
			return done, fmt.Errorf("unexpected TM result %d", res)
		}
	}
	return done, fmt.Errorf("update of key %d: still retrying after %d attempts", key, retriesMax)
}

// CheckTable is the engine's self-check of one table after recovery, run
// with no other activity: the index's structure (nbtree's Check, as
// amcheck's bt_index_check), every row the heap shows under a fresh
// snapshot reachable through the index at its own TID, and the index
// showing no visible row the heap does not. It returns the number of
// visible rows.
func (db *DB) CheckTable(name string) (int, error) {
	t, err := db.openTable(name)
	if err != nil {
		return 0, err
	}
	if err := t.idx.Check(); err != nil {
		return 0, fmt.Errorf("index of %q: %w", name, err)
	}
	def, _ := db.Catalog.Lookup(name)
	for _, rel := range []smgr.RelFileNumber{def.Heap, def.Index} {
		if err := db.checkPageLSNs(rel, rel == def.Heap); err != nil {
			return 0, err
		}
	}
	s, err := db.Connect()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	rows := 0
	err = s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		heapRows := map[page.ItemPointer]uint64{}
		if err := t.heap.Scan(tx, snap, func(tid page.ItemPointer, data []byte) bool {
			k, _, derr := decodeRow(data)
			if derr != nil {
				err = derr
				return false
			}
			heapRows[tid] = k
			return true
		}); err != nil {
			return err
		}
		var entries []nbtree.Entry
		if err := t.idx.Scan(0, ^uint64(0), func(en nbtree.Entry) bool { entries = append(entries, en); return true }); err != nil {
			return err
		}
		indexed := 0
		for _, en := range entries {
			k, visible := heapRows[en.TID]
			if !visible {
				continue // an older or dead version: the heap hides it
			}
			if k != en.Key {
				return pgerr.New(pgerr.IndexCorrupted, "index entry %d -> %v points at a row with key %d", en.Key, en.TID, k)
			}
			indexed++
		}
		if indexed != len(heapRows) {
			return pgerr.New(pgerr.IndexCorrupted, "heap shows %d rows, the index reaches %d of them", len(heapRows), indexed)
		}
		rows = indexed
		return nil
	})
	return rows, err
}

// checkPageLSNs verifies WAL-before-data after the fact: no page of rel may
// carry an LSN beyond the WAL's insert position, since every change on a
// page was in the WAL before the page could be written. Right after
// recovery that position is the end of valid WAL (plus the end-of-recovery
// checkpoint record), so a page written before its WAL, whose WAL was then
// lost, shows up here. (PostgreSQL meets such a page when it is next
// written: "xlog flush request ... is not satisfied".)
//
// On a heap (heap true) it also checks each page's commit hint bits
// against the clog (checkPageHints).
func (db *DB) checkPageLSNs(rel smgr.RelFileNumber, heap bool) error {
	n, err := db.SMgr.NBlocks(rel, smgr.MainForkNum)
	if err != nil {
		return err
	}
	for blk := smgr.BlockNumber(0); blk < n; blk++ {
		buf, err := db.Pool.ReadBuffer(rel, smgr.MainForkNum, blk)
		if err != nil {
			return err
		}
		db.Pool.LockBuffer(buf, buffer.Share)
		lsn := db.Pool.BufferGetLSN(buf)
		var herr error
		if heap {
			herr = db.checkPageHints(db.Pool.BufferGetPage(buf), rel, blk)
		}
		db.Pool.UnlockReleaseBuffer(buf)
		if herr != nil {
			return herr
		}
		if end := db.WAL.InsertLSN(); lsn > end {
			return pgerr.New(pgerr.DataCorrupted, "block %d of relation %d has LSN %s beyond the end of WAL %s: written before its WAL", blk, rel, lsn, end)
		}
	}
	return nil
}
