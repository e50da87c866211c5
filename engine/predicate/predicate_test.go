package predicate

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/xact"
)

// harness is a manager and a counter of xids, standing in for the proc
// array: snapshots are made by hand.
type harness struct {
	m       *Manager
	nextXid xact.XID
	running []xact.XID
}

func newHarness(cfg func(*Config)) *harness {
	h := &harness{nextXid: 100}
	c := DefaultConfig(4, func() xact.XID { return h.nextXid })
	if cfg != nil {
		cfg(&c)
	}
	h.m = New(nil, c)
	return h
}

func (h *harness) snapshot() *xact.Snapshot {
	xmin := h.nextXid
	for _, x := range h.running {
		xmin = min(xmin, x)
	}
	return &xact.Snapshot{Xmin: xmin, Xmax: h.nextXid, Xip: append([]xact.XID(nil), h.running...)}
}

func (h *harness) begin() *Sxact { return h.m.Register(h.snapshot(), false) }

func (h *harness) write(s *Sxact) xact.XID {
	if s.xid == 0 {
		x := h.nextXid
		h.nextXid++
		h.running = append(h.running, x)
		h.m.RegisterXid(s, x)
	}
	return s.xid
}

func (h *harness) end(s *Sxact, commit bool) error {
	if commit {
		if err := h.m.PreCommit(s); err != nil {
			commit = false
			defer h.m.Release(s, false)
			h.stop(s)
			return err
		}
	}
	h.stop(s)
	h.m.Release(s, commit)
	return nil
}

func (h *harness) stop(s *Sxact) {
	for i, x := range h.running {
		if x == s.xid {
			h.running = append(h.running[:i], h.running[i+1:]...)
			break
		}
	}
}

const heap = 16385

// TestWriteSkewDoomsPivotAtCommit: two transactions read both rows and
// write one each; the first to commit dooms the other
// (PreCommit_CheckForSerializationFailure), whose commit fails with
// PostgreSQL's reason code.
func TestWriteSkewDoomsPivotAtCommit(t *testing.T) {
	h := newHarness(nil)
	a, b := h.begin(), h.begin()
	for _, s := range []*Sxact{a, b} {
		h.m.LockTID(s, heap, 0, 1, 0)
		h.m.LockTID(s, heap, 0, 2, 0)
	}
	h.write(a)
	require.NoError(t, h.m.ConflictIn(a, heap, 0, 1))
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 0, 2))
	require.NoError(t, h.end(a, true))
	err := h.end(b, true)
	require.True(t, pgerr.Is(err, pgerr.SerializationFailure), "%v", err)
	var pe *pgerr.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "Reason code: Canceled on identification as a pivot, during commit attempt.", pe.Detail)
	require.Equal(t, "The transaction might succeed if retried.", pe.Hint)
}

// TestNoConflictWithoutOverlap: a write after the reader committed and
// every overlapping transaction ended meets no lock, and the finished
// list is cleared when the last overlapping transaction ends.
func TestNoConflictWithoutOverlap(t *testing.T) {
	h := newHarness(nil)
	a := h.begin()
	h.m.LockTID(a, heap, 0, 1, 0)
	require.NoError(t, h.end(a, true))
	require.Equal(t, 0, h.m.Stats().Sxacts, "no running transaction overlaps a: it is cleared")
	b := h.begin()
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 0, 1))
	require.Empty(t, b.in)
	require.NoError(t, h.end(b, true))
}

// TestPromotion: a third tuple of one page promotes to the page
// (max_pred_locks_per_page 2), and the tuple locks go; past the
// relation's limit, the relation.
func TestPromotion(t *testing.T) {
	h := newHarness(nil) // page: 2; relation: 64/2-1 = 31
	a := h.begin()
	h.m.LockTID(a, heap, 0, 1, 0)
	h.m.LockTID(a, heap, 0, 2, 0)
	require.Equal(t, []Target{TupleTarget(heap, 0, 1), TupleTarget(heap, 0, 2)}, h.m.Locks(a))
	h.m.LockTID(a, heap, 0, 3, 0)
	require.Equal(t, []Target{PageTarget(heap, 0)}, h.m.Locks(a))
	for blk := uint32(1); blk <= 30; blk++ {
		h.m.LockPage(a, heap, blk)
	}
	require.Len(t, h.m.Locks(a), 31, "31 locks on the relation: at the limit")
	h.m.LockPage(a, heap, 31)
	require.Equal(t, []Target{RelationTarget(heap)}, h.m.Locks(a))
	// The relation lock covers every tuple: a write anywhere conflicts.
	b := h.begin()
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 9, 9))
	require.Equal(t, []*Sxact{a}, b.in)
}

// TestPageSplitCopiesLocks: after PredicateLockPageSplit an insert into
// the new right page conflicts with a reader of the old page.
func TestPageSplitCopiesLocks(t *testing.T) {
	const idx = 16386
	h := newHarness(nil)
	a := h.begin()
	h.m.LockPage(a, idx, 1)
	h.m.PageSplit(idx, 1, 7)
	b := h.begin()
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, idx, 7, 0))
	require.Equal(t, []*Sxact{a}, b.in)
}

// TestSummarization: with room for few transaction records, a new
// transaction summarizes the oldest committed one: its locks move to the
// dummy, its conflict-out record to pg_serial. As in PostgreSQL, the
// dummy's finishedBefore is InvalidTransactionId, so
// CheckTargetForConflictsIn never flags a conflict against its locks; a
// summarized writer still conflicts through pg_serial.
func TestSummarization(t *testing.T) {
	h := newHarness(func(c *Config) { c.MaxSxacts = 3 })
	old := h.begin() // keeps the committed ones interesting
	a := h.begin()
	h.m.LockTID(a, heap, 0, 1, 0)
	h.write(a)
	require.NoError(t, h.m.ConflictIn(a, heap, 0, 5))
	require.NoError(t, h.end(a, true))
	c := h.begin() // three records: old, a (committed), c
	require.Equal(t, 0, h.m.Summarized)
	d := h.begin() // a is summarized to make room
	require.Equal(t, 1, h.m.Summarized)
	require.Equal(t, 1, h.m.Stats().OldLocks)
	h.write(d)
	require.NoError(t, h.m.ConflictIn(d, heap, 0, 1))
	require.False(t, d.has(flagSummaryConflictIn))
	require.Empty(t, d.in)
	_, summarized := h.m.serial[a.xid]
	require.True(t, summarized, "a's xid is in pg_serial")
	require.NoError(t, h.m.ConflictOut(c, a.xid), "a had no conflict out: reading its write is harmless")
	require.False(t, c.has(flagSummaryConflictOut), "pg_serial records no conflict out for a")
	for _, s := range []*Sxact{old, c, d} {
		_ = h.end(s, false)
	}
}

// TestRollbackReleasesAtOnce: a rolled-back transaction's locks and
// conflicts go at once.
func TestRollbackReleasesAtOnce(t *testing.T) {
	h := newHarness(nil)
	keep := h.begin()
	a := h.begin()
	h.m.LockTID(a, heap, 0, 1, 0)
	require.NoError(t, h.end(a, false))
	require.Equal(t, 1, h.m.Stats().Sxacts)
	require.Equal(t, 0, h.m.Stats().Targets)
	require.NoError(t, h.end(keep, true))
}
