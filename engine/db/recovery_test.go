package db_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestSessionsSurviveCrashes: clients insert and update rows (each key has
// one writer, so its acknowledged value is known) through the heap and the
// primary-key index, with all background processes running; power fails
// or the system crash-restarts at a seeded step, several times. After
// every recovery, each key holds its last acknowledged value or a later
// one the client had sent without hearing back, and a scan agrees with
// the point reads.
func TestSessionsSurviveCrashes(t *testing.T) {
	writes := 0
	defer func() { t.Logf("%d acknowledged writes checked across crashes", writes) }()
	cfg := testConfig()
	cfg.SharedBuffers = 32
	for seed := uint64(1); seed <= 10; seed++ {
		rng := world.NewRand(seed)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		node.Sim.Spawn("initdb", func() {
			must(db.InitDB(node.Env, cfg))
			d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
			must(d.CreateTable("t"))
		})
		require.Equal(t, world.StopAllDone, node.Sim.Run().Kind)
		// acked[key] is the last acknowledged version; sent[key] the last
		// one sent (it may have committed without the client hearing).
		acked := map[uint64]int{}
		sent := map[uint64]int{}
		const clients, keysPer = 3, 8
		for c := 0; c < clients; c++ {
			for k := 0; k < keysPer; k++ {
				acked[uint64(c*100+k)], sent[uint64(c*100+k)] = -1, -1 // never written
			}
		}
		for cycle := 0; cycle < 3; cycle++ {
			node.Sim.Spawn("startup", func() {
				d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
				must(err)
				if _, err := d.CheckTable("t"); err != nil {
					panic(fmt.Sprintf("seed %d cycle %d: self-check: %v", seed, cycle, err))
				}
				s := connect(d)
				for c := 0; c < clients; c++ {
					for k := 0; k < keysPer; k++ {
						key := uint64(c*100 + k)
						v, ok, err := s.Get("t", key)
						must(err)
						got := -1
						if ok {
							fmt.Sscanf(string(v), "v%d", &got)
						}
						if got < acked[key] || got > sent[key] {
							panic(fmt.Sprintf("seed %d cycle %d: key %d holds version %d; acknowledged %d, sent %d", seed, cycle, key, got, acked[key], sent[key]))
						}
						acked[key], sent[key] = got, got
					}
				}
				n := 0
				must(s.Scan("t", 0, 1<<40, func(uint64, []byte) bool { n++; return true }))
				want := 0
				for _, v := range acked {
					if v >= 0 {
						want++
					}
				}
				if n != want {
					panic(fmt.Sprintf("seed %d cycle %d: scan sees %d rows, point reads %d", seed, cycle, n, want))
				}
				s.Close()
				e := node.Env
				e.Sched.Spawn("checkpointer", checkpointerLoop(d))
				e.Sched.Spawn("bgwriter", bgwriterLoop(d))
				e.Sched.Spawn("walwriter", walwriterLoop(d))
				for c := 0; c < clients; c++ {
					e.Sched.Spawn(fmt.Sprintf("client-%d", c), func() {
						s := connect(d)
						for i := 0; i < 60; i++ {
							key := uint64(c*100 + e.Rand.Intn(keysPer))
							next := sent[key] + 1
							sent[key] = next
							val := []byte(fmt.Sprintf("v%d", next))
							var err error
							if next == 0 {
								err = s.Insert("t", key, val)
							} else {
								_, err = s.Update("t", key, val)
							}
							must(err)
							acked[key] = next
							writes++
							e.Clock.Sleep(time.Duration(e.Rand.Intn(300)) * time.Microsecond)
						}
					})
				}
			})
			node.Sim.SetStepLimit(node.Sim.Steps() + 2000 + uint64(rng.Intn(20000)))
			st := node.Sim.Run()
			require.Contains(t, []world.StopKind{world.StopStepLimit, world.StopDeadlock}, st.Kind, "seed %d cycle %d: %s\n%s", seed, cycle, st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetStepLimit(0)
			if cycle%2 == 0 {
				node.Disk.Crash(rng, world.CrashMode(rng.Intn(3)))
			}
		}
	}
}
