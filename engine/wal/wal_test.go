package wal

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/env"
)

func genRecord(t *rapid.T) Record {
	return Record{
		Prev:    LSN(rapid.Uint64().Draw(t, "prev")),
		Xid:     rapid.Uint64().Draw(t, "xid"),
		Rmid:    rapid.Uint8().Draw(t, "rmid"),
		Info:    rapid.Uint8().Draw(t, "info"),
		Payload: rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "payload"),
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rec := genRecord(t)
		lsn := LSN(rapid.Uint64Range(1, 1<<40).Draw(t, "lsn") * Align)
		b := rec.AppendEncoded(nil)
		require.Len(t, b, int(rec.EncodedSize()))
		require.Zero(t, len(b)%Align)
		got, err := Decode(b, lsn, rec.Prev)
		require.NoError(t, err)
		require.Equal(t, lsn, got.LSN)
		require.Equal(t, rec.Prev, got.Prev)
		require.Equal(t, rec.Xid, got.Xid)
		require.Equal(t, rec.Rmid, got.Rmid)
		require.Equal(t, rec.Info, got.Info)
		require.Equal(t, len(rec.Payload), len(got.Payload))
		if len(rec.Payload) > 0 {
			require.Equal(t, rec.Payload, got.Payload)
		}
	})
}

// Any single flipped bit in a record is detected.
func TestRecordBitFlipDetected(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rec := genRecord(t)
		b := rec.AppendEncoded(nil)
		total := HeaderSize + len(rec.Payload)
		bit := rapid.IntRange(0, total*8-1).Draw(t, "bit")
		b[bit/8] ^= 1 << (bit % 8)
		_, err := Decode(b, Align, InvalidLSN)
		require.Error(t, err)
	})
}

func TestDecodeRejects(t *testing.T) {
	rec := Record{Prev: 64, Xid: 9, Rmid: 1, Info: 2, Payload: []byte("hello")}
	b := rec.AppendEncoded(nil)
	_, err := Decode(make([]byte, 64), 64, 0)
	require.ErrorIs(t, err, ErrZeroRecord)
	_, err = Decode(b[:20], 64, 0)
	require.ErrorIs(t, err, ErrShortRecord)
	_, err = Decode(b, 64, 128)
	require.ErrorIs(t, err, ErrBadPrev)
	_, err = Decode(b, 65, 0)
	require.ErrorIs(t, err, ErrBadAlignment)
	bad := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(bad, RecordSizeMax+1)
	_, err = Decode(bad, 64, 0)
	require.ErrorIs(t, err, ErrBadLength)
	bad = append([]byte(nil), b...)
	bad[HeaderSize] ^= 0xff
	_, err = Decode(bad, 64, 0)
	require.ErrorIs(t, err, ErrBadCRC)
}

// FuzzDecode: arbitrary bytes are decoded or rejected, never a panic, and
// whatever decodes re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	rec := Record{Prev: 64, Xid: 1, Rmid: 1, Info: 1, Payload: []byte("seed")}
	f.Add(rec.AppendEncoded(nil))
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(b, Align, InvalidLSN)
		if err != nil {
			return
		}
		again := got.AppendEncoded(nil)
		total := HeaderSize + len(got.Payload)
		if string(again[:total]) != string(b[:total]) {
			t.Fatalf("decoded record does not re-encode to its bytes")
		}
	})
}

var testCfg = Config{SegmentSize: SegmentSizeMin}

func newRealEnv(t *testing.T) *env.Env {
	e, err := env.NewReal(t.TempDir(), 1)
	require.NoError(t, err)
	return e
}

// readAll scans the WAL from start and returns the records and the reader.
func readAll(t *testing.T, e *env.Env, start LSN) ([]Record, *Reader) {
	r, err := NewReader(e, testCfg, start, InvalidLSN)
	require.NoError(t, err)
	var out []Record
	for {
		rec, ok, err := r.Next()
		require.NoError(t, err)
		if !ok {
			return out, r
		}
		out = append(out, rec)
	}
}

func TestWALInsertFlushRead(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	var ends []LSN
	for i := 0; i < 100; i++ {
		rec := Record{Xid: uint64(i), Rmid: 1, Info: 1, Payload: make([]byte, i*7)}
		_, end := w.Insert(&rec)
		ends = append(ends, end)
		if i%10 == 9 {
			w.Flush(end)
			require.False(t, w.NeedsFlush(end))
		}
	}
	require.True(t, w.NeedsFlush(ends[99]) == false)
	require.NoError(t, w.Close())
	recs, r := readAll(t, e, FirstLSN)
	require.Len(t, recs, 100)
	for i, rec := range recs {
		require.EqualValues(t, i, rec.Xid)
		if i > 0 {
			require.Equal(t, recs[i-1].LSN, rec.Prev)
		}
	}
	require.Equal(t, ends[99], r.End())
	require.Error(t, r.EndErr)
}

// The reader stops at the first torn record, and Open cuts the WAL there so
// that records written later are never read behind stale bytes.
func TestWALTornTailIsCutAtOpen(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	var starts []LSN
	for i := 0; i < 5; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 40)}
		s, end := w.Insert(&rec)
		starts = append(starts, s)
		w.Flush(end)
	}
	require.NoError(t, w.Close())
	// Tear record 3 (index 2): flip a payload byte on disk.
	f, err := e.Disk.Open(SegmentPath(testCfg, 0), env.OpenExisting)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, int64(starts[2])+HeaderSize+3)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	recs, r := readAll(t, e, FirstLSN)
	require.Len(t, recs, 2)
	require.ErrorIs(t, r.EndErr, ErrBadCRC)
	require.Equal(t, starts[2], r.End())

	w, err = Open(e, testCfg, r.End(), r.Last())
	require.NoError(t, err)
	rec := Record{Xid: 99, Rmid: 1, Payload: make([]byte, 40)} // same size as the stale ones
	_, end := w.Insert(&rec)
	w.Flush(end)
	require.NoError(t, w.Close())
	recs, _ = readAll(t, e, FirstLSN)
	require.Len(t, recs, 3, "stale records 4 and 5 must not follow the new record")
	require.EqualValues(t, 99, recs[2].Xid)
}

func TestSegmentNames(t *testing.T) {
	c := DefaultConfig()
	require.Equal(t, "000000010000000000000000", SegmentName(c, 0))
	require.Equal(t, "0000000100000000000000FF", SegmentName(c, 255))
	require.Equal(t, "000000010000000100000000", SegmentName(c, 256)) // 256 x 16 MiB = 4 GiB
	for _, seg := range []uint64{0, 1, 255, 256, 70000} {
		got, ok := ParseSegmentName(c, SegmentName(c, seg))
		require.True(t, ok)
		require.Equal(t, seg, got)
	}
	for _, bad := range []string{"", "xlogtemp", "00000001000000000000010", "000000020000000000000001", "0000000100000000000001ff", "00000001+0000000000000FF", "00000001 0000000000000FF", "0000000100000000000001G0"} {
		_, ok := ParseSegmentName(c, bad)
		require.False(t, ok, bad)
	}
	require.Error(t, Config{SegmentSize: 100000}.Validate())
	require.Error(t, Config{SegmentSize: 1 << 10}.Validate())
}

// Records of every size cross pages and many small segments as
// continuation records, with no switch record; the reader reassembles them
// and returns exactly what was inserted.
func TestWALAcrossSegments(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	sizes := []int{0, 100, 5000, 20000, testCfg.MaxRecordSize() - HeaderSize}
	var want []Record
	crossed := 0
	for i := 0; i < 60; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, sizes[i%len(sizes)])}
		if len(rec.Payload) > 0 {
			rec.Payload[len(rec.Payload)/2] = byte(i) // a mark, so payloads differ
		}
		start, end := w.Insert(&rec)
		if testCfg.segOf(start) != testCfg.segOf(end-1) {
			crossed++
		}
		want = append(want, rec)
		if i%7 == 0 {
			w.Flush(end)
		}
	}
	w.Flush(w.InsertLSN())
	require.NoError(t, w.Close())
	got, r := readAll(t, e, FirstLSN)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Xid, got[i].Xid)
		require.Equal(t, string(want[i].Payload), string(got[i].Payload))
	}
	require.Greater(t, crossed, 5, "records cross segments")
	require.Zero(t, r.Switches, "no switch record is forced by size")
	require.Equal(t, w.InsertLSN(), r.End())

	// Removing the old segments keeps the one holding keep and later.
	segs, err := listSegments(e, testCfg)
	require.NoError(t, err)
	keep := got[len(got)-3].LSN
	w2, err := Open(e, testCfg, r.End(), r.Last())
	require.NoError(t, err)
	n, err := w2.RemoveSegmentsBefore(keep)
	require.NoError(t, err)
	require.Equal(t, int(testCfg.segOf(keep)-segs[0]), n)
	first, err := FirstSegmentStart(e, testCfg)
	require.NoError(t, err)
	// The first record that starts in the oldest segment kept, past
	// the continuation of the record before it (XLogFindNextRecord).
	wantFirst := InvalidLSN
	for _, rec := range got {
		if rec.LSN >= testCfg.segStart(testCfg.segOf(keep)) {
			wantFirst = rec.LSN
			break
		}
	}
	require.Equal(t, wantFirst, first)
	got2, _ := readAll(t, e, keep)
	require.Len(t, got2, 3)
}

// At the end of recovery, segments after the end of valid WAL are stale:
// Open removes them so they can never be read behind new records.
func TestWALOpenRemovesLaterSegments(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	var ends []LSN
	for i := 0; i < 12; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 20000)}
		_, end := w.Insert(&rec)
		w.Flush(end)
		ends = append(ends, end)
	}
	require.NoError(t, w.Close())
	// Pretend recovery ended after record 2 (a torn record 3).
	recs, _ := readAll(t, e, FirstLSN)
	w, err = Open(e, testCfg, ends[1], recs[1].LSN)
	require.NoError(t, err)
	segs, err := listSegments(e, testCfg)
	require.NoError(t, err)
	require.Equal(t, []uint64{testCfg.segOf(ends[1])}, segs)
	rec := Record{Xid: 99, Rmid: 1, Payload: make([]byte, 20000)}
	_, end := w.Insert(&rec)
	w.Flush(end)
	require.NoError(t, w.Close())
	recs, _ = readAll(t, e, FirstLSN)
	require.Len(t, recs, 3)
	require.EqualValues(t, 99, recs[2].Xid)
}

// writeEightBigRecords makes a WAL of eight flushed 20 kB records, which
// fill segment 0 and run into segment 1.
func writeEightBigRecords(t *testing.T) *env.Env {
	t.Helper()
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	for i := 0; i < 8; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 20000)}
		_, end := w.Insert(&rec)
		w.Flush(end)
	}
	require.NoError(t, w.Close())
	return e
}

// A segment whose first page header names another segment ends the WAL
// ("unexpected pageaddr"), and with it the record that runs into it.
func TestWALWrongSegmentHeaderEndsWAL(t *testing.T) {
	e := writeEightBigRecords(t)
	f, err := e.Disk.Open(SegmentPath(testCfg, 1), env.OpenExisting)
	require.NoError(t, err)
	_, err = f.WriteAt(testCfg.appendPageHeader(nil, testCfg.segStart(7), 1, XLPFirstIsContRecord, 0), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	recs, r := readAll(t, e, FirstLSN)
	require.ErrorIs(t, r.EndErr, ErrBadSegment)
	require.Equal(t, testCfg.segOf(recs[len(recs)-1].LSN), uint64(0))
}

// eioDisk fails every read of one file with EIO, as a failing disk does.
type eioDisk struct {
	env.Disk
	path string
}

type eioFile struct{ env.File }

func (f eioFile) ReadAt(p []byte, off int64) (int, error) { return 0, syscall.EIO }

func (d eioDisk) Open(path string, flag env.OpenFlag) (env.File, error) {
	f, err := d.Disk.Open(path, flag)
	if err == nil && path == d.path {
		return eioFile{f}, nil
	}
	return f, err
}

// A read error in the next segment is an error, never the end of the WAL:
// redo that stopped there would let the end-of-recovery checkpoint throw
// away every acknowledged commit after it (found by a fault campaign: a
// read EIO on a segment header during recovery lost commits).
func TestWALReadErrorIsNotEndOfWAL(t *testing.T) {
	e := writeEightBigRecords(t)
	fe := *e
	fe.Disk = eioDisk{Disk: e.Disk, path: SegmentPath(testCfg, 1)}
	r, err := NewReader(&fe, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	var readErr error
	for i := 0; i < 100; i++ {
		_, ok, err := r.Next()
		if err != nil {
			readErr = err
			break
		}
		require.True(t, ok, "the WAL must not end at the unreadable segment: %v", r.EndErr)
	}
	require.ErrorIs(t, readErr, syscall.EIO)
}
