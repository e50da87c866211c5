package simtest

import (
	"strings"
	"testing"
	"time"

	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/stretchr/testify/require"
)

// TestVarietyDimensionsPassAndHappen: each dimension of the workload's
// variety, pinned on by its flag's field, passes every seed and does what
// it is there for: deletes and inserts of registers that succeed and that
// fail with 23505; contended keys that some transactions insert and
// others fail on; reads of table t during bulk loads that split its
// index, finding rows acknowledged before them; wide registers whose
// updates move rows to other pages. (Each mutant these shapes were built
// for is killed by the plain campaign: docs/mutants.md.)
func TestVarietyDimensionsPassAndHappen(t *testing.T) {
	const seeds = 30
	t.Run("deletes", func(t *testing.T) {
		var deletes, inserted, dupRefused int
		for _, r := range runSeeds(seeds, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Workload, c.Deletes = WorkloadRegister, VarietyOn
			return c
		}) {
			require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
			require.Contains(t, r.Config, " deletes=true ")
			for _, op := range r.History.Registers {
				switch {
				case op.Outcome != OK:
				case op.Kind == lin.RegWrite && op.Value == regNone:
					deletes++
				case op.Kind == lin.RegCAS && op.Expect == regNone && op.Swapped:
					inserted++
				case op.Kind == lin.RegCAS && op.Expect == regNone:
					dupRefused++
				}
			}
		}
		t.Logf("%d deletes, %d inserts, %d inserts refused with 23505", deletes, inserted, dupRefused)
		require.Greater(t, deletes, seeds)
		require.Greater(t, inserted, seeds/2)
		require.Positive(t, dupRefused)
	})
	t.Run("contended-keys", func(t *testing.T) {
		var contended, acked, unique int
		for _, r := range runSeeds(seeds, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Workload, c.ContendedKeys = WorkloadInsert, VarietyOn
			return c
		}) {
			require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
			for _, op := range r.History.Ops {
				for _, k := range op.Keys {
					if !isContended(k) {
						continue
					}
					contended++
					if op.Outcome == OK {
						acked++
					}
					if strings.Contains(op.Err, "23505") {
						unique++
					}
				}
			}
		}
		t.Logf("%d transactions with a contended key, %d acknowledged, %d failed with 23505", contended, acked, unique)
		require.Greater(t, acked, seeds)
		require.Positive(t, unique)
	})
	t.Run("bulk-reads", func(t *testing.T) {
		var reads, rows, split int
		for _, r := range runSeeds(seeds, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.BulkReads = VarietyOn
			return c
		}) {
			require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
			require.Contains(t, r.Config, " bulk=true ")
			reads += len(r.History.KeyReads)
			for _, rd := range r.History.KeyReads {
				rows += len(rd.Rows)
			}
			if r.IndexBlocksMax > 2 {
				split++
			}
		}
		t.Logf("%d reads of table t returned %d rows; %d of %d seeds split a leaf", reads, rows, split, seeds)
		require.Greater(t, reads, seeds*10)
		require.Greater(t, rows, reads)
		require.Positive(t, split)
	})
	t.Run("register-bytes", func(t *testing.T) {
		moved, rechecked := 0, 0
		for _, r := range runSeeds(seeds, func(seed uint64) Config {
			c := DefaultConfig(seed)
			c.Workload, c.RegisterBytes = WorkloadRegister, RegWideBytes
			return c
		}) {
			require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
			if r.Sometimes.Has("heap-update-new-page") {
				moved++
			}
			if r.Sometimes.Has("heap-update-recheck-failed") {
				rechecked++
			}
		}
		t.Logf("of %d seeds, %d moved an updated row to another page, %d found it changed meanwhile", seeds, moved, rechecked)
		require.Greater(t, moved, seeds/2)
	})
}

// TestSwarmDrawsVariety: without flags every dimension is drawn on some
// seeds and not on others, and the result's configuration records it.
func TestSwarmDrawsVariety(t *testing.T) {
	var deletes, contended, bulkReads, wide int
	for seed := uint64(1); seed <= 400; seed++ {
		r := resolveFor(DefaultConfig(seed))
		v := r.vary
		require.Contains(t, r.String(), r.stringVariety())
		require.Equal(t, swarmVariety(seed).deletes, v.deletes)
		if v.bulkReads {
			require.True(t, r.bulk, "bulk reads without bulk loads")
			bulkReads++
		}
		if v.deletes {
			deletes++
		}
		if v.contended {
			contended++
		}
		if v.regBytes > 8 {
			wide++
		}
	}
	t.Logf("of 400 seeds: %d deletes, %d contended keys, %d bulk reads, %d wide registers", deletes, contended, bulkReads, wide)
	for _, n := range []int{deletes, contended, bulkReads, wide} {
		require.Positive(t, n)
		require.Less(t, n, 400)
	}
	// Flags win over the draw, both ways; --no-swarm draws nothing.
	for seed := uint64(1); seed <= 32; seed++ {
		c := DefaultConfig(seed)
		c.Deletes, c.ContendedKeys, c.BulkReads, c.RegisterBytes = VarietyOff, VarietyOff, VarietyOff, 8
		require.Equal(t, variety{regBytes: 8}, resolveFor(c).vary)
		c.Deletes, c.ContendedKeys, c.BulkReads, c.RegisterBytes = VarietyOn, VarietyOn, VarietyOn, 100
		v := resolveFor(c)
		require.Equal(t, variety{deletes: true, contended: true, bulkReads: true, regBytes: 100}, v.vary)
		require.True(t, v.bulk)
		c = DefaultConfig(seed)
		c.Swarm = false
		require.Equal(t, variety{regBytes: 8}, resolveFor(c).vary)
	}
}

// TestVarietyFlagsValidate: a pinned dimension the workload cannot run is
// a one-line error.
func TestVarietyFlagsValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Workload, c.Deletes = WorkloadBank, VarietyOn }, "no registers"},
		{func(c *Config) { c.Workload, c.RegisterBytes = WorkloadInsert, 100 }, "no registers"},
		{func(c *Config) { c.RegisterBytes = 7 }, "register bytes must be in"},
		{func(c *Config) { c.Workload, c.ContendedKeys = WorkloadAppend, VarietyOn }, "has none"},
		{func(c *Config) { c.Autocommit, c.BulkReads = true, VarietyOn }, "bulk reads race"},
		{func(c *Config) { c.Clients, c.BulkReads = 1, VarietyOn }, "bulk reads race"},
		{func(c *Config) { c.Deletes = "yes" }, "must be on or off"},
	} {
		c := DefaultConfig(1)
		tc.mod(&c)
		err := c.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), tc.want)
		require.NotContains(t, err.Error(), "\n")
	}
}

// The checker rules, on histories made by hand: each fails the history a
// bug would leave and passes the one the engine must leave.

func varietyWorkload(async bool, crashes ...time.Duration) *workload {
	w := &workload{hist: &History{}, crashTimes: crashes}
	w.rc.AsyncCommit = async
	w.rc.vary.regBytes = 8
	return w
}

func insertOp(client int, keys, vals []uint64, call, ret time.Duration, o Outcome) *Op {
	return &Op{Client: client, Keys: keys, Values: vals, Call: call, Return: ret, Outcome: o}
}

// TestJudgeContended: two acknowledged inserts of one contended key is
// what _bt_check_unique without its wait (mutant 35) lets through; one
// acknowledged and one failed is the engine waiting and raising 23505;
// under synchronous_commit = off a crash-restart between them may have
// lost the first.
func TestJudgeContended(t *testing.T) {
	k := uint64(contendedKeyBase + 2)
	a := insertOp(0, []uint64{1, k}, []uint64{11, 12}, 10, 20, OK)
	b := insertOp(1, []uint64{k}, []uint64{21}, 15, 30, OK)
	res := &Result{OK: true}
	w := varietyWorkload(false)
	w.judgeContended(indexWriters([]*Op{a, b}), res)
	require.False(t, res.OK)
	require.Equal(t, CheckUnique, res.Checker)
	require.Contains(t, res.Failures[0], "inserted by two acknowledged transactions")

	b.Outcome, b.Err = Failed, "ERROR: duplicate key value violates unique constraint (SQLSTATE 23505)"
	res = &Result{OK: true}
	w.judgeContended(indexWriters([]*Op{a, b}), res)
	require.True(t, res.OK, "%v", res.Failures)

	b.Outcome, b.Call = OK, 25
	res = &Result{OK: true}
	varietyWorkload(true, 22).judgeContended(indexWriters([]*Op{a, b}), res)
	require.True(t, res.OK, "%v", res.Failures)
	res = &Result{OK: true}
	varietyWorkload(false, 22).judgeContended(indexWriters([]*Op{a, b}), res)
	require.False(t, res.OK, "a crash-restart loses no synchronous commit")
}

// TestJudgeKeyReads: a read that misses a key acknowledged before it began
// is what a search stopping short of a split (mutant 37) gives; a read
// that sees a row of a failed transaction is a dirty or aborted read; a
// key whose transaction was still running may be found or not.
func TestJudgeKeyReads(t *testing.T) {
	done := insertOp(0, []uint64{100, 101}, []uint64{1, 2}, 10, 20, OK)
	running := insertOp(1, []uint64{102}, []uint64{3}, 25, 60, OK)
	failed := insertOp(2, []uint64{103}, []uint64{4}, 5, 15, Failed)
	ops := []*Op{done, running, failed}
	judge := func(rows ...[2]uint64) *Result {
		w := varietyWorkload(false)
		w.hist.KeyReads = []KeyRead{{Client: 3, Call: 30, Return: 40, Lo: 100, Hi: 103, Rows: rows}}
		res := &Result{OK: true}
		w.judgeKeyReads(indexWriters(ops), res)
		return res
	}
	res := judge([2]uint64{100, 1}, [2]uint64{101, 2})
	require.True(t, res.OK, "%v", res.Failures)
	res = judge([2]uint64{100, 1}, [2]uint64{101, 2}, [2]uint64{102, 3})
	require.True(t, res.OK, "a running transaction's row may be seen once it commits: %v", res.Failures)

	res = judge([2]uint64{100, 1})
	require.False(t, res.OK)
	require.Equal(t, CheckDurability, res.Checker)
	require.Contains(t, res.Failures[0], "did not find key 101")

	res = judge([2]uint64{100, 1}, [2]uint64{101, 2}, [2]uint64{103, 4})
	require.Equal(t, CheckAtomicity, res.Checker)
	require.Contains(t, res.Failures[0], "never committed")

	res = judge([2]uint64{100, 1}, [2]uint64{101, 9})
	require.Equal(t, CheckAtomicity, res.Checker)
	require.Contains(t, res.Failures[0], "which no transaction wrote")
}

// TestRegisterDeleteIsJudged: DELETE is a write of "no row" and INSERT a
// compare-and-set from it, so a delete that recovery lost (a redo that
// skips XLOG_HEAP_DELETE, mutant 30) fails the final read, and a second
// INSERT that succeeded while the row was there (mutant 35) fails too;
// the engine's own answers pass.
func TestRegisterDeleteIsJudged(t *testing.T) {
	v := uint64(1)<<32 | 7
	run := func(finalRow []byte, ops ...lin.RegOp) *Result {
		w := varietyWorkload(false)
		w.hist.Registers = ops
		res := &Result{OK: true}
		rows := map[uint64][]byte{1: u64(0), 2: u64(0), 3: u64(0)}
		if finalRow != nil {
			rows[0] = finalRow
		}
		w.checkRegisters(rows, 1000, res)
		return res
	}
	del := lin.RegOp{Client: 0, Key: 0, Kind: lin.RegWrite, Value: regNone, Call: 10, Return: 20, Outcome: OK}
	ins := lin.RegOp{Client: 1, Key: 0, Kind: lin.RegCAS, Expect: regNone, Value: v, Swapped: true, Call: 30, Return: 40, Outcome: OK}
	require.True(t, run(nil, del).OK, "deleted and gone")
	res := run(u64(0), del)
	require.False(t, res.OK, "a lost delete")
	require.Equal(t, CheckLinearizability, res.Checker)
	require.Contains(t, res.Failures[0], "no row")
	require.True(t, run(u64(v), del, ins).OK, "deleted, then inserted again")
	dup := ins
	dup.Client, dup.Value, dup.Call, dup.Return = 2, uint64(3)<<32|9, 50, 60
	require.False(t, run(u64(v), del, ins, dup).OK, "an INSERT over a row that is there")
	dup.Swapped = false
	require.True(t, run(u64(v), del, ins, dup).OK, "an INSERT refused with 23505")
	require.False(t, run([]byte{1, 2, 3}, del).OK, "garbage is not \"no row\"")
}

// pinVarietyOff pins every dimension of the workload's variety off: a
// regression test of a seed found before the variety existed keeps that
// seed's shape.
func pinVarietyOff(c *Config) {
	c.Deletes, c.ContendedKeys, c.BulkReads, c.RegisterBytes = VarietyOff, VarietyOff, VarietyOff, 8
	c.FollowReads = VarietyOff // follow_reads.go came later
}
