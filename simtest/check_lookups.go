package simtest

import (
	"math"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/smgr"
)

// checkLookups reads back, key by key, every table whose index has split
// (more than its metapage and root leaf): every key a full scan shows must
// be found again by a search from the root, as amcheck's
// bt_index_parent_check(rootdescend => true) re-finds every leaf tuple. A
// search that stops short of a key moved right by a split (a wrong
// _bt_moveright or _bt_readpage bound) misses it here, though a full scan,
// which walks the leaves from the left, still shows it. Tables that never
// split are skipped: their one leaf leaves nothing to get wrong, and the
// check costs a search per row.
func checkLookups(d *db.DB, res *Result) {
	if res.IndexBlocksMax <= 2 {
		// No index split (the recovery's self-check measured them all):
		// nothing to do, and a run without a split runs as it did before
		// this check, step for step.
		return
	}
	var split []string
	for _, name := range d.Tables() {
		if def, ok := d.Catalog.Lookup(name); ok {
			if n, err := d.SMgr.NBlocks(def.Index, smgr.MainForkNum); err == nil && n > 2 {
				split = append(split, name)
			}
		}
	}
	s, err := d.Connect()
	if err != nil {
		res.found(stageFinding(StageConnect, err))
		res.fail(CheckRecovery, "connect after recovery: %v", err)
		return
	}
	defer s.Close()
	for _, name := range split {
		var keys []uint64
		// A key shown twice is the workload checkers' to judge (checkDB,
		// checkHistories), after the more specific ones; it is searched
		// for once here.
		if err := s.Scan(name, 0, math.MaxUint64, func(k uint64, _ []byte) bool {
			if len(keys) == 0 || keys[len(keys)-1] != k {
				keys = append(keys, k)
			}
			return true
		}); err != nil {
			res.found(selfFinding(SelfScan, name, 0, err))
			res.fail(CheckSelf, "scan of %s after recovery: %v", name, err)
			return
		}
		for _, k := range keys {
			_, found, err := s.Get(name, k)
			if err != nil {
				res.found(selfFinding(SelfSearch, name, k, err))
				res.fail(CheckSelf, "search of %s for key %d after recovery: %v", name, k, err)
				return
			}
			if !found {
				res.found(selfFinding(SelfRootDescend, name, k, nil))
				res.fail(CheckSelf, "key %d of %s is in a full scan, yet a search for it from the root finds no row (the index has split; amcheck's rootdescend)", k, name)
			}
		}
	}
}
