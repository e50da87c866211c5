package wal

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStreamReceiveRead: WAL across several segments (switch records
// included) streamed with ReadStream in small chunks and written by a
// Receiver into another node's pg_wal reads back record for record; a
// reader limited to the flushed position stops there with ErrBeyondLimit,
// even when the receiver has written more.
func TestStreamReceiveRead(t *testing.T) {
	src, dst := newRealEnv(t), newRealEnv(t)
	require.NoError(t, Create(src, testCfg))
	w, err := Open(src, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	sizes := []int{0, 100, 5000, 20000, testCfg.MaxRecordSize() - HeaderSize}
	for i := 0; i < 40; i++ {
		rec := Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, sizes[i%len(sizes)])}
		w.Insert(&rec)
	}
	flushed := w.InsertLSN()
	w.Flush(flushed)
	require.NoError(t, w.Close())
	want, _ := readAll(t, src, FirstLSN)
	require.Len(t, want, 40)

	require.NoError(t, dst.Disk.MkdirAll(Dir))
	// Streaming starts at the first page's start, so that its header
	// comes along (the receiver's node has no copy of the segment).
	rcv, err := NewReceiver(dst, testCfg, StreamStart(FirstLSN))
	require.NoError(t, err)
	at, half := StreamStart(FirstLSN), InvalidLSN
	for i := 0; at < flushed; i++ {
		require.Less(t, i, 100000, "the stream did not advance")
		data, next, err := ReadStream(src, testCfg, at, flushed, 3000, nil)
		require.NoError(t, err)
		require.Greater(t, next, at)
		require.NoError(t, rcv.Write(at, data))
		if half == InvalidLSN && next > flushed/2 {
			rcv.Flush()
			half = rcv.Flushed()
		}
		at = next
	}
	require.Equal(t, flushed, rcv.Written())
	require.Less(t, half, rcv.Written(), "the first half flushed, the rest only written")
	require.Error(t, rcv.Write(FirstLSN, []byte{1}), "a chunk before the written end")

	// Limited to the first flush: stops there, never past it.
	r, err := NewReader(dst, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	r.Limit = half
	n := 0
	for {
		rec, ok, err := r.Next()
		require.NoError(t, err)
		if !ok {
			break
		}
		require.LessOrEqual(t, rec.LSN+LSN(rec.EncodedSize()), half)
		n++
	}
	require.True(t, errors.Is(r.EndErr, ErrBeyondLimit), "%v", r.EndErr)
	require.Greater(t, n, 0)
	require.Less(t, n, 40)
	require.NoError(t, r.Close())

	rcv.Flush()
	rcv.Close()
	got, _ := readAll(t, dst, FirstLSN)
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i].LSN, got[i].LSN)
		require.Equal(t, want[i].Xid, got[i].Xid)
		require.Equal(t, want[i].Payload, got[i].Payload)
	}
}
