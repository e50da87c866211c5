package simtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/pgerr"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
)

// goodRangeTxn is a range transaction as a correct engine answers it: a
// region holding keys 0 and 1 (block 0), copied into block 1, then
// interest of 5 on both blocks.
func goodRangeTxn() RangeTxn {
	w := uint64(rangeBlockKeys)
	return RangeTxn{
		Client: 0, Lo: 0, Hi: rangeBlocksMax*w - 1, Outcome: OK,
		Before: []RangeRow{{0, 10}, {1, 20}},
		Stmts: []RangeStmt{
			{Kind: RangeInsertSelect, Lo: 0, Hi: 2*w - 1, Delta: w, OK: true, Rows: []RangeRow{{w, 10}, {w + 1, 20}}},
			{Kind: RangeUpdate, Lo: 0, Hi: 2*w - 1, Delta: 5, OK: true, Rows: []RangeRow{{0, 15}, {1, 25}, {w, 15}, {w + 1, 25}}},
		},
		After:   []RangeRow{{0, 15}, {1, 25}, {w, 15}, {w + 1, 25}},
		AfterOK: true,
	}
}

// TestStatementEffectChecker: the checker stays quiet on a correct range
// transaction and names each planted wrong answer: an INSERT ... SELECT
// that copied its own copy (one row too many, as mutant 23 makes it), one
// that missed a row, a range UPDATE that changed a row twice or not at
// all or by the wrong amount, and a last read that disagrees.
func TestStatementEffectChecker(t *testing.T) {
	w := uint64(rangeBlockKeys)
	require.Empty(t, judgeRangeTxn(ptr(goodRangeTxn())))

	for _, tc := range []struct {
		name  string
		plant func(t *RangeTxn)
		want  string
	}{
		{"copy of its own copy", func(t *RangeTxn) {
			// The scan read the copy of key 0 (key w, in range) and
			// copied it again to 2w.
			t.Stmts[0].Rows = append(t.Stmts[0].Rows, RangeRow{2 * w, 10})
		}, "returned 3 rows where its snapshot held 2 in range: it copied key 256, a row it had inserted itself (the statement saw its own writes)"},
		{"row not copied", func(t *RangeTxn) { t.Stmts[0].Rows = t.Stmts[0].Rows[:1] }, "key 1 was not copied"},
		{"copy with the wrong value", func(t *RangeTxn) { t.Stmts[0].Rows[1].Val = 21 }, "copied key 1 as 21, the row holds 20"},
		{"row updated twice", func(t *RangeTxn) {
			t.Stmts[1].Rows = append(t.Stmts[1].Rows, RangeRow{w, 20})
		}, "it updated key 256 twice (the statement saw its own new version)"},
		{"row not updated", func(t *RangeTxn) { t.Stmts[1].Rows = t.Stmts[1].Rows[:3] }, "returned 3 rows where its snapshot held 4 in range: key 257 was not updated"},
		{"wrong interest", func(t *RangeTxn) { t.Stmts[1].Rows[0].Val = 16 }, "set key 0 to 16, from 10"},
		{"last read disagrees", func(t *RangeTxn) { t.After[2].Val = 10 }, "its last read shows key 256 = 10, its statements leave 15"},
		{"last read misses a row", func(t *RangeTxn) { t.After = t.After[:3] }, "its last read shows 3 rows, its statements leave 4"},
	} {
		txn := goodRangeTxn()
		tc.plant(&txn)
		require.Contains(t, judgeRangeTxn(&txn), tc.want, tc.name)
	}

	// What a failed statement did is not judged, nor anything after it.
	txn := goodRangeTxn()
	txn.Stmts[0].OK, txn.Stmts[0].Rows = false, nil
	txn.Stmts[1].Rows = nil
	require.Empty(t, judgeRangeTxn(&txn))

	// The run fails under the statement-effect checker.
	wl := &workload{hist: &History{Ranges: []RangeTxn{goodRangeTxn(), goodRangeTxn()}}}
	wl.hist.Ranges[1].Stmts[0].Rows = append(wl.hist.Ranges[1].Stmts[0].Rows, RangeRow{2 * w, 10})
	res := &Result{OK: true}
	wl.checkRangeStatements(res)
	require.False(t, res.OK)
	require.Equal(t, CheckStatementEffect, res.Checker)
	require.Len(t, res.Failures, 1)
}

func ptr[T any](v T) *T { return &v }

// TestEngineErrorChecker: a client that receives internal_error (XX000) or
// "attempted to update invisible tuple" (55000) fails the run; every
// error a healthy engine sends (an I/O error, a full disk, a page that
// fails verification, a unique violation, a serialization failure, a
// lost connection, a client timeout) leaves it passing.
func TestEngineErrorChecker(t *testing.T) {
	quiet := []error{
		pgerr.New(pgerr.IOError, "could not read block 1: input/output error"),
		pgerr.New(pgerr.DiskFull, "could not extend file: no space left on device"),
		pgerr.New(pgerr.DataCorrupted, "invalid page in block 3"),
		pgerr.New(pgerr.UniqueViolation, "duplicate key value"),
		pgerr.New(pgerr.SerializationFailure, "could not serialize access"),
		pgproc.ErrConnectionTerminated,
		pgproc.ErrClientTimeout,
		nil,
	}
	loud := []error{
		pgerr.New(pgerr.InternalError, "unexpected TM result 9"),
		pgerr.New(pgerr.ObjectNotInPrerequisiteState, "attempted to update invisible tuple"),
	}
	wl := &workload{node: newTestNode()}
	for _, err := range quiet {
		wl.noteEngineError(0, pgproc.Request{Op: pgproc.OpUpdateRange, Table: tableRanges}, err)
	}
	res := &Result{OK: true}
	wl.checkEngineErrors(res)
	require.True(t, res.OK, "%v", res.Failures)

	for i, err := range loud {
		wl.noteEngineError(i, pgproc.Request{Op: pgproc.OpUpdateRange, Table: tableRanges}, fmt.Errorf("statement: %w", err))
	}
	wl.checkEngineErrors(res)
	require.False(t, res.OK)
	require.Equal(t, CheckEngineError, res.Checker)
	require.Len(t, res.Failures, 2)
	require.Contains(t, res.Failures[1], "client 1's update range on hw")
	require.Contains(t, res.Failures[1], "attempted to update invisible tuple")
	require.False(t, isEngineError(errors.New("a client-side error without a SQLSTATE")))
}

func newTestNode() *world.Node {
	return world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
}
