package nbtree

import (
	"encoding/binary"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
)

// Fill factors for a split of the rightmost page of a level when the new
// item goes last (BTREE_DEFAULT_FILLFACTOR and BTREE_NONLEAF_FILLFACTOR):
// ascending insertions then leave pages mostly full, as _bt_findsplitloc's
// "rightmost page" strategy does.
const (
	leafFillFactor    = 90
	nonLeafFillFactor = 70
)

// Insert adds the entry (key, tid) (btinsert with UNIQUE_CHECK_NO). An
// entry with the same key and TID already in the index is
// ErrDuplicateEntry; other entries with the same key are fine.
func (ix *Index) Insert(key uint64, tid page.ItemPointer) error {
	_, err := ix.doInsert(key, tid, nil, nil)
	return err
}

// InsertUnique adds (key, tid) unless another entry with the key points at
// a live tuple (_bt_doinsert with UNIQUE_CHECK_YES and _bt_check_unique).
// isLive is asked about every other entry with the key, while the first
// leaf page that can hold the key is exclusively locked, so that two
// inserters of one key are serialised there; it must not use the index.
// It returns (live, 0) for a committed or own live tuple, (false, xid) when
// the tuple's fate depends on the in-progress transaction xid, and (false,
// 0) for a dead one. A live one makes InsertUnique fail with an error
// carrying pgerr.UniqueViolation; an in-progress one makes it return
// waitXid != 0 with nothing inserted: the caller waits for that
// transaction to end and calls again, as _bt_doinsert's retry loop does
// after XactLockTableWait.
func (ix *Index) InsertUnique(key uint64, tid page.ItemPointer, isLive func(tid page.ItemPointer) (live bool, waitXid uint64)) (waitXid uint64, err error) {
	if isLive == nil {
		return 0, fmt.Errorf("nbtree: InsertUnique without an isLive function")
	}
	return ix.doInsert(key, tid, isLive, nil)
}

// doInsert is _bt_doinsert. conflictIn, when not nil, is
// CheckForSerializableConflictIn on the leaf page the entry goes to,
// asked with that page locked, before the entry is added.
func (ix *Index) doInsert(key uint64, tid page.ItemPointer, isLive func(page.ItemPointer) (bool, uint64), conflictIn func(blk uint32) error) (uint64, error) {
	if !tid.IsValid() {
		return 0, fmt.Errorf("nbtree: insert of key %d with invalid TID %v", key, tid)
	}
	ins := bkey{k: key, tid: tid}
	scan := ins
	if isLive != nil {
		// A uniqueness check starts at the first page that can hold the
		// key, whatever the TID: the scan key has no TID yet, as
		// _bt_doinsert leaves scantid unset while checking.
		scan = bkey{k: key}
	}
	buf, blk, stack, err := ix.search(scan, true)
	if err != nil {
		return 0, err
	}
	if isLive != nil {
		xwait, err := ix.checkUnique(buf, key, tid, isLive)
		if err != nil || xwait != 0 {
			ix.relbuf(buf)
			return xwait, err
		}
		if buf, blk, err = ix.stepRight(buf, blk, ins, stack); err != nil {
			return 0, err
		}
	}
	if conflictIn != nil {
		if err := conflictIn(blk); err != nil {
			ix.relbuf(buf)
			return 0, err
		}
	}
	pg := ix.cfg.Pool.BufferGetPage(buf)
	o := getOpaque(pg)
	off := ix.binsrchLeaf(pg, o, ins)
	if off <= page.MaxOffset(pg) {
		if k, _ := ix.mustKey(page.GetItem(pg, off)); compareKey(k, ins) == 0 {
			ix.relbuf(buf)
			return 0, fmt.Errorf("%w: key %d TID %v", ErrDuplicateEntry, key, tid)
		}
	}
	return 0, ix.insertOnPage(buf, blk, stack, leafTuple(ins), off, buffer.InvalidBuffer, NoBlock)
}

// checkUnique is _bt_check_unique: it visits every entry with the key,
// starting on the exclusively locked leaf buf and share-locking right
// siblings (left to right, so no deadlock) while the key continues there.
func (ix *Index) checkUnique(buf buffer.Buffer, key uint64, tid page.ItemPointer, isLive func(page.ItemPointer) (bool, uint64)) (uint64, error) {
	p := ix.cfg.Pool
	cur := buf
	nbuf := buffer.InvalidBuffer
	defer func() {
		if nbuf != buffer.InvalidBuffer {
			ix.relbuf(nbuf)
		}
	}()
	pg := p.BufferGetPage(cur)
	o := getOpaque(pg)
	off := ix.binsrchLeaf(pg, o, bkey{k: key})
	for steps := 0; steps < maxChainSteps; steps++ {
		for maxOff := page.MaxOffset(pg); off <= maxOff; off++ {
			k, _ := ix.mustKey(page.GetItem(pg, off))
			if k.k != key {
				return 0, nil
			}
			live, xwait := isLive(k.tid)
			if xwait != 0 {
				return xwait, nil
			}
			if live {
				return 0, pgerr.New(pgerr.UniqueViolation,
					"duplicate key value violates unique constraint: Key (%d)=(%d) already exists (entry %v, inserting %v)",
					ix.cfg.Rel, key, k.tid, tid)
			}
		}
		if o.rightmost() {
			return 0, nil
		}
		if hk, _ := ix.mustKey(page.GetItem(pg, page.FirstOffset)); hk.k != key {
			return 0, nil
		}
		next := o.next
		if nbuf != buffer.InvalidBuffer {
			ix.relbuf(nbuf)
			nbuf = buffer.InvalidBuffer
		}
		var err error
		if nbuf, err = ix.getbuf(next, buffer.Share); err != nil {
			nbuf = buffer.InvalidBuffer
			return 0, err
		}
		cur = nbuf
		pg = p.BufferGetPage(cur)
		o = getOpaque(pg)
		off = o.firstDataKey()
	}
	return 0, fmt.Errorf("%w: duplicate chain does not end", ErrCorrupt)
}

// stepRight moves an exclusively locked leaf right until ins belongs on it
// (_bt_findinsertloc's _bt_stepright after a uniqueness check). It couples
// locks: the right page is locked before the left is released, so that a
// concurrent unique inserter of the same key, which must pass through the
// same pages, cannot slip past unnoticed.
func (ix *Index) stepRight(buf buffer.Buffer, blk uint32, ins bkey, stack []stackEntry) (buffer.Buffer, uint32, error) {
	p := ix.cfg.Pool
	for steps := 0; steps < maxChainSteps; steps++ {
		pg := p.BufferGetPage(buf)
		o := getOpaque(pg)
		if o.rightmost() {
			return buf, blk, nil
		}
		if hk, _ := ix.mustKey(page.GetItem(pg, page.FirstOffset)); compareKey(ins, hk) < 0 {
			return buf, blk, nil
		}
		next := o.next
		rbuf, err := ix.getbuf(next, buffer.Exclusive)
		if err != nil {
			ix.relbuf(buf)
			return buffer.InvalidBuffer, 0, err
		}
		if getOpaque(p.BufferGetPage(rbuf)).flags&FlagIncompleteSplit != 0 {
			if err := ix.finishSplit(rbuf, next, stack); err != nil {
				ix.relbuf(buf)
				return buffer.InvalidBuffer, 0, err
			}
			continue // look at the same page again
		}
		ix.relbuf(buf)
		buf, blk = rbuf, next
	}
	ix.relbuf(buf)
	return buffer.InvalidBuffer, 0, fmt.Errorf("%w: right-link chain does not end", ErrCorrupt)
}

// insertOnPage puts tup at offset off of the exclusively locked page buf,
// splitting it if it is full (_bt_insertonpg). For an insertion into an
// internal page, cbuf is the left child of the split whose downlink this
// is, still exclusively locked: the record also clears its
// BTP_INCOMPLETE_SPLIT flag, so the split is complete atomically with the
// downlink. It releases buf and cbuf (and everything a split locks).
func (ix *Index) insertOnPage(buf buffer.Buffer, blk uint32, stack []stackEntry, tup []byte, off page.OffsetNumber, cbuf buffer.Buffer, cblk uint32) error {
	p := ix.cfg.Pool
	pg := p.BufferGetPage(buf)
	o := getOpaque(pg)
	if o.flags&FlagIncompleteSplit != 0 {
		ix.e.Panicf("nbtree: relation %d: insertion into block %d whose split is incomplete", ix.cfg.Rel, blk)
	}
	if !ix.fits(pg, 1, maxAlign(len(tup))) {
		isRoot := o.flags&FlagRoot != 0
		rbuf, rblk, err := ix.split(buf, blk, off, tup, cbuf, cblk)
		if cbuf != buffer.InvalidBuffer {
			ix.relbuf(cbuf)
		}
		if err != nil {
			ix.relbuf(buf)
			return err
		}
		return ix.insertParent(buf, blk, rbuf, rblk, stack, isRoot, o.level)
	}
	info := InfoInsertLeaf
	if !o.isLeaf() {
		info = InfoInsertUpper
	}
	var cpg []byte
	bufs := []buffer.Buffer{buf}
	if cbuf != buffer.InvalidBuffer {
		cpg = p.BufferGetPage(cbuf)
		bufs = append(bufs, cbuf)
	}
	ix.logChange(info, bufs, func() {
		if _, err := page.AddItemExtended(pg, tup, off, 0); err != nil {
			ix.e.Panicf("nbtree: relation %d: failed to add item to block %d: %v", ix.cfg.Rel, blk, err)
		}
		if cpg != nil {
			clearIncompleteSplit(cpg)
		}
	}, func() wal.Body {
		body := wal.Body{
			Blocks: []wal.BlockRef{ix.blockRef(0, blk, pg, tup, false)},
			Main:   binary.LittleEndian.AppendUint16(nil, uint16(off)),
		}
		if cpg != nil {
			body.Blocks = append(body.Blocks, ix.blockRef(1, cblk, cpg, nil, false))
		}
		return body
	})
	ix.relbuf(buf)
	if cbuf != buffer.InvalidBuffer {
		ix.relbuf(cbuf)
	}
	return nil
}

func clearIncompleteSplit(pg []byte) {
	o := getOpaque(pg)
	o.flags &^= FlagIncompleteSplit
	setOpaque(pg, o)
}

// split divides the full, exclusively locked page buf into itself and a
// new right sibling, with tup going in at off (_bt_split). It returns the
// new page, still exclusively locked; buf stays locked too and carries
// BTP_INCOMPLETE_SPLIT until its downlink is in the parent. The old right
// sibling is locked (left to right) to repoint its left-link. One record
// logs all of it.
func (ix *Index) split(buf buffer.Buffer, blk uint32, off page.OffsetNumber, tup []byte, cbuf buffer.Buffer, cblk uint32) (buffer.Buffer, uint32, error) {
	p := ix.cfg.Pool
	pg := p.BufferGetPage(buf)
	o := getOpaque(pg)
	first, maxOff := o.firstDataKey(), page.MaxOffset(pg)
	if off < first || off > maxOff+1 {
		ix.e.Panicf("nbtree: relation %d: new item offset %d outside [%d, %d] of block %d", ix.cfg.Rel, off, first, maxOff+1, blk)
	}
	if o.isLeaf() {
		ix.e.Sometimes("btree-leaf-split")
	} else {
		ix.e.Sometimes("btree-internal-split")
	}
	// The items in order, with the new one in place. They are copied: the
	// page is rebuilt below.
	items := make([][]byte, 0, int(maxOff)+1)
	for i := first; i <= maxOff+1; i++ {
		if i == off {
			items = append(items, tup)
		}
		if i <= maxOff {
			items = append(items, append([]byte(nil), page.GetItem(pg, i)...))
		}
	}
	n := len(items)
	hasHK := !o.rightmost()
	s := n / 2
	if o.rightmost() && int(off) == int(maxOff)+1 {
		ff := leafFillFactor
		if !o.isLeaf() {
			ff = nonLeafFillFactor
		}
		s = n * ff / 100
	}
	lo, hi := 1, n-1
	if c := ix.cfg.MaxTuplesPerPage; c > 0 {
		hi = min(hi, c-1) // the left half also gets a high key
		extra := 0
		if hasHK {
			extra = 1
		}
		lo = max(lo, n+extra-c)
	}
	s = max(lo, min(s, hi))
	if lo > hi {
		ix.e.Panicf("nbtree: relation %d: no split point for %d items", ix.cfg.Rel, n)
	}
	firstRight := items[s]
	hk, inf := ix.mustKey(firstRight)
	if inf {
		ix.e.Panicf("nbtree: relation %d: split at the minus-infinity item of block %d", ix.cfg.Rel, blk)
	}

	rbuf, rblk, err := ix.newPage()
	if err != nil {
		return buffer.InvalidBuffer, 0, err
	}
	if o.isLeaf() {
		ix.predicateLockPageSplit(blk, rblk)
	}
	sbuf := buffer.InvalidBuffer
	if !o.rightmost() {
		if sbuf, err = ix.getbuf(o.next, buffer.Exclusive); err != nil {
			ix.relbuf(rbuf)
			return buffer.InvalidBuffer, 0, err
		}
		if so := getOpaque(p.BufferGetPage(sbuf)); so.prev != blk {
			ix.relbuf(sbuf)
			ix.relbuf(rbuf)
			return buffer.InvalidBuffer, 0, fmt.Errorf("%w: right sibling %d of block %d has left-link %d",
				ErrCorrupt, o.next, blk, so.prev)
		}
	}

	// Build both halves in private pages first (_bt_split's leftpage
	// workspace), then copy them in inside the critical section
	// (logChange's change).
	left := make([]byte, page.BlockSize)
	initPage(left, opaque{prev: o.prev, next: rblk, level: o.level,
		flags: o.flags&^(FlagRoot|FlagIncompleteSplit) | FlagIncompleteSplit})
	ix.mustAdd(left, pivotTuple(hk, 0, false))
	for _, it := range items[:s] {
		ix.mustAdd(left, it)
	}
	right := make([]byte, page.BlockSize)
	initPage(right, opaque{prev: blk, next: o.next, level: o.level, flags: o.flags &^ (FlagRoot | FlagIncompleteSplit)})
	if hasHK {
		ix.mustAdd(right, append([]byte(nil), page.GetItem(pg, page.FirstOffset)...))
	}
	for i, it := range items[s:] {
		if i == 0 && !o.isLeaf() {
			// The first data item of an internal page is minus
			// infinity: its key moved up as the separator.
			it = pivotTuple(bkey{}, childOf(it), true)
		}
		ix.mustAdd(right, it)
	}

	info := InfoSplitR
	if int(off) < int(first)+s {
		info = InfoSplitL
	}
	rpg := p.BufferGetPage(rbuf)
	bufs := []buffer.Buffer{buf, rbuf}
	var spg, cpg []byte
	if sbuf != buffer.InvalidBuffer {
		spg = p.BufferGetPage(sbuf)
		bufs = append(bufs, sbuf)
	}
	if cbuf != buffer.InvalidBuffer {
		cpg = p.BufferGetPage(cbuf)
		bufs = append(bufs, cbuf)
	}
	ix.logChange(info, bufs, func() {
		lsn := buffer.PageGetLSN(pg)
		copy(pg, left)
		buffer.PageSetLSN(pg, lsn)
		copy(rpg, right)
		if spg != nil {
			so := getOpaque(spg)
			so.prev = rblk
			setOpaque(spg, so)
		}
		if cpg != nil {
			clearIncompleteSplit(cpg)
		}
	}, func() wal.Body {
		body := wal.Body{Blocks: []wal.BlockRef{
			ix.blockRef(0, blk, pg, nil, true),
			ix.blockRef(1, rblk, rpg, nil, true),
		}}
		body.Blocks[1].WillInit = true
		if spg != nil {
			body.Blocks = append(body.Blocks, ix.blockRef(2, o.next, spg, nil, false))
		}
		if cpg != nil {
			body.Blocks = append(body.Blocks, ix.blockRef(3, cblk, cpg, nil, false))
		}
		var m [8]byte
		binary.LittleEndian.PutUint32(m[0:], o.level)
		binary.LittleEndian.PutUint16(m[4:], uint16(int(first)+s))
		binary.LittleEndian.PutUint16(m[6:], uint16(off))
		body.Main = m[:]
		return body
	})
	if sbuf != buffer.InvalidBuffer {
		ix.relbuf(sbuf)
	}
	return rbuf, rblk, nil
}

// mustAdd appends an item to a page being built; it must fit.
func (ix *Index) mustAdd(pg []byte, it []byte) {
	if _, err := page.AddItemExtended(pg, it, page.InvalidOffset, 0); err != nil {
		ix.e.Panicf("nbtree: relation %d: split half overflows: %v", ix.cfg.Rel, err)
	}
}

// insertParent inserts the downlink for the new right page rbuf into the
// parent of lbuf (_bt_insert_parent), both still exclusively locked. The
// parent is locked while the children are held (bottom-up, as the README
// allows: no process holds a parent while waiting for a child), then the
// right child is released; the left child is released once its
// incomplete-split flag is cleared with the downlink's record. A root split
// makes a new root instead.
func (ix *Index) insertParent(lbuf buffer.Buffer, lblk uint32, rbuf buffer.Buffer, rblk uint32, stack []stackEntry, isRoot bool, level uint32) error {
	if isRoot {
		return ix.newRoot(lbuf, lblk, rbuf, rblk, level)
	}
	hk, _ := ix.mustKey(page.GetItem(ix.cfg.Pool.BufferGetPage(lbuf), page.FirstOffset))
	var parent stackEntry
	if len(stack) == 0 {
		// The descent started at a root that has split since: find the
		// parent level's leftmost page and search right from there, as
		// _bt_insert_parent does with _bt_get_endpoint.
		pblk, err := ix.leftmostAt(level + 1)
		if err != nil {
			ix.relbuf(rbuf)
			ix.relbuf(lbuf)
			return err
		}
		parent = stackEntry{blk: pblk, off: page.InvalidOffset}
	} else {
		parent = stack[len(stack)-1]
		stack = stack[:len(stack)-1]
	}
	pbuf, pblk, poff, err := ix.getStackBuf(parent, lblk, stack)
	ix.relbuf(rbuf)
	if err != nil {
		ix.relbuf(lbuf)
		return err
	}
	return ix.insertOnPage(pbuf, pblk, stack, pivotTuple(hk, rblk, false), poff+1, lbuf, lblk)
}

// getStackBuf exclusively locks the parent page that holds the downlink to
// child and returns it with the downlink's offset (_bt_getstackbuf). The
// parent may have split since the descent: the downlink is looked for
// around the remembered offset, then on the pages to the right. An
// incomplete split of the parent is finished first.
func (ix *Index) getStackBuf(ent stackEntry, child uint32, stack []stackEntry) (buffer.Buffer, uint32, page.OffsetNumber, error) {
	p := ix.cfg.Pool
	blk, start := ent.blk, ent.off
	for steps := 0; steps < maxChainSteps; steps++ {
		buf, err := ix.getbuf(blk, buffer.Exclusive)
		if err != nil {
			return buffer.InvalidBuffer, 0, 0, err
		}
		pg := p.BufferGetPage(buf)
		o := getOpaque(pg)
		if o.flags&FlagIncompleteSplit != 0 {
			if err := ix.finishSplit(buf, blk, stack); err != nil {
				return buffer.InvalidBuffer, 0, 0, err
			}
			continue
		}
		first, maxOff := o.firstDataKey(), page.MaxOffset(pg)
		start = max(start, first)
		for off := start; off <= maxOff; off++ {
			if childOf(page.GetItem(pg, off)) == child {
				return buf, blk, off, nil
			}
		}
		for off := min(start, maxOff+1) - 1; off >= first; off-- {
			if childOf(page.GetItem(pg, off)) == child {
				return buf, blk, off, nil
			}
		}
		if o.rightmost() {
			ix.relbuf(buf)
			return buffer.InvalidBuffer, 0, 0, fmt.Errorf("%w: failed to re-find parent key in index %d for split pages %d",
				ErrCorrupt, ix.cfg.Rel, child)
		}
		blk, start = o.next, page.InvalidOffset
		ix.relbuf(buf)
	}
	return buffer.InvalidBuffer, 0, 0, fmt.Errorf("%w: parent chain does not end", ErrCorrupt)
}

// leftmostAt returns the leftmost page of a level (_bt_get_endpoint),
// descending along first downlinks with one share lock at a time.
func (ix *Index) leftmostAt(level uint32) (uint32, error) {
	m, err := ix.readMeta()
	if err != nil {
		return 0, err
	}
	blk := m.root
	for steps := 0; steps < maxChainSteps; steps++ {
		buf, err := ix.getbuf(blk, buffer.Share)
		if err != nil {
			return 0, err
		}
		pg := ix.cfg.Pool.BufferGetPage(buf)
		o := getOpaque(pg)
		if o.level == level {
			ix.relbuf(buf)
			return blk, nil
		}
		if o.level < level || page.MaxOffset(pg) < o.firstDataKey() {
			ix.relbuf(buf)
			return 0, fmt.Errorf("%w: no page at level %d", ErrCorrupt, level)
		}
		child := childOf(page.GetItem(pg, o.firstDataKey()))
		ix.relbuf(buf)
		blk = child
	}
	return 0, fmt.Errorf("%w: descent does not end", ErrCorrupt)
}

// finishSplit completes a split whose parent insertion was lost to a crash
// (_bt_finish_split): lbuf is exclusively locked and flagged
// BTP_INCOMPLETE_SPLIT. It locks the right sibling and inserts the missing
// downlink (or makes a new root, if the metapage still names lbuf as the
// root). It releases lbuf.
func (ix *Index) finishSplit(lbuf buffer.Buffer, lblk uint32, stack []stackEntry) error {
	o := getOpaque(ix.cfg.Pool.BufferGetPage(lbuf))
	if o.rightmost() {
		ix.relbuf(lbuf)
		return fmt.Errorf("%w: block %d has an incomplete split but no right sibling", ErrCorrupt, lblk)
	}
	ix.e.Sometimes("btree-finish-split")
	rbuf, err := ix.getbuf(o.next, buffer.Exclusive)
	if err != nil {
		ix.relbuf(lbuf)
		return err
	}
	m, err := ix.readMeta()
	if err != nil {
		ix.relbuf(rbuf)
		ix.relbuf(lbuf)
		return err
	}
	return ix.insertParent(lbuf, lblk, rbuf, o.next, stack, m.root == lblk, o.level)
}

// newRoot makes a new root above the two halves of a root split
// (_bt_newroot): a new page with a minus-infinity downlink to the left half
// and the left half's high key as the downlink to the right half, and the
// metapage pointing at it, in one record. It releases every buffer.
func (ix *Index) newRoot(lbuf buffer.Buffer, lblk uint32, rbuf buffer.Buffer, rblk uint32, level uint32) error {
	ix.e.Sometimes("btree-root-split")
	p := ix.cfg.Pool
	lpg := p.BufferGetPage(lbuf)
	hk, _ := ix.mustKey(page.GetItem(lpg, page.FirstOffset))
	nbuf, nblk, err := ix.newPage()
	if err != nil {
		ix.relbuf(rbuf)
		ix.relbuf(lbuf)
		return err
	}
	mbuf, err := ix.read(MetaBlock)
	if err != nil {
		ix.relbuf(nbuf)
		ix.relbuf(rbuf)
		ix.relbuf(lbuf)
		return err
	}
	p.LockBuffer(mbuf, buffer.Exclusive)
	npg, mpg := p.BufferGetPage(nbuf), p.BufferGetPage(mbuf)
	item, err := metaItem(mpg)
	if err != nil {
		for _, b := range []buffer.Buffer{mbuf, nbuf, rbuf, lbuf} {
			ix.relbuf(b)
		}
		return err
	}
	m := meta{root: nblk, level: level + 1}
	defer ix.dropMetaCache()
	mdata := encodeMeta(m)
	ix.logChange(InfoNewRoot, []buffer.Buffer{nbuf, lbuf, mbuf}, func() {
		initPage(npg, opaque{prev: NoBlock, next: NoBlock, level: level + 1, flags: FlagRoot})
		ix.mustAdd(npg, pivotTuple(bkey{}, lblk, true))
		ix.mustAdd(npg, pivotTuple(hk, rblk, false))
		clearIncompleteSplit(lpg)
		copy(item, mdata)
	}, func() wal.Body {
		body := wal.Body{Blocks: []wal.BlockRef{
			ix.blockRef(0, nblk, npg, nil, true),
			ix.blockRef(1, lblk, lpg, nil, false),
			ix.blockRef(2, MetaBlock, mpg, mdata, false),
		}}
		body.Blocks[0].WillInit = true
		var mm [8]byte
		binary.LittleEndian.PutUint32(mm[0:], nblk)
		binary.LittleEndian.PutUint32(mm[4:], level+1)
		body.Main = mm[:]
		return body
	})
	for _, b := range []buffer.Buffer{mbuf, nbuf, rbuf, lbuf} {
		ix.relbuf(b)
	}
	return nil
}
