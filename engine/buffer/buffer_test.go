package buffer_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestRoundTripWithEviction pushes 50 blocks through a pool of 4 buffers
// twice, reads them back, checkpoints, loses power, and reads them again.
func TestRoundTripWithEviction(t *testing.T) {
	const nblocks = 50
	node := sim(t, 1, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(nblocks)
		for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
			v, err := f.readVersion(blk)
			ok(err)
			check(v == 1, "block %d version %d, want 1", blk, v)
		}
		for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
			b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
			ok(err)
			f.modify(b, blk, 2)
			f.pool.ReleaseBuffer(b)
			ok(f.pool.CheckInvariants())
		}
		for blk := smgr.BlockNumber(nblocks - 1); ; blk-- {
			v, err := f.readVersion(blk)
			ok(err)
			check(v == 2, "block %d version %d, want 2", blk, v)
			if blk == 0 {
				break
			}
		}
		st := f.pool.Stats()
		check(st.Evictions > 2*nblocks, "only %d evictions", st.Evictions)
		check(st.Writes >= 2*nblocks-4, "only %d writes", st.Writes)
		_, err := f.pool.BufferSync()
		ok(err)
	})
	node.Disk.Crash(world.NewRand(1), world.CrashDropAll)
	reboot(t, node, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		n, err := f.sm.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == nblocks, "NBlocks %d after crash", n)
		for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
			v, err := f.readVersion(blk)
			ok(err)
			check(v == 2, "after crash block %d version %d, want 2", blk, v)
		}
	})
}

// walWorkload runs writers, a background writer and a checkpointer over a
// small pool while the recording disk checks every page write against the
// WAL flush position.
func walWorkload(t *testing.T, seed uint64, broken bool) (violations []string, writes int) {
	sim(t, seed, func(e *env.Env) {
		w := &fakeWAL{broken: broken}
		rd := &recDisk{Disk: e.Disk, wal: w}
		e2 := *e
		e2.Disk = rd
		// Every process may pin one buffer at a time (its own or a
		// victim it is writing out): 3 backends, the bgwriter and the
		// checkpointer need at least 5 buffers, or ReadBuffer may fail
		// with "no unpinned buffers available" as in PostgreSQL.
		f := newFixture(&e2, 6, w)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(16)
		const workers = 3
		g := world.NewGroup(e, workers+1)
		stop := false
		for i := 0; i < workers; i++ {
			e.Sched.Spawn(fmt.Sprintf("backend%d", i), func() {
				defer g.Done()
				for j := 0; j < 30; j++ {
					blk := smgr.BlockNumber(e.Rand.Intn(16))
					b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
					ok(err)
					f.modify(b, blk, uint64(2+j))
					f.pool.ReleaseBuffer(b)
				}
			})
		}
		e.Sched.Spawn("bgwriter", func() {
			defer g.Done()
			for !stop {
				_, err := f.pool.BgBufferSync(2)
				ok(err)
				e.Clock.Sleep(200 * time.Microsecond)
			}
		})
		e.Clock.Sleep(2 * time.Millisecond)
		_, err := f.pool.BufferSync()
		ok(err)
		for g.Left() > 1 {
			e.Clock.Sleep(time.Millisecond)
		}
		stop = true
		g.Wait()
		_, err = f.pool.BufferSync()
		ok(err)
		violations, writes = rd.violations, rd.writes
	})
	return violations, writes
}

func TestWALBeforeData(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		violations, writes := walWorkload(t, seed, false)
		require.Empty(t, violations, "seed %d", seed)
		require.Greater(t, writes, 20, "seed %d: too few page writes to mean anything", seed)
	}
	// The check itself can fail: with a WAL whose Flush is a no-op, page
	// writes overtake the WAL.
	violations, _ := walWorkload(t, 1, true)
	require.NotEmpty(t, violations)
}

// TestCheckpointSurvivesPowerLoss: after BufferSync every page version
// written before it survives a crash that drops all unsynced writes, and
// later changes (written by eviction or the bgwriter but never fsynced) are
// dropped.
func TestCheckpointSurvivesPowerLoss(t *testing.T) {
	const nblocks = 20
	for seed := uint64(1); seed <= 20; seed++ {
		node := sim(t, seed, func(e *env.Env) {
			f := newFixture(e, 5, nil)
			ok(f.sm.Create(rel, smgr.MainForkNum, false))
			f.extend(nblocks)
			for blk := smgr.BlockNumber(0); blk < nblocks; blk += 2 {
				b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
				ok(err)
				f.modify(b, blk, 2)
				f.pool.ReleaseBuffer(b)
			}
			_, err := f.pool.BufferSync()
			ok(err)
			// After the checkpoint: version 3 everywhere, partly written by
			// evictions and the bgwriter, never fsynced.
			for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
				b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
				ok(err)
				f.modify(b, blk, 3)
				f.pool.ReleaseBuffer(b)
			}
			_, err = f.pool.BgBufferSync(100)
			ok(err)
		})
		node.Disk.Crash(world.NewRand(seed), world.CrashDropAll)
		reboot(t, node, func(e *env.Env) {
			f := newFixture(e, 5, nil)
			for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
				v, err := f.readVersion(blk)
				ok(err)
				want := uint64(1)
				if blk%2 == 0 {
					want = 2
				}
				check(v == want, "block %d version %d after crash, want %d", blk, v, want)
			}
		})
	}
}

// concurrentRun runs backends that read and update random blocks of a
// small pool; each update bumps the block's version under the exclusive
// lock, and every read checks the version against the shared model. It
// returns a fingerprint of the run for determinism checks.
func concurrentRun(t *testing.T, seed uint64) string {
	const nblocks, workers, ops = 24, 4, 40
	var fp string
	node := sim(t, seed, func(e *env.Env) {
		// 4 backends, the bgwriter and the checkpointer pin at most one
		// buffer each at a time; 8 buffers leave room for the sweep.
		f := newFixture(e, 8, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(nblocks)
		model := make([]uint64, nblocks)
		for i := range model {
			model[i] = 1
		}
		g := world.NewGroup(e, workers+1)
		stop := false
		var log []string
		for i := 0; i < workers; i++ {
			name := fmt.Sprintf("backend%d", i)
			e.Sched.Spawn(name, func() {
				defer g.Done()
				for j := 0; j < ops; j++ {
					blk := smgr.BlockNumber(e.Rand.Intn(nblocks))
					b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
					ok(err)
					if e.Rand.Intn(3) == 0 {
						f.pool.LockBuffer(b, buffer.Exclusive)
						page := f.pool.BufferGetPage(b)
						v, err := pageVersion(page, uint32(blk))
						ok(err)
						check(v == model[blk], "%s: block %d version %d, model %d", name, blk, v, model[blk])
						model[blk]++
						fillPage(page, uint32(blk), model[blk])
						buffer.PageSetLSN(page, f.wal.insert())
						f.pool.MarkBufferDirty(b)
						f.pool.UnlockBuffer(b)
						log = append(log, fmt.Sprintf("%s w%d=%d", name, blk, model[blk]))
					} else {
						f.pool.LockBuffer(b, buffer.Share)
						v, err := pageVersion(f.pool.BufferGetPage(b), uint32(blk))
						ok(err)
						check(v == model[blk], "%s: block %d version %d, model %d", name, blk, v, model[blk])
						f.pool.UnlockBuffer(b)
						log = append(log, fmt.Sprintf("%s r%d=%d", name, blk, v))
					}
					f.pool.ReleaseBuffer(b)
				}
			})
		}
		e.Sched.Spawn("bgwriter", func() {
			defer g.Done()
			for !stop {
				_, err := f.pool.BgBufferSync(1)
				ok(err)
				e.Clock.Sleep(100 * time.Microsecond)
			}
		})
		e.Clock.Sleep(time.Millisecond)
		_, err := f.pool.BufferSync()
		ok(err)
		for g.Left() > 1 {
			e.Clock.Sleep(time.Millisecond)
		}
		stop = true
		g.Wait()
		ok(f.pool.CheckInvariants())
		_, err = f.pool.BufferSync()
		ok(err)
		for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
			v, err := f.readVersion(blk)
			ok(err)
			check(v == model[blk], "final block %d version %d, model %d", blk, v, model[blk])
		}
		fp = fmt.Sprintf("%v %v", f.pool.Stats(), log)
	})
	h := fnv.New64a()
	files := node.Disk.Snapshot()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h.Write([]byte(n))
		h.Write(files[n])
	}
	return fmt.Sprintf("steps=%d now=%v disk=%x %s", node.Sim.Steps(), node.Sim.Now(), h.Sum64(), fp)
}

func TestConcurrentReadersWriters(t *testing.T) {
	seeds := uint64(150)
	if testing.Short() {
		seeds = 20
	}
	distinct := map[string]bool{}
	for seed := uint64(1); seed <= seeds; seed++ {
		a := concurrentRun(t, seed)
		distinct[a] = true
		if seed <= 40 {
			require.Equal(t, a, concurrentRun(t, seed), "seed %d is not deterministic", seed)
		}
	}
	require.Equal(t, int(seeds), len(distinct), "different seeds should give different runs")
}

// TestSingleReadPerMiss: processes that miss on the same block at once
// read it into one buffer with one disk read (WaitIO).
func TestSingleReadPerMiss(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		var reads, before uint64
		node := sim(t, seed, func(e *env.Env) {
			f := newFixture(e, 4, nil)
			ok(f.sm.Create(rel, smgr.MainForkNum, false))
			f.extend(8)
			_, err := f.pool.BufferSync()
			ok(err)
			// Evict block 0 by reading 4 others.
			for blk := smgr.BlockNumber(4); blk < 8; blk++ {
				_, err := f.readVersion(blk)
				ok(err)
			}
			before = f.sm.Stats().Reads
			g := world.NewGroup(e, 5)
			for i := 0; i < 5; i++ {
				e.Sched.Spawn(fmt.Sprintf("reader%d", i), func() {
					defer g.Done()
					v, err := f.readVersion(0)
					ok(err)
					check(v == 1, "version %d", v)
				})
			}
			g.Wait()
			reads = f.sm.Stats().Reads
			ok(f.pool.CheckInvariants())
		})
		_ = node
		require.Equal(t, before+1, reads, "seed %d: concurrent misses read the block %d times", seed, reads-before)
	}
}

func TestAllPinnedIsAnError(t *testing.T) {
	sim(t, 2, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(6)
		var pinned []buffer.Buffer
		for blk := smgr.BlockNumber(0); blk < 4; blk++ {
			b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
			ok(err)
			pinned = append(pinned, b)
		}
		_, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, 5)
		check(errors.Is(err, buffer.ErrNoUnpinnedBuffers), "all pinned: got %v", err)
		_, _, err = f.pool.ExtendBuffer(rel, smgr.MainForkNum)
		check(errors.Is(err, buffer.ErrNoUnpinnedBuffers), "extend with all pinned: got %v", err)
		// A cached block can still be pinned again.
		b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, 2)
		ok(err)
		f.pool.ReleaseBuffer(b)
		f.pool.ReleaseBuffer(pinned[1])
		v, err := f.readVersion(5)
		ok(err)
		check(v == 1, "block 5 version %d", v)
		for _, b := range pinned {
			if b != pinned[1] {
				f.pool.ReleaseBuffer(b)
			}
		}
		ok(f.pool.CheckInvariants())
	})
}

func TestVerifyFailure(t *testing.T) {
	sim(t, 3, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(8)
		_, err := f.pool.BufferSync()
		ok(err)
		for blk := smgr.BlockNumber(4); blk < 8; blk++ { // evict block 3
			_, err := f.readVersion(blk)
			ok(err)
		}
		// Flip a byte of block 3 on disk.
		file, err := e.Disk.Open("base/16384", env.OpenExisting)
		ok(err)
		good := make([]byte, smgr.BLCKSZ)
		_, err = file.ReadAt(good, 3*smgr.BLCKSZ)
		ok(err)
		bad := slices.Clone(good)
		bad[4000] ^= 0x10
		_, err = file.WriteAt(bad, 3*smgr.BLCKSZ)
		ok(err)
		for i := 0; i < 2; i++ { // the failure repeats: the buffer was not left valid
			_, err = f.pool.ReadBuffer(rel, smgr.MainForkNum, 3)
			check(err != nil && strings.Contains(err.Error(), "invalid page in block 3 of relation base/16384"), "corrupt read: %v", err)
			check(errors.Is(err, errChecksum), "error does not wrap the verifier's: %v", err)
		}
		check(f.pool.Stats().ReadErrors == 2, "read errors %d", f.pool.Stats().ReadErrors)
		ok(f.pool.CheckInvariants())
		_, err = file.WriteAt(good, 3*smgr.BLCKSZ)
		ok(err)
		v, err := f.readVersion(3)
		ok(err)
		check(v == 1, "repaired block version %d", v)
	})
}

func TestFsyncFailurePanics(t *testing.T) {
	_, node := world.InSim(4, func(e *env.Env) {})
	node.Disk.SetHook(func(op world.DiskOp) error {
		if op.Kind == world.OpSync {
			return env.EIO
		}
		return nil
	})
	st := node.Reboot(func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(3)
		_, err := f.pool.BufferSync()
		ok(err) // never reached: SyncAll panics
	})
	require.Equal(t, world.StopPanic, st.Kind, "%s", st)
	pe, isPanic := st.Value.(*env.PanicError)
	require.True(t, isPanic, "panic value %T %v", st.Value, st.Value)
	require.Contains(t, pe.Msg, "could not fsync file")
}

func TestAssertions(t *testing.T) {
	cases := map[string]func(f *fixture, b buffer.Buffer){
		"dirty without lock":  func(f *fixture, b buffer.Buffer) { f.pool.MarkBufferDirty(b) },
		"dirty under share":   func(f *fixture, b buffer.Buffer) { f.pool.LockBuffer(b, buffer.Share); f.pool.MarkBufferDirty(b) },
		"double release":      func(f *fixture, b buffer.Buffer) { f.pool.ReleaseBuffer(b); f.pool.ReleaseBuffer(b) },
		"unpin while locked":  func(f *fixture, b buffer.Buffer) { f.pool.LockBuffer(b, buffer.Share); f.pool.ReleaseBuffer(b) },
		"page without pin":    func(f *fixture, b buffer.Buffer) { f.pool.ReleaseBuffer(b); f.pool.BufferGetPage(b) },
		"bad buffer":          func(f *fixture, b buffer.Buffer) { f.pool.BufferGetPage(99) },
		"lock without pin":    func(f *fixture, b buffer.Buffer) { f.pool.ReleaseBuffer(b); f.pool.LockBuffer(b, buffer.Share) },
		"other process's pin": nil,
	}
	for name, fn := range cases {
		st, _ := world.InSim(5, func(e *env.Env) {
			f := newFixture(e, 4, nil)
			ok(f.sm.Create(rel, smgr.MainForkNum, false))
			b, _, err := f.pool.ExtendBuffer(rel, smgr.MainForkNum)
			ok(err)
			if fn != nil {
				fn(f, b)
				return
			}
			done := world.NewGroup(e, 1)
			e.Sched.Spawn("other", func() {
				defer done.Done()
				f.pool.ReleaseBuffer(b)
			})
			done.Wait()
		})
		require.Equal(t, world.StopPanic, st.Kind, "%s: %s", name, st)
	}
}

func TestBgBufferSync(t *testing.T) {
	sim(t, 6, func(e *env.Env) {
		f := newFixture(e, 8, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(8) // 8 dirty buffers, usage count 1 each
		n, err := f.pool.BgBufferSync(100)
		ok(err)
		check(n == 0, "bgwriter wrote %d recently used buffers", n)
		// A ninth block sweeps the clock once round: every usage count
		// drops to 0 and one victim is written and reused.
		b, _, err := f.pool.ExtendBuffer(rel, smgr.MainForkNum)
		ok(err)
		f.pool.ReleaseBuffer(b)
		check(f.pool.Stats().Writes == 1, "writes %d", f.pool.Stats().Writes)
		n, err = f.pool.BgBufferSync(3)
		ok(err)
		check(n == 3, "bgwriter wrote %d, want its limit 3", n)
		n, err = f.pool.BgBufferSync(100)
		ok(err)
		check(n == 4, "bgwriter wrote %d, want the other 4", n)
		n, err = f.pool.BgBufferSync(100)
		ok(err)
		check(n == 0, "bgwriter wrote %d clean buffers", n)
	})
}

func TestDropRelationBuffers(t *testing.T) {
	sim(t, 7, func(e *env.Env) {
		f := newFixture(e, 8, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(6)
		ok(f.pool.DropRelationBuffers(rel, smgr.MainForkNum, 3))
		ok(f.sm.Truncate(rel, smgr.MainForkNum, 3))
		ok(f.pool.CheckInvariants())
		// The dropped blocks were never written: extension starts at 3
		// again with fresh zero pages.
		b, blkno, err := f.pool.ExtendBuffer(rel, smgr.MainForkNum)
		ok(err)
		check(blkno == 3, "extended block %d", blkno)
		f.pool.LockBuffer(b, buffer.Share)
		v, err := pageVersion(f.pool.BufferGetPage(b), 3)
		ok(err)
		check(v == 0, "new block has version %d", v)
		f.pool.UnlockBuffer(b)
		check(f.pool.DropRelationBuffers(rel, smgr.MainForkNum, 0) != nil, "dropped a pinned buffer")
		f.pool.ReleaseBuffer(b)
	})
}

func TestInjectionPoints(t *testing.T) {
	node := sim(t, 8, func(e *env.Env) {
		f := newFixture(e, 4, nil)
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		f.extend(3)
		_, err := f.pool.BufferSync()
		ok(err)
	})
	hits := map[string]uint64{}
	for _, h := range node.Sim.Hits() {
		hits[h.Point] = h.Hits
	}
	require.Equal(t, uint64(3), hits[buffer.PointBeforeWrite])
	require.Equal(t, uint64(3), hits[buffer.PointAfterWrite])
}
