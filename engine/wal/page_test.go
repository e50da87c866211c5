package wal

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// memWAL is a WAL written in memory: the segments' bytes by number.
type memWAL map[uint64][]byte

func (m memWAL) seg(s uint64) []byte { return m[s] }

// segmentsOf reads every segment file of e's pg_wal into memory.
func segmentsOf(t *testing.T, w *WAL) memWAL {
	t.Helper()
	segs, err := listSegments(w.e, w.cfg)
	require.NoError(t, err)
	out := memWAL{}
	for _, s := range segs {
		f, err := w.e.Disk.Open(SegmentPath(w.cfg, s), env.OpenExisting)
		require.NoError(t, err)
		size, err := f.Size()
		require.NoError(t, err)
		b := make([]byte, size)
		_, err = f.ReadAt(b, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		out[s] = b
	}
	return out
}

func readMem(t *testing.T, m memWAL, start, prev LSN) ([]Record, *Reader) {
	t.Helper()
	r, err := NewMemReader(testCfg, m.seg, start, prev)
	require.NoError(t, err)
	var out []Record
	for i := 0; i < 100000; i++ {
		rec, ok, err := r.Next()
		require.NoError(t, err)
		if !ok {
			return out, r
		}
		out = append(out, rec)
	}
	t.Fatal("the WAL does not end")
	return nil, nil
}

// The byte-position arithmetic is PostgreSQL's: every record start is
// after a page header, every end is where the next record's bytes begin
// or a page boundary, and the conversions invert each other.
func TestBytePosConversions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := Config{SegmentSize: int64(SegmentSizeMin) << rapid.IntRange(0, 4).Draw(t, "shift")}
		pos := rapid.Uint64Range(0, 1<<36).Draw(t, "pos") &^ (Align - 1)
		start := c.bytePosToRecPtr(pos)
		end := c.bytePosToEndRecPtr(pos)
		if pageOff(start) < c.pageHdrSize(pageStart(start)) {
			t.Fatalf("start %s inside a page header", start)
		}
		if c.recPtrToBytePos(start) != pos || c.recPtrToBytePos(end) != pos {
			t.Fatalf("pos %d: start %s end %s do not map back", pos, start, end)
		}
		if end != start && (pageOff(end) != 0 || end+LSN(c.pageHdrSize(end)) != start) {
			t.Fatalf("pos %d: end %s and start %s differ by more than a page header", pos, end, start)
		}
	})
}

// Records that cross pages and segments carry continuation headers whose
// xlp_rem_len says what remains, and every page names its own address.
func TestContinuationHeaders(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	var ends []LSN
	for i := 0; i < 12; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 9000+i*777)}
		_, end := w.Insert(&rec)
		ends = append(ends, end)
	}
	w.Flush(w.InsertLSN())
	m := segmentsOf(t, w)
	require.NoError(t, w.Close())
	require.Greater(t, len(m), 1, "the records run into a second segment")
	conts := 0
	for s, b := range m {
		for off := 0; off+ShortPageHdrSize <= len(b); off += PageSize {
			p := testCfg.segStart(s) + LSN(off)
			h, err := testCfg.validatePageHeader(p, b[off:], 0)
			require.NoError(t, err, "page %s", p)
			if h.info&XLPFirstIsContRecord != 0 {
				conts++
				require.Positive(t, h.remLen)
			}
		}
	}
	require.Greater(t, conts, 10, "records of 9 kB and more continue on later pages")
	got, r := readMem(t, m, FirstLSN, InvalidLSN)
	require.Len(t, got, 12)
	require.Equal(t, ends[len(ends)-1], r.End())
	require.Zero(t, r.Switches)
}

// Each page-header check ends the WAL with PostgreSQL's message, at the
// record that needed the page.
func TestPageHeaderChecks(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 5000)}
		w.Insert(&rec)
	}
	w.Flush(w.InsertLSN())
	base := segmentsOf(t, w)
	require.NoError(t, w.Close())
	const page = PageSize // the second page of segment 0
	for _, tc := range []struct {
		name  string
		patch func(b []byte)
		want  string
	}{
		{"magic", func(b []byte) { binary.LittleEndian.PutUint16(b[page:], 0xBEEF) }, "invalid magic number BEEF"},
		{"info", func(b []byte) { binary.LittleEndian.PutUint16(b[page+2:], 0x0100|XLPFirstIsContRecord) }, "invalid info bits"},
		{"pageaddr", func(b []byte) { binary.LittleEndian.PutUint64(b[page+8:], uint64(page+testCfg.SegmentSize)) }, "unexpected pageaddr"},
		{"timeline", func(b []byte) {
			binary.LittleEndian.PutUint32(b[4:], 3) // the first page on timeline 3, the second on 1
		}, "out-of-sequence timeline ID 1 (after 3)"},
		{"no contrecord flag", func(b []byte) { binary.LittleEndian.PutUint16(b[page+2:], 0) }, "there is no contrecord flag"},
		{"rem_len", func(b []byte) { binary.LittleEndian.PutUint32(b[page+16:], 7) }, "invalid contrecord length 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := memWAL{0: append([]byte(nil), base[0]...)}
			tc.patch(m[0])
			got, r := readMem(t, m, FirstLSN, InvalidLSN)
			require.NotNil(t, r.EndErr)
			require.Contains(t, r.EndErr.Error(), tc.want)
			require.Len(t, got, 1, "the record that crosses into the second page ends the WAL")
			require.Equal(t, got[0].LSN+LSN(got[0].EncodedSize()), r.End())
		})
	}
	// A record asked for at a page's start whose page continues a record.
	_, r := readMem(t, memWAL{0: base[0]}, page, InvalidLSN)
	require.ErrorContains(t, r.EndErr, "contrecord is requested by")
}

// The 2021 bug's mechanism and its fix. A record crossing into segment 1
// is lost with segment 1 at a crash; segment 0, complete, was archived
// already. Recovery ends in the incomplete record. With the fix, new WAL
// starts at segment 1 with XLOG_OVERWRITE_CONTRECORD, so the archived
// segment 0 followed by the new segment 1 reads as the new WAL does.
// Without it (new WAL from the record's start, rewriting segment 0's
// tail), the archived segment 0 followed by the new segment 1 splices the
// old record's head onto the new WAL's continuation, which the reader
// must refuse rather than replay.
func TestOverwriteContrecord(t *testing.T) {
	for _, fixed := range []bool{true, false} {
		e := newRealEnv(t)
		require.NoError(t, Create(e, testCfg))
		w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
		require.NoError(t, err)
		for w.InsertLSN() < testCfg.segStart(1)-3000 {
			w.Insert(&Record{Xid: 1, Rmid: 1, Payload: make([]byte, 2000)})
		}
		big := Record{Xid: 2, Rmid: 1, Payload: make([]byte, 9000)}
		bigStart, _ := w.Insert(&big)
		w.Flush(w.InsertLSN())
		archived := segmentsOf(t, w)[0]
		require.NoError(t, w.Close())
		// The crash lost segment 1.
		require.NoError(t, e.Disk.Remove(SegmentPath(testCfg, 1)))

		r, err := NewReader(e, testCfg, FirstLSN, InvalidLSN)
		require.NoError(t, err)
		var last LSN
		for {
			rec, ok, err := r.Next()
			require.NoError(t, err)
			if !ok {
				break
			}
			last = rec.LSN
		}
		require.NoError(t, r.Close())
		require.Equal(t, bigStart, r.End())
		require.Equal(t, bigStart, r.AbortedRecPtr)
		require.Equal(t, testCfg.segStart(1), r.MissingContrecPtr)

		at := r.End()
		if fixed {
			at = r.MissingContrecPtr
		}
		w, err = Open(e, testCfg, at, last)
		require.NoError(t, err)
		if fixed {
			w.Flush(w.InsertOverwriteContrecord(r.AbortedRecPtr))
		}
		// New WAL: a record of the same size, crossing into segment 1
		// unless the fix moved it there already.
		w.Insert(&Record{Xid: 3, Rmid: 1, Payload: make([]byte, 9000)})
		w.Insert(&Record{Xid: 4, Rmid: 1, Payload: []byte("after")})
		w.Flush(w.InsertLSN())
		now := segmentsOf(t, w)
		require.NoError(t, w.Close())
		want, _ := readMem(t, now, FirstLSN, InvalidLSN)
		require.Equal(t, uint64(4), want[len(want)-1].Xid, "pg_wal reads to the new WAL's end")

		// The archive's segment 0 and pg_wal's new segment 1.
		spliced := memWAL{0: archived, 1: now[1]}
		got, sr := readMem(t, spliced, FirstLSN, InvalidLSN)
		if fixed {
			require.Equal(t, len(want), len(got), "the archive's copy reads like pg_wal: %v", sr.EndErr)
			require.Equal(t, uint8(InfoOverwriteContrecord), got[len(got)-3].Info)
			require.Equal(t, bigStart, LSN(binary.LittleEndian.Uint64(got[len(got)-3].Payload)))
			continue
		}
		// The old record's head and the new record's tail, of the same
		// length and the same zero bytes, make a record whose CRC holds:
		// the splice replays the abandoned record (xid 2) where the new
		// WAL has xid 3 — what the fix exists to prevent.
		require.NotEqual(t, xidsOf(want), xidsOf(got), "the splice reads differently from pg_wal")
		require.Contains(t, xidsOf(got), uint64(2), "the abandoned record is replayed from the splice")
	}
}

func xidsOf(recs []Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Xid)
	}
	return out
}

// An XLOG_OVERWRITE_CONTRECORD that names another record than the one
// whose continuation its page replaced ends the WAL (xlog_redo's
// "mismatching overwritten LSN").
func TestOverwriteContrecordMismatch(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	w.Insert(&Record{Xid: 1, Rmid: 1, Payload: make([]byte, 100)})
	bigStart, _ := w.Insert(&Record{Xid: 2, Rmid: 1, Payload: make([]byte, PageSize)})
	w.Flush(w.InsertLSN())
	require.NoError(t, w.Close())
	m := segmentsOf(t, &WAL{e: e, cfg: testCfg})
	// Cut the big record's continuation: the file ends at page 1.
	m[0] = m[0][:PageSize]
	_, r := readMem(t, m, FirstLSN, InvalidLSN)
	require.Equal(t, bigStart, r.AbortedRecPtr)
	require.Equal(t, LSN(PageSize), r.MissingContrecPtr)
	w, err = Open(e, testCfg, r.MissingContrecPtr, r.Last())
	require.NoError(t, err)
	w.Flush(w.InsertOverwriteContrecord(bigStart + 8)) // the wrong record
	require.NoError(t, w.Close())
	got, r2 := readAll(t, e, FirstLSN)
	require.Len(t, got, 1)
	require.ErrorContains(t, r2.EndErr, "mismatching overwritten LSN")
}

// FuzzReadPages: arbitrary bytes over a valid WAL's pages (headers,
// continuation records and all) are read or rejected, never a panic, and
// whatever is read is a prefix of what was written.
func FuzzReadPages(f *testing.F) {
	f.Add(uint16(0), []byte{0xFF})
	f.Add(uint16(PageSize), []byte{0, 0, 0, 0})
	f.Add(uint16(PageSize+16), []byte{1})
	f.Add(uint16(2*PageSize+2), []byte{XLPFirstIsOverwriteContRecord})
	e, err := newFuzzWAL(f)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, at uint16, patch []byte) {
		b := append([]byte(nil), e.bytes...)
		for i, x := range patch {
			if int(at)+i < len(b) {
				b[int(at)+i] ^= x
			}
		}
		r, err := NewMemReader(testCfg, func(s uint64) []byte {
			if s == 0 {
				return b
			}
			return nil
		}, FirstLSN, InvalidLSN)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if i > len(e.recs)+2 {
				t.Fatalf("more records than were written")
			}
			rec, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if i >= len(e.recs) || rec.LSN != e.recs[i].LSN || string(rec.Payload) != string(e.recs[i].Payload) {
				if rec.Rmid == RMXLog && rec.Info == InfoOverwriteContrecord {
					return // a flipped flag and a record that happens to match are not worth a fuzzer's time
				}
				t.Fatalf("record %d at %s is not what was written", i, rec.LSN)
			}
		}
	})
}

type fuzzWAL struct {
	bytes []byte
	recs  []Record
}

// newFuzzWAL writes a segment of records of mixed sizes: small ones, and
// ones that cross one or two pages.
func newFuzzWAL(f *testing.F) (*fuzzWAL, error) {
	e, err := env.NewReal(f.TempDir(), 1)
	if err != nil {
		return nil, err
	}
	if err := Create(e, testCfg); err != nil {
		return nil, err
	}
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	if err != nil {
		return nil, err
	}
	out := &fuzzWAL{}
	sizes := []int{10, 3000, 9000, 50, 17000, 8}
	for i := 0; w.InsertLSN() < LSN(testCfg.SegmentSize)-3*PageSize; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: []byte(strings.Repeat(string(rune('a'+i%26)), sizes[i%len(sizes)]))}
		w.Insert(&rec)
		out.recs = append(out.recs, rec)
	}
	w.Flush(w.InsertLSN())
	fl, err := e.Disk.Open(SegmentPath(testCfg, 0), env.OpenExisting)
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	size, err := fl.Size()
	if err != nil {
		return nil, err
	}
	out.bytes = make([]byte, size)
	_, err = fl.ReadAt(out.bytes, 0)
	return out, err
}
