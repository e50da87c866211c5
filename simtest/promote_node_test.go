package simtest

import (
	"testing"

	"github.com/pgdst/pgdst/engine/bugs"

	"github.com/stretchr/testify/require"
)

// TestFailoverPlanPromoteNode: a plan's `promote node=n3` promotes standby
// 2, not standby 1; the clients follow it (commits acknowledged after the
// failover survive on n3), standby 1 is re-pointed at it and follows its
// timeline, and the run passes.
func TestFailoverPlanPromoteNode(t *testing.T) {
	promoted, followed := 0, 0
	for _, r := range runSeeds(8, func(seed uint64) Config {
		c := standbyConfig(seed, 2)
		c.Failover = true
		c.Faults = "promote node=n3 when time>=60ms"
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if f := r.Failover; f != nil && f.PromotedAt != 0 {
			require.Equal(t, "n3", f.Node, "seed %d", r.Seed)
			require.EqualValues(t, 2, f.NewTLI, "seed %d", r.Seed)
			promoted++
			followed += f.Followed
		}
	}
	require.Greater(t, promoted, 0)
	require.Greater(t, followed, 0, "standby 1 never followed the promoted standby 2")
}

// TestPromoteNodeValidate: node= must name a standby of the run, and two
// promote actions must agree on it.
func TestPromoteNodeValidate(t *testing.T) {
	c := standbyConfig(1, 2)
	c.Failover = true
	c.Faults = "promote node=n4 when time>=60ms"
	require.EqualError(t, c.Validate(), "promote node=n4: no such standby (this run's are n2 to n3)")
	c.Faults = "promote node=n2 when time>=60ms\npromote node=n3 when time>=70ms"
	require.ErrorContains(t, c.Validate(), "promote actions name different standbys")
	c.Faults = "promote node=n3 when time>=60ms\npromote node=n3 when time>=70ms"
	require.NoError(t, c.Validate())
	c.Faults = "promote node=n2 when time>=60ms"
	p, err := planPromoteNode(c.Faults)
	require.NoError(t, err)
	require.Equal(t, "n2", p)
}

// TestFailoverBankAcrossFailover: a failover run of the mixed workload
// runs bank transfers too (workloadFailoverMixed), on the old primary and
// then on the promoted one, and the bank checker judges snapshot reads
// made after the promotion; with the planted bug snapshot-no-inprogress
// it fails such runs, which judged no bank read before.
func TestFailoverBankAcrossFailover(t *testing.T) {
	after := 0
	mixed := func(seed uint64) Config {
		c := failoverConfig(seed)
		c.Workload = WorkloadMixed
		return c
	}
	for _, r := range runSeeds(20, mixed) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		f := r.Failover
		if f == nil || f.PromotedAt == 0 {
			continue
		}
		for _, rd := range r.History.BankReads {
			if rd.Call > int64(f.PromotedAt) && rd.Client >= 0 {
				after++
			}
		}
	}
	require.Greater(t, after, 0, "no bank read on a promoted standby")
	// 60 seeds: the bug's first failing seed here is 44 since the
	// control file's and the WAL's mid-record injection points moved the
	// runs (3 before them), and 7 of these 60 fail.
	caught := 0
	for _, r := range runSeeds(60, func(seed uint64) Config {
		c := mixed(seed)
		c.Bugs = bugs.Set(0).With(bugs.SnapshotNoInProgress)
		return c
	}) {
		if !r.OK && r.Checker == CheckBank {
			caught++
		}
	}
	require.Greater(t, caught, 0)
}
