package db

import (
	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// PlantFutureLSN stamps the first heap page of a table with an LSN beyond
// the end of WAL, as a write before its WAL would leave it (tests only).
func (db *DB) PlantFutureLSN(name string) error {
	def, _ := db.Catalog.Lookup(name)
	buf, err := db.Pool.ReadBuffer(def.Heap, smgr.MainForkNum, 0)
	if err != nil {
		return err
	}
	db.Pool.LockBuffer(buf, buffer.Exclusive)
	buffer.PageSetLSN(db.Pool.BufferGetPage(buf), db.WAL.InsertLSN()+wal.LSN(1<<20))
	db.Pool.MarkBufferDirty(buf)
	db.Pool.UnlockReleaseBuffer(buf)
	return nil
}
