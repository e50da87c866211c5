package main

import (
	"testing"
	"time"

	"github.com/pgdst/pgdst/simtest"
)

// BenchmarkShrinkPlantedBug measures shrinking, to its fixed point, the
// repro of the first seed that the planted bug ack-before-flush makes fail
// with the durability checker from the default config; it reports the runs
// the shrink made and the workload left (clients x txns) with the time per
// shrink.
func BenchmarkShrinkPlantedBug(b *testing.B) {
	cfg := plantedConfig(b)
	r := newRepro(cfg, simtest.Run(cfg), configCommand(cfg))
	var sh *shrinker
	for b.Loop() {
		sh = newShrinker(r.Config, 1<<30, time.Now().Add(time.Hour), func(string) {})
		sh.shrink()
	}
	if sh.res.Checker != r.Failure.Checker {
		b.Fatalf("shrunk to a %s failure, want %s", sh.res.Checker, r.Failure.Checker)
	}
	b.ReportMetric(float64(sh.attempts), "attempts")
	b.ReportMetric(float64(sh.cfg.Clients*sh.cfg.Txns), "txns-left")
	b.ReportMetric(float64(len(planLines(sh.cfg.Faults))), "faults-left")
}
