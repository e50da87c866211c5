package xact

import (
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/bugs"
)

// Hot standby's transaction tracking (procarray.c's KnownAssignedXids,
// PostgreSQL 15). A standby's backends run read-only transactions while
// the startup process replays the primary's WAL. Their snapshots cannot
// come from the standby's own proc array, where no transaction of the
// primary runs: the startup process keeps KnownAssignedXids instead, the
// xids the primary may still be running, from what replay has seen. Every
// xid of a replayed record is recorded, together with every xid between
// the last one observed and it (RecordKnownAssignedTransactionIds): the
// primary assigned those too, and a transaction whose first record comes
// later must be counted running meanwhile. Replayed commits and aborts
// remove their xid (ExpireTreeKnownAssignedTransactionIds). The primary's
// XLOG_RUNNING_XACTS records initialise the array (the xids running before
// the standby started to observe) and prune xids older than the oldest
// running one, left by transactions that ended without a record (a crash
// on the primary) (ProcArrayApplyRecoveryInfo). A snapshot taken in
// recovery is xmax = latestCompletedXid + 1 and xip = the known-assigned
// xids below it (GetSnapshotData's RecoveryInProgress branch); visibility
// then works through the clog as on the primary.
//
// Deviation: no subtransactions, so no subxid overflow and no
// STANDBY_SNAPSHOT_PENDING state.

// StandbyState is xlogutils.h's HotStandbyState.
type StandbyState uint8

const (
	// StandbyDisabled is STANDBY_DISABLED: no hot standby (a primary, or a
	// standby with hot_standby = off).
	StandbyDisabled StandbyState = iota
	// StandbyInitialized is STANDBY_INITIALIZED: xids are observed, but
	// the running transactions before the start are not known yet; no
	// snapshot may be taken.
	StandbyInitialized
	// StandbySnapshotReady is STANDBY_SNAPSHOT_READY: KnownAssignedXids
	// is complete, and read-only sessions may take snapshots.
	StandbySnapshotReady
)

// knownAssignedMax bounds KnownAssignedXids (TOTAL_MAX_CACHED_SUBXIDS
// plus the procs, scaled): a primary never has more running xids than
// connections, and the gaps recorded between observed xids belong to
// transactions that have records to come or that a running-xacts record
// prunes.
const knownAssignedMax = 1 << 16

// knownAssigned is KnownAssignedXids with latestObservedXid and the
// standby state, guarded by ProcArrayLock. Only the startup process
// changes it.
type knownAssigned struct {
	xids           []XID // sorted ascending, no duplicates
	latestObserved XID
	state          StandbyState
}

// RunningXacts is xl_running_xacts (RunningTransactionsData): what the
// primary had running when it logged the record.
type RunningXacts struct {
	NextXid            XID
	OldestRunningXid   XID
	LatestCompletedXid XID
	Xids               []XID // sorted ascending
}

// NewStandbyProcArray makes a hot standby's proc array
// (InitRecoveryTransactionEnvironment, ProcArrayInitRecovery): xids from
// nextXid, the redo checkpoint's, on are observed as replay meets them;
// those before it that still run are known only from the first
// running-xacts record. latestCompletedXid starts at nextXid - 1, as
// StartupXLOG sets it from the checkpoint.
func NewStandbyProcArray(pa *ProcArray, nextXid XID) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if pa.known != nil {
		panic("xact: hot standby tracking started twice")
	}
	if nextXid < FirstNormalXID {
		nextXid = FirstNormalXID
	}
	pa.known = &knownAssigned{latestObserved: nextXid - 1, state: StandbyInitialized}
	pa.latestCompleted = nextXid - 1
}

// StandbyState is the hot standby state, StandbyDisabled on a primary.
func (pa *ProcArray) StandbyState() StandbyState {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if pa.known == nil {
		return StandbyDisabled
	}
	return pa.known.state
}

// RecordKnownAssigned is RecordKnownAssignedTransactionIds for the xid of
// a replayed record: when it follows latestObservedXid, every xid in
// (latestObservedXid, xid] is added, and latestObservedXid advances.
// Before the snapshot is ready only latestObservedXid advances (the
// array is filled by the first running-xacts record). noGaps is the
// planted bug known-assigned-no-gaps: only xid itself is added.
func (pa *ProcArray) RecordKnownAssigned(xid XID, noGaps bool) {
	if !xid.IsNormal() {
		return
	}
	pa.lock.Lock()
	defer pa.lock.Unlock()
	k := pa.known
	if k == nil {
		panic("xact: RecordKnownAssigned outside hot standby")
	}
	if xid <= k.latestObserved {
		return
	}
	from := k.latestObserved + 1
	k.latestObserved = xid
	if pa.nextXid <= xid {
		pa.nextXid = xid + 1 // nextXid must be beyond any observed xid
	}
	if k.state < StandbySnapshotReady {
		return
	}
	if noGaps {
		from = xid
	}
	if n := len(k.xids); n > 0 && k.xids[n-1] >= from {
		panic(fmt.Sprintf("xact: out-of-order XID insertion in KnownAssignedXids: %d after %d", from, k.xids[n-1]))
	}
	if len(k.xids)+int(xid-from+1) > knownAssignedMax {
		panic("xact: too many KnownAssignedXids")
	}
	for x := from; x <= xid; x++ {
		k.xids = append(k.xids, x)
	}
}

// ExpireKnownAssigned is ExpireTreeKnownAssignedTransactionIds for a
// replayed commit or abort of xid: it leaves KnownAssignedXids and
// latestCompletedXid advances to it, as ProcArrayEndTransaction does on
// the primary. The caller has marked the clog first, so that no snapshot
// sees xid neither running nor finished.
func (pa *ProcArray) ExpireKnownAssigned(xid XID) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	k := pa.known
	if k == nil {
		panic("xact: ExpireKnownAssigned outside hot standby")
	}
	if i, found := slices.BinarySearch(k.xids, xid); found {
		k.xids = slices.Delete(k.xids, i, i+1)
	}
	// Planted bug standby-latest-completed-stale: latestCompletedXid
	// stays where the last running-xacts record put it, and snapshots'
	// xmax with it.
	if xid > pa.latestCompleted && !pa.Bugs.Has(bugs.StandbyLatestCompletedStale) {
		pa.latestCompleted = xid
	}
}

// ApplyRecoveryInfo is ProcArrayApplyRecoveryInfo for a replayed
// running-xacts record: xids older than its oldest running one are pruned
// (ExpireOldKnownAssignedTransactionIds); the first record after the
// start fills KnownAssignedXids with its running xids that replay has not
// seen finish (completed reports that, from the clog: the record may list
// xids whose commit was logged before it), sets latestObservedXid to
// nextXid - 1 unless replay observed beyond, advances latestCompletedXid,
// and makes the snapshot ready. It reports whether it did that.
func (pa *ProcArray) ApplyRecoveryInfo(r RunningXacts, completed func(XID) bool) (ready bool) {
	if r.OldestRunningXid > r.NextXid || r.LatestCompletedXid >= r.NextXid {
		panic(fmt.Sprintf("xact: running-xacts record with oldest %d, latest completed %d, next %d", r.OldestRunningXid, r.LatestCompletedXid, r.NextXid))
	}
	var keep []XID
	pa.lock.Lock()
	k := pa.known
	if k == nil {
		pa.lock.Unlock()
		panic("xact: ApplyRecoveryInfo outside hot standby")
	}
	i, _ := slices.BinarySearch(k.xids, r.OldestRunningXid)
	k.xids = slices.Delete(k.xids, 0, i)
	state := k.state
	pa.lock.Unlock()
	if state == StandbySnapshotReady {
		return false
	}
	// The clog is read outside ProcArrayLock: it may do I/O, and only
	// the startup process changes KnownAssignedXids.
	for _, x := range r.Xids {
		if x.IsNormal() && !completed(x) {
			keep = append(keep, x)
		}
	}
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if len(keep) > 0 && len(k.xids) != 0 {
		panic("xact: KnownAssignedXids is not empty")
	}
	k.xids = slices.Compact(keep)
	k.latestObserved = max(k.latestObserved, r.NextXid-1)
	if pa.nextXid <= k.latestObserved {
		pa.nextXid = k.latestObserved + 1
	}
	pa.latestCompleted = max(pa.latestCompleted, r.LatestCompletedXid)
	k.state = StandbySnapshotReady
	return true
}

// KnownAssignedXids is a copy of the array and latestObservedXid, for
// tests and the transcript.
func (pa *ProcArray) KnownAssignedXids() (xids []XID, latestObserved XID) {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	if pa.known == nil {
		return nil, InvalidXID
	}
	return slices.Clone(pa.known.xids), pa.known.latestObserved
}

// standbySnapshot is GetSnapshotData in recovery, under ProcArrayLock:
// xmax is latestCompletedXid + 1, xip the known-assigned xids below it
// (KnownAssignedXidsGetAndSetXmin), xmin the oldest of them or xmax.
func (pa *ProcArray) standbySnapshot(p *Proc) *Snapshot {
	k := pa.known
	if k.state != StandbySnapshotReady {
		panic("xact: a snapshot in hot standby before STANDBY_SNAPSHOT_READY")
	}
	s := &Snapshot{Xmax: pa.latestCompleted + 1, Bugs: pa.Bugs}
	s.Xmin = s.Xmax
	for _, x := range k.xids {
		if x >= s.Xmax {
			break
		}
		s.Xip = append(s.Xip, x)
	}
	if len(s.Xip) > 0 {
		s.Xmin = s.Xip[0]
	}
	if p != nil && p.xmin == InvalidXID {
		p.xmin = s.Xmin
	}
	return s
}

// EndStandby ends hot standby tracking at promotion: the proc array goes
// on serving the sessions that were read-only, and assigns xids from
// nextXid on (the end of recovery's).
func (pa *ProcArray) EndStandby(nextXid XID) {
	pa.genLock.Lock()
	pa.lock.Lock()
	pa.known = nil
	pa.nextXid = max(pa.nextXid, nextXid, FirstNormalXID)
	pa.latestCompleted = pa.nextXid - 1
	for _, q := range pa.procs {
		if q != nil && q.xid != InvalidXID {
			panic("xact: a standby backend with an xid")
		}
	}
	pa.lock.Unlock()
	pa.genLock.Unlock()
}

// LogRunningXacts is GetRunningTransactionData with LogStandbySnapshot's
// locking: the running xids, nextXid, the oldest running xid and
// latestCompletedXid, handed to insert (which logs the record) while
// XidGenLock is still held, so that no xid is assigned, and no record of
// a new xid written, between the snapshot and its record.
func (pa *ProcArray) LogRunningXacts(insert func(RunningXacts)) {
	pa.genLock.Lock()
	defer pa.genLock.Unlock()
	pa.lock.Lock()
	r := RunningXacts{NextXid: pa.nextXid, LatestCompletedXid: pa.latestCompleted}
	r.OldestRunningXid = r.NextXid
	for _, q := range pa.procs {
		if q != nil && q.xid != InvalidXID {
			r.Xids = append(r.Xids, q.xid)
			r.OldestRunningXid = min(r.OldestRunningXid, q.xid)
		}
	}
	pa.lock.Unlock()
	slices.Sort(r.Xids)
	insert(r)
}

// ConflictingProcs is GetConflictingVirtualXIDs: the backends whose
// advertised xmin is at or before limit (a snapshot that may still need
// a row version whose removal a replayed record carries out), and which
// are not cancelled already.
func (pa *ProcArray) ConflictingProcs(limit XID) []*Proc {
	pa.lock.Lock()
	defer pa.lock.Unlock()
	var out []*Proc
	for _, q := range pa.procs {
		if q != nil && !q.conflict && q.xmin != InvalidXID && q.xmin <= limit {
			out = append(out, q)
		}
	}
	return out
}

// CancelForConflict is CancelVirtualTransaction with
// PROCSIG_RECOVERY_CONFLICT_SNAPSHOT: p's snapshot no longer holds the
// horizon back, and its backend must fail the statement that uses it
// (TakeConflict).
func (pa *ProcArray) CancelForConflict(p *Proc) {
	pa.lock.Lock()
	p.conflict = true
	p.xmin = InvalidXID
	pa.lock.Unlock()
}

// TakeConflict reports, once, that p's snapshot was cancelled by a
// recovery conflict (the backend's RecoveryConflictPending).
func (pa *ProcArray) TakeConflict(p *Proc) bool {
	pa.lock.Lock()
	c := p.conflict
	p.conflict = false
	pa.lock.Unlock()
	return c
}

// Conflicted reports whether p's snapshot was cancelled, without
// clearing it.
func (pa *ProcArray) Conflicted(p *Proc) bool {
	pa.lock.Lock()
	c := p.conflict
	pa.lock.Unlock()
	return c
}
