package predicate

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/pgerr"
)

func (h *harness) beginReadOnly() *Sxact { return h.m.Register(h.snapshot(), true) }

// readOnlyAnomaly sets up the read-only anomaly up to the reader's
// snapshot: b reads rows 1 and 2, a writes row 2 and commits (b -rw->
// a), then c, READ ONLY, registers while b runs and has not written.
func readOnlyAnomaly(t *testing.T, cfg func(*Config)) (h *harness, b, c *Sxact) {
	h = newHarness(cfg)
	b = h.begin()
	h.m.LockTID(b, heap, 0, 1, 0)
	h.m.LockTID(b, heap, 0, 2, 0)
	a := h.begin()
	h.write(a)
	require.NoError(t, h.m.ConflictIn(a, heap, 0, 2))
	require.Equal(t, []*Sxact{a}, b.out)
	require.NoError(t, h.end(a, true))
	c = h.beginReadOnly()
	return h, b, c
}

// TestReadOnlyOptsOutWithoutWriters: with no read-write serializable
// transaction running, a READ ONLY one takes no locks at all
// (GetSerializableTransactionSnapshotInt's WritableSxactCount == 0).
func TestReadOnlyOptsOutWithoutWriters(t *testing.T) {
	h := newHarness(nil)
	c := h.beginReadOnly()
	require.True(t, c.ReadOnlySafe())
	h.m.LockTID(c, heap, 0, 1, 0)
	require.Empty(t, h.m.Locks(c))
	require.Equal(t, 0, h.m.Stats().Sxacts)
	decided, safe := h.m.SafeSnapshotVerdict(c)
	require.True(t, decided && safe)
}

// TestReadOnlyUnsafeFails: the pivot b commits with a conflict out to a,
// which committed before c's snapshot: c is unsafe (FlagSxactUnsafe),
// keeps SSI, and its read of b's row fails it.
func TestReadOnlyUnsafeFails(t *testing.T) {
	h, b, c := readOnlyAnomaly(t, nil)
	require.Equal(t, []*Sxact{b}, c.possibleUnsafe)
	h.m.LockTID(c, heap, 0, 2, 0)
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 0, 1))
	require.NoError(t, h.end(b, true))
	require.True(t, c.has(flagROUnsafe))
	require.Empty(t, c.possibleUnsafe)
	err := h.m.ConflictOut(c, b.xid)
	require.True(t, pgerr.Is(err, pgerr.SerializationFailure), "%v", err)
}

// TestReadOnlySafeReleases: the only concurrent writer commits with no
// conflict out: c is safe and drops its locks at its next read.
func TestReadOnlySafeReleases(t *testing.T) {
	h := newHarness(nil)
	w := h.begin()
	h.write(w)
	require.NoError(t, h.m.ConflictIn(w, heap, 0, 9))
	c := h.beginReadOnly()
	h.m.LockTID(c, heap, 0, 1, 0)
	require.Len(t, h.m.Locks(c), 1)
	require.NoError(t, h.end(w, true))
	require.True(t, c.has(flagROSafe))
	h.m.LockTID(c, heap, 0, 2, 0) // SerializationNeededForRead releases
	require.True(t, c.ReadOnlySafe())
	require.Empty(t, h.m.Locks(c))
	require.NoError(t, h.end(c, true))
}

// TestDeferrableVerdicts: a DEFERRABLE reader's verdict waits for the
// writers; an unsafe verdict releases the record for a new snapshot and
// wakes the waiter.
func TestDeferrableVerdicts(t *testing.T) {
	h, b, c := readOnlyAnomaly(t, nil)
	decided, _ := h.m.SafeSnapshotVerdict(c)
	require.False(t, decided)
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 0, 1))
	require.NoError(t, h.end(b, true))
	require.True(t, h.m.TakeWakeup())
	require.False(t, h.m.TakeWakeup(), "a wakeup is taken once")
	decided, safe := h.m.SafeSnapshotVerdict(c)
	require.True(t, decided)
	require.False(t, safe)
	require.False(t, h.m.EndSafeSnapshotWait(c))
	c2 := h.beginReadOnly()
	require.True(t, c2.ReadOnlySafe(), "no writer left: the new snapshot is safe at once")
}

// TestOptOutNotReadOnlyBug: with ssi-opt-out-not-read-only, a
// read-write transaction that starts alone opts out: it takes no SIREAD
// lock, so the write skew of TestWriteSkewDoomsPivotAtCommit commits.
func TestOptOutNotReadOnlyBug(t *testing.T) {
	h := newHarness(func(c *Config) { c.Bugs = c.Bugs.With(bugs.SSIOptOutNotReadOnly) })
	a := h.begin()
	require.True(t, a.ReadOnlySafe(), "the bug lets a read-write transaction opt out")
	b := h.begin()
	for _, s := range []*Sxact{a, b} {
		h.m.LockTID(s, heap, 0, 1, 0)
		h.m.LockTID(s, heap, 0, 2, 0)
	}
	h.write(a)
	require.NoError(t, h.m.ConflictIn(a, heap, 0, 1))
	h.write(b)
	require.NoError(t, h.m.ConflictIn(b, heap, 0, 2))
	require.NoError(t, h.end(a, true))
	require.NoError(t, h.end(b, true), "write skew commits")
}
