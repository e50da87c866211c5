package cli

import (
	"fmt"
	"strconv"

	"github.com/pgdst/pgdst/simtest"
)

// The flags that pin the swarm's draws made for coverage: a cluster that
// starts near a clog page boundary (simtest/clog_start.go), a small fsync
// request queue (simtest/fsync_queue.go) and max_wal_senders at the number
// of standbys (simtest/wal_senders.go). Each field is 0 when not given
// (the seed draws it, or the default applies); each flag also takes the
// value that pins the draw off, which the shrinker tries.

// nextXidFlag is --next-xid N.
func nextXidFlag() RunFlag {
	const off = 3 // initdb's own first xid
	return RunFlag{
		Name: "next-xid", JSON: []string{"next_xid"},
		Help:  fmt.Sprintf("the cluster's first xid, as pg_resetwal -x sets it after initdb (pg_upgrade does, with the old cluster's), in [%d, %d] (default: drawn from the seed, a few xids below clog page 1 or segment 0001 on one seed in eight, else %d; with --no-swarm, %d)", off, uint64(simtest.NextXidMax), off, off),
		Check: func(v string) error { _, err := uintNumber.in(v, off, simtest.NextXidMax); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.NextXid, _ = uintNumber.in(last(vals), off, simtest.NextXidMax)
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.NextXid != 0, "--next-xid", strconv.FormatUint(c.NextXid, 10))
		},
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.NextXid != 0 && c.NextXid != off {
				c.NextXid = off
				s.Try(c)
			}
		},
	}
}

// fsyncQueueFlag is --fsync-queue N.
func fsyncQueueFlag() RunFlag {
	return RunFlag{
		Name: "fsync-queue", JSON: []string{"fsync_queue"},
		Help:  fmt.Sprintf("the checkpointer's fsync request queue, in distinct segments, in [1, %d]: a backend or the bgwriter that finds it full fsyncs the segment itself (default: drawn from the seed, 1 to 4 on one seed in eight, else %d; with --no-swarm, %d)", simtest.FsyncQueueMax, simtest.FsyncQueueMax, simtest.FsyncQueueMax),
		Check: func(v string) error { _, err := parseInt(v, 1, simtest.FsyncQueueMax); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.FsyncQueue, _ = parseInt(last(vals), 1, simtest.FsyncQueueMax)
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.FsyncQueue != 0, "--fsync-queue", strconv.Itoa(c.FsyncQueue))
		},
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.FsyncQueue != 0 && c.FsyncQueue != simtest.FsyncQueueMax {
				c.FsyncQueue = simtest.FsyncQueueMax
				s.Try(c)
			}
		},
	}
}

// maxWalSendersFlag is --max-wal-senders N.
func maxWalSendersFlag() RunFlag {
	const def = 10
	return RunFlag{
		Name: "max-wal-senders", JSON: []string{"max_wal_senders"},
		Help:  fmt.Sprintf("max_wal_senders, in [1, %d], at least the standbys (default: drawn from the seed, the number of standbys on half the seeds with standbys, else %d; with --no-swarm, %d)", simtest.MaxWalSendersMax, def, def),
		Check: func(v string) error { _, err := parseInt(v, 1, simtest.MaxWalSendersMax); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.MaxWalSenders, _ = parseInt(last(vals), 1, simtest.MaxWalSendersMax)
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.MaxWalSenders != 0, "--max-wal-senders", strconv.Itoa(c.MaxWalSenders))
		},
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.MaxWalSenders != 0 && c.MaxWalSenders != def {
				c.MaxWalSenders = def
				s.Try(c)
			}
		},
	}
}
