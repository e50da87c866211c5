package simtest

import (
	"strings"
	"testing"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/stretchr/testify/require"
)

// partitionConfig is a partition failover of the insert workload with
// two standbys, asynchronous unless sync names them.
func partitionConfig(seed uint64, sync string) Config {
	c := failoverConfig(seed)
	c.Standbys, c.FailoverKind = 2, FailoverPartition
	c.SyncStandbyNames, c.SyncStandbyNamesSet, c.SyncCommit = sync, true, ""
	if sync != "" {
		c.SyncCommit = "on"
	}
	return c
}

// TestFailoverPartitionAsync: with asynchronous replication a
// partitioned old primary keeps acknowledging its stale clients' commits,
// some while the new primary acknowledges its own on the next timeline;
// the new primary lacks them. They are counted as the failover's loss,
// not failed, and every run passes: what the new primary acknowledged
// survives. Enough seeds must have both primaries acknowledge, and lose
// commits, for this to mean something.
func TestFailoverPartitionAsync(t *testing.T) {
	// Under a second: -short runs them all too (a fifth of the seeds
	// promote, too few of 20 to hold the bounds below).
	n := 60
	promoted, both, lost := 0, 0, 0
	for _, r := range runSeeds(n, func(seed uint64) Config { return partitionConfig(seed, "") }) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		f := r.Failover
		if f == nil || f.PromotedAt == 0 {
			continue
		}
		require.Equal(t, FailoverPartition, f.Kind)
		require.GreaterOrEqual(t, f.FencedAt, f.PromotedAt, "seed %d: fenced before the promotion ended", r.Seed)
		promoted++
		if f.OldAckedPromoted > 0 {
			both++
		}
		if f.Lost > 0 {
			lost++
		}
	}
	t.Logf("%d of %d seeds promoted, %d with both primaries acknowledging, %d lost acknowledged commits", promoted, n, both, lost)
	require.GreaterOrEqual(t, promoted, n/5, "too few seeds failed over")
	require.GreaterOrEqual(t, both, n/20, "too few seeds had two primaries acknowledging at once")
	require.GreaterOrEqual(t, lost, n/20, "too few seeds lost the old primary's late commits")
}

// TestFailoverPartitionSync: under synchronous replication (FIRST 1
// (standby1), synchronous_commit = on) the partitioned old primary
// acknowledges no commit its standby lacks: its stale clients' commits
// wait in SyncRepWaitForLSN until the canceller, their timeout or the
// fence ends the wait, an unknown outcome each. No acknowledged commit
// is lost, and every run passes.
func TestFailoverPartitionSync(t *testing.T) {
	// Under a second: -short runs them all too (a fifth of the seeds
	// promote, too few of 20 to hold the bounds below).
	n := 60
	promoted, waited := 0, 0
	for _, r := range runSeeds(n, func(seed uint64) Config { return partitionConfig(seed, "FIRST 1 (standby1)") }) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		f := r.Failover
		if f == nil || f.PromotedAt == 0 {
			continue
		}
		promoted++
		require.Zero(t, f.Lost, "seed %d: an acknowledged commit lost under synchronous replication", r.Seed)
		for _, op := range r.History.Ops {
			if op.Outcome == Unknown && op.Call > f.At && op.Call < f.FencedAt {
				waited++
				break
			}
		}
	}
	t.Logf("%d of %d seeds promoted, %d with a commit left unknown in the partition", promoted, n, waited)
	require.GreaterOrEqual(t, promoted, n/8, "too few seeds failed over")
	require.Positive(t, waited, "no stale client's commit was left waiting in the partition")
}

// TestFailoverPartitionSplitBrain: the planted bug
// promotion-reuses-timeline keeps the old timeline at promotion; on a
// partition failover both primaries acknowledge commits on timeline 1 at
// once, which the failover checker's split-brain half names.
func TestFailoverPartitionSplitBrain(t *testing.T) {
	concurrent := 0
	for _, r := range runSeeds(40, func(seed uint64) Config {
		c := partitionConfig(seed, "")
		c.Bugs = c.Bugs.With(bugs.PromotionReusesTimeline)
		return c
	}) {
		if r.OK {
			continue
		}
		require.Equal(t, CheckFailover, r.Checker, "seed %d: %v", r.Seed, r.Failures)
		if strings.Contains(r.Failures[0], "split brain") && strings.Contains(r.Failures[0], "while both were primaries") {
			concurrent++
		}
	}
	require.Positive(t, concurrent, "no seed's split brain had both primaries acknowledging at once")
}

// TestFailoverKindValidation: --failover-kind takes power-off or
// partition, and needs --failover.
func TestFailoverKindValidation(t *testing.T) {
	c := failoverConfig(1)
	c.FailoverKind = "stonith"
	require.ErrorContains(t, c.Validate(), "want power-off or partition")
	c.FailoverKind = FailoverPartition
	require.NoError(t, c.Validate())
	c.Failover = false
	require.ErrorContains(t, c.Validate(), "needs --failover")
}
