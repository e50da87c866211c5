package campaign

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// jobs1Rate is the last seeds/s measured on one worker, for the 2-worker
// benchmark's speedup.
var jobs1Rate float64

// BenchmarkCampaign measures campaign throughput in seeds/s for the default
// workload on 1 and 2 workers (goal: 2 workers >= 1.8x one); the jobs=2
// case also reports its speedup over the jobs=1 case just run.
func BenchmarkCampaign(b *testing.B) {
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	defer debug.SetGCPercent(old)
	for _, jobs := range []int{1, 2} {
		b.Run("jobs="+string(rune('0'+jobs)), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			cli.UseCores(jobs)
			st := runCampaign(uint64(b.N), jobs, func(i uint64) job { return job{cfg: simtest.DefaultConfig(i + 1)} }, campaignOpts{})
			if len(st.failed) != 0 {
				b.Fatalf("%d seeds failed", len(st.failed))
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "seeds/s")
			switch {
			case jobs == 1:
				jobs1Rate = rate
			case jobs1Rate > 0:
				b.ReportMetric(rate/jobs1Rate, "speedup")
			}
		})
	}
}

// BenchmarkCampaignMemory runs b.N seeds on 2 workers and reports the heap
// the campaign still holds afterwards per seed: it keeps counts of a
// passing run, never the run, so this stays near 0 however many seeds run
// (TestCampaignMemoryFlat asserts it).
func BenchmarkCampaignMemory(b *testing.B) {
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	defer debug.SetGCPercent(old)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cli.UseCores(2)
	before := liveHeap()
	st := runCampaign(uint64(b.N), 2, func(i uint64) job { return job{cfg: simtest.DefaultConfig(i + 1)} }, campaignOpts{})
	after := liveHeap()
	runtime.KeepAlive(st)
	b.ReportMetric(float64(int64(after)-int64(before))/float64(b.N), "retained-B/seed")
	b.ReportMetric(float64(after)/(1<<20), "live-MiB")
}

// liveHeap is the heap in use after a full collection, without the
// bounded caches runs share (simtest.DropCaches).
func liveHeap() uint64 {
	simtest.DropCaches()
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
