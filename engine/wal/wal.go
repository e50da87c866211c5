package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pgdst/pgdst/engine/env"
)

// The walking skeleton keeps the whole WAL stream in one file whose byte
// offset is the LSN; segments (and their recycling) arrive with the storage
// engine. The file starts with a small header so that LSN 0 stays invalid.
const (
	Dir         = "pg_wal"
	FileName    = "pg_wal/wal"
	FileHdrSize = 64
	// FirstLSN is where the first record of a fresh WAL goes.
	FirstLSN LSN = FileHdrSize
	// readChunk bounds each read when scanning WAL.
	readChunk = 64 << 10
)

var fileMagic = [8]byte{'P', 'G', 'D', 'S', 'T', 'W', 'A', 'L'}

// WAL is the log of one running node: its in-memory WAL buffers, the insert
// position, and how far the log is written and flushed.
//
// Locking mirrors PostgreSQL's: insertMu is the WAL insertion lock (reserving
// space and copying the record into the buffers), writeMu is WALWriteLock
// (writing and fsyncing). Insert never waits for I/O.
type WAL struct {
	e        *env.Env
	f        env.File
	insertMu env.Mutex
	writeMu  env.Mutex

	// Guarded by insertMu.
	buf       []byte // stream bytes from bufStart to insertLSN
	bufStart  LSN
	insertLSN LSN // where the next record goes
	prevLSN   LSN // the last inserted record

	written LSN // guarded by writeMu
	flushed LSN // written under writeMu and insertMu; read under either
}

// Create makes a fresh, empty WAL (initdb) and fsyncs it and its directory.
func Create(e *env.Env) error {
	if err := e.Disk.MkdirAll(Dir); err != nil {
		return err
	}
	f, err := e.Disk.Open(FileName, env.OpenCreateExcl)
	if err != nil {
		return err
	}
	hdr := make([]byte, FileHdrSize)
	copy(hdr, fileMagic[:])
	binary.LittleEndian.PutUint32(hdr[8:], 1) // format version
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return e.Disk.SyncDir(Dir)
}

// Open opens the WAL for appending at end, the end of valid WAL that
// recovery found, after last (the LSN of the last valid record, or
// InvalidLSN for an empty log). Whatever follows end in the file is
// invalid and is cut away and fsynced before anything new is written, so
// that a stale record beyond the old end can never be read as the
// continuation of new records. (PostgreSQL zeroes the rest of the last WAL
// page in StartupXLOG and relies on xlp_pageaddr checks for later pages;
// one file without page headers needs the truncation instead.)
func Open(e *env.Env, end, last LSN) (*WAL, error) {
	if end < FirstLSN || uint64(end)%Align != 0 {
		return nil, fmt.Errorf("wal: invalid end of WAL %s", end)
	}
	f, err := e.Disk.Open(FileName, env.OpenExisting)
	if err != nil {
		return nil, fmt.Errorf("wal: could not open %s: %w", FileName, err)
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size != int64(end) {
		if err := f.Truncate(int64(end)); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			env.Panicf("could not fsync file %q: %v", FileName, err)
		}
	}
	return &WAL{
		e:         e,
		f:         f,
		insertMu:  e.Sched.NewMutex("WALInsertLock"),
		writeMu:   e.Sched.NewMutex("WALWriteLock"),
		bufStart:  end,
		insertLSN: end,
		prevLSN:   last,
		written:   end,
		flushed:   end,
	}, nil
}

// Insert appends a record to the WAL buffers and returns its start LSN and
// the end LSN a commit must flush to. It does no I/O (XLogInsert).
func (w *WAL) Insert(rec *Record) (start, end LSN) {
	w.insertMu.Lock()
	start, end = w.insertLocked(rec)
	w.insertMu.Unlock()
	return start, end
}

// InsertWith runs fn with the insert lock held, then inserts the record fn
// returns. Callers that must order a page change with its record (the page
// LSN, a full-page-image decision against the REDO pointer) do both here.
func (w *WAL) InsertWith(fn func(next LSN) *Record) (start, end LSN) {
	w.insertMu.Lock()
	rec := fn(w.insertLSN)
	start, end = w.insertLocked(rec)
	w.insertMu.Unlock()
	return start, end
}

// WithInsertLock runs fn with the insert lock held and the position the next
// record will take. The checkpointer takes its REDO pointer this way, so
// that no record can slip between reading the position and publishing it.
func (w *WAL) WithInsertLock(fn func(next LSN)) {
	w.insertMu.Lock()
	fn(w.insertLSN)
	w.insertMu.Unlock()
}

func (w *WAL) insertLocked(rec *Record) (start, end LSN) {
	start = w.insertLSN
	rec.Prev = w.prevLSN
	rec.LSN = start
	w.buf = rec.AppendEncoded(w.buf)
	w.prevLSN = start
	w.insertLSN = w.bufStart + LSN(len(w.buf))
	if w.insertLSN <= start {
		panic("wal: insert position did not advance")
	}
	return start, w.insertLSN
}

// InsertLSN is the position the next record will take (GetXLogInsertRecPtr).
func (w *WAL) InsertLSN() LSN {
	w.insertMu.Lock()
	l := w.insertLSN
	w.insertMu.Unlock()
	return l
}

// Flushed is how far the WAL is known durable (GetFlushRecPtr).
func (w *WAL) Flushed() LSN {
	w.insertMu.Lock()
	l := w.flushed
	w.insertMu.Unlock()
	return l
}

// NeedsFlush reports whether lsn is beyond the durable WAL (XLogNeedsFlush).
func (w *WAL) NeedsFlush(lsn LSN) bool { return lsn > w.Flushed() }

// Flush writes and fsyncs the WAL at least up to upto (XLogFlush). It flushes
// everything inserted so far, which also serves concurrent committers (group
// commit). A failed write or fsync is a PANIC, as in XLogWrite and
// issue_xlog_fsync: after a failed fsync the kernel may have dropped the
// dirty pages, so retrying could report durability that does not exist.
func (w *WAL) Flush(upto LSN) {
	if !w.NeedsFlush(upto) {
		return
	}
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	if upto <= w.flushed {
		return // another process flushed it while we waited
	}
	w.insertMu.Lock()
	from := w.written
	to := w.insertLSN
	data := w.buf[from-w.bufStart : to-w.bufStart]
	w.insertMu.Unlock()
	if upto > to {
		panic(fmt.Sprintf("wal: flush request %s beyond insert position %s", upto, to))
	}
	// The slice stays valid: Insert only appends (possibly reallocating
	// w.buf, but never changing bytes already in it), and only this
	// function, under writeMu, trims the front.
	w.e.Inject("walwriter-before-write")
	if _, err := w.f.WriteAt(data, int64(from)); err != nil {
		env.Panicf("could not write to WAL file %q at %s: %v", FileName, from, err)
	}
	w.written = to
	w.e.Inject("walwriter-before-fsync")
	if err := w.f.Sync(); err != nil {
		env.Panicf("could not fsync WAL file %q: %v", FileName, err)
	}
	w.e.Inject("walwriter-after-fsync")

	w.insertMu.Lock()
	w.flushed = to
	drop := int(w.flushed - w.bufStart)
	w.buf = append(w.buf[:0:0], w.buf[drop:]...)
	w.bufStart = w.flushed
	w.insertMu.Unlock()
}

// Close closes the WAL file. Unflushed records are lost, as at a crash.
func (w *WAL) Close() error { return w.f.Close() }

// Reader scans the WAL from a start LSN to the end of valid WAL.
type Reader struct {
	f     env.File
	size  int64
	next  LSN
	prev  LSN
	buf   []byte
	bufAt LSN
	// EndErr is why the scan ended (nil until it has).
	EndErr error
}

// NewReader opens the WAL for reading from start. prev is the LSN of the
// record before start when known (InvalidLSN otherwise: the first record's
// prev-link is then not checked).
func NewReader(e *env.Env, start, prev LSN) (*Reader, error) {
	f, err := e.Disk.Open(FileName, env.OpenExisting)
	if err != nil {
		return nil, fmt.Errorf("wal: could not open %s: %w", FileName, err)
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, FileHdrSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("wal: could not read WAL file header: %w", err)
	}
	if [8]byte(hdr[:8]) != fileMagic {
		return nil, errors.New("wal: WAL file has a bad magic number")
	}
	return &Reader{f: f, size: size, next: start, prev: prev}, nil
}

// Next returns the next valid record, or false at the end of valid WAL
// (with EndErr saying why). An I/O error is returned as an error.
func (r *Reader) Next() (Record, bool, error) {
	if r.EndErr != nil {
		return Record{}, false, nil
	}
	if int64(r.next)+4 > r.size {
		r.EndErr = io.EOF
		return Record{}, false, nil
	}
	b, err := r.window(r.next, HeaderSize)
	if err != nil {
		return Record{}, false, err
	}
	need := HeaderSize
	if len(b) >= 4 {
		if total := binary.LittleEndian.Uint32(b); total >= HeaderSize && total <= RecordSizeMax {
			need = int(total)
		}
	}
	if b, err = r.window(r.next, need); err != nil {
		return Record{}, false, err
	}
	rec, err := Decode(b, r.next, r.prev)
	if err != nil {
		r.EndErr = err
		return Record{}, false, nil
	}
	r.prev = rec.LSN
	r.next = rec.LSN + LSN(rec.EncodedSize())
	// Copy: the window is reused.
	rec.Payload = append([]byte(nil), rec.Payload...)
	return rec, true, nil
}

// End is the LSN after the last valid record read so far.
func (r *Reader) End() LSN { return r.next }

// Last is the LSN of the last valid record read (InvalidLSN if none).
func (r *Reader) Last() LSN { return r.prev }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }

// window returns up to n bytes of the file at lsn (fewer at the end of file).
func (r *Reader) window(lsn LSN, n int) ([]byte, error) {
	if lsn >= r.bufAt && uint64(lsn)+uint64(n) <= uint64(r.bufAt)+uint64(len(r.buf)) {
		return r.buf[lsn-r.bufAt:], nil
	}
	size := readChunk
	if n > size {
		size = n
	}
	if int64(lsn)+int64(size) > r.size {
		size = int(r.size - int64(lsn))
	}
	if size < 0 {
		size = 0
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	got, err := r.f.ReadAt(r.buf, int64(lsn))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("wal: could not read WAL at %s: %w", lsn, err)
	}
	r.buf = r.buf[:got]
	r.bufAt = lsn
	return r.buf, nil
}
