package campaign

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// singleNodeRate is the last single-node seeds/s BenchmarkCampaignReplication
// measured, for the replication cases' ratio to it.
var singleNodeRate float64

// BenchmarkCampaignReplication measures the replication campaign (issue
// 19) on one worker, in seeds/s, beside the same seeds with no standby:
// the plain campaign's swarm with the standby count pinned. Goal: the
// "primary + 1 synchronous standby + failover" case at >= 200 seeds/s on
// one core.
// Each case also reports its rate as a fraction of the single-node one
// just measured, which is the figure to compare across machines.
func BenchmarkCampaignReplication(b *testing.B) {
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	defer debug.SetGCPercent(old)
	for _, tc := range []struct {
		name     string
		standbys int
		failover bool
		sync     bool
	}{
		{"standbys=0", 0, false, false},
		{"standbys=1", 1, false, false},
		{"standbys=1/failover", 1, true, false},
		{"standbys=1/sync/failover", 1, true, true},
		{"standbys=2/failover", 2, true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
			cli.UseCores(1)
			st := runCampaign(uint64(b.N), 1, func(i uint64) job {
				c := simtest.DefaultConfig(i + 1)
				c.Standbys, c.StandbysSet, c.Failover = tc.standbys, true, tc.failover
				if tc.sync {
					c.SyncStandbyNames, c.SyncStandbyNamesSet, c.SyncCommit = "FIRST 1 (standby1)", true, "on"
				}
				return job{cfg: c}
			}, campaignOpts{})
			if len(st.failed) != 0 {
				b.Fatalf("%d seeds failed", len(st.failed))
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "seeds/s")
			switch {
			case tc.standbys == 0:
				singleNodeRate = rate
			case singleNodeRate > 0:
				b.ReportMetric(rate/singleNodeRate, "of-single-node")
			}
		})
	}
}
