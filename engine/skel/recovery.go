package skel

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// RecoveryStats says what startup did.
type RecoveryStats struct {
	Checkpoint wal.LSN
	Redo       wal.LSN
	End        wal.LSN
	EndReason  string
	Records    int
	Commits    int
	FPIs       int
	BytesRead  uint64
}

// Open starts the instance: the startup process's work (StartupXLOG). It
// reads the control file, reads the checkpoint record it points at, redoes
// every record from the checkpoint's REDO pointer to the end of valid WAL,
// cuts the WAL there, and writes an end-of-recovery checkpoint. A missing or
// corrupt control file or checkpoint record is a PANIC, never a guess.
func Open(e *env.Env, cfg Config) (*DB, RecoveryStats, error) {
	var st RecoveryStats
	if err := cfg.validate(); err != nil {
		return nil, st, err
	}
	ctl, err := readControl(e)
	if err != nil {
		e.Panicf("%v", err)
	}
	st.Checkpoint, st.Redo = ctl.checkpoint, ctl.redo

	r, err := wal.NewReader(e, cfg.WAL, ctl.checkpoint, wal.InvalidLSN)
	if err != nil {
		e.Panicf("could not locate a valid checkpoint record: %v", err)
	}
	ckrec, ok, err := r.Next()
	r.Close()
	if err != nil || !ok {
		e.Panicf("could not locate a valid checkpoint record at %s: %v %v", ctl.checkpoint, err, r.EndErr)
	}
	redo, nextXid, err := decodeCheckpoint(ckrec)
	if err != nil || redo != ctl.redo {
		e.Panicf("invalid checkpoint record at %s", ctl.checkpoint)
	}

	heap, err := e.Disk.Open(heapPath, env.OpenExisting)
	if err != nil {
		e.Panicf("could not open heap: %v", err)
	}
	db := &DB{
		e:       e,
		cfg:     cfg,
		heap:    heap,
		bufMu:   e.Sched.NewMutex("BufferContent"),
		ckptMu:  e.Sched.NewMutex("CheckpointLock"),
		pages:   make([]*page, cfg.Pages),
		nextXid: nextXid,
	}

	db.ioCV = e.Sched.NewCond("BufferIO", db.bufMu)

	// Redo. Pages are read on first use; a page restored from a full-page
	// image is never read, which is how a torn page is repaired.
	r, err = wal.NewReader(e, cfg.WAL, redo, wal.InvalidLSN)
	if err != nil {
		e.Panicf("%v", err)
	}
	e.Logf("redo starts at %s", redo)
	for {
		rec, ok, err := r.Next()
		if err != nil {
			e.Panicf("could not read WAL during recovery: %v", err)
		}
		if !ok {
			break
		}
		st.Records++
		st.BytesRead += rec.EncodedSize()
		if rec.Xid >= db.nextXid {
			db.nextXid = rec.Xid + 1
		}
		if rec.Rmid != rmSkel {
			e.Panicf("unknown resource manager %d at %s", rec.Rmid, rec.LSN)
		}
		switch rec.Info {
		case infoCkpt:
			if _, nx, err := decodeCheckpoint(rec); err == nil && nx > db.nextXid {
				db.nextXid = nx
			}
		case infoCommit:
			n, err := db.redoCommit(rec, r.End())
			if err != nil {
				e.Panicf("redo of commit at %s failed: %v", rec.LSN, err)
			}
			st.Commits++
			st.FPIs += n
		default:
			e.Panicf("unknown record type %d at %s", rec.Info, rec.LSN)
		}
		e.Inject("startup-after-redo-record")
	}
	st.End, st.EndReason = r.End(), fmt.Sprint(r.EndErr)
	last := r.Last()
	r.Close()
	e.Logf("redo done at %s (%d records): %s", st.End, st.Records, st.EndReason)

	for pg := range db.pages {
		if db.pages[pg] == nil {
			if err := db.loadPage(pg); err != nil {
				e.Panicf("%v", err)
			}
		}
	}
	if last == wal.InvalidLSN || st.End < ctl.checkpoint {
		e.Panicf("WAL ends at %s, before the checkpoint at %s", st.End, ctl.checkpoint)
	}
	if db.wal, err = wal.Open(e, cfg.WAL, st.End, last); err != nil {
		e.Panicf("%v", err)
	}
	db.redoPtr = redo
	// The end-of-recovery checkpoint (CreateEndOfRecoveryRecord's
	// checkpoint variant): makes redone pages durable before new WAL.
	if err := db.Checkpoint(); err != nil {
		e.Panicf("end-of-recovery checkpoint failed: %v", err)
	}
	return db, st, nil
}

// redoCommit replays one commit record. end is the record's end LSN, which
// is the LSN its changes stamp on pages. Full-page images are restored
// unconditionally (RestoreBlockImage); other changes apply only to pages
// older than the record (BLK_NEEDS_REDO), which makes redo idempotent.
func (db *DB) redoCommit(rec wal.Record, end wal.LSN) (fpis int, err error) {
	c, err := decodeCommit(rec.Payload)
	if err != nil {
		return 0, err
	}
	for _, pg := range c.fpiOrd {
		if pg >= len(db.pages) {
			return 0, fmt.Errorf("full-page image for block %d beyond %d pages", pg, len(db.pages))
		}
		p, err := decodePage(c.fpis[pg], pg)
		if err != nil {
			return 0, fmt.Errorf("bad full-page image: %w", err)
		}
		p.lsn = end
		p.dirty = true
		db.pages[pg] = &p
		fpis++
	}
	for _, w := range c.writes {
		pg, slot, err := db.locate(w.key)
		if err != nil {
			return 0, err
		}
		if db.pages[pg] == nil {
			if err := db.loadPage(pg); err != nil {
				return 0, err
			}
		}
		p := db.pages[pg]
		if p.lsn < end {
			p.vals[slot] = w.val
			p.dirty = true
		}
	}
	for _, w := range c.writes {
		pg, _, _ := db.locate(w.key)
		if p := db.pages[pg]; p.lsn < end {
			p.lsn = end
		}
	}
	return fpis, nil
}

func (db *DB) readPage(pg int) (page, error) {
	b := make([]byte, PageSize)
	n, err := db.heap.ReadAt(b, int64(pg)*PageSize)
	if err != nil && n == 0 {
		// Beyond the end of the file: never written, a zero page.
		size, serr := db.heap.Size()
		if serr == nil && size <= int64(pg)*PageSize {
			return page{}, nil
		}
		return page{}, fmt.Errorf("could not read block %d: %w", pg, err)
	}
	// A short read at the end of the file leaves zeros, as an extension.
	return decodePage(b, pg)
}

func (db *DB) loadPage(pg int) error {
	p, err := db.readPage(pg)
	if err != nil {
		return err
	}
	db.pages[pg] = &p
	return nil
}

// SelfCheck verifies, after recovery, that every page on disk passes its
// checksum and equals the page in memory if it is clean.
func (db *DB) SelfCheck() error {
	for pg := range db.pages {
		disk, err := db.readPage(pg)
		if err != nil {
			return err
		}
		db.bufMu.Lock()
		mem := *db.pages[pg]
		db.bufMu.Unlock()
		if !mem.dirty && disk.vals != mem.vals {
			return fmt.Errorf("block %d: clean buffer differs from disk", pg)
		}
	}
	return nil
}

// CommittedWrites scans the whole durable WAL and returns, per key, the
// value of the last commit record that wrote it. Checkers use it to prove
// that recovery kept exactly what the WAL says committed: nothing without a
// commit record, everything with one. It must run after recovery, when the
// WAL holds exactly the valid records (the skeleton never removes WAL).
func CommittedWrites(e *env.Env, cfg Config) (map[uint64]uint64, error) {
	first, err := wal.FirstSegmentStart(e, cfg.WAL)
	if err != nil {
		return nil, err
	}
	if first != wal.FirstLSN {
		return nil, fmt.Errorf("WAL before %s was removed: the history is incomplete", first)
	}
	r, err := wal.NewReader(e, cfg.WAL, first, wal.InvalidLSN)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make(map[uint64]uint64)
	for {
		rec, ok, err := r.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		if rec.Rmid != rmSkel || rec.Info != infoCommit {
			continue
		}
		c, err := decodeCommit(rec.Payload)
		if err != nil {
			return nil, fmt.Errorf("commit record at %s: %w", rec.LSN, err)
		}
		for _, w := range c.writes {
			out[w.key] = w.val
		}
	}
}
