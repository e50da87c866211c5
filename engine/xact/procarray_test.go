package xact_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// inSim runs fn inside the simulator and fails the test if it does not
// finish cleanly.
func inSim(t require.TestingT, fn func(e *env.Env)) {
	st, _ := world.InSim(1, fn)
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}

func TestSnapshotBasics(t *testing.T) {
	inSim(t, func(e *env.Env) {
		pa := xact.NewProcArray(e, 4, xact.FirstNormalXID)
		a, _ := pa.Register()
		b, _ := pa.Register()
		c, _ := pa.Register()
		xa := pa.AssignXID(a, nil)
		xb := pa.AssignXID(b, nil)
		pa.EndTransaction(a) // a commits or aborts
		s := pa.GetSnapshot(c)
		require.False(t, s.InProgress(xa), "finished before the snapshot")
		require.True(t, s.InProgress(xb), "running at the snapshot")
		xlater := pa.AssignXID(a, nil)
		require.True(t, s.InProgress(xlater), "started after the snapshot")
		require.Equal(t, xb, pa.OldestXmin())
		require.Equal(t, "4:4:", s.String()) // xid 4 is in progress by being >= Xmax, as in pg_current_snapshot()
		_, err := pa.Register()
		require.NoError(t, err)
		_, err = pa.Register()
		require.ErrorIs(t, err, xact.ErrTooManyProcs)
	})
}

// TestSnapshotModel checks GetSnapshot against the definition: a snapshot
// must treat as in progress exactly the xids running when it was taken and
// every xid not yet assigned; and OldestXmin never passes a running xid or
// a live snapshot's xmin.
func TestSnapshotModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		nprocs := rapid.IntRange(1, 6).Draw(rt, "procs")
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		type op struct{ kind, proc int }
		ops := make([]op, steps)
		for i := range ops {
			ops[i] = op{rapid.IntRange(0, 2).Draw(rt, "kind"), rapid.IntRange(0, nprocs-1).Draw(rt, "proc")}
		}
		inSim(rt, func(e *env.Env) {
			pa := xact.NewProcArray(e, nprocs, xact.FirstNormalXID)
			procs := make([]*xact.Proc, nprocs)
			for i := range procs {
				procs[i], _ = pa.Register()
			}
			running := map[xact.XID]bool{}
			type snap struct {
				s       *xact.Snapshot
				running map[xact.XID]bool
				next    xact.XID
			}
			var snaps []snap
			for _, o := range ops {
				p := procs[o.proc]
				switch o.kind {
				case 0: // begin a write transaction
					if p.XID() == xact.InvalidXID {
						running[pa.AssignXID(p, nil)] = true
					}
				case 1: // end it
					delete(running, p.XID())
					pa.EndTransaction(p)
				case 2: // take a snapshot
					cp := map[xact.XID]bool{}
					for x := range running {
						cp[x] = true
					}
					snaps = append(snaps, snap{pa.GetSnapshot(nil), cp, pa.NextXID()})
				}
				for x := range running {
					require.LessOrEqual(rt, pa.OldestXmin(), x)
				}
			}
			for _, sn := range snaps {
				for x := xact.FirstNormalXID; x < pa.NextXID()+2; x++ {
					want := sn.running[x] || x >= sn.next
					require.Equal(rt, want, sn.s.InProgress(x), "xid %d in snapshot %s", x, sn.s)
				}
			}
		})
	})
}

func TestDelayCheckpoint(t *testing.T) {
	inSim(t, func(e *env.Env) {
		pa := xact.NewProcArray(e, 3, xact.FirstNormalXID)
		a, _ := pa.Register()
		b, _ := pa.Register()
		pa.AssignXID(a, nil)
		pa.SetDelayCheckpoint(a, true)
		slots := pa.DelayingCheckpoint()
		require.Len(t, slots, 1)
		require.True(t, pa.StillDelaying(slots))
		pa.SetDelayCheckpoint(b, false)
		pa.EndTransaction(a)
		require.False(t, pa.StillDelaying(slots))

		// The same backend's next commit is not what the checkpoint
		// waited for (a later VXID): a stream of commits from one
		// backend must not starve it.
		pa.AssignXID(a, nil)
		pa.SetDelayCheckpoint(a, true)
		seen := pa.DelayingCheckpoint()
		pa.EndTransaction(a)
		pa.AssignXID(a, nil)
		pa.SetDelayCheckpoint(a, true)
		require.False(t, pa.StillDelaying(seen), "a later critical section of the same backend")
		require.True(t, pa.StillDelaying(pa.DelayingCheckpoint()))
		// Planted bug delay-chkpt-by-backend's wait counts that later
		// critical section, and so waits for ever under back-to-back
		// commits.
		require.True(t, pa.StillDelayingBackends(seen))
		pa.EndTransaction(a)
		require.False(t, pa.StillDelayingBackends(seen))
	})
}

func TestAdvanceNextXID(t *testing.T) {
	inSim(t, func(e *env.Env) {
		pa := xact.NewProcArray(e, 2, xact.FirstNormalXID)
		pa.AdvanceNextXID(100)
		a, _ := pa.Register()
		require.EqualValues(t, 100, pa.AssignXID(a, func(x xact.XID) { require.EqualValues(t, 100, x) }))
		s := pa.GetSnapshot(nil)
		require.EqualValues(t, 100, s.Xmax) // latestCompleted is 99
		require.True(t, s.InProgress(100))
		require.False(t, s.InProgress(99))
	})
}
