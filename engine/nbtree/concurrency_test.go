package nbtree_test

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// runConcurrent runs inserters and readers as simulated processes over one
// index with tiny pages, so that splits (and root splits) race with
// descents. Each reader, before each lookup, notes which keys were
// committed (their Insert had returned) and then demands to find every one
// of them: a reader that lands on a page that split after it read the
// parent must move right and still find them. It returns a digest of
// everything that happened, in order, for the determinism check.
func runConcurrent(t *testing.T, seed uint64) uint64 {
	t.Helper()
	const inserters, readers, perInserter = 4, 3, 150
	h := fnv.New64a()
	sim(t, seed, func(e *env.Env) {
		var redo wal.LSN
		f := newFixture(e, 64, 5, &redo)
		var committed []uint64
		done := world.NewGroup(e, inserters+readers)
		insertersLeft := inserters
		for w := 0; w < inserters; w++ {
			e.Sched.Spawn(fmt.Sprintf("inserter %d", w), func() {
				defer done.Done()
				keys := make([]uint64, perInserter)
				for i := range keys {
					keys[i] = uint64(i*inserters + w)
				}
				for i := len(keys) - 1; i > 0; i-- { // seeded shuffle
					j := e.Rand.Intn(i + 1)
					keys[i], keys[j] = keys[j], keys[i]
				}
				for i, k := range keys {
					ok(f.ix.Insert(k, tid(w*1000+i)))
					committed = append(committed, k)
					fmt.Fprintf(h, "i%d:%d ", w, k)
				}
				insertersLeft--
			})
		}
		for r := 0; r < readers; r++ {
			e.Sched.Spawn(fmt.Sprintf("reader %d", r), func() {
				defer done.Done()
				for round := 0; insertersLeft > 0 && round < 400; round++ {
					before := slices.Clone(committed)
					if len(before) == 0 {
						e.Sched.Yield()
						continue
					}
					if round%10 == 0 {
						// A full scan must see every key committed
						// before it started, in order.
						var got []uint64
						ok(f.ix.Scan(0, ^uint64(0), func(ent nbtree.Entry) bool {
							got = append(got, ent.Key)
							return true
						}))
						check(slices.IsSorted(got), "scan out of order")
						for _, k := range before {
							_, found := slices.BinarySearch(got, k)
							check(found, "reader %d: scan missed committed key %d", r, k)
						}
						fmt.Fprintf(h, "s%d:%d ", r, len(got))
						continue
					}
					k := before[e.Rand.Intn(len(before))]
					tids, err := f.ix.Search(k)
					ok(err)
					check(len(tids) == 1, "reader %d: committed key %d has %d entries", r, k, len(tids))
					fmt.Fprintf(h, "r%d:%d ", r, k)
				}
			})
		}
		done.Wait()
		ok(f.ix.Check())
		all := f.all()
		check(len(all) == inserters*perInserter, "%d entries, want %d", len(all), inserters*perInserter)
		for _, ent := range all {
			fmt.Fprintf(h, "%d%v ", ent.Key, ent.TID)
		}
	})
	return h.Sum64()
}

// TestConcurrentInsertersAndReaders runs many seeds; no seed may deadlock,
// lose a committed key or break the structure.
func TestConcurrentInsertersAndReaders(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 10
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		runConcurrent(t, seed)
	}
}

// TestConcurrentDeterminism: the same seed gives the same interleaving and
// the same result; different seeds give different interleavings.
func TestConcurrentDeterminism(t *testing.T) {
	a, b := runConcurrent(t, 7), runConcurrent(t, 7)
	require.Equal(t, a, b)
	require.NotEqual(t, a, runConcurrent(t, 8))
}
