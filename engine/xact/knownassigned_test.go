package xact

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest/world"
)

// TestKnownAssignedXids replays, step by step, what a hot standby's
// startup process does with KnownAssignedXids (procarray.c), and after
// each step checks the array, latestObservedXid, the state and the
// snapshot a standby backend would take ("-" while none may be taken).
func TestKnownAssignedXids(t *testing.T) {
	type step struct {
		op   string // record X, expire X, running N/O/L/x,y,..., record-nogaps X
		want string // "xids=[...] observed=N state=S snap=xmin:xmax:xip"
	}
	cases := []struct {
		name    string
		nextXid XID
		steps   []step
	}{
		{"gaps are recorded once the snapshot is ready", 10, []step{
			// STANDBY_INITIALIZED: xids are observed, not recorded.
			{"record 12", "xids=[] observed=12 state=1 snap=-"},
			// The first running-xacts record: 8 and 11 still run, 9
			// finished (the clog says so), nextXid 13.
			{"running 13/8/10/8,9,11", "xids=[8 11] observed=12 state=2 snap=8:11:8"},
			// 15's record: 13 and 14 were assigned before it and run too.
			{"record 15", "xids=[8 11 13 14 15] observed=15 state=2 snap=8:11:8"},
			{"expire 14", "xids=[8 11 13 15] observed=15 state=2 snap=8:15:8,11,13"},
			{"record 14", "xids=[8 11 13 15] observed=15 state=2 snap=8:15:8,11,13"},
			{"expire 8", "xids=[11 13 15] observed=15 state=2 snap=11:15:11,13"},
			// A running-xacts record prunes what ended without a record
			// (11 crashed on the primary).
			{"running 16/13/14/13,15", "xids=[13 15] observed=15 state=2 snap=13:15:13"},
			{"expire 15", "xids=[13] observed=15 state=2 snap=13:16:13"},
			{"expire 13", "xids=[] observed=15 state=2 snap=16:16:"},
		}},
		{"the planted bug records no gaps", 10, []step{
			{"running 10/10/9/", "xids=[] observed=9 state=2 snap=10:10:"},
			{"record-nogaps 12", "xids=[12] observed=12 state=2 snap=10:10:"},
			{"expire 12", "xids=[] observed=12 state=2 snap=13:13:"},
			// 10 and 11 run, yet a snapshot counts them finished.
			{"record-nogaps 11", "xids=[] observed=12 state=2 snap=13:13:"},
		}},
		{"a shutdown checkpoint's empty set", 20, []step{
			{"running 20/20/19/", "xids=[] observed=19 state=2 snap=20:20:"},
			{"record 21", "xids=[20 21] observed=21 state=2 snap=20:20:"},
			{"expire 21", "xids=[20] observed=21 state=2 snap=20:22:20"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
			pa := NewProcArray(node.Env, 4, tc.nextXid)
			NewStandbyProcArray(pa, tc.nextXid)
			finished := map[XID]bool{9: true}
			for i, st := range tc.steps {
				var op string
				var x XID
				f := strings.Fields(st.op)
				op = f[0]
				switch op {
				case "record", "record-nogaps", "expire":
					_, err := fmt.Sscan(f[1], &x)
					require.NoError(t, err)
				}
				switch op {
				case "record":
					pa.RecordKnownAssigned(x, false)
				case "record-nogaps":
					pa.RecordKnownAssigned(x, true)
				case "expire":
					pa.ExpireKnownAssigned(x)
					finished[x] = true
				case "running":
					r := parseRunning(t, f[1])
					pa.ApplyRecoveryInfo(r, func(x XID) bool { return finished[x] })
				default:
					t.Fatalf("unknown op %q", op)
				}
				xids, observed := pa.KnownAssignedXids()
				got := fmt.Sprintf("xids=%v observed=%d state=%d snap=", fmtXids(xids), observed, pa.StandbyState())
				if pa.StandbyState() == StandbySnapshotReady {
					got += pa.GetSnapshot(nil).String()
				} else {
					got += "-"
				}
				require.Equal(t, st.want, got, "step %d: %s", i, st.op)
			}
		})
	}
}

func fmtXids(xs []XID) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// parseRunning reads next/oldest/latest/x,y,... as a running-xacts
// record.
func parseRunning(t *testing.T, s string) RunningXacts {
	f := strings.Split(s, "/")
	require.Len(t, f, 4)
	var r RunningXacts
	_, err := fmt.Sscan(f[0], &r.NextXid)
	require.NoError(t, err)
	_, err = fmt.Sscan(f[1], &r.OldestRunningXid)
	require.NoError(t, err)
	_, err = fmt.Sscan(f[2], &r.LatestCompletedXid)
	require.NoError(t, err)
	for _, x := range strings.Split(f[3], ",") {
		if x == "" {
			continue
		}
		var v XID
		_, err := fmt.Sscan(x, &v)
		require.NoError(t, err)
		r.Xids = append(r.Xids, v)
	}
	return r
}

// TestRecoveryConflictFlags: a backend whose snapshot xmin is at or
// before the limit conflicts; cancelling it clears its xmin, and its
// backend learns of the cancel once.
func TestRecoveryConflictFlags(t *testing.T) {
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	pa := NewProcArray(node.Env, 4, 10)
	NewStandbyProcArray(pa, 10)
	pa.ApplyRecoveryInfo(RunningXacts{NextXid: 10, OldestRunningXid: 7, LatestCompletedXid: 9, Xids: []XID{7}}, func(XID) bool { return false })
	p, err := pa.Register()
	require.NoError(t, err)
	q, err := pa.Register()
	require.NoError(t, err)
	s := pa.GetSnapshot(p)
	require.Equal(t, "7:10:7", s.String())
	require.Empty(t, pa.ConflictingProcs(6))
	require.Equal(t, []*Proc{p}, pa.ConflictingProcs(7))
	require.False(t, pa.Conflicted(q))
	pa.CancelForConflict(p)
	require.Empty(t, pa.ConflictingProcs(100), "a cancelled snapshot holds nothing back")
	require.True(t, pa.TakeConflict(p))
	require.False(t, pa.TakeConflict(p), "the cancel is reported once")
}
