package heapam_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	simworld "github.com/pgdst/pgdst/simtest/world"
)

func fetch(n *node, t *txn, tid heapam.TID) (string, bool) {
	data, vis, err := n.rel.Fetch(&t.tx, tid, t.snap)
	ok(err)
	return string(data), vis
}

func scanAll(n *node, t *txn) map[heapam.TID]string {
	out := map[heapam.TID]string{}
	ok(n.rel.Scan(&t.tx, t.snap, func(tid heapam.TID, data []byte) bool {
		out[tid] = string(data)
		return true
	}))
	return out
}

func TestRoundTripOneTransaction(t *testing.T) {
	sim(t, 1, func(e *env.Env) {
		n := newNode(e, 16)
		w := newWorld()
		a := w.begin()
		tid, err := n.rel.Insert(a.cmd(), []byte("one"))
		ok(err)
		a.cmd()
		v, vis := fetch(n, a, tid)
		check(vis && v == "one", "own insert: %q %v", v, vis)

		// Update, then the old version is gone and the new one visible.
		tid2, res, _, err := n.rel.Update(a.cmd(), tid, []byte("two"), a.snap, false)
		ok(err)
		check(res == heapam.TMOk && tid2 != tid, "update: %v %v", res, tid2)
		a.cmd()
		_, vis = fetch(n, a, tid)
		check(!vis, "old version visible after own update")
		v, vis = fetch(n, a, tid2)
		check(vis && v == "two", "new version: %q %v", v, vis)

		// Updating the old version again is TMInvisible (updated by an
		// earlier command).
		_, res, _, err = n.rel.Update(a.cmd(), tid, []byte("x"), nil, false)
		ok(err)
		check(res == heapam.TMInvisible, "update of a superseded version: %v", res)

		// Lock, then delete over our own lock.
		res, _, err = n.rel.LockTuple(a.cmd(), tid2, nil, false)
		ok(err)
		check(res == heapam.TMOk, "lock: %v", res)
		res, _, err = n.rel.LockTuple(a.cmd(), tid2, nil, false)
		ok(err)
		check(res == heapam.TMOk, "relock: %v", res)
		a.cmd()
		_, vis = fetch(n, a, tid2)
		check(vis, "a locked tuple stays visible")
		res, _, err = n.rel.Delete(a.cmd(), tid2, a.snap, false)
		ok(err)
		check(res == heapam.TMOk, "delete over own lock: %v", res)
		a.cmd()
		check(len(scanAll(n, a)) == 0, "scan after delete: %v", scanAll(n, a))
		// Deleting it again in the same command is TMSelfModified.
		res, fd, err := n.rel.Delete(&a.tx, tid2, nil, false)
		ok(err)
		check(res == heapam.TMInvisible || res == heapam.TMSelfModified, "second delete: %v %+v", res, fd)
		st := n.rel.Stats()
		check(st.Inserts == 1 && st.Updates == 1 && st.Deletes == 1 && st.Locks == 1, "stats %+v", st)
	})
}

func TestAcrossTransactions(t *testing.T) {
	sim(t, 2, func(e *env.Env) {
		n := newNode(e, 16)
		w := newWorld()
		a := w.begin()
		tid, err := n.rel.Insert(a.cmd(), []byte("a"))
		ok(err)
		b := w.begin() // snapshot while a runs
		_, vis := fetch(n, b, tid)
		check(!vis, "uncommitted insert visible to another transaction")
		res, _, err := n.rel.Delete(b.cmd(), tid, nil, false)
		ok(err)
		check(res == heapam.TMInvisible, "delete of an uncommitted insert: %v", res)
		w.commit(a, n.commitRecord(a.tx.Xid))
		n.w.Flush(n.w.InsertLSN())
		_, vis = fetch(n, b, tid)
		check(!vis, "commit after b's snapshot visible to b")
		c := w.begin()
		v, vis := fetch(n, c, tid)
		check(vis && v == "a", "committed insert: %q %v", v, vis)

		// c updates; b (older snapshot) still sees the old version and
		// finds the row being modified, then updated after c commits.
		tid2, res, _, err := n.rel.Update(c.cmd(), tid, []byte("c"), c.snap, false)
		ok(err)
		check(res == heapam.TMOk, "c's update: %v", res)
		d := w.begin()
		res, fd, err := n.rel.Delete(d.cmd(), tid, d.snap, false)
		ok(err)
		check(res == heapam.TMBeingModified && fd.Xmax == c.tx.Xid, "delete of a row c holds: %v %+v", res, fd)
		res, fd, err = n.rel.LockTuple(d.cmd(), tid, d.snap, false)
		ok(err)
		check(res == heapam.TMBeingModified && fd.Xmax == c.tx.Xid, "lock of a row c holds: %v %+v", res, fd)
		// Waiting through Tx.Wait: the wait "ends" c by committing it.
		d.tx.Wait = func(x xact.XID) error {
			check(x == c.tx.Xid, "waits for %d", x)
			w.commit(c, n.commitRecord(c.tx.Xid))
			return nil
		}
		res, fd, err = n.rel.Delete(d.cmd(), tid, d.snap, true)
		ok(err)
		check(res == heapam.TMUpdated && fd.Ctid == tid2 && fd.Xmax == c.tx.Xid, "after c commits: %v %+v", res, fd)
		v, vis = fetch(n, d, tid)
		check(vis && v == "a", "d's snapshot keeps the old version: %q %v", v, vis)
		_, vis = fetch(n, d, tid2)
		check(!vis, "d sees c's new version")
		e2 := w.begin()
		got := scanAll(n, e2)
		check(len(got) == 1 && got[tid2] == "c", "new snapshot scan: %v", got)

		// A delete by an aborted transaction leaves the row deletable.
		f := w.begin()
		res, _, err = n.rel.Delete(f.cmd(), tid2, f.snap, false)
		ok(err)
		check(res == heapam.TMOk, "f's delete: %v", res)
		w.abort(f)
		g := w.begin()
		res, _, err = n.rel.Delete(g.cmd(), tid2, g.snap, false)
		ok(err)
		check(res == heapam.TMOk, "delete after an aborted delete: %v", res)
		w.commit(g, n.commitRecord(g.tx.Xid))
		h := w.begin()
		res, fd, err = n.rel.Delete(h.cmd(), tid2, nil, false)
		ok(err)
		check(res == heapam.TMDeleted && fd.Ctid == tid2, "delete of a deleted row: %v %+v", res, fd)

		// Lock by one transaction blocks another's lock; an ended locker
		// does not.
		i := w.begin()
		tid3, err := n.rel.Insert(i.cmd(), []byte("i"))
		ok(err)
		w.commit(i, n.commitRecord(i.tx.Xid))
		j, k := w.begin(), w.begin()
		res, _, err = n.rel.LockTuple(j.cmd(), tid3, j.snap, false)
		ok(err)
		check(res == heapam.TMOk, "j's lock: %v", res)
		res, fd, err = n.rel.LockTuple(k.cmd(), tid3, k.snap, false)
		ok(err)
		check(res == heapam.TMBeingModified && fd.Xmax == j.tx.Xid, "k's lock: %v %+v", res, fd)
		w.commit(j, n.commitRecord(j.tx.Xid))
		res, _, err = n.rel.LockTuple(k.cmd(), tid3, k.snap, false)
		ok(err)
		check(res == heapam.TMOk, "k's lock after j ended: %v", res)
		v, vis = fetch(n, k, tid3)
		check(vis && v == "i", "locked row: %q %v", v, vis)
	})
}

func TestUpdateToAnotherPage(t *testing.T) {
	sim(t, 3, func(e *env.Env) {
		n := newNode(e, 16)
		w := newWorld()
		a := w.begin()
		big := strings.Repeat("x", 3000)
		var tids []heapam.TID
		for i := 0; i < 2; i++ {
			tid, err := n.rel.Insert(a.cmd(), []byte(fmt.Sprint(i, big)))
			ok(err)
			tids = append(tids, tid)
		}
		check(tids[1].Block == 0, "two big tuples fit one page: %v", tids)
		tid2, res, _, err := n.rel.Update(a.cmd(), tids[0], []byte("new"+big), nil, false)
		ok(err)
		check(res == heapam.TMOk && tid2.Block != 0, "update elsewhere: %v %v", res, tid2)
		a.cmd()
		got := scanAll(n, a)
		check(len(got) == 2 && got[tid2] == "new"+big, "scan: %d tuples", len(got))
	})
}

func TestHintBitsWaitForCommitFlush(t *testing.T) {
	sim(t, 4, func(e *env.Env) {
		n := newNode(e, 16)
		w := newWorld()
		a := w.begin()
		tid, err := n.rel.Insert(a.cmd(), []byte("a"))
		ok(err)
		n.w.Flush(n.w.InsertLSN()) // the page LSN is durable, the commit is not
		// Commit record written but not flushed (synchronous_commit=off).
		w.commit(a, n.commitRecord(a.tx.Xid))
		b := w.begin()
		_, vis := fetch(n, b, tid)
		check(vis, "committed insert invisible")
		mask := infomask(n, tid)
		check(mask&page.HeapXminCommitted == 0, "xmin hint set before the commit record is durable: %#x", mask)
		check(n.rel.Stats().Hints == 0, "hints counted: %d", n.rel.Stats().Hints)
		n.w.Flush(n.w.InsertLSN())
		_, vis = fetch(n, b, tid)
		check(vis, "committed insert invisible")
		mask = infomask(n, tid)
		check(mask&page.HeapXminCommitted != 0, "xmin hint not set once the commit is durable: %#x", mask)
		// An abort hint needs no flush.
		c := w.begin()
		tid2, err := n.rel.Insert(c.cmd(), []byte("c"))
		ok(err)
		w.abort(c)
		_, vis = fetch(n, w.begin(), tid2)
		check(!vis, "aborted insert visible")
		check(infomask(n, tid2)&page.HeapXminInvalid != 0, "abort hint not set")
	})
}

func infomask(n *node, tid heapam.TID) uint16 {
	buf, err := n.pool.ReadBuffer(testRel, smgr.MainForkNum, smgr.BlockNumber(tid.Block))
	ok(err)
	n.pool.LockBuffer(buf, buffer.Share)
	defer n.pool.UnlockReleaseBuffer(buf)
	return page.HeapTuple(page.GetItem(n.pool.BufferGetPage(buf), tid.Offset)).Infomask()
}

// ---------------------------------------------------------------------
// Model-based test: interleaved fake transactions against a model of row
// versions and snapshot visibility.

type mVersion struct {
	tid     heapam.TID
	data    string
	xmin    xact.XID
	xmax    xact.XID
	updated bool // xmax updated (not deleted) it
}

type mOp struct {
	kind  int // 0 insert, 1 update, 2 delete, 3 commit, 4 abort, 5 begin, 6 lock
	slot  int // which of the three transaction slots
	pick  int // which visible version
	value string
}

func (o mOp) String() string {
	return fmt.Sprintf("%s(slot %d, pick %d, %q)",
		[]string{"insert", "update", "delete", "commit", "abort", "begin", "lock"}[o.kind], o.slot, o.pick, o.value)
}

type modelRun struct {
	n     *node
	w     *world
	slots [3]*txn
	vers  []*mVersion
	log   []string
}

func (m *modelRun) committed(x xact.XID) bool { return m.w.status[x] == 1 }

// seen says whether t sees changes made by x (the model's definition of a
// snapshot: own changes, and commits of transactions that had ended when
// the snapshot was taken).
func (m *modelRun) seen(t *txn, x xact.XID) bool {
	if x == t.tx.Xid {
		return true
	}
	return m.committed(x) && !t.snap.InProgress(x)
}

func (m *modelRun) visible(t *txn, v *mVersion) bool {
	if !m.seen(t, v.xmin) {
		return false
	}
	return v.xmax == 0 || !m.seen(t, v.xmax)
}

func (m *modelRun) visibleTo(t *txn) []*mVersion {
	var out []*mVersion
	for _, v := range m.vers {
		if m.visible(t, v) {
			out = append(out, v)
		}
	}
	return out
}

// expectModify is what SatisfiesUpdate must answer for a version t sees.
func (m *modelRun) expectModify(t *txn, v *mVersion) heapam.TMResult {
	switch {
	case v.xmax == 0 || m.w.status[v.xmax] == 2:
		return heapam.TMOk
	case m.w.running[v.xmax]:
		return heapam.TMBeingModified
	case v.updated:
		return heapam.TMUpdated
	default:
		return heapam.TMDeleted
	}
}

func (m *modelRun) step(op mOp) {
	m.log = append(m.log, op.String())
	t := m.slots[op.slot]
	if op.kind == 5 || t == nil {
		if t == nil {
			m.slots[op.slot] = m.w.begin()
		}
		return
	}
	switch op.kind {
	case 0:
		tid, err := m.n.rel.Insert(t.cmd(), []byte(op.value))
		ok(err)
		m.vers = append(m.vers, &mVersion{tid: tid, data: op.value, xmin: t.tx.Xid})
	case 1, 2, 6:
		vis := m.visibleTo(t)
		if len(vis) == 0 {
			return
		}
		v := vis[op.pick%len(vis)]
		want := m.expectModify(t, v)
		var res heapam.TMResult
		var err error
		var newTID heapam.TID
		switch op.kind {
		case 1:
			newTID, res, _, err = m.n.rel.Update(t.cmd(), v.tid, []byte(op.value), t.snap, false)
		case 2:
			res, _, err = m.n.rel.Delete(t.cmd(), v.tid, t.snap, false)
		case 6:
			res, _, err = m.n.rel.LockTuple(t.cmd(), v.tid, t.snap, false)
			if want == heapam.TMBeingModified || want == heapam.TMOk {
				// Locks are not modelled as xmax (they never hide a
				// version), so a locked version looks free to the model.
				if res == heapam.TMBeingModified || res == heapam.TMOk {
					want = res
				}
			}
		}
		ok(err)
		if op.kind != 6 && want == heapam.TMOk && res == heapam.TMBeingModified {
			// A lock the model does not track.
			return
		}
		check(res == want, "%v on %+v: got %v, want %v\n%s", op, *v, res, want, strings.Join(m.log, "\n"))
		if res != heapam.TMOk || op.kind == 6 {
			return
		}
		v.xmax, v.updated = t.tx.Xid, op.kind == 1
		if op.kind == 1 {
			m.vers = append(m.vers, &mVersion{tid: newTID, data: op.value, xmin: t.tx.Xid})
		}
	case 3:
		m.w.commit(t, m.n.commitRecord(t.tx.Xid))
		m.slots[op.slot] = nil
	case 4:
		m.w.abort(t)
		for _, v := range m.vers {
			if v.xmax == t.tx.Xid {
				v.xmax, v.updated = 0, false
			}
		}
		m.slots[op.slot] = nil
	}
	// After every step each running transaction's scan matches the model.
	for _, s := range m.slots {
		if s == nil {
			continue
		}
		s.cmd()
		want := map[heapam.TID]string{}
		for _, v := range m.visibleTo(s) {
			want[v.tid] = v.data
		}
		got := scanAll(m.n, s)
		check(fmt.Sprint(got) == fmt.Sprint(want), "xid %d scan\n got %v\nwant %v\n%s", s.tx.Xid, got, want, strings.Join(m.log, "\n"))
	}
}

func drawOps(t *rapid.T) []mOp {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) mOp {
		return mOp{
			kind:  rapid.IntRange(0, 6).Draw(t, "kind"),
			slot:  rapid.IntRange(0, 2).Draw(t, "slot"),
			pick:  rapid.IntRange(0, 20).Draw(t, "pick"),
			value: rapid.StringMatching(`[a-z]{1,3}`).Draw(t, "value"),
		}
	}), 1, 40).Draw(t, "ops")
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := drawOps(rt)
		seed := rapid.Uint64().Draw(rt, "seed")
		st, _ := simworld.InSim(seed, func(e *env.Env) {
			m := &modelRun{n: newNode(e, 8), w: newWorld()}
			for _, op := range ops {
				m.step(op)
			}
		})
		if st.Kind != simworld.StopAllDone {
			rt.Fatalf("%s", st)
		}
	})
}

// ---------------------------------------------------------------------
// Crash and recovery.

// crashWorkload runs ops against a fresh node, flushing WAL and writing
// buffers at random points, and returns, per heap record end LSN, the
// relation's pages as they were right after that record.
func crashWorkload(e *env.Env, rng *simworld.Rand, nops int) (start wal.LSN, after map[wal.LSN][]string) {
	n := newNode(e, 6)
	start = n.redo
	after = map[wal.LSN][]string{start: n.pages()}
	w := newWorld()
	var live []heapam.TID
	var slots [2]*txn
	snap := func() { after[n.w.InsertLSN()] = n.pages() }
	for i := 0; i < nops; i++ {
		s := rng.Intn(2)
		if slots[s] == nil {
			slots[s] = w.begin()
		}
		t := slots[s]
		switch k := rng.Intn(10); {
		case k < 4 || len(live) == 0:
			tid, err := n.rel.Insert(t.cmd(), []byte(fmt.Sprint(i, strings.Repeat(".", rng.Intn(400)))))
			ok(err)
			live = append(live, tid)
		case k < 6:
			j := rng.Intn(len(live))
			tid, res, _, err := n.rel.Update(t.cmd(), live[j], []byte(fmt.Sprint("u", i, strings.Repeat(".", rng.Intn(1500)))), nil, false)
			okOrGone(err)
			if res == heapam.TMOk {
				live[j] = tid
			}
		case k < 7:
			j := rng.Intn(len(live))
			_, _, err := n.rel.Delete(t.cmd(), live[j], nil, false)
			okOrGone(err)
		case k < 8:
			_, _, err := n.rel.LockTuple(t.cmd(), live[rng.Intn(len(live))], nil, false)
			okOrGone(err)
		case k < 9:
			w.commit(t, n.commitRecord(t.tx.Xid))
			slots[s] = nil
		default:
			w.abort(t)
			slots[s] = nil
		}
		snap()
		switch rng.Intn(10) {
		case 8, 9:
			// A checkpoint: redo after a crash starts from its REDO
			// pointer, and the next change of each page takes a
			// full-page image.
			n.checkpoint()
			start = n.redo
		case 0:
			n.w.Flush(n.w.InsertLSN())
		case 1:
			_, err := n.pool.BufferSync()
			ok(err)
		case 2:
			_, err := n.pool.BufferSync()
			ok(err)
			n.sm.SyncAll()
		case 3:
			// Vacuum what is dead to everyone: no transaction runs
			// below the oldest running xid.
			horizon := w.next
			for x := range w.running {
				horizon = min(horizon, x)
			}
			nb, err := n.rel.NBlocks()
			ok(err)
			for blk := smgr.BlockNumber(0); blk < nb; blk++ {
				tids, err := n.rel.Prune(blk, horizon, view{w, xact.InvalidXID})
				ok(err)
				if len(tids) > 0 {
					snap()
					var offs []page.OffsetNumber
					for _, tid := range tids {
						offs = append(offs, tid.Offset)
					}
					ok(n.rel.VacuumPage(blk, offs))
					snap()
				}
			}
		}
	}
	// Leave page writes unsynced, for the crash to drop or tear.
	if rng.Intn(2) == 0 {
		_, err := n.pool.BufferSync()
		ok(err)
	}
	return start, after
}

// okOrGone accepts ErrNoTuple: the workload may pick a pruned TID.
func okOrGone(err error) {
	if !errors.Is(err, heapam.ErrNoTuple) {
		ok(err)
	}
}

// expectedAt returns the pages after the last record ending at or before
// end.
func expectedAt(after map[wal.LSN][]string, end wal.LSN) []string {
	var best wal.LSN
	for l := range after {
		if l <= end && l >= best {
			best = l
		}
	}
	return after[best]
}

func comparePages(got, want []string) error {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(want) && g == "new" {
			continue // an extension whose records were lost
		}
		if stripLSN(g) != stripLSN(w) {
			return fmt.Errorf("block %d:\n got %s\nwant %s", i, g, w)
		}
	}
	return nil
}

// stripLSN drops the page LSN line prefix: a page that took a later
// full-page image or was written before the crash may carry an LSN the
// model's snapshot had too; comparing contents is the point.
func stripLSN(s string) string {
	if i := strings.Index(s, " lower="); i >= 0 && strings.HasPrefix(s, "lsn=") {
		return s[i:]
	}
	return s
}

func TestCrashRecovery(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		mode := []simworld.CrashMode{simworld.CrashDropAll, simworld.CrashTorn}[seed%2]
		var start wal.LSN
		var after map[wal.LSN][]string
		node := sim(t, seed, func(e *env.Env) {
			start, after = crashWorkload(e, simworld.NewRand(seed*7919), 60)
		})
		node.Disk.Crash(simworld.NewRand(seed), mode)
		reboot(t, node, func(e *env.Env) {
			n, recs := recoverNode(e, start, 6)
			_, end := heapRecords(e, start)
			want := expectedAt(after, end)
			ok(comparePages(n.pages(), want))
			// Replaying everything again changes nothing.
			once := n.rawPages()
			for _, rec := range recs {
				ok(heapam.Redo(rec, n.pool, n.sm))
			}
			twice := n.rawPages()
			check(len(once) == len(twice), "block count changed on replay")
			for i := range once {
				check(string(once[i]) == string(twice[i]), "block %d differs after a second replay", i)
			}
			// And the pages survive a checkpoint and a re-read.
			n.checkpoint()
		})
	}
}

func TestRedoIdempotentProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		split := rapid.Float64Range(0, 1).Draw(rt, "split")
		var start wal.LSN
		var after map[wal.LSN][]string
		node, err := runSim(seed, func(e *env.Env) {
			start, after = crashWorkload(e, simworld.NewRand(seed), 25)
			// Flush everything so that all records are durable.
		})
		if err != nil {
			rt.Fatal(err)
		}
		_ = after
		node.Disk.Crash(simworld.NewRand(seed), simworld.CrashDropAll)
		st := node.Reboot(func(e *env.Env) {
			n, recs := recoverNode(e, start, 6)
			once := n.pages()
			// Replay a prefix again, then everything: the same pages.
			k := int(split * float64(len(recs)))
			for _, rec := range recs[:k] {
				ok(heapam.Redo(rec, n.pool, n.sm))
			}
			for _, rec := range recs {
				ok(heapam.Redo(rec, n.pool, n.sm))
			}
			check(slices.Equal(once, n.pages()), "replay of %d then %d records differs", k, len(recs))
		})
		if st.Kind != simworld.StopAllDone {
			rt.Fatalf("%s\n%s", st, st.Stack)
		}
	})
}

func runSim(seed uint64, fn func(e *env.Env)) (*simworld.Node, error) {
	st, node := simworld.InSim(seed, fn)
	if st.Kind != simworld.StopAllDone {
		return nil, fmt.Errorf("%s\n%s", st, st.Stack)
	}
	return node, nil
}

// ---------------------------------------------------------------------
// Pruning.

func TestPruneRemovesExactlyTheDead(t *testing.T) {
	simNode := sim(t, 5, func(e *env.Env) {
		n := newNode(e, 16)
		w := newWorld()
		a := w.begin()
		var tids []heapam.TID
		for i := 0; i < 8; i++ {
			tid, err := n.rel.Insert(a.cmd(), []byte(fmt.Sprint("row", i)))
			ok(err)
			tids = append(tids, tid)
		}
		w.commit(a, n.commitRecord(a.tx.Xid))
		b := w.begin()
		_, _, err := n.rel.Delete(b.cmd(), tids[0], nil, false) // committed: dead
		ok(err)
		newTID, _, _, err := n.rel.Update(b.cmd(), tids[1], []byte("v2"), nil, false) // old dead
		ok(err)
		w.commit(b, n.commitRecord(b.tx.Xid))
		c := w.begin()
		_, _, err = n.rel.Delete(c.cmd(), tids[2], nil, false) // aborted delete: live
		ok(err)
		w.abort(c)
		d := w.begin()
		_, _, err = n.rel.Delete(d.cmd(), tids[3], nil, false) // running delete: not dead
		ok(err)
		_, err = n.rel.Insert(d.cmd(), []byte("running insert"))
		ok(err)
		f := w.begin()
		deadIns, err := n.rel.Insert(f.cmd(), []byte("aborted insert")) // dead
		ok(err)
		w.abort(f)
		g := w.begin()
		_, _, err = n.rel.Delete(g.cmd(), tids[4], nil, false) // committed after the horizon: recently dead
		ok(err)
		w.commit(g, n.commitRecord(g.tx.Xid))
		_, _, err = n.rel.LockTuple(d.cmd(), tids[5], nil, false) // locked: live
		ok(err)

		horizon := g.tx.Xid // g's delete is not yet dead to everyone
		o := view{w, xact.InvalidXID}
		// HeapTupleSatisfiesVacuum's verdict on each version before pruning:
		// prune must remove exactly the dead ones.
		wantHTSV := map[heapam.TID]heapam.HTSVResult{
			tids[0]: heapam.HeapTupleDead,             // delete committed before the horizon
			tids[1]: heapam.HeapTupleDead,             // updated before the horizon
			tids[2]: heapam.HeapTupleLive,             // its deleter aborted
			tids[3]: heapam.HeapTupleDeleteInProgress, // its deleter still runs
			tids[4]: heapam.HeapTupleRecentlyDead,     // deleted at the horizon
			tids[5]: heapam.HeapTupleLive,             // only locked
			tids[6]: heapam.HeapTupleLive,
			tids[7]: heapam.HeapTupleLive,
			deadIns: heapam.HeapTupleDead, // its inserter aborted
		}
		for tid, want := range wantHTSV {
			got := heapam.SatisfiesVacuum(tupleAt(n, tid), horizon, o, nil)
			check(got == want, "SatisfiesVacuum(%v) = %v, want %v", tid, got, want)
		}
		removed, err := n.rel.Prune(0, horizon, o)
		ok(err)
		want := []heapam.TID{tids[0], tids[1], deadIns}
		slices.SortFunc(want, func(x, y heapam.TID) int { return int(x.Offset) - int(y.Offset) })
		check(slices.Equal(removed, want), "pruned %v, want %v", removed, want)
		h := w.begin()
		got := scanAll(n, h)
		check(len(got) == 6 && got[newTID] == "v2", "scan after prune: %v", got)
		for _, tid := range removed {
			_, vis := fetch(n, h, tid)
			check(!vis, "pruned %v still fetched", tid)
		}
		var offs []page.OffsetNumber
		for _, tid := range removed {
			offs = append(offs, tid.Offset)
		}
		ok(n.rel.VacuumPage(0, offs))
		// Line pointers no longer LP_DEAD (here already vacuumed; in a run,
		// a page a lost write took back in time) are data_corrupted, an
		// ERROR, not a crash of the process.
		err = n.rel.VacuumPage(0, offs)
		check(pgerr.Is(err, pgerr.DataCorrupted), "vacuum of unused line pointers %v: %v", offs, err)
		// Vacuumed line pointers are reused by the next inserts.
		k := w.begin()
		reuse, err := n.rel.Insert(k.cmd(), []byte("reuse"))
		ok(err)
		check(slices.Contains(removed, reuse), "insert went to %v, not a freed slot %v", reuse, removed)
		// Pruning again with a later horizon takes g's delete too.
		removed, err = n.rel.Prune(0, w.next, o)
		ok(err)
		check(slices.Equal(removed, []heapam.TID{tids[4]}), "second prune %v", removed)
	})
	// The first prune kept g's recently dead version; both pruned, and
	// vacuum freed line pointers.
	for _, c := range []string{"vacuum-kept-recently-dead", "heap-page-pruned", "vacuum-removed-tuple"} {
		require.True(t, simNode.Reached.Has(c), "%s not recorded: %v", c, simNode.Reached.Names())
	}
}

func tupleAt(n *node, tid heapam.TID) page.HeapTuple {
	buf, err := n.pool.ReadBuffer(testRel, smgr.MainForkNum, smgr.BlockNumber(tid.Block))
	ok(err)
	defer n.pool.ReleaseBuffer(buf)
	return page.HeapTuple(append([]byte(nil), page.GetItem(n.pool.BufferGetPage(buf), tid.Offset)...))
}

// ---------------------------------------------------------------------
// Decoders.

func FuzzRedoDecoders(f *testing.F) {
	f.Add([]byte{1, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Add(make([]byte, 16), make([]byte, 24))
	f.Add([]byte{}, []byte{1, 0, 2, 0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = heapam.DecodeInsert(a)
		_, _ = heapam.DecodeDelete(a)
		_, _ = heapam.DecodeUpdate(a)
		_, _ = heapam.DecodeLock(a)
		_, _, _ = heapam.DecodeTupleData(a)
		_, _ = heapam.DecodePrune(a, b)
		_, _ = heapam.DecodePrune(b, a)
	})
}

func TestResultNames(t *testing.T) {
	require.Equal(t, "TM_BeingModified", heapam.TMBeingModified.String())
	require.Equal(t, "HEAPTUPLE_RECENTLY_DEAD", heapam.HeapTupleRecentlyDead.String())
}

// ---------------------------------------------------------------------
// Benchmarks.

func BenchmarkInsert(b *testing.B) {
	data := []byte(strings.Repeat("x", 100))
	st, _ := simworld.InSim(1, func(e *env.Env) {
		n := newNode(e, 64)
		w := newWorld()
		t := w.begin()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, err := n.rel.Insert(t.cmd(), data)
			ok(err)
			if i%1000 == 999 {
				n.w.Flush(n.w.InsertLSN())
			}
		}
		b.StopTimer()
	})
	if st.Kind != simworld.StopAllDone {
		b.Fatal(st)
	}
}

func BenchmarkFetch(b *testing.B) {
	data := []byte(strings.Repeat("x", 100))
	st, _ := simworld.InSim(1, func(e *env.Env) {
		n := newNode(e, 64)
		w := newWorld()
		t := w.begin()
		var tids []heapam.TID
		for i := 0; i < 1000; i++ {
			tid, err := n.rel.Insert(t.cmd(), data)
			ok(err)
			tids = append(tids, tid)
		}
		w.commit(t, n.commitRecord(t.tx.Xid))
		n.w.Flush(n.w.InsertLSN())
		r := w.begin()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, vis, err := n.rel.Fetch(&r.tx, tids[i%len(tids)], r.snap)
			ok(err)
			check(vis, "invisible")
		}
		b.StopTimer()
	})
	if st.Kind != simworld.StopAllDone {
		b.Fatal(st)
	}
}

// TestRedoOverTornPage: a page torn on disk fails its checksum; redo of a
// record carrying its full-page image must install the image without
// trusting what is on disk (RBM_ZERO_AND_LOCK).
func TestRedoOverTornPage(t *testing.T) {
	var start wal.LSN
	var want []string
	node := sim(t, 6, func(e *env.Env) {
		n := newNode(e, 8)
		w := newWorld()
		a := w.begin()
		tid, err := n.rel.Insert(a.cmd(), []byte("before"))
		ok(err)
		n.checkpoint()
		start = n.redo
		_, _, _, err = n.rel.Update(a.cmd(), tid, []byte("after"), nil, false) // takes the image
		ok(err)
		check(n.rel.Stats().FPIs == 1, "FPIs %d", n.rel.Stats().FPIs)
		n.w.Flush(n.w.InsertLSN())
		want = n.pages()
		// Tear block 0 on disk: half the old page, half garbage.
		torn := make([]byte, page.BlockSize)
		ok(n.sm.Read(testRel, smgr.MainForkNum, 0, torn))
		for i := page.BlockSize / 2; i < page.BlockSize; i++ {
			torn[i] = byte(i)
		}
		ok(n.sm.Write(testRel, smgr.MainForkNum, 0, torn))
		n.sm.SyncAll()
	})
	node.Disk.Crash(simworld.NewRand(6), simworld.CrashDropAll)
	reboot(t, node, func(e *env.Env) {
		n, _ := recoverNode(e, start, 8)
		ok(comparePages(n.pages(), want))
	})
}
