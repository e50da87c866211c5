package nbtree

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/page"
)

// maxChainSteps bounds every walk along right-links and every descent. A
// tree this engine builds never comes near it; reaching it means a cycle of
// links, which is corruption.
const maxChainSteps = 1 << 24

// stackEntry is BTStackData: a page passed on the way down and the offset
// of the downlink followed, so that an insertion can find the parent again
// (_bt_getstackbuf) after a split below.
type stackEntry struct {
	blk uint32
	off page.OffsetNumber
}

// Entry is one index entry: a key and the heap TID it points at.
type Entry struct {
	Key uint64
	TID page.ItemPointer
}

// search descends from the root to the leaf that key belongs on
// (_bt_search) and returns it locked, with its block number and the stack
// of internal pages passed (root first). Internal pages are share-locked
// one at a time: the lock on a parent is released before the child is
// locked, which is safe because a concurrent split of the child only moves
// keys to the right, where _bt_moveright finds them. forWrite asks for the
// leaf exclusively locked, and for incomplete splits met on the way to be
// finished, as BT_WRITE does.
func (ix *Index) search(key bkey, forWrite bool) (buffer.Buffer, uint32, []stackEntry, error) {
	p := ix.cfg.Pool
	var (
		buf  buffer.Buffer
		blk  uint32
		mode buffer.LockMode
		err  error
	)
	// At most two tries: from the cached metapage, validated, then from a
	// freshly read one, which is used as it is (during a root split the
	// metapage may name a page that has just lost its root flag; the
	// descent moves right from it as before).
	for try := 0; ; try++ {
		m, fromCache, merr := ix.metaForSearch()
		if merr != nil {
			return buffer.InvalidBuffer, 0, nil, merr
		}
		blk = m.root
		// The root is locked exclusively at once when it is a leaf and we
		// are inserting; if the root split since we read the metapage, the
		// lock is merely stronger than needed.
		mode = buffer.Share
		if forWrite && m.level == 0 {
			mode = buffer.Exclusive
		}
		if buf, err = ix.getbuf(blk, mode); err != nil {
			return buffer.InvalidBuffer, 0, nil, err
		}
		if !fromCache || try > 0 {
			break
		}
		if o := getOpaque(p.BufferGetPage(buf)); o.flags&FlagRoot != 0 && o.level == m.level {
			break
		}
		ix.relbuf(buf)
		ix.dropMetaCache()
	}
	var stack []stackEntry
	for steps := 0; ; steps++ {
		if steps > maxChainSteps {
			ix.relbuf(buf)
			return buffer.InvalidBuffer, 0, nil, fmt.Errorf("%w: descent does not end", ErrCorrupt)
		}
		buf, blk, err = ix.moveright(buf, blk, key, mode, forWrite, stack)
		if err != nil {
			return buffer.InvalidBuffer, 0, nil, err
		}
		pg := p.BufferGetPage(buf)
		o := getOpaque(pg)
		if o.isLeaf() {
			if forWrite && mode != buffer.Exclusive {
				// We reached a leaf with a share lock (the tree grew
				// under us): trade it for an exclusive one and move
				// right again, since the page may split in between.
				p.UnlockBuffer(buf)
				p.LockBuffer(buf, buffer.Exclusive)
				mode = buffer.Exclusive
				continue
			}
			return buf, blk, stack, nil
		}
		off := ix.binsrchInternal(pg, o, key)
		child := childOf(page.GetItem(pg, off))
		stack = append(stack, stackEntry{blk: blk, off: off})
		mode = buffer.Share
		if forWrite && o.level == 1 {
			mode = buffer.Exclusive
		}
		ix.relbuf(buf)
		if buf, err = ix.getbuf(child, mode); err != nil {
			return buffer.InvalidBuffer, 0, nil, err
		}
		blk = child
	}
}

// moveright follows right-links while key is at or beyond the page's high
// key (_bt_moveright): a concurrent split moved the key range there. The
// lock on each page is released before the next is taken. With forWrite,
// an incomplete split (its parent insertion lost in a crash) is finished
// first, as _bt_moveright does for BT_WRITE, so that no insertion ever
// lands on a page that has no downlink.
func (ix *Index) moveright(buf buffer.Buffer, blk uint32, key bkey, mode buffer.LockMode, forWrite bool, stack []stackEntry) (buffer.Buffer, uint32, error) {
	p := ix.cfg.Pool
	var err error
	for steps := 0; ; steps++ {
		if steps > maxChainSteps {
			ix.relbuf(buf)
			return buffer.InvalidBuffer, 0, fmt.Errorf("%w: right-link chain does not end at block %d", ErrCorrupt, blk)
		}
		pg := p.BufferGetPage(buf)
		o := getOpaque(pg)
		if forWrite && o.flags&FlagIncompleteSplit != 0 {
			if mode != buffer.Exclusive {
				p.UnlockBuffer(buf)
				p.LockBuffer(buf, buffer.Exclusive)
			}
			if getOpaque(pg).flags&FlagIncompleteSplit != 0 {
				if err := ix.finishSplit(buf, blk, stack); err != nil {
					return buffer.InvalidBuffer, 0, err
				}
			} else {
				ix.relbuf(buf)
			}
			if buf, err = ix.getbuf(blk, mode); err != nil {
				return buffer.InvalidBuffer, 0, err
			}
			continue
		}
		if o.rightmost() {
			return buf, blk, nil
		}
		hk, _ := ix.mustKey(page.GetItem(pg, page.FirstOffset))
		if compareKey(key, hk) < 0 {
			return buf, blk, nil
		}
		next := o.next
		ix.relbuf(buf)
		if buf, err = ix.getbuf(next, mode); err != nil {
			return buffer.InvalidBuffer, 0, err
		}
		blk = next
	}
}

// binsrchInternal returns the offset of the last pivot whose key is <= key
// on an internal page (_bt_binsrch for a non-leaf page): its child covers
// key. The first data item is minus infinity, so there always is one.
func (ix *Index) binsrchInternal(pg []byte, o opaque, key bkey) page.OffsetNumber {
	first := o.firstDataKey()
	maxOff := page.MaxOffset(pg)
	if maxOff < first {
		ix.e.Panicf("nbtree: relation %d: internal page without items", ix.cfg.Rel)
	}
	// Find the first item with a key > key in (first, maxOff].
	lo, hi := int(first)+1, int(maxOff)+1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k, _ := ix.mustKey(page.GetItem(pg, page.OffsetNumber(mid)))
		if compareKey(k, key) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return page.OffsetNumber(lo - 1)
}

// binsrchLeaf returns the offset of the first item with a key >= key on a
// leaf, or MaxOffset+1 when there is none (_bt_binsrch for a leaf).
func (ix *Index) binsrchLeaf(pg []byte, o opaque, key bkey) page.OffsetNumber {
	lo, hi := int(o.firstDataKey()), int(page.MaxOffset(pg))+1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		k, _ := ix.mustKey(page.GetItem(pg, page.OffsetNumber(mid)))
		if compareKey(k, key) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return page.OffsetNumber(lo)
}

// Search returns the TIDs of every entry with the given key, in TID order.
func (ix *Index) Search(key uint64) ([]page.ItemPointer, error) {
	var out []page.ItemPointer
	err := ix.Scan(key, key, func(e Entry) bool {
		out = append(out, e.TID)
		return true
	})
	return out, err
}

// Scan calls fn for every entry with lo <= key <= hi, in key and TID order,
// until fn returns false (_bt_first, then _bt_readpage and
// _bt_readnextpage). Each leaf's matching entries are copied while it is
// share-locked and fn runs with no lock held, so fn may do anything. Entries
// inserted during the scan may or may not be seen; every entry that was in
// the index for the whole scan is seen exactly once, because a split only
// moves entries right, onto a page the scan has not read yet.
func (ix *Index) Scan(lo, hi uint64, fn func(Entry) bool) error {
	return ix.scan(lo, hi, fn, nil)
}

// scan is Scan; leaf, when not nil, is called with each leaf page the
// scan reads while the page is still locked (predicate.go).
func (ix *Index) scan(lo, hi uint64, fn func(Entry) bool, leaf func(blk uint32)) error {
	if lo > hi {
		return nil
	}
	buf, blk, _, err := ix.search(bkey{k: lo}, false)
	if err != nil {
		return err
	}
	p := ix.cfg.Pool
	start := bkey{k: lo}
	batch := make([]Entry, 0, 64)
	for steps := 0; ; steps++ {
		if steps > maxChainSteps {
			ix.relbuf(buf)
			return fmt.Errorf("%w: leaf chain does not end at block %d", ErrCorrupt, blk)
		}
		pg := p.BufferGetPage(buf)
		o := getOpaque(pg)
		if leaf != nil {
			leaf(blk)
		}
		batch = batch[:0]
		more := !o.rightmost()
		maxOff := page.MaxOffset(pg)
		for off := ix.binsrchLeaf(pg, o, start); off <= maxOff; off++ {
			k, _ := ix.mustKey(page.GetItem(pg, off))
			if k.k > hi {
				more = false
				break
			}
			batch = append(batch, Entry{Key: k.k, TID: k.tid})
		}
		if more {
			// The high key bounds the right sibling from below: if it
			// is past hi, nothing to the right can match.
			hk, _ := ix.mustKey(page.GetItem(pg, page.FirstOffset))
			more = hk.k <= hi
		}
		next := o.next
		ix.relbuf(buf)
		for _, e := range batch {
			if !fn(e) {
				return nil
			}
		}
		if !more {
			return nil
		}
		if len(batch) > 0 {
			last := batch[len(batch)-1]
			start = bkey{k: last.Key, tid: last.TID}
			start.tid.Offset++ // just past the last entry returned
		}
		if buf, err = ix.getbuf(next, buffer.Share); err != nil {
			return err
		}
		blk = next
	}
}
