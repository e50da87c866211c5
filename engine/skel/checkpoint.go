package skel

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
)

// Checkpoint is CreateCheckPoint in PostgreSQL's order: take the REDO
// pointer under the WAL insert lock, write every dirty buffer (WAL first),
// fsync the heap, insert and flush the checkpoint record, then update the
// control file. Only after the control file names the new checkpoint may
// recovery start from its REDO pointer.
func (db *DB) Checkpoint() error {
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	var redo wal.LSN
	db.wal.WithInsertLock(func(next wal.LSN) {
		redo = next
		db.redoPtr = next
	})
	db.e.Inject("checkpointer-after-redo")
	for pg := range db.pages {
		if err := db.flushPage(pg); err != nil {
			return err
		}
	}
	db.e.Inject("checkpointer-after-write-buffers")
	if err := db.heap.Sync(); err != nil {
		// PostgreSQL PANICs on a failed data-file fsync (since 2018): the
		// kernel may have dropped the dirty pages and marked them clean.
		db.e.Panicf("could not fsync file %q: %v", heapPath, err)
	}
	db.e.Inject("checkpointer-after-fsync")
	var rec wal.Record
	start, end := db.wal.InsertWith(func() *wal.Record {
		rec = checkpointRecord(redo, db.nextXid)
		return &rec
	}, nil)
	db.e.Inject("checkpointer-after-record")
	db.wal.Flush(end)
	db.e.Inject("checkpointer-after-flush")
	if err := writeControl(db.e, controlData{checkpoint: start, redo: redo}); err != nil {
		return err
	}
	db.e.Inject("checkpointer-after-control")
	db.e.Logf("checkpoint complete: redo %s, record %s", redo, start)
	return nil
}

// flushPage is FlushBuffer: copy a dirty page under its lock, flush WAL up
// to its LSN (WAL before data), then write it without fsync. The page stays
// dirty until the write has finished (StartBufferIO / TerminateBufferIO):
// a checkpoint that meets a page under I/O waits for it (WaitIO) and writes
// it again if it was changed meanwhile, so its fsync covers every change
// before its REDO pointer. Clearing the dirty flag before the write instead
// lets a checkpoint skip a page whose write lands after its fsync — the
// simulator found exactly that. On a write error the page stays dirty.
func (db *DB) flushPage(pg int) error {
	buf := make([]byte, PageSize)
	db.bufMu.Lock()
	p := db.pages[pg]
	early := db.cfg.Bugs.Has(bugs.EarlyClean)
	for p.ioInProgress && !early {
		db.ioCV.Wait()
	}
	if !p.dirty {
		db.bufMu.Unlock()
		return nil
	}
	p.ioInProgress = true
	p.justDirtied = false
	if early {
		p.dirty = false
	}
	p.encode(buf)
	lsn := p.lsn
	db.bufMu.Unlock()

	if !db.cfg.Bugs.Has(bugs.WriteBeforeWAL) {
		db.wal.Flush(lsn)
	}
	db.e.Inject("bufmgr-before-write")
	_, err := db.heap.WriteAt(buf, int64(pg)*PageSize)
	db.bufMu.Lock()
	p.ioInProgress = false
	if err == nil && !p.justDirtied {
		p.dirty = false
	}
	db.ioCV.Broadcast()
	db.bufMu.Unlock()
	if err != nil {
		return fmt.Errorf("could not write block %d of %q: %w", pg, heapPath, err)
	}
	db.e.Inject("bufmgr-after-write")
	return nil
}

// BgwriterLoop is the background writer's main loop (BackgroundWriterMain):
// every bgwriter_delay, write up to bgwriter_lru_maxpages dirty pages,
// without fsync, continuing round-robin where it stopped. Like
// BgBufferSync, it reads the dirty flags in one pass rather than taking
// each page's content lock.
func (db *DB) BgwriterLoop() {
	next := 0
	dirty := make([]int, 0, len(db.pages))
	for {
		db.e.Clock.Sleep(db.cfg.BgwriterDelay)
		dirty = dirty[:0]
		db.bufMu.Lock()
		for i := 0; i < len(db.pages) && len(dirty) < db.cfg.BgwriterLRUMaxPages; i++ {
			pg := (next + i) % len(db.pages)
			if db.pages[pg].dirty {
				dirty = append(dirty, pg)
			}
		}
		db.bufMu.Unlock()
		for _, pg := range dirty {
			next = (pg + 1) % len(db.pages)
			if err := db.flushPage(pg); err != nil {
				db.e.Logf("bgwriter: %v", err)
				break
			}
		}
	}
}

// CheckpointerLoop is the checkpointer's main loop: a checkpoint every
// checkpoint_timeout. A failed checkpoint is logged and retried next time.
func (db *DB) CheckpointerLoop() {
	for {
		db.e.Clock.Sleep(db.cfg.CheckpointTimeout)
		if err := db.Checkpoint(); err != nil {
			db.e.Logf("checkpoint failed: %v", err)
		}
	}
}
