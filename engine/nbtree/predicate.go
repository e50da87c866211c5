package nbtree

import "github.com/pgdst/pgdst/engine/page"

// PageSplitter is the predicate lock manager's side of a leaf split
// (predicate.c's PredicateLockPageSplit).
type PageSplitter interface {
	PageSplit(rel, oldBlk, newBlk uint32)
}

// predicateLockPageSplit is _bt_split's PredicateLockPageSplit: SIREAD
// locks on the leaf being split are copied to its new right sibling,
// before either page is changed, so that a serializable scan that read
// the page still conflicts with inserts into the keys that move right.
func (ix *Index) predicateLockPageSplit(oldBlk, newBlk uint32) {
	if ix.cfg.PredicateLocks != nil {
		ix.cfg.PredicateLocks.PageSplit(uint32(ix.cfg.Rel), oldBlk, newBlk)
	}
}

// ScanLocking is Scan for a serializable transaction: leaf is called with
// every leaf page the scan reads, while it is locked, so that the caller
// takes a SIREAD lock on it (_bt_readpage's and _bt_first's
// PredicateLockPage), covering the gaps between keys against phantoms.
func (ix *Index) ScanLocking(lo, hi uint64, fn func(Entry) bool, leaf func(blk uint32)) error {
	return ix.scan(lo, hi, fn, leaf)
}

// InsertChecked is Insert with conflictIn asked about the leaf page the
// entry goes to, while it is locked (_bt_doinsert's
// CheckForSerializableConflictIn); an error from it inserts nothing.
func (ix *Index) InsertChecked(key uint64, tid page.ItemPointer, conflictIn func(blk uint32) error) error {
	_, err := ix.doInsert(key, tid, nil, conflictIn)
	return err
}

// InsertUniqueChecked is InsertUnique with conflictIn as InsertChecked
// has it.
func (ix *Index) InsertUniqueChecked(key uint64, tid page.ItemPointer, isLive func(page.ItemPointer) (bool, uint64), conflictIn func(blk uint32) error) (uint64, error) {
	return ix.doInsert(key, tid, isLive, conflictIn)
}

// Rel is the index's relation number (a predicate lock target's).
func (ix *Index) Rel() uint32 { return uint32(ix.cfg.Rel) }
