package db_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

func testConfig() db.Config {
	c := db.DefaultConfig()
	c.SharedBuffers = 16
	c.MaxConnections = 8
	c.WAL = wal.Config{SegmentSize: wal.SegmentSizeMin}
	c.CheckpointTimeout = 3 * time.Millisecond
	c.BgwriterDelay = time.Millisecond
	c.WalWriterDelay = 500 * time.Microsecond
	return c
}

type txnOutcome struct {
	xid   xact.XID
	acked bool
	abort bool
}

// TestCrashCycles runs boot -> workload -> crash -> recovery several times
// on one node; after every recovery each acknowledged commit must be
// committed in the clog and no aborted transaction may be.
func TestCrashCycles(t *testing.T) {
	cfg := testConfig()
	ackedTotal := 0
	for seed := uint64(1); seed <= 12; seed++ {
		rng := world.NewRand(seed)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		node.Sim.Spawn("initdb", func() { require.NoError(t, db.InitDB(node.Env, cfg)) })
		require.Equal(t, world.StopAllDone, node.Sim.Run().Kind)
		var all []*txnOutcome
		// An xid whose every record was lost in a crash is legitimately
		// handed out again (nothing of it survived); an acknowledged
		// commit's xid never is.
		latest := map[xact.XID]*txnOutcome{}
		for cycle := 0; cycle < 4; cycle++ {
			var d *db.DB
			var stats db.RecoveryStats
			node.Sim.Spawn("startup", func() {
				var err error
				d, stats, err = db.Open(node.Env, cfg, nil)
				if err != nil {
					panic(err)
				}
				// Check what the previous cycles left.
				for _, o := range all {
					if latest[o.xid] != o {
						continue // the xid was reused after this outcome
					}
					st, _, err := d.Clog.GetStatus(uint64(o.xid))
					if err != nil {
						panic(err)
					}
					if o.acked && st != clog.Committed {
						panic(fmt.Sprintf("seed %d cycle %d: acknowledged xid %d is %v after recovery", seed, cycle, o.xid, st))
					}
					if o.abort && st == clog.Committed {
						panic(fmt.Sprintf("seed %d cycle %d: aborted xid %d committed", seed, cycle, o.xid))
					}
				}
				e := node.Env
				e.Sched.Spawn("checkpointer", checkpointerLoop(d))
				e.Sched.Spawn("bgwriter", bgwriterLoop(d))
				e.Sched.Spawn("walwriter", walwriterLoop(d))
				for b := 0; b < 3; b++ {
					e.Sched.Spawn(fmt.Sprintf("backend-%d", b), func() {
						p, err := d.Procs.Register()
						if err != nil {
							panic(err)
						}
						for i := 0; i < 30; i++ {
							txn := d.Xacts.Begin(p)
							xid, err := txn.AssignXID()
							if err != nil {
								panic(err)
							}
							o := &txnOutcome{xid: xid}
							if prev := latest[xid]; prev != nil && prev.acked {
								panic(fmt.Sprintf("seed %d: xid %d of an acknowledged commit reused", seed, xid))
							}
							latest[xid] = o
							all = append(all, o)
							e.Clock.Sleep(time.Duration(e.Rand.Intn(400)) * time.Microsecond)
							if e.Rand.Intn(4) == 0 {
								o.abort = true
								txn.Abort()
								continue
							}
							if _, err := txn.Commit(); err != nil {
								panic(err)
							}
							o.acked = true
						}
					})
				}
			})
			node.Sim.SetStepLimit(node.Sim.Steps() + 500 + uint64(rng.Intn(4000)))
			st := node.Sim.Run()
			require.Contains(t, []world.StopKind{world.StopStepLimit, world.StopDeadlock}, st.Kind, "seed %d cycle %d: %s\n%s", seed, cycle, st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetStepLimit(0)
			if cycle%2 == 0 {
				node.Disk.Crash(rng, world.CrashMode(rng.Intn(3)))
			} // odd cycles: crash-restart, the OS page cache survives
			_ = stats
		}
		// A last recovery checks the last cycle.
		node.Sim.Spawn("startup", func() {
			d, _, err := db.Open(node.Env, cfg, nil)
			if err != nil {
				panic(err)
			}
			for _, o := range all {
				if latest[o.xid] != o {
					continue
				}
				st, _, err := d.Clog.GetStatus(uint64(o.xid))
				if err != nil {
					panic(err)
				}
				if o.acked && st != clog.Committed {
					panic(fmt.Sprintf("seed %d: acknowledged xid %d is %v after the last recovery", seed, o.xid, st))
				}
			}
		})
		st := node.Sim.Run()
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
		node.Sim.KillAll()
		acked := 0
		for _, o := range all {
			if o.acked {
				acked++
			}
		}
		ackedTotal += acked
	}
	// The workload must have done real work for the checks to mean much.
	require.Greater(t, ackedTotal, 12*4*20, "acknowledged commits over all seeds and cycles")
	t.Logf("%d acknowledged commits checked across crashes", ackedTotal)
}

// TestCreateTableSurvivesCrashes: every table whose CREATE returned exists
// after a crash at any step, with its relation files; the map never names
// a relation whose files are missing.
func TestCreateTableSurvivesCrashes(t *testing.T) {
	cfg := testConfig()
	for seed := uint64(1); seed <= 30; seed++ {
		rng := world.NewRand(seed)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		node.Sim.Spawn("initdb", func() { require.NoError(t, db.InitDB(node.Env, cfg)) })
		require.Equal(t, world.StopAllDone, node.Sim.Run().Kind)
		var created []string
		node.Sim.Spawn("startup", func() {
			d, _, err := db.Open(node.Env, cfg, nil)
			if err != nil {
				panic(err)
			}
			node.Env.Sched.Spawn("checkpointer", checkpointerLoop(d))
			for i := 0; i < 20; i++ {
				name := fmt.Sprintf("t%02d", i)
				if _, err := d.Catalog.Create(name, nil); err != nil {
					panic(err)
				}
				created = append(created, name)
			}
			if _, err := d.Catalog.Create("t00", nil); err == nil {
				panic("duplicate table accepted")
			}
		})
		node.Sim.SetStepLimit(node.Sim.Steps() + 100 + uint64(rng.Intn(1500)))
		node.Sim.Run()
		node.Sim.KillAll()
		node.Sim.SetStepLimit(0)
		node.Disk.Crash(rng, world.CrashMode(rng.Intn(3)))
		node.Sim.Spawn("startup", func() {
			d, _, err := db.Open(node.Env, cfg, nil)
			if err != nil {
				panic(err)
			}
			for _, name := range created {
				if _, ok := d.Catalog.Lookup(name); !ok {
					panic(fmt.Sprintf("seed %d: table %s lost", seed, name))
				}
			}
			for _, tb := range d.Catalog.Tables() {
				for _, rel := range []smgr.RelFileNumber{tb.Heap, tb.Index} {
					if ok, err := d.SMgr.Exists(rel, smgr.MainForkNum); err != nil || !ok {
						panic(fmt.Sprintf("seed %d: table %s names missing relation %d", seed, tb.Name, rel))
					}
				}
			}
		})
		st := node.Sim.Run()
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
		node.Sim.KillAll()
	}
}
