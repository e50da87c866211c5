package xact

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// Resource managers and record types of transactions (RM_XACT_ID, RM_CLOG_ID).
const (
	RMXact       = 1
	RMClog       = 3
	InfoCommit   = 0x00 // XLOG_XACT_COMMIT
	InfoAbort    = 0x20 // XLOG_XACT_ABORT
	InfoZeroPage = 0x00 // CLOG_ZEROPAGE
	// xactRecordLen is a commit or abort record's payload: xact_time
	// (xl_xact_commit.xact_time, xl_xact_abort.xact_time) and the xid.
	xactRecordLen = 16
)

// The injection points of a commit, in order (see Commit).
const (
	PointAfterCommitInsert = "backend-after-commit-insert"
	PointAfterXLogFlush    = "backend-after-xlogflush"
	PointAfterClogUpdate   = "backend-after-clog-update"
	PointBeforeAck         = "backend-before-ack"
)

// PointAfterXIDAssign is a transaction that has just been given its xid
// (AssignTransactionId): the xid is in the proc array, so snapshots count
// it running and the global xmin horizon is held at it, its lock is held,
// and nothing of it is in the WAL yet. A stall here makes later xids
// commit first, out of xid order.
const PointAfterXIDAssign = "xact-after-xid-assign"

// Manager runs transactions over the proc array, the clog, the WAL and the
// lock manager (xact.c's StartTransaction / CommitTransaction /
// AbortTransaction and RecordTransactionCommit).
type Manager struct {
	e     *env.Env
	Procs *ProcArray
	Clog  *clog.CLOG
	WAL   *wal.WAL
	Locks *lmgr.Manager
	// SynchronousCommit is synchronous_commit: when off, a commit returns
	// before its record is durable and the WAL writer flushes it later.
	SynchronousCommit bool
	// SyncRepWait, when set, is SyncRepWaitForLSN (engine/db/syncrep.go):
	// a synchronous commit waits in it for the synchronous standbys after
	// its clog update and before it leaves the proc array.
	SyncRepWait func(p *Proc, end wal.LSN)
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
}

// Txn is one backend's current transaction (TransactionStateData).
type Txn struct {
	m    *Manager
	proc *Proc
	xid  XID
	cid  uint32
	done bool
	// asyncCommit is SET LOCAL synchronous_commit = off: this
	// transaction's commit does not wait for its record to be durable,
	// whatever the server's setting (synchronous_commit.go).
	asyncCommit bool
}

// SetEnv gives the manager its environment (for injection points and
// PANICs). It also hands the manager's planted bugs to its proc array,
// whose snapshots carry them to the visibility rules.
func (m *Manager) SetEnv(e *env.Env) {
	m.e = e
	if m.Procs != nil {
		m.Procs.Bugs = m.Bugs
	}
}

// Begin starts a transaction for proc; no xid is assigned until the
// transaction first writes (AssignTransactionId is lazy).
func (m *Manager) Begin(proc *Proc) *Txn {
	if proc.xid != InvalidXID {
		panic("xact: Begin while the proc has a transaction")
	}
	return &Txn{m: m, proc: proc}
}

// XID is the transaction's id, InvalidXID if it has not written.
func (t *Txn) XID() XID { return t.xid }

// CID is the current command id (GetCurrentCommandId).
func (t *Txn) CID() uint32 { return t.cid }

// NextCommand makes the next command see this one's changes
// (CommandCounterIncrement).
func (t *Txn) NextCommand() { t.cid++ }

// AssignXID gives the transaction an id if it has none
// (GetCurrentTransactionId): the clog page for the id is created first —
// and its creation WAL-logged, as ExtendCLOG does — under XidGenLock, and
// the transaction takes the lock on its own id that waiters block on.
func (t *Txn) AssignXID() (XID, error) {
	if t.xid != InvalidXID {
		return t.xid, nil
	}
	m := t.m
	var extErr error
	xid := m.Procs.AssignXID(t.proc, func(x XID) {
		created, err := m.Clog.ExtendCLOG(uint64(x))
		if err != nil {
			extErr = err
			return
		}
		if created && !m.Bugs.Has(bugs.ClogZeroPageNotLogged) {
			// Planted bug clog-zeropage-not-logged skips the record: redo
			// then never writes the page before replaying the statuses
			// on it (clog.RedoZeroPage), and finds it missing from its
			// segment, or stale.
			page := make([]byte, 8)
			binary.LittleEndian.PutUint64(page, clog.PageOf(uint64(x)))
			// PostgreSQL's WriteZeroPageXlogRec: inserted, not flushed.
			m.WAL.Insert(&wal.Record{Rmid: RMClog, Info: InfoZeroPage, Payload: page})
		}
	})
	if extErr != nil {
		// The xid was handed out but its clog page could not be made:
		// PostgreSQL raises ERROR inside GetNewTransactionId's critical
		// path only before advancing nextXid; here the id is burnt.
		m.Procs.EndTransaction(t.proc)
		return InvalidXID, extErr
	}
	m.Locks.Hold(t.proc.slot, uint64(xid))
	t.xid = xid
	m.e.Inject(PointAfterXIDAssign)
	return xid, nil
}

// XactRecord is a commit or abort record's payload: xl_xact_commit /
// xl_xact_abort's xact_time, then the transaction's xid (which
// PostgreSQL keeps in the record header; here the header's xid is also
// set, and the payload's is what redo trusts).
type XactRecord struct {
	// TimeUS is xact_time, GetCurrentTransactionStopTimestamp: the
	// committing node's clock (env.Clock.Now, under the simulator the
	// run's virtual time plus the node's offset) in microseconds, as a
	// TimestampTz counts them. Its zero is the clock's zero, which the
	// log lines print as PostgreSQL's epoch, 2000-01-01 00:00:00+00.
	TimeUS int64
	Xid    XID
}

// Encode is the record's payload (XactLogCommitRecord's xl_xact_commit).
func (r XactRecord) Encode() []byte {
	b := make([]byte, xactRecordLen)
	binary.LittleEndian.PutUint64(b[0:8], uint64(r.TimeUS))
	binary.LittleEndian.PutUint64(b[8:16], uint64(r.Xid))
	return b
}

// DecodeXactRecord reads a commit or abort record's payload
// (ParseCommitRecord, ParseAbortRecord); a payload of the wrong length
// is an error, never a panic.
func DecodeXactRecord(payload []byte) (XactRecord, error) {
	if len(payload) != xactRecordLen {
		return XactRecord{}, fmt.Errorf("bad length %d, want %d", len(payload), xactRecordLen)
	}
	return XactRecord{
		TimeUS: int64(binary.LittleEndian.Uint64(payload[0:8])),
		Xid:    XID(binary.LittleEndian.Uint64(payload[8:16])),
	}, nil
}

// pgEpochUnixS is 2000-01-01 00:00:00 UTC in Unix seconds
// (POSTGRES_EPOCH_JDATE), the zero a TimestampTz counts from.
const pgEpochUnixS = 946684800

// FormatTimestamp is timestamptz_to_str for a xact_time: the clock's
// zero printed as PostgreSQL's epoch, in UTC.
func FormatTimestamp(us int64) string {
	return time.Unix(pgEpochUnixS, 0).UTC().Add(time.Duration(us) * time.Microsecond).Format("2006-01-02 15:04:05.000000-07")
}

// stopTimestamp is GetCurrentTransactionStopTimestamp: the node's clock
// now, in microseconds.
func (m *Manager) stopTimestamp() int64 {
	return int64(m.e.Clock.Now() / time.Microsecond)
}

// Commit is CommitTransaction with RecordTransactionCommit's order: inside
// a critical section that delays checkpoints (DELAY_CHKPT_START), insert
// the commit record, flush it when synchronous_commit is on, mark the clog
// (with the record's LSN for asynchronous commits, so its page waits for
// the WAL), then leave the critical section, remove the xid from the proc
// array and release waiters. Only after that may the caller acknowledge.
func (t *Txn) Commit() (commitLSN wal.LSN, err error) {
	if t.done {
		return wal.InvalidLSN, fmt.Errorf("xact: transaction already ended")
	}
	t.done = true
	m := t.m
	if t.xid == InvalidXID {
		m.Procs.EndTransaction(t.proc) // read-only: nothing to record
		return wal.InvalidLSN, nil
	}
	m.Procs.SetDelayCheckpoint(t.proc, true)
	// RecordTransactionCommit's SetCurrentTransactionStopTimestamp:
	// xact_time is read inside the critical section, just before the
	// record is inserted.
	rec := XactRecord{TimeUS: m.stopTimestamp(), Xid: t.xid}
	_, end := m.WAL.Insert(&wal.Record{Xid: uint64(t.xid), Rmid: RMXact, Info: InfoCommit, Payload: rec.Encode()})
	m.e.Inject(PointAfterCommitInsert)
	groupLSN := wal.InvalidLSN
	if m.SynchronousCommit && !t.asyncCommit {
		if !m.Bugs.Has(bugs.AckBeforeFlush) {
			m.WAL.Flush(end)
		}
	} else {
		groupLSN = end
		m.e.Sometimes("async-commit")
	}
	m.e.Inject(PointAfterXLogFlush)
	if err := m.Clog.SetStatus(uint64(t.xid), clog.Committed, groupLSN); err != nil {
		// The commit record is in the WAL: PostgreSQL's
		// TransactionIdCommitTree runs in a critical section, where any
		// error is a PANIC.
		m.e.Panicf("could not mark transaction %d committed: %v", t.xid, err)
	}
	m.e.Inject(PointAfterClogUpdate)
	m.Procs.SetDelayCheckpoint(t.proc, false)
	if m.SyncRepWait != nil && groupLSN == wal.InvalidLSN {
		// RecordTransactionCommit's SyncRepWaitForLSN(XactLastRecEnd):
		// committed locally, not yet visible to others, its locks held.
		m.SyncRepWait(t.proc, end)
	}
	m.Procs.EndTransaction(t.proc)
	m.Locks.Release(uint64(t.xid))
	m.e.Committed(uint64(t.xid), uint64(end))
	m.e.Inject(PointBeforeAck)
	return end, nil
}

// Abort is AbortTransaction / RecordTransactionAbort: an abort record (never
// flushed: a lost abort record is the same as a crash, which aborts), the
// clog marked aborted, the xid removed and waiters released.
func (t *Txn) Abort() error {
	if t.done {
		return nil
	}
	t.done = true
	m := t.m
	if t.xid != InvalidXID {
		rec := XactRecord{TimeUS: m.stopTimestamp(), Xid: t.xid}
		m.WAL.Insert(&wal.Record{Xid: uint64(t.xid), Rmid: RMXact, Info: InfoAbort, Payload: rec.Encode()})
		if err := m.Clog.SetStatus(uint64(t.xid), clog.Aborted, wal.InvalidLSN); err != nil {
			m.e.Panicf("could not mark transaction %d aborted: %v", t.xid, err)
		}
	}
	m.Procs.EndTransaction(t.proc)
	if t.xid != InvalidXID {
		m.Locks.Release(uint64(t.xid))
	}
	return nil
}

// Redo replays the transaction and clog records (xact_redo, clog_redo).
// It reports whether rec was one of them, and the highest xid it saw.
func Redo(c *clog.CLOG, rec wal.Record, end wal.LSN) (handled bool, err error) {
	switch rec.Rmid {
	case RMXact:
		x, err := DecodeXactRecord(rec.Payload)
		if err != nil {
			return true, fmt.Errorf("xact record at %s: %v", rec.LSN, err)
		}
		xid := uint64(x.Xid)
		switch rec.Info {
		case InfoCommit:
			return true, c.RedoSetStatus(xid, clog.Committed, end)
		case InfoAbort:
			return true, c.RedoSetStatus(xid, clog.Aborted, wal.InvalidLSN)
		}
		return true, fmt.Errorf("xact record at %s: unknown info %#x", rec.LSN, rec.Info)
	case RMClog:
		if rec.Info != InfoZeroPage || len(rec.Payload) != 8 {
			return true, fmt.Errorf("clog record at %s: bad record", rec.LSN)
		}
		return true, c.RedoZeroPage(binary.LittleEndian.Uint64(rec.Payload))
	}
	return false, nil
}
