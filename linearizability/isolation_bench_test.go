package linearizability

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkIsolation100k checks a valid 100k-transaction list-append
// history at Serializable: 10 clients whose transactions overlap in
// time, 100 keys, 1 to 4 mops each (half reads, half appends), 5% failed
// and 4% unknown (half of those committed). The history is generated
// before the timer starts. The goal is under a second an op on one core.
func BenchmarkIsolation100k(b *testing.B) {
	benchmarkIsolation(b, Serializable)
}

// BenchmarkIsolation100kStrict is the same history at StrictSerializable,
// which adds the realtime edges.
func BenchmarkIsolation100kStrict(b *testing.B) {
	benchmarkIsolation(b, StrictSerializable)
}

func benchmarkIsolation(b *testing.B, level Level) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	h := isoGenerate(isoGen{txns: n, clients: 10, keys: 100, maxMops: 4, failed: 5, unknownCommitted: 2, unknownLost: 2},
		func(k int) int { return rng.IntN(k) })
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := CheckIsolation(h, level)
		if len(res.Findings) != 0 {
			b.Fatalf("a valid history: %s %v", res.Summary(), res.Findings[0])
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "txns/s")
}
