package simtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	lin "github.com/pgdst/pgdst/linearizability"
)

// TestFollowReadsDraw: the swarm draws follow reads on about one seed in
// followSeedsPer, from a stream of its own; the flag pins them either way,
// --no-swarm has none, one client has nobody to follow, and the pin is
// recorded in the Config's JSON and the resolved configuration.
func TestFollowReadsDraw(t *testing.T) {
	const seeds = 4000
	on := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		c := DefaultConfig(seed)
		if FollowReadsOf(c) {
			on++
		}
		require.Equal(t, swarmFollowReads(seed), FollowReadsOf(c))
		c.FollowReads = VarietyOn
		require.True(t, FollowReadsOf(c))
		c.FollowReads = VarietyOff
		require.False(t, FollowReadsOf(c))
	}
	t.Logf("follow reads on %d of %d seeds", on, seeds)
	require.InDelta(t, 1.0/followSeedsPer, float64(on)/seeds, 0.03)

	c := DefaultConfig(1)
	c.Swarm = false
	require.False(t, FollowReadsOf(c), "no follow reads without the swarm")
	c.FollowReads = VarietyOn
	require.True(t, FollowReadsOf(c))
	c.Clients = 1
	require.False(t, FollowReadsOf(c), "one client has no other client to follow")

	c = DefaultConfig(1)
	c.FollowReads = "sometimes"
	require.ErrorContains(t, c.Validate(), "follow reads must be on or off")

	c = DefaultConfig(1)
	c.FollowReads = VarietyOn
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(b), `"follow_reads":"on"`)
	var back Config
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, VarietyOn, back.FollowReads)
	var r resolved
	resolveFollowReads(c, &r)
	require.Equal(t, " follow_reads=on", r.stringFollow())
	c.FollowReads = VarietyOff
	resolveFollowReads(c, &r)
	require.Empty(t, r.stringFollow(), "a seed without follow reads prints as before")
}

// TestFollowRing: the newest commit of another client of the right kind is
// the one followed, the ring keeps followRingLen commits, and nothing is
// noted off follow seeds.
func TestFollowRing(t *testing.T) {
	w := &workload{}
	w.noteCommit(0, WorkloadInsert, 1)
	require.Zero(t, w.follow.n, "nothing noted off follow seeds")

	w.rc.follow = true
	_, ok := w.lastCommitOfOther(0, WorkloadInsert)
	require.False(t, ok)
	w.noteCommit(1, WorkloadInsert, 10, 11)
	w.noteCommit(2, WorkloadRegister, 3)
	w.noteCommit(0, WorkloadInsert, 20)
	fc, ok := w.lastCommitOfOther(0, WorkloadInsert)
	require.True(t, ok)
	require.Equal(t, followCommit{client: 1, kind: WorkloadInsert, keys: []uint64{10, 11}}, fc)
	fc, ok = w.lastCommitOfOther(1, WorkloadInsert)
	require.True(t, ok)
	require.Equal(t, []uint64{20}, fc.keys)
	fc, ok = w.lastCommitOfOther(1, WorkloadRegister)
	require.True(t, ok)
	require.Equal(t, 2, fc.client)
	_, ok = w.lastCommitOfOther(2, WorkloadRegister)
	require.False(t, ok, "a client does not follow itself")

	// Client 3 fills the ring: every other client's commit is pushed out.
	for i := 0; i < followRingLen; i++ {
		w.noteCommit(3, WorkloadInsert, uint64(100+i))
	}
	_, ok = w.lastCommitOfOther(3, WorkloadInsert)
	require.False(t, ok)
	fc, ok = w.lastCommitOfOther(0, WorkloadInsert)
	require.True(t, ok)
	require.Equal(t, []uint64{100 + followRingLen - 1}, fc.keys)

	require.Equal(t, []uint64{2, 5}, appendedKeys(&lin.Txn{Mops: []lin.Mop{
		{Kind: lin.MopRead, Key: 1}, {Kind: lin.MopAppend, Key: 2}, {Kind: lin.MopAppend, Key: 5},
	}}))
}

// followSeeds runs seeds of the insert workload (its follow reads are the
// KeyReads, bulk reads pinned off) with follow reads pinned on.
func followSeeds(t *testing.T, n int) []*Result {
	rs := runSeeds(n, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload, c.FollowReads, c.BulkReads = WorkloadInsert, VarietyOn, VarietyOff
		return c
	})
	for _, r := range rs {
		require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
		require.Contains(t, r.Config, "follow_reads=on")
	}
	return rs
}

// TestFollowReadReadsAnotherClientsLastCommit: every follow read of the
// insert workload reads keys of a transaction another client committed,
// acknowledged before the read began, and the newest such one at the
// time (no other client's commit was acknowledged in between); most find
// every key they asked for.
func TestFollowReadReadsAnotherClientsLastCommit(t *testing.T) {
	reads, rows := 0, 0
	for _, r := range followSeeds(t, 24) {
		kw := indexWriters(r.History.Ops)
		for _, rd := range r.History.KeyReads {
			reads++
			rows += len(rd.Rows)
			var src *Op
			for _, x := range kw[rd.Lo] {
				if x.op.Outcome == OK && x.op.Return <= rd.Call {
					src = x.op
				}
			}
			require.NotNil(t, src, "seed %d: %s reads no acknowledged transaction's key", r.Seed, &rd)
			require.NotEqual(t, rd.Client, src.Client, "seed %d: %s follows its own client", r.Seed, &rd)
			for _, op := range r.History.Ops {
				if op.Client != rd.Client && op.Outcome == OK && op.Return > src.Return && op.Return < rd.Call {
					require.Fail(t, "not the newest commit", "seed %d: %s follows %s, but %s of another client was acknowledged after it", r.Seed, &rd, src, op)
				}
			}
		}
	}
	t.Logf("%d follow reads returned %d rows", reads, rows)
	require.Greater(t, reads, 24*4)
	require.Greater(t, rows, reads*3/4)
}

// TestFollowReadsAreJudged: the follow reads of real runs go through the
// insert history's checker, which stays quiet on them as recorded and
// fails durability when one of them misses a key its transaction had
// acknowledged before the read began (as a visibility bug would).
func TestFollowReadsAreJudged(t *testing.T) {
	judged := 0
	for _, r := range followSeeds(t, 8) {
		kw := indexWriters(r.History.Ops)
		for i, rd := range r.History.KeyReads {
			if len(rd.Rows) == 0 {
				continue
			}
			w := &workload{hist: &History{KeyReads: []KeyRead{rd}}}
			res := &Result{OK: true}
			w.judgeKeyReads(kw, res)
			require.True(t, res.OK, "seed %d read %d: %v", r.Seed, i, res.Failures)

			lost := rd
			lost.Rows = rd.Rows[1:]
			w.hist.KeyReads[0] = lost
			res = &Result{OK: true}
			w.judgeKeyReads(kw, res)
			require.False(t, res.OK, "seed %d read %d: a missing acknowledged key went unnoticed", r.Seed, i)
			require.Equal(t, CheckDurability, res.Checker)
			require.True(t, strings.Contains(res.Failures[0], "did not find key"), res.Failures[0])
			judged++
		}
	}
	require.Greater(t, judged, 8)
}

// TestFollowReadsOfRegisters: on follow seeds a register read reads the
// key another client last wrote far more often than the hot keys' odds
// give it without them.
func TestFollowReadsOfRegisters(t *testing.T) {
	share := func(follow string) float64 {
		reads, follows := 0, 0
		for _, r := range runSeeds(16, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Workload, c.FollowReads, c.Deletes = WorkloadRegister, follow, VarietyOff
			return c
		}) {
			require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
			ops := r.History.Registers
			for i, rd := range ops {
				if rd.Kind != lin.RegRead || rd.Outcome != lin.OK {
					continue
				}
				// The newest acknowledged write of another client
				// before the read was called.
				var last *lin.RegOp
				for j := range ops[:i] {
					op := &ops[j]
					wrote := op.Kind == lin.RegWrite || op.Swapped
					if op.Client != rd.Client && op.Outcome == lin.OK && wrote && op.Return <= rd.Call && (last == nil || op.Return >= last.Return) {
						last = op
					}
				}
				if last == nil {
					continue
				}
				reads++
				if last.Key == rd.Key {
					follows++
				}
			}
		}
		t.Logf("follow reads %s: %d of %d register reads read the key another client wrote last", follow, follows, reads)
		require.Greater(t, reads, 100)
		return float64(follows) / float64(reads)
	}
	off, on := share(VarietyOff), share(VarietyOn)
	require.Greater(t, on, off+0.2)
}
