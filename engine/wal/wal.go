package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// readChunk bounds each read when scanning WAL.
const readChunk = 64 << 10

// WAL is the log of one running node: its in-memory WAL buffers, the insert
// position, and how far the log is written and flushed.
//
// Locking mirrors PostgreSQL's (insert.go): an inserter holds one of the
// insertion locks while it copies its record into the buffers and
// reserves the record's space under posLck (insertpos_lck); writeMu is
// WALWriteLock (writing and fsyncing), and a writer first waits for the
// insertions still copying below what it writes. Insert never waits for
// I/O.
type WAL struct {
	e       *env.Env
	cfg     Config
	locks   [NumInsertLocks]insertLock
	posLck  env.Mutex
	writeMu env.Mutex

	// Guarded by posLck, which plays insertpos_lck, info_lck and the
	// insertion locks' wait lists at once (a spinlock: taking it is no
	// scheduling point).
	insertLSN  LSN    // the end of the reserved WAL (XLogBytePosToEndRecPtr of CurrBytePos)
	curBytePos uint64 // where the next record goes, in usable bytes (Insert->CurrBytePos)
	prevLSN    LSN    // the last reserved record (Insert->PrevBytePos)
	// The WAL buffers (wal_buffers.go): ring holds the pages, ends[i]
	// the end of the page in ring[i] (xlblocks), initUpto is
	// InitializedUpTo. The page holding the end of WAL found at startup
	// is mapped blank: its header and the bytes before that end are on
	// disk already and never rewritten.
	ring     [][]byte
	ends     []LSN
	initUpto LSN
	// writtenPub is how far the WAL is written (LogwrtResult.Write as
	// XLogCtl publishes it), buffersFull counts wal_buffers_full.
	writtenPub  LSN
	buffersFull uint64
	writeBusy   bool // writeMu is held
	// switchEnds are the ends of switch records not yet flushed: the
	// bytes after each, to its segment's end, are padding that is never
	// written (XLogWrite does not write the rest of a switched segment).
	switchEnds []LSN
	flushed    LSN // written under writeMu and posLck; read under either
	// insertCV wakes a flush waiting for insertions (LWLockWaitForVar),
	// insertWaiters counts its sleepers.
	insertCV      env.Cond
	insertWaiters int
	// flushCV wakes the WAL senders waiting for a flush (flushwait.go);
	// nil until one waits.
	flushCV env.Cond

	// Guarded by writeMu.
	written LSN
	seg     uint64
	segFile env.File
	// segStale is how many bytes the open segment held when it was
	// opened: a recycled segment's stale pages (recycle.go), which the
	// padding after a switch record overwrites.
	segStale   int64
	flushPages [][]byte // the pages a write takes
	writeBuf   []byte   // a chunk gathered from them

	// tli names the segments this WAL writes (0: timeline 1; restore.go).
	tli uint32
	// noWaitInsertions is planted bug flush-no-wait-insertions,
	// reuseUnwritten planted bug wal-buffer-reuse-unwritten.
	noWaitInsertions bool
	reuseUnwritten   bool
}

// newWAL is the WAL of a node whose valid WAL ends at end, after the
// record last, with segment seg open as f.
func newWAL(e *env.Env, c Config, tli uint32, end, last LSN, seg uint64, f env.File) *WAL {
	w := &WAL{
		e:          e,
		cfg:        c,
		tli:        tli,
		posLck:     e.Sched.NewSpinLock("insertpos_lck"),
		writeMu:    e.Sched.NewMutex("WALWriteLock"),
		insertLSN:  end,
		curBytePos: c.recPtrToBytePos(end),
		prevLSN:    last,
		initUpto:   pageStart(end),
		written:    end,
		writtenPub: end,
		flushed:    end,
		seg:        seg,
		segFile:    f,
	}
	for i := range w.locks {
		w.locks[i].mu = e.Sched.NewMutex(fmt.Sprintf("WALInsertLock %d", i))
	}
	w.insertCV = e.Sched.NewCond("WALInsertLock insertingAt", w.posLck)
	w.initBuffers()
	if pageOff(end) != 0 {
		w.ends[w.slot(end)] = pageStart(end) + PageSize
		w.initUpto += PageSize
	}
	return w
}

// PlantBugs switches on the planted bugs of the WAL itself.
func (w *WAL) PlantBugs(s bugs.Set) {
	w.noWaitInsertions = s.Has(bugs.FlushNoWaitInsertions)
	w.reuseUnwritten = s.Has(bugs.WALBufferReuseUnwritten)
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
	// BootStrapXLOG writes the first page's header with the first
	// record; here the header alone, so that Open(FirstLSN) continues a
	// page whose header is durable.
	if _, err := f.WriteAt(c.appendPageHeader(nil, 0, 1, 0, 0), 0); err != nil {
		f.Close()
		return fmt.Errorf("could not write to WAL segment %q: %w", f.Path(), err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", f.Path(), err)
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
	if !c.validPos(end) {
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
		var files []segFile
		if files, err = listSegmentFiles(e, c); err == nil {
			err = renotify(e, c, files, seg, 1)
		}
		if err != nil {
			e.Logf("could not repair archive status: %v", err)
		}
	}
	return newWAL(e, c, 1, end, last, seg, f), nil
}

// Config is the WAL's configuration.
func (w *WAL) Config() Config { return w.cfg }

// NeedsFlush reports whether lsn is beyond the durable WAL (XLogNeedsFlush).
func (w *WAL) NeedsFlush(lsn LSN) bool { return lsn > w.Flushed() }

// Flush writes and fsyncs the WAL at least up to upto (XLogFlush). It flushes
// everything inserted so far, which also serves concurrent committers (group
// commit). A failed write or fsync is a PANIC, as in XLogWrite and
// issue_xlog_fsync: after a failed fsync the kernel may have dropped the
// dirty pages, so retrying could report durability that does not exist.
func (w *WAL) Flush(upto LSN) { w.flush(upto, false) }

// BackgroundFlush is XLogBackgroundFlush, the WAL writer's flush: the
// completed pages first (up to the last page boundary, which may be in
// the middle of a record that crosses it), and only when those are
// flushed already, everything inserted (PostgreSQL's asyncXactLSN, which
// the insert position stands for here).
func (w *WAL) BackgroundFlush() {
	ins := w.InsertLSN()
	if upto := pageStart(ins); upto > w.Flushed() {
		w.flush(upto, true)
		return
	}
	w.flush(ins, false)
}

// flush is XLogFlush and XLogWrite up to upto: everything whose
// insertion has finished when exact is false (at least upto), else upto
// alone. It first waits for the insertions still copying a record below
// upto (WaitXLogInsertionsToFinish), so that it never writes a record
// that is not wholly in the buffers, and only then takes WALWriteLock:
// an insertion may need WALWriteLock to write out a full WAL buffer
// (AdvanceXLInsertBuffer) before it can finish. When WALWriteLock is
// busy it waits for it to be free and looks again, without taking it
// (LWLockAcquireOrWait): the holder may have flushed this request, and
// otherwise more insertions have finished meanwhile, which this flush
// then takes along (group commit).
func (w *WAL) flush(upto LSN, exact bool) {
	for i := 0; ; i++ {
		if i > flushRetriesMax {
			panic("wal: XLogFlush does not end")
		}
		if !w.NeedsFlush(upto) {
			return
		}
		var to LSN
		if w.noWaitInsertions {
			// Planted bug flush-no-wait-insertions: everything reserved,
			// records still being copied included.
			to = w.InsertLSN()
			if upto > to {
				panic(fmt.Sprintf("wal: flush request %s beyond insert position %s", upto, to))
			}
		} else {
			to = w.waitInsertionsToFinish(upto)
		}
		if exact {
			to = min(to, upto)
		}
		w.posLck.Lock()
		busy := w.writeBusy
		w.posLck.Unlock()
		w.writeLock()
		if busy {
			w.writeUnlock() // LWLockAcquireOrWait: free now, look again
			continue
		}
		if upto > w.flushed {
			w.xlogWrite(to, true)
		}
		w.writeUnlock()
		return
	}
}

// flushRetriesMax bounds XLogFlush's looks at WALWriteLock: each is
// another process's write.
const flushRetriesMax = 1 << 20

// writeLock takes WALWriteLock, writeUnlock lets it go; writeBusy says it
// is held, for LWLockAcquireOrWait.
func (w *WAL) writeLock() {
	w.writeMu.Lock()
	w.posLck.Lock()
	w.writeBusy = true
	w.posLck.Unlock()
}

func (w *WAL) writeUnlock() {
	w.posLck.Lock()
	w.writeBusy = false
	w.posLck.Unlock()
	w.writeMu.Unlock()
}

// xlogWrite is XLogWrite, with writeMu held: it writes the WAL from where
// it is written up to to, a position every insertion has copied past, and
// with flush fsyncs it, up to to or to where it was written already if
// that is further (WriteRqst.Flush). Without flush (AdvanceXLInsertBuffer
// writing out a full buffer) it fsyncs only the segments it completes
// (finishing_seg), which are then durable, the flushed position at
// their end.
func (w *WAL) xlogWrite(to LSN, flush bool) {
	from := w.written
	to = max(to, from)
	w.posLck.Lock()
	switches := append([]LSN(nil), w.switchEnds...)
	// The pages stay valid after posLck is let go: a slot is reused only
	// once its page is written, which needs writeMu, and the bytes
	// before to are final.
	w.flushPages = w.flushPages[:0]
	for p := pageStart(from); p < to; p += PageSize {
		pg := w.bufPage(p)
		if pg == nil && (w.reuseUnwritten || w.noWaitInsertions) && !w.inPaddingLocked(p) {
			// With a planted bug the slot may hold another page, or
			// not yet this one: XLogWrite writes whatever it holds.
			pg = w.ring[w.slot(p)]
		}
		w.flushPages = append(w.flushPages, pg)
	}
	// Where the flush leaves a record half durable: a segment boundary it
	// crosses or reaches with a record continuing past it, and its own
	// end, when that is a page boundary inside a record (the WAL writer's
	// flush of completed pages only). Read here, under posLck, from the
	// page headers in the buffers.
	contSegEnd := w.contSegEnds(from, to)
	midRecord := flush && to < w.insertLSN && pageOff(to) == 0 && w.contAt(to)
	w.posLck.Unlock()
	if from < to {
		w.e.Inject("walwriter-before-write")
	}
	durable := InvalidLSN // how far this call fsynced
	for pos := from; pos < to; {
		seg := w.cfg.segOf(pos)
		segEnd := w.cfg.segStart(seg + 1)
		chunkEnd := min(to, segEnd)
		w.openSegment(seg)
		lo := pos
		hi := chunkEnd
		padFrom := hi // the unmapped pages from here on are written as zeros
		for _, sw := range switches {
			if sw >= lo && sw <= hi && sw > w.cfg.segStart(seg) && w.cfg.segOf(sw-1) == seg {
				if w.segStale <= w.cfg.segOff(sw) {
					// Padding after a switch record is not written,
					// but in a recycled segment: there it replaces
					// the stale pages, so that the complete segment,
					// and its archived copy, holds none (PostgreSQL
					// writes the padding always).
					hi = sw
				} else {
					padFrom = sw
				}
			}
		}
		if lo < hi {
			chunk := w.gather(pageStart(from), lo, hi, padFrom)
			if _, err := w.segFile.WriteAt(chunk, w.cfg.segOff(lo)); err != nil {
				w.e.Panicf("could not write to WAL segment %q at %s: %v", w.segFile.Path(), lo, err)
			}
		}
		if chunkEnd == segEnd || (flush && chunkEnd == to) {
			w.syncSegment()
			// XLogWrite: LogwrtResult.Flush = LogwrtResult.Write,
			// for a write of full WAL buffers that completes a
			// segment (finishing_seg) as for a flush. The flushed
			// position may then be inside a record whose rest is
			// not written: WAL senders stream up to it and a
			// standby replays to that record's start (see
			// wal_buffers.go).
			durable = chunkEnd
			if chunkEnd == segEnd && w.cfg.ArchiveMode {
				w.notifyArchive(seg) // XLogArchiveNotifySeg: seg is complete
			}
			if chunkEnd == segEnd && slices.Contains(contSegEnd, segEnd) {
				// XLogWrite's finishing_seg: this segment is durable
				// and its last record goes on in the next one, not
				// yet written. A power loss here leaves the record's
				// head alone at the end of WAL, in another segment
				// than the rest would have been.
				w.e.Sometimes("wal-segment-durable-mid-record")
				w.e.Inject(PointSegmentDurableMidRecord)
			}
		}
		pos = chunkEnd
	}
	if flush && durable < to && w.Flushed() < to {
		// Nothing left to write, but WAL written before without fsync
		// (a full WAL buffer written out) is not durable yet: it is all
		// in the open segment, since a completed segment is fsynced.
		if w.segFile == nil || w.cfg.segOf(to-1) != w.seg {
			panic(fmt.Sprintf("wal: flush to %s finds segment %d open", to, w.seg))
		}
		w.syncSegment()
		durable = to
	}
	w.written = to
	if flush {
		w.e.Inject("walwriter-after-fsync")
	}
	if midRecord {
		// XLogBackgroundFlush wrote the completed pages only, or the
		// flush stopped at an insertion copying a record across
		// pages: the durable WAL ends at a page boundary inside a
		// record whose last pages are not written. A power loss here leaves an
		// incomplete record at the end of WAL, which recovery must
		// end before and overwrite (XLOG_OVERWRITE_CONTRECORD).
		w.e.Sometimes("wal-flush-ends-mid-record")
		w.e.Inject(PointFlushedMidRecord)
	}

	w.posLck.Lock()
	w.writtenPub = to
	advanced := durable > w.flushed
	if advanced {
		w.flushed = durable
	}
	// A switch's padding is behind once the WAL is written past the
	// switch record (a write ending at it exactly still has it ahead).
	for len(w.switchEnds) > 0 && w.switchEnds[0] < to {
		w.switchEnds = w.switchEnds[1:]
	}
	if advanced && w.flushCV != nil {
		w.flushCV.Broadcast() // WalSndWakeup
	}
	w.posLck.Unlock()
	clear(w.flushPages)
	if advanced {
		w.e.WALFlushed(uint64(durable))
	}
}

// inPaddingLocked reports whether the page at p is in the unused rest of a
// switched segment not yet written past. Called with posLck held.
func (w *WAL) inPaddingLocked(p LSN) bool {
	for _, sw := range w.switchEnds {
		if p >= pageStart(sw-1)+PageSize && p < w.cfg.segStart(w.cfg.segOf(sw-1)+1) {
			return true
		}
	}
	return false
}

// syncSegment fsyncs the open segment (issue_xlog_fsync): a failure is a
// PANIC.
func (w *WAL) syncSegment() {
	w.e.Inject("walwriter-before-fsync")
	if err := w.segFile.Sync(); err != nil {
		w.e.Sometimes("wal-fsync-panic")
		w.e.Panicf("could not fsync WAL segment %q: %v", w.segFile.Path(), err)
	}
}

// The injection points a flush reaches with a record only partly durable
// (issue 22: a power loss in the middle of a multi-page record, and at a
// segment boundary inside one).
const (
	// PointFlushedMidRecord: the flush ended at a page boundary inside a
	// record, its first pages durable, its last not written.
	PointFlushedMidRecord = "walwriter-after-fsync-mid-record"
	// PointSegmentDurableMidRecord: a segment was fsynced whose last
	// record continues in the next segment, not yet written.
	PointSegmentDurableMidRecord = "walwriter-after-segment-fsync-mid-record"
)

// contAt reports whether the page at p, a page boundary, begins with the
// continuation of a record (XLP_FIRST_IS_CONTRECORD). A page not in the
// buffers (not initialized yet, or the unused rest of a switched segment)
// begins none. Called with posLck held.
func (w *WAL) contAt(p LSN) bool {
	if pageOff(p) != 0 {
		panic(fmt.Sprintf("wal: page header asked at %s, not a page boundary", p))
	}
	pg := w.bufPage(p)
	return pg != nil && binary.LittleEndian.Uint16(pg[2:])&XLPFirstIsContRecord != 0
}

// contSegEnds lists the segment boundaries in (from, to] that a record
// continues across (the next segment's first page is a continuation),
// among those whose next page is in the buffers. Called
// with posLck held; bounded by the segments the flush spans.
func (w *WAL) contSegEnds(from, to LSN) []LSN {
	var out []LSN
	for b := w.cfg.segStart(w.cfg.segOf(from) + 1); b <= to && b < w.insertLSN; b = w.cfg.segStart(w.cfg.segOf(b) + 1) {
		if w.contAt(b) {
			out = append(out, b)
		}
	}
	return out
}

// gather returns the bytes from lo to hi of the pages a flush writes,
// which start at first, in one piece. Pages past padFrom, a switch
// record's end, may be unmapped: the padding after it, zeros.
func (w *WAL) gather(first, lo, hi, padFrom LSN) []byte {
	w.writeBuf = w.writeBuf[:0]
	for p := pageStart(lo); p < hi; p += PageSize {
		a, b := max(lo, p), min(hi, p+PageSize)
		pg := w.flushPages[(p-first)/PageSize]
		if pg == nil {
			if p < padFrom {
				panic(fmt.Sprintf("wal: flush of %s..%s reaches the unmapped page %s", lo, hi, p))
			}
			w.writeBuf = append(w.writeBuf, make([]byte, b-a)...)
			continue
		}
		w.writeBuf = append(w.writeBuf, pg[a-p:b-p]...)
	}
	return w.writeBuf
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
	size, err := f.Size()
	if err != nil {
		w.e.Panicf("could not stat WAL segment %q: %v", f.Path(), err)
	}
	if size > 0 {
		w.e.Sometimes("wal-recycled-segment-reused")
	}
	w.seg, w.segFile, w.segStale = seg, f, size
}

// RemoveSegmentsBefore is RemoveOldXlogFiles with wal_recycle = off:
// every segment that ends at or before the segment holding keep is
// removed, archived ones only in archive mode (recycle.go). It returns how
// many it removed.
func (w *WAL) RemoveSegmentsBefore(keep LSN) (int, error) {
	st, err := w.RemoveOldXlogFiles(keep, w.Flushed(), false, 0)
	return st.Removed, err
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
	return firstRecordIn(e, c, segs[0])
}

// firstRecordIn is FirstRecordInSegment for pg_wal's segment seg.
func firstRecordIn(e *env.Env, c Config, seg uint64) (LSN, error) {
	f, err := e.Disk.Open(SegmentPath(c, seg), env.OpenExisting)
	if err != nil {
		return InvalidLSN, err
	}
	defer f.Close()
	b := make([]byte, LongPageHdrSize)
	n, _ := f.ReadAt(b, 0)
	first, _ := FirstRecordInSegment(c, seg, b[:n])
	return first, nil
}

// FirstRecordInSegment is XLogFindNextRecord from the start of segment
// seg, whose bytes b begins with: the first record that starts in it,
// after the rest of a record continued from the previous segment
// (xlp_rem_len). A first page header that is not valid leaves the
// position after it, where a reader then ends, and false.
func FirstRecordInSegment(c Config, seg uint64, b []byte) (LSN, bool) {
	p := c.segStart(seg)
	h, err := c.validatePageHeader(p, b, 0)
	if err != nil {
		return p + SegHdrSize, false
	}
	if h.info&XLPFirstIsContRecord == 0 || h.remLen == 0 || h.remLen > RecordSizeMax {
		return p + SegHdrSize, true
	}
	return LSN(AlignUp(uint64(c.recordEnd(p+SegHdrSize, h.remLen)))), true
}

// Reader scans the WAL from a start LSN to the end of valid WAL, as
// xlogreader.c does: every page it reads has its header validated
// (XLogReaderValidatePageHeader), every record its header, prev-link and
// CRC (ValidXLogRecordHeader, ValidXLogRecord), and a record that crosses
// pages is reassembled from the continuation pages, each of which must say
// it continues it (XLP_FIRST_IS_CONTRECORD, xlp_rem_len).
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
	// rec holds a record reassembled from several pages.
	rec []byte
	// pageOK is the start of the last page whose header was validated,
	// pageTLI its timeline (latestPagePtr, latestPageTLI).
	pageOK  LSN
	pageTLI uint32
	pageHdr pageHeader
	// restore, when set, is called with each timeline and segment number
	// before that segment is opened (NewRestoringReader); tlisFor, when
	// set, lists the timelines whose copy of a segment to try, in order
	// (XLogFileReadAnyTLI; restore.go). Without it, timeline 1 alone.
	restore func(tli uint32, seg uint64)
	tlisFor func(seg uint64) []uint32
	curTLI  uint32 // the timeline of the last segment file opened (curFileTLI)
	// mem, when set, holds the segments to read instead of pg_wal
	// (NewMemReader).
	mem func(seg uint64) []byte
	// AbortedRecPtr and MissingContrecPtr are set when the WAL ends in a
	// record that crosses pages and could not be reassembled (a
	// continuation missing or invalid): the record's start, and the start
	// of the page where reading it failed. The end of recovery writes new
	// WAL from MissingContrecPtr on, beginning with an
	// XLOG_OVERWRITE_CONTRECORD (StartupXLOG, PostgreSQL 14.1+).
	AbortedRecPtr     LSN
	MissingContrecPtr LSN
	// overwritten is the record whose continuation a page flagged
	// XLP_FIRST_IS_OVERWRITE_CONTRECORD replaced (overwrittenRecPtr): the
	// record read next must be the XLOG_OVERWRITE_CONTRECORD naming it.
	overwritten LSN
	// lastPage is the last page reassemble read.
	lastPage LSN
	// Switches counts the switch records crossed, SwitchEnd is where the
	// last one ended.
	Switches  int
	SwitchEnd LSN
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

// NewMemReader is NewReader over segments held in memory: seg returns a
// segment's bytes (nil when there is none). The simulator's checkers read
// archived and durable WAL this way.
func NewMemReader(c Config, seg func(seg uint64) []byte, start, prev LSN) (*Reader, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &Reader{cfg: c, next: start, prev: prev, mem: seg}
	if _, err := r.openSegment(c.segOf(start)); err != nil {
		return nil, err
	}
	return r, nil
}

// openSegment opens segment seg for reading. A missing segment is the end
// of the WAL (end true); any other failure is an I/O error, which must
// never be taken for the end of the WAL: redo would stop early and the
// end-of-recovery checkpoint would then throw away acknowledged commits
// that a retry could have read.
func (r *Reader) openSegment(seg uint64) (end bool, err error) {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	var f env.File
	if r.mem != nil {
		b := r.mem(seg)
		if b == nil {
			err = fmt.Errorf("segment %d: %w", seg, env.ErrNotExist)
		} else {
			f = memFile(b)
		}
	} else {
		f, err = r.openFile(seg)
	}
	if err != nil {
		return errors.Is(err, env.ErrNotExist), fmt.Errorf("wal: could not open WAL segment %d: %w", seg, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("wal: could not read the size of WAL segment %d: %w", seg, err)
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
		// The rest of the segment the switch record ends in is unused:
		// the next record starts the next segment (XLogReadRecord's
		// XLOG_SWITCH handling, which rounds the record's end up; the
		// record may have crossed into that segment).
		r.Switches++
		r.SwitchEnd = r.next
		if r.cfg.segOff(r.next) != 0 {
			r.next = r.cfg.segStart(r.cfg.segOf(r.next) + 1)
		}
	}
}

// errNoPage is a page the file does not hold (yet).
var errNoPage = errors.New("wal: page not in the segment")

// page validates the header of the page starting at p, opening its
// segment first if need be, and returns it. A page the segment does not
// hold, or a missing segment, is errNoPage (end true).
func (r *Reader) page(p LSN) (h pageHeader, end bool, err error) {
	if p == r.pageOK && r.pageHdr.size != 0 && r.cfg.segOf(p) == r.seg {
		return r.pageHdr, false, nil
	}
	if seg := r.cfg.segOf(p); seg != r.seg || r.f == nil {
		if end, err := r.openSegment(seg); err != nil {
			if !end {
				return h, false, err
			}
			return h, true, fmt.Errorf("%w: %v", errNoPage, err)
		}
	}
	n := int(r.cfg.pageHdrSize(p))
	if r.cfg.segOff(p)+int64(n) > r.size {
		return h, true, errNoPage
	}
	b, err := r.window(r.cfg.segOff(p), n)
	if err != nil {
		return h, false, err
	}
	if h, err = r.cfg.validatePageHeader(p, b, r.pageTLI); err != nil {
		if r.e != nil && errors.Is(err, ErrUnexpectedPageAddr) {
			r.e.Sometimes("wal-read-unexpected-pageaddr")
		}
		return h, true, err
	}
	r.pageOK, r.pageTLI, r.pageHdr = p, h.tli, h
	return h, false, nil
}

func (r *Reader) readOne() (Record, bool, error) {
	for i := 0; ; i++ { // bounded: one restart per overwritten contrecord
		rec, ok, err := r.readRecord()
		if err != nil || ok || r.EndErr != nil {
			if ok && r.overwritten != InvalidLSN {
				ok = r.checkOverwrite(rec)
			}
			return rec, ok, err
		}
		if i > 0 {
			panic("wal: a restart after an overwritten contrecord restarted again")
		}
	}
}

// checkOverwrite checks the record read after a restart at a page flagged
// XLP_FIRST_IS_OVERWRITE_CONTRECORD: it must be the XLOG_OVERWRITE_CONTRECORD
// that names the record whose continuation is gone (xlog_redo's
// "mismatching overwritten LSN"; PostgreSQL makes it a FATAL error in redo,
// here it ends the WAL).
func (r *Reader) checkOverwrite(rec Record) bool {
	want := r.overwritten
	r.overwritten = InvalidLSN
	if rec.Rmid != RMXLog || rec.Info != InfoOverwriteContrecord || len(rec.Payload) != 8 {
		r.EndErr = fmt.Errorf("%w: the record at %s after an overwritten contrecord is not XLOG_OVERWRITE_CONTRECORD", ErrBadPage, rec.LSN)
		r.next, r.prev = rec.LSN, rec.Prev
		return false
	}
	if got := LSN(binary.LittleEndian.Uint64(rec.Payload)); got != want {
		r.EndErr = fmt.Errorf("%w: mismatching overwritten LSN %s -> %s", ErrBadPage, want, got)
		r.next, r.prev = rec.LSN, rec.Prev
		return false
	}
	return true
}

// readRecord reads the record at r.next. It returns no record and no
// EndErr when the read must restart at r.next (an overwritten contrecord).
func (r *Reader) readRecord() (Record, bool, error) {
	pos := r.next
	if !r.cfg.validPos(pos) {
		r.EndErr = fmt.Errorf("%w: invalid record offset at %s", ErrBadAlignment, pos)
		return Record{}, false, nil
	}
	if r.Limit != InvalidLSN && pos >= r.Limit {
		r.EndErr = ErrBeyondLimit
		return Record{}, false, nil
	}
	// ReadPageInternal: the page holding the record's start, its header
	// validated.
	h, end, err := r.page(pageStart(pos))
	if err != nil {
		if !end {
			return Record{}, false, err
		}
		if errors.Is(err, errNoPage) {
			err = fmt.Errorf("%w: %v", io.EOF, err)
		}
		r.EndErr = err
		return Record{}, false, nil
	}
	if pageOff(pos) == 0 {
		// At a page's start: the record follows the header, and
		// the page must not continue a record (ReadRecord's
		// "contrecord is requested by").
		if h.info&XLPFirstIsContRecord != 0 {
			r.EndErr = fmt.Errorf("%w: contrecord is requested by %s", ErrBadPage, pos)
			return Record{}, false, nil
		}
		pos += LSN(h.size)
		if r.Limit != InvalidLSN && pos >= r.Limit {
			r.EndErr = ErrBeyondLimit
			return Record{}, false, nil
		}
	}
	off := r.cfg.segOff(pos)
	if off+4 > r.size {
		r.EndErr = io.EOF
		return Record{}, false, nil
	}
	onPage := int(PageSize - pageOff(pos))
	b, err := r.window(off, min(onPage, HeaderSize))
	if err != nil {
		return Record{}, false, err
	}
	b = b[:min(len(b), onPage, HeaderSize)] // the window may run past the page
	total := binary.LittleEndian.Uint32(b)
	if total == 0 {
		r.EndErr = fmt.Errorf("%w at %s", ErrZeroRecord, pos)
		return Record{}, false, nil
	}
	if total < HeaderSize || total > RecordSizeMax {
		r.EndErr = fmt.Errorf("%w at %s: expected at least %d, got %d", ErrBadLength, pos, HeaderSize, total)
		return Record{}, false, nil
	}
	recEnd := r.cfg.recordEnd(pos, total)
	if r.Limit != InvalidLSN && recEnd > r.Limit && int(total) <= onPage {
		// The record is not wholly durable yet: what follows the limit
		// is not WAL to judge, valid or not (a record cut short by the
		// limit is the common case, not an end of valid WAL). A record
		// that crosses pages is checked page by page (reassemble): a
		// continuation page within the limit may say the record was
		// abandoned, whatever length the record claims.
		r.EndErr = ErrBeyondLimit
		return Record{}, false, nil
	}
	if len(b) >= HeaderSize && r.prev != InvalidLSN {
		// ValidXLogRecordHeader, before the continuation is read.
		if got := LSN(binary.LittleEndian.Uint64(b[8:])); got != r.prev {
			r.EndErr = fmt.Errorf("%w at %s: %s, want %s", ErrBadPrev, pos, got, r.prev)
			return Record{}, false, nil
		}
	}
	var rb []byte
	if int(total) <= onPage {
		if int64(off)+int64(total) > r.size {
			r.EndErr = fmt.Errorf("%w at %s", ErrShortRecord, pos)
			return Record{}, false, nil
		}
		if rb, err = r.window(off, int(total)); err != nil {
			return Record{}, false, err
		}
	} else if rb, err = r.reassemble(pos, total); err != nil || rb == nil {
		return Record{}, false, err
	}
	rec, err := Decode(rb, pos, r.prev)
	if err != nil {
		if int(total) > onPage {
			r.AbortedRecPtr, r.MissingContrecPtr = pos, r.lastPage
		}
		r.EndErr = err
		return Record{}, false, nil
	}
	r.prev = rec.LSN
	r.next = LSN(AlignUp(uint64(recEnd)))
	rec.Payload = append([]byte(nil), rec.Payload...) // the window is reused
	return rec, true, nil
}

// recordEnd is the position just after the last byte of a record of total
// bytes starting at pos, past the page headers it crosses.
func (c Config) recordEnd(pos LSN, total uint32) LSN {
	first := PageSize - pageOff(pos)
	if int64(total) <= first {
		return pos + LSN(total)
	}
	rem := uint64(total) - uint64(first)
	p := pageStart(pos) + PageSize
	for i := 0; ; i++ { // bounded: one step per page of the record
		if i > RecordSizeMax/usablePageBytes+2 {
			panic("wal: record end does not converge")
		}
		usable := uint64(PageSize - c.pageHdrSize(p))
		if rem <= usable {
			return p + LSN(c.pageHdrSize(p)) + LSN(rem)
		}
		rem -= usable
		p += PageSize
	}
}

// reassemble reads a record of total bytes starting at pos that crosses
// pages: each continuation page must have XLP_FIRST_IS_CONTRECORD and say
// how much of the record remains (XLogDecodeNextRecord's "there is no
// contrecord flag" and "invalid contrecord length"). A continuation that
// is not there ends the WAL before the record (nil, with EndErr set).
func (r *Reader) reassemble(pos LSN, total uint32) ([]byte, error) {
	r.rec = r.rec[:0]
	p := pos
	// aborted ends the WAL inside the record once a continuation page
	// was reached (XLogDecodeNextRecord's "assembled" error path).
	aborted := func(err error) ([]byte, error) {
		r.EndErr = err
		r.AbortedRecPtr, r.MissingContrecPtr = pos, pageStart(p)
		return nil, nil
	}
	for i := 0; ; i++ { // bounded: one step per page of the record
		if i > RecordSizeMax/usablePageBytes+2 {
			panic("wal: record reassembly does not end")
		}
		n := min(int(total)-len(r.rec), int(PageSize-pageOff(p)))
		off := r.cfg.segOff(p)
		r.lastPage = pageStart(p)
		if r.Limit != InvalidLSN && p+LSN(n) > r.Limit {
			r.EndErr = ErrBeyondLimit // XLogPageRead waits for it
			return nil, nil
		}
		if off+int64(n) > r.size {
			if i > 0 {
				return aborted(fmt.Errorf("%w at %s: its continuation at %s is cut short", ErrShortRecord, pos, pageStart(p)))
			}
			r.EndErr = fmt.Errorf("%w at %s", ErrShortRecord, pos)
			return nil, nil
		}
		b, err := r.window(off, n)
		if err != nil {
			return nil, err
		}
		r.rec = append(r.rec, b[:n]...)
		if len(r.rec) == int(total) {
			return r.rec, nil
		}
		p = pageStart(p) + PageSize
		if r.Limit != InvalidLSN && p+LSN(r.cfg.pageHdrSize(p)) > r.Limit {
			r.EndErr = ErrBeyondLimit
			return nil, nil
		}
		h, end, err := r.page(p)
		if err != nil {
			if !end {
				return nil, err
			}
			if errors.Is(err, errNoPage) {
				err = fmt.Errorf("%w at %s: the continuation at %s is missing: %v", ErrShortRecord, pos, p, err)
			}
			return aborted(err)
		}
		if h.info&XLPFirstIsOverwriteContRecord != 0 {
			// The continuation was overwritten by new WAL after a
			// recovery that found it missing: read on from this page,
			// whose first record must say so (XLogDecodeNextRecord's
			// overwrittenRecPtr).
			if r.e != nil {
				r.e.Sometimes("wal-read-overwritten-contrecord")
			}
			r.overwritten, r.next = pos, p
			return nil, nil
		}
		if h.info&XLPFirstIsContRecord == 0 {
			return aborted(fmt.Errorf("%w: there is no contrecord flag at %s", ErrBadPage, p))
		}
		if want := int(total) - len(r.rec); int(h.remLen) != want {
			return aborted(fmt.Errorf("%w: invalid contrecord length %d (expected %d) at %s", ErrBadPage, h.remLen, want, p))
		}
		p += LSN(h.size)
	}
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
