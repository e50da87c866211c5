package nbtree_test

import (
	"cmp"
	"slices"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// The process-side test helpers every engine package shares (simtest/world/simt).
var (
	ok     = simt.Must
	check  = simt.Check
	sim    = simt.Sim
	reboot = simt.Reboot
)

const rel = smgr.RelFileNumber(16384)

var walCfg = wal.Config{SegmentSize: 1 << 20}

// fixture is a WAL, a storage manager, a buffer pool and one index, with a
// checkpoint REDO pointer that decides full-page images.
type fixture struct {
	e    *env.Env
	w    *wal.WAL
	sm   *smgr.SMgr
	pool *buffer.Pool
	ix   *nbtree.Index
	redo *wal.LSN // shared with the test, so it survives the simulation
}

func newStorage(e *env.Env, w *wal.WAL, nbuffers int) (*smgr.SMgr, *buffer.Pool) {
	sm, err := smgr.New(e, smgr.Config{})
	ok(err)
	pool, err := buffer.NewPool(e, buffer.Config{
		NBuffers: nbuffers, SMgr: sm, WAL: w, Verify: page.Verify, SetChecksum: page.SetChecksum,
	})
	ok(err)
	return sm, pool
}

func (f *fixture) config(maxTuples int) nbtree.Config {
	return nbtree.Config{
		Rel: rel, Pool: f.pool, SMgr: f.sm, WAL: f.w,
		NeedsFPI:         func(l wal.LSN) bool { return l <= *f.redo },
		MaxTuplesPerPage: maxTuples,
	}
}

// newFixture makes a fresh WAL and an empty index, then checkpoints, so
// that redo from *redo rebuilds every later change.
func newFixture(e *env.Env, nbuffers, maxTuples int, redo *wal.LSN) *fixture {
	ok(wal.Create(e, walCfg))
	w, err := wal.Open(e, walCfg, wal.FirstLSN, wal.InvalidLSN)
	ok(err)
	f := &fixture{e: e, w: w, redo: redo}
	f.sm, f.pool = newStorage(e, w, nbuffers)
	f.ix, err = nbtree.Create(e, f.config(maxTuples))
	ok(err)
	f.checkpoint()
	return f
}

// checkpoint is CreateCheckPoint's order, reduced: take the REDO pointer,
// write every dirty buffer (each write flushes WAL to its page's LSN first),
// fsync, then flush the WAL.
func (f *fixture) checkpoint() {
	f.w.WithInsertLock(func(next wal.LSN) { *f.redo = next })
	_, err := f.pool.BufferSync()
	ok(err)
	f.w.Flush(f.w.InsertLSN())
}

// recover opens the storage after a crash and replays every B-tree record
// from the REDO pointer to the end of valid WAL. It returns the records.
func recoverIndex(e *env.Env, redo wal.LSN, nbuffers, maxTuples int) (*fixture, []wal.Record) {
	r, err := wal.NewReader(e, walCfg, redo, wal.InvalidLSN)
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
	end, last := r.End(), r.Last()
	ok(r.Close())
	w, err := wal.Open(e, walCfg, end, last)
	ok(err)
	f := &fixture{e: e, w: w, redo: &redo}
	f.sm, f.pool = newStorage(e, w, nbuffers)
	for _, rec := range recs {
		check(rec.Rmid == nbtree.RMBtree, "record of rmgr %d", rec.Rmid)
		ok(nbtree.Redo(e, f.pool, f.sm, rec))
	}
	f.ix, err = nbtree.Open(e, f.config(maxTuples))
	ok(err)
	return f, recs
}

// all returns every entry in the index by a full scan.
func (f *fixture) all() []nbtree.Entry {
	var out []nbtree.Entry
	ok(f.ix.Scan(0, ^uint64(0), func(e nbtree.Entry) bool {
		out = append(out, e)
		return true
	}))
	return out
}

func tid(i int) page.ItemPointer {
	return page.ItemPointer{Block: uint32(i / 100), Offset: page.OffsetNumber(i%100 + 1)}
}

func compareEntry(a, b nbtree.Entry) int {
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.TID.Block, b.TID.Block); c != 0 {
		return c
	}
	return cmp.Compare(a.TID.Offset, b.TID.Offset)
}

// model is a sorted multiset of entries.
type model struct{ entries []nbtree.Entry }

func (m *model) insert(e nbtree.Entry) bool {
	i, found := slices.BinarySearchFunc(m.entries, e, compareEntry)
	if found {
		return false
	}
	m.entries = slices.Insert(m.entries, i, e)
	return true
}

func (m *model) delete(e nbtree.Entry) bool {
	i, found := slices.BinarySearchFunc(m.entries, e, compareEntry)
	if found {
		m.entries = slices.Delete(m.entries, i, i+1)
	}
	return found
}

func (m *model) scan(lo, hi uint64) []nbtree.Entry {
	var out []nbtree.Entry
	for _, e := range m.entries {
		if e.Key >= lo && e.Key <= hi {
			out = append(out, e)
		}
	}
	return out
}
