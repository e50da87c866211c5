package nbtree

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
)

// Check verifies the whole tree's structure, in the spirit of amcheck's
// bt_index_parent_check: the metapage names a root flagged BTP_ROOT at the
// metapage's level; on every page the items decode and are strictly
// ascending, the high key is present exactly when the page has a right
// sibling, and every item is at least the page's lower bound and below its
// high key; every downlink's child (together with the right siblings of an
// incomplete split, whose downlinks a crash lost) covers exactly the key
// range between the downlink's key and the next one, one level down; each
// level's pages, in downlink order, are exactly its right-link chain, with
// matching left-links, leaves at level 0; and every block of the relation is
// reachable, or new (an extension whose split record never became durable).
//
// It share-locks one page at a time, copying it, so it can run alongside
// other processes, but its verdict is only meaningful when no one changes
// the index meanwhile: the simulator runs it after recovery.
func (ix *Index) Check() error {
	m, err := ix.readMeta()
	if err != nil {
		return err
	}
	c := &checker{ix: ix, meta: m, visited: map[uint32]bool{}, levels: map[uint32][]uint32{}, pages: map[uint32]checkedPage{}}
	if err := c.subtree(m.root, nil, nil, m.level, true); err != nil {
		return err
	}
	for level := uint32(0); level <= m.level; level++ {
		if err := c.chain(level); err != nil {
			return err
		}
	}
	n, err := ix.cfg.SMgr.NBlocks(ix.cfg.Rel, smgr.MainForkNum)
	if err != nil {
		return err
	}
	for blk := uint32(1); blk < uint32(n); blk++ {
		if c.visited[blk] {
			continue
		}
		pg, err := c.copyPage(blk)
		if err != nil {
			return err
		}
		if !page.IsNew(pg) {
			return fmt.Errorf("%w: block %d is not reachable from the root", ErrCorrupt, blk)
		}
	}
	return nil
}

type checkedPage struct {
	o opaque
}

type checker struct {
	ix      *Index
	meta    meta
	visited map[uint32]bool
	levels  map[uint32][]uint32 // pages of each level in key order
	pages   map[uint32]checkedPage
}

func (c *checker) copyPage(blk uint32) ([]byte, error) {
	p := c.ix.cfg.Pool
	buf, err := c.ix.read(blk)
	if err != nil {
		return nil, err
	}
	p.LockBuffer(buf, buffer.Share)
	pg := append([]byte(nil), p.BufferGetPage(buf)...)
	p.UnlockReleaseBuffer(buf)
	return pg, nil
}

func errf(blk uint32, format string, args ...any) error {
	return fmt.Errorf("%w: block %d: %s", ErrCorrupt, blk, fmt.Sprintf(format, args...))
}

// subtree checks the pages reached by one downlink: blk and, while a page
// has an incomplete split, its right siblings. Together they cover
// [lo, hi) (nil: unbounded).
func (c *checker) subtree(blk uint32, lo, hi *bkey, level uint32, isRoot bool) error {
	for steps := 0; steps < maxChainSteps; steps++ {
		if c.visited[blk] {
			return errf(blk, "reached twice")
		}
		c.visited[blk] = true
		pg, err := c.copyPage(blk)
		if err != nil {
			return err
		}
		if err := page.CheckPage(pg); err != nil {
			return errf(blk, "%v", err)
		}
		if page.SpecialSize(pg) != opaqueSize {
			return errf(blk, "special space of %d bytes", page.SpecialSize(pg))
		}
		o := getOpaque(pg)
		c.pages[blk] = checkedPage{o: o}
		c.levels[level] = append(c.levels[level], blk)
		switch {
		case o.flags&^validFlags != 0 || o.flags&FlagMeta != 0:
			return errf(blk, "flags %#x", o.flags)
		case o.level != level:
			return errf(blk, "level %d, want %d", o.level, level)
		case o.isLeaf() != (level == 0):
			return errf(blk, "leaf flag %v at level %d", o.isLeaf(), level)
		case (o.flags&FlagRoot != 0) != (isRoot && steps == 0 && o.flags&FlagIncompleteSplit == 0):
			// A root whose split lost its new root to a crash is no
			// longer flagged root (_bt_split cleared it) but is still
			// the metapage's root until the split is finished.
			return errf(blk, "root flag %v, metapage root is %d", o.flags&FlagRoot != 0, c.meta.root)
		}
		if isRoot && steps == 0 && (!o.leftmost() || (!o.rightmost() && o.flags&FlagIncompleteSplit == 0)) {
			return errf(blk, "root has siblings %d and %d", o.prev, o.next)
		}
		var hk *bkey
		if !o.rightmost() {
			if page.MaxOffset(pg) < 1 {
				return errf(blk, "no high key")
			}
			it := page.GetItem(pg, page.FirstOffset)
			k, inf, err := itemKey(it)
			if err != nil || inf || !isPivot(it) {
				return errf(blk, "bad high key (%v)", err)
			}
			hk = &k
			if lo != nil && compareKey(k, *lo) <= 0 {
				return errf(blk, "high key %v not above the lower bound %v", k, *lo)
			}
		}
		if err := c.items(blk, pg, o, lo, hk, level); err != nil {
			return err
		}
		if o.flags&FlagIncompleteSplit != 0 {
			if hk == nil {
				return errf(blk, "incomplete split without a right sibling")
			}
			if hi != nil && compareKey(*hk, *hi) >= 0 {
				return errf(blk, "incomplete split with high key %v beyond the parent's bound %v", *hk, *hi)
			}
			lo, blk = hk, o.next
			continue
		}
		switch {
		case hi == nil && hk != nil:
			return errf(blk, "has a right sibling (%d) but its parent's range is unbounded", o.next)
		case hi != nil && hk == nil:
			return errf(blk, "is rightmost but its parent bounds it by %v", *hi)
		case hi != nil && compareKey(*hk, *hi) != 0:
			return errf(blk, "high key %v differs from the parent's next separator %v", *hk, *hi)
		}
		return nil
	}
	return errf(blk, "incomplete-split chain does not end")
}

// items checks one page's data items and descends into an internal page's
// children.
func (c *checker) items(blk uint32, pg []byte, o opaque, lo, hk *bkey, level uint32) error {
	first, maxOff := o.firstDataKey(), page.MaxOffset(pg)
	type down struct {
		child uint32
		key   *bkey
	}
	var downs []down
	var prev *bkey
	for off := first; off <= maxOff; off++ {
		it := page.GetItem(pg, off)
		k, inf, err := itemKey(it)
		if err != nil {
			return errf(blk, "item %d: %v", off, err)
		}
		if isPivot(it) == o.isLeaf() {
			return errf(blk, "item %d: pivot %v on a page with leaf flag %v", off, isPivot(it), o.isLeaf())
		}
		if !o.isLeaf() {
			if inf != (off == first) {
				return errf(blk, "item %d: minus infinity %v", off, inf)
			}
			child := childOf(it)
			if child == MetaBlock || child == NoBlock {
				return errf(blk, "item %d: downlink to block %d", off, child)
			}
			if inf {
				downs = append(downs, down{child: child, key: lo})
				continue
			}
			kk := k
			downs = append(downs, down{child: child, key: &kk})
		} else if !k.tid.IsValid() {
			return errf(blk, "item %d: invalid heap TID", off)
		}
		if prev != nil && compareKey(*prev, k) >= 0 {
			return errf(blk, "item %d: key %v not above %v", off, k, *prev)
		}
		if lo != nil && compareKey(k, *lo) < 0 {
			return errf(blk, "item %d: key %v below the lower bound %v", off, k, *lo)
		}
		if hk != nil && compareKey(k, *hk) >= 0 {
			return errf(blk, "item %d: key %v not below the high key %v", off, k, *hk)
		}
		kk := k
		prev = &kk
	}
	if !o.isLeaf() && len(downs) == 0 {
		return errf(blk, "internal page without downlinks")
	}
	for i, d := range downs {
		var next *bkey
		if i+1 < len(downs) {
			next = downs[i+1].key
		} else {
			next = hk
		}
		if err := c.subtree(d.child, d.key, next, level-1, false); err != nil {
			return err
		}
	}
	return nil
}

// chain checks that a level's pages in key order are its right-link chain
// and that the left-links mirror it.
func (c *checker) chain(level uint32) error {
	blks := c.levels[level]
	if len(blks) == 0 {
		return fmt.Errorf("%w: level %d has no pages", ErrCorrupt, level)
	}
	for i, blk := range blks {
		o := c.pages[blk].o
		wantPrev, wantNext := NoBlock, NoBlock
		if i > 0 {
			wantPrev = blks[i-1]
		}
		if i+1 < len(blks) {
			wantNext = blks[i+1]
		}
		if o.prev != wantPrev || o.next != wantNext {
			return errf(blk, "level %d links prev %d next %d, want %d and %d", level, o.prev, o.next, wantPrev, wantNext)
		}
	}
	return nil
}
