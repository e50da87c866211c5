package heapam

import (
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/xact"
)

// Serializable is what a serializable transaction's heap reads tell the
// predicate lock manager (engine/predicate): the entry points of
// predicate.c that heapam.c calls.
type Serializable interface {
	// ConflictOut is CheckForSerializableConflictOut for a version
	// xid wrote (or deleted) that the reader's snapshot does not show
	// as it now is.
	ConflictOut(xid xact.XID) error
	// LockTID is PredicateLockTID on a version the reader sees.
	LockTID(rel uint32, tid TID, tupleXid xact.XID)
	// ConflictIn is CheckForSerializableConflictIn for a tuple about
	// to be deleted or updated (heap_delete, heap_update).
	ConflictIn(rel uint32, tid TID) error
	// Xmin is the reader's TransactionXmin: no xid before it is
	// concurrent.
	Xmin() xact.XID
}

// checkSerializable is the SSI side of reading tuple t at tid (visible
// or not): HeapCheckForSerializableConflictOut, then PredicateLockTID on a
// visible one, as heapam_fetch and heapgetpage do for a serializable
// transaction (tx.SSI set).
func (r *Relation) checkSerializable(tx *Tx, t page.HeapTuple, tid TID, visible bool) error {
	if xid := conflictOutXid(tx, t, visible, r.cfg.Bugs); xid != xact.InvalidXID {
		if err := tx.SSI.ConflictOut(xid); err != nil {
			return err
		}
	}
	if visible {
		tx.SSI.LockTID(uint32(r.cfg.Rel), tid, xact.XID(t.Xmin()))
	}
	return nil
}

// conflictOutXid is HeapCheckForSerializableConflictOut's choice of the
// transaction a read conflicts out to, from the tuple's state as
// HeapTupleSatisfiesVacuum would classify it:
//
//   - live (inserted, not deleted): none if visible, else its inserter;
//   - delete in progress or recently dead: the deleter if the version is
//     visible (the reader misses the delete), else the inserter (the
//     reader misses the insert);
//   - insert in progress: the inserter;
//   - dead (inserter aborted): none.
//
// An xid before the reader's TransactionXmin, or its own, is none.
func conflictOutXid(tx *Tx, t page.HeapTuple, visible bool, planted bugs.Set) xact.XID {
	o := tx.Oracle
	mask := t.Infomask()
	xmin := xact.XID(t.Xmin())
	if mask&page.HeapXminInvalid != 0 && mask&page.HeapXminCommitted == 0 {
		return xact.InvalidXID // dead
	}
	var xid xact.XID
	switch {
	case mask&page.HeapXminCommitted == 0 && !o.IsCurrent(xmin) && o.IsInProgress(xmin):
		xid = xmin // insert in progress
	case mask&page.HeapXminCommitted == 0 && !o.IsCurrent(xmin) && !didCommit(o, xmin):
		return xact.InvalidXID // the inserter aborted: dead
	case mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask):
		if visible {
			return xact.InvalidXID // live
		}
		xid = xmin
	default:
		xmax := xact.XID(t.Xmax())
		deleting := mask&page.HeapXmaxCommitted != 0 || o.IsCurrent(xmax) || o.IsInProgress(xmax) || didCommit(o, xmax)
		switch {
		case !deleting:
			// The deleter aborted: live.
			if visible {
				return xact.InvalidXID
			}
			xid = xmin
		case visible:
			xid = xmax
		default:
			// The inserter, not the deleter: PostgreSQL before 12.4
			// (and 11.9, ...) took the deleter here too, so a reader
			// that missed both a concurrent insert and a concurrent
			// update of it never conflicted out to the inserter --
			// the G2-item Jepsen's Elle found in 12.3, fixed by
			// commit 5940ffb221 ("Avoid update conflict out
			// serialization anomalies"). Planted bug
			// ssi-conflict-out-updater brings 12.3 back.
			xid = xmin
			if planted.Has(bugs.SSIConflictOutUpdater) {
				xid = xmax
			}
		}
	}
	if xid < tx.SSI.Xmin() || o.IsCurrent(xid) {
		return xact.InvalidXID
	}
	return xid
}
