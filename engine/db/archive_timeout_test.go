package db_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestArchiveTimeoutForcesASegmentSwitch: once archive_timeout has passed,
// CheckArchiveTimeout ends a segment that holds records, durably, and the
// segment is ready for the archiver; a segment with nothing in it since
// its header is left alone, and before the timeout nothing happens.
func TestArchiveTimeoutForcesASegmentSwitch(t *testing.T) {
	cfg := testConfig()
	cfg.WAL.ArchiveMode = true
	cfg.ArchiveTimeout = 10 * time.Millisecond
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.Spawn("test", func() {
		e := node.Env
		must(db.InitDB(e, cfg))
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		must(err)
		must(d.CreateTable("t"))
		seg := func() uint64 { return uint64(d.WAL.InsertLSN()) / uint64(cfg.WAL.SegmentSize) }
		first := seg()
		d.CheckArchiveTimeout() // starts the timer
		s := connect(d)
		must(s.Insert("t", 1, []byte("one")))
		d.CheckArchiveTimeout()
		require.Equal(t, first, seg(), "a switch before archive_timeout passed")
		e.Clock.Sleep(cfg.ArchiveTimeout)
		d.CheckArchiveTimeout()
		require.Equal(t, first+1, seg(), "no switch after archive_timeout with records in the segment")
		require.Equal(t, d.WAL.InsertLSN(), d.WAL.Flushed(), "the switch is not flushed")
		ready, err := wal.NewArchiveStatus(e, cfg.WAL).ReadyList()
		must(err)
		require.Contains(t, ready, first, "the switched segment is not ready for archiving")
		e.Clock.Sleep(cfg.ArchiveTimeout)
		d.CheckArchiveTimeout()
		require.Equal(t, first+1, seg(), "a switch of a segment with no record in it")
		require.Less(t, d.ArchiveTimeoutWait(), cfg.ArchiveTimeout+time.Nanosecond)
	})
	st := node.Sim.Run()
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}
