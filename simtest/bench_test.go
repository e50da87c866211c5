package simtest

import (
	"testing"
)

// BenchmarkRun is one full skeleton run: initdb, boot, 50 acknowledged
// transactions with the background writer and checkpointer, a crash,
// recovery and the checks. The crash step is set past the workload so that
// all 50 commits are acknowledged, as the goal is stated.
func BenchmarkRun(b *testing.B) {
	var virtualNs, steps float64
	for i := 0; i < b.N; i++ {
		c := DefaultConfig(uint64(i + 1))
		c.Clients, c.Txns = 5, 10
		c.CrashStep = 1 << 40
		r := Run(c)
		if !r.OK || r.Acked != 50 {
			b.Fatalf("seed %d: ok=%v acked=%d %v", c.Seed, r.OK, r.Acked, r.Failures)
		}
		virtualNs += float64(r.Virtual.Nanoseconds())
		steps += float64(r.Steps)
	}
	b.ReportMetric(virtualNs/float64(b.Elapsed().Nanoseconds()), "virtual/wall")
	b.ReportMetric(steps/float64(b.N), "steps/run")
}
