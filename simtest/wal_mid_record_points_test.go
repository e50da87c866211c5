package simtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/wal"
)

// TestPowerLossInsideARecord: a power loss at either of the WAL's
// mid-record injection points leaves a record whose first part is
// durable and whose rest was never written — in the middle of a
// multi-page record (the WAL writer's flush of completed pages) or at a
// segment boundary inside one (a segment fsynced, the next not written).
// Recovery must end in that incomplete record (abortedRecPtr) and write
// XLOG_OVERWRITE_CONTRECORD where its continuation is missing, and every
// checker must pass. The points test's insert workload (its 1000-byte
// rows fill pages and segments), crashed at the point's first hit, in
// each crash mode.
func TestPowerLossInsideARecord(t *testing.T) {
	for _, point := range []string{wal.PointFlushedMidRecord, wal.PointSegmentDurableMidRecord} {
		t.Run(point, func(t *testing.T) {
			fired, incomplete, overwritten := 0, 0, 0
			for _, mode := range []string{"drop-all", "random-subset", "torn"} {
				for _, r := range runSeeds(12, func(seed uint64) Config {
					c := pointsConfig(seed)
					c.Faults = fmt.Sprintf("crash mode=%s when point=%s#1\n", mode, point)
					return c
				}) {
					require.True(t, r.OK, "%s seed %d: %v\n%s", mode, r.Seed, r.Failures, r.Summary())
					if !r.FaultFired(0) {
						continue
					}
					fired++
					if r.Sometimes.Has("recovery-end-incomplete-record") {
						incomplete++
					}
					if r.Sometimes.Has("wal-overwrite-contrecord-written") {
						overwritten++
					}
				}
			}
			t.Logf("%s: fired on %d of 36 runs; recovery ended in an incomplete record on %d, wrote XLOG_OVERWRITE_CONTRECORD on %d", point, fired, incomplete, overwritten)
			require.Positive(t, fired, "the point is reached")
			require.Equal(t, fired, incomplete, "every power loss there leaves an incomplete record at the end of WAL")
			require.Equal(t, fired, overwritten, "and recovery overwrites its missing continuation")
		})
	}
}
