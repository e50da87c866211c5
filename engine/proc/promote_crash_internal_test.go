package proc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestPromotionCrashBeforeEndOfRecoveryCheckpoint: a promoted standby
// that loses power after choosing its new timeline, before its
// end-of-recovery checkpoint, recovers on the new timeline, not its
// parent's (CreateEndOfRecoveryRecord's UpdateControlFile): otherwise it
// would accept writes on the old primary's timeline, a split brain (found
// by simtest's failover seed 2122).
func TestPromotionCrashBeforeEndOfRecoveryCheckpoint(t *testing.T) {
	node := world.NewNode(world.NewRand(5), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	var pm *Postmaster
	var setupErr error
	var acceptingAtCrash bool
	node.Sim.Spawn("test", func() {
		if pm, _, setupErr = startStandby(e, unreachableStandbyConfig()); setupErr != nil {
			return
		}
		e.Clock.Sleep(100 * time.Millisecond)
		if setupErr = pm.Shared().RequestPromote(); setupErr != nil {
			return
		}
		// The moment standby.signal is gone: the end-of-recovery
		// checkpoint has yet to run.
		for i := 0; i < 100000 && (!node.Reached.Has("standby-promoted") || exists(t, e, db.StandbySignalPath)); i++ {
			e.Clock.Sleep(10 * time.Microsecond)
		}
		acceptingAtCrash = pm.DB() != nil
		node.Sim.RequestStop("power loss")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.True(t, node.Reached.Has("standby-promoted"))
	require.False(t, acceptingAtCrash, "the crash came after the end of recovery, not inside it")
	node.Disk.Crash(world.NewRand(6), world.CrashDropAll)
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
		node.Sim.RequestStop("test done")
	})
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.Equal(t, uint32(2), tliAfter, "the promoted standby came back on its parent's timeline")
}
