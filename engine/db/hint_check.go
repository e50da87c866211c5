package db

import (
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/xact"
)

// checkPageHints verifies, on a heap page read after recovery (by
// CheckTable, before anything has looked at the heap), that no commit
// hint claims a commit the clog does not hold: a HEAP_XMIN_COMMITTED or
// HEAP_XMAX_COMMITTED hint is a cache of TransactionIdDidCommit, and
// SetHintBits may set one only once the commit record is durable or the
// page cannot reach disk before it (XLogNeedsFlush on the commit LSN, the
// page LSN). A hint that survived a crash which lost its commit record
// makes a row of an aborted transaction visible, or hides a row its
// deleter never deleted. (amcheck's verify_heapam checks xids against
// the clog too.)
func (db *DB) checkPageHints(p []byte, rel smgr.RelFileNumber, blk smgr.BlockNumber) error {
	if page.IsNew(p) {
		return nil
	}
	for off := page.FirstOffset; off <= page.MaxOffset(p); off++ {
		if !page.GetItemID(p, off).IsNormal() {
			continue
		}
		t := page.HeapTuple(page.GetItem(p, off))
		mask := t.Infomask()
		hints := [...]struct {
			bit  uint16
			xid  uint64
			what string
		}{
			{page.HeapXminCommitted, t.Xmin(), "xmin"},
			{page.HeapXmaxCommitted, t.Xmax(), "xmax"},
		}
		for _, h := range hints {
			if mask&h.bit == 0 || !xact.XID(h.xid).IsNormal() {
				continue
			}
			if h.what == "xmin" && mask&page.HeapXminInvalid != 0 {
				continue // both bits: HEAP_XMIN_FROZEN
			}
			st, _, err := db.Clog.GetStatus(h.xid)
			if err != nil {
				return err
			}
			if st != clog.Committed {
				return pgerr.New(pgerr.DataCorrupted, "block %d of relation %d: tuple %d has a %s-committed hint bit, but transaction %d did not commit (clog status %v): a hint outlived its commit record",
					blk, rel, off, h.what, h.xid, st)
			}
		}
	}
	return nil
}
