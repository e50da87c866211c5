package heapam

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/xact"
)

// TxOracle is an Oracle that also knows which transactions are running
// right now. HeapTupleSatisfiesUpdate and HeapTupleSatisfiesVacuum ask the
// proc array (TransactionIdIsInProgress), not a snapshot: an updater must
// wait for a transaction that is running now, even one that started after
// its snapshot, and vacuum must never remove what a running transaction
// may still commit.
type TxOracle interface {
	Oracle
	// IsInProgress is TransactionIdIsInProgress. It is true for the
	// current transaction too, as in PostgreSQL; callers test IsCurrent
	// first. A transaction that was running when the system crashed is
	// not in progress after recovery (its clog status stays
	// InProgress, which didCommit reads as "did not commit").
	IsInProgress(xid xact.XID) bool
}

// TMResult is what an attempt to modify a tuple found (TM_Result in
// tableam.h).
type TMResult uint8

// The TMResult values, in tableam.h's order.
const (
	// TMOk (TM_Ok): the tuple may be updated, deleted or locked.
	TMOk TMResult = iota
	// TMInvisible (TM_Invisible): the tuple is not visible to the command
	// at all (inserted by a later command, or by a transaction that
	// aborted or is still running). Callers that found the tuple through
	// their snapshot never see this; it is an error for them.
	TMInvisible
	// TMSelfModified (TM_SelfModified): the current transaction already
	// updated or deleted the tuple, in this command or a later one.
	TMSelfModified
	// TMUpdated (TM_Updated): a committed transaction updated the tuple;
	// t_ctid names the newer version.
	TMUpdated
	// TMDeleted (TM_Deleted): a committed transaction deleted the tuple.
	TMDeleted
	// TMBeingModified (TM_BeingModified): a running transaction (or the
	// current one, as a locker) holds the tuple; the caller waits for
	// that xmax and tries again.
	TMBeingModified
)

func (r TMResult) String() string {
	switch r {
	case TMOk:
		return "TM_Ok"
	case TMInvisible:
		return "TM_Invisible"
	case TMSelfModified:
		return "TM_SelfModified"
	case TMUpdated:
		return "TM_Updated"
	case TMDeleted:
		return "TM_Deleted"
	case TMBeingModified:
		return "TM_BeingModified"
	}
	return fmt.Sprintf("TMResult(%d)", uint8(r))
}

// SatisfiesUpdate is HeapTupleSatisfiesUpdate: whether the command curcid
// of the current transaction may update, delete or lock the tuple version
// t, whose own TID is self (t_ctid equal to self means "deleted", another
// TID means "updated to there"). Like SatisfiesMVCC it sets hint bits when
// h is not nil, under the same durability rule (setHintBits).
//
// There are no multixacts in pgdst: xmax holds one updater or one locker,
// never a set of them. A second locker therefore waits for the first
// (TMBeingModified) even where PostgreSQL would let FOR SHARE lockers
// share the tuple; since the only row lock pgdst takes is FOR UPDATE
// (exclusive), no behaviour PostgreSQL would allow is lost for it. The
// HEAP_XMAX_IS_MULTI branches of PostgreSQL are left out, and a tuple that
// carries the bit is a corruption: it panics.
func SatisfiesUpdate(t page.HeapTuple, self page.ItemPointer, curcid uint32, o TxOracle, h HintTarget) TMResult {
	mask := t.Infomask()
	if mask&page.HeapXmaxIsMulti != 0 {
		panic(fmt.Sprintf("heapam: tuple %v has HEAP_XMAX_IS_MULTI, which pgdst never sets", self))
	}
	xmin := xact.XID(t.Xmin())
	if mask&page.HeapXminCommitted == 0 {
		switch {
		case mask&page.HeapXminInvalid != 0:
			return TMInvisible
		case o.IsCurrent(xmin):
			if cmin(t, o) >= curcid {
				return TMInvisible // inserted after the scan started
			}
			if mask&page.HeapXmaxInvalid != 0 {
				return TMOk
			}
			xmax := xact.XID(t.Xmax())
			if page.XmaxIsLockedOnly(mask) {
				// Our own insert, locked: by us (still held), or by a
				// locker that is gone.
				if o.IsCurrent(xmax) || o.IsInProgress(xmax) {
					return TMBeingModified
				}
				return TMOk
			}
			if !o.IsCurrent(xmax) {
				// The deleting subtransaction must have aborted.
				setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
				return TMOk
			}
			if cmax(t, o) >= curcid {
				return TMSelfModified // updated after the scan started
			}
			return TMInvisible // updated before the scan started
		case o.IsInProgress(xmin):
			return TMInvisible
		case didCommit(o, xmin):
			setHintBits(t, h, o, page.HeapXminCommitted, xmin)
		default:
			// It must have aborted or crashed.
			setHintBits(t, h, o, page.HeapXminInvalid, xact.InvalidXID)
			return TMInvisible
		}
	}

	// By here the inserting transaction has committed.
	mask = t.Infomask()
	if mask&page.HeapXmaxInvalid != 0 {
		return TMOk
	}
	if mask&page.HeapXmaxCommitted != 0 {
		if page.XmaxIsLockedOnly(mask) {
			return TMOk
		}
		return updatedOrDeleted(t, self)
	}
	xmax := xact.XID(t.Xmax())
	if o.IsCurrent(xmax) {
		if page.XmaxIsLockedOnly(mask) {
			return TMBeingModified
		}
		if cmax(t, o) >= curcid {
			return TMSelfModified // updated after the scan started
		}
		return TMInvisible // updated before the scan started
	}
	if o.IsInProgress(xmax) {
		return TMBeingModified
	}
	if !didCommit(o, xmax) {
		// It must have aborted or crashed.
		setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
		return TMOk
	}
	// The xmax transaction committed.
	if page.XmaxIsLockedOnly(mask) {
		setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
		return TMOk
	}
	setHintBits(t, h, o, page.HeapXmaxCommitted, xmax)
	return updatedOrDeleted(t, self)
}

// updatedOrDeleted tells an update from a delete by t_ctid, as
// HeapTupleSatisfiesUpdate does with ItemPointerEquals.
func updatedOrDeleted(t page.HeapTuple, self page.ItemPointer) TMResult {
	if t.Ctid() != self {
		return TMUpdated
	}
	return TMDeleted
}

// HTSVResult is HeapTupleSatisfiesVacuum's verdict on a tuple version
// (HTSV_Result in heapam.h).
type HTSVResult uint8

// The HTSVResult values, in heapam.h's order.
const (
	// HeapTupleDead (HEAPTUPLE_DEAD): no transaction can ever see it; it
	// can be removed.
	HeapTupleDead HTSVResult = iota
	// HeapTupleLive (HEAPTUPLE_LIVE): visible to everyone (or locked only).
	HeapTupleLive
	// HeapTupleRecentlyDead (HEAPTUPLE_RECENTLY_DEAD): deleted by a
	// committed transaction that some snapshot may not see yet.
	HeapTupleRecentlyDead
	// HeapTupleInsertInProgress (HEAPTUPLE_INSERT_IN_PROGRESS): the
	// inserter is still running.
	HeapTupleInsertInProgress
	// HeapTupleDeleteInProgress (HEAPTUPLE_DELETE_IN_PROGRESS): the
	// deleter is still running.
	HeapTupleDeleteInProgress
)

func (r HTSVResult) String() string {
	switch r {
	case HeapTupleDead:
		return "HEAPTUPLE_DEAD"
	case HeapTupleLive:
		return "HEAPTUPLE_LIVE"
	case HeapTupleRecentlyDead:
		return "HEAPTUPLE_RECENTLY_DEAD"
	case HeapTupleInsertInProgress:
		return "HEAPTUPLE_INSERT_IN_PROGRESS"
	case HeapTupleDeleteInProgress:
		return "HEAPTUPLE_DELETE_IN_PROGRESS"
	}
	return fmt.Sprintf("HTSVResult(%d)", uint8(r))
}

// SatisfiesVacuum is HeapTupleSatisfiesVacuum: what vacuum may do with t
// given oldestXmin, the oldest xmin of any snapshot that is or may come to
// be (GetOldestNonRemovableTransactionId). A deleter that committed at or
// after oldestXmin may still be invisible to some snapshot, so its tuple is
// only RECENTLY_DEAD. Hint bits follow setHintBits' rule. As in
// SatisfiesUpdate there are no multixacts.
func SatisfiesVacuum(t page.HeapTuple, oldestXmin xact.XID, o TxOracle, h HintTarget) HTSVResult {
	mask := t.Infomask()
	if mask&page.HeapXmaxIsMulti != 0 {
		panic("heapam: tuple has HEAP_XMAX_IS_MULTI, which pgdst never sets")
	}
	xmin := xact.XID(t.Xmin())
	if mask&page.HeapXminCommitted == 0 {
		switch {
		case mask&page.HeapXminInvalid != 0:
			return HeapTupleDead
		case o.IsCurrent(xmin):
			if mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask) {
				return HeapTupleInsertInProgress
			}
			if o.IsCurrent(xact.XID(t.Xmax())) {
				// Inserted and then deleted by the same transaction.
				return HeapTupleDeleteInProgress
			}
			// The deleting subtransaction must have aborted.
			return HeapTupleInsertInProgress
		case o.IsInProgress(xmin):
			// PostgreSQL could tell INSERT from DELETE in progress here by
			// xmax, but would rather have callers wait for xmin.
			return HeapTupleInsertInProgress
		case didCommit(o, xmin):
			setHintBits(t, h, o, page.HeapXminCommitted, xmin)
		default:
			// Aborted, or running when the system crashed.
			setHintBits(t, h, o, page.HeapXminInvalid, xact.InvalidXID)
			return HeapTupleDead
		}
	}

	// The inserting transaction committed: is the tuple deleted?
	mask = t.Infomask()
	if mask&page.HeapXmaxInvalid != 0 {
		return HeapTupleLive
	}
	xmax := xact.XID(t.Xmax())
	if page.XmaxIsLockedOnly(mask) {
		// A locker never deletes: the tuple is live either way, but once
		// the locker is gone the xmax is worth hinting invalid, to spare
		// later visitors the lookup.
		if mask&page.HeapXmaxCommitted == 0 {
			if o.IsInProgress(xmax) {
				return HeapTupleLive
			}
			setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
		}
		return HeapTupleLive
	}
	if mask&page.HeapXmaxCommitted == 0 {
		switch {
		case o.IsInProgress(xmax):
			return HeapTupleDeleteInProgress
		case didCommit(o, xmax):
			setHintBits(t, h, o, page.HeapXmaxCommitted, xmax)
		default:
			// Not running and not committed: aborted or crashed.
			setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
			return HeapTupleLive
		}
		// The xmax is known committed here even if the hint could not be
		// set yet.
	}
	if xmax >= oldestXmin {
		// Deleted, but recently enough that some snapshot may see it.
		if s, ok := h.(interface{ Sometimes(string) }); ok {
			s.Sometimes("vacuum-kept-recently-dead")
		}
		return HeapTupleRecentlyDead
	}
	return HeapTupleDead
}
