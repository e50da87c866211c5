package heapam_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
)

// TestBugAbortedRead: with the planted bug, a plain MVCC read (Fetch,
// Scan) returns a version whose inserter aborted; without it, the version
// is invisible and gets its HEAP_XMIN_INVALID hint. The bug sets no hint
// bit (nothing wrong persists), the uniqueness check (SatisfiesDirty) is
// not fooled, and pruning still removes the version, after which the
// reader no longer sees it.
func TestBugAbortedRead(t *testing.T) {
	for _, on := range []bool{false, true} {
		var fetched, scanned, dirty, afterPrune bool
		var mask uint16
		sim(t, 1, func(e *env.Env) {
			n := newNode(e, 8)
			w := newWorld()
			a := w.begin()
			tid, err := n.rel.Insert(a.cmd(), []byte("aborted"))
			ok(err)
			w.abort(a)
			r := w.begin()
			if on {
				r.snap.Bugs = r.snap.Bugs.With(bugs.AbortedRead)
			}
			var v string
			v, fetched = fetch(n, r, tid)
			check(!fetched || v == "aborted", "fetched %q", v)
			_, scanned = scanAll(n, r)[tid]
			mask = infomask(n, tid)
			dirty, _, err = n.rel.FetchDirty(&r.tx, tid)
			ok(err)
			_, err = n.rel.Prune(smgr.BlockNumber(tid.Block), w.next, view{w: w})
			ok(err)
			_, afterPrune = fetch(n, r, tid)
		})
		hints := mask & (page.HeapXminCommitted | page.HeapXminInvalid)
		if on {
			require.True(t, fetched, "the bug: Fetch returns an aborted insert")
			require.True(t, scanned, "the bug: Scan returns an aborted insert")
			require.Zero(t, hints, "no hint bit from the bug")
		} else {
			require.False(t, fetched)
			require.False(t, scanned)
			require.Equal(t, page.HeapXminInvalid, hints)
		}
		require.False(t, dirty, "the unique check sees the abort either way")
		require.False(t, afterPrune, "pruning removes the aborted version either way")
	}
}

// TestBugSnapshotNoInProgress: a reader's snapshot is taken while a
// writer, below its xmax, has inserted one version and deleted another;
// then the writer commits. The correct snapshot (xip lists the writer)
// sees the old state before and after. The snapshot the planted bug makes
// (no xip, the bug in Bugs) sees the old state before the commit and the
// new one after it — and sets no abort hint while the writer runs, so the
// tuples are intact: a later snapshot sees the writer's changes. The same
// empty xip without the bug's mark shows why that matters: visibility
// would hint the running writer's changes aborted and lose them.
func TestBugSnapshotNoInProgress(t *testing.T) {
	type seen struct{ newBefore, oldBefore, newAfter, oldAfter, newFresh, oldFresh bool }
	run := func(mode string) (s seen) {
		sim(t, 1, func(e *env.Env) {
			n := newNode(e, 8)
			w := newWorld()
			z := w.begin()
			oldTid, err := n.rel.Insert(z.cmd(), []byte("old"))
			ok(err)
			end := n.commitRecord(z.tx.Xid)
			n.w.Flush(end)
			w.commit(z, end)

			a := w.begin()
			newTid, err := n.rel.Insert(a.cmd(), []byte("new"))
			ok(err)
			res, _, err := n.rel.Delete(a.cmd(), oldTid, nil, false)
			ok(err)
			check(res == heapam.TMOk, "delete: %v", res)

			r := w.begin()
			check(r.snap.InProgress(a.tx.Xid) && a.tx.Xid < r.snap.Xmax, "the writer is in the reader's xip")
			switch mode {
			case "bug":
				// What GetSnapshot builds with the bug on.
				r.snap.Xip = nil
				r.snap.Bugs = r.snap.Bugs.With(bugs.SnapshotNoInProgress)
			case "unmarked":
				r.snap.Xip = nil
			}
			_, s.newBefore = fetch(n, r, newTid)
			_, s.oldBefore = fetch(n, r, oldTid)
			end = n.commitRecord(a.tx.Xid)
			n.w.Flush(end)
			w.commit(a, end)
			_, s.newAfter = fetch(n, r, newTid)
			_, s.oldAfter = fetch(n, r, oldTid)
			f := w.begin()
			_, s.newFresh = fetch(n, f, newTid)
			_, s.oldFresh = fetch(n, f, oldTid)
		})
		return s
	}
	require.Equal(t, seen{newBefore: false, oldBefore: true, newAfter: false, oldAfter: true, newFresh: true, oldFresh: false},
		run("off"), "a correct snapshot is repeatable")
	require.Equal(t, seen{newBefore: false, oldBefore: true, newAfter: true, oldAfter: false, newFresh: true, oldFresh: false},
		run("bug"), "the bug: the commit after the snapshot shows through, and nothing is corrupted")
	require.Equal(t, seen{newBefore: false, oldBefore: true, newAfter: false, oldAfter: true, newFresh: false, oldFresh: true},
		run("unmarked"), "without the mark, abort hints set while the writer ran corrupt its changes")
}
