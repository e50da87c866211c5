package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pgdst/pgdst/engine/env"
)

// readChunk bounds each read when scanning WAL.
const readChunk = 64 << 10

// WAL is the log of one running node: its in-memory WAL buffers, the insert
// position, and how far the log is written and flushed.
//
// Locking mirrors PostgreSQL's: insertMu is the WAL insertion lock (reserving
// space and copying the record into the buffers), writeMu is WALWriteLock
// (writing and fsyncing). Insert never waits for I/O.
type WAL struct {
	e        *env.Env
	cfg      Config
	insertMu env.Mutex
	writeMu  env.Mutex

	// Guarded by insertMu. buf mirrors the stream from bufStart to
	// insertLSN, including the (unused) bytes of segment headers and of the
	// space after switch records, so that LSN arithmetic stays trivial.
	buf       []byte
	bufStart  LSN
	insertLSN LSN // where the next record goes
	prevLSN   LSN // the last inserted record
	// switchEnds are the ends of switch records not yet flushed: the
	// bytes after each, to its segment's end, are padding that is never
	// written (XLogWrite does not write the rest of a switched segment).
	switchEnds []LSN

	written LSN // guarded by writeMu
	flushed LSN // written under writeMu and insertMu; read under either

	// The open segment, guarded by writeMu.
	seg     uint64
	segFile env.File

	// flushCV wakes the WAL senders waiting for a flush (flushwait.go);
	// nil until one waits. Guarded by insertMu.
	flushCV env.Cond

	// tli names the segments this WAL writes (0: timeline 1; restore.go).
	tli uint32
}

// Create makes a fresh WAL (initdb): pg_wal and its first segment, durable.
func Create(e *env.Env, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := e.Disk.MkdirAll(Dir); err != nil {
		return err
	}
	if err := e.Disk.SyncDir(""); err != nil {
		return err
	}
	if c.ArchiveMode {
		if err := NewArchiveStatus(e, c).makeDir(); err != nil {
			return err
		}
	}
	f, err := createSegment(e, c, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// Open opens the WAL for appending at end, the end of valid WAL that
// recovery found, after last (the LSN of the last valid record, or
// InvalidLSN for an empty log). Whatever follows end is invalid: the rest of
// end's segment is cut away and later segments are removed, all durably,
// before anything new is written, so that a stale record can never be read
// as the continuation of new ones. (PostgreSQL zeroes the rest of the last
// WAL page in StartupXLOG and relies on xlp_pageaddr for later pages.)
func Open(e *env.Env, c Config, end, last LSN) (*WAL, error) {
	return OpenOnTimeline(e, c, 1, end, last)
}

// OpenOnTimeline is Open for a WAL on timeline tli: its segments are
// named with tli (XLogFileName), the segment holding end must be there
// under that name already (XLogInitNewTimeline made it, restore.go) or is
// created, and segments after it are removed whatever their timeline.
func OpenOnTimeline(e *env.Env, c Config, tli uint32, end, last LSN) (*WAL, error) {
	if tli != 1 {
		return openOnNewTimeline(e, c, tli, end, last)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if end < FirstLSN || uint64(end)%Align != 0 || c.segOff(end) < SegHdrSize {
		return nil, fmt.Errorf("wal: invalid end of WAL %s", end)
	}
	seg := c.segOf(end)
	segs, err := listSegments(e, c)
	if err != nil {
		return nil, err
	}
	removed := false
	for _, s := range segs {
		if s > seg {
			if err := e.Disk.Remove(SegmentPath(c, s)); err != nil {
				return nil, err
			}
			removed = true
		}
	}
	var f env.File
	if len(segs) == 0 || segs[len(segs)-1] < seg {
		// The end is at the start of a segment that was never created (the
		// previous one ended with a switch record).
		if f, err = createSegment(e, c, seg); err != nil {
			return nil, err
		}
	} else if f, err = e.Disk.Open(SegmentPath(c, seg), env.OpenExisting); err != nil {
		return nil, fmt.Errorf("wal: could not open segment: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size != c.segOff(end) {
		if err := f.Truncate(c.segOff(end)); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			e.Panicf("could not fsync file %q: %v", f.Path(), err)
		}
	}
	if removed {
		if err := e.Disk.SyncDir(Dir); err != nil {
			e.Panicf("could not fsync directory %q: %v", Dir, err)
		}
	}
	if c.ArchiveMode {
		// Segments before seg are complete: re-notify any whose .ready was
		// lost (XLogArchiveCheckDone), drop stale status files.
		if segs, err = listSegments(e, c); err == nil {
			err = renotify(e, c, segs, seg)
		}
		if err != nil {
			e.Logf("could not repair archive status: %v", err)
		}
	}
	return &WAL{
		e:         e,
		cfg:       c,
		insertMu:  e.Sched.NewMutex("WALInsertLock"),
		writeMu:   e.Sched.NewMutex("WALWriteLock"),
		bufStart:  end,
		insertLSN: end,
		prevLSN:   last,
		written:   end,
		flushed:   end,
		seg:       seg,
		segFile:   f,
	}, nil
}

// Config is the WAL's configuration.
func (w *WAL) Config() Config { return w.cfg }

// Insert appends a record to the WAL buffers and returns its start LSN and
// the end LSN a commit must flush to. It does no I/O (XLogInsert).
func (w *WAL) Insert(rec *Record) (start, end LSN) {
	w.insertMu.Lock()
	start, end = w.insertLocked(rec)
	w.insertMu.Unlock()
	return start, end
}

// InsertWith inserts the record build returns and then calls placed with
// its start and end LSN, both under the insert lock. Callers that must
// order a page change with its record use both: build decides full-page
// images against the REDO pointer; placed stamps the record's end LSN on
// the page (PageSetLSN after XLogInsert, with the buffer still locked).
// The page must be changed and its buffer marked dirty before the call
// (the transam README's "Write-Ahead Log Coding"), so that a checkpoint
// that takes its REDO pointer after the record finds the buffer dirty.
// placed may be nil.
func (w *WAL) InsertWith(build func() *Record, placed func(start, end LSN)) (start, end LSN) {
	w.insertMu.Lock()
	rec := build()
	start, end = w.insertLocked(rec)
	if placed != nil {
		placed(start, end)
	}
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

// makeRoomLocked ends the current segment with a switch record if a record
// of size bytes would not fit before the room a switch record needs.
func (w *WAL) makeRoomLocked(size uint64) {
	if size > uint64(w.cfg.MaxRecordSize()) {
		panic(fmt.Sprintf("wal: record of %d bytes exceeds the maximum %d", size, w.cfg.MaxRecordSize()))
	}
	segEnd := w.cfg.segStart(w.cfg.segOf(w.insertLSN) + 1)
	if uint64(w.insertLSN)+size <= uint64(segEnd)-switchSize {
		return
	}
	w.switchLocked()
}

// switchLocked ends the current segment with a switch record and skips
// the rest of it and the next segment's header (switch.go's
// SwitchSegment, and makeRoomLocked when a record does not fit).
func (w *WAL) switchLocked() {
	segEnd := w.cfg.segStart(w.cfg.segOf(w.insertLSN) + 1)
	sw := Record{Rmid: RMXLog, Info: InfoSwitch}
	_, swEnd := w.appendLocked(&sw)
	w.switchEnds = append(w.switchEnds, swEnd)
	// The rest of the segment and the next segment's header are skipped.
	// The padding is most of a segment when archive_timeout forces the
	// switch, so it is made in place: one allocation at most (the buffer
	// keeps its capacity after a flush compacts it), zeroed, not copied.
	pad := int(segEnd-w.insertLSN) + SegHdrSize
	n := len(w.buf)
	w.buf = slices.Grow(w.buf, pad)[:n+pad]
	clear(w.buf[n:])
	w.insertLSN = segEnd + SegHdrSize
}

func (w *WAL) insertLocked(rec *Record) (start, end LSN) {
	w.makeRoomLocked(rec.EncodedSize())
	return w.appendLocked(rec)
}

func (w *WAL) appendLocked(rec *Record) (start, end LSN) {
	start = w.insertLSN
	rec.Prev = w.prevLSN
	rec.LSN = start
	w.buf = rec.AppendEncoded(w.buf)
	w.prevLSN = start
	w.insertLSN = w.bufStart + LSN(len(w.buf))
	if w.insertLSN <= start || w.cfg.segOf(w.insertLSN-1) != w.cfg.segOf(start) {
		panic("wal: record crosses a segment boundary")
	}
	w.e.WALInserted(uint64(start), uint64(w.insertLSN), rec.Rmid, rec.Xid)
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
	switches := append([]LSN(nil), w.switchEnds...)
	// The slice stays valid: Insert only appends (possibly reallocating
	// w.buf, but never changing bytes already in it), and only this
	// function, under writeMu and after its last use of data, moves the
	// bytes (compacting the front away).
	data := w.buf[from-w.bufStart : to-w.bufStart]
	w.insertMu.Unlock()
	if upto > to {
		panic(fmt.Sprintf("wal: flush request %s beyond insert position %s", upto, to))
	}
	w.e.Inject("walwriter-before-write")
	for pos := from; pos < to; {
		seg := w.cfg.segOf(pos)
		segEnd := w.cfg.segStart(seg + 1)
		chunkEnd := min(to, segEnd)
		w.openSegment(seg)
		lo := pos
		if w.cfg.segOff(lo) < SegHdrSize {
			lo = w.cfg.segStart(seg) + SegHdrSize // never overwrite the header
		}
		hi := chunkEnd
		for _, sw := range switches {
			if sw > lo && sw <= hi && w.cfg.segOf(sw-1) == seg {
				hi = sw // padding after a switch record is not written
			}
		}
		if lo < hi {
			chunk := data[lo-from : hi-from]
			if _, err := w.segFile.WriteAt(chunk, w.cfg.segOff(lo)); err != nil {
				w.e.Panicf("could not write to WAL segment %q at %s: %v", w.segFile.Path(), lo, err)
			}
		}
		if chunkEnd == segEnd || chunkEnd == to {
			w.e.Inject("walwriter-before-fsync")
			if err := w.segFile.Sync(); err != nil {
				w.e.Sometimes("wal-fsync-panic")
				w.e.Panicf("could not fsync WAL segment %q: %v", w.segFile.Path(), err)
			}
			if chunkEnd == segEnd && w.cfg.ArchiveMode {
				w.notifyArchive(seg) // XLogArchiveNotifySeg: seg is complete
			}
		}
		pos = chunkEnd
	}
	w.written = to
	w.e.Inject("walwriter-after-fsync")

	w.insertMu.Lock()
	w.flushed = to
	for len(w.switchEnds) > 0 && w.switchEnds[0] <= to {
		w.switchEnds = w.switchEnds[1:]
	}
	// Compact in place: this flusher is done with data, no other flusher
	// runs (writeMu), and inserters touch w.buf only under insertMu.
	drop := int(w.flushed - w.bufStart)
	w.buf = w.buf[:copy(w.buf, w.buf[drop:])]
	w.bufStart = w.flushed
	if w.flushCV != nil {
		w.flushCV.Broadcast() // WalSndWakeup
	}
	w.insertMu.Unlock()
	w.e.WALFlushed(uint64(to))
}

// openSegment makes seg the open segment, creating it durably if needed.
func (w *WAL) openSegment(seg uint64) {
	if w.segFile != nil && w.seg == seg {
		return
	}
	if w.segFile != nil {
		w.e.Sometimes("wal-segment-switch")
		w.segFile.Close()
		w.segFile = nil
	}
	f, err := w.e.Disk.Open(w.segmentPath(seg), env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		f, err = w.createSegment(seg)
	}
	if err != nil {
		w.e.Panicf("could not open WAL segment %d: %v", seg, err)
	}
	w.seg, w.segFile = seg, f
}

// RemoveSegmentsBefore removes every segment that ends at or before the
// segment holding keep (RemoveOldXlogFiles), then fsyncs pg_wal. It returns
// how many it removed. In archive mode it removes only the oldest segments
// already archived (.done, XLogArchiveCheckDone) and keeps the first one
// that is not and all after it; the removed segments' status files go
// after pg_wal is fsynced (XLogArchiveCleanup), so a durable .done never
// disappears before its segment does.
func (w *WAL) RemoveSegmentsBefore(keep LSN) (int, error) {
	segs, err := listSegments(w.e, w.cfg)
	if err != nil {
		return 0, err
	}
	old := len(segs)
	for i, s := range segs {
		if s >= w.cfg.segOf(keep) {
			old = i
			break
		}
	}
	segs = segs[:w.archivedPrefix(segs[:old])]
	if len(segs) < old {
		w.e.Sometimes("wal-removal-held-by-archive")
	}
	n := 0
	for _, s := range segs {
		if err := w.e.Disk.Remove(SegmentPath(w.cfg, s)); err != nil {
			return n, err // .done files stay: RenotifyArchive drops orphans
		}
		n++
	}
	if n > 0 {
		w.e.Sometimes("wal-segment-removed")
		if err := w.e.Disk.SyncDir(Dir); err != nil {
			w.e.Panicf("could not fsync directory %q: %v", Dir, err)
		}
	}
	w.cleanupArchiveStatus(segs)
	return n, nil
}

// Close closes the WAL. Unflushed records are lost, as at a crash.
func (w *WAL) Close() error {
	if w.segFile != nil {
		return w.segFile.Close()
	}
	return nil
}

// FirstSegmentStart is the LSN of the first record in the oldest segment
// still in pg_wal (FirstLSN for a WAL that never removed a segment).
func FirstSegmentStart(e *env.Env, c Config) (LSN, error) {
	segs, err := listSegments(e, c)
	if err != nil {
		return InvalidLSN, err
	}
	if len(segs) == 0 {
		return InvalidLSN, errors.New("wal: no WAL segments")
	}
	return c.segStart(segs[0]) + SegHdrSize, nil
}

// Reader scans the WAL from a start LSN to the end of valid WAL.
type Reader struct {
	e     *env.Env
	cfg   Config
	f     env.File
	seg   uint64
	size  int64
	next  LSN
	prev  LSN
	buf   []byte
	bufAt LSN
	// restore, when set, is called with each timeline and segment number
	// before that segment is opened (NewRestoringReader); tlisFor, when
	// set, lists the timelines whose copy of a segment to try, in order
	// (XLogFileReadAnyTLI; restore.go). Without it, timeline 1 alone.
	restore func(tli uint32, seg uint64)
	tlisFor func(seg uint64) []uint32
	curTLI  uint32 // the timeline of the last segment file opened (curFileTLI)
	// Switches counts the switch records crossed.
	Switches int
	// EndErr is why the scan ended (nil until it has).
	EndErr error
	// Limit, when valid, is where the WAL known durable ends: a record
	// that does not end at or before it is not returned, and the scan
	// ends with ErrBeyondLimit. A standby's startup process reads only
	// WAL its WAL receiver has flushed (XLogPageRead reads up to
	// WalRcv->flushedUpto, never beyond), whatever more the files hold.
	Limit LSN
}

// NewReader opens the WAL for reading from start. prev is the LSN of the
// record before start when known (InvalidLSN otherwise: the first record's
// prev-link is then not checked).
func NewReader(e *env.Env, c Config, start, prev LSN) (*Reader, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &Reader{e: e, cfg: c, next: start, prev: prev}
	if _, err := r.openSegment(c.segOf(start)); err != nil {
		return nil, err
	}
	return r, nil
}

// openSegment opens segment seg for reading. A missing segment or one whose
// header is not this segment's is the end of the WAL (end true); any other
// failure is an I/O error, which must never be taken for the end of the
// WAL: redo would stop early and the end-of-recovery checkpoint would then
// throw away acknowledged commits that a retry could have read.
func (r *Reader) openSegment(seg uint64) (end bool, err error) {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	f, err := r.openFile(seg)
	if err != nil {
		return errors.Is(err, env.ErrNotExist), fmt.Errorf("wal: could not open WAL segment %d: %w", seg, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("wal: could not read the size of WAL segment %d: %w", seg, err)
	}
	hdr := make([]byte, SegHdrSize)
	if _, err := f.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return false, fmt.Errorf("wal: could not read segment header: %w", err)
	}
	if err := checkSegHeader(r.cfg, seg, hdr); err != nil {
		f.Close()
		return true, err
	}
	r.f, r.seg, r.size = f, seg, size
	r.buf, r.bufAt = r.buf[:0], 0
	return false, nil
}

// Next returns the next valid record, or false at the end of valid WAL
// (with EndErr saying why). Switch records are crossed, not returned. An
// I/O error is returned as an error.
func (r *Reader) Next() (Record, bool, error) {
	for {
		if r.EndErr != nil {
			return Record{}, false, nil
		}
		rec, ok, err := r.readOne()
		if err != nil || !ok {
			return rec, ok, err
		}
		if rec.Rmid != RMXLog || rec.Info != InfoSwitch {
			return rec, true, nil
		}
		r.Switches++
		next := r.cfg.segStart(r.seg+1) + SegHdrSize
		if end, err := r.openSegment(r.seg + 1); err != nil {
			if !end {
				return Record{}, false, err
			}
			// The switch record is durable but the next segment is not
			// there: the WAL ends at the start of that segment.
			r.EndErr = err
			r.next = next
			return Record{}, false, nil
		}
		r.next = next
	}
}

func (r *Reader) readOne() (Record, bool, error) {
	off := r.cfg.segOff(r.next)
	if r.cfg.segOf(r.next) != r.seg || off < SegHdrSize {
		r.EndErr = fmt.Errorf("wal: LSN %s is not a record position in segment %d", r.next, r.seg)
		return Record{}, false, nil
	}
	if r.Limit != InvalidLSN && r.next >= r.Limit {
		r.EndErr = ErrBeyondLimit
		return Record{}, false, nil
	}
	if off+4 > r.size {
		r.EndErr = io.EOF
		return Record{}, false, nil
	}
	b, err := r.window(off, HeaderSize)
	if err != nil {
		return Record{}, false, err
	}
	need := HeaderSize
	if len(b) >= 4 {
		if total := binary.LittleEndian.Uint32(b); total >= HeaderSize && total <= RecordSizeMax {
			need = int(total)
		}
	}
	if b, err = r.window(off, need); err != nil {
		return Record{}, false, err
	}
	rec, err := Decode(b, r.next, r.prev)
	if r.Limit != InvalidLSN && (err != nil && uint64(r.next)+uint64(need) > uint64(r.Limit) || err == nil && rec.LSN+LSN(rec.EncodedSize()) > r.Limit) {
		// The record is not wholly durable yet: what follows the limit
		// is not WAL to judge, valid or not (a record cut short by the
		// limit is the common case, not an end of valid WAL).
		r.EndErr = ErrBeyondLimit
		return Record{}, false, nil
	}
	if err != nil {
		r.EndErr = err
		return Record{}, false, nil
	}
	if r.cfg.segOf(rec.LSN+LSN(rec.EncodedSize())-1) != r.seg {
		r.EndErr = fmt.Errorf("wal: record at %s crosses a segment boundary", rec.LSN)
		return Record{}, false, nil
	}
	r.prev = rec.LSN
	r.next = rec.LSN + LSN(rec.EncodedSize())
	rec.Payload = append([]byte(nil), rec.Payload...) // the window is reused
	return rec, true, nil
}

// End is the LSN after the last valid record read so far.
func (r *Reader) End() LSN { return r.next }

// Last is the LSN of the last valid record read (InvalidLSN if none).
func (r *Reader) Last() LSN { return r.prev }

// Close closes the file.
func (r *Reader) Close() error {
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// window returns up to n bytes of the open segment at offset off.
func (r *Reader) window(off int64, n int) ([]byte, error) {
	at := LSN(off)
	if at >= r.bufAt && uint64(at)+uint64(n) <= uint64(r.bufAt)+uint64(len(r.buf)) {
		return r.buf[at-r.bufAt:], nil
	}
	size := max(readChunk, n)
	if off+int64(size) > r.size {
		size = int(max(r.size-off, 0))
	}
	if cap(r.buf) < size {
		r.buf = make([]byte, size)
	}
	r.buf = r.buf[:size]
	got, err := r.f.ReadAt(r.buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("wal: could not read WAL segment %d at %d: %w", r.seg, off, err)
	}
	r.buf = r.buf[:got]
	r.bufAt = at
	return r.buf, nil
}
