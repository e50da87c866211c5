package buffer_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// noWAL is a WAL that is always flushed: the pages here carry no LSN.
type noWAL struct{}

func (noWAL) Flush(wal.LSN) {}

// TestParallelFlushesWriteTheirOwnPages: on the real environment, where
// processes run in parallel (pgdst serve), backends writing their own
// blocks out at the same time each write their own page. flushBuffer's
// private copies once came from a scratch list taken without the header
// lock, so two flushers could copy into one buffer and write one page's
// bytes to the other's block: found by pgdst probe against pgdst serve
// as checksum failures and B-tree pages holding other pages' tuples.
func TestParallelFlushesWriteTheirOwnPages(t *testing.T) {
	e, err := env.NewReal(t.TempDir(), 1)
	require.NoError(t, err)
	sm, err := smgr.New(e, smgr.Config{})
	require.NoError(t, err)
	pool, err := buffer.NewPool(e, buffer.Config{NBuffers: 64, SMgr: sm, WAL: noWAL{}, Verify: verify, SetChecksum: setChecksum})
	require.NoError(t, err)
	require.NoError(t, sm.Create(rel, smgr.MainForkNum, false))
	const workers, rounds = 4, 2000
	sched := e.Sched.(*env.RealScheduler)
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	e.Sched.Spawn("extender", func() {
		for range workers {
			b, _, err := pool.ExtendBuffer(rel, smgr.MainForkNum)
			if err != nil {
				fail(err)
				return
			}
			pool.ReleaseBuffer(b)
		}
	})
	sched.Wait()
	require.Nil(t, failed.Load())
	for w := range workers {
		blk := smgr.BlockNumber(w)
		e.Sched.Spawn(fmt.Sprintf("writer %d", w), func() {
			buf := make([]byte, buffer.BLCKSZ)
			for v := uint64(1); v <= rounds && failed.Load() == nil; v++ {
				b, err := pool.ReadBuffer(rel, smgr.MainForkNum, blk)
				if err != nil {
					fail(err)
					return
				}
				pool.LockBuffer(b, buffer.Exclusive)
				fillPage(pool.BufferGetPage(b), uint32(blk), v)
				pool.MarkBufferDirty(b)
				err = pool.FlushOneBuffer(b)
				pool.UnlockReleaseBuffer(b)
				if err != nil {
					fail(err)
					return
				}
				// Nobody else writes this block: the file holds version v.
				if err := sm.Read(rel, smgr.MainForkNum, blk, buf); err != nil {
					fail(err)
					return
				}
				if err := verify(buf, uint32(blk)); err != nil {
					fail(fmt.Errorf("block %d after writing version %d: %w", blk, v, err))
					return
				}
				got, err := pageVersion(buf, uint32(blk))
				if err == nil && got != v {
					err = fmt.Errorf("block %d holds version %d after writing version %d", blk, got, v)
				}
				if err != nil {
					fail(err)
					return
				}
			}
		})
	}
	sched.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}
