package wal

import (
	"encoding/binary"
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
)

// WAL insertion with several inserters at once, as PostgreSQL 15's xlog.c
// does it (the "Inserting to WAL" comment above XLogInsertRecord):
//
//  1. The inserter takes one of NumInsertLocks insertion locks
//     (WALInsertLockAcquire). Taking all of them (WALInsertLockAcquireExclusive)
//     stops every insertion: the checkpointer does so to take its REDO
//     pointer, and a segment switch to reserve the rest of the segment.
//  2. It reserves the record's space under the insertpos_lck spinlock
//     (ReserveXLogInsertLocation, ReserveXLogSwitch): the position and
//     the previous record's LSN move on at once, and nothing else happens
//     under the spinlock, so reservations never wait for copies.
//  3. It copies the record into the WAL buffers (CopyXLogRecordToWAL)
//     with only its insertion lock held, while other inserters copy theirs.
//     Before it goes on to a new page (GetXLogBuffer), it advertises how far
//     it has copied (WALInsertLockUpdateInsertingAt).
//  4. It releases the lock (WALInsertLockRelease).
//
// A flush therefore never writes up to the reserved position blindly: it
// first waits for every insertion still copying a record below the
// position it needs (WaitXLogInsertionsToFinish) and writes only up to
// where all insertions are finished. Otherwise a record still being copied
// (zeros, or its first part only, in the buffers) would be written and
// reported durable, and a commit after it acknowledged on WAL that
// recovery cannot read past (planted bug flush-no-wait-insertions).
//
// Under the simulator the copy is a scheduling point (the injection point
// PointInsertCopy) before its first byte and before each page it goes on
// to, so that another process can run, and flush, in the middle of a copy.
// (In PostgreSQL a copy can be preempted anywhere.) The copy takes each
// buffer page from the ring of wal_buffers pages (GetXLogBuffer,
// wal_buffers.go): a page not yet initialized is initialized then
// (AdvanceXLInsertBuffer), after the page its slot held is written out,
// by this inserter itself when nobody has yet.
//
// Deviations: the reserver takes, under the spinlock, the pages of its
// record that are initialized already, where GetXLogBuffer looks each up
// as the copy reaches it (the same pages: a page is not replaced while an
// insertion into it is in progress); and a process always takes the
// insertion lock its process number picks (MyProc->pgprocno %
// NUM_XLOGINSERT_LOCKS) without moving on to the next after a contended
// acquisition, as WALInsertLockAcquire's lockToTry does.

// NumInsertLocks is NUM_XLOGINSERT_LOCKS.
const NumInsertLocks = 8

// PointInsertCopy is the injection point an insertion reaches after it has
// reserved its space and before it copies the first byte of its record,
// and again before each further page the record reaches.
const PointInsertCopy = "wal-insert-copy"

// insertLock is one of WALInsertLocks: the LWLock and its insertingAt
// variable.
type insertLock struct {
	mu env.Mutex
	// held and insertingAt are guarded by WAL.posLck. insertingAt is how
	// far the holder has copied, InvalidLSN while it has not said
	// (LWLockUpdateVar; 0 at acquisition and release), maxLSN on the locks
	// an exclusive holder took first.
	held        bool
	insertingAt LSN
	// Owned by the holder: the encoded record when it crosses pages, and
	// the buffer pages of the reserved space that were initialized when it
	// was reserved (the first ones; copyRecord gets the rest).
	scratch []byte
	pages   [][]byte
}

// maxLSN is PG_UINT64_MAX as an advertised insertingAt: that lock's holder
// inserts nothing.
const maxLSN = ^LSN(0)

// myInsertLock is the insertion lock the calling process takes.
func (w *WAL) myInsertLock() *insertLock {
	i := 0
	if p := w.e.Sched.Self(); p != nil {
		i = p.ID() % NumInsertLocks
	}
	return &w.locks[i]
}

// insertLockAcquire is WALInsertLockAcquire. The lock counts as held for
// a flush (held) from the holder's reservation on, in the same critical
// section: before it, whatever the holder inserts lands after the
// reserved position a flush reads first, so the flush need not wait for
// it (PostgreSQL's flush waits for it all the same).
func (w *WAL) insertLockAcquire() *insertLock {
	l := w.myInsertLock()
	l.mu.Lock()
	return l
}

// insertLockAcquireExclusive is WALInsertLockAcquireExclusive: every lock,
// in order, the others advertising that they insert nothing, so that a
// flush waits for the last one alone. It returns the last one.
func (w *WAL) insertLockAcquireExclusive() *insertLock {
	for i := range w.locks {
		l := &w.locks[i]
		l.mu.Lock()
		w.posLck.Lock()
		l.held, l.insertingAt = true, maxLSN
		if i == NumInsertLocks-1 {
			l.insertingAt = InvalidLSN
		}
		w.posLck.Unlock()
	}
	return &w.locks[NumInsertLocks-1]
}

// insertLockRelease is WALInsertLockRelease (LWLockReleaseClearVar).
func (w *WAL) insertLockRelease(l *insertLock) {
	w.posLck.Lock()
	l.held, l.insertingAt = false, InvalidLSN
	if w.insertWaiters > 0 {
		w.insertCV.Broadcast()
	}
	w.posLck.Unlock()
	l.mu.Unlock()
}

// insertLockReleaseExclusive releases what insertLockAcquireExclusive took.
func (w *WAL) insertLockReleaseExclusive() {
	for i := range w.locks {
		w.insertLockRelease(&w.locks[i])
	}
}

// updateInsertingAt is WALInsertLockUpdateInsertingAt: the holder has
// copied everything before at.
func (w *WAL) updateInsertingAt(l *insertLock, at LSN) {
	w.posLck.Lock()
	if !l.held || at < l.insertingAt {
		w.posLck.Unlock()
		panic(fmt.Sprintf("wal: insertingAt moved back to %s from %s", at, l.insertingAt))
	}
	l.insertingAt = at
	if w.insertWaiters > 0 {
		w.insertCV.Broadcast()
	}
	w.posLck.Unlock()
}

// waitInsertionsToFinishMax bounds the wakeups one wait for insertions
// takes: each is an insertion finishing or moving on a page.
const waitInsertionsToFinishMax = 1 << 20

// waitInsertionsToFinish is WaitXLogInsertionsToFinish: it waits until
// every insertion in progress has copied its record up to upto, or
// finished, and returns how far the WAL is then completely copied (at
// least upto, at most the reserved position).
func (w *WAL) waitInsertionsToFinish(upto LSN) LSN {
	w.posLck.Lock()
	defer w.posLck.Unlock()
	reserved := w.insertLSN
	if upto > reserved {
		panic(fmt.Sprintf("wal: flush request %s beyond insert position %s", upto, reserved))
	}
	finished := reserved
	waited := false
	for i := range w.locks {
		l := &w.locks[i]
		// LWLockWaitForVar: sleep while the lock is held by an insertion
		// that has not said it is past upto.
		for n := 0; l.held && l.insertingAt < upto; n++ {
			if n > waitInsertionsToFinishMax {
				panic("wal: waiting for WAL insertions does not end")
			}
			w.insertWaiters++
			w.insertCV.Wait()
			w.insertWaiters--
			waited = true
		}
		if l.held && l.insertingAt < finished {
			finished = l.insertingAt
		}
	}
	if waited {
		w.e.Sometimes("wal-flush-waited-for-insertion")
	}
	if finished < upto {
		panic(fmt.Sprintf("wal: insertions finished up to %s, below %s", finished, upto))
	}
	return finished
}

// reserveLocked is ReserveXLogInsertLocation for a record of size bytes
// (aligned), under posLck: its start and end, and the previous record's
// LSN (xl_prev). It maps the buffer pages the record reaches for l.
func (w *WAL) reserveLocked(l *insertLock, size uint64) (start, end, prev LSN) {
	l.held, l.insertingAt = true, InvalidLSN
	startPos := w.curBytePos
	w.curBytePos += size
	prev = w.prevLSN
	start = w.cfg.bytePosToRecPtr(startPos)
	end = w.cfg.bytePosToEndRecPtr(w.curBytePos)
	w.prevLSN = start
	w.insertLSN = end
	w.mapPagesLocked(l, start, end)
	return start, end, prev
}

// mapPagesLocked gives l the buffer pages from start's to end's that are
// initialized already, up to the first that is not.
func (w *WAL) mapPagesLocked(l *insertLock, start, end LSN) {
	l.pages = l.pages[:0]
	for p := pageStart(start); p < end; p += PageSize {
		pg := w.bufPage(p)
		if pg == nil {
			return
		}
		l.pages = append(l.pages, pg)
	}
}

// pageOf is the buffer page the i-th page of l's record, holding pos,
// is copied into: mapped at reservation, else from GetXLogBuffer.
func (w *WAL) pageOf(l *insertLock, i int, pos LSN) []byte {
	if i < len(l.pages) {
		return l.pages[i]
	}
	return w.getXLogBuffer(l, pos)
}

// Insert appends a record to the WAL buffers and returns its start LSN and
// the end LSN a commit must flush to. It does no I/O (XLogInsertRecord).
func (w *WAL) Insert(rec *Record) (start, end LSN) {
	return w.InsertWith(func() *Record { return rec }, nil)
}

// InsertWith inserts the record build returns and then calls placed with
// its start and end LSN, both under an insertion lock. Callers that must
// order a page change with its record use both: build decides full-page
// images against the REDO pointer (XLogInsertRecord rechecks RedoRecPtr
// under the insertion lock); placed stamps the record's end LSN on the
// page (PageSetLSN after XLogInsert, with the buffer still locked). The
// page must be changed and its buffer marked dirty before the call (the
// transam README's "Write-Ahead Log Coding"), so that a checkpoint that
// takes its REDO pointer after the record finds the buffer dirty. placed
// may be nil.
func (w *WAL) InsertWith(build func() *Record, placed func(start, end LSN)) (start, end LSN) {
	l := w.insertLockAcquire()
	rec := build()
	if size := rec.EncodedSize(); size > uint64(w.cfg.MaxRecordSize()) {
		panic(fmt.Sprintf("wal: record of %d bytes exceeds the maximum %d", size, w.cfg.MaxRecordSize()))
	}
	w.posLck.Lock()
	start, end, rec.Prev = w.reserveLocked(l, rec.EncodedSize())
	w.posLck.Unlock()
	rec.LSN = start
	w.copyRecord(l, rec, start, end)
	if placed != nil {
		placed(start, end)
	}
	w.insertLockRelease(l)
	return start, end
}

// WithInsertLock runs fn with one insertion lock held and the position the
// next record will take: no checkpoint can take its REDO pointer meanwhile,
// since that takes every insertion lock. A hint bit's full-page image is
// decided this way (XLogSaveBufferForHint's RedoRecPtr check).
func (w *WAL) WithInsertLock(fn func(next LSN)) {
	l := w.insertLockAcquire()
	fn(w.InsertLSN())
	w.insertLockRelease(l)
}

// WithInsertLockExclusive runs fn with every insertion lock held
// (WALInsertLockAcquireExclusive) and the position the next record will
// take: no insertion is in progress and none can start. The checkpointer
// takes its REDO pointer this way (CreateCheckPoint), so that no record
// can slip between reading the position and publishing it, and
// pg_backup_start and pg_backup_stop change runningBackups.
func (w *WAL) WithInsertLockExclusive(fn func(next LSN)) {
	w.insertLockAcquireExclusive()
	fn(w.InsertLSN())
	w.insertLockReleaseExclusive()
}

// switchExclusive ends the current segment with a switch record and
// reserves the rest of it (RequestXLogSwitch, ReserveXLogSwitch), with
// every insertion lock held: the next record goes to the next segment.
// The rest of the segment is never written.
func (w *WAL) switchExclusive(l *insertLock) {
	sw := Record{Rmid: RMXLog, Info: InfoSwitch}
	w.posLck.Lock()
	start, swEnd, prev := w.reserveLocked(l, sw.EncodedSize())
	segEnd := swEnd
	if w.cfg.segOff(swEnd) != 0 {
		segEnd = w.cfg.segStart(w.cfg.segOf(swEnd) + 1)
	}
	w.insertLSN = segEnd
	w.curBytePos = w.cfg.recPtrToBytePos(segEnd)
	crosses := w.cfg.segOf(swEnd-1) != w.cfg.segOf(start)
	if !crosses {
		w.switchEnds = append(w.switchEnds, swEnd)
	}
	w.posLck.Unlock()
	sw.Prev, sw.LSN = prev, start
	w.copyRecord(l, &sw, start, swEnd)
	if crosses {
		// The record crossed into the segment it ends: nothing else is
		// in that segment, and it is written whole, the rest as
		// initialized empty pages, as PostgreSQL writes the rest of every
		// switched segment. Otherwise the file would end inside the
		// segment with no switch record starting in it to say why.
		w.e.Sometimes("wal-switch-crosses-segment")
		for p := pageStart(swEnd-1) + PageSize; p < segEnd; p += PageSize {
			w.getXLogBuffer(l, p)
		}
		return
	}
	// The rest is never written: its pages take no buffers.
	w.posLck.Lock()
	if w.initUpto != pageStart(swEnd-1)+PageSize {
		w.posLck.Unlock()
		panic(fmt.Sprintf("wal: switch record ending at %s leaves the buffers initialized to %s", swEnd, w.initUpto))
	}
	w.initUpto = max(w.initUpto, segEnd)
	w.posLck.Unlock()
}

// copyRecord is CopyXLogRecordToWAL: it encodes the record (its CRC covers
// xl_prev, known only now) into the pages l mapped for it, each page it
// continues on flagged XLP_FIRST_IS_CONTRECORD with the record's remaining
// length in xlp_rem_len.
func (w *WAL) copyRecord(l *insertLock, rec *Record, start, end LSN) {
	w.e.Inject(PointInsertCopy)
	if pageStart(end-1) == pageStart(start) {
		// The common case: the record fits on its page, and is encoded
		// there in place.
		off := pageOff(start)
		pg := w.pageOf(l, 0, start)
		if out := rec.AppendEncoded(pg[off:off:PageSize]); len(out) != int(end-start) || &out[0] != &pg[off] {
			panic(fmt.Sprintf("wal: record at %s encoded off its page", start))
		}
	} else {
		l.scratch = rec.AppendEncoded(l.scratch[:0])
		w.copyAcrossPages(l, l.scratch, start, end, uint32(HeaderSize+len(rec.Payload)))
		w.e.Sometimes("wal-record-crosses-page")
		if w.cfg.segOf(end-1) != w.cfg.segOf(start) {
			w.e.Sometimes("wal-record-crosses-segment")
		}
	}
	w.e.WALInserted(uint64(start), uint64(end), rec.Rmid, rec.Xid)
}

// copyAcrossPages copies b, an encoded record that crosses pages (aligned;
// total its unaligned length, xl_tot_len), from start. The alignment
// padding never crosses a page.
func (w *WAL) copyAcrossPages(l *insertLock, b []byte, start, end LSN, total uint32) {
	pos := start
	written := 0
	pg := w.pageOf(l, 0, start)
	for i := 0; ; i++ { // bounded: one step per page of the record
		if pageStart(pos) >= end {
			panic(fmt.Sprintf("wal: record at %s runs past its end %s", start, end))
		}
		n := min(len(b)-written, int(PageSize-pageOff(pos)))
		copy(pg[pageOff(pos):], b[written:written+n])
		written += n
		pos += LSN(n)
		if written == len(b) {
			break
		}
		// GetXLogBuffer for the next page: say that everything before it
		// is copied, then go on (where PostgreSQL may sleep in
		// AdvanceXLInsertBuffer).
		w.updateInsertingAt(l, pos)
		w.e.Inject(PointInsertCopy)
		next := w.pageOf(l, i+1, pos+LSN(w.cfg.pageHdrSize(pos)))
		pg = next
		binary.LittleEndian.PutUint16(next[2:], binary.LittleEndian.Uint16(next[2:])|XLPFirstIsContRecord)
		binary.LittleEndian.PutUint32(next[16:], total-uint32(written))
		pos += LSN(w.cfg.pageHdrSize(pos))
	}
	if pos != end {
		panic(fmt.Sprintf("wal: record at %s copied to %s, reserved to %s", start, pos, end))
	}
}

// InsertLSN is the position the next record will take, as reserved
// (GetXLogInsertRecPtr).
func (w *WAL) InsertLSN() LSN {
	w.posLck.Lock()
	l := w.insertLSN
	w.posLck.Unlock()
	return l
}

// Flushed is how far the WAL is known durable (GetFlushRecPtr).
func (w *WAL) Flushed() LSN {
	w.posLck.Lock()
	l := w.flushed
	w.posLck.Unlock()
	return l
}
