package db

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// hotStandbyConfig is a small cluster with hot standby's records and
// sessions.
func hotStandbyConfig() Config {
	c := DefaultConfig()
	c.SharedBuffers = 16
	c.MaxConnections = 8
	c.WAL = wal.Config{SegmentSize: wal.SegmentSizeMin}
	c.HotStandby = true
	c.MaxStandbyStreamingDelay = 5 * time.Millisecond
	return c
}

// startHotStandby makes a primary with table t holding key 1 = "a" (a
// checkpoint logs its running-xacts record), then starts the same data
// directory as a standby with no primary to stream from, whose startup
// process replays pg_wal and then waits for ever; test runs beside it
// in the simulator once the standby accepts read-only sessions.
func startHotStandby(t *testing.T, test func(d *DB)) {
	t.Helper()
	startHotStandbyAfter(t, func(_ *env.Env, p *DB) {
		if err := p.Checkpoint(); err != nil {
			panic(err)
		}
	}, test)
}

// startHotStandbyAfter is startHotStandby with primary run in place of
// its checkpoint: the standby starts at the last checkpoint primary made.
func startHotStandbyAfter(t *testing.T, primary func(e *env.Env, p *DB), test func(d *DB)) {
	t.Helper()
	node := world.NewNode(world.NewRand(3), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Minute)
	e := node.Env
	cfg := hotStandbyConfig()
	ran := false
	node.Sim.Spawn("test", func() {
		if err := InitDB(e, cfg); err != nil {
			panic(err)
		}
		p, _, err := Open(e, cfg, RegisterAccessMethods)
		if err != nil {
			panic(err)
		}
		if err := p.CreateTable("t"); err != nil {
			panic(err)
		}
		s, err := p.Connect()
		if err != nil {
			panic(err)
		}
		if err := s.Insert("t", 1, []byte("a")); err != nil {
			panic(err)
		}
		primary(e, p)
		f, err := e.Disk.Open(StandbySignalPath, env.OpenCreate)
		if err != nil {
			panic(err)
		}
		f.Close()
		scfg := cfg
		scfg.ArchiveRecovery = true
		d, err := NewShared(e, scfg)
		if err != nil {
			panic(err)
		}
		d.InitWalRcv()
		e.SpawnAs(env.RoleStartup, "startup", func() { _, _ = d.StartupXLOG(RegisterAccessMethods, true) })
		for i := 0; i < 1000 && !d.HotStandbyActive(); i++ {
			e.Clock.Sleep(time.Millisecond)
		}
		require.True(t, d.HotStandbyActive(), "the standby is consistent with its snapshot ready")
		require.True(t, d.RecoveryInProgress())
		test(d)
		ran = true
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	require.True(t, ran, "test did not finish: %v", st)
}

// TestHotStandbyRefusesWrites: a standby session reads the primary's
// row, and every write fails with 25006, failing its transaction block.
func TestHotStandbyRefusesWrites(t *testing.T) {
	startHotStandby(t, func(d *DB) {
		s, err := d.Connect()
		require.NoError(t, err)
		defer s.Close()
		require.True(t, s.ReadOnly(), "transaction_read_only is on")
		v, ok, err := s.Get("t", 1)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, "a", string(v))
		err = s.PreventCommandIfReadOnly("INSERT")
		require.Equal(t, pgerr.ReadOnlySQLTransaction, pgerr.CodeOf(err))
		require.Equal(t, "cannot execute INSERT in a read-only transaction (SQLSTATE 25006)", err.Error())
		// The session's own write path refuses too.
		require.Equal(t, pgerr.ReadOnlySQLTransaction, pgerr.CodeOf(s.Insert("t", 2, []byte("b"))))
		_, err = s.Update("t", 1, []byte("z"))
		require.Equal(t, pgerr.ReadOnlySQLTransaction, pgerr.CodeOf(err))
		require.Equal(t, pgerr.ReadOnlySQLTransaction, pgerr.CodeOf(s.PreventCommandDuringRecovery("VACUUM")))
		// In a block, the refused UPDATE fails the block.
		require.NoError(t, s.Begin(RepeatableRead))
		require.Equal(t, pgerr.ReadOnlySQLTransaction, pgerr.CodeOf(s.PreventCommandIfReadOnly("UPDATE")))
		_, _, err = s.Get("t", 1)
		require.Equal(t, pgerr.InFailedTransaction, pgerr.CodeOf(err))
		require.NoError(t, s.Rollback())
		_, ok, err = s.Get("t", 1)
		require.NoError(t, err)
		require.True(t, ok)
	})
}

// TestHotStandbySnapshotConflict: a replayed removal whose horizon a
// standby snapshot may need waits max_standby_streaming_delay for it,
// then cancels it: that REPEATABLE READ transaction's next statement
// fails with 40001 and the block with it; a snapshot that ends within the
// delay is not cancelled; a snapshot newer than the horizon is no
// conflict.
func TestHotStandbySnapshotConflict(t *testing.T) {
	startHotStandby(t, func(d *DB) {
		e := d.e
		s, err := d.Connect()
		require.NoError(t, err)
		defer s.Close()
		require.NoError(t, s.Begin(RepeatableRead))
		_, _, err = s.Get("t", 1)
		require.NoError(t, err)
		limit := d.Procs.GetSnapshot(nil).Xmax // a removal up to the newest xid: every snapshot conflicts
		start := e.Clock.Now()
		d.resolveConflictWithSnapshot(limit)
		require.GreaterOrEqual(t, e.Clock.Now()-start, d.cfg.MaxStandbyStreamingDelay, "the startup process waited the delay first")
		_, _, err = s.Get("t", 1)
		require.Equal(t, pgerr.SerializationFailure, pgerr.CodeOf(err))
		require.True(t, strings.HasPrefix(err.Error(), "canceling statement due to conflict with recovery\nDETAIL: User query might have needed to see row versions that must be removed."), err.Error())
		_, _, err = s.Get("t", 1)
		require.Equal(t, pgerr.InFailedTransaction, pgerr.CodeOf(err))
		require.NoError(t, s.Rollback())

		// A snapshot that goes within the delay is waited for, not
		// cancelled.
		require.NoError(t, s.Begin(RepeatableRead))
		_, _, err = s.Get("t", 1)
		require.NoError(t, err)
		e.SpawnAs(env.RoleOther, "ender", func() {
			e.Clock.Sleep(time.Millisecond)
			require.NoError(t, s.Commit())
		})
		d.resolveConflictWithSnapshot(limit)
		require.False(t, d.Procs.Conflicted(s.proc))
		_, _, err = s.Get("t", 1)
		require.NoError(t, err)

		// Below every snapshot's xmin: no conflict.
		require.NoError(t, s.Begin(RepeatableRead))
		_, _, err = s.Get("t", 1)
		require.NoError(t, err)
		require.Empty(t, d.Procs.ConflictingProcs(xact.FirstNormalXID-1))
		require.NoError(t, s.Commit())
	})
}

// afterRedo runs hook, once, when the checkpointer reaches
// PointAfterRedo (after it took the REDO pointer, before CheckPointGuts).
type afterRedo struct {
	inner env.Injector
	hook  func()
}

func (a *afterRedo) Inject(point string) {
	a.inner.Inject(point)
	if point == PointAfterRedo && a.hook != nil {
		h := a.hook
		a.hook = nil
		h()
	}
}

// TestHotStandbyXidAssignedDuringCheckpoint: an xid assigned while a
// checkpoint runs (after its REDO pointer), after a running-xacts record
// that the background writer logged meanwhile, is running to a standby
// that starts at that checkpoint. The checkpoint record's nextXid is the
// one at the REDO pointer (CreateCheckPoint), the standby observes xids
// from it (ProcArrayInitRecovery), and the first running-xacts record
// readies its snapshot with that xid still to come: replay adds it to
// KnownAssignedXids (RecordKnownAssignedTransactionIds). With nextXid
// read when the record is inserted (pgdst before the fix, found by
// seed 7190 of the append campaign with list inserts), the standby
// started past that xid, never recorded it, and a read after a later
// commit took its rows for aborted (and hinted them so, hiding them for
// good once it committed).
func TestHotStandbyXidAssignedDuringCheckpoint(t *testing.T) {
	var x xact.XID
	var end wal.LSN
	startHotStandbyAfter(t, func(e *env.Env, p *DB) {
		s2, err := p.Connect()
		require.NoError(t, err)
		s3, err := p.Connect()
		require.NoError(t, err)
		inner := e.Points
		e.Points = &afterRedo{inner: inner, hook: func() {
			// The background writer's LogStandbySnapshot, with
			// nothing running, then a transaction whose xid and first
			// record come after it.
			p.logStandbySnapshot()
			require.NoError(t, s2.Begin(ReadCommitted))
			require.NoError(t, s2.Insert("t", 2, []byte("b")))
			x = p.Procs.NextXID() - 1
		}}
		require.NoError(t, p.Checkpoint())
		e.Points = inner
		require.True(t, x.IsNormal(), "the hook ran")
		// A later transaction commits, so that standby snapshots'
		// xmax passes x: x must be in their xip.
		require.NoError(t, s3.Insert("t", 3, []byte("c")))
		end = p.WAL.InsertLSN()
	}, func(d *DB) {
		for i := 0; i < 1000 && d.replayed < end; i++ {
			d.e.Clock.Sleep(time.Millisecond)
		}
		require.GreaterOrEqual(t, d.replayed, end, "the standby replayed the primary's WAL")
		snap := d.Procs.GetSnapshot(nil)
		require.Greater(t, snap.Xmax, x, "the standby replayed the commit after x")
		require.Contains(t, snap.Xip, x, "x runs on the primary: a standby snapshot counts it running")
		known, _ := d.Procs.KnownAssignedXids()
		require.Contains(t, known, x)
		s, err := d.Connect()
		require.NoError(t, err)
		defer s.Close()
		_, ok, err := s.Get("t", 2)
		require.NoError(t, err)
		require.False(t, ok, "x has not committed")
		_, ok, err = s.Get("t", 3)
		require.NoError(t, err)
		require.True(t, ok)
	})
}
