package heapam

import (
	"errors"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/xact"
)

// SatisfiesDirty is HeapTupleSatisfiesDirty, what a uniqueness check sees:
// a committed or still-running insert counts as present, and only a
// committed delete removes the tuple (a running deleter may abort). When
// the answer depends on a transaction still in progress, wait names it
// (SnapshotDirty's xmin/xmax): the caller waits for it and checks again.
func SatisfiesDirty(t page.HeapTuple, o TxOracle, h HintTarget) (present bool, wait xact.XID) {
	mask := t.Infomask()
	xmin := xact.XID(t.Xmin())
	if mask&page.HeapXminCommitted == 0 {
		if mask&page.HeapXminInvalid != 0 {
			return false, xact.InvalidXID
		}
		switch {
		case o.IsCurrent(xmin):
			if mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask) {
				return true, xact.InvalidXID
			}
			return !o.IsCurrent(xact.XID(t.Xmax())), xact.InvalidXID
		case o.IsInProgress(xmin):
			return true, xmin
		case didCommit(o, xmin):
			setHintBits(t, h, o, page.HeapXminCommitted, xmin)
		default:
			setHintBits(t, h, o, page.HeapXminInvalid, xact.InvalidXID)
			return false, xact.InvalidXID
		}
	}
	mask = t.Infomask()
	if mask&page.HeapXmaxInvalid != 0 || page.XmaxIsLockedOnly(mask) {
		return true, xact.InvalidXID
	}
	if mask&page.HeapXmaxCommitted != 0 {
		return false, xact.InvalidXID
	}
	xmax := xact.XID(t.Xmax())
	switch {
	case o.IsCurrent(xmax):
		return false, xact.InvalidXID
	case o.IsInProgress(xmax):
		return true, xmax
	case !didCommit(o, xmax):
		setHintBits(t, h, o, page.HeapXmaxInvalid, xact.InvalidXID)
		return true, xact.InvalidXID
	}
	setHintBits(t, h, o, page.HeapXmaxCommitted, xmax)
	return false, xact.InvalidXID
}

// FetchDirty reports whether the tuple at tid is present under
// SnapshotDirty, and which running transaction to wait for if that is not
// yet decided. A TID whose line pointer is gone is not present.
func (r *Relation) FetchDirty(tx *Tx, tid TID) (present bool, wait xact.XID, err error) {
	buf, p, t, err := r.lockedTuple(tid, buffer.Share)
	if errors.Is(err, ErrNoTuple) {
		return false, xact.InvalidXID, nil
	}
	if err != nil {
		return false, xact.InvalidXID, err
	}
	defer r.cfg.Pool.UnlockReleaseBuffer(buf)
	present, wait = SatisfiesDirty(t, tx.Oracle, bufHint{r, buf, p})
	return present, wait, nil
}
