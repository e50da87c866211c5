package nbtree_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestDeleteOfTheHighKeyAfterIncompleteSplit: a search whose key equals a
// page's high key must move right (_bt_moveright: the key equal to the high
// key lives on the right sibling). Scans and uniqueness checks search with
// TID 0, which never equals a high key, but VACUUM's index deletes (and the
// inserts of updated rows) search with the entry's full key and TID, and a
// leaf's high key is the full key of its right sibling's first entry. Such
// a search meets the left page only when the parent has no downlink to the
// right one yet: here, a split cut off by a crash before its parent
// insertion. The first operation after recovery deletes exactly that
// entry; staying on the left page would miss it, and VACUUM would then
// free its heap slot under a dangling index entry. Mutant
// 36-nbtree-moveright-off-by-one fails here, so it is not equivalent.
func TestDeleteOfTheHighKeyAfterIncompleteSplit(t *testing.T) {
	var redo, cut wal.LSN
	var hk nbtree.Entry
	node := sim(t, 5, func(e *env.Env) {
		f := newFixture(e, 64, 4, &redo)
		for i := 0; i < 200 && cut == 0; i++ {
			before := f.w.InsertLSN()
			ok(f.ix.Insert(uint64(i), tid(i)))
			f.w.Flush(f.w.InsertLSN())
			r, err := wal.NewReader(e, walCfg, before, wal.InvalidLSN)
			ok(err)
			var recs []wal.Record
			for {
				rec, more, err := r.Next()
				ok(err)
				if !more {
					break
				}
				recs = append(recs, rec)
			}
			ok(r.Close())
			// A split of a non-root leaf: SPLIT then INSERT_UPPER.
			if len(recs) != 2 || recs[1].Info != nbtree.InfoInsertUpper || i <= 50 ||
				(recs[0].Info != nbtree.InfoSplitR && recs[0].Info != nbtree.InfoSplitL) {
				continue
			}
			d, err := nbtree.DecodeRecord(recs[0])
			ok(err)
			// The left half's image: its first item is the high key, a
			// pivot of the key (8 bytes, big-endian) and the TID.
			left := d.Body.Blocks[0].Image
			check(len(left) == page.BlockSize, "split record without the left page's image")
			item := page.GetItem(left, page.FirstOffset)[page.IndexTupleHeaderSize:]
			check(len(item) >= 14, "high key of %d bytes", len(item))
			hk = nbtree.Entry{Key: binary.BigEndian.Uint64(item[0:]), TID: page.ItemPointer{
				Block: binary.LittleEndian.Uint32(item[8:]), Offset: page.OffsetNumber(binary.LittleEndian.Uint16(item[12:]))}}
			cut = recs[0].LSN + wal.LSN(recs[0].EncodedSize())
		}
		check(cut != 0, "no leaf split found")
	})
	node.Disk.Crash(nil, world.CrashDropAll)
	reboot(t, node, func(e *env.Env) {
		r, err := wal.NewReader(e, walCfg, redo, wal.InvalidLSN)
		ok(err)
		var recs []wal.Record
		for {
			rec, more, err := r.Next()
			ok(err)
			if !more || rec.LSN+wal.LSN(rec.EncodedSize()) > cut {
				break
			}
			recs = append(recs, rec)
		}
		ok(r.Close())
		w, err := wal.Open(e, walCfg, cut, recs[len(recs)-1].LSN)
		ok(err)
		f := &fixture{e: e, w: w, redo: &redo}
		f.sm, f.pool = newStorage(e, w, 32)
		for _, rec := range recs {
			ok(nbtree.Redo(e, f.pool, f.sm, rec))
		}
		f.ix, err = nbtree.Open(e, f.config(4))
		ok(err)
		tids, err := f.ix.Search(hk.Key)
		ok(err)
		check(len(tids) == 1 && tids[0] == hk.TID, "high key %d %v: index holds %v", hk.Key, hk.TID, tids)
		deleted, err := f.ix.Delete(hk.Key, hk.TID)
		ok(err)
		check(deleted, "Delete of the entry %d %v equal to the incomplete split's high key found nothing", hk.Key, hk.TID)
		tids, err = f.ix.Search(hk.Key)
		ok(err)
		check(len(tids) == 0, "key %d still indexed after its delete: %v", hk.Key, tids)
		ok(f.ix.Check())
	})
	require.NotZero(t, cut)
	require.True(t, node.Reached.Has("btree-finish-split"), "the delete did not meet the incomplete split: %v", node.Reached.Names())
}
