package heapam

import (
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// This file is heapam.c: insert, delete, update, row locking, fetch,
// sequential scan and page pruning over the buffer pool, each change
// WAL-logged before its buffer lock is released.
//
// Deviations from PostgreSQL, each deliberate (and repeated where they
// matter):
//   - No HOT: every update puts a new version where heap_update would put a
//     non-HOT one, and indexes need a new entry for it.
//   - No free space map: a tuple goes to the relation's last page (or the
//     page the last insert used), else to a new page (RelationGetBufferForTuple
//     without the FSM).
//   - No multixacts, no FOR SHARE / FOR KEY SHARE: xmax holds one updater or
//     one FOR UPDATE locker.
//   - No heavyweight tuple lock (LockTuple) ahead of XactLockTableWait:
//     waiters for one row are not queued fairly.
//   - Every update sets HEAP_KEYS_UPDATED, since pgdst does not know which
//     columns are keys.
//   - Hint bits dirty the buffer as PostgreSQL's do (MarkBufferDirtyHint,
//     hint_dirty.go): with data checksums the first hint after a
//     checkpoint logs a full-page image (XLogSaveBufferForHint) and a torn
//     hint-only write is repaired by redo; without them no hint is
//     WAL-logged (XLogHintBitIsNeeded). A commit hint is never set while
//     its commit record may still be lost (SetHintBits' XLogNeedsFlush).
//   - pd_lsn is read and written as the buffer pool reads it (a
//     little-endian uint64, buffer.PageGetLSN), not as page.LSN does (two
//     32-bit halves): the pool's WAL-before-data rule flushes to what it
//     reads, so the two must agree, and the pool is the one that acts on it.

// TID is a heap tuple's address (ItemPointerData).
type TID = page.ItemPointer

// WAL is what the heap needs of the write-ahead log. *wal.WAL implements it.
type WAL interface {
	// InsertWith is XLogInsert with the page stamping done under the
	// insert lock (see wal.WAL.InsertWith).
	InsertWith(build func() *wal.Record, placed func(start, end wal.LSN)) (start, end wal.LSN)
	// NeedsFlush is XLogNeedsFlush, for hint bits.
	NeedsFlush(lsn wal.LSN) bool
	// WithInsertLock runs fn under the WAL insert lock, so that no
	// checkpoint can take its REDO pointer meanwhile (hint_dirty.go).
	WithInsertLock(fn func(next wal.LSN))
}

// Config describes one heap relation.
type Config struct {
	Rel  smgr.RelFileNumber
	Pool *buffer.Pool
	SMgr *smgr.SMgr
	WAL  WAL
	// NeedsFPI reports whether a page whose LSN is pageLSN needs a
	// full-page image in the record about to change it: pageLSN <= the
	// REDO pointer of the last checkpoint (XLogRecordAssemble's
	// doPageWrites test). It is called inside WAL.InsertWith's build,
	// under the WAL insert lock, so that no checkpoint can move the REDO
	// pointer between the decision and the insertion; it must not take
	// that lock itself.
	NeedsFPI func(pageLSN wal.LSN) bool
	// HintBitsDirty makes a hint bit dirty its buffer (MarkBufferDirtyHint,
	// hint_dirty.go); when false the hint only changes the shared page.
	HintBitsDirty bool
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
}

// Stats counts a relation's activity.
type Stats struct {
	Inserts, Deletes, Updates, Locks uint64
	Pruned                           uint64 // tuples pruned to LP_DEAD
	Vacuumed                         uint64 // LP_DEAD pointers set unused
	Extends                          uint64
	FPIs                             uint64 // full-page images logged
	Hints                            uint64 // hint bits set (MarkBufferDirtyHint calls)
}

// Relation is an open heap relation (RelationData, as far as the heap
// needs one). It is shared by every process using the relation.
type Relation struct {
	e   *env.Env
	cfg Config

	mu     env.Mutex // guards target and stats
	target smgr.BlockNumber
	stats  Stats
	// tuple is scratch for putTuple's encoded tuple, which the page copies
	// at once (nothing yields in between).
	tuple []byte
}

// Tx is the transaction context of one heap operation: the current
// transaction's xid and command id, and what visibility needs to know.
type Tx struct {
	Xid    xact.XID
	Cid    uint32
	Oracle TxOracle
	// Combo, when not nil, gives a combo command id for a tuple that the
	// current transaction inserted at cmin and now deletes or updates at
	// cmax (GetComboCommandId); Oracle.Combo must resolve it. When nil,
	// t_cid takes cmax alone, and scans of the same transaction at a
	// command between cmin and cmax see the tuple too early: acceptable
	// only for callers that never scan with an older command id.
	Combo func(cmin, cmax uint32) uint32
	// Wait, when not nil, blocks until xid has ended (XactLockTableWait,
	// through lmgr); it may fail (deadlock_detected). Delete, Update and
	// LockTuple with wait set use it and retry; otherwise they return
	// TMBeingModified for the caller to wait and retry.
	Wait func(xid xact.XID) error
	// SSI, when not nil, is the reader's serializable transaction: reads
	// check for conflicts out and take SIREAD locks (predicate.go).
	SSI Serializable
}

// TMFailure is what a modification that did not happen found
// (TM_FailureData): the newer version's TID (for TMUpdated; the tuple's
// own for TMDeleted) and the xmax to wait for or that updated it, and for
// TMSelfModified the cmax.
type TMFailure struct {
	Ctid TID
	Xmax xact.XID
	Cmax uint32
}

// maxAttempts bounds the retry loops of Delete, Update, LockTuple and
// the page search of Insert: each retry follows a concurrent change, and
// a bounded number of those is all a process should chase.
const maxAttempts = 1000

// Open returns the relation described by cfg. It does no I/O; the
// relation's main fork must exist (smgr.Create).
func Open(e *env.Env, cfg Config) (*Relation, error) {
	if cfg.Pool == nil || cfg.SMgr == nil || cfg.WAL == nil || cfg.NeedsFPI == nil {
		return nil, errors.New("heapam: Config needs Pool, SMgr, WAL and NeedsFPI")
	}
	return &Relation{
		e:      e,
		cfg:    cfg,
		mu:     e.Sched.NewMutex(fmt.Sprintf("heap %d", cfg.Rel)),
		target: smgr.InvalidBlockNumber,
	}, nil
}

// Rel is the relation's file number.
func (r *Relation) Rel() smgr.RelFileNumber { return r.cfg.Rel }

// Stats returns the counters.
func (r *Relation) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Relation) count(f func(s *Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// NBlocks is the relation's size in blocks (RelationGetNumberOfBlocks).
func (r *Relation) NBlocks() (smgr.BlockNumber, error) {
	return r.cfg.SMgr.NBlocks(r.cfg.Rel, smgr.MainForkNum)
}

// pageLSN and setPageLSN read and write pd_lsn the way the buffer pool
// does; see the file comment.
func pageLSN(p []byte) wal.LSN       { return buffer.PageGetLSN(p) }
func setPageLSN(p []byte, l wal.LSN) { buffer.PageSetLSN(p, l) }

// bufHint is the HintTarget of a locked buffer.
type bufHint struct {
	r   *Relation
	buf buffer.Buffer
	p   []byte
}

func (h bufHint) NeedsFlush(lsn wal.LSN) bool { return h.r.cfg.WAL.NeedsFlush(lsn) }
func (h bufHint) PageLSN() wal.LSN            { return pageLSN(h.p) }

// Sometimes records a sometimes condition met while judging a tuple in
// the buffer (SatisfiesVacuum's RECENTLY_DEAD).
func (h bufHint) Sometimes(name string) { h.r.e.Sometimes(name) }

// MarkDirtyHint counts the hint and dirties the buffer the way
// MarkBufferDirtyHint does (hint_dirty.go).
func (h bufHint) MarkDirtyHint() {
	h.r.count(func(s *Stats) { s.Hints++ })
	h.r.e.Sometimes("hint-bit-set")
	h.r.markDirtyHint(h.buf, h.p)
}

// ---------------------------------------------------------------------
// Finding room: RelationGetBufferForTuple without the free space map.

// getBufferForTuple returns a pinned, exclusively locked buffer whose
// page has room for a tuple of size bytes, and its block number. It tries
// the block the last insert used (rd_targblock), else the last block,
// else extends the relation; avoid (a block the caller holds unlocked, or
// InvalidBlockNumber) is never returned, so that an update that did not
// fit its old page cannot pick it again.
func (r *Relation) getBufferForTuple(size int, avoid smgr.BlockNumber) (buffer.Buffer, smgr.BlockNumber, error) {
	need := (size + page.MaxAlign - 1) &^ (page.MaxAlign - 1)
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if target == smgr.InvalidBlockNumber {
		n, err := r.NBlocks()
		if err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		if n > 0 {
			target = n - 1
		}
	}
	if target != smgr.InvalidBlockNumber && target != avoid {
		buf, err := r.cfg.Pool.ReadBuffer(r.cfg.Rel, smgr.MainForkNum, target)
		if err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		r.cfg.Pool.LockBuffer(buf, buffer.Exclusive)
		p := r.cfg.Pool.BufferGetPage(buf)
		if page.IsNew(p) {
			// Extended but never initialised (its extender crashed, or
			// has not locked it yet): PostgreSQL initialises it here too,
			// and marks it dirty at once (RelationGetBufferForTuple), for a
			// caller may give the page up unused (heap_update's re-check).
			page.Init(p, 0)
			r.cfg.Pool.MarkBufferDirty(buf)
		}
		if page.HeapFreeSpace(p) >= need {
			return buf, target, nil
		}
		r.cfg.Pool.UnlockReleaseBuffer(buf)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		buf, blk, err := r.cfg.Pool.ExtendBuffer(r.cfg.Rel, smgr.MainForkNum)
		if err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		r.count(func(s *Stats) { s.Extends++ })
		r.cfg.Pool.LockBuffer(buf, buffer.Exclusive)
		p := r.cfg.Pool.BufferGetPage(buf)
		if page.IsNew(p) {
			page.Init(p, 0)
			r.cfg.Pool.MarkBufferDirty(buf)
		}
		// Another inserter may have found the new block as the last one
		// and filled it before we locked it.
		if page.HeapFreeSpace(p) >= need && blk != avoid {
			r.mu.Lock()
			r.target = blk
			r.mu.Unlock()
			return buf, blk, nil
		}
		r.cfg.Pool.UnlockReleaseBuffer(buf)
	}
	return buffer.InvalidBuffer, 0, fmt.Errorf("heapam: no room for a tuple of %d bytes after %d extensions", size, maxAttempts)
}

// ---------------------------------------------------------------------
// WAL logging.

// blockChange is one block a record changes (XLogRegisterBuffer).
type blockChange struct {
	id       uint8
	buf      buffer.Buffer // pinned and exclusively locked
	blk      smgr.BlockNumber
	p        []byte
	data     []byte // block data, dropped when a full-page image is taken
	willInit bool
}

// log ends the critical section of a change already made to the pages of
// blocks, all of them exclusively locked, in the order of the transam
// README's "Write-Ahead Log Coding" (heap_insert's): MarkBufferDirty,
// XLogInsert, PageSetLSN. The buffers must be dirty before the record
// exists (the README's step 4, see SyncOneBuffer): a checkpoint that takes
// its REDO pointer after the record must find them dirty when it scans the
// pool, or it skips them, completes, and recovery from its REDO never
// replays a change that is not on disk.
func (r *Relation) log(xid xact.XID, rmid, info uint8, blocks []blockChange, main []byte) wal.LSN {
	// Planted bug dirty-after-wal-insert: the buffers are marked dirty
	// after the record is inserted.
	late := r.cfg.Bugs.Has(bugs.DirtyAfterWALInsert)
	if !late {
		r.markDirty(blocks)
	}
	fpis := 0
	_, end := r.cfg.WAL.InsertWith(func() *wal.Record {
		fpis = 0
		body := wal.Body{Main: main}
		for _, b := range blocks {
			ref := wal.BlockRef{
				ID: b.id, Rel: uint32(r.cfg.Rel), Fork: uint8(smgr.MainForkNum), Block: uint32(b.blk),
				WillInit: b.willInit, Data: b.data,
			}
			if !b.willInit && r.cfg.NeedsFPI(pageLSN(b.p)) {
				ref.Image, ref.HoleOffset, ref.HoleLength = fullPageImage(b.p)
				ref.Data = nil
				fpis++
			}
			body.Blocks = append(body.Blocks, ref)
		}
		return &wal.Record{Xid: uint64(xid), Rmid: rmid, Info: info, Payload: body.Encode(nil)}
	}, func(_, end wal.LSN) {
		for _, b := range blocks {
			setPageLSN(b.p, end)
		}
	})
	// The record is in the WAL buffers, the pages still locked: a process
	// may be preempted here, and a checkpoint may take its REDO pointer
	// past the record meanwhile.
	r.e.Inject("page-after-xloginsert")
	if late {
		r.markDirty(blocks)
	}
	if fpis > 0 {
		r.count(func(s *Stats) { s.FPIs += uint64(fpis) })
	}
	return end
}

// markDirty is MarkBufferDirty on each block's buffer.
func (r *Relation) markDirty(blocks []blockChange) {
	for _, b := range blocks {
		r.cfg.Pool.MarkBufferDirty(b.buf)
	}
}

// fullPageImage copies a standard page for a full-page image, with its
// hole (the free space between pd_lower and pd_upper) zeroed so that it
// need not be stored (XLogRecordAssemble's hole compression). Redo
// restores the hole as zeros, which is all free space ever needs to be.
func fullPageImage(p []byte) (img []byte, holeOff, holeLen uint16) {
	img = append(make([]byte, 0, page.BlockSize), p...)
	lower, upper := page.Lower(p), page.Upper(p)
	if lower < page.HeaderSize || upper > page.BlockSize || lower > upper {
		return img, 0, 0
	}
	clear(img[lower:upper])
	return img, lower, upper - lower
}

// zeroHole clears a page's free space. Pruning does it on the primary and
// in redo, so that the page it leaves is the same in both (PostgreSQL's
// compactify_tuples leaves stale bytes there instead).
func zeroHole(p []byte) {
	clear(p[page.Lower(p):page.Upper(p)])
}

// ---------------------------------------------------------------------
// Reading a tuple by TID.

// lockedTuple reads tid's buffer, locks it in mode and returns the tuple,
// or an error if tid does not name a normal line pointer.
func (r *Relation) lockedTuple(tid TID, mode buffer.LockMode) (buffer.Buffer, []byte, page.HeapTuple, error) {
	buf, err := r.cfg.Pool.ReadBuffer(r.cfg.Rel, smgr.MainForkNum, smgr.BlockNumber(tid.Block))
	if err != nil {
		return buffer.InvalidBuffer, nil, nil, err
	}
	r.cfg.Pool.LockBuffer(buf, mode)
	p := r.cfg.Pool.BufferGetPage(buf)
	if tid.Offset < page.FirstOffset || tid.Offset > page.MaxOffset(p) || !page.GetItemID(p, tid.Offset).IsNormal() {
		r.cfg.Pool.UnlockReleaseBuffer(buf)
		return buffer.InvalidBuffer, nil, nil, errNoTuple(tid)
	}
	t, err := page.AsHeapTuple(page.GetItem(p, tid.Offset))
	if err != nil {
		r.cfg.Pool.UnlockReleaseBuffer(buf)
		return buffer.InvalidBuffer, nil, nil, pgerr.New(pgerr.DataCorrupted, "tuple %v: %v", tid, err)
	}
	return buf, p, t, nil
}

// ErrNoTuple is returned for a TID that names no tuple (an unused, dead
// or out-of-range line pointer).
var ErrNoTuple = errors.New("heapam: no tuple at TID")

func errNoTuple(tid TID) error { return fmt.Errorf("%w %v", ErrNoTuple, tid) }

// Fetch is heap_fetch: the tuple at tid, if it is visible to snap for
// command tx.Cid. A TID whose line pointer is gone (pruned) is simply
// not visible. The data is a copy.
func (r *Relation) Fetch(tx *Tx, tid TID, snap *xact.Snapshot) ([]byte, bool, error) {
	buf, p, t, err := r.lockedTuple(tid, buffer.Share)
	if errors.Is(err, ErrNoTuple) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer r.cfg.Pool.UnlockReleaseBuffer(buf)
	visible := SatisfiesMVCC(t, snap, tx.Cid, tx.Oracle, bufHint{r, buf, p})
	if tx.SSI != nil {
		if err := r.checkSerializable(tx, t, tid, visible); err != nil {
			return nil, false, err
		}
	}
	if !visible {
		return nil, false, nil
	}
	return append([]byte(nil), t.Data()...), true, nil
}

// Scan is a sequential scan (heap_getnext in page-at-a-time mode, as
// heapgetpage does): fn is called with a copy of each tuple visible to
// snap, block by block, in TID order, until it returns false. The blocks
// scanned are those the relation had when the scan started, so the loop
// is bounded; fn runs without any buffer lock held.
func (r *Relation) Scan(tx *Tx, snap *xact.Snapshot, fn func(tid TID, data []byte) bool) error {
	nblocks, err := r.NBlocks()
	if err != nil {
		return err
	}
	type item struct {
		tid  TID
		data []byte
	}
	var visible []item
	for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
		buf, err := r.cfg.Pool.ReadBuffer(r.cfg.Rel, smgr.MainForkNum, blk)
		if err != nil {
			return err
		}
		r.cfg.Pool.LockBuffer(buf, buffer.Share)
		p := r.cfg.Pool.BufferGetPage(buf)
		visible = visible[:0]
		if !page.IsNew(p) {
			h := bufHint{r, buf, p}
			for off := page.FirstOffset; off <= page.MaxOffset(p); off++ {
				if !page.GetItemID(p, off).IsNormal() {
					continue
				}
				t := page.HeapTuple(page.GetItem(p, off))
				seen := SatisfiesMVCC(t, snap, tx.Cid, tx.Oracle, h)
				if tx.SSI != nil {
					// heapgetpage's HeapCheckForSerializableConflictOut;
					// the scan's relation lock covers the tuples.
					if xid := conflictOutXid(tx, t, seen, r.cfg.Bugs); xid != xact.InvalidXID {
						if err := tx.SSI.ConflictOut(xid); err != nil {
							r.cfg.Pool.UnlockReleaseBuffer(buf)
							return err
						}
					}
				}
				if seen {
					visible = append(visible, item{TID{Block: uint32(blk), Offset: off}, append([]byte(nil), t.Data()...)})
				} else if tx.Xid.IsNormal() && xact.XID(t.Xmin()) == tx.Xid && cmin(t, tx.Oracle) >= tx.Cid {
					// A version the scanning command wrote itself, on a
					// page it reached after writing it (the Halloween
					// problem).
					r.e.Sometimes("scan-skipped-own-write")
				}
			}
		}
		r.cfg.Pool.UnlockReleaseBuffer(buf)
		for _, it := range visible {
			if !fn(it.tid, it.data) {
				return nil
			}
		}
	}
	return nil
}

// ---------------------------------------------------------------------
// Insert.

// Insert is heap_insert: it stores data as a new tuple version inserted by
// tx (xmin = tx.Xid, cmin = tx.Cid, xmax invalid), logs XLOG_HEAP_INSERT
// and returns the new TID.
func (r *Relation) Insert(tx *Tx, data []byte) (TID, error) {
	if !tx.Xid.IsNormal() {
		panic(fmt.Sprintf("heapam: insert by xid %d", tx.Xid))
	}
	size := page.HeapTupleSize(len(data))
	if size > page.MaxHeapTupleSize {
		return TID{}, pgerr.New(pgerr.ProgramLimitExceeded, "row is too big: size %d, maximum size %d", size, page.MaxHeapTupleSize)
	}
	buf, blk, err := r.getBufferForTuple(size, smgr.InvalidBlockNumber)
	if err != nil {
		return TID{}, err
	}
	defer r.cfg.Pool.UnlockReleaseBuffer(buf)
	p := r.cfg.Pool.BufferGetPage(buf)

	// START_CRIT_SECTION: nothing from here to the WAL insert may fail.
	hdr := page.HeapTupleHeader{Xmin: uint64(tx.Xid), Cid: tx.Cid, Infomask: page.HeapXmaxInvalid}
	tid, init := r.putTuple(p, blk, hdr, data)
	info := XLogHeapInsert
	if init {
		info |= XLogHeapInitPage
	}
	r.log(tx.Xid, RMHeap, info,
		[]blockChange{{id: 0, buf: buf, blk: blk, p: p, data: tupleData(hdr, data), willInit: init}},
		XLHeapInsert{Offnum: tid.Offset}.encode())
	r.count(func(s *Stats) { s.Inserts++ })
	return tid, nil
}

// putTuple is RelationPutHeapTuple: it adds the tuple to a page with room
// for it, sets t_ctid to its own TID and reports whether it is the only
// tuple on the page (XLOG_HEAP_INIT_PAGE). A page that has no line pointer
// at all is initialised afresh first, so that the page redo rebuilds from
// nothing is the very page built here.
func (r *Relation) putTuple(p []byte, blk smgr.BlockNumber, hdr page.HeapTupleHeader, data []byte) (TID, bool) {
	if page.MaxOffset(p) == 0 {
		page.Init(p, 0)
	}
	r.tuple = page.AppendHeapTuple(r.tuple[:0], hdr, data)
	off, err := page.AddItemExtended(p, r.tuple, page.InvalidOffset, page.AddIsHeap)
	if err != nil {
		r.e.Panicf("failed to add tuple to page %d of relation %d: %v", blk, r.cfg.Rel, err)
	}
	tid := TID{Block: uint32(blk), Offset: off}
	page.HeapTuple(page.GetItem(p, off)).SetCtid(tid)
	return tid, off == page.FirstOffset && page.MaxOffset(p) == page.FirstOffset
}

// tupleData is the block data of an inserted tuple: xl_heap_header and
// the user data.
func tupleData(hdr page.HeapTupleHeader, data []byte) []byte {
	return appendTupleData(nil, XLHeapHeader{
		Infomask2: hdr.Infomask2, Infomask: hdr.Infomask, Hoff: page.HeapTupleDataOffset, Cid: hdr.Cid,
	}, data)
}

// ---------------------------------------------------------------------
// The checks that delete, update and lock share.

// checkModify runs HeapTupleSatisfiesUpdate on the locked tuple t and
// turns its answer into the caller's: the current transaction's own row
// lock does not stop it (heap_delete and heap_update proceed over a
// lock they hold), and a TMOk tuple that snap (the crosscheck snapshot,
// may be nil) cannot see counts as TMUpdated, as heap_delete's crosscheck
// does.
func (r *Relation) checkModify(tx *Tx, buf buffer.Buffer, p []byte, t page.HeapTuple, tid TID, snap *xact.Snapshot) (TMResult, TMFailure) {
	h := bufHint{r, buf, p}
	res := SatisfiesUpdate(t, tid, tx.Cid, tx.Oracle, h)
	mask := t.Infomask()
	if res == TMBeingModified && page.XmaxIsLockedOnly(mask) && tx.Oracle.IsCurrent(xact.XID(t.Xmax())) {
		res = TMOk
	}
	if res == TMOk && snap != nil && !satisfiesMVCC(t, snap, tx.Cid, tx.Oracle, h, false) {
		res = TMUpdated
	}
	if res == TMOk {
		return TMOk, TMFailure{}
	}
	fd := TMFailure{Ctid: t.Ctid(), Xmax: xact.XID(t.Xmax())}
	if res == TMSelfModified {
		fd.Cmax = cmax(t, tx.Oracle)
	}
	if res == TMInvisible {
		fd = TMFailure{}
	}
	return res, fd
}

// waitFor handles TMBeingModified: with wait and tx.Wait it waits for the
// xmax and reports that the caller should look again; otherwise the
// caller returns TMBeingModified.
func waitFor(tx *Tx, wait bool, xmax xact.XID) (retry bool, err error) {
	if !wait || tx.Wait == nil {
		return false, nil
	}
	if err := tx.Wait(xmax); err != nil {
		return false, err
	}
	return true, nil
}

// setCmax is HeapTupleHeaderAdjustCmax + HeapTupleHeaderSetCmax: t_cid
// becomes the command id that deletes or updates t, combined with its
// cmin when the current transaction also inserted it.
func setCmax(tx *Tx, t page.HeapTuple) {
	cid, combo := tx.Cid, false
	if tx.Combo != nil && t.Infomask()&page.HeapXminCommitted == 0 && tx.Oracle.IsCurrent(xact.XID(t.Xmin())) {
		cid, combo = tx.Combo(cmin(t, tx.Oracle), tx.Cid), true
	}
	t.SetCid(cid)
	if combo {
		t.SetInfomask(page.HeapComboCID)
	} else {
		t.ClearInfomask(page.HeapComboCID)
	}
}

// flagComboCID in the flags of xl_heap_delete and xl_heap_update says the
// old version's t_cid is a combo command id (pgdst's addition: PostgreSQL
// redo resets t_cid and the bit).
const flagComboCID uint8 = 0x80

// ---------------------------------------------------------------------
// Delete.

// Delete is heap_delete: it marks the tuple at tid deleted by tx. A result
// other than TMOk changes nothing; fd then says what was found. With
// TMBeingModified (only when wait is false or tx.Wait is nil) the caller
// waits for fd.Xmax and retries. snap is the crosscheck snapshot (nil for
// none).
func (r *Relation) Delete(tx *Tx, tid TID, snap *xact.Snapshot, wait bool) (TMResult, TMFailure, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		buf, p, t, err := r.lockedTuple(tid, buffer.Exclusive)
		if err != nil {
			return TMInvisible, TMFailure{}, err
		}
		res, fd := r.checkModify(tx, buf, p, t, tid, snap)
		if res != TMOk {
			r.cfg.Pool.UnlockReleaseBuffer(buf)
			if res == TMBeingModified {
				retry, err := waitFor(tx, wait, fd.Xmax)
				if err != nil {
					return res, fd, err
				}
				if retry {
					continue
				}
			}
			return res, fd, nil
		}
		if tx.SSI != nil {
			// heap_delete's CheckForSerializableConflictIn, before
			// the delete, with the page locked.
			if err := tx.SSI.ConflictIn(uint32(r.cfg.Rel), tid); err != nil {
				r.cfg.Pool.UnlockReleaseBuffer(buf)
				return TMOk, TMFailure{}, err
			}
		}

		// START_CRIT_SECTION.
		page.SetPrunable(p, uint64(tx.Xid))
		t.ClearInfomask(page.HeapXmaxBits | page.HeapMoved)
		t.ClearInfomask2(page.HeapKeysUpdated)
		t.SetInfomask2(page.HeapKeysUpdated)
		t.SetXmax(uint64(tx.Xid))
		setCmax(tx, t)
		t.SetCtid(tid)
		x := XLHeapDelete{
			Xmax: uint64(tx.Xid), Offnum: tid.Offset,
			Infobits: computeInfobits(t.Infomask(), t.Infomask2()), Cid: t.Cid(),
		}
		if t.Infomask()&page.HeapComboCID != 0 {
			x.Flags |= flagComboCID
		}
		r.log(tx.Xid, RMHeap, XLogHeapDelete, []blockChange{{id: 0, buf: buf, blk: smgr.BlockNumber(tid.Block), p: p}}, x.encode())
		r.cfg.Pool.UnlockReleaseBuffer(buf)
		r.count(func(s *Stats) { s.Deletes++ })
		return TMOk, TMFailure{}, nil
	}
	return TMBeingModified, TMFailure{}, fmt.Errorf("heapam: delete of %v gave up after %d attempts", tid, maxAttempts)
}

// ---------------------------------------------------------------------
// Update.

// Update is heap_update without HOT: it inserts newData as the tuple's new
// version (on the old version's page if it fits, else on another page),
// marks the old version updated by tx with t_ctid pointing to the new one,
// and logs XLOG_HEAP_UPDATE. Results are as for Delete; on TMOk the new
// version's TID is returned.
func (r *Relation) Update(tx *Tx, tid TID, newData []byte, snap *xact.Snapshot, wait bool) (TID, TMResult, TMFailure, error) {
	if !tx.Xid.IsNormal() {
		panic(fmt.Sprintf("heapam: update by xid %d", tx.Xid))
	}
	size := page.HeapTupleSize(len(newData))
	if size > page.MaxHeapTupleSize {
		return TID{}, TMOk, TMFailure{}, pgerr.New(pgerr.ProgramLimitExceeded, "row is too big: size %d, maximum size %d", size, page.MaxHeapTupleSize)
	}
	need := (size + page.MaxAlign - 1) &^ (page.MaxAlign - 1)
	oldBlk := smgr.BlockNumber(tid.Block)
	pool := r.cfg.Pool
	movedBefore := false // an attempt let go of the old page to find room
	for attempt := 0; attempt < maxAttempts; attempt++ {
		buf, p, t, err := r.lockedTuple(tid, buffer.Exclusive)
		if err != nil {
			return TID{}, TMInvisible, TMFailure{}, err
		}
		res, fd := r.checkModify(tx, buf, p, t, tid, snap)
		if res != TMOk && movedBefore {
			// Changed while this update looked for room on another page.
			r.e.Sometimes("heap-update-recheck-failed")
		}
		if res != TMOk {
			pool.UnlockReleaseBuffer(buf)
			if res == TMBeingModified {
				retry, err := waitFor(tx, wait, fd.Xmax)
				if err != nil {
					return TID{}, res, fd, err
				}
				if retry {
					continue
				}
			}
			return TID{}, res, fd, nil
		}

		newBuf, newBlk, newP := buf, oldBlk, p
		if page.HeapFreeSpace(p) < need {
			// The new version goes elsewhere. PostgreSQL marks the old
			// version locked before it lets go of the page; pgdst lets go,
			// finds a page, locks both in block order and checks again.
			pool.UnlockBuffer(buf)
			r.e.Sometimes("heap-update-new-page")
			nb, blk, err := r.getBufferForTuple(size, oldBlk)
			if err != nil {
				pool.ReleaseBuffer(buf)
				return TID{}, TMOk, TMFailure{}, err
			}
			pool.UnlockBuffer(nb)
			if blk < oldBlk {
				pool.LockBuffer(nb, buffer.Exclusive)
				pool.LockBuffer(buf, buffer.Exclusive)
			} else {
				pool.LockBuffer(buf, buffer.Exclusive)
				pool.LockBuffer(nb, buffer.Exclusive)
			}
			newBuf, newBlk, newP = nb, blk, pool.BufferGetPage(nb)
			release := func() {
				pool.UnlockReleaseBuffer(nb)
				pool.UnlockReleaseBuffer(buf)
			}
			// The old tuple may have been pruned or changed, and the new
			// page filled, while neither was locked.
			if tid.Offset > page.MaxOffset(p) || !page.GetItemID(p, tid.Offset).IsNormal() {
				release()
				return TID{}, TMInvisible, TMFailure{}, errNoTuple(tid)
			}
			t = page.HeapTuple(page.GetItem(p, tid.Offset))
			if res, _ := r.checkModify(tx, buf, p, t, tid, snap); res != TMOk || page.HeapFreeSpace(newP) < need {
				release()
				movedBefore = true
				continue
			}
		}
		if tx.SSI != nil {
			// heap_update's CheckForSerializableConflictIn, before
			// the update, with the page locked.
			if err := tx.SSI.ConflictIn(uint32(r.cfg.Rel), tid); err != nil {
				if newBuf != buf {
					pool.UnlockReleaseBuffer(newBuf)
				}
				pool.UnlockReleaseBuffer(buf)
				return TID{}, TMOk, TMFailure{}, err
			}
		}

		// START_CRIT_SECTION.
		page.SetPrunable(p, uint64(tx.Xid))
		newHdr := page.HeapTupleHeader{
			Xmin: uint64(tx.Xid), Cid: tx.Cid,
			Infomask: page.HeapXmaxInvalid | page.HeapUpdated,
		}
		newTID, init := r.putTuple(newP, newBlk, newHdr, newData)
		t.ClearInfomask(page.HeapXmaxBits | page.HeapMoved)
		t.ClearInfomask2(page.HeapKeysUpdated)
		t.SetInfomask2(page.HeapKeysUpdated)
		t.SetXmax(uint64(tx.Xid))
		setCmax(tx, t)
		t.SetCtid(newTID)
		x := XLHeapUpdate{
			OldXmax: uint64(tx.Xid), OldOffnum: tid.Offset,
			OldInfobits: computeInfobits(t.Infomask(), t.Infomask2()),
			NewOffnum:   newTID.Offset, OldCid: t.Cid(),
		}
		if t.Infomask()&page.HeapComboCID != 0 {
			x.Flags |= flagComboCID
		}
		info := XLogHeapUpdate
		if init {
			info |= XLogHeapInitPage
		}
		blocks := []blockChange{{id: 0, buf: newBuf, blk: newBlk, p: newP, data: tupleData(newHdr, newData), willInit: init}}
		if newBuf != buf {
			blocks = append(blocks, blockChange{id: 1, buf: buf, blk: oldBlk, p: p})
		}
		r.log(tx.Xid, RMHeap, info, blocks, x.encode())
		if newBuf != buf {
			pool.UnlockReleaseBuffer(newBuf)
		}
		pool.UnlockReleaseBuffer(buf)
		r.count(func(s *Stats) { s.Updates++ })
		return newTID, TMOk, TMFailure{}, nil
	}
	return TID{}, TMBeingModified, TMFailure{}, fmt.Errorf("heapam: update of %v gave up after %d attempts", tid, maxAttempts)
}

// ---------------------------------------------------------------------
// Row locks.

// LockTuple is heap_lock_tuple with LockTupleExclusive (SELECT ... FOR
// UPDATE): xmax becomes tx.Xid with HEAP_XMAX_LOCK_ONLY |
// HEAP_XMAX_EXCL_LOCK, logged as XLOG_HEAP_LOCK. A lock tx already holds
// is TMOk with no change. Results are as for Delete; a locked tuple stays
// visible to everyone, and the lock ends with the locker's transaction.
// snap is the crosscheck snapshot (nil for none).
func (r *Relation) LockTuple(tx *Tx, tid TID, snap *xact.Snapshot, wait bool) (TMResult, TMFailure, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		buf, p, t, err := r.lockedTuple(tid, buffer.Exclusive)
		if err != nil {
			return TMInvisible, TMFailure{}, err
		}
		mask := t.Infomask()
		if mask&page.HeapXmaxInvalid == 0 && page.XmaxIsLockedOnly(mask) && mask&page.HeapXmaxExclLock != 0 &&
			tx.Oracle.IsCurrent(xact.XID(t.Xmax())) {
			// Already locked by us, as strongly as asked.
			r.cfg.Pool.UnlockReleaseBuffer(buf)
			return TMOk, TMFailure{}, nil
		}
		res, fd := r.checkModify(tx, buf, p, t, tid, snap)
		if res != TMOk {
			r.cfg.Pool.UnlockReleaseBuffer(buf)
			if res == TMBeingModified {
				retry, err := waitFor(tx, wait, fd.Xmax)
				if err != nil {
					return res, fd, err
				}
				if retry {
					continue
				}
			}
			return res, fd, nil
		}
		if tx.SSI != nil {
			// heap_delete's CheckForSerializableConflictIn, before
			// the delete, with the page locked.
			if err := tx.SSI.ConflictIn(uint32(r.cfg.Rel), tid); err != nil {
				r.cfg.Pool.UnlockReleaseBuffer(buf)
				return TMOk, TMFailure{}, err
			}
		}

		// START_CRIT_SECTION. heap_lock_tuple leaves t_cid alone.
		t.ClearInfomask(page.HeapXmaxBits)
		t.ClearInfomask2(page.HeapKeysUpdated)
		t.SetInfomask(page.HeapXmaxLockOnly | page.HeapXmaxExclLock)
		t.SetInfomask2(page.HeapKeysUpdated)
		t.SetXmax(uint64(tx.Xid))
		t.SetCtid(tid) // a lock-only xmax leaves no forward link
		x := XLHeapLock{LockingXid: uint64(tx.Xid), Offnum: tid.Offset, Infobits: computeInfobits(t.Infomask(), t.Infomask2())}
		r.log(tx.Xid, RMHeap, XLogHeapLock, []blockChange{{id: 0, buf: buf, blk: smgr.BlockNumber(tid.Block), p: p}}, x.encode())
		r.cfg.Pool.UnlockReleaseBuffer(buf)
		r.count(func(s *Stats) { s.Locks++ })
		return TMOk, TMFailure{}, nil
	}
	return TMBeingModified, TMFailure{}, fmt.Errorf("heapam: lock of %v gave up after %d attempts", tid, maxAttempts)
}

// ---------------------------------------------------------------------
// Pruning and vacuum.

// Prune is heap_page_prune for one block without HOT chains: every tuple
// HeapTupleSatisfiesVacuum calls DEAD given oldestXmin loses its storage
// and its line pointer becomes LP_DEAD; the page is defragmented
// (PageRepairFragmentation) and the change logged as XLOG_HEAP2_PRUNE. It
// returns the TIDs made dead, whose index entries the caller removes before
// calling VacuumPage to make the line pointers reusable; until then no
// insert can take those TIDs. o decides commit status (no current
// transaction is involved).
func (r *Relation) Prune(blk smgr.BlockNumber, oldestXmin xact.XID, o TxOracle) ([]TID, error) {
	buf, err := r.cfg.Pool.ReadBuffer(r.cfg.Rel, smgr.MainForkNum, blk)
	if err != nil {
		return nil, err
	}
	// PostgreSQL takes a cleanup lock (no other pins); without HOT and
	// with scans that copy tuples out under the content lock, nobody
	// holds a pointer into the page after unlocking, so the exclusive
	// lock is enough.
	r.cfg.Pool.LockBuffer(buf, buffer.Exclusive)
	defer r.cfg.Pool.UnlockReleaseBuffer(buf)
	p := r.cfg.Pool.BufferGetPage(buf)
	if page.IsNew(p) {
		return nil, nil
	}
	h := bufHint{r, buf, p}
	var dead []page.OffsetNumber
	for off := page.FirstOffset; off <= page.MaxOffset(p); off++ {
		if !page.GetItemID(p, off).IsNormal() {
			continue
		}
		if SatisfiesVacuum(page.HeapTuple(page.GetItem(p, off)), oldestXmin, o, h) == HeapTupleDead {
			dead = append(dead, off)
		}
	}
	if len(dead) == 0 {
		return nil, nil
	}
	// START_CRIT_SECTION.
	x := XLHeapPrune{Horizon: uint64(oldestXmin), Dead: dead}
	applyPrune(p, x)
	r.log(xact.InvalidXID, RMHeap2, XLogHeap2Prune,
		[]blockChange{{id: 0, buf: buf, blk: blk, p: p, data: x.encodeOffsets()}}, x.encodeMain())
	tids := make([]TID, len(dead))
	for i, off := range dead {
		tids[i] = TID{Block: uint32(blk), Offset: off}
	}
	r.count(func(s *Stats) { s.Pruned += uint64(len(dead)) })
	r.e.Sometimes("heap-page-pruned")
	return tids, nil
}

// VacuumPage is lazy_vacuum_heap_page: the given LP_DEAD line pointers of
// blk (whose index entries are gone) become LP_UNUSED, the page is
// defragmented, and the change is logged as XLOG_HEAP2_VACUUM. An offset
// that is no longer LP_DEAD means the page changed under vacuum, which
// only a corrupted page does (a lost write that took it back in time
// while vacuum cleaned the indexes): PostgreSQL only Asserts it here; the
// page is reported as data_corrupted, an ERROR that ends the VACUUM with
// nothing changed, not a crash of the process.
func (r *Relation) VacuumPage(blk smgr.BlockNumber, offsets []page.OffsetNumber) error {
	if len(offsets) == 0 {
		return nil
	}
	buf, err := r.cfg.Pool.ReadBuffer(r.cfg.Rel, smgr.MainForkNum, blk)
	if err != nil {
		return err
	}
	r.cfg.Pool.LockBuffer(buf, buffer.Exclusive)
	defer r.cfg.Pool.UnlockReleaseBuffer(buf)
	p := r.cfg.Pool.BufferGetPage(buf)
	for _, off := range offsets {
		if off < page.FirstOffset || off > page.MaxOffset(p) || !page.GetItemID(p, off).IsDead() {
			return pgerr.New(pgerr.DataCorrupted, "vacuum of line pointer %d of block %d of relation %d, which is no longer LP_DEAD: the page changed under vacuum", off, blk, r.cfg.Rel)
		}
	}
	x := XLHeapPrune{Unused: offsets}
	applyPrune(p, x)
	r.log(xact.InvalidXID, RMHeap2, XLogHeap2Vacuum,
		[]blockChange{{id: 0, buf: buf, blk: blk, p: p, data: x.encodeOffsets()}}, x.encodeMain())
	r.count(func(s *Stats) { s.Vacuumed += uint64(len(offsets)) })
	r.e.Sometimes("vacuum-removed-tuple")
	return nil
}

// applyPrune is heap_page_prune_execute: dead line pointers lose their
// storage, unused ones are freed, and the page is defragmented with its
// free space zeroed. The primary and redo both run it.
func applyPrune(p []byte, x XLHeapPrune) {
	for _, off := range x.Dead {
		page.SetItemDead(p, off)
	}
	for _, off := range x.Unused {
		page.SetItemUnused(p, off)
	}
	page.RepairFragmentation(p)
	zeroHole(p)
}
