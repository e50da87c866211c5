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

// TestStandbyRefusesClientsAndRetries: a data directory with
// standby.signal and a backup label starts in standby mode: it replays
// its pg_wal, asks for streaming, and while its primary cannot be
// reached the WAL receiver tries again every wal_retrieve_retry_interval;
// the postmaster never accepts client connections (57P03).
func TestStandbyRefusesClientsAndRetries(t *testing.T) {
	node := world.NewNode(world.NewRand(3), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	var pm *Postmaster
	var dialErr, setupErr error
	node.Sim.Spawn("test", func() {
		cfg := unreachableStandbyConfig()
		if setupErr = db.InitDB(e, cfg.DB); setupErr != nil {
			return
		}
		// initdb's checkpoint is the label's: redo from the first record.
		label := db.BackupLabel(wal.FirstLSN, wal.FirstLSN)
		for _, f := range []struct {
			path string
			b    []byte
		}{{db.BackupLabelPath, label}, {db.StandbySignalPath, nil}} {
			file, err := e.Disk.Open(f.path, env.OpenCreate)
			if setupErr = err; err != nil {
				return
			}
			if len(f.b) > 0 {
				_, setupErr = file.WriteAt(f.b, 0)
			}
			file.Close()
		}
		l := NewListener(e)
		if pm, setupErr = NewPostmaster(e, cfg, l); setupErr != nil {
			return
		}
		e.SpawnAs(env.RolePostmaster, "postmaster", pm.Main)
		e.Clock.Sleep(200 * time.Millisecond)
		_, dialErr = l.Dial()
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.ErrorIs(t, dialErr, ErrCannotConnectNow)
	require.Nil(t, pm.Fatal())
	require.Nil(t, pm.DB(), "a standby never finishes recovery")
	require.True(t, pm.Shared().RecoveryInProgress())
	for _, c := range []string{"backup-label-read", "standby-streaming-requested", "walreceiver-retry"} {
		require.True(t, node.Reached.Has(c), "condition %s not reached", c)
	}
	_, flushed := pm.Shared().WalRcv().Positions()
	require.Greater(t, pm.Shared().ReplayedLSN(), wal.FirstLSN, "the local WAL was replayed")
	require.Equal(t, pm.Shared().ReplayedLSN(), flushed, "streaming asked from where pg_wal ends")
}
