package db

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestParseSyncStandbyNames: PostgreSQL's grammar for
// synchronous_standby_names, and one-line errors for what it rejects.
func TestParseSyncStandbyNames(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SyncStandbys
	}{
		{"", SyncStandbys{}},
		{"   ", SyncStandbys{}},
		{"standby1", SyncStandbys{Num: 1, Names: []string{"standby1"}}},
		{"s1, s2", SyncStandbys{Num: 1, Names: []string{"s1", "s2"}}},
		{"*", SyncStandbys{Num: 1, Names: []string{"*"}}},
		{"FIRST 1 (standby1)", SyncStandbys{Num: 1, Names: []string{"standby1"}}},
		{"first 2 (s1,s2, s3)", SyncStandbys{Num: 2, Names: []string{"s1", "s2", "s3"}}},
		{"ANY 1 (s1, s2)", SyncStandbys{Quorum: true, Num: 1, Names: []string{"s1", "s2"}}},
		{"Any 2(s1,*)", SyncStandbys{Quorum: true, Num: 2, Names: []string{"s1", "*"}}},
		{"2 (s1, s2)", SyncStandbys{Num: 2, Names: []string{"s1", "s2"}}},
		{`"first", "a ""b"""`, SyncStandbys{Num: 1, Names: []string{"first", `a "b"`}}},
		{"1, 2", SyncStandbys{Num: 1, Names: []string{"1", "2"}}},
		{"FIRST 3 (s1)", SyncStandbys{Num: 3, Names: []string{"s1"}}}, // allowed: it never releases
	} {
		got, err := ParseSyncStandbyNames(c.in)
		require.NoError(t, err, "%q", c.in)
		require.Equal(t, c.want, got, "%q", c.in)
	}
	for _, in := range []string{
		"FIRST 0 (s1)", "ANY 0 (s1)", "0 (s1)", "FIRST (s1)", "FIRST 1 s1", "FIRST 1 (s1", "FIRST 1 ()",
		"s1,", ",s1", "s1 s2", "(s1)", `"unterminated`, `""`, "s1; drop", "ANY", "first, s2", "FIRST 1 (s1) s2",
		"FIRST 99999999999999999999 (s1)",
	} {
		_, err := ParseSyncStandbyNames(in)
		require.Error(t, err, "%q", in)
		require.NotContains(t, err.Error(), "\n", "a one-line error")
	}
}

// TestSyncStandbysPriority: SyncRepGetStandbyPriority.
func TestSyncStandbysPriority(t *testing.T) {
	first, _ := ParseSyncStandbyNames("FIRST 1 (s1, S2)")
	require.Equal(t, 1, first.Priority("S1"))
	require.Equal(t, 2, first.Priority("s2"))
	require.Equal(t, 0, first.Priority("s3"))
	any, _ := ParseSyncStandbyNames("ANY 1 (s1, s2)")
	require.Equal(t, 1, any.Priority("s2"))
	star, _ := ParseSyncStandbyNames("s1, *")
	require.Equal(t, 1, star.Priority("s1"))
	require.Equal(t, 2, star.Priority("anything"))
}

// TestSyncRepGetSyncRecPtr: a table of SyncRepGetSyncRecPtr's answers.
func TestSyncRepGetSyncRecPtr(t *testing.T) {
	c := func(w, f, a wal.LSN, prio, slot int, me bool) SyncCandidate {
		return SyncCandidate{Write: w, Flush: f, Apply: a, Priority: prio, Slot: slot, Me: me}
	}
	parse := func(s string) SyncStandbys {
		cfg, err := ParseSyncStandbyNames(s)
		require.NoError(t, err)
		return cfg
	}
	for _, tc := range []struct {
		name                string
		cfg                 string
		cands               []SyncCandidate
		ok                  bool
		write, flush, apply wal.LSN
	}{
		{"one sync standby", "FIRST 1 (s1)", []SyncCandidate{c(300, 200, 100, 1, 0, true)}, true, 300, 200, 100},
		{"no candidate", "FIRST 1 (s1)", nil, false, 0, 0, 0},
		{"an async standby does not release", "FIRST 1 (s1)", []SyncCandidate{c(300, 200, 100, 0, 0, true)}, false, 0, 0, 0},
		{"no flush reported yet", "FIRST 1 (s1)", []SyncCandidate{c(300, 0, 0, 1, 0, true)}, false, 0, 0, 0},
		{"FIRST 1: the highest priority only", "FIRST 1 (s1, s2)",
			[]SyncCandidate{c(900, 900, 900, 2, 0, false), c(300, 200, 100, 1, 1, true)}, true, 300, 200, 100},
		{"FIRST 1: a potential standby is not am_sync", "FIRST 1 (s1, s2)",
			[]SyncCandidate{c(900, 900, 900, 2, 0, true), c(300, 200, 100, 1, 1, false)}, false, 0, 0, 0},
		{"FIRST 1: the potential standby takes over", "FIRST 1 (s1, s2)",
			[]SyncCandidate{c(900, 800, 700, 2, 0, true)}, true, 900, 800, 700},
		{"FIRST 1: ties by slot", "FIRST 1 (*)",
			[]SyncCandidate{c(900, 900, 900, 1, 1, false), c(300, 200, 100, 1, 0, true)}, true, 300, 200, 100},
		{"FIRST 2: the oldest of each", "FIRST 2 (s1, s2)",
			[]SyncCandidate{c(900, 150, 700, 2, 0, true), c(300, 200, 100, 1, 1, false)}, true, 300, 150, 100},
		{"FIRST 2: one short", "FIRST 2 (s1, s2)", []SyncCandidate{c(900, 150, 700, 2, 0, true)}, false, 0, 0, 0},
		{"ANY 1: the newest", "ANY 1 (s1, s2)",
			[]SyncCandidate{c(900, 150, 700, 1, 0, true), c(300, 200, 100, 1, 1, false)}, true, 900, 200, 700},
		{"ANY 1: a non-newest standby still releases", "ANY 1 (s1, s2)",
			[]SyncCandidate{c(900, 150, 700, 1, 0, false), c(300, 200, 100, 1, 1, true)}, true, 900, 200, 700},
		{"ANY 2 of 3: the second newest", "ANY 2 (s1, s2, s3)",
			[]SyncCandidate{c(900, 150, 700, 1, 0, true), c(300, 200, 100, 1, 1, false), c(500, 500, 500, 1, 2, false)}, true, 500, 200, 500},
		{"ANY 2: one short", "ANY 2 (s1, s2)", []SyncCandidate{c(900, 150, 700, 1, 0, true)}, false, 0, 0, 0},
	} {
		w, f, a, ok := SyncRepGetSyncRecPtr(parse(tc.cfg), tc.cands)
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, [3]wal.LSN{tc.write, tc.flush, tc.apply}, [3]wal.LSN{w, f, a}, tc.name)
		}
	}
}

// syncRepDB runs fn beside a standalone primary with
// synchronous_standby_names = FIRST 1 (s1) at level, whose sync-rep
// state is made as a postmaster's recovery makes it, and one WAL sender
// slot for standby s1 (streaming, nothing reported yet).
func syncRepDB(t *testing.T, level SyncCommitLevel, b bugs.Set, fn func(d *DB, slot int)) {
	t.Helper()
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	var failed error
	node.Sim.Spawn("test", func() {
		e := node.Env
		cfg := DefaultConfig()
		cfg.SynchronousStandbyNames, cfg.SynchronousCommitLevel, cfg.Bugs = "FIRST 1 (s1)", level, b
		if failed = InitDB(e, cfg); failed != nil {
			return
		}
		d, _, err := Open(e, cfg, RegisterAccessMethods)
		if failed = err; err != nil {
			return
		}
		if failed = d.CreateTable("t"); failed != nil {
			return
		}
		d.initSyncRep()
		slot, err := d.WalSndAcquire()
		if failed = err; err != nil {
			return
		}
		ws := d.WalSndSlot(slot)
		ws.AppName, ws.Streaming = "s1", true
		fn(d, slot)
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, failed)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
}

// commitInBackground inserts key into t in a process of its own
// (autocommit); done is set when the commit returns, with its warning.
type bgCommit struct {
	done     bool
	err      error
	warning  string
	terminat bool
}

func commitInBackground(d *DB, key uint64) *bgCommit {
	c := &bgCommit{}
	d.e.Sched.Spawn("committer", func() {
		s, err := d.Connect()
		if err != nil {
			c.err, c.done = err, true
			return
		}
		defer s.Close()
		c.err = s.Insert("t", key, []byte("v"))
		c.warning, c.terminat = s.TakeSyncRepWarning()
		c.done = true
	})
	return c
}

// visible reports whether key is in t for a new snapshot.
func visible(t *testing.T, d *DB, key uint64) bool {
	s, err := d.Connect()
	require.NoError(t, err)
	defer s.Close()
	_, found, err := s.Get("t", key)
	require.NoError(t, err)
	return found
}

// TestSyncRepWaitReleasedByFlush: with synchronous_commit = on, a
// commit waits, committed locally but invisible to others, until the
// sync standby's flush position passes it; its write position is not
// enough.
func TestSyncRepWaitReleasedByFlush(t *testing.T) {
	syncRepDB(t, SyncCommitOn, 0, func(d *DB, slot int) {
		c := commitInBackground(d, 1)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.False(t, c.done, "the commit did not wait for the standby")
		ws := d.SyncRepWaiters()
		require.Len(t, ws, 1)
		require.False(t, visible(t, d, 1), "a commit waiting for sync rep is visible to others")
		require.GreaterOrEqual(t, d.WAL.Flushed(), ws[0].LSN, "the commit waits before its local flush")
		snd := d.WalSndSlot(slot)
		snd.Write, snd.Flush, snd.Apply = ws[0].LSN, ws[0].LSN-1, ws[0].LSN-1
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.False(t, c.done, "an 'on' commit released by the standby's write position")
		snd.Flush = ws[0].LSN
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.True(t, c.done, "the flush position did not release the commit")
		require.NoError(t, c.err)
		require.Empty(t, c.warning)
		require.True(t, visible(t, d, 1))
		require.Empty(t, d.SyncRepWaiters())
		// A later commit below the released position does not wait.
		require.Equal(t, ws[0].LSN, d.syncRep.lsn[syncRepWaitFlush])
	})
}

// TestSyncRepReleaseAtWriteBug: the planted bug releases an 'on' commit
// by the write position.
func TestSyncRepReleaseAtWriteBug(t *testing.T) {
	syncRepDB(t, SyncCommitOn, bugs.Set(0).With(bugs.SyncRepReleaseAtWrite), func(d *DB, slot int) {
		c := commitInBackground(d, 1)
		d.e.Clock.Sleep(20 * time.Millisecond)
		ws := d.SyncRepWaiters()
		require.Len(t, ws, 1)
		snd := d.WalSndSlot(slot)
		snd.Write, snd.Flush = ws[0].LSN, ws[0].LSN-1
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.True(t, c.done, "the planted bug did not release at the write position")
	})
}

// TestSyncRepWaitModes: remote_write is released by the write position,
// remote_apply only by the apply position.
func TestSyncRepWaitModes(t *testing.T) {
	syncRepDB(t, SyncCommitRemoteWrite, 0, func(d *DB, slot int) {
		c := commitInBackground(d, 1)
		d.e.Clock.Sleep(20 * time.Millisecond)
		ws := d.SyncRepWaiters()
		require.Len(t, ws, 1)
		snd := d.WalSndSlot(slot)
		snd.Write, snd.Flush = ws[0].LSN, 1
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.True(t, c.done, "remote_write not released by the write position")
	})
	syncRepDB(t, SyncCommitRemoteApply, 0, func(d *DB, slot int) {
		c := commitInBackground(d, 1)
		d.e.Clock.Sleep(20 * time.Millisecond)
		ws := d.SyncRepWaiters()
		require.Len(t, ws, 1)
		snd := d.WalSndSlot(slot)
		snd.Write, snd.Flush, snd.Apply = ws[0].LSN, ws[0].LSN, ws[0].LSN-1
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.False(t, c.done, "remote_apply released before the standby applied")
		snd.Apply = ws[0].LSN
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		require.True(t, c.done)
	})
}

// TestSyncRepQueueOrder: waiters are released in LSN order, each by the
// first position that passes it.
func TestSyncRepQueueOrder(t *testing.T) {
	syncRepDB(t, SyncCommitOn, 0, func(d *DB, slot int) {
		cs := []*bgCommit{commitInBackground(d, 1), commitInBackground(d, 2), commitInBackground(d, 3)}
		d.e.Clock.Sleep(20 * time.Millisecond)
		ws := d.SyncRepWaiters()
		require.Len(t, ws, 3)
		q := d.syncRep.queue[syncRepWaitFlush]
		for i := 1; i < len(q); i++ {
			require.Less(t, q[i-1].lsn, q[i].lsn, "the queue is not in LSN order")
		}
		snd := d.WalSndSlot(slot)
		snd.Write, snd.Flush = q[1].lsn, q[1].lsn
		d.SyncRepReleaseWaiters(slot)
		d.e.Clock.Sleep(20 * time.Millisecond)
		n := 0
		for _, c := range cs {
			if c.done {
				n++
			}
		}
		require.Equal(t, 2, n, "the two oldest waiters are released, the third waits")
		require.Len(t, d.SyncRepWaiters(), 1)
	})
}

// TestSyncRepWaitCanceled: a canceled wait leaves the transaction
// committed locally and visible, with PostgreSQL's WARNING; a terminated
// one too, and tells the backend to end.
func TestSyncRepWaitCanceled(t *testing.T) {
	for _, terminate := range []bool{false, true} {
		syncRepDB(t, SyncCommitOn, 0, func(d *DB, slot int) {
			c := commitInBackground(d, 7)
			d.e.Clock.Sleep(20 * time.Millisecond)
			ws := d.SyncRepWaiters()
			require.Len(t, ws, 1)
			require.False(t, d.InterruptSyncRepWait(ws[0].Slot+1, terminate), "an interrupt of a backend not waiting")
			require.True(t, d.InterruptSyncRepWait(ws[0].Slot, terminate))
			d.e.Clock.Sleep(20 * time.Millisecond)
			require.True(t, c.done, "the interrupt did not end the wait")
			require.NoError(t, c.err, "the commit stands locally")
			want := SyncRepCancelWarning
			if terminate {
				want = SyncRepTerminateWarning
			}
			require.Equal(t, want, c.warning)
			require.Equal(t, terminate, c.terminat)
			require.True(t, visible(t, d, 7), "a commit whose wait was canceled is not visible")
			require.Empty(t, d.SyncRepWaiters())
			require.False(t, d.InterruptSyncRepWait(ws[0].Slot, terminate))
		})
	}
}

// TestSyncCommitLevels: parsing, and a configuration whose level
// contradicts SynchronousCommit is refused.
func TestSyncCommitLevels(t *testing.T) {
	for s, want := range map[string]SyncCommitLevel{"off": SyncCommitOff, "local": SyncCommitLocal, "remote_write": SyncCommitRemoteWrite, "on": SyncCommitOn, "REMOTE_APPLY": SyncCommitRemoteApply} {
		got, err := ParseSyncCommitLevel(s)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseSyncCommitLevel("remote_flush")
	require.Error(t, err)
	cfg := DefaultConfig()
	cfg.SynchronousCommitLevel = SyncCommitOff
	require.Error(t, cfg.Validate())
	cfg.SynchronousCommit = false
	require.NoError(t, cfg.Validate())
	cfg.SynchronousStandbyNames = "FIRST 0 (s1)"
	require.Error(t, cfg.Validate())
	require.Equal(t, SyncCommitOn, DefaultConfig().SyncCommit())
}
