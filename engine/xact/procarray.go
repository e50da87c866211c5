// Package xact owns transaction identity and snapshots: transaction ids
// (64-bit, never wrapping), the proc array of running transactions, MVCC
// snapshots and the global xmin horizon that vacuum may remove below. It
// mirrors PostgreSQL's procarray.c, varsup.c (GetNewTransactionId) and
// snapmgr.c's XidInMVCCSnapshot.
//
// It must never touch tuples, pages, the WAL or the clog directly: callers
// pass in what must happen under XidGenLock (extending the clog) and decide
// commit or abort themselves.
//
// Deviation: transaction ids are 64 bits and never wrap around, so there is
// no freezing, no epoch and no wraparound vacuum; comparisons are plain
// integer comparisons instead of TransactionIdPrecedes' modulo-2^32 ones.
package xact

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// XID is a transaction id.
type XID uint64

// The special transaction ids (transam.h).
const (
	InvalidXID     XID = 0
	BootstrapXID   XID = 1
	FrozenXID      XID = 2
	FirstNormalXID XID = 3
)

// IsNormal reports whether x is an ordinary transaction id.
func (x XID) IsNormal() bool { return x >= FirstNormalXID }

// Snapshot is an MVCC snapshot (SnapshotData): every xid below Xmin had
// finished when it was taken, every xid at or above Xmax had not started,
// and Xip lists the ones in between that were still running.
type Snapshot struct {
	Xmin XID
	Xmax XID
	Xip  []XID // sorted ascending
	// Bugs are the planted bugs (engine/bugs) in force where the snapshot
	// was taken, for the visibility rules that read it; zero in
	// production.
	Bugs bugs.Set
}

// InProgress is XidInMVCCSnapshot: whether xid must be treated as still
// running by a reader using s, i.e. its effects are invisible whatever its
// final status.
func (s *Snapshot) InProgress(xid XID) bool {
	if xid < s.Xmin {
		return false
	}
	if xid >= s.Xmax {
		return true
	}
	_, found := slices.BinarySearch(s.Xip, xid)
	return found
}

func (s *Snapshot) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d:", s.Xmin, s.Xmax)
	for i, x := range s.Xip {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, x)
	}
	return b.String() // the form of pg_current_snapshot()
}

// Proc is one backend's entry in the proc array (PGPROC's xid, xmin and
// delayChkptFlags).
type Proc struct {
	slot       int
	xid        XID
	xmin       XID
	delayChkpt bool
	// delayGen counts p's entries into a commit critical section: with
	// slot, it names one critical section as a VXID names one
	// transaction, so that a checkpoint waits for the sections it saw
	// and not for the next ones of the same backend.
	delayGen uint64
	// conflict is a hot standby backend's recovery conflict
	// (knownassigned.go): the startup process cancelled the snapshot
	// this proc advertises, and its statement must not return.
	conflict bool
}

// XID is the proc's current transaction id (InvalidXID if none assigned).
func (p *Proc) XID() XID { return p.xid }

// ProcArray is the shared array of running transactions.
type ProcArray struct {
	lock    env.Mutex // ProcArrayLock (taken exclusively: env has no shared mode)
	genLock env.Mutex // XidGenLock
	procs   []*Proc   // by slot; nil for a free slot
	// nextXid is guarded by genLock; latestCompleted by lock.
	nextXid         XID
	latestCompleted XID
	procsMax        int
	// known is KnownAssignedXids while a hot standby replays
	// (knownassigned.go); nil on a primary.
	known *knownAssigned
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	// Manager.SetEnv copies its own Bugs here.
	Bugs bugs.Set
}

// NewProcArray makes a proc array for at most procsMax backends, assigning
// xids from nextXid on (which recovery sets past every xid in the WAL).
func NewProcArray(e *env.Env, procsMax int, nextXid XID) *ProcArray {
	if procsMax <= 0 {
		panic("xact: procsMax must be positive")
	}
	if nextXid < FirstNormalXID {
		nextXid = FirstNormalXID
	}
	return &ProcArray{
		lock:            e.Sched.NewMutex("ProcArrayLock"),
		genLock:         e.Sched.NewMutex("XidGenLock"),
		procs:           make([]*Proc, procsMax),
		nextXid:         nextXid,
		latestCompleted: nextXid - 1,
		procsMax:        procsMax,
	}
}

// ErrTooManyProcs is returned when every slot is taken (SQLSTATE 53300).
var ErrTooManyProcs = fmt.Errorf("too_many_connections: sorry, too many clients already")

// Register takes a slot for a backend (InitProcess / ProcArrayAdd).
func (pa *ProcArray) Register() (*Proc, error) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	for i, p := range pa.procs {
		if p == nil {
			np := &Proc{slot: i}
			pa.procs[i] = np
			return np, nil
		}
	}
	return nil, ErrTooManyProcs
}

// Unregister frees p's slot. p must have no transaction.
func (pa *ProcArray) Unregister(p *Proc) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if p.xid != InvalidXID {
		panic("xact: unregistering a proc with a running transaction")
	}
	if pa.procs[p.slot] != p {
		panic("xact: unregistering a proc twice")
	}
	pa.procs[p.slot] = nil
}

// AssignXID gives p a new transaction id (GetNewTransactionId). extend runs
// under XidGenLock before the id is handed out, as ExtendCLOG does, so that
// the clog page for the id exists before anyone can see the id. The id is
// published in the proc array while XidGenLock is still held: a snapshot
// taken afterwards either sees it running or has Xmax at or below it.
func (pa *ProcArray) AssignXID(p *Proc, extend func(XID)) XID {
	if p.xid != InvalidXID {
		panic("xact: proc already has a transaction id")
	}
	pa.genLock.Lock()
	xid := pa.nextXid
	if extend != nil {
		extend(xid)
	}
	pa.nextXid++
	pa.lock.Lock()
	p.xid = xid
	pa.lock.Unlock()
	pa.genLock.Unlock()
	return xid
}

// NextXID is the id the next assignment will give (ReadNextTransactionId).
func (pa *ProcArray) NextXID() XID {
	pa.genLock.Lock()
	x := pa.nextXid
	pa.genLock.Unlock()
	return x
}

// AdvanceNextXID makes sure ids from x on are never handed out again
// (recovery, after replaying records that carry x-1).
func (pa *ProcArray) AdvanceNextXID(x XID) {
	pa.genLock.Lock()
	if x > pa.nextXid {
		pa.nextXid = x
	}
	pa.genLock.Unlock()
	pa.lock.Lock()
	if x-1 > pa.latestCompleted {
		pa.latestCompleted = x - 1
	}
	pa.lock.Unlock()
}

// GetSnapshot takes an MVCC snapshot for p (GetSnapshotData): Xmax is
// latestCompletedXid + 1; Xip is every other running xid below it; Xmin
// the smallest of those (or Xmax). p's advertised xmin is set if it has
// none, which holds the global horizon back for as long as p keeps it.
func (pa *ProcArray) GetSnapshot(p *Proc) *Snapshot {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if pa.known != nil {
		return pa.standbySnapshot(p)
	}
	s := &Snapshot{Xmax: pa.latestCompleted + 1, Bugs: pa.Bugs}
	s.Xmin = s.Xmax
	for _, q := range pa.procs {
		if q == nil || q == p || q.xid == InvalidXID || q.xid >= s.Xmax {
			continue
		}
		s.Xip = append(s.Xip, q.xid)
		if q.xid < s.Xmin {
			s.Xmin = q.xid
		}
	}
	slices.Sort(s.Xip)
	if pa.Bugs.Has(bugs.SnapshotNoInProgress) {
		// Planted bug: GetSnapshotData without its xip array. Xmin (and
		// with it the advertised xmin that holds vacuum back) stays right,
		// but every xid in [Xmin, Xmax) now counts as finished for
		// XidInMVCCSnapshot, so the clog decides: a transaction running
		// now becomes visible to this snapshot once it commits. heapam
		// sees the bug in s.Bugs and sets no hint bit from a "not
		// committed" answer, which may belong to a running transaction.
		s.Xip = nil
	}
	if p != nil && p.xmin == InvalidXID {
		p.xmin = s.Xmin
	}
	return s
}

// EndTransaction clears p's transaction (ProcArrayEndTransaction), at
// commit after the commit record and clog update, or at abort. It also
// drops p's snapshot xmin.
func (pa *ProcArray) EndTransaction(p *Proc) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if p.xid != InvalidXID && p.xid > pa.latestCompleted {
		pa.latestCompleted = p.xid
	}
	p.xid = InvalidXID
	p.xmin = InvalidXID
	p.delayChkpt = false
}

// ClearXmin drops p's advertised snapshot xmin (between statements of a
// READ COMMITTED transaction with no snapshot left).
func (pa *ProcArray) ClearXmin(p *Proc) {
	pa.lock.Lock()
	p.xmin = InvalidXID
	pa.lock.Unlock()
}

// OldestXmin is the horizon below which no running or future snapshot can
// see a deleted tuple as live (GetOldestNonRemovableTransactionId): the
// smallest running xid or advertised xmin, or latestCompleted + 1.
func (pa *ProcArray) OldestXmin() XID {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	h := pa.latestCompleted + 1
	for _, q := range pa.procs {
		if q == nil {
			continue
		}
		if q.xid != InvalidXID && q.xid < h {
			h = q.xid
		}
		if q.xmin != InvalidXID && q.xmin < h {
			h = q.xmin
		}
	}
	return h
}

// SetDelayCheckpoint marks p as inside its commit critical section
// (MyProc->delayChkptFlags |= DELAY_CHKPT_START): the checkpointer must not
// take its REDO pointer's effect as complete until p has updated the clog.
func (pa *ProcArray) SetDelayCheckpoint(p *Proc, on bool) {
	pa.lock.Lock()
	if on && !p.delayChkpt {
		p.delayGen++
	}
	p.delayChkpt = on
	pa.lock.Unlock()
}

// Delayer is one commit critical section a checkpoint waits for: a
// backend's slot and which of its critical sections (a VXID's role in
// GetVirtualXIDsDelayingChkpt).
type Delayer struct {
	slot int
	gen  uint64
}

// DelayingCheckpoint lists the commit critical sections in progress
// (GetVirtualXIDsDelayingChkpt), by slot.
func (pa *ProcArray) DelayingCheckpoint() []Delayer {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	var out []Delayer
	for _, q := range pa.procs {
		if q != nil && q.delayChkpt {
			out = append(out, Delayer{slot: q.slot, gen: q.delayGen})
		}
	}
	return out
}

// StillDelaying reports whether any of the critical sections ds is still
// in progress (HaveVirtualXIDsDelayingChkpt). A later critical section of
// the same backend does not count, as a later VXID does not in
// PostgreSQL: a stream of commits must not starve the checkpoint.
func (pa *ProcArray) StillDelaying(ds []Delayer) bool {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	for _, d := range ds {
		if q := pa.procs[d.slot]; q != nil && q.delayChkpt && q.delayGen == d.gen {
			return true
		}
	}
	return false
}

// StillDelayingBackends reports whether any backend of ds is in a commit
// critical section, the one seen or a later one: the wait planted bug
// delay-chkpt-by-backend makes, which one backend's back-to-back commits
// keep true for ever. Only that bug calls it.
func (pa *ProcArray) StillDelayingBackends(ds []Delayer) bool {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	for _, d := range ds {
		if q := pa.procs[d.slot]; q != nil && q.delayChkpt {
			return true
		}
	}
	return false
}

// Running lists the running xids, sorted (for checks and traces).
func (pa *ProcArray) Running() []XID {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	var out []XID
	for _, q := range pa.procs {
		if q != nil && q.xid != InvalidXID {
			out = append(out, q.xid)
		}
	}
	slices.Sort(out)
	return out
}

// AnyRunningUnlocked reports whether any xid is assigned, without
// ProcArrayLock: taking it would be a scheduling point, and the answer
// only feeds a sometimes condition, which must not change the run. It is
// a racy read where processes run in parallel, so callers ask only when
// the environment collects conditions (env.Env.Collecting: the simulator,
// one process at a time).
func (pa *ProcArray) AnyRunningUnlocked() bool {
	for _, q := range pa.procs {
		if q != nil && q.xid != InvalidXID {
			return true
		}
	}
	return false
}

// Slot is the proc's slot number, which identifies its backend to the lock
// manager.
func (p *Proc) Slot() int { return p.slot }

// IsRunning is TransactionIdIsInProgress: whether xid is assigned to a
// proc right now.
func (pa *ProcArray) IsRunning(xid XID) bool {
	if xid == InvalidXID {
		return false
	}
	pa.lock.Lock()
	defer pa.lock.Unlock()
	for _, q := range pa.procs {
		if q != nil && q.xid == xid {
			return true
		}
	}
	return false
}
