// Package predicate is serializable snapshot isolation (SSI) as PostgreSQL
// builds it in src/backend/storage/lmgr/predicate.c (README-SSI; Cahill,
// Röhm and Fekete 2008; Ports and Grittner 2012): SIREAD predicate locks
// taken by the reads of serializable transactions at tuple, page and
// relation granularity, promoted to coarser granularity past
// max_pred_locks_per_{transaction,relation,page}; rw-conflicts flagged when
// a write meets a SIREAD lock (CheckForSerializableConflictIn) or a read
// meets a version a concurrent transaction wrote
// (CheckForSerializableConflictOut); and the dangerous-structure test
// (Tin -rw-> Tpivot -rw-> Tout, Tout committing first) at each new
// conflict and at commit, which fails a transaction with 40001.
//
// Committed transactions keep their locks and conflicts while an active
// serializable transaction overlaps them (the finished list, cleared by
// ClearOldPredicateLocks). The number of transaction records is bounded
// (MaxSxacts, PostgreSQL's (MaxBackends + max_prepared_xacts) * 10); when
// a new transaction finds the bound reached, the oldest committed one is
// summarized (SummarizeOldestCommittedSxact): its locks move to a dummy
// "old committed" transaction and its conflict-out commit sequence number
// to a table keyed by xid (the SLRU pg_serial). The lock table itself is
// not bounded separately: promotion already bounds one transaction's locks
// on a relation, and PostgreSQL's "out of shared memory" past
// max_pred_locks_per_transaction * MaxBackends is left out.
//
// Nothing here is WAL-logged: after a crash there are no predicate locks,
// as in PostgreSQL, where they live in shared memory only. Prepared
// transactions do not exist here, so SxactIsPrepared means "passed
// PreCommit_CheckForSerializationFailure", as it does for PostgreSQL's
// non-2PC transactions. READ ONLY transactions get the read-only
// optimizations of the conflict tests and safe snapshots: one whose
// concurrent read-write transactions all end without a conflict out to
// an earlier committer drops its locks and stops tracking conflicts, and
// a DEFERRABLE one waits for such a snapshot before it reads
// (safe_snapshot.go).
//
// Concurrency: every entry point holds the manager's lock (a spinlock
// standing for PostgreSQL's SerializableXactHashLock and the predicate
// lock partition locks) except while Release reads the next xid, which
// takes XidGenLock, a scheduling point. The simulator runs one process at
// a time, so there the lock is never contended and is no scheduling point
// either: it changes no simulated run. pgdst serve's processes run in
// parallel, and without it two backends committing SERIALIZABLE
// transactions at once wrote the lock table's maps concurrently and
// killed the server ("concurrent map writes", found by pgdst probe).
package predicate

import (
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/xact"
)

// InvalidBlock is InvalidBlockNumber: a relation-granularity target.
const InvalidBlock = ^uint32(0)

// Target is a PREDICATELOCKTARGETTAG: a relation (Block InvalidBlock), one
// of its pages (Offset 0) or one tuple.
type Target struct {
	Rel    uint32
	Block  uint32
	Offset uint16
}

// RelationTarget, PageTarget and TupleTarget are the SET_PREDICATELOCKTARGETTAG_* macros.
func RelationTarget(rel uint32) Target  { return Target{Rel: rel, Block: InvalidBlock} }
func PageTarget(rel, blk uint32) Target { return Target{Rel: rel, Block: blk} }
func TupleTarget(rel, blk uint32, off uint16) Target {
	return Target{Rel: rel, Block: blk, Offset: off}
}

func (t Target) isTuple() bool    { return t.Offset != 0 }
func (t Target) isRelation() bool { return t.Block == InvalidBlock }

// parent is GetParentPredicateLockTag.
func (t Target) parent() (Target, bool) {
	switch {
	case t.isTuple():
		return PageTarget(t.Rel, t.Block), true
	case !t.isRelation():
		return RelationTarget(t.Rel), true
	}
	return Target{}, false
}

// coveredBy is TargetTagIsCoveredBy.
func (t Target) coveredBy(c Target) bool {
	if t.Rel != c.Rel || c.isTuple() {
		return false
	}
	if t.isTuple() {
		return c.Block == t.Block || c.isRelation()
	}
	return c.isRelation() && !t.isRelation()
}

func (t Target) String() string {
	switch {
	case t.isRelation():
		return fmt.Sprintf("relation %d", t.Rel)
	case t.isTuple():
		return fmt.Sprintf("tuple (%d,%d) of relation %d", t.Block, t.Offset, t.Rel)
	}
	return fmt.Sprintf("page %d of relation %d", t.Block, t.Rel)
}

// The serializable commit sequence numbers (SerCommitSeqNo).
const (
	invalidSeqNo     uint64 = 0
	firstNormalSeqNo uint64 = 2
)

type flag uint16

// The SXACT_FLAG_* bits that matter without two-phase commit.
const (
	flagCommitted flag = 1 << iota
	flagPrepared
	flagRolledBack
	flagDoomed
	flagConflictOut // a conflict out to a transaction that committed ahead of it
	flagReadOnly
	flagSummaryConflictIn
	flagSummaryConflictOut
	// The safe-snapshot bits of a READ ONLY transaction (safe_snapshot.go):
	// SXACT_FLAG_RO_SAFE, SXACT_FLAG_RO_UNSAFE and
	// SXACT_FLAG_DEFERRABLE_WAITING.
	flagROSafe
	flagROUnsafe
	flagDeferrableWaiting
)

// Sxact is a SERIALIZABLEXACT: one serializable transaction, kept past its
// commit while it can still matter.
type Sxact struct {
	id    int      // creation order, for messages and determinism
	xid   xact.XID // topXid, once the transaction has one
	xmin  xact.XID // its snapshot's xmin
	snap  *xact.Snapshot
	flags flag
	// The sequence numbers (SeqNo.lastCommitBeforeSnapshot,
	// SeqNo.earliestOutConflictCommit, prepareSeqNo, commitSeqNo).
	lastCommitBeforeSnapshot  uint64
	earliestOutConflictCommit uint64
	prepareSeqNo              uint64
	commitSeqNo               uint64
	// finishedBefore is nextXid when it ended: every transaction that
	// takes a snapshot with xmin at or past it saw it finished.
	finishedBefore xact.XID
	in, out        []*Sxact // rw-conflicts: readers of what it wrote; writers of what it read
	// possibleUnsafe is possibleUnsafeConflicts: for a READ ONLY
	// transaction, the read-write ones that were running at its
	// snapshot and have not ended; for a read-write one, those READ ONLY
	// transactions (safe_snapshot.go).
	possibleUnsafe []*Sxact
	locks          map[Target]uint64 // its SIREAD locks (and, for the old-committed dummy, their commitSeqNo)
	local          map[Target]*localLock
	didWrite       bool // MyXactDidWrite
	onFinished     bool
	released       bool
}

// localLock is a LOCALPREDICATELOCK: whether the lock is held, and how many
// finer locks under it the transaction holds (for promotion).
type localLock struct {
	held       bool
	childLocks int
}

func (s *Sxact) has(f flag) bool { return s.flags&f != 0 }

// Xmin is its snapshot's xmin (TransactionXmin).
func (s *Sxact) Xmin() xact.XID { return s.xmin }

// XID is the transaction's top-level xid, InvalidXID until it writes.
func (s *Sxact) XID() xact.XID { return s.xid }

// Config sizes the manager (the GUCs, scaled as the run wants).
type Config struct {
	// MaxPredLocksPerXact is max_pred_locks_per_transaction (64).
	MaxPredLocksPerXact int
	// MaxPredLocksPerRelation is max_pred_locks_per_relation (-2: the
	// per-transaction figure divided by 2, minus one).
	MaxPredLocksPerRelation int
	// MaxPredLocksPerPage is max_pred_locks_per_page (2).
	MaxPredLocksPerPage int
	// MaxSxacts bounds the transaction records, active and committed,
	// past which committed ones are summarized.
	MaxSxacts int
	// NextXID is ShmemVariableCache->nextXid.
	NextXID func() xact.XID
	Bugs    bugs.Set
}

// DefaultConfig is PostgreSQL's defaults for procs backends.
func DefaultConfig(procs int, nextXID func() xact.XID) Config {
	return Config{MaxPredLocksPerXact: 64, MaxPredLocksPerRelation: -2, MaxPredLocksPerPage: 2, MaxSxacts: 10 * procs, NextXID: nextXID}
}

// Manager is the shared predicate lock state (PredXact, the target and
// lock hashes, SerializableXidHash, the finished list and pg_serial).
type Manager struct {
	e   *env.Env
	cfg Config
	// mu guards everything below (see the package comment).
	mu      env.Mutex
	targets map[Target][]*Sxact // the lock holders of each target, in lock order
	xids    map[xact.XID]*Sxact // SerializableXidHash
	active  []*Sxact            // every transaction record, in creation order
	// finished are the committed transactions not yet cleared, in commit
	// order (FinishedSerializableTransactions).
	finished []*Sxact
	old      *Sxact              // OldCommittedSxact
	serial   map[xact.XID]uint64 // pg_serial: a summarized xid's earliest conflict-out commit
	nextID   int

	lastCommitSeqNo           uint64 // LastSxactCommitSeqNo
	canPartialClearThrough    uint64
	havePartialClearedThrough uint64
	globalXmin                xact.XID // SxactGlobalXmin
	globalXminCount           int
	writableCount             int // WritableSxactCount
	// wake is set when a DEFERRABLE transaction waiting for a safe
	// snapshot learns that its snapshot is safe or unsafe; the caller
	// signals the waiters (TakeWakeup).
	wake bool
	// Summarized counts SummarizeOldestCommittedSxact calls; Promoted
	// counts promotions to a coarser lock.
	Summarized, Promoted int
}

// New makes an empty manager: no locks, as after startup or crash
// recovery (InitPredicateLocks).
func New(e *env.Env, cfg Config) *Manager {
	if cfg.MaxSxacts < 2 || cfg.MaxPredLocksPerXact < 1 || cfg.MaxPredLocksPerPage < 0 || cfg.NextXID == nil {
		panic(fmt.Sprintf("predicate: bad config %+v", cfg))
	}
	var mu env.Mutex = unitTestLock{}
	if e != nil {
		mu = e.Sched.NewSpinLock("SerializableXactHashLock")
	}
	m := &Manager{e: e, cfg: cfg, mu: mu, targets: map[Target][]*Sxact{}, xids: map[xact.XID]*Sxact{}, serial: map[xact.XID]uint64{},
		lastCommitSeqNo: firstNormalSeqNo - 1}
	m.old = &Sxact{id: -1, flags: flagCommitted | flagPrepared | flagReadOnly, locks: map[Target]uint64{}, commitSeqNo: firstNormalSeqNo - 1}
	return m
}

// unitTestLock is the lock of a manager made without an Env, which only
// this package's unit tests do, calling it from one goroutine.
type unitTestLock struct{}

func (unitTestLock) Lock()   {}
func (unitTestLock) Unlock() {}

// failure is a 40001 with PostgreSQL's message, detail and hint.
func failure(detail string, args ...any) error {
	err := pgerr.New(pgerr.SerializationFailure, "could not serialize access due to read/write dependencies among transactions")
	err.Detail = "Reason code: " + fmt.Sprintf(detail, args...)
	err.Hint = "The transaction might succeed if retried."
	return err
}

// Register is GetSerializableTransactionSnapshotInt: a serializable
// transaction's record, made as its snapshot is taken (with no
// scheduling point in between, as PostgreSQL holds
// SerializableXactHashLock across both). readOnly is READ ONLY.
func (m *Manager) Register(snap *xact.Snapshot, readOnly bool) *Sxact {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; len(m.active) >= m.cfg.MaxSxacts; i++ {
		if i > m.cfg.MaxSxacts || !m.summarizeOldestCommitted() {
			// Every record is an active transaction: more than
			// MaxSxacts backends, which the configuration rules out.
			panic(fmt.Sprintf("predicate: %d transaction records, none committed", len(m.active)))
		}
	}
	if (readOnly || m.cfg.Bugs.Has(bugs.SSIOptOutNotReadOnly)) && m.writableCount == 0 {
		// No read-write serializable transaction runs: the READ ONLY
		// one opts out of SSI at once (safe_snapshot.go).
		//
		// Planted bug ssi-opt-out-not-read-only: the opt-out is
		// taken without asking whether the new transaction is READ
		// ONLY, so a read-write transaction that starts while no
		// other one runs takes no SIREAD locks and checks no
		// conflicts, and write skew with the next one commits.
		return m.optOut(snap)
	}
	s := &Sxact{id: m.nextID, xmin: snap.Xmin, snap: snap, lastCommitBeforeSnapshot: m.lastCommitSeqNo,
		locks: map[Target]uint64{}, local: map[Target]*localLock{}}
	m.nextID++
	if readOnly {
		s.flags |= flagReadOnly
		if !m.registerPossibleUnsafe(s) {
			return m.optOut(snap)
		}
	} else {
		m.writableCount++
	}
	m.active = append(m.active, s)
	switch {
	case m.globalXmin == xact.InvalidXID || s.xmin < m.globalXmin:
		m.globalXmin, m.globalXminCount = s.xmin, 1
	case s.xmin == m.globalXmin:
		m.globalXminCount++
	}
	return s
}

// RegisterXid is RegisterPredicateLockingXid: the transaction's xid, once
// assigned, names it to readers' conflict-out checks.
func (m *Manager) RegisterXid(s *Sxact, xid xact.XID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.xid != xact.InvalidXID || s.released {
		return // or MySerializableXact is InvalidSerializableXact
	}
	s.xid = xid
	m.xids[xid] = s
}

// xidIsConcurrent is XidIsConcurrent: xid's effects are not in s's snapshot.
func (s *Sxact) xidIsConcurrent(xid xact.XID) bool { return s.snap.InProgress(xid) }

// ---------------------------------------------------------------------
// Taking SIREAD locks.

// LockRelation is PredicateLockRelation (a sequential scan).
func (m *Manager) LockRelation(s *Sxact, rel uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.neededForRead(s) {
		m.acquire(s, RelationTarget(rel))
	}
}

// LockPage is PredicateLockPage (an index scan's leaf pages, so that an
// insert into the scanned range conflicts).
func (m *Manager) LockPage(s *Sxact, rel, blk uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.neededForRead(s) {
		m.acquire(s, PageTarget(rel, blk))
	}
}

// LockTID is PredicateLockTID: a tuple the transaction read. One it wrote
// itself needs none (its write lock covers it).
func (m *Manager) LockTID(s *Sxact, rel, blk uint32, off uint16, tupleXid xact.XID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.neededForRead(s) {
		return
	}
	if tupleXid != xact.InvalidXID && tupleXid == s.xid {
		return
	}
	if m.cfg.Bugs.Has(bugs.SSIReadNoSIREAD) {
		// Planted bug ssi-read-no-siread: a heap tuple read takes no
		// SIREAD lock (nor does the index scan that found it: db's
		// ssiIndexScan), so a later write of it by a concurrent
		// transaction flags no rw-conflict.
		return
	}
	if _, ok := s.locks[RelationTarget(rel)]; ok {
		return
	}
	m.acquire(s, TupleTarget(rel, blk, off))
}

// neededForRead is SerializationNeededForRead: a READ ONLY transaction
// whose snapshot has become safe releases its locks and conflicts at its
// next read, and reads on without SSI from then on.
func (m *Manager) neededForRead(s *Sxact) bool {
	if s == nil || s.released {
		return false
	}
	if s.has(flagROSafe) {
		m.releaseSafe(s)
		return false
	}
	return true
}

// acquire is PredicateLockAcquire.
func (m *Manager) acquire(s *Sxact, t Target) {
	for i := 0; i < 3; i++ { // at most tuple -> page -> relation
		if _, ok := s.locks[t]; ok {
			return // PredicateLockExists
		}
		if m.coarserLockCovers(s, t) {
			return
		}
		ll := s.local[t]
		if ll == nil {
			ll = &localLock{}
			s.local[t] = ll
		}
		ll.held = true
		m.createLock(s, t, 0)
		promoted, ok := m.checkAndPromote(s, t)
		if !ok {
			if !t.isTuple() {
				m.deleteChildTargetLocks(s, t)
			}
			return
		}
		// CheckAndPromotePredicateLockRequest acquires the coarser
		// lock, which deletes this one and its siblings.
		m.Promoted++
		if promoted.isRelation() {
			m.e.Sometimes("ssi-promote-relation")
		} else {
			m.e.Sometimes("ssi-promote-page")
		}
		t = promoted
	}
}

// coarserLockCovers is CoarserLockCovers.
func (m *Manager) coarserLockCovers(s *Sxact, t Target) bool {
	for p, ok := t.parent(); ok; p, ok = p.parent() {
		if _, held := s.locks[p]; held {
			return true
		}
	}
	return false
}

// createLock is CreatePredicateLock: s holds t.
func (m *Manager) createLock(s *Sxact, t Target, commitSeqNo uint64) {
	if _, ok := s.locks[t]; ok {
		if s.locks[t] < commitSeqNo {
			s.locks[t] = commitSeqNo
		}
		return
	}
	s.locks[t] = commitSeqNo
	m.targets[t] = append(m.targets[t], s)
}

// deleteLock removes s's lock on t (and t when no lock is left on it:
// RemoveTargetIfNoLongerUsed).
func (m *Manager) deleteLock(s *Sxact, t Target) {
	delete(s.locks, t)
	holders := m.targets[t]
	i := slices.Index(holders, s)
	if i < 0 {
		panic(fmt.Sprintf("predicate: %v locked by transaction %d but not in the target's list", t, s.id))
	}
	holders = slices.Delete(holders, i, i+1)
	if len(holders) == 0 {
		delete(m.targets, t)
	} else {
		m.targets[t] = holders
	}
}

// maxChildLocks is MaxPredicateChildLocks.
func (m *Manager) maxChildLocks(t Target) int {
	if t.isRelation() {
		if m.cfg.MaxPredLocksPerRelation < 0 {
			return m.cfg.MaxPredLocksPerXact/(-m.cfg.MaxPredLocksPerRelation) - 1
		}
		return m.cfg.MaxPredLocksPerRelation
	}
	return m.cfg.MaxPredLocksPerPage
}

// checkAndPromote is CheckAndPromotePredicateLockRequest: it counts the
// new lock in every ancestor's child count and reports the coarsest
// ancestor now past its limit.
func (m *Manager) checkAndPromote(s *Sxact, t Target) (Target, bool) {
	var promote Target
	found := false
	for p, ok := t.parent(); ok; p, ok = p.parent() {
		ll := s.local[p]
		if ll == nil {
			ll = &localLock{}
			s.local[p] = ll
		}
		ll.childLocks++
		if ll.childLocks > m.maxChildLocks(p) {
			promote, found = p, true
		}
	}
	return promote, found
}

// deleteChildTargetLocks is DeleteChildTargetLocks: the locks of s that t
// now covers go, with their counts in the ancestors.
func (m *Manager) deleteChildTargetLocks(s *Sxact, t Target) {
	for _, c := range sortedTargets(s.locks) {
		if c.coveredBy(t) {
			m.deleteLock(s, c)
			m.decrementParentLocks(s, c)
			if ll := s.local[c]; ll != nil {
				ll.held = false
				if ll.childLocks == 0 {
					delete(s.local, c)
				}
			}
		}
	}
}

// decrementParentLocks is DecrementParentLocks.
func (m *Manager) decrementParentLocks(s *Sxact, t Target) {
	for p, ok := t.parent(); ok; p, ok = p.parent() {
		ll := s.local[p]
		if ll == nil {
			continue // a lock transferred by another backend: no count
		}
		ll.childLocks--
		if ll.childLocks <= 0 && !ll.held {
			delete(s.local, p)
		}
	}
}

func sortedTargets(locks map[Target]uint64) []Target {
	out := make([]Target, 0, len(locks))
	for t := range locks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Target) int {
		switch {
		case a.Rel != b.Rel:
			return cmpU32(a.Rel, b.Rel)
		case a.Block != b.Block:
			return cmpU32(a.Block, b.Block)
		}
		return cmpU32(uint32(a.Offset), uint32(b.Offset))
	})
	return out
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// PageSplit is PredicateLockPageSplit: every SIREAD lock on the old page
// of an index is copied to the new right sibling, so that a scan that
// locked the page before the split still conflicts with inserts into
// the keys that moved.
func (m *Manager) PageSplit(rel, oldBlk, newBlk uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.globalXmin == xact.InvalidXID {
		return // no serializable transaction is running
	}
	if m.cfg.Bugs.Has(bugs.SSISplitNoTransfer) {
		// Planted bug ssi-split-no-transfer: the locks stay on the
		// left half only.
		return
	}
	m.transfer(PageTarget(rel, oldBlk), PageTarget(rel, newBlk))
}

// transfer is TransferPredicateLocksToNewTarget with removeOld false.
func (m *Manager) transfer(from, to Target) {
	holders := m.targets[from]
	if len(holders) == 0 {
		return
	}
	m.e.Sometimes("ssi-page-split-transfer")
	for _, s := range slices.Clone(holders) {
		m.createLock(s, to, s.locks[from])
	}
}

// ---------------------------------------------------------------------
// Conflict detection.

// ConflictOut is CheckForSerializableConflictOut: s read a version that
// xid wrote and s's snapshot does not show (or a version s sees that xid
// deleted or replaced): a rw-conflict from s to xid if xid is a
// concurrent serializable transaction. The caller has applied
// HeapCheckForSerializableConflictOut's filters (its own xid, an xid
// before its xmin).
func (m *Manager) ConflictOut(s *Sxact, xid xact.XID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.neededForRead(s) {
		return nil
	}
	if s.has(flagDoomed) {
		return failure("Canceled on identification as a pivot, during conflict out checking.")
	}
	if xid == s.xid {
		return nil
	}
	w := m.xids[xid]
	if w == nil {
		// Not a serializable transaction, or summarized to pg_serial.
		// SerialGetMinConflictCommitSeqNo: a summarized transaction
		// without a conflict out was recorded as InvalidSerCommitSeqNo,
		// which reads the same as no record.
		seq, ok := m.serial[xid]
		if !ok || seq == invalidSeqNo {
			return nil
		}
		if !s.has(flagReadOnly) || seq <= s.lastCommitBeforeSnapshot {
			return failure("Canceled on conflict out to old pivot %d.", xid)
		}
		if s.has(flagSummaryConflictIn) || len(s.in) > 0 {
			return failure("Canceled on identification as a pivot, with conflict out to old committed transaction %d.", xid)
		}
		s.flags |= flagSummaryConflictOut
		return nil
	}
	if w == s || w.has(flagDoomed) {
		return nil
	}
	if w.has(flagSummaryConflictOut) {
		if !w.has(flagPrepared) {
			w.flags |= flagDoomed
			return nil
		}
		return failure("Canceled on conflict out to old pivot.")
	}
	if s.has(flagReadOnly) && w.has(flagCommitted) && !w.has(flagSummaryConflictOut) &&
		(!w.has(flagConflictOut) || s.lastCommitBeforeSnapshot < w.earliestOutConflictCommit) {
		return nil // the read-only transaction will appear to run first
	}
	if !s.xidIsConcurrent(xid) {
		return nil
	}
	if conflictExists(s, w) {
		return nil
	}
	return m.flagRWConflict(s, w, s)
}

// ConflictIn is CheckForSerializableConflictIn: s writes a tuple (tid, on
// page blk) or into page blk of rel (blk InvalidBlock: the relation
// only). Every SIREAD lock of a concurrent transaction on the tuple, the
// page or the relation is a rw-conflict into s. Finest first, so that a
// promotion between the checks cannot hide a lock.
func (m *Manager) ConflictIn(s *Sxact, rel, blk uint32, off uint16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == nil || s.released {
		return nil // SerializationNeededForWrite
	}
	if s.has(flagDoomed) {
		return failure("Canceled on identification as a pivot, during conflict in checking.")
	}
	s.didWrite = true
	if off != 0 {
		if err := m.checkTargetForConflictsIn(s, TupleTarget(rel, blk, off)); err != nil {
			return err
		}
	}
	if blk != InvalidBlock {
		if err := m.checkTargetForConflictsIn(s, PageTarget(rel, blk)); err != nil {
			return err
		}
	}
	return m.checkTargetForConflictsIn(s, RelationTarget(rel))
}

// checkTargetForConflictsIn is CheckTargetForConflictsIn.
func (m *Manager) checkTargetForConflictsIn(s *Sxact, t Target) error {
	holders := m.targets[t]
	if len(holders) == 0 {
		return nil
	}
	mine := false
	for _, r := range slices.Clone(holders) {
		if r == s {
			// A write lock on a tuple makes s's own SIREAD lock on
			// it unnecessary; it is dropped after the loop.
			mine = t.isTuple()
			continue
		}
		if !r.has(flagDoomed) && (!r.has(flagCommitted) || s.snap.Xmin < r.finishedBefore) && !conflictExists(r, s) {
			if err := m.flagRWConflict(r, s, s); err != nil {
				return err
			}
		}
	}
	if mine {
		if _, ok := s.locks[t]; ok {
			m.deleteLock(s, t)
			if ll := s.local[t]; ll != nil {
				ll.held = false
				if ll.childLocks == 0 {
					delete(s.local, t)
				}
			}
			m.decrementParentLocks(s, t)
		}
	}
	return nil
}

func conflictExists(reader, writer *Sxact) bool {
	// RWConflictExists: the shorter list is searched.
	if len(reader.out) <= len(writer.in) {
		return slices.Contains(reader.out, writer)
	}
	return slices.Contains(writer.in, reader)
}

// flagRWConflict is FlagRWConflict; me is MySerializableXact.
func (m *Manager) flagRWConflict(reader, writer, me *Sxact) error {
	if err := m.onConflictCheck(reader, writer, me); err != nil {
		return err
	}
	switch {
	case reader == m.old:
		writer.flags |= flagSummaryConflictIn
	case writer == m.old:
		reader.flags |= flagSummaryConflictOut
	default:
		reader.out = append(reader.out, writer)
		writer.in = append(writer.in, reader)
	}
	m.e.Sometimes("ssi-rw-conflict")
	return nil
}

// onConflictCheck is OnConflict_CheckForSerializationFailure: before the
// edge reader -rw-> writer is added, whether it completes a dangerous
// structure Tin -rw-> Tpivot -rw-> Tout in which Tout commits first.
func (m *Manager) onConflictCheck(reader, writer, me *Sxact) error {
	failed := false
	// R -rw-> W -rw-> T2 with W committed and T2 committed before W.
	if writer.has(flagCommitted) && (writer.has(flagConflictOut) || writer.has(flagSummaryConflictOut)) {
		failed = true
	}
	// W becomes a pivot with an out-conflict to a prepared T2 that
	// committed first.
	if !failed && writer.has(flagSummaryConflictOut) {
		failed = true
	} else if !failed {
		for _, t2 := range writer.out {
			if committedFirst(t2, m.cfg.Bugs) &&
				(!reader.has(flagCommitted) || seqFirst(t2, m.cfg.Bugs) <= reader.commitSeqNo) &&
				(!writer.has(flagCommitted) || seqFirst(t2, m.cfg.Bugs) <= writer.commitSeqNo) &&
				(!reader.has(flagReadOnly) || seqFirst(t2, m.cfg.Bugs) <= reader.lastCommitBeforeSnapshot) {
				failed = true
				break
			}
		}
	}
	// R becomes a pivot: T0 -rw-> R -rw-> W, W prepared (committing
	// first).
	if !failed && committedFirst(writer, m.cfg.Bugs) && !reader.has(flagReadOnly) {
		if reader.has(flagSummaryConflictIn) {
			failed = true
		} else {
			for _, t0 := range reader.in {
				if !t0.has(flagDoomed) && (!t0.has(flagCommitted) || t0.commitSeqNo >= seqFirst(writer, m.cfg.Bugs)) &&
					(!t0.has(flagReadOnly) || t0.lastCommitBeforeSnapshot >= seqFirst(writer, m.cfg.Bugs)) {
					failed = true
					break
				}
			}
		}
	}
	if !failed {
		return nil
	}
	m.e.Sometimes("ssi-dangerous-structure")
	if me == writer {
		return failure("Canceled on identification as a pivot, during write.")
	}
	if writer.has(flagPrepared) {
		if me != reader {
			panic("predicate: a prepared writer's conflict flagged by neither side")
		}
		return failure("Canceled on conflict out to pivot %d, during read.", writer.xid)
	}
	writer.flags |= flagDoomed
	return nil
}

// committedFirst is the "Tout committed first" test of
// OnConflict_CheckForSerializationFailure: Tout has passed
// PreCommit_CheckForSerializationFailure (SxactIsPrepared), so it can no
// longer be made to fail, and if it commits first the structure is real.
//
// Planted bug ssi-no-t3-first-check: the test asks whether Tout has
// committed (SxactIsCommitted, with its commitSeqNo) instead of prepared,
// so a Tout between its pre-commit check and the end of its commit counts
// as not committing first, and neither side fails: too permissive, and
// the window is the commit's WAL flush.
func committedFirst(t *Sxact, b bugs.Set) bool {
	if b.Has(bugs.SSINoT3FirstCheck) {
		return t.has(flagCommitted)
	}
	return t.has(flagPrepared)
}

// seqFirst is the sequence number committedFirst compares: prepareSeqNo
// (commitSeqNo under the planted bug).
func seqFirst(t *Sxact, b bugs.Set) uint64 {
	if b.Has(bugs.SSINoT3FirstCheck) {
		return t.commitSeqNo
	}
	return t.prepareSeqNo
}

// PreCommit is PreCommit_CheckForSerializationFailure: at commit, s may
// be the out side of a pivot whose in side and pivot are both still
// running; the pivot is doomed (so that retrying makes progress). Then
// s is prepared: past this point it cannot be made to fail.
func (m *Manager) PreCommit(s *Sxact) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == nil || s.released {
		return nil
	}
	if s.has(flagDoomed) {
		return failure("Canceled on identification as a pivot, during commit attempt.")
	}
	for _, near := range s.in {
		if near.has(flagCommitted) || near.has(flagDoomed) {
			continue
		}
		for _, far := range near.in {
			if far == s || (!far.has(flagCommitted) && !far.has(flagReadOnly) && !far.has(flagDoomed)) {
				if near.has(flagPrepared) {
					return failure("Canceled on commit attempt with conflict in from prepared pivot.")
				}
				near.flags |= flagDoomed
				m.e.Sometimes("ssi-pivot-doomed-at-commit")
				break
			}
		}
	}
	m.lastCommitSeqNo++
	s.prepareSeqNo = m.lastCommitSeqNo
	s.flags |= flagPrepared
	return nil
}

// Release is ReleasePredicateLocks at the end of s (commit true: after
// the commit is recorded and the xid left the proc array).
func (m *Manager) Release(s *Sxact, commit bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.release(s, commit)
}

func (m *Manager) release(s *Sxact, commit bool) {
	if s == nil || s.released {
		return
	}
	s.released = true
	declaredReadOnly := s.has(flagReadOnly)
	// XidGenLock is an LWLock, a scheduling point: it is not taken
	// under the manager's spinlock. s is marked released already, so
	// nothing another process does meanwhile releases it twice.
	m.mu.Unlock()
	next := m.cfg.NextXID()
	m.mu.Lock()
	s.finishedBefore = next
	if commit {
		s.flags |= flagCommitted
		m.lastCommitSeqNo++
		s.commitSeqNo = m.lastCommitSeqNo
		if !s.didWrite {
			s.flags |= flagReadOnly // an implicitly read-only transaction
		}
	} else {
		s.flags |= flagDoomed | flagRolledBack
		s.flags &^= flagPrepared
	}
	if declaredReadOnly {
		m.forgetPossibleUnsafe(s)
	} else {
		m.writableCount--
		if m.writableCount < 0 {
			panic("predicate: negative count of writable transactions")
		}
		if m.writableCount == 0 {
			m.canPartialClearThrough = m.lastCommitSeqNo
		}
	}
	if commit && !s.has(flagReadOnly) && s.has(flagSummaryConflictOut) {
		s.earliestOutConflictCommit = firstNormalSeqNo
		s.flags |= flagConflictOut
	}
	for _, w := range slices.Clone(s.out) {
		if commit && !s.has(flagReadOnly) && w.has(flagCommitted) {
			if !s.has(flagConflictOut) || w.prepareSeqNo < s.earliestOutConflictCommit {
				s.earliestOutConflictCommit = w.prepareSeqNo
			}
			s.flags |= flagConflictOut
		}
		if !commit || w.has(flagCommitted) || w.lastCommitBeforeSnapshot >= m.lastCommitSeqNo {
			releaseConflict(s, w)
		}
	}
	for _, r := range slices.Clone(s.in) {
		if !commit || r.has(flagCommitted) || r.has(flagReadOnly) {
			releaseConflict(r, s)
		}
	}
	if !declaredReadOnly {
		// After the out-conflict loop above, which makes
		// SXACT_FLAG_CONFLICT_OUT and earliestOutConflictCommit final
		// (ReleasePredicateLocks' order).
		m.judgeReadOnly(s, commit)
	}
	needToClear := false
	if s.xmin == m.globalXmin {
		m.globalXminCount--
		if m.globalXminCount == 0 {
			m.setNewGlobalXmin()
			needToClear = true
		}
	}
	if commit {
		s.onFinished = true
		m.finished = append(m.finished, s)
	} else {
		m.releaseOne(s, false, false)
	}
	if needToClear {
		m.clearOld()
	}
}

func releaseConflict(reader, writer *Sxact) {
	if i := slices.Index(reader.out, writer); i >= 0 {
		reader.out = slices.Delete(reader.out, i, i+1)
	}
	if i := slices.Index(writer.in, reader); i >= 0 {
		writer.in = slices.Delete(writer.in, i, i+1)
	}
}

// setNewGlobalXmin is SetNewSxactGlobalXmin: the oldest xmin among the
// transactions still running.
func (m *Manager) setNewGlobalXmin() {
	m.globalXmin, m.globalXminCount = xact.InvalidXID, 0
	for _, s := range m.active {
		if s.released {
			continue
		}
		switch {
		case m.globalXmin == xact.InvalidXID || s.xmin < m.globalXmin:
			m.globalXmin, m.globalXminCount = s.xmin, 1
		case s.xmin == m.globalXmin:
			m.globalXminCount++
		}
	}
}

// clearOld is ClearOldPredicateLocks: committed transactions no running
// one overlaps go; those only read-only ones overlap lose their locks.
func (m *Manager) clearOld() {
	for _, f := range m.finished {
		if m.globalXmin == xact.InvalidXID || f.finishedBefore <= m.globalXmin {
			// It committed before any running transaction took its
			// snapshot: no longer interesting.
			f.onFinished = false
			m.releaseOne(f, false, false)
			continue
		}
		if f.commitSeqNo > m.havePartialClearedThrough && f.commitSeqNo <= m.canPartialClearThrough {
			// Every transaction that overlaps it is read-only.
			if f.has(flagReadOnly) {
				f.onFinished = false
				m.releaseOne(f, false, false)
			} else {
				m.releaseOne(f, true, false)
			}
			m.havePartialClearedThrough = f.commitSeqNo
			continue
		}
		break // still interesting, and so is every later one
	}
	kept := m.finished[:0]
	for _, f := range m.finished {
		if f.onFinished {
			kept = append(kept, f)
		}
	}
	clear(m.finished[len(kept):])
	m.finished = kept
	for _, t := range sortedTargets(m.old.locks) {
		if m.old.locks[t] <= m.canPartialClearThrough {
			m.deleteLock(m.old, t)
		}
	}
	// pg_serial's tail follows the oldest xmin (SerialSetActiveSerXmin).
	if len(m.serial) > 0 {
		for x := range m.serial {
			if m.globalXmin == xact.InvalidXID || x < m.globalXmin {
				delete(m.serial, x)
			}
		}
	}
}

// releaseOne is ReleaseOneSerializableXact.
func (m *Manager) releaseOne(s *Sxact, partial, summarize bool) {
	for _, t := range sortedTargets(s.locks) {
		seq := s.locks[t]
		m.deleteLock(s, t)
		if summarize {
			m.createLock(m.old, t, max(seq, s.commitSeqNo))
		}
	}
	s.local = nil
	if !partial {
		for _, w := range slices.Clone(s.out) {
			if summarize {
				w.flags |= flagSummaryConflictIn
			}
			releaseConflict(s, w)
		}
	}
	for _, r := range slices.Clone(s.in) {
		if summarize {
			r.flags |= flagSummaryConflictOut
		}
		releaseConflict(r, s)
	}
	if !partial {
		if s.xid != xact.InvalidXID {
			delete(m.xids, s.xid)
		}
		i := slices.Index(m.active, s)
		if i < 0 {
			panic(fmt.Sprintf("predicate: transaction %d released twice", s.id))
		}
		m.active = slices.Delete(m.active, i, i+1)
	}
}

// summarizeOldestCommitted is SummarizeOldestCommittedSxact: the oldest
// committed transaction's locks go to the dummy, its conflict-out commit
// sequence number to pg_serial. It reports false with none to summarize.
func (m *Manager) summarizeOldestCommitted() bool {
	if len(m.finished) == 0 {
		return false
	}
	s := m.finished[0]
	m.finished = slices.Delete(m.finished, 0, 1)
	s.onFinished = false
	if s.xid != xact.InvalidXID {
		seq := invalidSeqNo
		if s.has(flagConflictOut) {
			seq = s.earliestOutConflictCommit
		}
		m.serial[s.xid] = seq
	}
	m.releaseOne(s, false, true)
	m.Summarized++
	m.e.Sometimes("ssi-summarized")
	return true
}

// Stats is the manager's size, for tests and the run's report.
type Stats struct {
	Sxacts, Finished, Targets, OldLocks, Serial int
}

// Stats reports the manager's size.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Sxacts: len(m.active), Finished: len(m.finished), Targets: len(m.targets), OldLocks: len(m.old.locks), Serial: len(m.serial)}
}

// Locks lists s's SIREAD locks in order, for transcripts.
func (m *Manager) Locks(s *Sxact) []Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == nil {
		return nil
	}
	return sortedTargets(s.locks)
}
