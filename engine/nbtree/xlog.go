package nbtree

import (
	"encoding/binary"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// RMBtree is the B-tree's resource manager id (RM_BTREE_ID).
const RMBtree uint8 = 11

// Record types (the XLOG_BTREE_* info values of nbtxlog.h). Each record's
// body is a wal.Body; the block references and main data are:
//
//	INSERT_LEAF   blk 0 leaf (data: the tuple); main: offnum u16
//	INSERT_UPPER  blk 0 internal page (data: the downlink), blk 1 the left
//	              child whose BTP_INCOMPLETE_SPLIT is cleared; main: offnum u16
//	SPLIT_L/_R    blk 0 left half (image), blk 1 new right half (image,
//	              will-init), [blk 2 old right sibling: btpo_prev = blk 1],
//	              [blk 3 child whose split this completes]; main: level u32,
//	              firstright offset u16, new item offset u16. _L when the
//	              new item went to the left half.
//	VACUUM        blk 0 leaf (data: deleted offsets, u16 each, ascending);
//	              main: ndeleted u16
//	NEWROOT       blk 0 new root (image, will-init), blk 1 left child
//	              (flag cleared), blk 2 metapage (data: BTMetaPageData);
//	              main: root u32, level u32
//	META          blk 0 metapage (image, will-init), blk 1 empty root leaf
//	              (image, will-init): the index's creation
//
// A block reference with a full-page image carries no data: redo restores
// the image and is done with that block.
const (
	InfoInsertLeaf  uint8 = 0x00 // XLOG_BTREE_INSERT_LEAF
	InfoInsertUpper uint8 = 0x10 // XLOG_BTREE_INSERT_UPPER
	InfoSplitL      uint8 = 0x30 // XLOG_BTREE_SPLIT_L
	InfoSplitR      uint8 = 0x40 // XLOG_BTREE_SPLIT_R
	InfoVacuum      uint8 = 0x80 // XLOG_BTREE_VACUUM
	InfoNewRoot     uint8 = 0xA0 // XLOG_BTREE_NEWROOT
	InfoMeta        uint8 = 0xB0 // XLOG_BTREE_META_CLEANUP's slot: metapage (re)initialisation
)

// needsFPI asks the checkpoint owner whether pg needs an image.
func (ix *Index) needsFPI(pg []byte) bool {
	return ix.cfg.NeedsFPI != nil && ix.cfg.NeedsFPI(buffer.PageGetLSN(pg))
}

// blockRef describes a changed page for the record (XLogRegisterBuffer):
// a full-page image when forced or when the page was not changed since the
// REDO pointer, else data (possibly none). The image omits the hole between
// pd_lower and pd_upper, which is zeroed in the copy: free space may hold
// stale bytes that PageIndexTupleDelete left behind.
func (ix *Index) blockRef(id uint8, blk uint32, pg []byte, data []byte, force bool) wal.BlockRef {
	r := wal.BlockRef{ID: id, Rel: uint32(ix.cfg.Rel), Fork: uint8(smgr.MainForkNum), Block: blk}
	if force || ix.needsFPI(pg) {
		img := make([]byte, page.BlockSize)
		copy(img, pg)
		lower, upper := page.Lower(img), page.Upper(img)
		clear(img[lower:upper])
		r.Image, r.HoleOffset, r.HoleLength = img, lower, upper-lower
		return r
	}
	if data == nil {
		data = []byte{}
	}
	r.Data = data
	return r
}

// logChange is the critical section of every change, in the order of the
// transam README's "Write-Ahead Log Coding" (and _bt_insertonpg's): change
// the exclusively locked pages, MarkBufferDirty, XLogInsert, PageSetLSN.
// The buffers must be dirty before the record exists (the README's step 4,
// see SyncOneBuffer): a checkpoint that takes its REDO pointer after the
// record must find them dirty when it scans the pool, or it skips them,
// completes, and recovery from its REDO never replays a change that is not
// on disk. describe builds the record under the WAL insert lock, where the
// full-page image decision is made against the REDO pointer that the
// record is inserted under (XLogInsertRecord's RedoRecPtr re-check); the
// record's end LSN goes on every page before the insert lock is released.
func (ix *Index) logChange(info uint8, bufs []buffer.Buffer, change func(), describe func() wal.Body) wal.LSN {
	p := ix.cfg.Pool
	// START_CRIT_SECTION: nothing from here to the WAL insert may fail;
	// change panics if it cannot apply.
	change()
	// Planted bug dirty-after-wal-insert: the buffers are marked dirty
	// after the record, as this function did until the checkpoint checker
	// caught it (issue 16).
	late := ix.cfg.Bugs.Has(bugs.DirtyAfterWALInsert)
	if !late {
		for _, b := range bufs {
			p.MarkBufferDirty(b)
		}
	}
	_, end := ix.cfg.WAL.InsertWith(func() *wal.Record {
		body := describe()
		return &wal.Record{Rmid: RMBtree, Info: info, Payload: body.Encode(nil)}
	}, func(_, end wal.LSN) {
		for _, b := range bufs {
			buffer.PageSetLSN(p.BufferGetPage(b), end)
		}
	})
	// The record is in the WAL buffers, the pages still locked: a process
	// may be preempted here, and a checkpoint may take its REDO pointer
	// past the record meanwhile.
	ix.e.Inject("page-after-xloginsert")
	if late {
		for _, b := range bufs {
			p.MarkBufferDirty(b)
		}
	}
	return end
}

// Create makes an empty index in a new relation (btbuildempty and
// _bt_initmetapage, with the root leaf made at once): the metapage at block
// 0 and an empty root leaf at block 1, logged as one record.
func Create(e *env.Env, cfg Config) (*Index, error) {
	ix, err := Open(e, cfg)
	if err != nil {
		return nil, err
	}
	// The catalog may have created the file already (CREATE TABLE makes
	// both relation files); building over a non-empty one is refused below.
	exists, err := cfg.SMgr.Exists(cfg.Rel, smgr.MainForkNum)
	if err != nil {
		return nil, err
	}
	if !exists {
		if err := cfg.SMgr.Create(cfg.Rel, smgr.MainForkNum, false); err != nil {
			return nil, err
		}
	}
	mbuf, mblk, err := ix.newPage()
	if err != nil {
		return nil, err
	}
	rbuf, rblk, err := ix.newPage()
	if err != nil {
		ix.relbuf(mbuf)
		return nil, err
	}
	if mblk != MetaBlock || rblk != 1 {
		ix.relbuf(rbuf)
		ix.relbuf(mbuf)
		return nil, fmt.Errorf("nbtree: relation %d is not empty", cfg.Rel)
	}
	p := cfg.Pool
	mpg, rpg := p.BufferGetPage(mbuf), p.BufferGetPage(rbuf)
	ix.logChange(InfoMeta, []buffer.Buffer{mbuf, rbuf}, func() {
		initPage(mpg, opaque{prev: NoBlock, next: NoBlock, flags: FlagMeta})
		ix.mustAdd(mpg, encodeMeta(meta{root: rblk, level: 0}))
		initPage(rpg, opaque{prev: NoBlock, next: NoBlock, flags: FlagLeaf | FlagRoot})
	}, func() wal.Body {
		body := wal.Body{Blocks: []wal.BlockRef{
			ix.blockRef(0, mblk, mpg, nil, true),
			ix.blockRef(1, rblk, rpg, nil, true),
		}}
		body.Blocks[0].WillInit = true
		body.Blocks[1].WillInit = true
		return body
	})
	ix.relbuf(rbuf)
	ix.relbuf(mbuf)
	return ix, nil
}

// Delete removes the entry (key, tid), reporting whether it was there
// (_bt_delitems_vacuum for one item: VACUUM calls it with the entries whose
// heap tuples are dead to everyone). The page stays in the tree even when
// it becomes empty: there is no page deletion.
func (ix *Index) Delete(key uint64, tid page.ItemPointer) (bool, error) {
	target := bkey{k: key, tid: tid}
	buf, blk, _, err := ix.search(target, true)
	if err != nil {
		return false, err
	}
	pg := ix.cfg.Pool.BufferGetPage(buf)
	off := ix.binsrchLeaf(pg, getOpaque(pg), target)
	if off > page.MaxOffset(pg) {
		ix.relbuf(buf)
		return false, nil
	}
	if k, _ := ix.mustKey(page.GetItem(pg, off)); compareKey(k, target) != 0 {
		ix.relbuf(buf)
		return false, nil
	}
	ix.logChange(InfoVacuum, []buffer.Buffer{buf}, func() {
		page.IndexTupleDelete(pg, off)
	}, func() wal.Body {
		return wal.Body{
			Blocks: []wal.BlockRef{ix.blockRef(0, blk, pg, binary.LittleEndian.AppendUint16(nil, uint16(off)), false)},
			Main:   binary.LittleEndian.AppendUint16(nil, 1),
		}
	})
	ix.relbuf(buf)
	return true, nil
}

// Decoded is a B-tree record taken apart (the xl_btree_* structs).
type Decoded struct {
	Info uint8
	Body wal.Body
	// Offset is the insert position (INSERT_*), Tuple the inserted tuple
	// when block 0 carries data.
	Offset page.OffsetNumber
	Tuple  []byte
	// Deleted are VACUUM's offsets, when block 0 carries data.
	Deleted []page.OffsetNumber
	// Level, FirstRight and NewItemOff describe a split.
	Level      uint32
	FirstRight page.OffsetNumber
	NewItemOff page.OffsetNumber
	// Root and Meta describe NEWROOT.
	Root uint32
	Meta []byte
}

// blockRule says which block ids a record type may carry and which of them
// must carry a full-page image.
type blockRule struct {
	required, optional, image []uint8
}

var blockRules = map[uint8]blockRule{
	InfoInsertLeaf:  {required: []uint8{0}},
	InfoInsertUpper: {required: []uint8{0, 1}},
	InfoSplitL:      {required: []uint8{0, 1}, optional: []uint8{2, 3}, image: []uint8{0, 1}},
	InfoSplitR:      {required: []uint8{0, 1}, optional: []uint8{2, 3}, image: []uint8{0, 1}},
	InfoVacuum:      {required: []uint8{0}},
	InfoNewRoot:     {required: []uint8{0, 1, 2}, image: []uint8{0}},
	InfoMeta:        {required: []uint8{0, 1}, image: []uint8{0, 1}},
}

func contains(s []uint8, x uint8) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// DecodeRecord decodes and validates a B-tree record's payload (the checks
// btree_redo's callers rely on, made explicit). It never panics, whatever
// the payload holds.
func DecodeRecord(rec wal.Record) (Decoded, error) {
	d := Decoded{Info: rec.Info}
	if rec.Rmid != RMBtree {
		return d, fmt.Errorf("%w: record of resource manager %d", ErrCorrupt, rec.Rmid)
	}
	rule, ok := blockRules[rec.Info]
	if !ok {
		return d, fmt.Errorf("%w: unknown btree record info %#x", ErrCorrupt, rec.Info)
	}
	body, err := wal.DecodeBody(rec.Payload)
	if err != nil {
		return d, err
	}
	d.Body = body
	for _, b := range body.Blocks {
		if !contains(rule.required, b.ID) && !contains(rule.optional, b.ID) {
			return d, fmt.Errorf("%w: record %#x with block id %d", ErrCorrupt, rec.Info, b.ID)
		}
		if contains(rule.image, b.ID) && b.Image == nil {
			return d, fmt.Errorf("%w: record %#x block %d without its full-page image", ErrCorrupt, rec.Info, b.ID)
		}
		if b.Image != nil {
			if err := page.CheckPage(b.Image); err != nil {
				return d, fmt.Errorf("%w: record %#x block %d image: %v", ErrCorrupt, rec.Info, b.ID, err)
			}
		}
	}
	for _, id := range rule.required {
		if _, ok := body.Block(id); !ok {
			return d, fmt.Errorf("%w: record %#x without block %d", ErrCorrupt, rec.Info, id)
		}
	}
	main := body.Main
	blk0, _ := body.Block(0)
	switch rec.Info {
	case InfoInsertLeaf, InfoInsertUpper:
		if len(main) != 2 {
			return d, fmt.Errorf("%w: insert record main data of %d bytes", ErrCorrupt, len(main))
		}
		d.Offset = page.OffsetNumber(binary.LittleEndian.Uint16(main))
		if d.Offset == page.InvalidOffset {
			return d, fmt.Errorf("%w: insert at offset 0", ErrCorrupt)
		}
		if blk0.Image == nil {
			if _, _, err := itemKey(blk0.Data); err != nil {
				return d, err
			}
			if isPivot(blk0.Data) != (rec.Info == InfoInsertUpper) {
				return d, fmt.Errorf("%w: insert record with the wrong kind of tuple", ErrCorrupt)
			}
			d.Tuple = blk0.Data
		}
	case InfoSplitL, InfoSplitR:
		if len(main) != 8 {
			return d, fmt.Errorf("%w: split record main data of %d bytes", ErrCorrupt, len(main))
		}
		d.Level = binary.LittleEndian.Uint32(main[0:])
		d.FirstRight = page.OffsetNumber(binary.LittleEndian.Uint16(main[4:]))
		d.NewItemOff = page.OffsetNumber(binary.LittleEndian.Uint16(main[6:]))
	case InfoVacuum:
		if len(main) != 2 {
			return d, fmt.Errorf("%w: vacuum record main data of %d bytes", ErrCorrupt, len(main))
		}
		n := int(binary.LittleEndian.Uint16(main))
		if blk0.Image == nil {
			if len(blk0.Data) != 2*n {
				return d, fmt.Errorf("%w: vacuum record of %d offsets with %d bytes of them", ErrCorrupt, n, len(blk0.Data))
			}
			for i := 0; i < n; i++ {
				off := page.OffsetNumber(binary.LittleEndian.Uint16(blk0.Data[2*i:]))
				if off == page.InvalidOffset || (i > 0 && off <= d.Deleted[i-1]) {
					return d, fmt.Errorf("%w: vacuum offsets not ascending", ErrCorrupt)
				}
				d.Deleted = append(d.Deleted, off)
			}
		}
	case InfoNewRoot:
		if len(main) != 8 {
			return d, fmt.Errorf("%w: newroot record main data of %d bytes", ErrCorrupt, len(main))
		}
		d.Root = binary.LittleEndian.Uint32(main[0:])
		d.Level = binary.LittleEndian.Uint32(main[4:])
		if mb, _ := body.Block(2); mb.Image == nil {
			m, err := decodeMeta(mb.Data)
			if err != nil {
				return d, err
			}
			if m.root != d.Root || m.level != d.Level {
				return d, fmt.Errorf("%w: newroot metapage data disagrees with the record", ErrCorrupt)
			}
			d.Meta = mb.Data
		}
	case InfoMeta:
		if len(main) != 0 {
			return d, fmt.Errorf("%w: meta record with main data", ErrCorrupt)
		}
	}
	return d, nil
}

// redoAction is XLogRedoAction.
type redoAction int

const (
	blkNeedsRedo redoAction = iota // BLK_NEEDS_REDO
	blkDone                        // BLK_DONE: the page already has the change
	blkRestored                    // BLK_RESTORED: the full-page image was put back
)

// Redo replays one B-tree record (btree_redo). For each block reference in
// order it reads the page (XLogReadBufferForRedo): an image is restored and
// that block is done; otherwise the change is applied only if the page's LSN
// is older than the record's end, so replaying a record twice changes
// nothing. The relation is extended as far as a record needs (a crash may
// have lost the extension), and a page that fails verification is replaced
// by zeros first when the record rebuilds it wholesale (RBM_ZERO_AND_LOCK:
// a torn write of a page that has an image). A record that does not apply
// is an error: recovery must stop (PostgreSQL PANICs).
func Redo(e *env.Env, pool *buffer.Pool, sm *smgr.SMgr, rec wal.Record) error {
	d, err := DecodeRecord(rec)
	if err != nil {
		return fmt.Errorf("nbtree redo at %s: %w", rec.LSN, err)
	}
	end := rec.LSN + wal.LSN(rec.EncodedSize())
	for i := range d.Body.Blocks {
		ref := &d.Body.Blocks[i]
		buf, action, err := readBufferForRedo(pool, sm, ref, end)
		if err != nil {
			return fmt.Errorf("nbtree redo at %s block %d: %w", rec.LSN, ref.Block, err)
		}
		switch action {
		case blkRestored:
			e.Sometimes("redo-fpi-restored")
		case blkDone:
			e.Sometimes("redo-blk-done")
		}
		if action == blkNeedsRedo {
			pg := pool.BufferGetPage(buf)
			if err := applyBlock(&d, ref, pg); err != nil {
				pool.UnlockReleaseBuffer(buf)
				return fmt.Errorf("nbtree redo at %s (info %#x) block %d: %w", rec.LSN, rec.Info, ref.Block, err)
			}
			buffer.PageSetLSN(pg, end)
			pool.MarkBufferDirty(buf)
		}
		pool.UnlockReleaseBuffer(buf)
	}
	return nil
}

// readBufferForRedo is XLogReadBufferForRedoExtended: it returns the
// block's buffer exclusively locked, and what is left to do.
func readBufferForRedo(pool *buffer.Pool, sm *smgr.SMgr, ref *wal.BlockRef, end wal.LSN) (buffer.Buffer, redoAction, error) {
	rel, fork, blk := smgr.RelFileNumber(ref.Rel), smgr.ForkNumber(ref.Fork), smgr.BlockNumber(ref.Block)
	if blk == smgr.InvalidBlockNumber {
		return buffer.InvalidBuffer, 0, fmt.Errorf("%w: block reference to InvalidBlockNumber", ErrCorrupt)
	}
	if err := sm.Create(rel, fork, true); err != nil {
		return buffer.InvalidBuffer, 0, err
	}
	n, err := sm.NBlocks(rel, fork)
	if err != nil {
		return buffer.InvalidBuffer, 0, err
	}
	for n <= blk {
		b, nb, err := pool.ExtendBuffer(rel, fork)
		if err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		pool.ReleaseBuffer(b)
		n = nb + 1
	}
	wholesale := ref.Image != nil || ref.WillInit
	buf, err := pool.ReadBuffer(rel, fork, blk)
	if err != nil {
		if !wholesale {
			return buffer.InvalidBuffer, 0, err
		}
		pool.Sometimes("redo-unreadable-page-replaced")
		if err := sm.Write(rel, fork, blk, make([]byte, page.BlockSize)); err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		if buf, err = pool.ReadBuffer(rel, fork, blk); err != nil {
			return buffer.InvalidBuffer, 0, err
		}
	}
	pool.LockBuffer(buf, buffer.Exclusive)
	pg := pool.BufferGetPage(buf)
	switch {
	case ref.Image != nil:
		copy(pg, ref.Image)
		buffer.PageSetLSN(pg, end)
		pool.MarkBufferDirty(buf)
		return buf, blkRestored, nil
	case ref.WillInit:
		clear(pg)
		return buf, blkNeedsRedo, nil
	case buffer.PageGetLSN(pg) >= end:
		return buf, blkDone, nil
	}
	return buf, blkNeedsRedo, nil
}

// applyBlock replays one block's change on a page whose LSN is older than
// the record. It checks everything it relies on, so that a record that does
// not match the page is an error, not a panic.
func applyBlock(d *Decoded, ref *wal.BlockRef, pg []byte) error {
	if page.IsNew(pg) {
		return fmt.Errorf("%w: page is uninitialized", ErrCorrupt)
	}
	if page.SpecialSize(pg) != opaqueSize {
		return fmt.Errorf("%w: not a btree page", ErrCorrupt)
	}
	switch {
	case (d.Info == InfoInsertLeaf || d.Info == InfoInsertUpper) && ref.ID == 0:
		if d.Offset > page.MaxOffset(pg)+1 {
			return fmt.Errorf("%w: insert at offset %d of a page with %d items", ErrCorrupt, d.Offset, page.MaxOffset(pg))
		}
		if _, err := page.AddItemExtended(pg, d.Tuple, d.Offset, 0); err != nil {
			return err
		}
	case d.Info == InfoInsertUpper && ref.ID == 1,
		(d.Info == InfoSplitL || d.Info == InfoSplitR) && ref.ID == 3,
		d.Info == InfoNewRoot && ref.ID == 1:
		clearIncompleteSplit(pg)
	case (d.Info == InfoSplitL || d.Info == InfoSplitR) && ref.ID == 2:
		right, _ := d.Body.Block(1)
		o := getOpaque(pg)
		o.prev = right.Block
		setOpaque(pg, o)
	case d.Info == InfoVacuum && ref.ID == 0:
		for i := len(d.Deleted) - 1; i >= 0; i-- {
			off := d.Deleted[i]
			if off > page.MaxOffset(pg) || !page.GetItemID(pg, off).HasStorage() {
				return fmt.Errorf("%w: vacuum of offset %d of a page with %d items", ErrCorrupt, off, page.MaxOffset(pg))
			}
			page.IndexTupleDelete(pg, off)
		}
	case d.Info == InfoNewRoot && ref.ID == 2:
		item, err := metaItem(pg)
		if err != nil {
			return err
		}
		if len(item) != len(d.Meta) {
			return fmt.Errorf("%w: metapage item of %d bytes", ErrCorrupt, len(item))
		}
		copy(item, d.Meta)
	default:
		return fmt.Errorf("%w: block %d of record %#x needs a full-page image", ErrCorrupt, ref.ID, d.Info)
	}
	return nil
}
