package smgr_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// The process-side test helpers every engine package shares (simtest/world/simt).
var (
	ok     = simt.Must
	check  = simt.Check
	sim    = simt.Sim
	reboot = simt.Reboot
)

// The test bodies run as simulated processes, where a failed require would
// end the process goroutine; they report failures by panicking instead,
// which stops the run with StopPanic and the message.

func block(rel smgr.RelFileNumber, blkno smgr.BlockNumber, version byte) []byte {
	b := make([]byte, smgr.BLCKSZ)
	for i := range b {
		b[i] = byte(uint32(rel)*7+uint32(blkno)*13+uint32(i)) ^ version
	}
	b[0], b[1] = version, 0xAA
	return b
}

func newSMgr(e *env.Env, cfg smgr.Config) *smgr.SMgr {
	s, err := smgr.New(e, cfg)
	ok(err)
	return s
}

const rel = smgr.RelFileNumber(16384)

func TestSegmentBoundaries(t *testing.T) {
	node := sim(t, 1, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4})
		ok(s.Create(rel, smgr.MainForkNum, false))
		exists, err := s.Exists(rel, smgr.MainForkNum)
		ok(err)
		check(exists, "created fork does not exist")
		exists, err = s.Exists(rel+1, smgr.MainForkNum)
		ok(err)
		check(!exists, "uncreated fork exists")
		for b := smgr.BlockNumber(0); b < 10; b++ {
			n, err := s.NBlocks(rel, smgr.MainForkNum)
			ok(err)
			check(n == b, "NBlocks = %d before extending block %d", n, b)
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
		}
		n, err := s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 10, "NBlocks = %d, want 10", n)
		buf := make([]byte, smgr.BLCKSZ)
		for b := smgr.BlockNumber(0); b < 10; b++ {
			ok(s.Read(rel, smgr.MainForkNum, b, buf))
			check(bytes.Equal(buf, block(rel, b, 1)), "block %d read back wrong", b)
		}
		// Overwrite a block on each side of a boundary.
		ok(s.Write(rel, smgr.MainForkNum, 3, block(rel, 3, 2)))
		ok(s.Write(rel, smgr.MainForkNum, 4, block(rel, 4, 2)))
		ok(s.Read(rel, smgr.MainForkNum, 3, buf))
		check(bytes.Equal(buf, block(rel, 3, 2)), "block 3 after rewrite")
		ok(s.Read(rel, smgr.MainForkNum, 4, buf))
		check(bytes.Equal(buf, block(rel, 4, 2)), "block 4 after rewrite")
	})
	files := node.Disk.Snapshot()
	require.Len(t, files["base/16384"], 4*smgr.BLCKSZ)
	require.Len(t, files["base/16384.1"], 4*smgr.BLCKSZ)
	require.Len(t, files["base/16384.2"], 2*smgr.BLCKSZ)
	require.NotContains(t, files, "base/16384.3")
	require.Equal(t, block(rel, 5, 1), files["base/16384.1"][smgr.BLCKSZ:2*smgr.BLCKSZ])
}

func TestPaths(t *testing.T) {
	require.Equal(t, "base/5", smgr.RelPath(5, smgr.MainForkNum))
	require.Equal(t, "base/5_fsm", smgr.RelPath(5, smgr.FSMForkNum))
	require.Equal(t, "base/5_vm.3", smgr.SegPath(5, smgr.VisibilityMapForkNum, 3))
	require.Equal(t, "base/5.1", smgr.SegPath(5, smgr.MainForkNum, 1))
}

func TestReadBeyondEOF(t *testing.T) {
	node := sim(t, 2, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4})
		ok(s.Create(rel, smgr.MainForkNum, false))
		for b := smgr.BlockNumber(0); b < 5; b++ {
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
		}
		buf := make([]byte, smgr.BLCKSZ)
		err := s.Read(rel, smgr.MainForkNum, 5, buf) // in segment 1, past its end
		check(err != nil, "read past the end of segment 1 succeeded")
		check(bytes.Contains([]byte(err.Error()), []byte("read only 0 of 8192 bytes")), "unexpected error %v", err)
		err = s.Read(rel, smgr.MainForkNum, 9, buf) // segment 2 does not exist
		check(err != nil && errors.Is(err, env.ErrNotExist), "read in a missing segment: %v", err)
		err = s.Read(rel+1, smgr.MainForkNum, 0, buf)
		check(err != nil, "read of a missing relation succeeded")

		// Plain writes never extend, and extension never overwrites.
		err = s.Write(rel, smgr.MainForkNum, 5, block(rel, 5, 1))
		check(err != nil, "write past the end succeeded")
		err = s.Extend(rel, smgr.MainForkNum, 4, block(rel, 4, 1))
		check(err != nil, "extend over an existing block succeeded")
		err = s.Extend(rel+1, smgr.MainForkNum, 0, block(rel, 0, 1))
		check(err != nil, "extend of a relation that was never created succeeded")
		err = s.Write(rel, smgr.MainForkNum, 0, make([]byte, 100))
		check(err != nil, "short buffer accepted")
	})
	// md.c zero-fills missing blocks during recovery (and with
	// zero_damaged_pages): Config.ZeroFillMissing.
	reboot(t, node, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4, ZeroFillMissing: true})
		buf := bytes.Repeat([]byte{0xFF}, smgr.BLCKSZ)
		ok(s.Read(rel, smgr.MainForkNum, 5, buf))
		check(bytes.Equal(buf, make([]byte, smgr.BLCKSZ)), "block 5 not zero-filled")
		buf[0] = 1
		ok(s.Read(rel, smgr.MainForkNum, 11, buf))
		check(buf[0] == 0, "block 11 not zero-filled")
		// Redo may write a block whose segment is missing.
		ok(s.Write(rel, smgr.MainForkNum, 9, block(rel, 9, 3)))
		ok(s.Read(rel, smgr.MainForkNum, 9, buf))
		check(bytes.Equal(buf, block(rel, 9, 3)), "block 9 after recovery write")
	})
}

func TestTornTrailingBlock(t *testing.T) {
	node := sim(t, 3, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4})
		ok(s.Create(rel, smgr.MainForkNum, false))
		ok(s.Extend(rel, smgr.MainForkNum, 0, block(rel, 0, 1)))
		// Half of block 1 reached the file.
		f, err := e.Disk.Open("base/16384", env.OpenExisting)
		ok(err)
		_, err = f.WriteAt(make([]byte, smgr.BLCKSZ/2), smgr.BLCKSZ)
		ok(err)
		ok(f.Close())
	})
	reboot(t, node, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4})
		n, err := s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 1, "NBlocks = %d with a partial trailing block, want 1", n)
		buf := make([]byte, smgr.BLCKSZ)
		err = s.Read(rel, smgr.MainForkNum, 1, buf)
		check(err != nil && bytes.Contains([]byte(err.Error()), []byte("read only 4096 of 8192")), "partial block read: %v", err)
		ok(s.Extend(rel, smgr.MainForkNum, 1, block(rel, 1, 1)))
		ok(s.Read(rel, smgr.MainForkNum, 1, buf))
		check(bytes.Equal(buf, block(rel, 1, 1)), "re-extended block")
	})
}

func TestTruncate(t *testing.T) {
	node := sim(t, 4, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 4})
		ok(s.Create(rel, smgr.MainForkNum, false))
		for b := smgr.BlockNumber(0); b < 11; b++ {
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
		}
		ok(s.Truncate(rel, smgr.MainForkNum, 5))
		n, err := s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 5, "NBlocks after truncate to 5: %d", n)
		check(s.Truncate(rel, smgr.MainForkNum, 6) != nil, "truncate that grows succeeded")
		ok(s.Truncate(rel, smgr.MainForkNum, 4)) // exactly a segment boundary
		n, err = s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 4, "NBlocks after truncate to 4: %d", n)
		// Growing again reuses the inactive segments.
		for b := smgr.BlockNumber(4); b < 9; b++ {
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 2)))
		}
		n, err = s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 9, "NBlocks after regrowth: %d", n)
		buf := make([]byte, smgr.BLCKSZ)
		ok(s.Read(rel, smgr.MainForkNum, 8, buf))
		check(bytes.Equal(buf, block(rel, 8, 2)), "block 8 after regrowth")
		ok(s.Truncate(rel, smgr.MainForkNum, 0))
		n, err = s.NBlocks(rel, smgr.MainForkNum)
		ok(err)
		check(n == 0, "NBlocks after truncate to 0: %d", n)
	})
	files := node.Disk.Snapshot()
	require.Empty(t, files["base/16384"])
	require.Contains(t, files, "base/16384.1") // inactive segments stay, empty
	require.Empty(t, files["base/16384.1"])
	require.Empty(t, files["base/16384.2"])
}

// TestSyncAllDurability: everything written before SyncAll survives a
// power loss that drops every unsynced write, including the directory
// entries of new segment files; nothing unsynced does.
func TestSyncAllDurability(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		var pending []smgr.SegTag
		node := sim(t, seed, func(e *env.Env) {
			s := newSMgr(e, smgr.Config{SegBlocks: 4})
			ok(s.Create(rel, smgr.MainForkNum, false))
			ok(s.Create(rel+1, smgr.MainForkNum, false))
			for b := smgr.BlockNumber(0); b < 9; b++ {
				ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
			}
			ok(s.Extend(rel+1, smgr.MainForkNum, 0, block(rel+1, 0, 1)))
			pending = s.PendingSyncs()
			s.SyncAll()
			check(len(s.PendingSyncs()) == 0, "pending syncs remain after SyncAll")
			// After the checkpoint: a rewrite, an extension into a new
			// segment, and a new relation, none synced.
			ok(s.Write(rel, smgr.MainForkNum, 2, block(rel, 2, 2)))
			ok(s.Extend(rel, smgr.MainForkNum, 9, block(rel, 9, 2)))
			ok(s.Create(rel+2, smgr.MainForkNum, false))
		})
		require.Equal(t, []smgr.SegTag{
			{Rel: rel, Segno: 0}, {Rel: rel, Segno: 1}, {Rel: rel, Segno: 2}, {Rel: rel + 1},
		}, pending, "pending syncs are sorted")
		node.Disk.Crash(world.NewRand(seed), world.CrashDropAll)
		reboot(t, node, func(e *env.Env) {
			s := newSMgr(e, smgr.Config{SegBlocks: 4})
			n, err := s.NBlocks(rel, smgr.MainForkNum)
			ok(err)
			check(n == 9, "NBlocks after crash: %d", n)
			buf := make([]byte, smgr.BLCKSZ)
			for b := smgr.BlockNumber(0); b < 9; b++ {
				ok(s.Read(rel, smgr.MainForkNum, b, buf))
				check(bytes.Equal(buf, block(rel, b, 1)), "block %d lost its synced contents", b)
			}
			ok(s.Read(rel+1, smgr.MainForkNum, 0, buf))
			check(bytes.Equal(buf, block(rel+1, 0, 1)), "relation 2 lost")
			exists, err := s.Exists(rel+2, smgr.MainForkNum)
			ok(err)
			check(!exists, "unsynced creation survived drop-all")
		})
	}
}

func TestUnlink(t *testing.T) {
	node := sim(t, 5, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 2})
		ok(s.Create(rel, smgr.MainForkNum, false))
		for b := smgr.BlockNumber(0); b < 5; b++ {
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
		}
		s.SyncAll()
		ok(s.Write(rel, smgr.MainForkNum, 1, block(rel, 1, 2)))
		ok(s.Unlink(rel, smgr.MainForkNum))
		check(len(s.PendingSyncs()) == 0, "unlink left pending syncs")
		exists, err := s.Exists(rel, smgr.MainForkNum)
		ok(err)
		check(!exists, "unlinked relation exists")
		s.SyncAll()
		ok(s.Create(rel, smgr.MainForkNum, false)) // the number can be reused
	})
	node.Disk.Crash(world.NewRand(5), world.CrashDropAll)
	files := node.Disk.Snapshot()
	require.Empty(t, files["base/16384"]) // recreated, empty... or absent
	require.NotContains(t, files, "base/16384.1")
	require.NotContains(t, files, "base/16384.2")
}

// TestFsyncFailurePanics: a failed fsync must be a PANIC, never an error
// that a caller could retry (fsyncgate).
func TestFsyncFailurePanics(t *testing.T) {
	for _, kind := range []world.DiskOpKind{world.OpSync, world.OpSyncDir} {
		_, node := world.InSim(6, func(e *env.Env) {})
		node.Disk.SetHook(func(op world.DiskOp) error {
			if op.Kind == kind {
				return env.EIO
			}
			return nil
		})
		st := node.Reboot(func(e *env.Env) {
			s := newSMgr(e, smgr.Config{})
			ok(s.Create(rel, smgr.MainForkNum, false))
			ok(s.Extend(rel, smgr.MainForkNum, 0, block(rel, 0, 1)))
			s.SyncAll()
		})
		require.Equal(t, world.StopPanic, st.Kind, "%s: %s", kind, st)
		pe, isPanic := st.Value.(*env.PanicError)
		require.True(t, isPanic, "%s: panic value %T %v", kind, st.Value, st.Value)
		require.Contains(t, pe.Msg, "could not fsync")
	}
}

// TestFullQueueWriterFsyncs: when the pending-sync table is full the writer
// fsyncs the segment itself, so nothing is lost from the checkpoint's view.
func TestFullQueueWriterFsyncs(t *testing.T) {
	node := sim(t, 7, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{SegBlocks: 1, MaxPendingSyncs: 2})
		ok(s.Create(rel, smgr.MainForkNum, false))
		for b := smgr.BlockNumber(0); b < 4; b++ {
			ok(s.Extend(rel, smgr.MainForkNum, b, block(rel, b, 1)))
		}
		st := s.Stats()
		check(st.WriterFsyncs == 2, "writer fsyncs %d, want 2", st.WriterFsyncs)
		check(len(s.PendingSyncs()) == 2, "pending %d", len(s.PendingSyncs()))
		s.SyncAll()
	})
	require.True(t, node.Reached.Has("fsync-queue-full"), "%v", node.Reached.Names())
	node.Disk.Crash(world.NewRand(7), world.CrashDropAll)
	files := node.Disk.Snapshot()
	for i, p := range []string{"base/16384", "base/16384.1", "base/16384.2", "base/16384.3"} {
		require.Equal(t, block(rel, smgr.BlockNumber(i), 1), files[p], p)
	}
}

func TestInjectionPoints(t *testing.T) {
	node := sim(t, 8, func(e *env.Env) {
		s := newSMgr(e, smgr.Config{})
		ok(s.Create(rel, smgr.MainForkNum, false))
		ok(s.Extend(rel, smgr.MainForkNum, 0, block(rel, 0, 1)))
		ok(s.Write(rel, smgr.MainForkNum, 0, block(rel, 0, 2)))
		s.SyncAll()
	})
	hits := map[string]uint64{}
	for _, h := range node.Sim.Hits() {
		hits[h.Point] = h.Hits
	}
	require.Equal(t, uint64(2), hits[smgr.PointBeforeWrite])
	require.Equal(t, uint64(2), hits[smgr.PointAfterWrite])
	require.Equal(t, uint64(1), hits[smgr.PointAfterFsync])
}
