package simtest

import (
	"runtime"
	"testing"
)

// BenchmarkFailoverCycle is the failover cycle of bench/pg_failover_cycle.sh
// in pgdst's terms (issue 19): a primary and one synchronous standby
// (synchronous_standby_names = 'FIRST 1 (standby1)', synchronous_commit =
// on, as the script's) made from a base backup of it while it runs, one
// client sending 50 single-row autocommit
// INSERTs back to back, the primary's machine losing power at a moment
// drawn from the seed, pg_promote of the standby, the client redirected to
// it, the new primary's power loss at the end, its recovery, and every
// checker (the failover checker's split-brain half, the sync-rep
// checker's no-loss half, the standby checker, durability). The script's cycle kills PostgreSQL with
// -9 (its OS keeps the page cache) and rebuilds the old primary with
// pg_basebackup; pgdst drops unsynced writes and makes its standby with a
// base backup in each cycle. It reports cycles/min, to set beside the
// script's.
func BenchmarkFailoverCycle(b *testing.B) {
	benchGC(b)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	promoted := 0
	for i := 0; i < b.N; i++ {
		c := insertConfig(uint64(i + 1))
		c.Clients, c.Txns, c.WritesMax, c.ThinkMax, c.Autocommit, c.RowBytes = 1, 50, 1, 0, true, rowBytesMin
		c.Standbys, c.StandbysSet, c.Failover = 1, true, true
		c.SyncStandbyNames, c.SyncStandbyNamesSet, c.SyncCommit = "FIRST 1 (standby1)", true, "on"
		c.Faults = "# no faults but the failover\n"
		r := Run(c)
		if !r.OK {
			b.Fatalf("seed %d: %v", c.Seed, r.Failures)
		}
		if r.Failover != nil && r.Failover.PromotedAt != 0 {
			promoted++
		}
	}
	if promoted == 0 {
		b.Fatalf("no run of %d promoted its standby", b.N)
	}
	b.ReportMetric(float64(promoted)/b.Elapsed().Minutes(), "cycles/min")
	b.ReportMetric(float64(promoted)/float64(b.N), "promoted/run")
}
