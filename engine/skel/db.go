// Package skel is the walking skeleton's storage engine: a fixed array of
// key/value heap pages behind the real WAL, with full-page images,
// WAL-before-data, checkpoints and startup redo. It is small but it really
// recovers; the full storage engine (pages with tuples, shared buffers with
// replacement, clog, MVCC, B-tree) replaces it.
//
// It owns the heap file, the control file and the in-memory pages. It must
// never touch the world except through its *env.Env.
//
// Keys are integers in [0, Pages*SlotsPerPage); a key lives on page
// key%Pages, in a slot scattered across the page by a fixed stride, so that
// neighbouring keys sit in different 512-byte sectors and a torn page write
// really mixes old and new rows, as it does on a full PostgreSQL page. A value of 0 means "absent". A transaction
// buffers its writes privately and publishes them in its commit record, so
// nothing of a transaction reaches a page before its commit record is in
// the WAL buffers (no undo is ever needed).
package skel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

const (
	heapPath = "base/heap"
	// Resource manager and record types of the skeleton.
	rmSkel       = 1
	infoCommit   = 1
	infoCkpt     = 2
	fpiEntrySize = 4 + PageSize
)

// Config is the engine's configuration.
type Config struct {
	Pages               int
	BgwriterDelay       time.Duration
	BgwriterLRUMaxPages int
	CheckpointTimeout   time.Duration
	WAL                 wal.Config
	Bugs                bugs.Set
}

// DefaultConfig mirrors PostgreSQL's defaults where there is one
// (bgwriter_delay 200ms, bgwriter_lru_maxpages 100, checkpoint_timeout 5min).
func DefaultConfig() Config {
	return Config{
		Pages:               8,
		BgwriterDelay:       200 * time.Millisecond,
		BgwriterLRUMaxPages: 100,
		CheckpointTimeout:   5 * time.Minute,
		WAL:                 wal.DefaultConfig(),
	}
}

// ErrKeyRange is returned for a key the heap cannot hold.
var ErrKeyRange = errors.New("key out of range")

// ErrTooLarge is a transaction whose commit record would not fit in a WAL
// segment (SQLSTATE 54000, program_limit_exceeded).
var ErrTooLarge = errors.New("program_limit_exceeded")

// MaxWrites is the most writes one transaction may make: its commit record,
// with a full-page image of every page it touches, must fit in a segment.
func (c Config) MaxWrites() int {
	room := c.WAL.MaxRecordSize() - wal.HeaderSize - 4
	// n writes touch at most min(n, Pages) pages, each with an image.
	if n := room / (16 + fpiEntrySize); n < c.Pages {
		return n
	}
	return (room - fpiEntrySize*c.Pages) / 16
}

// DB is one running instance.
type DB struct {
	e    *env.Env
	cfg  Config
	wal  *wal.WAL
	heap env.File

	bufMu env.Mutex // guards pages (the buffer mapping and content locks)
	ioCV  env.Cond  // signalled when a page's write finishes (WaitIO)
	pages []*page

	// Guarded by the WAL insert lock (set inside WithInsertLock/InsertWith).
	redoPtr wal.LSN
	nextXid uint64

	ckptMu env.Mutex // one checkpoint at a time (CheckpointLock)
}

func (c Config) validate() error {
	if c.Pages <= 0 || c.Pages > 1<<16 {
		return fmt.Errorf("pages must be in [1, 65536], got %d", c.Pages)
	}
	if c.BgwriterDelay <= 0 || c.CheckpointTimeout <= 0 || c.BgwriterLRUMaxPages < 0 {
		return errors.New("bgwriter_delay and checkpoint_timeout must be positive")
	}
	return c.WAL.Validate()
}

// MaxKey is one past the largest key.
func (db *DB) MaxKey() uint64 { return uint64(db.cfg.Pages) * SlotsPerPage }

func (db *DB) locate(key uint64) (pg, slot int, err error) {
	if key >= db.MaxKey() {
		return 0, 0, fmt.Errorf("%w: %d", ErrKeyRange, key)
	}
	return int(key % uint64(db.cfg.Pages)), scatterSlot(key / uint64(db.cfg.Pages)), nil
}

// slotStride is prime and does not divide SlotsPerPage, so i -> i*stride
// mod SlotsPerPage is a bijection on the slots of a page.
const slotStride = 97

func scatterSlot(i uint64) int { return int(i * slotStride % SlotsPerPage) }

// Get returns the current value of key (0: absent).
func (db *DB) Get(key uint64) (uint64, error) {
	pg, slot, err := db.locate(key)
	if err != nil {
		return 0, err
	}
	db.bufMu.Lock()
	v := db.pages[pg].vals[slot]
	db.bufMu.Unlock()
	return v, nil
}

// Tx is a transaction: its writes stay private until Commit.
type Tx struct {
	db     *DB
	writes []kv
	done   bool
}

type kv struct{ key, val uint64 }

// Begin starts a transaction.
func (db *DB) Begin() *Tx { return &Tx{db: db} }

// Put records a write of val (non-zero) to key.
func (tx *Tx) Put(key, val uint64) error {
	if tx.done {
		return errors.New("transaction already ended")
	}
	if val == 0 {
		return errors.New("value 0 is reserved for absent")
	}
	if _, _, err := tx.db.locate(key); err != nil {
		return err
	}
	if len(tx.writes)+1 > tx.db.cfg.MaxWrites() {
		return fmt.Errorf("%w: more than %d writes in one transaction", ErrTooLarge, tx.db.cfg.MaxWrites())
	}
	tx.writes = append(tx.writes, kv{key, val})
	return nil
}

// Rollback discards the transaction.
func (tx *Tx) Rollback() { tx.done = true; tx.writes = nil }

// Commit makes the transaction's writes durable and visible, as
// RecordTransactionCommit does with synchronous_commit=on: insert the commit
// record (applying the changes to pages inside the same critical section),
// XLogFlush to its end, and only then return — the caller acknowledges.
func (tx *Tx) Commit() (xid uint64, err error) {
	if tx.done {
		return 0, errors.New("transaction already ended")
	}
	tx.done = true
	if len(tx.writes) == 0 {
		return 0, nil
	}
	db := tx.db
	var rec wal.Record
	var touched []int
	_, end := db.wal.InsertWith(func() *wal.Record {
		xid = db.nextXid
		db.nextXid++
		db.bufMu.Lock()
		rec, touched = db.applyCommit(xid, tx.writes)
		return &rec
	}, func(_, end wal.LSN) {
		for _, pg := range touched {
			db.pages[pg].lsn = end
		}
		db.bufMu.Unlock()
	})
	db.e.Inject("backend-after-commit-insert")
	if !db.cfg.Bugs.Has(bugs.AckBeforeFlush) {
		db.wal.Flush(end)
	}
	db.e.Inject("backend-after-xlogflush")
	return xid, nil
}

// applyCommit changes the pages and builds the commit record. It runs
// under the WAL insert lock with the buffer lock held, so the full-page-image
// decision against the REDO pointer is consistent with the record's position
// (XLogInsertRecord re-checks RedoRecPtr under the insertion lock for the
// same reason); the caller stamps the record's end LSN on the touched pages
// once the record is placed, before releasing the buffer lock. Each page's
// first change after the REDO pointer logs its whole image, so that a torn
// write of it is repaired by redo.
func (db *DB) applyCommit(xid uint64, writes []kv) (wal.Record, []int) {
	var fpis, touched []int
	for _, w := range writes {
		pg, _, _ := db.locate(w.key)
		if contains(touched, pg) {
			continue
		}
		touched = append(touched, pg)
		if db.pages[pg].lsn <= db.redoPtr && !db.cfg.Bugs.Has(bugs.FullPageWritesOff) {
			fpis = append(fpis, pg)
		}
	}
	for _, w := range writes {
		pg, slot, _ := db.locate(w.key)
		p := db.pages[pg]
		p.vals[slot] = w.val
		p.dirty = true
		p.justDirtied = true
	}
	payloadLen := 2 + 16*len(writes) + 2 + fpiEntrySize*len(fpis)
	payload := make([]byte, payloadLen)
	binary.LittleEndian.PutUint16(payload, uint16(len(writes)))
	off := 2
	for _, w := range writes {
		binary.LittleEndian.PutUint64(payload[off:], w.key)
		binary.LittleEndian.PutUint64(payload[off+8:], w.val)
		off += 16
	}
	binary.LittleEndian.PutUint16(payload[off:], uint16(len(fpis)))
	off += 2
	for _, pg := range fpis {
		binary.LittleEndian.PutUint32(payload[off:], uint32(pg))
		// The image's pd_lsn is stale; redo stamps the record's end LSN
		// on a restored image, as RestoreBlockImage's caller does.
		db.pages[pg].encode(payload[off+4 : off+4+PageSize])
		off += fpiEntrySize
	}
	if off != payloadLen {
		panic("skel: commit payload length mismatch")
	}
	return wal.Record{Xid: xid, Rmid: rmSkel, Info: infoCommit, Payload: payload}, touched
}

func contains(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

type commitRec struct {
	writes []kv
	fpis   map[int][]byte
	fpiOrd []int
}

func decodeCommit(b []byte) (commitRec, error) {
	var c commitRec
	if len(b) < 2 {
		return c, errors.New("short commit record")
	}
	n := int(binary.LittleEndian.Uint16(b))
	off := 2
	if len(b) < off+16*n+2 {
		return c, errors.New("short commit record")
	}
	for i := 0; i < n; i++ {
		c.writes = append(c.writes, kv{binary.LittleEndian.Uint64(b[off:]), binary.LittleEndian.Uint64(b[off+8:])})
		off += 16
	}
	nf := int(binary.LittleEndian.Uint16(b[off:]))
	off += 2
	if len(b) != off+fpiEntrySize*nf {
		return c, errors.New("commit record length mismatch")
	}
	c.fpis = make(map[int][]byte, nf)
	for i := 0; i < nf; i++ {
		pg := int(binary.LittleEndian.Uint32(b[off:]))
		c.fpis[pg] = b[off+4 : off+4+PageSize]
		c.fpiOrd = append(c.fpiOrd, pg)
		off += fpiEntrySize
	}
	return c, nil
}

// InitDB creates a new cluster (initdb): directories, an empty heap, a WAL
// with a first checkpoint record, and the control file pointing at it.
// Every file and directory entry is fsynced before it returns.
func InitDB(e *env.Env, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	for _, d := range []string{"global", "base"} {
		if err := e.Disk.MkdirAll(d); err != nil {
			return err
		}
	}
	if err := wal.Create(e, cfg.WAL); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	f, err := e.Disk.Open(heapPath, env.OpenCreateExcl)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	f.Close()
	w, err := wal.Open(e, cfg.WAL, wal.FirstLSN, wal.InvalidLSN)
	if err != nil {
		return err
	}
	rec := checkpointRecord(wal.FirstLSN, 1)
	start, end := w.Insert(&rec)
	w.Flush(end)
	w.Close()
	if err := writeControl(e, controlData{checkpoint: start, redo: wal.FirstLSN}); err != nil {
		return err
	}
	for _, d := range []string{"", "global", "base"} {
		if err := e.Disk.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func checkpointRecord(redo wal.LSN, nextXid uint64) wal.Record {
	payload := make([]byte, 16)
	binary.LittleEndian.PutUint64(payload, uint64(redo))
	binary.LittleEndian.PutUint64(payload[8:], nextXid)
	return wal.Record{Rmid: rmSkel, Info: infoCkpt, Payload: payload}
}

func decodeCheckpoint(rec wal.Record) (redo wal.LSN, nextXid uint64, err error) {
	if rec.Rmid != rmSkel || rec.Info != infoCkpt || len(rec.Payload) != 16 {
		return 0, 0, errors.New("not a checkpoint record")
	}
	return wal.LSN(binary.LittleEndian.Uint64(rec.Payload)), binary.LittleEndian.Uint64(rec.Payload[8:]), nil
}
