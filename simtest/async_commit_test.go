package simtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAsyncLossRules: the synchronous_commit=off judge on hand-made
// histories. A lost suffix acknowledged just before the crash is allowed;
// a lost transaction that a later survivor followed, or one acknowledged
// longer than 3 x wal_writer_delay before the crash, is not.
func TestAsyncLossRules(t *testing.T) {
	rc := resolved{Config: Config{AsyncCommit: true, Workload: WorkloadInsert}}
	rc.engine.WalWriterDelay = 2 * time.Millisecond
	rc.lat.Sync = time.Millisecond // bound: 6ms + 4ms
	op := func(call, ret time.Duration) *Op {
		return &Op{Call: call, Return: ret, Keys: []uint64{uint64(call)}, Outcome: OK}
	}
	judge := func(crashAt time.Duration, ops []*Op, present map[*Op]int) *Result {
		w := &workload{rc: rc, hist: &History{Ops: ops}, crashAt: crashAt}
		res := &Result{OK: true, History: w.hist}
		w.judge(present, res)
		return res
	}
	a, b := op(10*time.Millisecond, 11*time.Millisecond), op(12*time.Millisecond, 13*time.Millisecond)

	res := judge(14*time.Millisecond, []*Op{a, b}, map[*Op]int{a: 1})
	require.True(t, res.OK, "%v", res.Failures)
	require.Equal(t, 1, res.AsyncLost, "b is a lost suffix 1ms before the crash")

	res = judge(14*time.Millisecond, []*Op{a, b}, map[*Op]int{b: 1})
	require.False(t, res.OK)
	require.Contains(t, res.Failures[0], "suffix")

	res = judge(23*time.Millisecond, []*Op{a, b}, map[*Op]int{a: 1})
	require.True(t, res.OK, "b acknowledged 10ms before the crash: %v", res.Failures)
	res = judge(23*time.Millisecond+1, []*Op{a, b}, map[*Op]int{a: 1})
	require.False(t, res.OK)
	require.Contains(t, res.Failures[0], "3 x wal_writer_delay")

	// A crash-restart between them starts a new epoch: a's loss at the
	// first crash does not contradict b surviving the second.
	w := &workload{rc: rc, hist: &History{Ops: []*Op{a, b}}, crashAt: 14 * time.Millisecond, crashTimes: []time.Duration{11500 * time.Microsecond}}
	res = &Result{OK: true, History: w.hist}
	w.judge(map[*Op]int{b: 1}, res)
	require.True(t, res.OK, "%v", res.Failures)

	// The plan's stalls: one still holding a process up when b was
	// acknowledged excuses b's late loss (the WAL writer may have been
	// the one held up); one over before b's acknowledgment does not,
	// for nothing held the WAL writer up after it.
	stalled := func(until time.Duration) *Result {
		w := &workload{rc: rc, hist: &History{Ops: []*Op{a, b}}, crashAt: 30 * time.Millisecond, stallsTo: until}
		res := &Result{OK: true, History: w.hist}
		w.judge(map[*Op]int{a: 1}, res)
		return res
	}
	res = stalled(14 * time.Millisecond)
	require.True(t, res.OK, "a pause until 14ms, after b's ack at 13ms: %v", res.Failures)
	res = stalled(time.Duration(math.MaxInt64))
	require.True(t, res.OK, "a clock skew: %v", res.Failures)
	res = stalled(12 * time.Millisecond)
	require.False(t, res.OK, "a pause over at 12ms, before b's ack at 13ms, excuses nothing")
	require.Contains(t, res.Failures[0], "3 x wal_writer_delay")
}

// TestAsyncCommitCampaign: synchronous_commit=off runs pass the judge and
// really lose acknowledged transactions now and then (else the judge
// would be untested against the engine).
func TestAsyncCommitCampaign(t *testing.T) {
	lost := 0
	for seed := uint64(1); seed <= 60; seed++ {
		c := DefaultConfig(seed)
		c.Workload, c.AsyncCommit = WorkloadInsert, true
		res := Run(c)
		require.True(t, res.OK, "seed %d:\n%s", seed, res.Summary())
		lost += res.AsyncLost
	}
	t.Logf("acknowledged transactions lost within the bound over 60 seeds: %d", lost)
	require.Positive(t, lost, "no seed lost an asynchronous commit: the judge was never exercised")
}

// TestAsyncCommitNeedsInsert: the history checkers assume durable
// acknowledgements, so other workloads refuse synchronous_commit=off.
func TestAsyncCommitNeedsInsert(t *testing.T) {
	c := DefaultConfig(1)
	c.AsyncCommit = true
	err := c.Validate()
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "insert"), err.Error())
}
