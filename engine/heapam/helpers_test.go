package heapam_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// The process-side test helpers every engine package shares (simtest/world/simt).
var (
	ok     = simt.Must
	check  = simt.Check
	sim    = simt.Sim
	reboot = simt.Reboot
)

const testRel = smgr.RelFileNumber(16384)

var walCfg = wal.Config{SegmentSize: 1 << 20}

// node is one database node's storage stack: WAL, storage manager, buffer
// pool and the heap relation, with a REDO pointer for full-page images.
type node struct {
	e    *env.Env
	w    *wal.WAL
	sm   *smgr.SMgr
	pool *buffer.Pool
	rel  *heapam.Relation
	redo wal.LSN // the last checkpoint's REDO pointer
}

// newNode makes a fresh node (initdb and CREATE TABLE) and checkpoints,
// so that redo from the returned REDO pointer rebuilds every change.
func newNode(e *env.Env, nbuffers int) *node {
	ok(wal.Create(e, walCfg))
	w, err := wal.Open(e, walCfg, wal.FirstLSN, wal.InvalidLSN)
	ok(err)
	n := openNode(e, w, nbuffers)
	ok(n.sm.Create(testRel, smgr.MainForkNum, false))
	n.checkpoint()
	return n
}

func openNode(e *env.Env, w *wal.WAL, nbuffers int) *node {
	sm, err := smgr.New(e, smgr.Config{ZeroFillMissing: true})
	ok(err)
	pool, err := buffer.NewPool(e, buffer.Config{
		NBuffers: nbuffers, SMgr: sm, WAL: w, Verify: page.Verify, SetChecksum: page.SetChecksum,
	})
	ok(err)
	n := &node{e: e, w: w, sm: sm, pool: pool}
	n.rel, err = heapam.Open(e, heapam.Config{
		Rel: testRel, Pool: pool, SMgr: sm, WAL: w,
		NeedsFPI: func(l wal.LSN) bool { return l <= n.redo },
	})
	ok(err)
	return n
}

// checkpoint takes a REDO pointer, writes every dirty buffer and fsyncs
// (CreateCheckPoint without its record: the tests remember the pointer).
func (n *node) checkpoint() {
	n.w.WithInsertLock(func(next wal.LSN) { n.redo = next })
	_, err := n.pool.BufferSync()
	ok(err)
	n.sm.SyncAll()
	// The checkpoint record would be flushed, and everything before it.
	n.w.Flush(n.w.InsertLSN())
}

// commitRecord writes a stand-in commit record for xid and returns its end.
func (n *node) commitRecord(xid xact.XID) wal.LSN {
	_, end := n.w.Insert(&wal.Record{Xid: uint64(xid), Rmid: 1, Info: 0x00})
	return end
}

// world is a fake clog and proc array shared by fake transactions.
type world struct {
	status  map[xact.XID]clog.Status
	lsn     map[xact.XID]wal.LSN
	running map[xact.XID]bool
	next    xact.XID
	combo   [][2]uint32
}

func newWorld() *world {
	return &world{status: map[xact.XID]clog.Status{}, lsn: map[xact.XID]wal.LSN{},
		running: map[xact.XID]bool{}, next: xact.FirstNormalXID}
}

// view is the world as one transaction sees it (IsCurrent).
type view struct {
	w   *world
	cur xact.XID
}

func (v view) IsCurrent(x xact.XID) bool    { return x == v.cur && x != xact.InvalidXID }
func (v view) IsInProgress(x xact.XID) bool { return v.w.running[x] }
func (v view) Status(x xact.XID) (clog.Status, wal.LSN) {
	return v.w.status[x], v.w.lsn[x]
}
func (v view) Combo(cid uint32) (uint32, uint32) { c := v.w.combo[cid]; return c[0], c[1] }

// txn is one fake transaction with its snapshot (taken at begin, as
// REPEATABLE READ does) and command counter.
type txn struct {
	tx   heapam.Tx
	snap *xact.Snapshot
}

func (w *world) begin() *txn {
	xid := w.next
	w.next++
	snap := &xact.Snapshot{Xmin: xid, Xmax: xid}
	for x := range w.running {
		snap.Xip = append(snap.Xip, x)
		snap.Xmin = min(snap.Xmin, x)
	}
	slices.Sort(snap.Xip)
	w.running[xid] = true
	t := &txn{snap: snap}
	t.tx = heapam.Tx{Xid: xid, Cid: 0, Oracle: view{w, xid}, Combo: func(cmin, cmax uint32) uint32 {
		w.combo = append(w.combo, [2]uint32{cmin, cmax})
		return uint32(len(w.combo) - 1)
	}}
	return t
}

// cmd advances the command counter (CommandCounterIncrement).
func (t *txn) cmd() *heapam.Tx { t.tx.Cid++; return &t.tx }

func (w *world) commit(t *txn, lsn wal.LSN) {
	delete(w.running, t.tx.Xid)
	w.status[t.tx.Xid] = clog.Committed
	w.lsn[t.tx.Xid] = lsn
}

func (w *world) abort(t *txn) {
	delete(w.running, t.tx.Xid)
	w.status[t.tx.Xid] = clog.Aborted
}

// hintBits are the infomask bits no WAL record carries.
const hintBits = page.HeapXminCommitted | page.HeapXminInvalid | page.HeapXmaxCommitted | page.HeapXmaxInvalid

// describePage renders a heap page's header and line pointers with their
// tuples, hint bits masked out (PD_HAS_FREE_LINES too: AddItem clears it
// when its search finds no free pointer, which redo's placement at a given
// offset never does, in PostgreSQL as here), so that two pages that must be equal up to
// hints and free-space garbage compare as equal strings.
func describePage(p []byte) string {
	if page.IsNew(p) {
		return "new"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "lsn=%v lower=%d upper=%d flags=%#x prune=%d\n", buffer.PageGetLSN(p),
		page.Lower(p), page.Upper(p), page.Flags(p)&^page.FlagHasFreeLines, page.PruneXid(p))
	for off := page.FirstOffset; off <= page.MaxOffset(p); off++ {
		id := page.GetItemID(p, off)
		fmt.Fprintf(&b, "%d: %v off=%d len=%d", off, id.Flags, id.Off, id.Len)
		if id.IsNormal() {
			h, data, err := page.DecodeHeapTuple(page.GetItem(p, off))
			if err != nil {
				fmt.Fprintf(&b, " %v", err)
			} else {
				fmt.Fprintf(&b, " xmin=%d xmax=%d cid=%d ctid=%v im2=%#x im=%#x data=%q", h.Xmin, h.Xmax, h.Cid,
					h.Ctid, h.Infomask2, h.Infomask&^hintBits, strings.TrimRight(string(data), "."))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// pages describes every block of the relation as the pool has it.
func (n *node) pages() []string {
	nb, err := n.rel.NBlocks()
	ok(err)
	var out []string
	for blk := smgr.BlockNumber(0); blk < nb; blk++ {
		buf, err := n.pool.ReadBuffer(testRel, smgr.MainForkNum, blk)
		ok(err)
		n.pool.LockBuffer(buf, buffer.Share)
		out = append(out, describePage(n.pool.BufferGetPage(buf)))
		n.pool.UnlockReleaseBuffer(buf)
	}
	return out
}

// rawPages copies every block with pd_checksum zeroed.
func (n *node) rawPages() [][]byte {
	nb, err := n.rel.NBlocks()
	ok(err)
	var out [][]byte
	for blk := smgr.BlockNumber(0); blk < nb; blk++ {
		buf, err := n.pool.ReadBuffer(testRel, smgr.MainForkNum, blk)
		ok(err)
		n.pool.LockBuffer(buf, buffer.Share)
		p := append([]byte(nil), n.pool.BufferGetPage(buf)...)
		n.pool.UnlockReleaseBuffer(buf)
		p[8], p[9] = 0, 0
		out = append(out, p)
	}
	return out
}

// heapRecords reads the WAL from start to its end and returns the heap
// records.
func heapRecords(e *env.Env, start wal.LSN) ([]wal.Record, wal.LSN) {
	rd, err := wal.NewReader(e, walCfg, start, wal.InvalidLSN)
	ok(err)
	defer rd.Close()
	var recs []wal.Record
	for i := 0; i < 1<<20; i++ {
		rec, more, err := rd.Next()
		ok(err)
		if !more {
			break
		}
		if rec.Rmid == heapam.RMHeap || rec.Rmid == heapam.RMHeap2 {
			recs = append(recs, rec)
		}
	}
	return recs, rd.End()
}

// recover reopens a crashed node and replays its heap records from start.
func recoverNode(e *env.Env, start wal.LSN, nbuffers int) (*node, []wal.Record) {
	rd, err := wal.NewReader(e, walCfg, start, wal.InvalidLSN)
	ok(err)
	last := wal.InvalidLSN
	for i := 0; i < 1<<20; i++ {
		rec, more, err := rd.Next()
		ok(err)
		if !more {
			break
		}
		last = rec.LSN
	}
	end := rd.End()
	ok(rd.Close())
	recs, _ := heapRecords(e, start)
	w, err := wal.Open(e, walCfg, end, last)
	ok(err)
	n := openNode(e, w, nbuffers)
	n.redo = start
	for _, rec := range recs {
		ok(heapam.Redo(rec, n.pool, n.sm))
	}
	return n, recs
}
