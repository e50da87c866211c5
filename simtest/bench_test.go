package simtest

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// benchGC runs a benchmark at the GC target the pgdst binary uses, so the
// figures are the product's, and restores the default afterwards.
func benchGC(b *testing.B) {
	old := debug.SetGCPercent(CampaignGCPercent)
	b.Cleanup(func() { debug.SetGCPercent(old) })
}

// benchRuns runs b.N seeds of c with an empty fault plan, so that every
// transaction is acknowledged (or rolled back by its client) before the
// power fails at the end, and reports
// the virtual-to-wall ratio and steps per run.
//
// A run is single-threaded, so it is measured on one core (GOMAXPROCS=1),
// as the crash-cycle goal states: with an idle second core the Go
// runtime hands the simulated processes' goroutines across threads, which
// costs a quarter of a run. Campaigns keep every core busy with one run
// each, so they do not pay it.
func benchRuns(b *testing.B, c Config) {
	benchGC(b)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var virtualNs, steps float64
	want := c.Clients * c.Txns
	for i := 0; i < b.N; i++ {
		c.Seed = uint64(i + 1)
		c.Faults = "# no faults: power loss after the workload\n"
		// The workload's shape is the benchmark's own: no contended keys
		// (whose 23505s are neither commits nor rollbacks), no script
		// client, deletes, bulk reads, range statements or follow reads
		// (which turn some insert transactions into reads), every commit
		// synchronous.
		c.ContendedKeys, c.Deletes, c.BulkReads, c.ScriptClient = VarietyOff, VarietyOff, VarietyOff, VarietyOff
		c.RangeStatements, c.FollowReads = VarietyOff, VarietyOff
		c.AsyncShare, c.AsyncShareSet = 0, true
		// archive_timeout off, PostgreSQL's default and the script's.
		c.ArchiveTimeout = ArchiveTimeoutOff
		r := Run(c)
		done := 0
		for _, op := range r.History.Ops {
			if op.Outcome == OK || op.Err == errRolledBack.Error() {
				done++
			}
		}
		if !r.OK || done != want {
			b.Fatalf("seed %d: ok=%v, %d of %d transactions committed or rolled back by the client: %v", c.Seed, r.OK, done, want, r.Failures)
		}
		virtualNs += float64(r.Virtual.Nanoseconds())
		steps += float64(r.Steps)
	}
	b.ReportMetric(virtualNs/float64(b.Elapsed().Nanoseconds()), "virtual/wall")
	b.ReportMetric(steps/float64(b.N), "steps/run")
}

// BenchmarkCrashCycle is the crash cycle of ../shared/bench/pg_crash_cycle.sh
// in pgdst's terms: one client sends 50 single-row autocommit INSERTs back
// to back, as psql runs the script's lines, with every server process
// running; then the power fails, the startup process recovers, and the
// checks verify. Goal: >= 1000 times the script's cycles per second on
// one core. Like the script's, each cycle starts from a cluster initdb
// made once (the initdb image), and its rows are 8 bytes, the script's one
// int column with room for pgdst's row id. pgdst does more per cycle than
// the script: a power loss that drops unsynced writes (the script's kill
// -9 leaves the OS page cache), a VACUUM every eighth transaction, and
// every checker and self-check.
func BenchmarkCrashCycle(b *testing.B) {
	c := insertConfig(1)
	c.Clients, c.Txns, c.WritesMax, c.ThinkMax, c.Autocommit, c.RowBytes = 1, 50, 1, 0, true, rowBytesMin
	benchRuns(b, c)
}

// BenchmarkCrashCycleWideRows is BenchmarkCrashCycle with the campaigns'
// 1000-byte rows: the 50 rows then fill seven heap pages, not one.
func BenchmarkCrashCycleWideRows(b *testing.B) {
	c := insertConfig(1)
	c.Clients, c.Txns, c.WritesMax, c.ThinkMax, c.Autocommit = 1, 50, 1, 0, true
	benchRuns(b, c)
}

// BenchmarkRun is one full run of the storage engine on the insert
// workload: initdb, boot, 50 transactions (5 concurrent clients x 10, each
// a BEGIN ... COMMIT block of 1-3 rows, one in eight rolled back) with the
// background writer and checkpointer, power loss, recovery and the checks.
func BenchmarkRun(b *testing.B) {
	c := insertConfig(1) // 50 inserting transactions: the shape of PostgreSQL's side of the comparison
	c.Clients, c.Txns = 5, 10
	benchRuns(b, c)
}

// BenchmarkRunIdle is the same run with clients that pause up to 100 ms
// between transactions, as an interactive application does, and
// PostgreSQL's default background timings: the simulator skips idle virtual
// time, so the virtual/wall ratio is the figure to read (goal >= 1000).
func BenchmarkRunIdle(b *testing.B) {
	c := insertConfig(1) // 50 inserting transactions: the shape of PostgreSQL's side of the comparison
	c.Clients, c.Txns = 5, 10
	c.ThinkMax = 100 * time.Millisecond
	c.PGTimings = true
	benchRuns(b, c)
}

// BenchmarkRunIdleSwarm is the idle run with the swarm's scaled-down
// background timings (bgwriter every 1-20 ms): background wakeups, not
// client work, then bound the ratio.
func BenchmarkRunIdleSwarm(b *testing.B) {
	c := insertConfig(1) // 50 inserting transactions: the shape of PostgreSQL's side of the comparison
	c.Clients, c.Txns = 5, 10
	c.ThinkMax = 100 * time.Millisecond
	benchRuns(b, c)
}
