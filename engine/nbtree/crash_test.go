package nbtree_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// crashRun inserts keys in a seeded order through a small pool (so that
// evictions write pages, torn or not, before the crash), takes a checkpoint
// at a seeded point, flushes the WAL after a seeded number of inserts, goes
// on inserting without flushing, and loses power. Recovery replays the WAL
// from the last REDO pointer. Every insert before the flush point must be
// there; the survivors must be a prefix of the insert order (the WAL is
// replayed in order); Check must pass; and the index must take more
// inserts afterwards.
func crashRun(t *testing.T, seed uint64, mode world.CrashMode) {
	rng := world.NewRand(seed)
	n := 300 + rng.Intn(900)
	flushAt := rng.Intn(n)
	ckptAt := rng.Intn(n)
	maxTuples := []int{4, 6, 0}[rng.Intn(3)]
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = rng.Uint64() % 100000
	}
	var redo wal.LSN
	node := sim(t, seed, func(e *env.Env) {
		f := newFixture(e, 12, maxTuples, &redo)
		for i, k := range keys {
			ok(f.ix.Insert(k, tid(i)))
			if i == ckptAt {
				f.checkpoint()
			}
			if i == flushAt {
				f.w.Flush(f.w.InsertLSN())
			}
		}
	})
	node.Disk.Crash(world.NewRand(seed^0x9e3779b97f4a7c15), mode)
	reboot(t, node, func(e *env.Env) {
		f, recs := recoverIndex(e, redo, 16, maxTuples)
		ok(f.ix.Check())
		present := map[nbtree.Entry]bool{}
		for _, ent := range f.all() {
			present[ent] = true
		}
		survivors := 0
		for i, k := range keys {
			if !present[nbtree.Entry{Key: k, TID: tid(i)}] {
				break
			}
			survivors++
		}
		check(survivors > flushAt, "seed %d: insert %d of %d lost; flushed through %d", seed, survivors, n, flushAt)
		check(survivors == len(present), "seed %d: %d entries present but only the first %d inserts survived in order",
			seed, len(present), survivors)

		// Replaying the same records again changes nothing.
		before := snapshot(f)
		for _, rec := range recs {
			ok(nbtree.Redo(e, f.pool, f.sm, rec))
		}
		check(bytes.Equal(before, snapshot(f)), "seed %d: second redo changed pages", seed)

		// The recovered index goes on working, including finishing
		// any split whose parent insertion the crash cut off.
		for i := 0; i < 200; i++ {
			ok(f.ix.Insert(uint64(100000+i), tid(i)))
		}
		ok(f.ix.Check())
	})
}

// snapshot concatenates every page of the index as the pool holds it.
func snapshot(f *fixture) []byte {
	n, err := f.sm.NBlocks(rel, smgr.MainForkNum)
	ok(err)
	var out []byte
	for blk := smgr.BlockNumber(0); blk < n; blk++ {
		b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
		ok(err)
		f.pool.LockBuffer(b, buffer.Share)
		start := len(out)
		out = append(out, f.pool.BufferGetPage(b)...)
		// pd_checksum is only meaningful on disk: a buffer read from
		// disk holds the stamped one, a restored image a stale one.
		clear(out[start+8 : start+10])
		f.pool.UnlockReleaseBuffer(b)
	}
	return out
}

func TestCrashRecovery(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 8
	}
	for _, mode := range []world.CrashMode{world.CrashTorn, world.CrashDropAll} {
		for seed := uint64(1); seed <= uint64(seeds); seed++ {
			t.Run(fmt.Sprintf("mode%d/seed%d", mode, seed), func(t *testing.T) {
				crashRun(t, seed, mode)
			})
		}
	}
}

// TestIncompleteSplitIsFinished cuts the WAL right after a split record,
// before its parent insertion, and checks that Check accepts the
// incomplete split and that the next insert finishes it.
func TestIncompleteSplitIsFinished(t *testing.T) {
	var redo wal.LSN
	var cut wal.LSN
	node := sim(t, 5, func(e *env.Env) {
		f := newFixture(e, 64, 4, &redo)
		for i := 0; i < 200 && cut == 0; i++ {
			before := f.w.InsertLSN()
			ok(f.ix.Insert(uint64(i), tid(i)))
			// Find a split of a non-root leaf: SPLIT then INSERT_UPPER.
			f.w.Flush(f.w.InsertLSN())
			r, err := wal.NewReader(e, walCfg, before, wal.InvalidLSN)
			ok(err)
			var infos []uint8
			var ends []wal.LSN
			for {
				rec, more, err := r.Next()
				ok(err)
				if !more {
					break
				}
				infos = append(infos, rec.Info)
				ends = append(ends, rec.LSN+wal.LSN(rec.EncodedSize()))
			}
			ok(r.Close())
			if len(infos) == 2 && infos[0] == nbtree.InfoSplitR && infos[1] == nbtree.InfoInsertUpper && i > 50 {
				cut = ends[0]
			}
		}
		check(cut != 0, "no leaf split found")
	})
	node.Disk.Crash(nil, world.CrashDropAll)
	reboot(t, node, func(e *env.Env) {
		// Recovery that stops at the cut: replay only records ending there.
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
		last := recs[len(recs)-1]
		w, err := wal.Open(e, walCfg, cut, last.LSN)
		ok(err)
		f := &fixture{e: e, w: w, redo: &redo}
		f.sm, f.pool = newStorage(e, w, 32)
		for _, rec := range recs {
			ok(nbtree.Redo(e, f.pool, f.sm, rec))
		}
		f.ix, err = nbtree.Open(e, f.config(4))
		ok(err)
		ok(f.ix.Check())
		n := len(f.all())
		for i := 0; i < n; i++ {
			tids, err := f.ix.Search(uint64(i))
			ok(err)
			check(len(tids) == 1, "key %d missing", i)
		}
		ok(f.ix.Insert(1000, tid(1000)))
		ok(f.ix.Check())
	})
	require.NotZero(t, cut)
	// The node's sometimes conditions saw it happen.
	for _, c := range []string{"btree-leaf-split", "btree-root-split", "btree-finish-split"} {
		require.True(t, node.Reached.Has(c), "%s not recorded: %v", c, node.Reached.Names())
	}
}
