package nbtree_test

import (
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
)

// A handle whose cached metapage went stale (another handle's inserts split
// the root since) still finds every key and can insert: the cached root is
// validated and re-read, and even a stale root only costs moves right, as
// in Lehman and Yao's tree.
func TestStaleMetaCache(t *testing.T) {
	var redo wal.LSN
	sim(t, 1, func(e *env.Env) {
		f := newFixture(e, 64, 4, &redo)
		other, err := nbtree.Open(e, f.config(4))
		ok(err)
		tid := func(k uint64) page.ItemPointer { return page.ItemPointer{Block: uint32(k), Offset: 1} }
		for k := uint64(0); k < 400; k++ {
			// Grow the tree through the other handle, level by level, and
			// read through the reader's cached metapage between inserts.
			ok(other.Insert(k, tid(k)))
			if k%7 == 0 {
				got, err := f.ix.Search(k / 2)
				ok(err)
				check(len(got) == 1 && got[0] == tid(k/2), "key %d: %v", k/2, got)
			}
		}
		// The stale handle inserts too: its descent starts below the new
		// root, so splits must find their parents without a full stack.
		for k := uint64(400); k < 800; k++ {
			ok(f.ix.Insert(k, tid(k)))
		}
		for k := uint64(0); k < 800; k++ {
			got, err := other.Search(k)
			ok(err)
			check(len(got) == 1 && got[0] == tid(k), "key %d: %v after root splits", k, got)
		}
		ok(f.ix.Check())
	})
}
