package world

import (
	"bytes"
	"math/bits"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// faultOnce returns a fault hook that returns flt for the first operation
// of kind k, and nothing else.
func faultOnce(k DiskOpKind, flt DiskFault) DiskFaultHook {
	done := false
	return func(op DiskOp) DiskFault {
		if op.Kind != k || done {
			return DiskFault{}
		}
		done = true
		return flt
	}
}

func TestFaultSyncEIODropsDirtyDataAndLaterSyncSucceeds(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "a", []byte("old-data"))
	d.SetFaultHook(faultOnce(OpSync, DiskFault{Kind: FaultSyncEIO}), NewRand(1))
	f := diskOpen(t, d, "a", env.OpenExisting)
	diskWriteAll(t, f, 0, []byte("NEW"))
	require.ErrorIs(t, f.Sync(), syscall.EIO)
	// The dirty pages were dropped and marked clean: the new bytes are
	// gone, and the next fsync "succeeds" without writing them.
	require.Equal(t, map[string]string{"a": "old-data"}, strMap(d.Snapshot()))
	require.NoError(t, f.Sync())
	d.Crash(NewRand(2), CrashRandomSubset)
	require.Equal(t, map[string]string{"a": "old-data"}, strMap(d.Snapshot()))
	require.Equal(t, uint64(1), d.FaultStats()[FaultSyncEIO])
}

func TestFaultFailingWritesAndReadsStoreNothing(t *testing.T) {
	for _, tc := range []struct {
		kind DiskOpKind
		flt  DiskFaultKind
		want error
	}{
		{OpWrite, FaultEIO, syscall.EIO},
		{OpWrite, FaultENOSPC, syscall.ENOSPC},
		{OpRead, FaultEIO, syscall.EIO},
	} {
		d := NewSimDisk(nil)
		diskCreateDurable(t, d, "a", []byte("durable"))
		d.SetFaultHook(faultOnce(tc.kind, DiskFault{Kind: tc.flt}), NewRand(1))
		f := diskOpen(t, d, "a", env.OpenExisting)
		var err error
		if tc.kind == OpWrite {
			_, err = f.WriteAt([]byte("XX"), 0)
		} else {
			_, err = f.ReadAt(make([]byte, 2), 0)
		}
		require.ErrorIs(t, err, tc.want, "%v %v", tc.kind, tc.flt)
		require.Equal(t, map[string]string{"a": "durable"}, strMap(d.Snapshot()))
		// The fault was one-shot: the same operation now succeeds.
		diskWriteAll(t, f, 0, []byte("XX"))
		require.Equal(t, map[string]string{"a": "XXrable"}, strMap(d.Snapshot()))
	}
}

func TestFaultLostWriteReportsSuccessStoresNothing(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "a", []byte("durable"))
	d.SetFaultHook(faultOnce(OpWrite, DiskFault{Kind: FaultLostWrite}), NewRand(1))
	f := diskOpen(t, d, "a", env.OpenExisting)
	n, err := f.WriteAt([]byte("LOST"), 0)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.NoError(t, f.Sync())
	require.Equal(t, map[string]string{"a": "durable"}, strMap(d.Snapshot()))
}

func TestFaultMisdirectedWriteLandsElsewhere(t *testing.T) {
	d := NewSimDisk(nil)
	old := bytes.Repeat([]byte{'o'}, 3*DiskSectorSize)
	diskCreateDurable(t, d, "a", old)
	d.SetFaultHook(faultOnce(OpWrite, DiskFault{Kind: FaultMisdirectedWrite, By: 2 * DiskSectorSize}), NewRand(1))
	f := diskOpen(t, d, "a", env.OpenExisting)
	page := bytes.Repeat([]byte{'n'}, DiskSectorSize)
	diskWriteAll(t, f, 0, page)
	got := d.Snapshot()["a"]
	require.Equal(t, old[:2*DiskSectorSize], got[:2*DiskSectorSize], "the target is untouched")
	require.Equal(t, page, got[2*DiskSectorSize:], "the data landed By bytes away")
}

func TestFaultTornWriteKeepsAStrictSubsetOfSectors(t *testing.T) {
	seenPartial := 0
	for seed := uint64(1); seed <= 50; seed++ {
		d := NewSimDisk(nil)
		old := make([]byte, 8*DiskSectorSize)
		diskCreateDurable(t, d, "a", old)
		d.SetFaultHook(faultOnce(OpWrite, DiskFault{Kind: FaultTornWrite}), NewRand(seed))
		f := diskOpen(t, d, "a", env.OpenExisting)
		diskWriteAll(t, f, 0, bytes.Repeat([]byte{0xff}, len(old)))
		got := d.Snapshot()["a"]
		kept := 0
		for s := 0; s < 8; s++ {
			sec := got[s*DiskSectorSize : (s+1)*DiskSectorSize]
			switch {
			case bytes.Equal(sec, bytes.Repeat([]byte{0xff}, DiskSectorSize)):
				kept++
			case bytes.Equal(sec, make([]byte, DiskSectorSize)):
			default:
				t.Fatalf("seed %d: sector %d partially written", seed, s)
			}
		}
		require.Greater(t, kept, 0, "seed %d", seed)
		require.Less(t, kept, 8, "seed %d", seed)
		seenPartial++
	}
	require.Equal(t, 50, seenPartial)
}

func TestFaultBitFlipIsLatentCorruptionOfTheMedium(t *testing.T) {
	d := NewSimDisk(nil)
	good := bytes.Repeat([]byte{0x55}, 64)
	diskCreateDurable(t, d, "a", good)
	d.SetFaultHook(faultOnce(OpRead, DiskFault{Kind: FaultBitFlip, Bits: 1}), NewRand(7))
	f := diskOpen(t, d, "a", env.OpenExisting)
	buf := make([]byte, 16)
	_, err := f.ReadAt(buf, 16)
	require.NoError(t, err)
	flipped := 0
	for i := range buf {
		flipped += bits.OnesCount8(buf[i] ^ 0x55)
	}
	require.Equal(t, 1, flipped, "exactly one bit flipped, inside the range read")
	// Every later read and a crash see the same corruption.
	again := make([]byte, 64)
	_, err = f.ReadAt(again, 0)
	require.NoError(t, err)
	require.Equal(t, buf, again[16:32])
	require.Equal(t, good[:16], again[:16])
	d.Crash(NewRand(1), CrashTorn)
	require.Equal(t, again, d.Snapshot()["a"])
}

func TestNonAtomicRenameCanLoseTheDestination(t *testing.T) {
	outcomes := map[string]int{}
	for _, nonAtomic := range []bool{false, true} {
		for seed := uint64(1); seed <= 200; seed++ {
			d := NewSimDisk(nil)
			diskCreateDurable(t, d, "tmp", []byte("new"))
			diskCreateDurable(t, d, "final", []byte("old"))
			d.SetNonAtomicRename(nonAtomic)
			require.NoError(t, d.Rename("tmp", "final"))
			d.Crash(NewRand(seed), CrashRandomSubset)
			snap := strMap(d.Snapshot())
			var o string
			switch {
			case snap["final"] == "" && snap["tmp"] == "new":
				o = "destination missing"
			case snap["final"] == "new" && snap["tmp"] == "new":
				o = "both names"
			case snap["final"] == "new":
				o = "renamed"
			case snap["final"] == "old" && snap["tmp"] == "new":
				o = "not renamed"
			default:
				t.Fatalf("impossible state %v", snap)
			}
			if !nonAtomic {
				require.Contains(t, []string{"renamed", "not renamed"}, o, "an atomic rename is all or nothing")
			}
			outcomes[o]++
		}
	}
	require.Positive(t, outcomes["destination missing"])
	require.Positive(t, outcomes["both names"])
}

// TestFaultSyncEIOKeepsTheFileSize: a failed fsync loses the unsynced
// pages but not the file's length (ext4 and XFS keep i_size): the lost
// bytes past the durable end read back as zeros. The length itself is not
// durable until a later fsync succeeds.
func TestFaultSyncEIOKeepsTheFileSize(t *testing.T) {
	for _, syncAgain := range []bool{false, true} {
		d := NewSimDisk(nil)
		diskCreateDurable(t, d, "a", []byte("old-data"))
		d.SetFaultHook(faultOnce(OpSync, DiskFault{Kind: FaultSyncEIO}), NewRand(1))
		f := diskOpen(t, d, "a", env.OpenExisting)
		diskWriteAll(t, f, 4, []byte("NEW-PAGES"))
		require.ErrorIs(t, f.Sync(), syscall.EIO)
		size, err := f.Size()
		require.NoError(t, err)
		require.Equal(t, int64(13), size)
		grown := "old-data\x00\x00\x00\x00\x00"
		require.Equal(t, map[string]string{"a": grown}, strMap(d.Snapshot()))
		require.Equal(t, map[string]string{"a": "old-data"}, strMap(d.DurableSnapshot()))
		want := "old-data"
		if syncAgain {
			// The next fsync "succeeds" and makes the zero-filled
			// length durable.
			require.NoError(t, f.Sync())
			want = grown
		}
		d.Crash(NewRand(2), CrashDropAll)
		require.Equal(t, map[string]string{"a": want}, strMap(d.Snapshot()), "sync again: %v", syncAgain)
	}
}
