package proc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestHotStandbySessionsAcrossPromotion: a standby started from a clean
// shutdown's checkpoint has its snapshot ready at once and accepts
// read-only connections while it recovers (PM_HOT_STANDBY); CREATE TABLE
// and INSERT get 25006. The sessions stay connected across pg_promote: a
// transaction that began in recovery stays read-only, and every later
// one may write, on old and new connections alike.
func TestHotStandbySessionsAcrossPromotion(t *testing.T) {
	node := world.NewNode(world.NewRand(7), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	type step struct {
		name string
		code pgerr.Code // "" for success
		got  pgerr.Code
	}
	var steps []step
	var setupErr error
	var inRecovery bool
	node.Sim.Spawn("test", func() {
		cfg := unreachableStandbyConfig()
		cfg.DB.HotStandby = true
		pm, l, err := startStandby(e, cfg)
		if setupErr = err; err != nil {
			return
		}
		e.Clock.Sleep(50 * time.Millisecond)
		c1, err := l.Dial()
		if setupErr = err; err != nil {
			return
		}
		c2, err := l.Dial()
		if setupErr = err; err != nil {
			return
		}
		inRecovery = pm.Shared().RecoveryInProgress() && pm.DB() == nil
		do := func(name string, c *Conn, req Request, want pgerr.Code) {
			resp, err := c.Call(req)
			if err == nil {
				err = resp.Err
			}
			steps = append(steps, step{name: name, code: want, got: pgerr.CodeOf(err)})
		}
		do("create table in recovery", c1, Request{Op: OpCreateTable, Table: "t"}, pgerr.ReadOnlySQLTransaction)
		do("insert in recovery", c1, Request{Op: OpInsert, Table: "t", Key: 1}, pgerr.ReadOnlySQLTransaction)
		do("vacuum in recovery", c1, Request{Op: OpVacuum, Table: "t"}, pgerr.ReadOnlySQLTransaction)
		do("begin in recovery", c2, Request{Op: OpBegin, Iso: db.RepeatableRead}, "")
		if setupErr = pm.Shared().RequestPromote(); setupErr != nil {
			return
		}
		e.Clock.Sleep(300 * time.Millisecond)
		do("create table in the block begun in recovery", c2, Request{Op: OpCreateTable, Table: "t"}, pgerr.ReadOnlySQLTransaction)
		do("rollback", c2, Request{Op: OpRollback}, "")
		do("create table after promotion", c2, Request{Op: OpCreateTable, Table: "t"}, "")
		do("insert on the old connection", c1, Request{Op: OpInsert, Table: "t", Key: 1, Val: []byte("one")}, "")
		do("read on the other", c2, Request{Op: OpGet, Table: "t", Key: 1}, "")
		c1.Close()
		c2.Close()
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.True(t, inRecovery, "the connections were accepted during recovery")
	require.Len(t, steps, 9)
	for _, s := range steps {
		require.Equal(t, s.code, s.got, s.name)
	}
	for _, c := range []string{"hot-standby-accepting", "hot-standby-write-refused", "standby-promoted"} {
		require.True(t, node.Reached.Has(c), "condition %s not reached", c)
	}
}
