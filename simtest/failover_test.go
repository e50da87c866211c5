package simtest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// failoverConfig is the default run with one standby and a failover.
func failoverConfig(seed uint64) Config {
	c := standbyConfig(seed, 1)
	c.Failover = true
	// The insert workload these tests and their seeds were written
	// for; a mixed failover run adds bank transfers
	// (TestFailoverBankAcrossFailover).
	c.Workload = WorkloadInsert
	return c
}

// TestFailover: the primary writes, loses power mid-workload, standby 1 is
// promoted to timeline 2, the clients reconnect to it and commit there,
// and the new primary's data (after its own power loss) holds every
// commit it acknowledged and no hole in what the old primary acknowledged.
// Enough seeds must fail over, with commits on both sides, for this to
// mean something.
func TestFailover(t *testing.T) {
	n := 60
	if testing.Short() {
		n = 20
	}
	promoted, bothSides := 0, 0
	for _, r := range runSeeds(n, failoverConfig) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		f := r.Failover
		if f == nil || f.PromotedAt == 0 {
			continue
		}
		promoted++
		require.Equal(t, uint32(1), f.OldTLI, "seed %d", r.Seed)
		require.Equal(t, uint32(2), f.NewTLI, "seed %d", r.Seed)
		require.NotZero(t, f.Switch, "seed %d", r.Seed)
		after := 0
		for _, op := range r.History.Ops {
			if op.Outcome == OK && op.Return >= f.PromotedAt {
				after++
			}
		}
		if f.Kept+f.Lost > 0 && after > 0 {
			bothSides++
		}
	}
	require.GreaterOrEqual(t, promoted, n/5, "too few seeds failed over")
	require.GreaterOrEqual(t, bothSides, n/10, "too few seeds committed on both sides of a failover")
}

// TestFailoverDeterminism: with --failover the same seed gives the same
// trace, and the failover changes the run.
func TestFailoverDeterminism(t *testing.T) {
	a := runSeeds(15, failoverConfig)
	b := runSeeds(15, failoverConfig)
	plain := runSeeds(15, func(seed uint64) Config { return standbyConfig(seed, 1) })
	differ := 0
	for i := range a {
		require.Equal(t, a[i].TraceString(), b[i].TraceString(), "seed %d: two runs differ", a[i].Seed)
		require.Equal(t, a[i].Steps, b[i].Steps)
		if a[i].TraceString() != plain[i].TraceString() {
			differ++
		}
	}
	require.Equal(t, len(a), differ, "--failover left no trace on some seeds")
}

// TestFailoverCheckerCatchesReusedTimeline: the planted bug
// promotion-reuses-timeline keeps the old timeline at promotion; the
// failover checker reports split brain on seeds that fail over (or,
// where the new primary acknowledged nothing, the missing history file),
// and the same seeds pass without the bug.
func TestFailoverCheckerCatchesReusedTimeline(t *testing.T) {
	caught, splitBrain := 0, 0
	for _, r := range runSeeds(40, func(seed uint64) Config {
		c := failoverConfig(seed)
		c.Bugs = c.Bugs.With(bugs.PromotionReusesTimeline)
		return c
	}) {
		if !r.OK {
			require.Equal(t, CheckFailover, r.Checker, "seed %d: %v", r.Seed, r.Failures)
			// Split brain, or, where the new primary acknowledged
			// nothing, the history-file half.
			if strings.Contains(r.Failures[0], "split brain") {
				splitBrain++
			} else {
				require.Contains(t, r.Failures[0], "has no history file", "seed %d", r.Seed)
			}
			caught++
		}
	}
	require.GreaterOrEqual(t, caught, 3)
	require.Positive(t, splitBrain)
}

// TestFailoverValidation: a failover needs a standby, and the insert
// workload without asynchronous commits.
func TestFailoverValidation(t *testing.T) {
	c := DefaultConfig(1)
	c.Failover = true
	require.ErrorContains(t, c.Validate(), "needs a standby")
	c.Standbys = 1
	require.NoError(t, c.Validate())
	c.Workload = WorkloadRegister
	require.ErrorContains(t, c.Validate(), "insert, bank or mixed workload")
}

// TestFailoverLossBound: the async loss bound on a made-up history. Two
// clients' acknowledged transactions before the failover; what the new
// primary lacks is a suffix of each client's (counted, made unknown), and
// a lost transaction followed by a kept one of the same client is a hole.
func TestFailoverLossBound(t *testing.T) {
	mk := func(present []int) (*workload, map[*Op]int, *Result) {
		res := &Result{OK: true, History: &History{}, Failover: &FailoverResult{At: 100}}
		w := &workload{hist: res.History, failoverAt: 100}
		pres := map[*Op]int{}
		for i, n := range present {
			op := &Op{Client: i % 2, Index: i / 2, Return: time.Duration(10 + 10*i), Keys: []uint64{uint64(i)}, Outcome: OK}
			w.hist.Ops = append(w.hist.Ops, op)
			pres[op] = n
		}
		// One acknowledged after the failover, by the new primary: not
		// the old primary's, never counted.
		late := &Op{Client: 0, Index: 9, Return: 200, Keys: []uint64{99}, Outcome: OK}
		// Client 0 reconnected to the new primary before it
		// (servedByNew), client 1 never did.
		w.fo = &failover{standbys: &standbySet{}, dials: [][]dialRec{{{from: 0}, {from: len(w.hist.Ops), toNew: true}}, {{from: 0}}}}
		w.hist.Ops = append(w.hist.Ops, late)
		return w, pres, res
	}
	// Client 0: kept, kept, lost; client 1: kept, lost, lost.
	w, pres, res := mk([]int{1, 1, 1, 0, 0, 0})
	w.failoverLoss(pres, res)
	require.True(t, res.OK, "%v", res.Failures)
	require.Equal(t, 3, res.Failover.Lost)
	require.Equal(t, 3, res.Failover.Kept)
	require.Equal(t, Unknown, w.hist.Ops[5].Outcome)
	require.Equal(t, OK, w.hist.Ops[6].Outcome)
	// Client 0: lost, then kept: a hole.
	w, pres, res = mk([]int{0, 1, 1, 1})
	w.failoverLoss(pres, res)
	require.False(t, res.OK)
	require.Equal(t, CheckFailover, res.Checker)
	require.Contains(t, res.Failures[0], "hole")
}

// TestFailoverPlanPromote: a fault plan's promote action picks the
// failover's moment (here the first step at or after 90 ms), in place of
// the drawn one; without --failover a plan with promote is refused.
func TestFailoverPlanPromote(t *testing.T) {
	promoted := 0
	for _, r := range runSeeds(6, func(seed uint64) Config {
		c := failoverConfig(seed)
		c.Faults = "promote when time>=90ms"
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if f := r.Failover; f != nil && f.PromotedAt != 0 {
			require.GreaterOrEqual(t, f.At, 90*time.Millisecond, "seed %d", r.Seed)
			require.Less(t, f.At, 92*time.Millisecond, "seed %d: the failover waited", r.Seed)
			promoted++
		}
	}
	require.Greater(t, promoted, 0)
	c := standbyConfig(1, 1)
	c.Faults = "promote when time>=90ms"
	require.ErrorContains(t, c.Validate(), "needs --failover")
}

// TestFailoverRegressionPlanKill: seed 2122's plan kills whatever process
// raises its step event, once the failover's process did: killed half-way
// through the failover, it left the workload's count one short and the run
// never stopped. The plan's kills now pass over it (PlanRunner.Spare).
//
// The WAL buffer ring (issue 22, engine/wal/wal_buffers.go) moved the
// seed's schedule: its failover no longer starts, so the kill this seed
// was pinned for is not reached now. Re-searched with Spare taken out of
// PlanRunner.act: no seed of 1-12000 of this config (half of them with a
// partition failover) fails, so none reaches the window today; the run
// must still pass, and a failover, when there is one, be prompt.
func TestFailoverRegressionPlanKill(t *testing.T) {
	r := Run(failoverConfig(2122))
	require.True(t, r.OK, "%v", r.Failures)
	if r.Failover != nil && r.Failover.PromotedAt != 0 {
		require.Less(t, r.Failover.PromotedAt, 200*time.Millisecond)
	}
}

// TestFailoverRegressionAckAtPowerOff: on seed 3049 a client's commit is
// acknowledged by the old primary at the very instant the failover powers
// it off, and the promoted standby lacks it: a loss at the end of the old
// primary's commit order, which the checker took for the new primary's
// (acknowledged at or after the power-off) and failed as lost.
//
// The WAL receiver's status update after each write (sync rep, issue 19)
// moved the seed's timing: it no longer acknowledges at that instant (no
// seed of 1-4000 does now), so the rule is also held by a unit test of
// failoverLoss below.
func TestFailoverRegressionAckAtPowerOff(t *testing.T) {
	r := Run(failoverConfig(3049))
	require.True(t, r.OK, "%v", r.Failures)
	require.NotNil(t, r.Failover)
	at := 100 * time.Millisecond
	w := &workload{hist: &History{Ops: []*Op{
		{Client: 0, Index: 0, Return: at - time.Millisecond, Keys: []uint64{1}, Outcome: OK},
		{Client: 0, Index: 1, Return: at, Keys: []uint64{2}, Outcome: OK}, // at the very instant
		{Client: 1, Index: 0, Return: at + time.Millisecond, Keys: []uint64{3}, Outcome: OK},
	}}, failoverAt: at}
	// Client 1 connected to the new primary (servedByNew: the node is
	// the connection's, not the time's).
	w.fo = &failover{standbys: &standbySet{}, dials: [][]dialRec{{{from: 0}}, {{from: 2, toNew: true}}}}
	res := &Result{OK: true, Failover: &FailoverResult{}}
	present := map[*Op]int{w.hist.Ops[0]: 1}
	w.failoverLoss(present, res)
	require.True(t, res.OK, "%v", res.Failures)
	require.Equal(t, 1, res.Failover.Lost, "the ack at the power-off's instant is the old primary's, lost as a suffix")
	require.Equal(t, 1, res.Failover.Kept)
	require.Equal(t, Unknown, w.hist.Ops[1].Outcome)
}

// TestFailoverRegressionKilledWaiterAndRestart: on seed 4627 a backend of
// the old primary was asleep on a lock when the failover's power-off
// killed it, which the lock-wait checker took for a waiter never woken
// (the power-off is a crash of its node now); on seed 4810 the plan's
// kill crash-restarted the new primary before the failover's process
// looked, and the checker read the switch point from that second
// recovery instead of the promotion's.
func TestFailoverRegressionKilledWaiterAndRestart(t *testing.T) {
	for _, seed := range []uint64{4627, 4810} {
		r := Run(failoverConfig(seed))
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		require.NotNil(t, r.Failover, "seed %d", seed)
	}
}

// TestFailoverRegressionPromoteAgainAfterRestart: on seed 1618 the plan
// kills the standby's background writer while the standby is promoted,
// before its startup process removed standby.signal; the standby comes
// back in standby mode with the request forgotten, as PostgreSQL's does.
// The failover asked only once and waited 5 s for nothing. It now asks
// again when the standby's shared memory is new, as a failover manager
// retries pg_promote.
func TestFailoverRegressionPromoteAgainAfterRestart(t *testing.T) {
	r := Run(failoverConfig(1618))
	require.True(t, r.OK, "%v", r.Failures)
	require.NotNil(t, r.Failover)
	require.NotZero(t, r.Failover.PromotedAt)
}
