package db_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// The planted bugs that live in the engine's session and checkpoint code,
// each shown both ways: with its switch on the wrong behaviour happens,
// with it off the right one. One process drives several sessions in turn,
// so the interleaving is the order of the statements below.

// withBugs runs fn as withDB does, on a cluster whose Config.Bugs is set.
func withBugs(t *testing.T, set bugs.Set, fn func(e *env.Env, d *db.DB)) {
	t.Helper()
	st, _ := world.InSim(1, func(e *env.Env) {
		cfg := testConfig()
		cfg.SharedBuffers = 64
		cfg.Bugs = set
		must(db.InitDB(e, cfg))
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		must(err)
		must(d.CreateTable("t"))
		fn(e, d)
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}

// bugCases runs fn with the bug off and on.
func bugCases(t *testing.T, id bugs.ID, fn func(t *testing.T, on bool, set bugs.Set)) {
	for _, on := range []bool{false, true} {
		var set bugs.Set
		if on {
			set = set.With(id)
		}
		t.Run(fmt.Sprintf("bug=%v", on), func(t *testing.T) { fn(t, on, set) })
	}
}

// snapshot-no-inprogress: a REPEATABLE READ transaction's snapshot is
// taken while a writer is running (and a later transaction has committed,
// so the writer is below the snapshot's xmax); the writer then commits. The correct
// snapshot keeps showing the old value; without the xip the reread shows
// the writer's value (a non-repeatable read). The writer's tuples get no
// wrong hint bits: everyone sees its commit afterwards, and the table
// checks out.
func TestBugSnapshotNoInProgress(t *testing.T) {
	bugCases(t, bugs.SnapshotNoInProgress, func(t *testing.T, on bool, set bugs.Set) {
		var first, reread, after string
		withBugs(t, set, func(e *env.Env, d *db.DB) {
			setup := connect(d)
			must(setup.Insert("t", 1, []byte("v0")))
			must(setup.Insert("t", 2, []byte("w0")))
			w := connect(d)
			must(w.Begin(db.ReadCommitted))
			_, err := w.Update("t", 1, []byte("v1")) // running when r's snapshot is taken
			must(err)
			_, err = w.Delete("t", 2)
			must(err)
			// A later transaction commits, so that w's xid is below the
			// snapshot's xmax and only the xip says w is running.
			must(setup.Insert("t", 3, []byte("x")))
			r := connect(d)
			must(r.Begin(db.RepeatableRead))
			first = get(r, 1) + " " + get(r, 2) // takes the snapshot: w has not committed
			must(w.Commit())
			reread = get(r, 1) + " " + get(r, 2)
			must(r.Commit())
			after = get(setup, 1) + " " + get(setup, 2)
			_, err = d.CheckTable("t")
			must(err)
		})
		require.Equal(t, "v0 w0", first, "no dirty read either way")
		if on {
			require.Equal(t, "v1 <none>", reread, "the bug: a commit after the snapshot shows through")
		} else {
			require.Equal(t, "v0 w0", reread, "REPEATABLE READ rereads the same values")
		}
		require.Equal(t, "v1 <none>", after, "the writer's changes are intact")
	})
}

// rr-no-serialization-failure: a REPEATABLE READ transaction reads a
// value, another transaction updates it and commits, and the first then
// writes a value computed from its read. Correctly the write fails with
// serialization_failure; with the bug it follows the update chain and
// overwrites the committed update, which is lost.
func TestBugRRNoSerializationFailure(t *testing.T) {
	bugCases(t, bugs.RRNoSerializationFailure, func(t *testing.T, on bool, set bugs.Set) {
		var updErr error
		var updated bool
		var final string
		withBugs(t, set, func(e *env.Env, d *db.DB) {
			setup := connect(d)
			must(setup.Insert("t", 1, []byte("10")))
			s1 := connect(d)
			must(s1.Begin(db.RepeatableRead))
			var n int
			fmt.Sscan(get(s1, 1), &n) // 10
			s2 := connect(d)
			_, err := s2.Update("t", 1, []byte("11")) // +1, autocommit
			must(err)
			updated, updErr = s1.Update("t", 1, []byte(fmt.Sprint(n+1))) // +1 from s1's snapshot
			if updErr == nil {
				must(s1.Commit())
			} else {
				must(s1.Rollback())
			}
			final = get(setup, 1)
		})
		if on {
			require.NoError(t, updErr)
			require.True(t, updated)
			require.Equal(t, "11", final, "the bug: two increments, one lost")
		} else {
			require.True(t, pgerr.Is(updErr, pgerr.SerializationFailure), "%v", updErr)
			require.Equal(t, "11", final, "only the committed increment")
		}
	})
}

// aborted-read: a transaction inserts a row and rolls back; a reader sees
// the row with the bug, not without. The uniqueness check is not fooled:
// the key can be inserted again either way.
func TestBugAbortedRead(t *testing.T) {
	bugCases(t, bugs.AbortedRead, func(t *testing.T, on bool, set bugs.Set) {
		var seen string
		var reinsert error
		withBugs(t, set, func(e *env.Env, d *db.DB) {
			w := connect(d)
			must(w.Begin(db.ReadCommitted))
			must(w.Insert("t", 1, []byte("never-committed")))
			must(w.Rollback())
			r := connect(d)
			seen = get(r, 1)
			reinsert = r.Insert("t", 1, []byte("v1"))
		})
		if on {
			require.Equal(t, "never-committed", seen, "the bug: an aborted insert is read")
		} else {
			require.Equal(t, "<none>", seen)
		}
		require.NoError(t, reinsert, "the unique check still sees the abort")
	})
}

// redo-after-flush: a change is made and committed after the checkpoint
// has written the buffers (at PointAfterBuffers, before the fsyncs), and
// the system crashes once the checkpoint is complete. With REDO taken
// first, recovery replays the change; with the bug REDO lies past it, the
// change's buffer was never written, and the committed row is gone.
func TestBugRedoAfterFlush(t *testing.T) {
	bugCases(t, bugs.RedoAfterFlush, func(t *testing.T, on bool, set bugs.Set) {
		cfg := testConfig()
		cfg.SharedBuffers = 64
		cfg.Bugs = set
		rng := world.NewRand(1)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		node.Sim.Spawn("test", func() {
			must(db.InitDB(node.Env, cfg))
			d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
			must(d.CreateTable("t"))
			s := connect(d)
			must(s.Insert("t", 1, []byte("before")))
			// The checkpointer, past its buffer phase, is where the
			// change below runs: the same process, inside the
			// injection point, so nothing else moves meanwhile.
			inHook := false
			node.Sim.SetInjectHook(func(p string) bool {
				if p == db.PointAfterBuffers && !inHook {
					inHook = true
					must(s.Insert("t", 2, []byte("during")))
					node.Sim.SetInjectHook(nil)
				}
				return false
			})
			must(d.Checkpoint())
			node.Sim.SetInjectHook(nil)
		})
		st := node.Sim.Run()
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		node.Sim.KillAll()
		node.Disk.Crash(rng, world.CrashDropAll)
		var got1, got2 string
		st = node.Reboot(func(e *env.Env) {
			d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
			must(err)
			_, err = d.CheckTable("t")
			must(err)
			s := connect(d)
			got1, got2 = get(s, 1), get(s, 2)
		})
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		require.Equal(t, "before", got1)
		if on {
			require.Equal(t, "<none>", got2, "the bug: a commit acknowledged during the checkpoint is lost")
		} else {
			require.Equal(t, "during", got2, "recovery replays the change from REDO")
		}
	})
}

// epq-next-version: the increment stalled past two committed increments
// (incrementPastTwoCommits) finds no row on the next version and is lost
// with the bug; without it, it lands on the newest version.
func TestBugEPQNextVersion(t *testing.T) {
	bugCases(t, bugs.EPQNextVersion, func(t *testing.T, on bool, set bugs.Set) {
		var done bool
		var final string
		withBugs(t, set, func(e *env.Env, d *db.DB) {
			done, final = incrementPastTwoCommits(e, d)
			_, err := d.CheckTable("t")
			must(err)
		})
		if on {
			require.False(t, done, "the bug loses the stalled increment")
			require.Equal(t, "13", final)
			return
		}
		require.True(t, done)
		require.Equal(t, "17", final)
	})
}
