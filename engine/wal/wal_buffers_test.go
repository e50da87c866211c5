package wal_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// ringFill inserts, on a fresh WAL of walBuffers pages, n records of
// payload bytes without flushing, then flushes them all; it returns the
// WAL's wal_buffers_full and flushed position just before the flush, the
// records' LSNs, and the records a power loss after the flush leaves.
func ringFill(t *testing.T, set bugs.Set, walBuffers, n, payload int) (full uint64, flushedBefore wal.LSN, lsns, durable []wal.LSN) {
	return ringFillSeg(t, set, 256<<10, walBuffers, n, payload)
}

// ringFillSeg is ringFill with segments of segSize bytes.
func ringFillSeg(t *testing.T, set bugs.Set, segSize int64, walBuffers, n, payload int) (full uint64, flushedBefore wal.LSN, lsns, durable []wal.LSN) {
	c := wal.Config{SegmentSize: segSize, WALBuffers: walBuffers}
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.SchedConfig{StepCost: time.Microsecond}, world.DefaultLatency)
	st := node.Reboot(func(e *env.Env) { simt.Must(wal.Create(e, c)) })
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	st = node.Reboot(func(e *env.Env) {
		w := simt.RecoverWAL(e, c)
		w.PlantBugs(set)
		var end wal.LSN
		for i := 0; i < n; i++ {
			var start wal.LSN
			start, end = w.Insert(&wal.Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, payload)})
			lsns = append(lsns, start)
		}
		full, flushedBefore = w.Stats().BuffersFull, w.Flushed()
		w.Flush(end)
		simt.Must(w.Close())
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	node.Disk.Crash(world.NewRand(2), world.CrashDropAll)
	st = node.Reboot(func(e *env.Env) {
		r, err := wal.NewReader(e, c, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		for i := 0; i <= n; i++ {
			rec, ok, err := r.Next()
			simt.Must(err)
			if !ok {
				break
			}
			durable = append(durable, rec.LSN)
		}
		simt.Must(r.Close())
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	return full, flushedBefore, lsns, durable
}

// Records filling more pages than there are WAL buffers make the inserter
// write out the oldest pages itself before it reuses their slots
// (AdvanceXLInsertBuffer), counted as wal_buffers_full; those writes do
// not fsync, so the WAL known durable stays where it was, and the flush
// after them makes every record durable. With planted bug
// wal-buffer-reuse-unwritten the slots are reused unwritten: the flush
// writes the newer pages' bytes at the older pages' places, and a power
// loss leaves only the records before the first page overwritten.
func TestBuffersFullWritesOut(t *testing.T) {
	const n, payload = 60, 800 // about 6 pages of 8kB
	full, before, lsns, durable := ringFill(t, 0, 4, n, payload)
	require.Greater(t, full, uint64(0), "the inserter wrote full buffers out")
	require.Less(t, before, lsns[1], "writing full buffers out fsyncs nothing")
	require.Equal(t, lsns, durable, "every record is durable after the flush")

	full, _, lsns, durable = ringFill(t, 0, 16, n, payload)
	require.Equal(t, uint64(0), full, "16 buffers hold the 6 pages")
	require.Equal(t, lsns, durable)

	full, _, lsns, durable = ringFill(t, bugs.Set(0).With(bugs.WALBufferReuseUnwritten), 4, n, payload)
	require.Equal(t, uint64(0), full, "with the bug nothing is written out")
	require.Less(t, len(durable), len(lsns)/2, "the overwritten pages end the WAL")
	for i, l := range durable {
		require.Equal(t, lsns[i], l)
	}
}

// A write of full WAL buffers that completes a segment fsyncs it and
// moves the flushed position to the segment's end (XLogWrite's
// finishing_seg: LogwrtResult.Flush = LogwrtResult.Write), even when a
// record goes on in the next segment, not yet written.
func TestBuffersFullCompletingSegmentMovesFlushed(t *testing.T) {
	const segSize, n, payload = 64 << 10, 120, 800 // about 12 pages of 8kB, a segment is 8
	full, before, lsns, durable := ringFillSeg(t, 0, segSize, 4, n, payload)
	require.Greater(t, full, uint64(0), "the inserter wrote full buffers out")
	require.Equal(t, wal.LSN(segSize), before, "the flushed position is segment 0's end")
	inside := false
	for i := 1; i < len(lsns); i++ {
		inside = inside || (lsns[i-1] < wal.LSN(segSize) && lsns[i] > wal.LSN(segSize)+wal.LongPageHdrSize)
	}
	require.True(t, inside, "a record crosses the segment boundary: the flushed position is inside it")
	require.Equal(t, lsns, durable, "every record is durable after the flush")
}

// ResolveBuffers is check_wal_buffers: -1 (0) takes 1/32 of
// shared_buffers, at least 8 pages and at most a segment's; a value set
// below 4 becomes 4.
func TestResolveBuffers(t *testing.T) {
	c := wal.Config{SegmentSize: 64 << 10}
	require.Equal(t, 8, c.ResolveBuffers(32).WALBuffers)
	require.Equal(t, 8, c.ResolveBuffers(1<<20).WALBuffers, "at most one 64kB segment's pages")
	c.SegmentSize = 16 << 20
	require.Equal(t, 512, c.ResolveBuffers(16384).WALBuffers, "PostgreSQL's 128MB shared_buffers: 4MB")
	c.WALBuffers = 2
	require.Equal(t, 4, c.ResolveBuffers(32).WALBuffers)
	c.WALBuffers = 5
	require.Equal(t, 5, c.ResolveBuffers(32).WALBuffers)
	c.WALBuffers = -1
	require.Error(t, c.Validate())
}
