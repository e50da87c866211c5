package proc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestStandbyPromotes: a standby whose primary cannot be reached replays
// its pg_wal and waits; the promote signal file ends its recovery on
// timeline 2 (with 00000002.history naming timeline 1 and the switch
// point), it accepts a client that writes and commits, and a
// crash-restart recovers that commit on timeline 2 as a primary (no
// standby mode again). A second promotion of a copy would pick
// timeline 3: findNewestTimeLine looks past the history files there are.
func TestStandbyPromotes(t *testing.T) {
	node := world.NewNode(world.NewRand(5), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	var pm *Postmaster
	var setupErr, dialErr, callErr error
	var got Response
	var tliBefore uint32
	node.Sim.Spawn("test", func() {
		cfg := unreachableStandbyConfig()
		var l *Listener
		if pm, l, setupErr = startStandby(e, cfg); setupErr != nil {
			return
		}
		e.Clock.Sleep(100 * time.Millisecond)
		tliBefore = pm.Shared().TimeLineID()
		if setupErr = pm.Shared().RequestPromote(); setupErr != nil {
			return
		}
		e.Clock.Sleep(300 * time.Millisecond)
		c, err := l.Dial()
		if dialErr = err; err != nil {
			node.Sim.RequestStop("test done")
			return
		}
		if _, callErr = c.Call(Request{Op: OpCreateTable, Table: "t"}); callErr == nil {
			if _, callErr = c.Call(Request{Op: OpInsert, Table: "t", Key: 7, Val: []byte("seven")}); callErr == nil {
				got, callErr = c.Call(Request{Op: OpGet, Table: "t", Key: 7})
			}
		}
		c.Close()
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.NoError(t, dialErr)
	require.NoError(t, callErr)
	require.NoError(t, got.Err)
	require.Equal(t, "seven", string(got.Val))
	require.Nil(t, pm.Fatal())
	require.NotNil(t, pm.DB(), "the promoted standby accepts connections")
	require.Equal(t, uint32(1), tliBefore)
	require.Equal(t, uint32(2), pm.DB().TimeLineID())
	for _, c := range []string{"standby-promote-requested", "standby-promoted"} {
		require.True(t, node.Reached.Has(c), "condition %s not reached", c)
	}
	require.False(t, exists(t, e, db.StandbySignalPath), "standby.signal is removed at promotion")
	require.False(t, exists(t, e, db.PromoteSignalPath), "the promote signal file is removed once seen")
	hist := readAll(t, e, db.HistoryPath(2))
	tlis, switches, err := db.ParseHistory(hist)
	require.NoError(t, err)
	require.Equal(t, []uint32{1}, tlis)
	require.Equal(t, []wal.LSN{pm.Recoveries()[0].End}, switches, "the switch point is where redo ended")

	// A crash recovery of the promoted node: the commit survives, on
	// timeline 2, as a primary.
	node.Disk.Crash(world.NewRand(6), world.CrashDropAll)
	var after Response
	var tliAfter uint32
	st = node.Reboot(func(e *env.Env) {
		cfg := DefaultConfig()
		cfg.DB.WAL.SegmentSize = 64 << 10
		cfg.DB.ArchiveRecovery = true
		d, _, err := db.Open(e, cfg.DB, db.RegisterAccessMethods)
		if setupErr = err; err != nil {
			return
		}
		tliAfter = d.TimeLineID()
		s, err := d.Connect()
		if setupErr = err; err != nil {
			return
		}
		after.Val, after.Found, after.Err = s.Get("t", 7)
		node.Sim.RequestStop("test done")
	})
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.NoError(t, after.Err)
	require.Equal(t, "seven", string(after.Val))
	require.Equal(t, uint32(2), tliAfter)
	require.Equal(t, uint32(2), findNewest(e), "history files: timeline 2 is the newest")
}

func exists(t *testing.T, e *env.Env, path string) bool {
	f, err := e.Disk.Open(path, env.OpenExisting)
	if err == nil {
		f.Close()
		return true
	}
	require.ErrorIs(t, err, env.ErrNotExist)
	return false
}

func readAll(t *testing.T, e *env.Env, path string) []byte {
	f, err := e.Disk.Open(path, env.OpenExisting)
	require.NoError(t, err)
	defer f.Close()
	size, err := f.Size()
	require.NoError(t, err)
	b := make([]byte, size)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

func findNewest(e *env.Env) uint32 { return db.FindNewestTimeLine(e, 1) }
