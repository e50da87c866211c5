package wal

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pgdst/pgdst/engine/env"
)

// BenchmarkInsert is WAL insertion throughput with one inserter and with
// eight concurrent ones (the real environment, goroutines), records of
// 100 bytes, flushed every 1000 records so that the buffers stay small.
// Every insertion takes the one insertion lock (NUM_XLOGINSERT_LOCKS is
// not modelled yet), so eight inserters show its contention.
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
			var wg sync.WaitGroup
			for g := 0; g < inserters; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := g; i < b.N; i += inserters {
						rec := Record{Xid: uint64(i), Rmid: 1, Payload: payload}
						_, end := w.Insert(&rec)
						if i%1000 == 0 {
							w.Flush(end)
						}
					}
				}(g)
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
