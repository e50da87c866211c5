package xact_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/xact"
)

// TestBugSnapshotNoInProgress: with the planted bug, GetSnapshot leaves
// out the xip array, so a transaction running below xmax counts as
// finished (XidInMVCCSnapshot is false for it). The snapshot's xmin, and
// the horizon it holds back, stay right; the snapshot carries the bug for
// the visibility rules. The bug reaches the proc array through
// Manager.SetEnv.
func TestBugSnapshotNoInProgress(t *testing.T) {
	for _, on := range []bool{false, true} {
		var set bugs.Set
		if on {
			set = set.With(bugs.SnapshotNoInProgress)
		}
		var s *xact.Snapshot
		var running xact.XID
		var horizon xact.XID
		var paBugs bugs.Set
		inSim(t, func(e *env.Env) {
			pa := xact.NewProcArray(e, 4, xact.FirstNormalXID)
			m := &xact.Manager{Procs: pa, Bugs: set}
			m.SetEnv(e)
			paBugs = pa.Bugs
			a, _ := pa.Register()
			b, _ := pa.Register()
			c, _ := pa.Register()
			running = pa.AssignXID(a, nil) // still running at the snapshot
			pa.AssignXID(b, nil)
			pa.EndTransaction(b) // a later xid completes: running < xmax
			s = pa.GetSnapshot(c)
			horizon = pa.OldestXmin()
		})
		require.Equal(t, set, paBugs, "SetEnv hands the bugs to the proc array")
		require.Equal(t, set, s.Bugs, "the snapshot carries them")
		require.Equal(t, running, s.Xmin, "xmin is the oldest running xid either way")
		require.Equal(t, running, horizon)
		require.Less(t, running, s.Xmax)
		if on {
			require.Empty(t, s.Xip)
			require.False(t, s.InProgress(running), "the bug: a running xid counts as finished")
		} else {
			require.Equal(t, []xact.XID{running}, s.Xip)
			require.True(t, s.InProgress(running))
		}
		require.True(t, s.InProgress(s.Xmax), "xids from xmax on are in progress either way")
	}
}
