package heapam

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// fate is what became of a transaction, from one snapshot's point of view.
type fate struct {
	status    clog.Status
	commitLSN wal.LSN
	inSnap    bool // running when the snapshot was taken
	current   bool // the scanning transaction itself
}

type world struct {
	fates   map[xact.XID]fate
	combo   map[uint32][2]uint32
	flushed wal.LSN
	pageLSN wal.LSN
	hints   int
}

func (w *world) IsCurrent(x xact.XID) bool { return w.fates[x].current }
func (w *world) Status(x xact.XID) (clog.Status, wal.LSN) {
	f := w.fates[x]
	return f.status, f.commitLSN
}
func (w *world) Combo(cid uint32) (uint32, uint32) { c := w.combo[cid]; return c[0], c[1] }
func (w *world) NeedsFlush(l wal.LSN) bool         { return l > w.flushed }
func (w *world) PageLSN() wal.LSN                  { return w.pageLSN }
func (w *world) MarkDirtyHint()                    { w.hints++ }

func (w *world) snapshot() *xact.Snapshot {
	s := &xact.Snapshot{Xmin: 3, Xmax: 100}
	for x := xact.XID(3); x < 100; x++ {
		if w.fates[x].inSnap {
			s.Xip = append(s.Xip, x)
		}
	}
	return s
}

// model restates visibility from its definition: a version is visible if
// its insert is visible and its delete is not; another transaction's change
// is visible if it committed before the snapshot; the scanning
// transaction's own change is visible if made by an earlier command.
func (w *world) model(xmin, xmax xact.XID, cmin, cmax uint32, lockOnly bool, curcid uint32) bool {
	seen := func(x xact.XID, cid uint32) bool {
		f := w.fates[x]
		if f.current {
			return cid < curcid
		}
		return f.status == clog.Committed && !f.inSnap
	}
	if !seen(xmin, cmin) {
		return false
	}
	if xmax == xact.InvalidXID || lockOnly {
		return true
	}
	return !seen(xmax, cmax)
}

func TestSatisfiesMVCCAgainstModel(t *testing.T) {
	// The interesting combinations (a hinted committed delete by a
	// transaction still in the snapshot, say) are a few in a thousand:
	// run ten rounds of rapid's default count.
	for round := 0; round < 10; round++ {
		rapid.Check(t, checkSatisfiesMVCC)
	}
}

func checkSatisfiesMVCC(t *rapid.T) {
	{
		w := &world{fates: map[xact.XID]fate{}, combo: map[uint32][2]uint32{}}
		w.flushed = wal.LSN(rapid.SampledFrom([]uint64{0, 500, 1000}).Draw(t, "flushed"))
		w.pageLSN = wal.LSN(rapid.Uint64Range(0, 1000).Draw(t, "pageLSN"))
		curXid := xact.XID(50)
		w.fates[curXid] = fate{current: true, inSnap: false}
		draw := func(label string) xact.XID {
			x := xact.XID(rapid.IntRange(3, 12).Draw(t, label))
			if rapid.Bool().Draw(t, label+"-is-current") {
				return curXid
			}
			if _, ok := w.fates[x]; !ok {
				st := clog.Status(rapid.IntRange(0, 2).Draw(t, label+"-status"))
				f := fate{status: st}
				if st == clog.Committed {
					f.commitLSN = wal.LSN(rapid.Uint64Range(1, 1000).Draw(t, label+"-lsn"))
				}
				// A transaction still running (no clog status) is in the
				// snapshot; a finished one may or may not have been.
				f.inSnap = st == clog.InProgress || rapid.Bool().Draw(t, label+"-in-snap")
				w.fates[x] = f
			}
			return x
		}
		xmin := draw("xmin")
		xmax := xact.InvalidXID
		if rapid.Bool().Draw(t, "deleted") {
			xmax = draw("xmax")
			// Only the inserter can delete or lock a row its own running
			// transaction inserted: nobody else can see it.
			if xmin == curXid {
				xmax = curXid
			}
		}
		lockOnly := xmax != xact.InvalidXID && rapid.Bool().Draw(t, "lock-only")
		cminv := uint32(rapid.IntRange(0, 4).Draw(t, "cmin"))
		cmaxv := cminv + uint32(rapid.IntRange(0, 4).Draw(t, "cmax-after"))
		curcid := uint32(rapid.IntRange(0, 9).Draw(t, "curcid"))

		h := page.HeapTupleHeader{Xmin: uint64(xmin), Xmax: uint64(xmax), Cid: cminv}
		switch {
		case xmax == xact.InvalidXID:
			h.Infomask |= page.HeapXmaxInvalid
		case lockOnly:
			h.Infomask |= page.HeapXmaxLockOnly | page.HeapXmaxExclLock
		case xmin == curXid && xmax == curXid:
			h.Infomask |= page.HeapComboCID
			h.Cid = 7
			w.combo[7] = [2]uint32{cminv, cmaxv}
		case xmax == curXid:
			h.Cid = cmaxv
		}
		// Hint bits an earlier scan may already have set, consistent with
		// what became of the transactions.
		if f := w.fates[xmin]; !f.current && rapid.Bool().Draw(t, "xmin-hinted") {
			switch {
			case f.status == clog.Committed && f.commitLSN <= w.flushed:
				h.Infomask |= page.HeapXminCommitted
			case f.status == clog.Aborted:
				h.Infomask |= page.HeapXminInvalid
			}
		}
		if f := w.fates[xmax]; xmax != xact.InvalidXID && !lockOnly && !f.current && rapid.Bool().Draw(t, "xmax-hinted") {
			switch {
			case f.status == clog.Committed && f.commitLSN <= w.flushed:
				h.Infomask |= page.HeapXmaxCommitted
			case f.status == clog.Aborted:
				h.Infomask |= page.HeapXmaxInvalid
			}
		}
		tup, err := page.AsHeapTuple(page.EncodeHeapTuple(h, []byte("row")))
		require.NoError(t, err)
		snap := w.snapshot()
		want := w.model(xmin, xmax, cminv, cmaxv, lockOnly, curcid)
		got := SatisfiesMVCC(tup, snap, curcid, w, w)
		require.Equal(t, want, got)

		// Hint bits never change the answer...
		again := SatisfiesMVCC(tup, snap, curcid, w, w)
		require.Equal(t, got, again, "answer changed after hint bits were set")
		// ...and a commit hint is set only if the commit record is durable
		// or the page LSN already orders the page after it (SetHintBits).
		mask := tup.Infomask() &^ h.Infomask // the bits this function set
		if mask&page.HeapXminCommitted != 0 {
			f := w.fates[xmin]
			require.True(t, f.commitLSN <= w.flushed || f.commitLSN <= w.pageLSN, "xmin committed hint before its commit was durable")
		}
		if mask&page.HeapXmaxCommitted != 0 {
			f := w.fates[xmax]
			require.True(t, f.commitLSN <= w.flushed || f.commitLSN <= w.pageLSN, "xmax committed hint before its commit was durable")
		}
		if mask&page.HeapXminInvalid != 0 {
			require.NotEqual(t, clog.Committed, w.fates[xmin].status)
		}
		if mask&page.HeapXmaxInvalid != 0 {
			require.NotEqual(t, clog.Committed, w.fates[xmax].status)
		}
	}
}
