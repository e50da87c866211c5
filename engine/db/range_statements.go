package db

import (
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/xact"
)

// Multi-row statements that read the table they write (the Halloween
// problem). PostgreSQL's executor pulls rows from the scan one at a time
// and hands each to ExecInsert or ExecUpdate before it asks for the next,
// so the scan is still running while the statement writes: a new row or
// a new row version may land on a page the scan has yet to read. The
// whole statement is one command (one curcid; CommandCounterIncrement
// runs only after it), and HeapTupleSatisfiesMVCC's cmin >= curcid rule
// is what hides the statement's own writes from its own scan, so that
// INSERT INTO t SELECT ... FROM t copies each row once and an UPDATE of a
// range changes each row once. Both statements here are planned as a
// sequential scan (heap_getnext, page at a time), as PostgreSQL plans a
// range that covers much of a small table; a bitmap scan would collect
// its TIDs before the first write and never meet a new row at all.

// InsertSelect is INSERT INTO tableName SELECT key + delta, val FROM
// tableName WHERE key BETWEEN lo AND hi RETURNING key, val: fn receives
// each row inserted, in the order the scan read its source. It returns
// the statement's row count. A key + delta beyond 2^64 fails the statement
// with numeric_value_out_of_range, as bigint arithmetic does.
func (s *Session) InsertSelect(tableName string, lo, hi, delta uint64, fn func(key uint64, val []byte)) (int, error) {
	return s.rangeModify(tableName, lo, hi, func(t *table, tx *heapam.Tx, _ page.ItemPointer, key uint64, val []byte) (bool, error) {
		if key+delta < key {
			return false, pgerr.New(pgerr.NumericValueOutOfRange, "bigint out of range")
		}
		// ExecInsert, while the scan is still open.
		if err := s.insertRow(t, tx, key+delta, val); err != nil {
			return false, err
		}
		if fn != nil {
			fn(key+delta, val)
		}
		return true, nil
	})
}

// UpdateRange is UPDATE tableName SET val = f(val) WHERE key BETWEEN lo
// AND hi RETURNING key, val: f gets each row version the scan returns and
// gives its new value, or false when the row fails the statement's own
// qualification; fn receives each row updated, with its new value. It
// returns the statement's row count. Each row goes through ExecUpdate's
// rules (modifyVersion): a concurrent update is waited for, and under
// READ COMMITTED followed to the row's newest version (EvalPlanQual).
func (s *Session) UpdateRange(tableName string, lo, hi uint64, f func(old []byte) ([]byte, bool), fn func(key uint64, val []byte)) (int, error) {
	return s.rangeModify(tableName, lo, hi, func(t *table, tx *heapam.Tx, tid page.ItemPointer, key uint64, val []byte) (bool, error) {
		var newVal []byte
		g := func(old []byte) ([]byte, bool) {
			v, ok := f(old)
			newVal = v
			return v, ok
		}
		// ExecUpdate, while the scan is still open.
		done, err := s.modifyVersion(t, tx, key, tid, val, g, false)
		if err != nil {
			return false, err
		}
		if done && fn != nil {
			fn(key, newVal)
		}
		return done, nil
	})
}

// rangeModify runs one writing statement over the rows of tableName with
// lo <= key <= hi, as ExecModifyTable does: one command, its scan open
// while each row goes to row (which writes and says whether the row
// counts toward the statement's row count). The first error ends the
// statement.
func (s *Session) rangeModify(tableName string, lo, hi uint64, row func(t *table, tx *heapam.Tx, tid page.ItemPointer, key uint64, val []byte) (bool, error)) (int, error) {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return 0, err
	}
	n := 0
	err = s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		if err := s.writable(tx); err != nil {
			return err
		}
		var rowErr error
		err := s.rangeScan(t, tx, snap, lo, hi, func(tid page.ItemPointer, key uint64, val []byte) bool {
			var counted bool
			if counted, rowErr = row(t, tx, tid, key, val); rowErr != nil {
				return false
			}
			if counted {
				n++
			}
			return true
		})
		if err != nil {
			return err
		}
		return rowErr
	})
	return n, err
}

// rangeScan is a sequential scan of t with the qualification lo <= key <=
// hi: fn gets each visible row in range as the scan reaches it, with no
// buffer lock held, so that it may write to t.
func (s *Session) rangeScan(t *table, tx *heapam.Tx, snap *xact.Snapshot, lo, hi uint64, fn func(tid page.ItemPointer, key uint64, val []byte) bool) error {
	var decodeErr error
	s.ssiHeapScan(t)
	err := t.heap.Scan(tx, snap, func(tid page.ItemPointer, data []byte) bool {
		key, val, err := decodeRow(data)
		if err != nil {
			decodeErr = err
			return false
		}
		if key < lo || key > hi {
			return true
		}
		return fn(tid, key, val)
	})
	if err != nil {
		return err
	}
	return decodeErr
}
