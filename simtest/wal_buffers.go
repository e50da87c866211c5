package simtest

import "github.com/pgdst/pgdst/simtest/world"

// wal_buffers as a swarm setting (issue 22). PostgreSQL chooses 1/32 of
// shared_buffers, at least 8 pages (XLOGChooseNumBuffers), which the
// swarm's shared_buffers of 16 or 32 pages always round up to 8; users set
// it by hand down to 4 (check_wal_buffers' floor). The fewer the buffers,
// the sooner an insertion that outruns the WAL writer finds its page's
// slot still holding an unwritten page and writes the WAL out itself
// (AdvanceXLInsertBuffer, engine/wal/wal_buffers.go), a write without
// fsync that puts the WAL on disk ahead of the WAL flushed. The swarm
// draws the floor on one seed in walBuffersSmallPer, from a stream of its
// own, so that every other draw of a seed is what it was before.

// The bounds of --wal-buffers: check_wal_buffers' floor for a value set
// by hand, and a segment's pages at the largest segment size.
const (
	WALBuffersMin = 4
	WALBuffersMax = WALSegmentSizeMax / 8192
)

// walBuffersSmallPer: one swarm seed in walBuffersSmallPer runs with
// walBuffersSmall WAL buffers.
const (
	walBuffersSmallPer = 3
	walBuffersSmall    = 4
)

// walBuffersSmallDraw is the seed's draw.
func walBuffersSmallDraw(seed uint64) bool {
	return world.NewRand(seed^0x77616c6275667273).Intn(walBuffersSmallPer) == 0 // "walbufrs"
}

// resolveWALBuffers sets the run's wal_buffers: Config.WALBuffers, else
// the swarm's draw, else -1 (0: chosen from shared_buffers when the WAL
// is opened).
func resolveWALBuffers(c Config, r *resolved) {
	switch {
	case c.WALBuffers != 0:
		r.engine.WAL.WALBuffers = c.WALBuffers
	case c.Swarm && walBuffersSmallDraw(c.Seed):
		r.engine.WAL.WALBuffers = walBuffersSmall
	}
}
