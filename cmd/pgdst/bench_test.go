package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/pgdst/pgdst/simtest"
)

// BenchmarkCampaign measures campaign throughput in seeds/s for the default
// workload on 1 and 2 workers (goal: 2 workers >= 1.8x one).
func BenchmarkCampaign(b *testing.B) {
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	defer debug.SetGCPercent(old)
	for _, jobs := range []int{1, 2} {
		b.Run("jobs="+string(rune('0'+jobs)), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			useCores(jobs)
			st := runCampaign(uint64(b.N), jobs, func(i uint64) job { return job{cfg: simtest.DefaultConfig(i + 1)} }, nil, nil)
			if len(st.failed) != 0 {
				b.Fatalf("%d seeds failed", len(st.failed))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "seeds/s")
		})
	}
}
