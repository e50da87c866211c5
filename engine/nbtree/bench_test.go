package nbtree_test

import (
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/wal"
)

// The benchmarks run under the simulator with one process: every buffer
// header and content lock acquisition is a scheduling point, and virtual
// disk latency costs no wall time. Keys are scattered by a multiplicative
// hash so that inserts split pages all over the tree.

func scatter(i int) uint64 { return uint64(i) * 0x9e3779b97f4a7c15 }

// BenchmarkInsert is one Insert into a growing index (splits included).
func BenchmarkInsert(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		var redo wal.LSN
		f := newFixture(e, 1024, 0, &redo)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ok(f.ix.Insert(scatter(i), tid(i)))
			if i%20000 == 19999 {
				b.StopTimer()
				f.checkpoint() // keep the simulated disk's unsynced log bounded
				b.StartTimer()
			}
		}
		b.StopTimer()
	})
}

const benchKeys = 100000

func benchIndex(e *env.Env) *fixture {
	var redo wal.LSN
	f := newFixture(e, 1024, 0, &redo)
	for i := 0; i < benchKeys; i++ {
		ok(f.ix.Insert(uint64(i), tid(i)))
	}
	f.checkpoint()
	return f
}

// BenchmarkSearch is a point lookup in a 100,000-entry index (three
// levels), every page cached.
func BenchmarkSearch(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		f := benchIndex(e)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			tids, err := f.ix.Search(scatter(i) % benchKeys)
			if err != nil || len(tids) != 1 {
				panic("lookup failed")
			}
		}
		b.StopTimer()
	})
}

// BenchmarkScan100 reads 100 consecutive entries.
func BenchmarkScan100(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		f := benchIndex(e)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			lo := scatter(i) % (benchKeys - 100)
			n := 0
			ok(f.ix.Scan(lo, lo+99, func(nbtree.Entry) bool { n++; return true }))
			if n != 100 {
				panic("short scan")
			}
		}
		b.StopTimer()
	})
}
