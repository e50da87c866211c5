package simtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// archiveFixture is a simulated disk watched by an archive checker, on
// which a test plays the WAL writer, the archiver and the checkpoint by
// hand, right or wrong.
type archiveFixture struct {
	t    *testing.T
	res  *Result
	disk *world.SimDisk
	c    *archiveChecker
	cfg  wal.Config
}

func newArchiveFixture(t *testing.T) *archiveFixture {
	f := &archiveFixture{t: t, res: &Result{OK: true, Online: CheckerCounts{}}, cfg: wal.Config{SegmentSize: wal.SegmentSizeMin, ArchiveMode: true}}
	f.disk = world.NewSimDisk(func(op world.DiskOp) error {
		f.c.diskOp(op)
		return nil
	})
	t.Cleanup(f.disk.Release)
	f.c = newArchiveChecker(f.res, f.disk, f.cfg, archiveDir)
	for _, d := range []string{wal.StatusDir, archiveDir} {
		require.NoError(t, f.disk.MkdirAll(d))
	}
	for _, d := range []string{"", wal.Dir, wal.StatusDir, archiveDir} {
		require.NoError(t, f.disk.SyncDir(d))
	}
	return f
}

// segment is the content of segment seg: its first page's header, n records, and
// with complete, the switch record that ends it.
func (f *archiveFixture) segment(seg uint64, n int, complete bool) []byte {
	b := wal.SegmentHeader(f.cfg, seg)
	start := seg * uint64(f.cfg.SegmentSize)
	prev := wal.LSN(0)
	add := func(r *wal.Record) {
		r.LSN, r.Prev = wal.LSN(start+uint64(len(b))), prev
		prev = r.LSN
		b = r.AppendEncoded(b)
	}
	for i := 0; i < n; i++ {
		add(&wal.Record{Xid: uint64(i + 1), Rmid: 1, Payload: []byte("row")})
	}
	if complete {
		add(&wal.Record{Rmid: wal.RMXLog, Info: wal.InfoSwitch})
	}
	return b
}

// write writes path with data; with durable, fsyncs it and its directory.
func (f *archiveFixture) write(path string, data []byte, durable bool) {
	h, err := f.disk.Open(path, env.OpenCreate)
	require.NoError(f.t, err)
	_, err = h.WriteAt(data, 0)
	require.NoError(f.t, err)
	if durable {
		require.NoError(f.t, h.Sync())
		require.NoError(f.t, f.disk.SyncDir(path[:strings.LastIndex(path, "/")]))
	}
	require.NoError(f.t, h.Close())
}

func (f *archiveFixture) seg(seg uint64) string  { return wal.SegmentPath(f.cfg, seg) }
func (f *archiveFixture) name(seg uint64) string { return wal.SegmentName(f.cfg, seg) }
func (f *archiveFixture) status(seg uint64, suffix string) string {
	return wal.StatusDir + "/" + f.name(seg) + suffix
}

// archive plays the archiver for seg: copy (durably unless skipFsync),
// then rename .ready to .done and fsync archive_status.
func (f *archiveFixture) archive(seg uint64, skipFsync bool) {
	cur, _, ok := f.disk.Contents(f.seg(seg))
	require.True(f.t, ok)
	tmp := archiveDir + "/" + f.name(seg) + ".tmp"
	f.write(tmp, append([]byte(nil), cur...), !skipFsync)
	require.NoError(f.t, f.disk.Rename(tmp, archiveDir+"/"+f.name(seg)))
	require.NoError(f.t, f.disk.SyncDir(archiveDir))
	require.NoError(f.t, f.disk.Rename(f.status(seg, ".ready"), f.status(seg, ".done")))
	require.NoError(f.t, f.disk.SyncDir(wal.StatusDir))
}

func (f *archiveFixture) requireOK() {
	f.t.Helper()
	require.True(f.t, f.res.OK, "%v", f.res.Failures)
}

func (f *archiveFixture) requireFail(substr string) {
	f.t.Helper()
	require.False(f.t, f.res.OK, "the archive checker missed it")
	require.Equal(f.t, CheckArchive, f.res.Checker)
	require.Contains(f.t, f.res.Failures[0], substr)
}

// TestArchiveCheckerQuietOnTheProtocol: the WAL writer, the archiver and
// the checkpoint doing everything right, crash included, pass every
// check, and each check judged something.
func TestArchiveCheckerQuietOnTheProtocol(t *testing.T) {
	f := newArchiveFixture(t)
	for seg := uint64(0); seg < 3; seg++ {
		f.write(f.seg(seg), f.segment(seg, 5, true), true)
		f.write(f.status(seg, ".ready"), nil, true)
		f.archive(seg, false)
	}
	require.NoError(t, f.disk.Remove(f.seg(0)))
	require.NoError(t, f.disk.Remove(f.seg(1)))
	require.NoError(t, f.disk.SyncDir(wal.Dir))
	f.write(f.seg(3), f.segment(3, 2, false), true) // the one being filled
	f.disk.Crash(world.NewRand(1), world.CrashDropAll)
	f.c.afterRecovery()
	f.requireOK()
	for _, k := range []string{countArchiveReady, countArchiveDone, countArchiveRemoved, countArchiveAfterRecovery} {
		require.NotZero(t, f.res.Online.of(k).Judged, k)
	}
}

// TestArchiveCheckerPartialReady: .ready for a segment still being filled
// (mutant 38) fails at once.
func TestArchiveCheckerPartialReady(t *testing.T) {
	f := newArchiveFixture(t)
	f.write(f.seg(0), f.segment(0, 5, false), true)
	f.write(f.status(0, ".ready"), nil, true)
	f.requireFail("is not complete")
}

// TestArchiveCheckerDoneBeforeFsync: .done for a copy that is not durable
// (mutant 39) fails at the rename, before any crash.
func TestArchiveCheckerDoneBeforeFsync(t *testing.T) {
	f := newArchiveFixture(t)
	f.write(f.seg(0), f.segment(0, 5, true), true)
	f.write(f.status(0, ".ready"), nil, true)
	f.archive(0, true)
	f.requireFail("holds 0 bytes")
}

// TestArchiveCheckerCopyDiffers: an archived copy that is not the
// completed segment fails.
func TestArchiveCheckerCopyDiffers(t *testing.T) {
	f := newArchiveFixture(t)
	f.write(f.seg(0), f.segment(0, 5, true), true)
	f.write(f.status(0, ".ready"), nil, true)
	cp := f.segment(0, 5, true)
	cp[wal.SegHdrSize+wal.HeaderSize] ^= 1 // a bit flipped in the first record
	f.write(archiveDir+"/"+f.name(0), cp, true)
	require.NoError(t, f.disk.Rename(f.status(0, ".ready"), f.status(0, ".done")))
	f.requireFail("differs from the completed segment")

	g := newArchiveFixture(t)
	g.write(g.seg(0), g.segment(0, 5, true), true)
	g.write(g.status(0, ".ready"), nil, true)
	g.write(archiveDir+"/"+g.name(0), g.segment(0, 4, true), true) // a shorter one
	require.NoError(t, g.disk.Rename(g.status(0, ".ready"), g.status(0, ".done")))
	g.requireFail("not the completed segment's")
}

// TestArchiveCheckerRemoveUnarchived: the checkpoint removing a completed
// segment that was never archived (mutant 40) fails at the removal, and
// the archive's gap fails after recovery too.
func TestArchiveCheckerRemoveUnarchived(t *testing.T) {
	f := newArchiveFixture(t)
	f.write(f.seg(0), f.segment(0, 5, true), true)
	f.write(f.status(0, ".ready"), nil, true)
	f.write(f.seg(1), f.segment(1, 1, false), true)
	require.NoError(t, f.disk.Remove(f.seg(0)))
	f.requireFail("never archived")

	g := newArchiveFixture(t)
	g.write(g.seg(1), g.segment(1, 1, false), true) // segment 0 is in neither place
	g.c.afterRecovery()
	g.requireFail("the archive holds no durable")
}

// TestArchiveCheckerCompletedRewritten: a recovery that writes over the
// tail of a completed, notified segment still in pg_wal (planted bug
// no-overwrite-contrecord) fails after recovery, whether or not the
// archiver had copied it (a copy made before is judged against pg_wal's
// segment too); the same segment left as completed passes.
func TestArchiveCheckerCompletedRewritten(t *testing.T) {
	for _, archived := range []bool{false, true} {
		f := newArchiveFixture(t)
		f.write(f.seg(0), f.segment(0, 5, true), true)
		f.write(f.status(0, ".ready"), nil, true)
		if archived {
			f.archive(0, false)
		}
		f.write(f.seg(1), f.segment(1, 1, false), true)
		f.disk.Crash(world.NewRand(1), world.CrashDropAll)
		f.c.afterRecovery()
		f.requireOK()

		g := newArchiveFixture(t)
		g.write(g.seg(0), g.segment(0, 5, true), true)
		g.write(g.status(0, ".ready"), nil, true)
		if archived {
			g.archive(0, false)
		}
		g.disk.Crash(world.NewRand(1), world.CrashDropAll)
		g.write(g.seg(0), g.segment(0, 3, true), true) // the end of recovery writes over its tail
		g.c.afterRecovery()
		if archived {
			// The copy, the segment as completed, is judged first.
			g.requireFail("differs from the completed segment in pg_wal")
			require.Contains(t, g.res.Failures[1], "durably holds other bytes than when it was completed")
			continue
		}
		g.requireFail("durably holds other bytes than when it was completed")
		require.Equal(t, ArchiveRecoveredRewritten, g.res.Finding.Archive)
	}
}

// TestArchiveCheckerRuns: in real runs with archive_mode and a short
// archive_timeout, the checker judges every kind of event and passes.
func TestArchiveCheckerRuns(t *testing.T) {
	total := CheckerCounts{}
	for seed := uint64(1); seed <= 40; seed++ {
		c := DefaultConfig(seed)
		c.ArchiveTimeout = 5 * time.Millisecond
		r := Run(c)
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		total.Add(r.Online)
	}
	for _, k := range []string{countArchiveReady, countArchiveDone, countArchiveRemoved, countArchiveAfterRecovery} {
		require.NotZero(t, total.of(k).Judged, k)
	}
}
