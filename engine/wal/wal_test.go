package wal

import (
	"encoding/binary"
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

func newRealEnv(t *testing.T) *env.Env {
	e, err := env.NewReal(t.TempDir(), 1)
	require.NoError(t, err)
	return e
}

// readAll scans the WAL from start and returns the records and the reader.
func readAll(t *testing.T, e *env.Env, start LSN) ([]Record, *Reader) {
	r, err := NewReader(e, start, InvalidLSN)
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
	require.NoError(t, Create(e))
	w, err := Open(e, FirstLSN, InvalidLSN)
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
	require.NoError(t, Create(e))
	w, err := Open(e, FirstLSN, InvalidLSN)
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
	f, err := e.Disk.Open(FileName, env.OpenExisting)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff}, int64(starts[2])+HeaderSize+3)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	recs, r := readAll(t, e, FirstLSN)
	require.Len(t, recs, 2)
	require.ErrorIs(t, r.EndErr, ErrBadCRC)
	require.Equal(t, starts[2], r.End())

	w, err = Open(e, r.End(), r.Last())
	require.NoError(t, err)
	rec := Record{Xid: 99, Rmid: 1, Payload: make([]byte, 40)} // same size as the stale ones
	_, end := w.Insert(&rec)
	w.Flush(end)
	require.NoError(t, w.Close())
	recs, _ = readAll(t, e, FirstLSN)
	require.Len(t, recs, 3, "stale records 4 and 5 must not follow the new record")
	require.EqualValues(t, 99, recs[2].Xid)
}
