package simtest

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// CheckHintBeforeCommit judges every heap page write as it starts, as
// the WAL-before-data checker does, for the hint bits' share of the same
// rule: a commit hint (HEAP_XMIN_COMMITTED, HEAP_XMAX_COMMITTED) on a page
// that reaches the OS must be backed by a commit record already durable.
// SetHintBits (heapam_visibility.c) sets one only when XLogNeedsFlush says
// the commit record is flushed, or when the page's LSN already covers it
// so that FlushBuffer's XLogFlush will flush it first; otherwise the page
// could reach disk before the record, and a crash that loses the record
// (an asynchronous commit) leaves the row of an aborted transaction
// visible. After a crash that only shows if no full-page image after the
// REDO pointer rewrites the page (without data checksums, or when the
// hinted page was already dirty), and only if the crash falls in the
// window before the WAL writer or any later flush; here a violation is
// caught the moment the page is written, crash or no crash.
const CheckHintBeforeCommit = "hint-before-commit"

// Online checker event kinds of the hint-before-commit checker: the heap
// page writes judged, and of those the ones whose hints were read (while
// some transaction record was not yet durable; otherwise no hint can be
// ahead of the WAL and the page is not parsed).
const (
	countHeapPageWrites   = CheckHintBeforeCommit + ": heap page writes"
	countHintedPageWrites = CheckHintBeforeCommit + ": of those, read while a transaction record was not durable"
)

// hintBeforeCommitChecker keeps, per xid, the end of its transaction
// record (commit or abort) as the WAL inserted it, seen through the
// engine's WAL insert events: its own record's LSN, not the clog's group
// LSN, which a later asynchronous commit of the same group raises.
type hintBeforeCommitChecker struct {
	res      *Result
	instance func() *db.DB
	classOf  func(path string) env.FileClass
	xactEnd  map[uint64]uint64 // xid -> end of its commit or abort record
	// endMax is the largest of xactEnd's ends: while the WAL is durable
	// past it, no hint can be ahead of it.
	endMax uint64
}

func newHintBeforeCommitChecker(res *Result, node *world.Node, instance func() *db.DB) *hintBeforeCommitChecker {
	return &hintBeforeCommitChecker{res: res, instance: instance, classOf: node.FileClass, xactEnd: map[uint64]uint64{}}
}

// event records a transaction record's end. An xid whose record a crash
// lost can be assigned again after recovery: its new record replaces the
// old one's end.
func (c *hintBeforeCommitChecker) event(e *env.Event) {
	if e.Kind == env.EvWALInsert && e.Rmgr == xact.RMXact && e.Xid != 0 {
		c.xactEnd[e.Xid] = e.LSN2
		c.endMax = max(c.endMax, e.LSN2)
	}
}

// diskOp judges a write of whole heap pages while an instance has its WAL
// open for writing. During redo nothing is judged: redo sets no hint, and
// a page it writes carries the hints it read from disk, which CheckTable
// judges against the recovered clog.
func (c *hintBeforeCommitChecker) diskOp(op world.DiskOp) {
	if op.Kind != world.OpWrite || len(op.Data)%page.BlockSize != 0 || c.classOf(op.Path) != env.FileHeap {
		return
	}
	d := c.instance()
	if d == nil || d.WAL == nil {
		return
	}
	flushed := uint64(d.WAL.FlushedNoLock()) // no scheduling point: the run stays the one it was
	blocks := uint64(len(op.Data) / page.BlockSize)
	c.res.Online.judged(countHeapPageWrites, blocks)
	if c.endMax <= flushed {
		return
	}
	c.res.Online.judged(countHintedPageWrites, blocks)
	for off := 0; off < len(op.Data); off += page.BlockSize {
		p := op.Data[off : off+page.BlockSize]
		if !saneHeader(p) {
			continue // the page checks judge a page whose header is broken
		}
		upper, special := int(page.Upper(p)), int(page.SpecialOffset(p))
		for i := page.FirstOffset; i <= page.MaxOffset(p); i++ {
			id := page.GetItemID(p, i)
			if !id.IsNormal() || int(id.Off) < upper || int(id.Off)+int(id.Len) > special || id.Off%page.MaxAlign != 0 || int(id.Len) < page.HeapTupleDataOffset {
				continue // not a tuple this check can read (CheckPage's business)
			}
			t := page.HeapTuple(page.GetItem(p, i))
			mask := t.Infomask()
			if mask&page.HeapXminCommitted != 0 && mask&page.HeapXminInvalid == 0 { // not HEAP_XMIN_FROZEN
				c.judge(op, off, i, "xmin", t.Xmin(), flushed)
			}
			if mask&page.HeapXmaxCommitted != 0 {
				c.judge(op, off, i, "xmax", t.Xmax(), flushed)
			}
		}
	}
}

// saneHeader reports whether p's header pointers can be followed without
// tripping the page package's assertions: CheckPage's pointer checks
// without its line pointers' overlap test, which sorts and costs more than
// this checker may.
func saneHeader(p []byte) bool {
	if page.IsNew(p) || page.PageSizeVersion(p) != page.BlockSize|page.LayoutVersion {
		return false
	}
	lower, upper, special := int(page.Lower(p)), int(page.Upper(p)), int(page.SpecialOffset(p))
	return lower >= page.HeaderSize && lower <= upper && upper <= special && special <= page.BlockSize &&
		special%page.MaxAlign == 0 && (lower-page.HeaderSize)%page.ItemIDSize == 0
}

// judge fails the run if xid's transaction record ends past the durable
// WAL. An xid with no record seen committed before the run began (in
// initdb's image), synchronously: nothing to judge.
func (c *hintBeforeCommitChecker) judge(op world.DiskOp, off int, item page.OffsetNumber, what string, xid, flushed uint64) {
	end, ok := c.xactEnd[xid]
	if !ok || end <= flushed {
		return
	}
	blk := (op.Off + int64(off)) / page.BlockSize
	c.res.found(Finding{Checker: CheckHintBeforeCommit, Path: op.Path, FileBlock: uint32(blk), PageLSN: uint64(page.LSN(op.Data[off : off+page.BlockSize])), WALDurable: flushed,
		Tuple: int(item), Hint: what, Xid: xid, CommitLSN: end})
	c.res.fail(CheckHintBeforeCommit, "%s block %d written with a %s-committed hint on tuple %d for transaction %d, whose commit record ends at %X/%08X, but WAL is durable only to %X/%08X (SetHintBits must wait for XLogNeedsFlush)",
		op.Path, blk, what, item, xid, end>>32, uint32(end), flushed>>32, uint32(flushed))
}
