package db_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// The SERIALIZABLE benchmark (issue 20): the transaction mix of
// bench/pg_ssi.sh, run by the engine at REPEATABLE READ and at
// SERIALIZABLE, so that SSI's cost and its false-positive 40001 rate can
// be set beside PostgreSQL 15's. ssiBenchClients sessions, each a
// simulated process, run ssiBenchTxns transactions on a table of
// ssiBenchRows integer rows: three in four read two random rows and add 1
// to a third (rw.sql, the shape of write skew), one in four reads four
// rows in a READ ONLY transaction (ro.sql). A transaction that fails with
// 40001 (or 40P01) is retried, up to ssiBenchTries times, as pgbench
// --max-tries does.
const (
	ssiBenchClients = 8
	ssiBenchTxns    = 250
	ssiBenchRows    = 100
	ssiBenchTries   = 100
)

// ssiBenchResult is one level's run: commits, retries after 40001,
// transactions that ran out of tries, and the run's wall and virtual
// time.
type ssiBenchResult struct {
	commits, serializationFailures, gaveUp int
	wall, virtual                          time.Duration
}

func runSSIBench(b *testing.B, iso db.Isolation, seed uint64) ssiBenchResult {
	node := world.NewNode(world.NewRand(seed), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	defer node.Sim.KillAll()
	cfg := testConfig()
	cfg.MaxConnections = ssiBenchClients + 2
	cfg.SharedBuffers = 64
	var d *db.DB
	node.Sim.Spawn("initdb", func() {
		must(db.InitDB(node.Env, cfg))
		var err error
		d, _, err = db.Open(node.Env, cfg, db.RegisterAccessMethods)
		must(err)
		must(d.CreateTable("t"))
		s, err := d.Connect()
		must(err)
		for k := uint64(1); k <= ssiBenchRows; k++ {
			must(s.Insert("t", k, binary.LittleEndian.AppendUint64(nil, 0)))
		}
		s.Close()
	})
	if st := node.Sim.Run(); st.Kind != world.StopAllDone {
		b.Fatalf("boot: %s\n%s", st, st.Stack)
	}
	var res ssiBenchResult
	start, vstart := time.Now(), node.Env.Clock.Now()
	for c := 0; c < ssiBenchClients; c++ {
		rng := world.NewRand(seed*131 + uint64(c))
		node.Sim.Spawn("client", func() {
			s, err := d.Connect()
			must(err)
			defer s.Close()
			for t := 0; t < ssiBenchTxns; t++ {
				readOnly := rng.Intn(4) == 0
				var keys [4]uint64
				for i := range keys {
					keys[i] = 1 + uint64(rng.Intn(ssiBenchRows))
				}
				for try := 1; ; try++ {
					err := ssiBenchTxn(s, iso, readOnly, keys)
					if err == nil {
						res.commits++
						break
					}
					if !pgerr.Is(err, pgerr.SerializationFailure) && !pgerr.Is(err, pgerr.DeadlockDetected) {
						panic(err)
					}
					res.serializationFailures++
					if try == ssiBenchTries {
						res.gaveUp++
						break
					}
				}
			}
		})
	}
	if st := node.Sim.Run(); st.Kind != world.StopAllDone {
		b.Fatalf("run: %s\n%s", st, st.Stack)
	}
	res.wall, res.virtual = time.Since(start), node.Env.Clock.Now()-vstart
	if res.commits+res.gaveUp != ssiBenchClients*ssiBenchTxns {
		b.Fatalf("%d commits and %d given up of %d transactions", res.commits, res.gaveUp, ssiBenchClients*ssiBenchTxns)
	}
	return res
}

// ssiBenchTxn is one transaction of the mix, rolled back on any error.
func ssiBenchTxn(s *db.Session, iso db.Isolation, readOnly bool, keys [4]uint64) error {
	mode := db.TxnMode(0)
	if readOnly {
		mode = db.ModeReadOnly
	}
	if err := s.BeginMode(iso, mode); err != nil {
		return err
	}
	reads := 2
	if readOnly {
		reads = 4
	}
	var err error
	for i := 0; i < reads && err == nil; i++ {
		_, _, err = s.Get("t", keys[i])
	}
	if err == nil && !readOnly {
		_, err = s.Modify("t", keys[2], func(old []byte) ([]byte, bool) {
			return binary.LittleEndian.AppendUint64(nil, binary.LittleEndian.Uint64(old)+1), true
		})
	}
	if err != nil {
		_ = s.Rollback()
		return err
	}
	return s.Commit()
}

// BenchmarkSerializableVsRepeatableRead runs the mix at both levels per
// iteration and reports each level's committed transactions per second
// of wall time (the engine's CPU cost) and of virtual time (the
// simulated machine's throughput, waits included), SERIALIZABLE's share
// of REPEATABLE READ's, and the 40001 rate: serialization failures per
// committed transaction.
func BenchmarkSerializableVsRepeatableRead(b *testing.B) {
	var rr, ser ssiBenchResult
	for i := 0; i < b.N; i++ {
		for _, lv := range []struct {
			iso db.Isolation
			acc *ssiBenchResult
		}{{db.RepeatableRead, &rr}, {db.Serializable, &ser}} {
			r := runSSIBench(b, lv.iso, uint64(i+1))
			lv.acc.commits += r.commits
			lv.acc.serializationFailures += r.serializationFailures
			lv.acc.gaveUp += r.gaveUp
			lv.acc.wall += r.wall
			lv.acc.virtual += r.virtual
		}
	}
	perSec := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	b.ReportMetric(perSec(rr.commits, rr.wall), "rr-txn/s")
	b.ReportMetric(perSec(ser.commits, ser.wall), "ser-txn/s")
	b.ReportMetric(perSec(ser.commits, ser.wall)/perSec(rr.commits, rr.wall), "ser/rr-wall")
	b.ReportMetric(perSec(ser.commits, ser.virtual)/perSec(rr.commits, rr.virtual), "ser/rr-virtual")
	b.ReportMetric(float64(rr.serializationFailures)/float64(rr.commits), "rr-40001/commit")
	b.ReportMetric(float64(ser.serializationFailures)/float64(ser.commits), "ser-40001/commit")
	if rr.gaveUp+ser.gaveUp > 0 {
		b.Fatalf("transactions ran out of tries: %d at REPEATABLE READ, %d at SERIALIZABLE", rr.gaveUp, ser.gaveUp)
	}
}
