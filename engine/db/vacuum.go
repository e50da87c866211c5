package db

import (
	"slices"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// The vacuum's injection points: a crash between its phases must leave the
// table consistent (dead line pointers with index entries, or without).
const (
	PointVacuumAfterHeap  = "vacuum-after-heap-prune"
	PointVacuumAfterIndex = "vacuum-after-index"
)

// VacuumStats says what a vacuum did.
type VacuumStats struct {
	Pages        int
	DeadTuples   int // line pointers made LP_DEAD or found so
	IndexRemoved int
	// Tuples counts the tuples left with storage after pruning: the
	// live ones and those still recently dead (num_tuples).
	Tuples int
}

// Vacuum is lazy vacuum of one table (lazy_scan_heap, lazy_vacuum), in
// its three phases: prune every heap page, removing tuples dead to every
// snapshot (below the OldestXmin horizon) and collecting every LP_DEAD
// line pointer, including ones an interrupted earlier vacuum left; delete
// the index entries pointing at them (ambulkdelete); then make those line
// pointers reusable (lazy_vacuum_heap_page). A line pointer is freed only
// after no index entry can lead to it, so no new tuple can be reached
// through a stale entry.
//
// One vacuum of a table runs at a time (the self-conflicting
// ShareUpdateExclusiveLock): two would collect the same LP_DEAD items and
// the second would free them twice. A vacuum that completes reports to the
// table's statistics (pgstat_report_vacuum); one that fails reports
// nothing, and the next finds the LP_DEAD items it left.
func (db *DB) Vacuum(name string) (VacuumStats, error) {
	var st VacuumStats
	t, err := db.openTable(name)
	if err != nil {
		return st, err
	}
	t.vacuumLock.Lock()
	defer t.vacuumLock.Unlock()
	horizon := db.Procs.OldestXmin()
	orc := vacuumOracle{db}
	nblocks, err := t.heap.NBlocks()
	if err != nil {
		return st, err
	}
	dead := map[page.ItemPointer]bool{}
	var order []page.ItemPointer
	def, _ := db.Catalog.Lookup(name)
	for blk := smgr.BlockNumber(0); blk < nblocks; blk++ {
		if _, err := t.heap.Prune(blk, horizon, orc); err != nil {
			return st, err
		}
		offs, tuples, err := db.deadItems(def.Heap, blk)
		if err != nil {
			return st, err
		}
		st.Tuples += tuples
		for _, off := range offs {
			tid := page.ItemPointer{Block: uint32(blk), Offset: off}
			dead[tid] = true
			order = append(order, tid)
		}
		st.Pages++
	}
	st.DeadTuples = len(order)
	db.e.Inject(PointVacuumAfterHeap)
	if len(order) == 0 {
		db.pgstatReportVacuum(t, st)
		return st, nil
	}
	var victims []nbtree.Entry
	if err := t.idx.Scan(0, ^uint64(0), func(en nbtree.Entry) bool {
		if dead[en.TID] {
			victims = append(victims, en)
		}
		return true
	}); err != nil {
		return st, err
	}
	for _, en := range victims {
		ok, err := t.idx.Delete(en.Key, en.TID)
		if err != nil {
			return st, err
		}
		if ok {
			st.IndexRemoved++
		}
	}
	db.e.Inject(PointVacuumAfterIndex)
	for i := 0; i < len(order); {
		blk := order[i].Block
		var offs []page.OffsetNumber
		for ; i < len(order) && order[i].Block == blk; i++ {
			offs = append(offs, order[i].Offset)
		}
		if err := t.heap.VacuumPage(smgr.BlockNumber(blk), offs); err != nil {
			return st, err
		}
	}
	db.pgstatReportVacuum(t, st)
	return st, nil
}

// deadItems lists the LP_DEAD line pointers of a heap page, ascending,
// and counts its tuples with storage.
func (db *DB) deadItems(rel smgr.RelFileNumber, blk smgr.BlockNumber) ([]page.OffsetNumber, int, error) {
	buf, err := db.Pool.ReadBuffer(rel, smgr.MainForkNum, blk)
	if err != nil {
		return nil, 0, err
	}
	defer db.Pool.ReleaseBuffer(buf)
	db.Pool.LockBuffer(buf, buffer.Share)
	defer db.Pool.UnlockBuffer(buf)
	p := db.Pool.BufferGetPage(buf)
	if page.IsNew(p) {
		return nil, 0, nil
	}
	var out []page.OffsetNumber
	tuples := 0
	for off := page.OffsetNumber(1); off <= page.MaxOffset(p); off++ {
		switch id := page.GetItemID(p, off); {
		case id.IsDead():
			out = append(out, off)
		case id.IsNormal():
			tuples++
		}
	}
	return slices.Clip(out), tuples, nil
}

// vacuumOracle answers for a vacuum, which has no transaction of its own.
type vacuumOracle struct{ db *DB }

func (o vacuumOracle) IsCurrent(xact.XID) bool { return false }
func (o vacuumOracle) Status(x xact.XID) (clog.Status, wal.LSN) {
	return o.db.xidStatus(x)
}
func (o vacuumOracle) IsInProgress(x xact.XID) bool { return o.db.Procs.IsRunning(x) }
func (o vacuumOracle) Combo(uint32) (uint32, uint32) {
	panic("db: vacuum asked for a combo command id") // only the owning backend has them
}
