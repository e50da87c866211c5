package nbtree_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestInsertSearchScanBasics fills one index with a few thousand entries in
// a shuffled order, with real page capacity, so the tree grows to two
// levels by splits alone, and checks every lookup and the structure.
func TestInsertSearchScanBasics(t *testing.T) {
	sim(t, 1, func(e *env.Env) {
		var redo wal.LSN
		f := newFixture(e, 64, 0, &redo)
		const n = 4000
		var m model
		for i := 0; i < n; i++ {
			k := uint64((i * 7919) % n) // a permutation of [0, n)
			ent := nbtree.Entry{Key: k / 2, TID: tid(i)}
			ok(f.ix.Insert(ent.Key, ent.TID))
			m.insert(ent)
		}
		ok(f.ix.Check())
		got := f.all()
		check(slices.Equal(got, m.entries), "scan differs from the model")
		for k := uint64(0); k < n/2; k++ {
			tids, err := f.ix.Search(k)
			ok(err)
			check(len(tids) == 2, "key %d: %d entries", k, len(tids))
		}
		tids, err := f.ix.Search(n)
		ok(err)
		check(len(tids) == 0, "absent key found")
		err = f.ix.Insert(0, m.scan(0, 0)[0].TID)
		check(errors.Is(err, nbtree.ErrDuplicateEntry), "duplicate entry: %v", err)
	})
}

// TestDeepTree uses 4 items a page so that 3000 keys give a tree of six or
// more levels with many root splits, in ascending, descending and random
// order.
func TestDeepTree(t *testing.T) {
	for _, order := range []string{"asc", "desc", "random"} {
		t.Run(order, func(t *testing.T) {
			node := sim(t, 2, func(e *env.Env) {
				var redo wal.LSN
				f := newFixture(e, 128, 4, &redo)
				const n = 3000
				var m model
				for i := 0; i < n; i++ {
					var k uint64
					switch order {
					case "asc":
						k = uint64(i)
					case "desc":
						k = uint64(n - i)
					default:
						k = e.Rand.Uint64() % 1000
					}
					if m.insert(nbtree.Entry{Key: k, TID: tid(i)}) {
						ok(f.ix.Insert(k, tid(i)))
					}
					if i%500 == 0 {
						ok(f.ix.Check())
					}
				}
				ok(f.ix.Check())
				check(slices.Equal(f.all(), m.entries), "scan differs from the model")
			})
			// A tree this deep split pages on every level.
			for _, c := range []string{"btree-leaf-split", "btree-internal-split", "btree-root-split"} {
				require.True(t, node.Reached.Has(c), "%s not recorded: %v", c, node.Reached.Names())
			}
		})
	}
}

type op struct {
	kind   int // 0 insert, 1 delete existing, 2 delete random, 3 search, 4 scan, 5 check
	key    uint64
	tid    int
	pick   int
	lo, hi uint64
}

func (o op) String() string {
	return fmt.Sprintf("%s(key=%d tid=%d pick=%d lo=%d hi=%d)",
		[]string{"insert", "deleteExisting", "deleteRandom", "search", "scan", "check"}[o.kind], o.key, o.tid, o.pick, o.lo, o.hi)
}

// TestModel is the model-based test: random sequences of Insert, Delete,
// Search and Scan against a sorted multiset, with Check along the way and
// at the end. Page capacity is drawn small so that a few thousand
// operations split pages on several levels.
func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		maxTuples := rapid.SampledFrom([]int{4, 5, 8, 16, 0}).Draw(rt, "maxTuples")
		keySpace := rapid.SampledFrom([]uint64{50, 1000, 1 << 40}).Draw(rt, "keySpace")
		n := rapid.IntRange(1, 1200).Draw(rt, "nops")
		seed := rapid.Uint64().Draw(rt, "seed")
		ops := make([]op, n)
		for i := range ops {
			o := op{kind: rapid.IntRange(0, 10).Draw(rt, "kind")}
			switch {
			case o.kind <= 5:
				o.kind = 0
			case o.kind == 6:
				o.kind = 1
			case o.kind == 7:
				o.kind = 2
			case o.kind == 8:
				o.kind = 3
			case o.kind == 9:
				o.kind = 4
			default:
				o.kind = 5
			}
			o.key = rapid.Uint64Range(0, keySpace-1).Draw(rt, "key")
			o.tid = rapid.IntRange(0, 300).Draw(rt, "tid")
			o.pick = rapid.IntRange(0, 1<<20).Draw(rt, "pick")
			o.lo = rapid.Uint64Range(0, keySpace-1).Draw(rt, "lo")
			o.hi = o.lo + rapid.Uint64Range(0, keySpace/4).Draw(rt, "span")
			ops[i] = o
		}
		var failure string
		st, _ := world.InSim(seed, func(e *env.Env) {
			failure = runOps(e, ops, maxTuples)
		})
		require.Equal(rt, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		if failure != "" {
			rt.Fatalf("%s", failure)
		}
	})
}

func runOps(e *env.Env, ops []op, maxTuples int) (failure string) {
	var redo wal.LSN
	f := newFixture(e, 48, maxTuples, &redo)
	var m model
	for i, o := range ops {
		switch o.kind {
		case 0:
			ent := nbtree.Entry{Key: o.key, TID: tid(o.tid)}
			err := f.ix.Insert(ent.Key, ent.TID)
			if fresh := m.insert(ent); fresh != (err == nil) {
				return fmt.Sprintf("op %d %v: model fresh %v, Insert error %v", i, o, fresh, err)
			}
		case 1, 2:
			ent := nbtree.Entry{Key: o.key, TID: tid(o.tid)}
			if o.kind == 1 && len(m.entries) > 0 {
				ent = m.entries[o.pick%len(m.entries)]
			}
			found, err := f.ix.Delete(ent.Key, ent.TID)
			ok(err)
			if want := m.delete(ent); want != found {
				return fmt.Sprintf("op %d %v: Delete found %v, model %v", i, o, found, want)
			}
		case 3:
			tids, err := f.ix.Search(o.key)
			ok(err)
			var want []page.ItemPointer
			for _, ent := range m.scan(o.key, o.key) {
				want = append(want, ent.TID)
			}
			if !slices.Equal(tids, want) {
				return fmt.Sprintf("op %d %v: Search %v, model %v", i, o, tids, want)
			}
		case 4:
			var got []nbtree.Entry
			limit := o.pick%50 + 1
			ok(f.ix.Scan(o.lo, o.hi, func(ent nbtree.Entry) bool {
				got = append(got, ent)
				return len(got) < limit
			}))
			want := m.scan(o.lo, o.hi)
			if len(want) > limit {
				want = want[:limit]
			}
			if !slices.Equal(got, want) {
				return fmt.Sprintf("op %d %v: Scan %v, model %v", i, o, got, want)
			}
		case 5:
			if err := f.ix.Check(); err != nil {
				return fmt.Sprintf("op %d: Check: %v", i, err)
			}
		}
	}
	if err := f.ix.Check(); err != nil {
		return fmt.Sprintf("final Check: %v", err)
	}
	if got := f.all(); !slices.Equal(got, m.entries) {
		return fmt.Sprintf("final scan: %d entries, model %d", len(got), len(m.entries))
	}
	return ""
}

// TestInsertUnique checks _bt_check_unique's outcomes: a live entry is a
// unique violation, an in-progress one asks the caller to wait, dead ones
// are ignored, also when the key's entries span several leaf pages.
func TestInsertUnique(t *testing.T) {
	sim(t, 3, func(e *env.Env) {
		var redo wal.LSN
		f := newFixture(e, 64, 4, &redo)
		for k := uint64(0); k < 40; k++ {
			ok(f.ix.Insert(k, tid(1)))
		}
		// Key 20 gets ten dead versions, spanning pages.
		for i := 2; i < 12; i++ {
			ok(f.ix.Insert(20, tid(i)))
		}
		state := map[page.ItemPointer]string{}
		for i := 1; i < 12; i++ {
			state[tid(i)] = "dead"
		}
		isLive := func(t page.ItemPointer) (bool, uint64) {
			switch state[t] {
			case "live":
				return true, 0
			case "running":
				return false, 99
			}
			return false, 0
		}
		xw, err := f.ix.InsertUnique(20, tid(50), isLive)
		ok(err)
		check(xw == 0, "wait for %d", xw)
		state[tid(50)] = "running"
		xw, err = f.ix.InsertUnique(20, tid(51), isLive)
		ok(err)
		check(xw == 99, "want to wait for 99, got %d", xw)
		state[tid(50)] = "live"
		_, err = f.ix.InsertUnique(20, tid(52), isLive)
		check(pgerr.Is(err, pgerr.UniqueViolation), "want unique violation, got %v", err)
		tids, err := f.ix.Search(20)
		ok(err)
		check(len(tids) == 12, "key 20 has %d entries", len(tids))
		ok(f.ix.Check())
	})
}
