package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/simtest/world"
)

// A small fsync request queue (the checkpointer's swarm dimension). A
// backend or the background writer that writes a data page asks the
// checkpointer to fsync its segment at the next checkpoint
// (register_dirty_segment, ForwardSyncRequest); when the request queue is
// full it fsyncs the segment itself. PostgreSQL sizes the queue by
// shared_buffers (CheckpointerShmemSize's NBuffers requests) and compacts
// it when full (CompactCheckpointerRequestQueue); here it is the smgr's
// pending-sync table, a set of segments and so always compacted, bounded
// by 4096, and a run dirties a few dozen segments at most between
// checkpoints: the fallback never ran in a plain campaign. On one seed in
// fsyncQueueSeedsPer the swarm bounds it to a handful of requests, as a
// tiny shared_buffers bounds PostgreSQL's against a busy server's
// segments, so that writers fsync for themselves between checkpoints.
// Config.FsyncQueue pins the bound (4096 pins it off).
//
// What is not modelled: PostgreSQL's queue and the checkpointer's
// pendingOps table are two things, the checkpointer absorbing the first
// into the second whenever it wakes (AbsorbSyncRequests). Here they are
// one table, so the queue is full exactly when that many distinct
// segments await the next checkpoint's fsync. The checkpointer's own
// requests never meet the bound, as in PostgreSQL, and neither do the
// startup process's, which runs the end-of-recovery checkpoint here
// (smgr's registerLocked): its redo writes, which PostgreSQL 15 forwards
// to the checkpointer, never take the fallback.
//
// The draw has a stream of its own, so that a seed that does not draw a
// small queue runs exactly as before, and the configuration line names
// fsync_queue only when it is small.

// fsyncQueueSeedsPer: one seed in fsyncQueueSeedsPer draws a small queue.
const fsyncQueueSeedsPer = 8

// fsyncQueueSizes are the small bounds the swarm draws: the heap and
// index of the workload's busiest table already fill a queue of two.
var fsyncQueueSizes = [...]int{1, 2, 4}

// FsyncQueueMax bounds Config.FsyncQueue (--fsync-queue): the default.
const FsyncQueueMax = smgr.DefaultMaxPendingSyncs

// fsyncQueueDraw is the seed's queue bound under the swarm, 0 for the
// default, drawn from a stream of its own whatever the outcome.
func fsyncQueueDraw(seed uint64) int {
	rng := world.NewRand(seed ^ 0x66737971756575ee) // "fsyqueu"
	on := rng.Intn(fsyncQueueSeedsPer) == 0
	n := fsyncQueueSizes[rng.Intn(len(fsyncQueueSizes))]
	if !on {
		return 0
	}
	return n
}

func (c Config) validateFsyncQueue() error {
	if c.FsyncQueue < 0 || c.FsyncQueue > FsyncQueueMax {
		return fmt.Errorf("fsync queue must hold [1, %d] requests, got %d", FsyncQueueMax, c.FsyncQueue)
	}
	return nil
}

// resolveFsyncQueue sets the queue's bound: the one given, else the seed's
// draw under Swarm, else the default (kept as 0).
func resolveFsyncQueue(c Config, r *resolved) {
	n := c.FsyncQueue
	if n == 0 && c.Swarm {
		n = fsyncQueueDraw(c.Seed)
	}
	if n == FsyncQueueMax {
		n = 0
	}
	r.engine.SyncRequestsMax = n
}

func (r resolved) stringFsyncQueue() string {
	if r.engine.SyncRequestsMax == 0 {
		return "" // the default: the line, and the trace, as before
	}
	return fmt.Sprintf(" fsync_queue=%d", r.engine.SyncRequestsMax)
}
