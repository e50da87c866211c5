package world

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// TestPlanKillPassesOverSpare: a plan's kill fires on whatever process
// raises its event, except the harness process named Spare (the
// failover's, which must not die half-way through a failover: seed 2122
// once left its workload one short and the run never stopped). The spare
// raises the point first: the kill's trigger fires there (once) and the
// kill passes over it, carried out on nobody, so the spare and the
// process it starts run on to the end. Without Spare the same plan kills the spare at its hit, which, on a
// node without a postmaster, stops the run there.
func TestPlanKillPassesOverSpare(t *testing.T) {
	for _, spared := range []bool{true, false} {
		node := NewNode(NewRand(1), newTrace(nil), SchedConfig{StepCost: time.Microsecond}, Latency{})
		plan, err := fault.Parse("kill when point=wal-after-segment-create")
		require.NoError(t, err)
		r := NewPlanRunner(node, plan, NewRand(2))
		r.Install()
		var spareRan, victimRan bool
		spare := node.Env.SpawnAs(env.RoleOther, "failover", func() {
			node.Env.Inject("wal-after-segment-create")
			spareRan = true
			node.Env.SpawnAs(env.RoleBackend, "victim", func() {
				node.Env.Inject("wal-after-segment-create")
				victimRan = true
			})
		})
		if spared {
			r.Spare = spare
		}
		st := node.Sim.Run()
		if spared {
			require.Zero(t, r.Fires[0], "a kill passed over is not carried out")
			require.Equal(t, StopAllDone, st.Kind, "%s", st)
			require.True(t, spareRan && victimRan, "the spare ran on %v, the process it started %v", spareRan, victimRan)
		} else {
			require.Equal(t, StopFault, st.Kind, "%s", st)
			require.Equal(t, 1, r.Fires[0], "the kill is carried out at the spare's hit")
			require.False(t, spareRan || victimRan, "the kill was passed over: the spare ran on %v", spareRan)
		}
	}
}
