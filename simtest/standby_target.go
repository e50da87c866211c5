package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// The standby checker's catch-up target. A standby must replay the
// primary's WAL up to the end of the last complete record at or before the
// primary's flushed position, which is the flushed position itself only
// when that is a record's end. It can be inside a record: XLogWrite,
// writing out full WAL buffers for an insertion (AdvanceXLInsertBuffer),
// fsyncs a segment it completes and sets LogwrtResult.Flush to the
// segment's end (finishing_seg), while the segment's last record may go
// on in the next segment, so far only in the buffers. The recovered
// primary the checker serves replication from has no WAL writer and runs
// no commit that would flush the rest: the checks after its recovery read
// every table, and the full-page images of the pages they set hint bits
// on (XLOG_FPI_FOR_HINT) fill the buffers, so the flushed position stays
// there. The WAL sender streams up to it (GetFlushRecPtr), and the
// standby's startup process replays up to the start of that record and
// waits for its rest: XLogReadRecord returns a record only whole. That is
// PostgreSQL's behaviour, not a bug; the target before this was the
// flushed position, which made such runs fail the catch-up once the
// engine moved the flushed position as XLogWrite does (5 of 3000 seeds
// with --standbys 2 --failover --wal-buffers 4, first 1186: "replayed to
// 0/0000FB40, the primary's WAL is flushed to 0/00010000", the record at
// 0/0000FB40 ending in the next segment; 1 of 3000 with --standbys 2
// --wal-buffers 4, seed 2863).
//
// The record ends come from the engine's WAL insert events of the
// database recovered last on the primary's node (no scheduling point, no
// disk read: the run stays the one it was), from its creation on.

// recordEndsMax bounds the record ends kept: only those not yet known
// flushed are, and with every completed segment flushed they are the
// records of at most one segment and the buffers.
const recordEndsMax = 1 << 20

// recordEnds follows the ends of the records one database inserts.
type recordEnds struct {
	// durable is the largest end of a record known flushed (at or before
	// a WAL flush event's position), 0 for none yet.
	durable wal.LSN
	// ends are the ends of the records inserted and not yet known
	// flushed, at most recordEndsMax.
	ends []wal.LSN
	// overflow says ends was full and a record end was not kept: then
	// the target is the flushed position, as before.
	overflow bool
	// prev is the node's event watcher this one chains to.
	prev func(e *env.Event)
}

// watchRecordEnds starts following the record ends of the databases on
// node, before the watcher the node had (which still sees every event).
func watchRecordEnds(node *world.Node) *recordEnds {
	r := &recordEnds{prev: node.WatchEvents}
	node.WatchEvents = r.event
	return r
}

// reset forgets the ends seen so far: a new database was opened on the
// node, whose recovery may overwrite the WAL a crashed one inserted.
func (r *recordEnds) reset() {
	r.durable, r.ends, r.overflow = wal.InvalidLSN, r.ends[:0], false
}

func (r *recordEnds) event(e *env.Event) {
	if r.prev != nil {
		r.prev(e)
	}
	switch e.Kind {
	case env.EvWALInsert:
		if len(r.ends) == recordEndsMax {
			r.overflow = true
			return
		}
		r.ends = append(r.ends, wal.LSN(e.LSN2))
	case env.EvWALFlush:
		r.settle(wal.LSN(e.LSN))
	}
}

// settle moves the ends at or before flushed into durable.
func (r *recordEnds) settle(flushed wal.LSN) {
	kept := r.ends[:0]
	for _, end := range r.ends {
		if end <= flushed {
			r.durable = max(r.durable, end)
		} else {
			kept = append(kept, end)
		}
	}
	r.ends = kept
}

// replayable is the end of the last complete record at or before
// flushed, the primary's flushed position: walEnd, where its recovery
// found the end of WAL (a record's end), or a later record's end.
func (r *recordEnds) replayable(flushed, walEnd wal.LSN) wal.LSN {
	if r == nil || r.overflow || walEnd > flushed {
		return flushed
	}
	r.settle(flushed)
	if r.durable > flushed {
		panic(fmt.Sprintf("simtest: a WAL flush event at %s is past the flushed position %s", r.durable, flushed))
	}
	return max(walEnd, r.durable)
}
