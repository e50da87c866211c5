package heapam

import (
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// This file is heapam_xlog.c: redo of the heap's records (heap_redo and
// heap2_redo). Each block reference goes through readBufferForRedo, which
// restores a full-page image when the record has one and otherwise says
// whether the page is older than the record (BLK_NEEDS_REDO) or already
// has its change (BLK_DONE). A change is applied only in the first case and
// stamps the record's end LSN on the page, so replaying a record twice
// leaves the page as replaying it once did.

// redoAction is XLogRedoAction.
type redoAction uint8

const (
	blkNeedsRedo redoAction = iota // BLK_NEEDS_REDO
	blkDone                        // BLK_DONE
	blkRestored                    // BLK_RESTORED
)

// redoBlock is one block reference being replayed, pinned and
// exclusively locked.
type redoBlock struct {
	buf    buffer.Buffer
	p      []byte
	action redoAction
}

// Redo replays one RMHeap or RMHeap2 record during recovery. pool must be
// the recovering node's buffer pool, and sm its storage manager (configured
// with ZeroFillMissing, as md.c is InRecovery). The pages it changes are
// left dirty in the pool. An error means the record cannot be replayed on
// these pages: recovery must stop (the startup process PANICs).
func Redo(rec wal.Record, pool *buffer.Pool, sm *smgr.SMgr) error {
	body, err := wal.DecodeBody(rec.Payload)
	if err != nil {
		return fmt.Errorf("heap redo at %s: %w", rec.LSN, err)
	}
	end := rec.LSN + wal.LSN(rec.EncodedSize())
	switch {
	case rec.Rmid == RMHeap && rec.Info&XLogHeapOpMask == XLogHeapInsert:
		err = redoInsert(rec, &body, end, pool, sm)
	case rec.Rmid == RMHeap && rec.Info&XLogHeapOpMask == XLogHeapDelete && rec.Info&XLogHeapInitPage == 0:
		err = redoDelete(&body, end, pool, sm)
	case rec.Rmid == RMHeap && rec.Info&XLogHeapOpMask == XLogHeapUpdate:
		err = redoUpdate(rec, &body, end, pool, sm)
	case rec.Rmid == RMHeap && rec.Info&XLogHeapOpMask == XLogHeapLock && rec.Info&XLogHeapInitPage == 0:
		err = redoLock(&body, end, pool, sm)
	case rec.Rmid == RMHeap2 && (rec.Info == XLogHeap2Prune || rec.Info == XLogHeap2Vacuum):
		err = redoPrune(rec.Info, &body, end, pool, sm)
	case rec.Rmid == RMHeap2 && rec.Info == XLogHeap2FPIForHint:
		err = redoFPIForHint(&body, end, pool, sm)
	default:
		err = fmt.Errorf("%w: unknown record rmid %d info %#x", ErrBadRecord, rec.Rmid, rec.Info)
	}
	if err != nil {
		return fmt.Errorf("heap redo at %s: %w", rec.LSN, err)
	}
	return nil
}

// readBufferForRedo is XLogReadBufferForRedoExtended for block reference
// ref: it extends the relation with zero pages up to the block if needed
// (XLogReadBufferExtended), restores a full-page image, or starts a
// will-init block from a zero page, and reports what the caller must do.
// The returned buffer is pinned and exclusively locked.
func readBufferForRedo(ref *wal.BlockRef, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) (redoBlock, error) {
	rel := smgr.RelFileNumber(ref.Rel)
	fork := smgr.ForkNumber(ref.Fork)
	blk := smgr.BlockNumber(ref.Block)
	if fork != smgr.MainForkNum || blk == smgr.InvalidBlockNumber {
		return redoBlock{}, fmt.Errorf("%w: block reference to fork %d block %d", ErrBadRecord, fork, blk)
	}
	if err := sm.Create(rel, fork, true); err != nil {
		return redoBlock{}, err
	}
	n, err := sm.NBlocks(rel, fork)
	if err != nil {
		return redoBlock{}, err
	}
	// The relation may be shorter than the block: its extension never
	// reached disk. Extending one block at a time is bounded by the block
	// number, which a valid record keeps within reason.
	const extendMax = 1 << 20
	if blk >= n && blk-n > extendMax {
		return redoBlock{}, fmt.Errorf("%w: block %d far beyond the relation's %d blocks", ErrBadRecord, blk, n)
	}
	for n <= blk {
		b, got, err := pool.ExtendBuffer(rel, fork)
		if err != nil {
			return redoBlock{}, err
		}
		pool.ReleaseBuffer(b)
		n = got + 1
	}

	var replacement []byte
	switch {
	case ref.Image != nil:
		replacement = ref.Image
	case ref.WillInit:
		replacement = make([]byte, page.BlockSize)
	}
	buf, err := pool.ReadBuffer(rel, fork, blk)
	if err != nil && replacement != nil && !errors.Is(err, buffer.ErrNoUnpinnedBuffers) {
		// PostgreSQL reads such a block with RBM_ZERO_AND_LOCK and never
		// looks at what is on disk, which may be torn. The pool has no
		// such mode, so the page that redo is about to install anyway is
		// written first, and read back.
		pool.Sometimes("redo-unreadable-page-replaced")
		img := append([]byte(nil), replacement...)
		if !page.IsNew(img) {
			pool.SetChecksumCopy(img, uint32(blk))
		}
		if werr := sm.Write(rel, fork, blk, img); werr != nil {
			return redoBlock{}, werr
		}
		buf, err = pool.ReadBuffer(rel, fork, blk)
	}
	if err != nil {
		return redoBlock{}, err
	}
	pool.LockBuffer(buf, buffer.Exclusive)
	p := pool.BufferGetPage(buf)
	rb := redoBlock{buf: buf, p: p}
	switch {
	case ref.Image != nil:
		// RestoreBlockImage: the image is the page after the change.
		copy(p, ref.Image)
		setPageLSN(p, end)
		pool.MarkBufferDirty(buf)
		rb.action = blkRestored
		pool.Sometimes("redo-fpi-restored")
	case ref.WillInit:
		// XLogInitBufferForRedo: the record rebuilds the page.
		clear(p)
		rb.action = blkNeedsRedo
	case pageLSN(p) >= end:
		rb.action = blkDone
		pool.Sometimes("redo-blk-done")
	case page.IsNew(p):
		pool.UnlockReleaseBuffer(buf)
		return redoBlock{}, fmt.Errorf("heap redo of a change to uninitialized page %d of relation %d", blk, rel)
	default:
		rb.action = blkNeedsRedo
	}
	return rb, nil
}

// finish stamps end on a redone page, marks it dirty and unlocks it.
func (rb redoBlock) finish(pool *buffer.Pool, end wal.LSN) {
	if rb.action == blkNeedsRedo {
		setPageLSN(rb.p, end)
		pool.MarkBufferDirty(rb.buf)
	}
	pool.UnlockReleaseBuffer(rb.buf)
}

// redoPutTuple is the shared part of heap_xlog_insert and the new half of
// heap_xlog_update: it rebuilds the tuple from the record and puts it at
// the offset it had, which must be free (PageAddItem with overwrite).
func redoPutTuple(p []byte, xid uint64, tid TID, init bool, data []byte) error {
	hdr, user, err := DecodeTupleData(data)
	if err != nil {
		return err
	}
	if init {
		page.Init(p, 0)
	}
	if page.IsNew(p) || tid.Offset > page.MaxOffset(p)+1 {
		return fmt.Errorf("%w: tuple at %v beyond the line pointer array", ErrBadRecord, tid)
	}
	if tid.Offset <= page.MaxOffset(p) {
		if id := page.GetItemID(p, tid.Offset); id.IsUsed() || id.HasStorage() {
			return fmt.Errorf("%w: tuple at %v over a used line pointer", ErrBadRecord, tid)
		}
	}
	tup := page.EncodeHeapTuple(page.HeapTupleHeader{
		Xmin: xid, Cid: hdr.Cid, Ctid: tid, Infomask2: hdr.Infomask2, Infomask: hdr.Infomask,
	}, user)
	off, err := page.AddItemExtended(p, tup, tid.Offset, page.AddOverwrite|page.AddIsHeap)
	if err != nil || off != tid.Offset {
		return fmt.Errorf("failed to add tuple at %v: %v", tid, err)
	}
	return nil
}

// redoTuple returns the normal tuple at off of a page being redone.
func redoTuple(p []byte, off page.OffsetNumber) (page.HeapTuple, error) {
	if off < page.FirstOffset || off > page.MaxOffset(p) || !page.GetItemID(p, off).IsNormal() {
		return nil, fmt.Errorf("%w: invalid lp %d", ErrBadRecord, off)
	}
	t, err := page.AsHeapTuple(page.GetItem(p, off))
	if err != nil {
		return nil, err
	}
	return t, nil
}

func blockRef(body *wal.Body, id uint8) (*wal.BlockRef, error) {
	ref, ok := body.Block(id)
	if !ok {
		return nil, fmt.Errorf("%w: no block reference %d", ErrBadRecord, id)
	}
	return ref, nil
}

// redoInsert is heap_xlog_insert.
func redoInsert(rec wal.Record, body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	x, err := DecodeInsert(body.Main)
	if err != nil {
		return err
	}
	ref, err := blockRef(body, 0)
	if err != nil {
		return err
	}
	init := rec.Info&XLogHeapInitPage != 0
	if init != ref.WillInit || (ref.Image == nil && ref.Data == nil) {
		return fmt.Errorf("%w: insert block reference without its data", ErrBadRecord)
	}
	rb, err := readBufferForRedo(ref, end, pool, sm)
	if err != nil {
		return err
	}
	if rb.action == blkNeedsRedo {
		if err := redoPutTuple(rb.p, rec.Xid, TID{Block: ref.Block, Offset: x.Offnum}, init, ref.Data); err != nil {
			pool.UnlockReleaseBuffer(rb.buf)
			return err
		}
	}
	rb.finish(pool, end)
	return nil
}

// setXmaxForRedo applies the xmax half of a delete, update or lock.
func setXmaxForRedo(t page.HeapTuple, xmax uint64, infobits uint8) {
	t.ClearInfomask(page.HeapMoved)
	fixInfomaskFromInfobits(t, infobits)
	t.SetXmax(xmax)
}

func setCidForRedo(t page.HeapTuple, cid uint32, flags uint8) {
	t.SetCid(cid)
	if flags&flagComboCID != 0 {
		t.SetInfomask(page.HeapComboCID)
	} else {
		t.ClearInfomask(page.HeapComboCID)
	}
}

// redoDelete is heap_xlog_delete.
func redoDelete(body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	x, err := DecodeDelete(body.Main)
	if err != nil {
		return err
	}
	ref, err := blockRef(body, 0)
	if err != nil {
		return err
	}
	if x.Xmax == 0 {
		return fmt.Errorf("%w: delete by the invalid xid", ErrBadRecord)
	}
	rb, err := readBufferForRedo(ref, end, pool, sm)
	if err != nil {
		return err
	}
	if rb.action == blkNeedsRedo {
		t, err := redoTuple(rb.p, x.Offnum)
		if err != nil {
			pool.UnlockReleaseBuffer(rb.buf)
			return err
		}
		setXmaxForRedo(t, x.Xmax, x.Infobits)
		setCidForRedo(t, x.Cid, x.Flags)
		t.SetCtid(TID{Block: ref.Block, Offset: x.Offnum})
		page.SetPrunable(rb.p, x.Xmax)
	}
	rb.finish(pool, end)
	return nil
}

// redoUpdate is heap_xlog_update: block 0 is the new version's page,
// block 1 the old version's page when it is another one. As in
// PostgreSQL the old page is done first.
func redoUpdate(rec wal.Record, body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	x, err := DecodeUpdate(body.Main)
	if err != nil {
		return err
	}
	if x.OldXmax == 0 || x.OldXmax != rec.Xid {
		return fmt.Errorf("%w: update by xid %d in a record of xid %d", ErrBadRecord, x.OldXmax, rec.Xid)
	}
	newRef, err := blockRef(body, 0)
	if err != nil {
		return err
	}
	init := rec.Info&XLogHeapInitPage != 0
	if init != newRef.WillInit || (newRef.Image == nil && newRef.Data == nil) {
		return fmt.Errorf("%w: update block reference without its data", ErrBadRecord)
	}
	oldRef, twoPages := body.Block(1)
	if !twoPages {
		oldRef = newRef
	} else if oldRef.Rel != newRef.Rel || oldRef.Block == newRef.Block {
		return fmt.Errorf("%w: update across relations or with one block twice", ErrBadRecord)
	}
	if !twoPages && init {
		return fmt.Errorf("%w: update within one page that initialises it", ErrBadRecord)
	}
	oldTID := TID{Block: oldRef.Block, Offset: x.OldOffnum}
	newTID := TID{Block: newRef.Block, Offset: x.NewOffnum}

	applyOld := func(p []byte) error {
		t, err := redoTuple(p, x.OldOffnum)
		if err != nil {
			return err
		}
		setXmaxForRedo(t, x.OldXmax, x.OldInfobits)
		setCidForRedo(t, x.OldCid, x.Flags)
		t.SetCtid(newTID)
		page.SetPrunable(p, x.OldXmax)
		return nil
	}
	applyNew := func(p []byte) error {
		if err := redoPutTuple(p, rec.Xid, newTID, init, newRef.Data); err != nil {
			return err
		}
		if x.NewXmax != 0 {
			page.HeapTuple(page.GetItem(p, x.NewOffnum)).SetXmax(x.NewXmax)
		}
		return nil
	}

	if !twoPages {
		rb, err := readBufferForRedo(newRef, end, pool, sm)
		if err != nil {
			return err
		}
		if rb.action == blkNeedsRedo {
			// The old version first, as heap_xlog_update does, then the
			// new one on the same page.
			if err := applyOld(rb.p); err != nil {
				pool.UnlockReleaseBuffer(rb.buf)
				return err
			}
			if err := applyNew(rb.p); err != nil {
				pool.UnlockReleaseBuffer(rb.buf)
				return err
			}
		}
		rb.finish(pool, end)
		return nil
	}

	// Two pages: lock them in block order, as the primary did.
	first, second := oldRef, newRef
	if newRef.Block < oldRef.Block {
		first, second = newRef, oldRef
	}
	rb1, err := readBufferForRedo(first, end, pool, sm)
	if err != nil {
		return err
	}
	rb2, err := readBufferForRedo(second, end, pool, sm)
	if err != nil {
		pool.UnlockReleaseBuffer(rb1.buf)
		return err
	}
	oldRB, newRB := rb1, rb2
	if first != oldRef {
		oldRB, newRB = rb2, rb1
	}
	var applyErr error
	if oldRB.action == blkNeedsRedo {
		applyErr = applyOld(oldRB.p)
	}
	if applyErr == nil && newRB.action == blkNeedsRedo {
		applyErr = applyNew(newRB.p)
	}
	if applyErr != nil {
		pool.UnlockReleaseBuffer(rb2.buf)
		pool.UnlockReleaseBuffer(rb1.buf)
		return fmt.Errorf("update %v -> %v: %w", oldTID, newTID, applyErr)
	}
	rb2.finish(pool, end)
	rb1.finish(pool, end)
	return nil
}

// redoLock is heap_xlog_lock. Unlike PostgreSQL it leaves t_cid alone,
// as heap_lock_tuple does on the primary.
func redoLock(body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	x, err := DecodeLock(body.Main)
	if err != nil {
		return err
	}
	ref, err := blockRef(body, 0)
	if err != nil {
		return err
	}
	if x.LockingXid == 0 {
		return fmt.Errorf("%w: lock by the invalid xid", ErrBadRecord)
	}
	rb, err := readBufferForRedo(ref, end, pool, sm)
	if err != nil {
		return err
	}
	if rb.action == blkNeedsRedo {
		t, err := redoTuple(rb.p, x.Offnum)
		if err != nil {
			pool.UnlockReleaseBuffer(rb.buf)
			return err
		}
		setXmaxForRedo(t, x.LockingXid, x.Infobits)
		if page.XmaxIsLockedOnly(t.Infomask()) {
			t.SetCtid(TID{Block: ref.Block, Offset: x.Offnum})
		}
	}
	rb.finish(pool, end)
	return nil
}

// redoPrune is heap_xlog_prune and heap_xlog_vacuum.
func redoPrune(info uint8, body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	ref, err := blockRef(body, 0)
	if err != nil {
		return err
	}
	if ref.Image == nil && ref.Data == nil {
		return fmt.Errorf("%w: prune block reference without its offsets", ErrBadRecord)
	}
	var x XLHeapPrune
	if ref.Image == nil {
		if x, err = DecodePrune(body.Main, ref.Data); err != nil {
			return err
		}
		if info == XLogHeap2Vacuum && len(x.Dead) > 0 || info == XLogHeap2Prune && len(x.Unused) > 0 {
			return fmt.Errorf("%w: prune record with the other kind of offsets", ErrBadRecord)
		}
	}
	rb, err := readBufferForRedo(ref, end, pool, sm)
	if err != nil {
		return err
	}
	if rb.action == blkNeedsRedo {
		nline := page.MaxOffset(rb.p)
		for _, off := range x.Dead {
			if off > nline || !page.GetItemID(rb.p, off).IsNormal() {
				pool.UnlockReleaseBuffer(rb.buf)
				return fmt.Errorf("%w: prune of line pointer %d that is not normal", ErrBadRecord, off)
			}
		}
		for _, off := range x.Unused {
			if off > nline || !page.GetItemID(rb.p, off).IsDead() {
				pool.UnlockReleaseBuffer(rb.buf)
				return fmt.Errorf("%w: vacuum of line pointer %d that is not dead", ErrBadRecord, off)
			}
		}
		applyPrune(rb.p, x)
	}
	rb.finish(pool, end)
	return nil
}
