package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/simtest/world"
)

// The coverage draws (clog_start.go, fsync_queue.go, wal_senders.go):
// each is drawn on about its share of seeds, named in the config line
// only when drawn, pinned off by its default value, and never drawn
// without the swarm.
func TestCoverageDraws(t *testing.T) {
	const n = 4000
	clogStarts, queues, tight, standbySeeds := 0, 0, 0, 0
	for seed := uint64(1); seed <= n; seed++ {
		c := DefaultConfig(seed)
		r := resolve(c, world.NewRand(seed).Fork(3))
		line := r.String()
		if x := r.engine.InitNextXid; x != 0 {
			clogStarts++
			first := x + imageXids(c.Workload)
			b := (first/clog.XactsPerPage + 1) * clog.XactsPerPage
			require.Contains(t, clogStartBoundaries, b, "seed %d: first xid %d is below no drawn boundary", seed, first)
			require.Contains(t, clogStartBelow, b-first, "seed %d", seed)
			require.Contains(t, line, " next_xid=")
		} else {
			require.NotContains(t, line, "next_xid")
		}
		if r.engine.SyncRequestsMax != 0 {
			queues++
			require.Contains(t, line, " fsync_queue=")
		} else {
			require.NotContains(t, line, "fsync_queue")
		}
		if r.standbys > 0 {
			standbySeeds++
			if r.engine.MaxWalSenders == r.standbys {
				tight++
				require.Contains(t, line, " max_wal_senders=")
			}
		}
		if r.engine.MaxWalSenders == walSendersDefault {
			require.NotContains(t, line, "max_wal_senders")
		}
		off := c
		off.NextXid, off.FsyncQueue, off.MaxWalSenders = 3, FsyncQueueMax, walSendersDefault
		ro := resolve(off, world.NewRand(seed).Fork(3))
		require.Zero(t, ro.engine.InitNextXid)
		require.Zero(t, ro.engine.SyncRequestsMax)
		require.False(t, strings.Contains(ro.String(), "next_xid") || strings.Contains(ro.String(), "fsync_queue") || strings.Contains(ro.String(), "max_wal_senders"), "seed %d: %s", seed, ro.String())
		plain := c
		plain.Swarm = false
		rp := resolve(plain, world.NewRand(seed).Fork(3))
		require.Zero(t, rp.engine.InitNextXid)
		require.Zero(t, rp.engine.SyncRequestsMax)
	}
	require.InDelta(t, n/clogStartSeedsPer, clogStarts, n/clogStartSeedsPer/4)
	require.InDelta(t, n/fsyncQueueSeedsPer, queues, n/fsyncQueueSeedsPer/4)
	require.Greater(t, tight, standbySeeds/4)
	require.Less(t, tight, standbySeeds*3/4)
}
