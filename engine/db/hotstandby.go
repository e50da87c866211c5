package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Hot standby (issue 19): read-only sessions on a standby while its
// startup process replays, with snapshots built from the primary's
// running-transactions information (xact/knownassigned.go).
//
//   - The primary logs XLOG_RUNNING_XACTS (LogStandbySnapshot) at every
//     checkpoint, between CheckPointGuts and the checkpoint record, and
//     from the background writer every LogSnapshotInterval when WAL was
//     written since the last one (BackgroundWriterMain's
//     LOG_SNAPSHOT_INTERVAL_MS). Config.HotStandby stands for wal_level =
//     replica on a primary (pgdst logs nothing on single-node runs, whose
//     WAL stays as it was) and for hot_standby = on on a standby. The
//     end-of-recovery checkpoint logs one too: PostgreSQL's is a shutdown
//     checkpoint, whose replay fakes an empty running-xacts record
//     (xlog_redo's XLOG_CHECKPOINT_SHUTDOWN); pgdst's checkpoint records
//     are all online ones, and the record with nothing running does the
//     same.
//   - The standby's startup process (InitRecoveryTransactionEnvironment)
//     makes a proc array at standby start (STANDBY_INITIALIZED), records
//     the xid of every replayed record (ApplyWalRecord's
//     RecordKnownAssignedTransactionIds), expires it at the replayed
//     commit or abort after the clog is marked (xact_redo_commit's
//     order), and applies running-xacts records
//     (ProcArrayApplyRecoveryInfo), the first of which makes the snapshot
//     ready (STANDBY_SNAPSHOT_READY).
//   - The postmaster accepts connections once the standby is consistent
//     and its snapshot ready (CheckRecoveryConsistency's
//     PMSIGNAL_BEGIN_HOT_STANDBY, PM_HOT_STANDBY); before that a client
//     gets 57P03.
//   - Every transaction that starts during recovery is read-only, and
//     stays so after a promotion (StartTransaction's XactReadOnly for
//     startedInRecovery); a write gets 25006. Sessions stay connected
//     across the promotion; their next transaction may write.
//   - Recovery conflicts: only the snapshot conflict is modelled
//     (ResolveRecoveryConflictWithSnapshot): before replaying a prune or
//     vacuum record whose horizon a standby snapshot may still need, the
//     startup process waits up to max_standby_streaming_delay for those
//     snapshots to go, then cancels them; the statement using one fails
//     with 40001. A backend idle in a transaction block gets the error at
//     its next statement (PostgreSQL terminates such a session with
//     FATAL). Lock conflicts (pgdst has no AccessExclusiveLock to replay),
//     buffer-pin conflicts (no cleanup lock is waited for: redo of a
//     prune takes the buffer's exclusive content lock, which a reader
//     holds only while it reads the page), tablespace and database
//     conflicts (no DROP TABLESPACE or DROP DATABASE) are not modelled.
//   - Hint bits set by standby reads are never WAL-logged: with data
//     checksums the page is not even dirtied (MarkBufferDirtyHint in
//     recovery); without, it is dirtied as PostgreSQL does. A commit hint
//     waits for the commit record to be flushed on the standby (its
//     XLogNeedsFlush in recovery compares with minRecoveryPoint; pgdst's
//     stand-in is the receiver's flushed position, which replay never
//     passes).

// RMStandby is RM_STANDBY_ID; InfoRunningXacts is XLOG_RUNNING_XACTS.
const (
	RMStandby        uint8 = 8
	InfoRunningXacts uint8 = 0x10
)

// DefaultLogSnapshotInterval is LOG_SNAPSHOT_INTERVAL_MS.
const DefaultLogSnapshotInterval = 15 * time.Second

// DefaultMaxStandbyStreamingDelay is max_standby_streaming_delay's
// default.
const DefaultMaxStandbyStreamingDelay = 30 * time.Second

// conflictPoll is the startup process's sleep while it waits for
// conflicting snapshots to go (ResolveRecoveryConflictWithVirtualXIDs's
// backoff, which starts at 1 ms).
const conflictPoll = time.Millisecond

// conflictWaitsMax bounds those sleeps, whatever the delay says.
const conflictWaitsMax = 100000

func encodeRunningXacts(r xact.RunningXacts) []byte {
	b := make([]byte, 0, 24+8*len(r.Xids))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.NextXid))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.OldestRunningXid))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.LatestCompletedXid))
	for _, x := range r.Xids {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// DecodeRunningXacts reads an XLOG_RUNNING_XACTS payload. It never
// panics.
func DecodeRunningXacts(p []byte) (xact.RunningXacts, error) {
	if len(p) < 24 || len(p)%8 != 0 || len(p) > 24+8*(1<<16) {
		return xact.RunningXacts{}, fmt.Errorf("running-xacts record of %d bytes", len(p))
	}
	r := xact.RunningXacts{
		NextXid:            xact.XID(binary.LittleEndian.Uint64(p)),
		OldestRunningXid:   xact.XID(binary.LittleEndian.Uint64(p[8:])),
		LatestCompletedXid: xact.XID(binary.LittleEndian.Uint64(p[16:])),
	}
	for i := 24; i < len(p); i += 8 {
		x := xact.XID(binary.LittleEndian.Uint64(p[i:]))
		if len(r.Xids) > 0 && x <= r.Xids[len(r.Xids)-1] || x >= r.NextXid || x < r.OldestRunningXid {
			return xact.RunningXacts{}, fmt.Errorf("running-xacts record: xid %d out of order or range", x)
		}
		r.Xids = append(r.Xids, x)
	}
	if r.OldestRunningXid > r.NextXid || r.LatestCompletedXid >= r.NextXid {
		return xact.RunningXacts{}, errors.New("running-xacts record: horizons out of order")
	}
	return r, nil
}

// logStandbySnapshot is LogStandbySnapshot on a primary with
// HotStandby (wal_level = replica): the running xids, logged while
// XidGenLock is held (xact.ProcArray.LogRunningXacts). It is not flushed.
func (db *DB) logStandbySnapshot() {
	if !db.cfg.HotStandby || db.WAL == nil || db.Procs == nil || db.Procs.StandbyState() != xact.StandbyDisabled {
		return
	}
	db.Procs.LogRunningXacts(func(r xact.RunningXacts) {
		_, end := db.WAL.Insert(&wal.Record{Rmid: RMStandby, Info: InfoRunningXacts, Payload: encodeRunningXacts(r)})
		db.lastSnapshotLog = end
	})
	db.lastSnapshotAt = db.e.Clock.Now()
	db.e.Sometimes("running-xacts-logged")
}

// BgwriterLogStandbySnapshot is the background writer's periodic
// LogStandbySnapshot: every LogSnapshotInterval, if WAL was inserted since
// the last one (its GetLastImportantRecPtr test), so that a standby
// prunes KnownAssignedXids and a new one becomes ready without waiting
// for a checkpoint.
func (db *DB) BgwriterLogStandbySnapshot() {
	if !db.cfg.HotStandby || db.inRecovery || db.WAL == nil {
		return
	}
	if db.e.Clock.Now()-db.lastSnapshotAt < db.cfg.LogSnapshotInterval {
		return
	}
	if db.WAL.InsertLSN() == db.lastSnapshotLog {
		db.lastSnapshotAt = db.e.Clock.Now()
		return
	}
	db.logStandbySnapshot()
}

// initHotStandby is InitRecoveryTransactionEnvironment with
// ProcArrayInitRecovery, at the start of standby mode with hot_standby =
// on: the proc array read-only backends register in, KnownAssignedXids
// observing xids from nextXid on, and a transaction manager that never
// assigns an xid in recovery.
//
// Starting from a clean shutdown's checkpoint, nothing ran on the primary
// then: the snapshot is ready at once, from an empty running-xacts set
// (StartupXLOG's wasShutdown branch).
func (db *DB) initHotStandby(nextXid xact.XID, wasShutdown bool) {
	if db.Procs != nil {
		panic("db: hot standby initialised twice")
	}
	e, cfg := db.e, db.cfg
	db.Procs = xact.NewProcArray(e, cfg.MaxConnections, nextXid)
	xact.NewStandbyProcArray(db.Procs, nextXid)
	db.Locks = lmgr.New(e, cfg.DeadlockTimeout)
	db.Xacts = &xact.Manager{Procs: db.Procs, Clog: db.Clog, Locks: db.Locks, SynchronousCommit: cfg.SynchronousCommit, Bugs: cfg.Bugs}
	db.Xacts.SetEnv(e)
	if wasShutdown {
		db.Procs.ApplyRecoveryInfo(xact.RunningXacts{NextXid: nextXid, OldestRunningXid: nextXid, LatestCompletedXid: nextXid - 1}, func(xact.XID) bool { return true })
		e.Sometimes("hot-standby-snapshot-ready")
	}
}

// hotStandby reports whether the startup process keeps KnownAssignedXids.
func (db *DB) hotStandby() bool {
	return db.standbyMode && db.inRecovery && db.Procs != nil
}

// HotStandbyActive reports whether a standby may accept read-only
// connections: hot_standby = on, consistent and its snapshot ready
// (CheckRecoveryConsistency's LocalHotStandbyActive).
func (db *DB) HotStandbyActive() bool {
	return db.hotStandby() && db.consistent && db.Procs.StandbyState() == xact.StandbySnapshotReady
}

// hotStandbyBeforeRedo is ApplyWalRecord's hot standby work before a
// record's redo: its xid is recorded, and a record removing row versions
// first resolves its conflict with standby snapshots.
func (db *DB) hotStandbyBeforeRedo(rec wal.Record) {
	if !db.hotStandby() {
		return
	}
	if x := xact.XID(rec.Xid); x.IsNormal() {
		// Planted bug known-assigned-no-gaps: only the observed xid.
		db.Procs.RecordKnownAssigned(x, db.cfg.Bugs.Has(bugs.KnownAssignedNoGaps))
	}
	if rec.Rmid == heapam.RMHeap2 && (rec.Info == heapam.XLogHeap2Prune || rec.Info == heapam.XLogHeap2Vacuum) {
		body, err := wal.DecodeBody(rec.Payload)
		if err != nil || len(body.Main) < 8 {
			return // redo reports the damage
		}
		// Planted bug standby-no-snapshot-conflict: the removal is
		// replayed whatever the standby's snapshots still need.
		if h := xact.XID(binary.LittleEndian.Uint64(body.Main)); h.IsNormal() && !db.cfg.Bugs.Has(bugs.StandbyNoSnapshotConflict) {
			db.resolveConflictWithSnapshot(h - 1)
		}
	}
}

// hotStandbyAfterRedo expires the xid of a replayed commit or abort, after
// redo marked the clog (xact_redo_commit, xact_redo_abort).
func (db *DB) hotStandbyAfterRedo(rec wal.Record) {
	if !db.hotStandby() || rec.Rmid != xact.RMXact {
		return
	}
	x, err := xact.DecodeXactRecord(rec.Payload)
	if err != nil {
		return // redo reported the damage
	}
	db.Procs.ExpireKnownAssigned(x.Xid)
}

// redoStandby replays RM_STANDBY records (standby_redo): a running-xacts
// record is applied to KnownAssignedXids on a hot standby, and only
// decoded elsewhere.
func (db *DB) redoStandby(rec wal.Record) error {
	if rec.Info != InfoRunningXacts {
		return fmt.Errorf("unknown standby record info %#x", rec.Info)
	}
	r, err := DecodeRunningXacts(rec.Payload)
	if err != nil || !db.hotStandby() {
		return err
	}
	completed := func(x xact.XID) bool {
		st, _ := db.xidStatus(x)
		return st != clog.InProgress
	}
	if db.Procs.ApplyRecoveryInfo(r, completed) {
		db.e.Logf("recovery snapshot ready at %s (%d running)", rec.LSN, len(r.Xids))
		db.e.Sometimes("hot-standby-snapshot-ready")
	}
	return nil
}

// resolveConflictWithSnapshot is ResolveRecoveryConflictWithSnapshot:
// the standby's backends whose snapshot xmin is at or before limit may
// still need the row versions the record about to be replayed removes.
// The startup process waits for them up to max_standby_streaming_delay,
// then cancels those left; their statements fail with 40001.
func (db *DB) resolveConflictWithSnapshot(limit xact.XID) {
	e := db.e
	procs := db.Procs.ConflictingProcs(limit)
	if len(procs) == 0 {
		return
	}
	e.Sometimes("standby-snapshot-conflict")
	start := e.Clock.Now()
	for i := 0; i < conflictWaitsMax && len(procs) > 0 && e.Clock.Now()-start < db.cfg.MaxStandbyStreamingDelay; i++ {
		e.Clock.Sleep(conflictPoll)
		procs = db.Procs.ConflictingProcs(limit)
	}
	for _, p := range procs {
		db.Procs.CancelForConflict(p)
		e.Sometimes("standby-query-cancelled")
	}
	if len(procs) > 0 {
		e.Logf("recovery conflict: cancelled %d snapshots older than %d after %v", len(procs), limit+1, e.Clock.Now()-start)
	}
}

// errRecoveryConflict is the cancelled statement's error
// (ProcessInterrupts' "canceling statement due to conflict with
// recovery" with errdetail_recovery_conflict's snapshot detail).
func errRecoveryConflict() error {
	return pgerr.New(pgerr.SerializationFailure, "canceling statement due to conflict with recovery\nDETAIL: User query might have needed to see row versions that must be removed.")
}

// sessionHotStandby is a session's hot standby state: its transaction
// started in recovery and is read-only (startedInRecovery).
type sessionHotStandby struct {
	readOnly bool
}

// ReadOnly reports whether the session's transaction, or the next one
// if none is open, is read-only (transaction_read_only).
func (s *Session) ReadOnly() bool {
	if s.txn != nil {
		return s.hs.readOnly
	}
	return s.db.RecoveryInProgress()
}

// PreventCommandIfReadOnly fails cmd ("INSERT", "UPDATE", ...) with 25006
// in a read-only transaction, failing the transaction block as any
// statement error does.
func (s *Session) PreventCommandIfReadOnly(cmd string) error {
	if !s.ReadOnly() {
		return nil
	}
	if s.failed {
		return pgerr.New(pgerr.InFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	if s.inTxn {
		s.failed = true
	}
	s.db.e.Sometimes("hot-standby-write-refused")
	return pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute %s in a read-only transaction", cmd)
}

// PreventCommandDuringRecovery fails cmd (VACUUM) with 25006 during
// recovery.
func (s *Session) PreventCommandDuringRecovery(cmd string) error {
	if !s.db.RecoveryInProgress() {
		return nil
	}
	return pgerr.New(pgerr.ReadOnlySQLTransaction, "cannot execute %s during recovery", cmd)
}

// recoveryConflict is the backend's check of RecoveryConflictPending
// after a statement: a snapshot the startup process cancelled meanwhile
// (or while the transaction block was idle) fails the statement.
func (s *Session) recoveryConflict() error {
	if !s.db.Procs.TakeConflict(s.proc) {
		return nil
	}
	s.db.e.Sometimes("standby-statement-cancelled")
	return errRecoveryConflict()
}

// recoveryWAL is what the heap of a standby's relcache entry has of the
// WAL: nothing to write, and XLogNeedsFlush in recovery.
type recoveryWAL struct{ db *DB }

func (w recoveryWAL) InsertWith(func() *wal.Record, func(start, end wal.LSN)) (wal.LSN, wal.LSN) {
	panic("db: a WAL record from a hot standby backend")
}

func (w recoveryWAL) WithInsertLock(func(next wal.LSN)) {
	panic("db: the WAL insert lock in a hot standby backend")
}

// NeedsFlush is XLogNeedsFlush during recovery: whether lsn is beyond
// what the standby has durable (minRecoveryPoint there; the receiver's
// flushed position here).
func (w recoveryWAL) NeedsFlush(lsn wal.LSN) bool {
	if w.db.walRcv == nil {
		return lsn > w.db.replayed
	}
	_, flushed := w.db.walRcv.Positions()
	return lsn > flushed
}

// openTableInRecovery opens a table for a hot standby backend's
// statement: read-only handles, not cached (the relcache is rebuilt with
// writable ones after promotion). Hint bits do not dirty the page with
// data checksums (MarkBufferDirtyHint in recovery).
func (db *DB) openTableInRecovery(name string) (*table, error) {
	def, ok := db.Catalog.Lookup(name)
	if !ok {
		return nil, pgerr.New(pgerr.UndefinedTable, "relation %q does not exist", name)
	}
	heap, err := heapam.Open(db.e, heapam.Config{Rel: def.Heap, Pool: db.Pool, SMgr: db.SMgr, WAL: recoveryWAL{db}, NeedsFPI: db.NeedsFPI,
		HintBitsDirty: db.cfg.HintBitsDirty && !db.cfg.DataChecksums, Bugs: db.cfg.Bugs})
	if err != nil {
		return nil, err
	}
	// The index handle's WAL is never used: a read writes no index
	// record.
	idx, err := nbtree.Open(db.e, nbtree.Config{Rel: def.Index, Pool: db.Pool, SMgr: db.SMgr, WAL: &wal.WAL{}, NeedsFPI: db.NeedsFPI, Bugs: db.cfg.Bugs})
	if err != nil {
		return nil, err
	}
	return &table{heap: heap, idx: idx, stat: newTableStat(db.e), vacuumLock: db.e.Sched.NewMutex("VacuumLock " + name)}, nil
}
