package xact_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestAssignXIDWindowAtProcArrayLock: a backend paused by a fault plan at
// its ProcArrayLock acquisition inside AssignXID (point=lwlock-acquire,
// lock=ProcArrayLock: the second of its acquisitions, after Register's)
// sits in GetNewTransactionId's window: its xid is taken, not yet
// published. Another backend meanwhile assigns an xid, commits and takes
// a snapshot. XidGenLock, held across the publication, is what keeps the
// window closed: the other backend's assignment waits for it, so its xid
// is the later one and the snapshot sees the paused transaction running.
// Publishing the xid after XidGenLock is released (mutant 17,
// xid-published-after-genlock) lets the other xid commit first, and the
// snapshot then takes the paused transaction for finished.
func TestAssignXIDWindowAtProcArrayLock(t *testing.T) {
	plan, err := fault.Parse("pause for=5ms proc=test when point=lwlock-acquire and lock=ProcArrayLock and nth=2\n")
	require.NoError(t, err)
	var paused, other xact.XID
	var snap *xact.Snapshot
	var pausedFor time.Duration
	st, node, r := world.InSimPlan(1, plan, env.RoleBackend, func(e *env.Env) {
		pa := xact.NewProcArray(e, 4, xact.FirstNormalXID)
		done := world.NewGroup(e, 1)
		e.Sched.Spawn("other", func() {
			defer done.Done()
			e.Clock.Sleep(time.Millisecond) // into the pause
			q, err := pa.Register()
			require.NoError(t, err)
			other = pa.AssignXID(q, nil)
			pa.EndTransaction(q) // it commits
			reader, err := pa.Register()
			require.NoError(t, err)
			snap = pa.GetSnapshot(reader)
		})
		p, err := pa.Register()
		require.NoError(t, err)
		start := e.Clock.Now()
		paused = pa.AssignXID(p, nil)
		pausedFor = e.Clock.Now() - start
		done.Wait()
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%v", st)
	require.Equal(t, 1, r.Fires[0], "the pause fired once")
	require.Equal(t, "ProcArrayLock", r.Log[0].Lock)
	require.GreaterOrEqual(t, pausedFor, 5*time.Millisecond, "the assignment was paused")
	require.True(t, node.Reached.Has("lwlock-pause-overtaken"), "the other backend took ProcArrayLock during the pause")
	require.Less(t, paused, other, "the paused backend took its xid first")
	require.True(t, snap.InProgress(paused), "a snapshot taken after a later xid committed must see xid %d still running: %s", paused, snap)
}
