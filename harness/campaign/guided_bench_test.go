package campaign

import (
	"testing"

	"github.com/pgdst/pgdst/simtest"
)

// BenchmarkGuidedFold measures what a guided campaign adds to each run:
// its features and their fold into the corpus (the run itself excluded),
// against BenchmarkRun's few milliseconds a run.
func BenchmarkGuidedFold(b *testing.B) {
	var rs []*simtest.Result
	for seed := uint64(1); seed <= 16; seed++ {
		rs = append(rs, simtest.Run(simtest.DefaultConfig(seed)))
	}
	g := newGuided(Options{Base: simtest.DefaultConfig(0), Shards: 1})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.fold(job{cfg: simtest.DefaultConfig(uint64(i))}, rs[i%len(rs)])
	}
}
