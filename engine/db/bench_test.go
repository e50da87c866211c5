package db_test

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// The storage engine's speed under the simulator, one process at a time
// (one core). Disk operations cost virtual time, not wall time. Goals from
// issue 3: >= 200k point reads/s, >= 50k synchronous commits/s, redo >=
// 100 MB/s.

func benchConfig() db.Config {
	c := db.DefaultConfig()
	c.SharedBuffers = 1024
	c.WAL = wal.Config{SegmentSize: 16 << 20}
	return c
}

// benchDB boots a cluster with table t holding rows keys [0, rows) and
// runs fn inside the simulation.
func benchDB(b *testing.B, rows int, fn func(e *env.Env, d *db.DB, s *db.Session)) {
	old := debug.SetGCPercent(1000)
	defer debug.SetGCPercent(old)
	st, _ := world.InSim(1, func(e *env.Env) {
		cfg := benchConfig()
		must(db.InitDB(e, cfg))
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		must(err)
		must(d.CreateTable("t"))
		s := connect(d)
		must(s.Begin(db.ReadCommitted))
		for k := 0; k < rows; k++ {
			must(s.Insert("t", uint64(k), []byte(fmt.Sprintf("value-%08d", k))))
		}
		must(s.Commit())
		b.ResetTimer()
		fn(e, d, s)
		b.StopTimer()
	})
	if st.Kind != world.StopAllDone {
		b.Fatalf("%s\n%s", st, st.Stack)
	}
}

func BenchmarkPointRead(b *testing.B) {
	benchDB(b, 10000, func(e *env.Env, d *db.DB, s *db.Session) {
		for i := 0; i < b.N; i++ {
			if _, ok, err := s.Get("t", uint64(i*7919%10000)); err != nil || !ok {
				panic(fmt.Sprint("read failed ", err))
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

func BenchmarkScan100(b *testing.B) {
	benchDB(b, 10000, func(e *env.Env, d *db.DB, s *db.Session) {
		for i := 0; i < b.N; i++ {
			lo := uint64(i * 7919 % 9900)
			n := 0
			must(s.Scan("t", lo, lo+99, func(uint64, []byte) bool { n++; return true }))
			if n != 100 {
				panic(fmt.Sprintf("scan saw %d rows", n))
			}
		}
	})
}

// BenchmarkAutocommitInsert is a single-row insert committed with
// synchronous_commit=on: WAL insert, XLogFlush (an fsync that costs virtual
// time only), clog update.
func BenchmarkAutocommitInsert(b *testing.B) {
	benchDB(b, 0, func(e *env.Env, d *db.DB, s *db.Session) {
		for i := 0; i < b.N; i++ {
			must(s.Insert("t", uint64(i), []byte("0123456789")))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkRedo10MB measures recovery of about 10 MB of WAL: inserts of
// 1 kB rows after the last checkpoint, then a crash-restart and Open.
func BenchmarkRedo10MB(b *testing.B) {
	old := debug.SetGCPercent(1000)
	defer debug.SetGCPercent(old)
	cfg := benchConfig()
	var walBytes float64
	var redo time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		var start, end wal.LSN
		node.Sim.Spawn("load", func() {
			must(db.InitDB(node.Env, cfg))
			d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
			must(d.CreateTable("t"))
			must(d.Checkpoint())
			start = d.WAL.InsertLSN()
			s := connect(d)
			must(s.Begin(db.ReadCommitted))
			row := make([]byte, 1000)
			for k := 0; d.WAL.InsertLSN()-start < 10<<20; k++ {
				must(s.Insert("t", uint64(k), row))
			}
			must(s.Commit())
			end = d.WAL.InsertLSN()
		})
		node.Sim.Run()
		node.Sim.KillAll()
		walBytes += float64(end - start)
		b.StartTimer()
		began := time.Now()
		node.Sim.Spawn("startup", func() {
			_, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
			must(err)
		})
		if st := node.Sim.Run(); st.Kind != world.StopAllDone {
			b.Fatalf("%s\n%s", st, st.Stack)
		}
		redo += time.Since(began)
		node.Sim.KillAll()
	}
	b.ReportMetric(walBytes/redo.Seconds()/1e6, "MB/s")
}
