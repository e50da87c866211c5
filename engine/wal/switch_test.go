package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A switch record that does not fit in its segment ends in the next one
// (ReserveXLogSwitch): that segment is written whole, and a reader goes
// on after the end of the segment the record ends in, not the one it
// starts in (XLogReadRecord rounds the record's end up).
func TestSwitchRecordCrossingSegment(t *testing.T) {
	e := newRealEnv(t)
	require.NoError(t, Create(e, testCfg))
	w, err := Open(e, testCfg, FirstLSN, InvalidLSN)
	require.NoError(t, err)
	// Fill the first segment up to 16 bytes before its end: the switch
	// record (HeaderSize bytes) then crosses into the second.
	target := testCfg.recPtrToBytePos(testCfg.segStart(1) - 16)
	for i := 0; ; i++ {
		left := target - testCfg.recPtrToBytePos(w.InsertLSN())
		if left == 0 {
			break
		}
		require.Less(t, i, 100)
		payload := min(int(left)-HeaderSize, 20000)
		w.Insert(&Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, payload)})
	}
	require.Equal(t, testCfg.segStart(1)-16, w.InsertLSN())
	end, switched := w.SwitchSegment()
	require.True(t, switched)
	require.Equal(t, testCfg.segStart(2), end, "the switch reserves the rest of the segment it ends in")
	w.Flush(end)
	after := Record{Xid: 99, Rmid: 1, Payload: []byte("after the switch")}
	start, recEnd := w.Insert(&after)
	require.Equal(t, testCfg.segStart(2)+LongPageHdrSize, start)
	w.Flush(recEnd)
	require.NoError(t, w.Close())

	f, err := e.Disk.Open(SegmentPath(testCfg, 1), 0)
	require.NoError(t, err)
	size, err := f.Size()
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, testCfg.SegmentSize, size, "the segment the switch record ends in is written whole")

	got, r := readAll(t, e, FirstLSN)
	require.Equal(t, 1, r.Switches)
	require.Equal(t, start, got[len(got)-1].LSN, "the reader went on to the record after the switch")
}
