package smgr_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestBugFsyncRetry: a block is rewritten after a checkpoint and the next
// fsync of its segment fails the way Linux fails it (EIO, and the dirty
// pages dropped: simtest's FaultSyncEIO). Without the planted bug SyncAll
// raises a PANIC. With fsync-retry it logs, keeps the segment pending and
// returns; the retry at the next SyncAll succeeds, yet the rewrite is gone
// — already from the file, and after a power loss too.
func TestBugFsyncRetry(t *testing.T) {
	for _, on := range []bool{false, true} {
		var set bugs.Set
		if on {
			set = set.With(bugs.FsyncRetry)
		}
		_, node := world.InSim(9, func(e *env.Env) {})
		armed := false
		node.Disk.SetFaultHook(func(op world.DiskOp) world.DiskFault {
			if armed && op.Kind == world.OpSync && op.Path == "base/16384" {
				armed = false
				return world.DiskFault{Kind: world.FaultSyncEIO}
			}
			return world.DiskFault{}
		}, world.NewRand(9))
		var pendingAfterFail, pendingAfterRetry []smgr.SegTag
		var readBack []byte
		var fsyncs uint64
		st := node.Reboot(func(e *env.Env) {
			s := newSMgr(e, smgr.Config{Bugs: set})
			ok(s.Create(rel, smgr.MainForkNum, false))
			ok(s.Extend(rel, smgr.MainForkNum, 0, block(rel, 0, 1)))
			s.SyncAll() // the previous checkpoint: version 1 is durable
			ok(s.Write(rel, smgr.MainForkNum, 0, block(rel, 0, 2)))
			armed = true
			s.SyncAll() // fails: a PANIC, or with the bug a retry later
			pendingAfterFail = s.PendingSyncs()
			s.SyncAll() // the next checkpoint's retry
			pendingAfterRetry = s.PendingSyncs()
			fsyncs = s.Stats().Fsyncs
			readBack = make([]byte, smgr.BLCKSZ)
			ok(s.Read(rel, smgr.MainForkNum, 0, readBack))
		})
		if !on {
			require.Equal(t, world.StopPanic, st.Kind, "%s", st)
			pe, isPanic := st.Value.(*env.PanicError)
			require.True(t, isPanic, "panic value %T %v", st.Value, st.Value)
			require.Contains(t, pe.Msg, "could not fsync")
			continue
		}
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		require.Equal(t, []smgr.SegTag{{Rel: rel}}, pendingAfterFail, "the failed segment stays pending")
		require.Empty(t, pendingAfterRetry, "the retry succeeds")
		require.Equal(t, uint64(2), fsyncs, "two fsyncs succeeded, the failed one is not counted")
		require.True(t, bytes.Equal(block(rel, 0, 1), readBack), "the rewrite was dropped with the failed fsync")
		node.Disk.Crash(world.NewRand(9), world.CrashDropAll)
		require.Equal(t, block(rel, 0, 1), node.Disk.Snapshot()["base/16384"], "after a power loss too")
	}
}
