package wal

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// fillTo inserts and flushes 20 kB records until the insert position is
// in segment seg.
func fillTo(t *testing.T, w *WAL, seg uint64) {
	t.Helper()
	for i := 0; w.cfg.segOf(w.InsertLSN()) < seg; i++ {
		require.Less(t, i, 1000, "fillTo does not progress")
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: bytes.Repeat([]byte{byte(i + 1)}, 20000)}
		_, end := w.Insert(&rec)
		w.Flush(end)
	}
}

func readFile(t *testing.T, e *env.Env, path string) []byte {
	t.Helper()
	f, err := e.Disk.Open(path, env.OpenExisting)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

func segmentsOn(t *testing.T, e *env.Env, c Config) []uint64 {
	t.Helper()
	segs, err := listSegments(e, c)
	require.NoError(t, err)
	return segs
}

// recycledWAL writes segments 0 to 3, ends segment 3 with a switch record
// so that the next record goes to segment 4, and recycles segments 0 and
// 1 (before a REDO pointer in segment 2) into segments 4 and 5. It
// returns the WAL and segment 0's and 1's bytes as they were.
func recycledWAL(t *testing.T, e *env.Env) (*WAL, [][]byte) {
	t.Helper()
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	fillTo(t, w, 3)
	end, switched := w.SwitchSegment()
	require.True(t, switched)
	w.Flush(end)
	require.Equal(t, testCfg.segStart(4), w.InsertLSN())
	old := [][]byte{readFile(t, e, SegmentPath(testCfg, 0)), readFile(t, e, SegmentPath(testCfg, 1))}
	st, err := w.RemoveOldXlogFiles(testCfg.segStart(2)+SegHdrSize, w.Flushed(), true, 5)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{Recycled: 2}, st)
	require.Equal(t, []uint64{2, 3, 4, 5}, segmentsOn(t, e, testCfg))
	// Renamed, not rewritten: the stale pages are there, naming the
	// segments they were.
	require.Equal(t, old[0], readFile(t, e, SegmentPath(testCfg, 4)))
	require.Equal(t, old[1], readFile(t, e, SegmentPath(testCfg, 5)))
	return w, old
}

// A recycled segment's stale pages are never read as WAL: the reader
// that crosses into it stops at its first page with PostgreSQL's
// "unexpected pageaddr" (XLogReaderValidatePageHeader), and once the WAL
// writer has overwritten part of it, the reader returns exactly the new
// records and none of the stale ones after them.
func TestRecycledSegmentStalePagesRejected(t *testing.T) {
	e := newRealEnv(t)
	w, _ := recycledWAL(t, e)
	start, err := FirstSegmentStart(e, testCfg)
	require.NoError(t, err)
	recs, r := readAll(t, e, start)
	require.NotEmpty(t, recs)
	require.Equal(t, testCfg.segStart(4), r.End())
	require.ErrorIs(t, r.EndErr, ErrUnexpectedPageAddr)
	require.ErrorIs(t, r.EndErr, ErrBadSegment)
	require.Contains(t, r.EndErr.Error(), "unexpected pageaddr 0/00000000 in log segment 000000010000000000000004, offset 0")

	// New WAL overwrites segment 4 from its start.
	var ends []LSN
	for i := 0; i < 3; i++ {
		rec := Record{Xid: uint64(100 + i), Rmid: 1, Payload: []byte(fmt.Sprintf("new %d", i))}
		_, end := w.Insert(&rec)
		ends = append(ends, end)
	}
	w.Flush(ends[2])
	recs2, r2 := readAll(t, e, start)
	require.Len(t, recs2, len(recs)+3)
	for i, rec := range recs2[len(recs):] {
		require.Equal(t, uint64(100+i), rec.Xid)
	}
	require.Equal(t, LSN(AlignUp(uint64(ends[2]))), r2.End())
	require.Error(t, r2.EndErr)
	require.NoError(t, w.Close())
}

// A record that crosses from a recycled segment's first page into its
// second, whose write a power loss lost: the second page is the stale
// one, and the reader says so and reports the record's continuation
// missing (abortedRecPtr, missingContrecPtr), so that the end of
// recovery overwrites it with XLOG_OVERWRITE_CONTRECORD.
func TestRecycledSegmentLostContinuationPage(t *testing.T) {
	e := newRealEnv(t)
	w, old := recycledWAL(t, e)
	rec := Record{Xid: 7, Rmid: 1, Payload: bytes.Repeat([]byte{7}, 12000)}
	start, end := w.Insert(&rec)
	w.Flush(end)
	require.NoError(t, w.Close())
	require.Equal(t, uint64(4), testCfg.segOf(start))
	require.Greater(t, end, testCfg.segStart(4)+PageSize)
	// The power loss: page 1 of segment 4 as it was before the write.
	f, err := e.Disk.Open(SegmentPath(testCfg, 4), env.OpenExisting)
	require.NoError(t, err)
	_, err = f.WriteAt(old[0][PageSize:2*PageSize], PageSize)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	first, err := FirstSegmentStart(e, testCfg)
	require.NoError(t, err)
	_, r := readAll(t, e, first)
	require.Equal(t, testCfg.segStart(4), r.End(), "the end of WAL is the switch record's segment end, before the record")
	require.ErrorIs(t, r.EndErr, ErrUnexpectedPageAddr)
	require.Contains(t, r.EndErr.Error(), "unexpected pageaddr 0/00002000 in log segment 000000010000000000000004, offset 8192")
	require.Equal(t, start, r.AbortedRecPtr)
	require.Equal(t, testCfg.segStart(4)+PageSize, r.MissingContrecPtr)
}

// A switch record in a recycled segment: the rest of the segment is
// written as zeros, so that the complete segment (and its archived copy)
// holds none of the stale pages.
func TestRecycledSegmentSwitchOverwritesStalePages(t *testing.T) {
	e := newRealEnv(t)
	w, _ := recycledWAL(t, e)
	rec := Record{Xid: 9, Rmid: 1, Payload: []byte("before the switch")}
	w.Insert(&rec)
	end, switched := w.SwitchSegment()
	require.True(t, switched)
	w.Flush(end)
	require.NoError(t, w.Close())
	b := readFile(t, e, SegmentPath(testCfg, 4))
	require.Len(t, b, int(testCfg.SegmentSize))
	first, err := FirstSegmentStart(e, testCfg)
	require.NoError(t, err)
	_, r := readAll(t, e, first)
	require.Equal(t, 2, r.Switches)
	tail := b[testCfg.segOff(r.SwitchEnd):]
	require.Equal(t, make([]byte, len(tail)), tail)
}

// archCfg is testCfg with archive_mode on.
var recycleArchCfg = Config{SegmentSize: SegmentSizeMin, ArchiveMode: true}

// A segment is recycled only once archived (XLogArchiveCheckDone), oldest
// first, and its status files go with it; the planted bug
// recycle-before-archived recycles it anyway.
func TestRecycleWaitsForArchive(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, recycleArchCfg))
	w, err := Open(e, recycleArchCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	fillTo(t, w, 4)
	a := NewArchiveStatus(e, recycleArchCfg)
	ready, err := a.ReadyList()
	require.NoError(t, err)
	require.Equal(t, []uint64{0, 1, 2, 3}, ready)
	keep := recycleArchCfg.segStart(4) + SegHdrSize

	st, err := w.RemoveOldXlogFiles(keep, w.Flushed(), true, 20)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{}, st, "nothing is archived yet")
	require.Equal(t, []uint64{0, 1, 2, 3, 4}, segmentsOn(t, e, recycleArchCfg))

	require.NoError(t, a.MarkDone(0))
	require.NoError(t, a.MarkDone(1))
	require.NoError(t, a.MarkDone(3)) // 2 is not: 3 waits behind it
	st, err = w.RemoveOldXlogFiles(keep, w.Flushed(), true, 20)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{Recycled: 2}, st)
	require.Equal(t, []uint64{2, 3, 4, 5, 6}, segmentsOn(t, e, recycleArchCfg))
	for _, s := range []uint64{0, 1} {
		done, err := a.IsDone(s)
		require.NoError(t, err)
		require.False(t, done, "segment %d's status file outlives it", s)
	}
	require.NoError(t, w.Close())

	// The planted bug: segment 2 has only .ready, and is recycled.
	bug := recycleArchCfg
	bug.Bugs = bugs.Set(0).With(bugs.RecycleBeforeArchived)
	wb, err := Open(e, bug, w.Flushed(), InvalidLSN)
	require.NoError(t, err)
	st, err = wb.RemoveOldXlogFiles(keep, wb.Flushed(), true, 20)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{Recycled: 2}, st)
	require.NoError(t, wb.Close())
}

// Past the recycling horizon old segments are deleted, and wal_recycle =
// off deletes them all.
func TestRecycleHorizon(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	fillTo(t, w, 5)
	// Segment 5 holds the end: one free name (6) up to the horizon 6.
	st, err := w.RemoveOldXlogFiles(testCfg.segStart(3)+SegHdrSize, w.Flushed(), true, 6)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{Recycled: 1, Removed: 2}, st)
	require.Equal(t, []uint64{3, 4, 5, 6}, segmentsOn(t, e, testCfg))
	st, err = w.RemoveOldXlogFiles(testCfg.segStart(5)+SegHdrSize, w.Flushed(), false, 20)
	require.NoError(t, err)
	require.Equal(t, RemovalStats{Removed: 2}, st)
	require.Equal(t, []uint64{5, 6}, segmentsOn(t, e, testCfg))
	require.NoError(t, w.Close())
}

// XLOGfileslop: at least min_wal_size past the REDO pointer, at most
// max_wal_size, and in between the estimated WAL of the next checkpoint
// cycle, (1 + checkpoint_completion_target) times the estimate plus 10%.
func TestXLogFileSlop(t *testing.T) {
	seg := testCfg.SegmentSize
	redo := testCfg.segStart(10) + 100
	for _, tc := range []struct {
		estimate float64
		want     uint64
	}{
		{0, 11},                  // min_wal_size: redo's segment + 2 - 1
		{0.5 * float64(seg), 12}, // 1.045 segments past redo
		{1.0 * float64(seg), 13}, // 2.09 segments past redo
		{3.0 * float64(seg), 13}, // 6.27 segments, clamped by max_wal_size
		{100 * float64(seg), 13}, // ditto
	} {
		require.Equal(t, tc.want, XLogFileSlop(testCfg, redo, 2*seg, 4*seg, tc.estimate, 0.9), "estimate %v", tc.estimate)
	}
}

// FuzzRecycledSegment: segment 1 is a recycled file, segment 0's old
// pages, overwritten by new WAL up to a cut (a power loss kept the writes
// before it, sector by sector, and none after): whatever the cut, the
// reader returns a prefix of the records written and never a stale one.
func FuzzRecycledSegment(f *testing.F) {
	f.Add(uint16(0), uint16(0))
	f.Add(uint16(PageSize), uint16(0))
	f.Add(uint16(PageSize+512), uint16(3*512))
	f.Add(uint16(3*PageSize+100), uint16(512))
	e, err := env.NewReal(f.TempDir(), 1)
	if err != nil {
		f.Fatal(err)
	}
	if err := Create(e, testCfg); err != nil {
		f.Fatal(err)
	}
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	if err != nil {
		f.Fatal(err)
	}
	var recs []Record
	sizes := []int{10, 3000, 9000, 50, 17000, 8}
	for i := 0; w.InsertLSN() < testCfg.segStart(2)-3*PageSize; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: bytes.Repeat([]byte{byte('a' + i%26)}, sizes[i%len(sizes)])}
		w.Insert(&rec)
		recs = append(recs, rec)
	}
	w.Flush(w.InsertLSN())
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	var segs [2][]byte
	for s := range segs {
		fl, err := e.Disk.Open(SegmentPath(testCfg, uint64(s)), env.OpenExisting)
		if err != nil {
			f.Fatal(err)
		}
		size, _ := fl.Size()
		segs[s] = make([]byte, size)
		if _, err := fl.ReadAt(segs[s], 0); err != nil {
			f.Fatal(err)
		}
		fl.Close()
	}
	f.Fuzz(func(t *testing.T, cut, hole uint16) {
		// Segment 1: new bytes before cut, then a hole of lost sectors
		// (stale), then new bytes again, then the stale rest.
		b := append([]byte(nil), segs[0]...) // the recycled file
		n := min(int(cut), len(segs[1]))
		copy(b, segs[1][:n])
		if h := n + int(hole)/512*512; h < len(segs[1]) {
			copy(b[h:], segs[1][h:])
		}
		r, err := NewMemReader(testCfg, func(s uint64) []byte {
			switch s {
			case 0:
				return segs[0]
			case 1:
				return b
			}
			return nil
		}, FirstLSN, InvalidLSN)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			rec, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if i >= len(recs) || rec.LSN != recs[i].LSN || !bytes.Equal(rec.Payload, recs[i].Payload) {
				t.Fatalf("record %d at %s is not what was written: a stale record was read", i, rec.LSN)
			}
		}
	})
}

// PreallocXlogFiles makes the next segment once the WAL fills three
// quarters of the current one, and only then; a segment already there (a
// recycled one) is kept.
func TestPreallocXlogFiles(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	rec := Record{Xid: 1, Rmid: 1, Payload: make([]byte, 20000)}
	_, end := w.Insert(&rec)
	w.Flush(end)
	require.Less(t, testCfg.segOff(end), testCfg.SegmentSize/4*3)
	require.False(t, w.PreallocXlogFiles(w.Flushed()))
	require.Equal(t, []uint64{0}, segmentsOn(t, e, testCfg))
	for testCfg.segOff(w.Flushed()) < testCfg.SegmentSize/4*3 {
		_, end = w.Insert(&Record{Xid: 2, Rmid: 1, Payload: make([]byte, 2000)})
		w.Flush(end)
	}
	require.Equal(t, uint64(0), testCfg.segOf(w.Flushed()))
	require.True(t, w.PreallocXlogFiles(w.Flushed()))
	require.Equal(t, []uint64{0, 1}, segmentsOn(t, e, testCfg))
	require.False(t, w.PreallocXlogFiles(w.Flushed()), "segment 1 is there already")
	// The WAL writer takes the preallocated segment on.
	fillTo(t, w, 2)
	first, err := FirstSegmentStart(e, testCfg)
	require.NoError(t, err)
	recs, r := readAll(t, e, first)
	require.NotEmpty(t, recs)
	require.Equal(t, w.Flushed(), r.End())
	require.NoError(t, w.Close())
}
