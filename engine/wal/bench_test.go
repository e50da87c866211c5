package wal

import (
	"fmt"
	"testing"

	"github.com/pgdst/pgdst/engine/env"
)

// BenchmarkInsert is WAL insertion throughput with one inserter and with
// eight concurrent ones (the real environment: processes are goroutines),
// records of 100 bytes, flushed every 1000 records so that the buffers
// stay small. Each process takes the insertion lock its process number
// picks (NUM_XLOGINSERT_LOCKS of them) and copies its records outside the
// reservation spinlock, so eight inserters copy in parallel; each flush
// waits for the copies in progress (WaitXLogInsertionsToFinish).
func BenchmarkInsert(b *testing.B) {
	for _, inserters := range []int{1, 8} {
		b.Run(fmt.Sprintf("inserters=%d", inserters), func(b *testing.B) {
			e, err := env.NewReal(b.TempDir(), 1)
			if err != nil {
				b.Fatal(err)
			}
			c := Config{SegmentSize: 16 << 20}
			if err := Create(e, c); err != nil {
				b.Fatal(err)
			}
			w, err := Open(e, c, FirstLSN, InvalidLSN)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 100)
			b.ResetTimer()
			sched := e.Sched.(*env.RealScheduler)
			for g := 0; g < inserters; g++ {
				sched.Spawn(fmt.Sprintf("inserter %d", g), func() {
					for i := g; i < b.N; i += inserters {
						rec := Record{Xid: uint64(i), Rmid: 1, Payload: payload}
						_, end := w.Insert(&rec)
						if i%1000 == 0 {
							w.Flush(end)
						}
					}
				})
			}
			sched.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
