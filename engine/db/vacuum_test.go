package db_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

func TestVacuumRemovesDeadVersions(t *testing.T) {
	withDB(t, 6, func(e *env.Env, d *db.DB) {
		s := connect(d)
		for k := uint64(0); k < 30; k++ {
			must(s.Insert("t", k, []byte("v0")))
		}
		// An old snapshot sees v0 everywhere and must keep seeing it.
		old := connect(d)
		must(old.Begin(db.RepeatableRead))
		require.Equal(t, "v0", get(old, 5))
		for round := 1; round <= 3; round++ {
			for k := uint64(0); k < 30; k++ {
				_, err := s.Update("t", k, []byte(fmt.Sprintf("v%d", round)))
				must(err)
			}
		}
		for k := uint64(0); k < 10; k++ {
			_, err := s.Delete("t", k)
			must(err)
		}
		st, err := d.Vacuum("t")
		must(err)
		// The old snapshot holds OldestXmin below every updater, so every
		// old version is only RECENTLY_DEAD: PostgreSQL's horizon cannot
		// tell that the snapshot will never look at v1 or v2.
		require.Zero(t, st.DeadTuples, "%+v", st)
		require.Equal(t, "v0", get(old, 5), "vacuum removed a version a snapshot still sees")
		require.Equal(t, "v0", get(old, 3))
		must(old.Commit())

		st, err = d.Vacuum("t")
		must(err)
		// v0, v1, v2 of every row, and v3 of the ten deleted ones.
		require.Equal(t, 100, st.DeadTuples, "%+v", st)
		require.Equal(t, 100, st.IndexRemoved)
		n, err := d.CheckTable("t")
		must(err)
		require.Equal(t, 20, n)
		require.Equal(t, "v3", get(s, 15))
		require.Equal(t, "<none>", get(s, 5))
		st, err = d.Vacuum("t")
		must(err)
		require.Zero(t, st.DeadTuples, "nothing left to do")
		// New rows reuse the freed line pointers; no stale index entry may
		// lead to them.
		for k := uint64(100); k < 160; k++ {
			must(s.Insert("t", k, []byte("new")))
		}
		n, err = d.CheckTable("t")
		must(err)
		require.Equal(t, 80, n)
		require.Equal(t, "<none>", get(s, 5))
		require.Equal(t, "v3", get(s, 15))
	})
}

// A crash between vacuum's phases leaves a consistent table, and the next
// vacuum finishes the job (it collects LP_DEAD items it did not make).
func TestVacuumCrashBetweenPhases(t *testing.T) {
	cfg := testConfig()
	cfg.SharedBuffers = 64
	for _, point := range []string{db.PointVacuumAfterHeap, db.PointVacuumAfterIndex} {
		for seed := uint64(1); seed <= 4; seed++ {
			rng := world.NewRand(seed)
			node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
			node.Sim.Spawn("setup", func() {
				must(db.InitDB(node.Env, cfg))
				d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
				must(err)
				must(d.CreateTable("t"))
				s := connect(d)
				for k := uint64(0); k < 20; k++ {
					must(s.Insert("t", k, []byte("a")))
					_, err := s.Update("t", k, []byte("b"))
					must(err)
				}
				must(d.Checkpoint()) // everything so far is durable
				d.Vacuum("t")
			})
			node.Sim.SetInjectHook(func(p string) bool { return p == point })
			st := node.Sim.Run()
			require.Equal(t, world.StopInject, st.Kind, "%s\n%s", st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetInjectHook(nil)
			node.Disk.Crash(rng, world.CrashMode(seed%3))
			node.Sim.Spawn("recover", func() {
				d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
				must(err)
				n, err := d.CheckTable("t")
				must(err)
				if n != 20 {
					panic(fmt.Sprintf("%s seed %d: %d rows after recovery", point, seed, n))
				}
				s := connect(d)
				if v := get(s, 7); v != "b" {
					panic(fmt.Sprintf("%s seed %d: key 7 = %s", point, seed, v))
				}
				vs, err := d.Vacuum("t")
				must(err)
				if vs.DeadTuples != vs.IndexRemoved && point == db.PointVacuumAfterHeap {
					panic(fmt.Sprintf("%s seed %d: %+v", point, seed, vs))
				}
				_, err = d.CheckTable("t")
				must(err)
				vs, err = d.Vacuum("t")
				must(err)
				if vs.DeadTuples != 0 {
					panic(fmt.Sprintf("%s seed %d: dead tuples left after two vacuums: %+v", point, seed, vs))
				}
			})
			st = node.Sim.Run()
			require.Equal(t, world.StopAllDone, st.Kind, "%s seed %d: %s\n%s", point, seed, st, st.Stack)
			node.Sim.KillAll()
		}
	}
}
