package buffer_test

import (
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
)

// BenchmarkReadBufferHit is a ReadBuffer of a cached block plus its
// ReleaseBuffer, under the simulator (each header-lock acquisition is a
// scheduling point).
func BenchmarkReadBufferHit(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		f := newFixture(e, 16, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(8)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			buf, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, smgr.BlockNumber(i%8))
			if err != nil {
				panic(err)
			}
			f.pool.ReleaseBuffer(buf)
		}
		b.StopTimer()
	})
}

// BenchmarkReadBufferMissEvict cycles 50 blocks through 4 buffers: every
// ReadBuffer misses, evicts a clean victim, reads the block from the
// simulated disk and verifies its checksum. Virtual disk latency costs no
// wall time.
func BenchmarkReadBufferMissEvict(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(50)
		_, err := f.pool.BufferSync()
		ok(err)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			buf, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, smgr.BlockNumber(i%50))
			if err != nil {
				panic(err)
			}
			f.pool.ReleaseBuffer(buf)
		}
		b.StopTimer()
	})
}

// BenchmarkReadBufferMissEvictDirty is the same with every page dirtied
// after reading, so each eviction also flushes WAL (a fake) and writes. A
// checkpoint every 500 operations keeps the simulated disk's unsynced
// write log (which holds a copy of every write until the next fsync) from
// growing without bound, as the checkpointer would.
func BenchmarkReadBufferMissEvictDirty(b *testing.B) {
	sim(b, 1, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(50)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			blk := smgr.BlockNumber(i % 50)
			buf, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
			if err != nil {
				panic(err)
			}
			f.modify(buf, blk, uint64(i+2))
			f.pool.ReleaseBuffer(buf)
			if i%500 == 499 {
				if _, err := f.pool.BufferSync(); err != nil {
					panic(err)
				}
			}
		}
		b.StopTimer()
	})
}
