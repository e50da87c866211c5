package db

import (
	"github.com/pgdst/pgdst/engine/heapam"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/xact"
)

// UpsertAppend is INSERT INTO t VALUES (key, val) ON CONFLICT (key) DO
// UPDATE SET val = t.val || val, the statement Jepsen's list-append
// workload runs on PostgreSQL: a list's row is made by its first append.
// It updates the row the statement's snapshot sees; when there is none it
// inserts, and a conflicting row that appeared meanwhile (committed by a
// transaction the snapshot does not see) is, under REPEATABLE READ and
// SERIALIZABLE, a serialization failure, as ExecOnConflictUpdate's
// ExecCheckTupleVisible reports it. Under READ COMMITTED PostgreSQL then
// updates the row it conflicted with; speculative insertion, which lets
// it do so without leaving a heap tuple behind, is not built, so READ
// COMMITTED fails with the unique violation instead. It reports whether a
// row was inserted or updated.
func (s *Session) UpsertAppend(tableName string, key uint64, val []byte) (bool, error) {
	t, err := s.db.openTable(tableName)
	if err != nil {
		return false, err
	}
	appendFn := func(old []byte) ([]byte, bool) {
		return append(append(make([]byte, 0, len(old)+len(val)), old...), val...), true
	}
	done := false
	err = s.statement(func(tx *heapam.Tx, snap *xact.Snapshot) error {
		if err := s.writable(tx); err != nil {
			return err
		}
		tid, cur, found, err := t.visible(tx, key, snap)
		if err != nil {
			return err
		}
		if found {
			done, err = s.modifyVersion(t, tx, key, tid, cur, appendFn, false)
			return err
		}
		err = s.insertRow(t, tx, key, val)
		if pgerr.Is(err, pgerr.UniqueViolation) && s.iso != ReadCommitted {
			s.db.e.Sometimes("serialization-failure")
			return pgerr.New(pgerr.SerializationFailure, "could not serialize access due to concurrent update")
		}
		done = err == nil
		return err
	})
	return done, err
}
