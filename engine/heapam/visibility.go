// Package heapam is the heap access method: tuple visibility under MVCC
// snapshots, for updaters and for vacuum (heapam_visibility.c), and insert,
// fetch, scan, delete, update, row locking, pruning and their WAL records
// and redo (heapam.c, heapam_xlog.c) over the buffer pool.
//
// It owns the rules that decide which tuple versions a snapshot sees and
// when hint bits may be set. It must never decide commit status (the clog
// and the proc array answer that) nor WAL-log hint bits: until the pool
// has MarkBufferDirtyHint with a full-page image for hints, hint bits ride
// along with the page's next logged change or are lost, which is harmless.
package heapam

import (
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Oracle answers what visibility needs to know about transactions.
type Oracle interface {
	// IsCurrent is TransactionIdIsCurrentTransactionId.
	IsCurrent(xid xact.XID) bool
	// Status is the clog's answer for a transaction not known to be
	// running, with the commit record's (group) LSN for commits
	// (TransactionIdGetStatus / TransactionIdGetCommitLSN).
	Status(xid xact.XID) (clog.Status, wal.LSN)
	// Combo resolves a combo command id (HEAP_COMBOCID) to the cmin and
	// cmax it stands for (combocid.c): the backend that both inserted and
	// deleted a tuple keeps both in its own memory.
	Combo(cid uint32) (cmin, cmax uint32)
}

// cmin and cmax are HeapTupleHeaderGetCmin/GetCmax.
func cmin(t page.HeapTuple, o Oracle) uint32 {
	if t.Infomask()&page.HeapComboCID != 0 {
		c, _ := o.Combo(t.Cid())
		return c
	}
	return t.Cid()
}

func cmax(t page.HeapTuple, o Oracle) uint32 {
	if t.Infomask()&page.HeapComboCID != 0 {
		_, c := o.Combo(t.Cid())
		return c
	}
	return t.Cid()
}

// HintTarget is the buffer holding the tuple, for hint bits
// (SetHintBits / MarkBufferDirtyHint).
type HintTarget interface {
	// NeedsFlush is XLogNeedsFlush: whether lsn is not yet durable.
	NeedsFlush(lsn wal.LSN) bool
	// PageLSN is the buffer's page LSN.
	PageLSN() wal.LSN
	// MarkDirtyHint records that only hint bits changed (MarkBufferDirtyHint).
	MarkDirtyHint()
}

// setHintBits is SetHintBits: a commit hint (xid valid) is set only once
// the commit record is durable, or when the page's LSN already forces WAL
// past it before the page can be written; otherwise a crash could leave a
// durable "committed" hint for a transaction whose commit record was lost
// (possible with synchronous_commit=off). Abort hints are always safe.
func setHintBits(t page.HeapTuple, h HintTarget, o Oracle, bits uint16, xid xact.XID) {
	if h == nil {
		return
	}
	if xid != xact.InvalidXID {
		_, commitLSN := o.Status(xid)
		if h.NeedsFlush(commitLSN) && h.PageLSN() < commitLSN {
			deferredHint(h)
			return
		}
	}
	t.SetInfomask(bits)
	h.MarkDirtyHint()
}

// didCommit is TransactionIdDidCommit; the special xids below
// FirstNormalXID count as committed, as TransactionLogFetch says.
func didCommit(o Oracle, xid xact.XID) bool {
	if !xid.IsNormal() {
		return xid == xact.BootstrapXID || xid == xact.FrozenXID
	}
	st, _ := o.Status(xid)
	return st == clog.Committed
}

// SatisfiesMVCC is HeapTupleSatisfiesMVCC: whether the tuple version is
// visible to snap, for a scan at command id curcid. It sets hint bits as a
// side effect when h is not nil. Multixacts do not exist here (one locker
// or updater at a time).
func SatisfiesMVCC(t page.HeapTuple, snap *xact.Snapshot, curcid uint32, o Oracle, h HintTarget) bool {
	return satisfiesMVCC(t, snap, curcid, o, h, true)
}

// satisfiesMVCC is SatisfiesMVCC; read says the caller is a plain read
// (heap_fetch, a scan) rather than an update's crosscheck, the only place
// where the planted bug aborted-read applies.
func satisfiesMVCC(t page.HeapTuple, snap *xact.Snapshot, curcid uint32, o Oracle, h HintTarget, read bool) bool {
	// Planted bug snapshot-no-inprogress: snap has no xip, so an xid it
	// calls finished may still be running, and a "not committed" answer
	// from the clog proves nothing: the abort hints below are not set
	// (setting them would make the bug corrupt the tuple, not only hide
	// or show it).
	noXip := snap.Bugs.Has(bugs.SnapshotNoInProgress)
	mask := t.Infomask()
	xmin := xact.XID(t.Xmin())
	if mask&page.HeapXminCommitted == 0 {
		if mask&page.HeapXminInvalid != 0 {
			return false
		}
		if o.IsCurrent(xmin) {
			if cmin(t, o) >= curcid {
				return false // inserted after this scan started
			}
			if mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask) {
				return true
			}
			xmax := xact.XID(t.Xmax())
			if !o.IsCurrent(xmax) {
				// The deleting subtransaction aborted.
				setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
				return true
			}
			return cmax(t, o) >= curcid // deleted after this scan started
		}
		if snap.InProgress(xmin) {
			return false
		}
		switch {
		case didCommit(o, xmin):
			setHintBits(t, h, o, page.HeapXminCommitted, xmin)
		case read && snap.Bugs.Has(bugs.AbortedRead):
			// Planted bug aborted-read: HeapTupleSatisfiesMVCC without
			// its TransactionIdDidCommit check on xmin, so a version
			// whose inserter aborted (or was running at a crash) reads
			// as committed. No hint bit is set: the page keeps the
			// truth, and vacuum, uniqueness and update checks, which
			// have their own rules, still see the abort.
		default:
			// Aborted, or running when the system crashed.
			if !noXip {
				setHintBits(t, h, o, page.HeapXminInvalid, xact.InvalidXID)
			}
			return false
		}
	} else if mask&page.HeapXminFrozen != page.HeapXminFrozen && snap.InProgress(xmin) {
		return false // committed, but after the snapshot was taken
	}

	// The inserting transaction committed and is visible to snap.
	mask = t.Infomask()
	if mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask) {
		return true
	}
	xmax := xact.XID(t.Xmax())
	if mask&page.HeapXmaxCommitted == 0 {
		if o.IsCurrent(xmax) {
			return cmax(t, o) >= curcid // deleted after this scan started
		}
		if snap.InProgress(xmax) {
			return true
		}
		if !didCommit(o, xmax) {
			if !noXip {
				setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
			}
			return true
		}
		setHintBits(t, h, o, page.HeapXmaxCommitted, xmax)
		return false
	}
	return snap.InProgress(xmax)
}
