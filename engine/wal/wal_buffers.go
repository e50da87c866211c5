package wal

import "fmt"

// The WAL buffers as PostgreSQL 15 keeps them (xlog.c, XLogCtl->pages and
// xlblocks): a ring of wal_buffers pages of XLOG_BLCKSZ in shared memory.
// The page at LSN p lives in slot (p / XLOG_BLCKSZ) % wal_buffers
// (XLogRecPtrToBufIdx), and ends[slot] says which page the slot holds
// (xlblocks: the end of that page). A slot is reused for a new page by
// AdvanceXLInsertBuffer, when an insertion first needs the page
// (GetXLogBuffer): before it may, the page the slot held must be written
// out (LogwrtResult.Write past its end). When it is not, the inserter
// writes it itself: it waits for the insertions still copying into the
// WAL before that page's end (WaitXLogInsertionsToFinish), takes
// WALWriteLock and calls XLogWrite up to there, without fsync
// (WriteRqst.Flush = 0) — pg_stat_wal.wal_buffers_full counts these
// writes. A backend whose insertions outrun the WAL writer thus writes WAL
// itself, and the WAL on disk runs ahead of the WAL known durable: the
// written bytes are in the page cache, which a power loss may keep, drop
// or tear. WAL-before-data still holds, since a data page is written only
// once the WAL up to its LSN is flushed (fsynced), never merely written.
//
// Fault model: a power loss after such a write keeps any part of it (the
// pages are not fsynced); a crash or a pause can hit the inserter between
// the write and the reuse of the slot (PointBuffersFullWrite). Planted bug
// wal-buffer-reuse-unwritten reuses a slot without the write: the old
// page's bytes are overwritten by the new page's before they reach disk,
// and a later flush writes the new page's bytes at the old page's place.
//
// Deviations: WALBufMappingLock is posLck here (a spinlock: initializing a
// page in memory is no scheduling point); the WAL writer never
// pre-initializes pages (AdvanceXLInsertBuffer's opportunistic mode, which
// XLogBackgroundFlush calls); and the unused rest of a switched segment
// takes no slots (the switcher does not walk it, see switchExclusive),
// where PostgreSQL initializes and writes each of its pages.
//
// A write of full buffers that completes a segment fsyncs it and moves
// the flushed position to the segment's end, as XLogWrite does
// (finishing_seg: LogwrtResult.Flush = LogwrtResult.Write). That position
// can be inside a record that goes on in the next segment, still only in
// the buffers: a WAL sender streams up to it and a standby replays up to
// that record's start, then waits for its rest. The standby checker's
// catch-up target is therefore the end of the last complete record at or
// before the primary's flushed position (simtest/standby_target.go); it
// was the flushed position itself, which failed runs where the recovered
// primary's hint full-page images filled the buffers and nothing flushed
// the rest (seed 1186 with two standbys, a failover and wal_buffers = 4).

// The bounds of wal_buffers, in pages. WALBuffersSetMin is
// check_wal_buffers' clamp for a value set by hand; WALBuffersAutoMin is
// XLOGChooseNumBuffers' least.
const (
	WALBuffersSetMin  = 4
	WALBuffersAutoMin = 8
	WALBuffersMax     = 1 << 18
	// DefaultSharedBuffers is the shared_buffers (pages) that wal_buffers
	// = -1 is chosen from when the WAL is opened with the value unresolved
	// (engine/db's default, PostgreSQL's 128MB scaled to 1MB).
	DefaultSharedBuffers = 128
)

// PointBuffersFullWrite is the injection point an insertion reaches after
// it wrote out the old page of the WAL buffer slot it needs because the
// ring was full, before it reuses the slot.
const PointBuffersFullWrite = "wal-buffers-full-after-write"

// ChooseNumBuffers is XLOGChooseNumBuffers: 1/32 of shared_buffers, at
// most one segment's pages, at least WALBuffersAutoMin.
func ChooseNumBuffers(sharedBuffers int, segmentSize int64) int {
	n := sharedBuffers / 32
	n = min(n, int(segmentSize/PageSize))
	return max(n, WALBuffersAutoMin)
}

// ResolveBuffers is check_wal_buffers: wal_buffers = -1 (0 here) becomes
// ChooseNumBuffers' choice for sharedBuffers, a value set below
// WALBuffersSetMin becomes WALBuffersSetMin.
func (c Config) ResolveBuffers(sharedBuffers int) Config {
	switch {
	case c.WALBuffers <= 0:
		c.WALBuffers = ChooseNumBuffers(sharedBuffers, c.SegmentSize)
	case c.WALBuffers < WALBuffersSetMin:
		c.WALBuffers = WALBuffersSetMin
	}
	return c
}

// Stats are the WAL's counters of pg_stat_wal that pgdst keeps.
type Stats struct {
	// BuffersFull is wal_buffers_full: the times an insertion wrote WAL
	// out itself because the WAL buffer page it needed held an older page
	// not yet written.
	BuffersFull uint64
}

// Stats returns the WAL's counters since it was opened (shared memory's
// life; a crash-restart starts them over, as pg_stat_wal's are reset).
func (w *WAL) Stats() Stats {
	w.posLck.Lock()
	s := Stats{BuffersFull: w.buffersFull}
	w.posLck.Unlock()
	return s
}

// initBuffers allocates the ring. Called once, from newWAL.
func (w *WAL) initBuffers() {
	n := w.cfg.ResolveBuffers(DefaultSharedBuffers).WALBuffers
	if n < WALBuffersSetMin || n > WALBuffersMax {
		panic(fmt.Sprintf("wal: %d WAL buffers, outside [%d, %d]", n, WALBuffersSetMin, WALBuffersMax))
	}
	w.ring = make([][]byte, n)
	mem := make([]byte, n*PageSize)
	for i := range w.ring {
		w.ring[i] = mem[i*PageSize : (i+1)*PageSize : (i+1)*PageSize]
	}
	w.ends = make([]LSN, n)
}

// slot is XLogRecPtrToBufIdx.
func (w *WAL) slot(p LSN) int { return int(uint64(p) / PageSize % uint64(len(w.ring))) }

// bufPage returns the buffer holding the page at p, nil when its slot
// holds another page (one not initialized yet, one written out and
// replaced, or the unused rest of a switched segment). Called with posLck
// held, or under writeMu for a page the caller writes.
func (w *WAL) bufPage(p LSN) []byte {
	i := w.slot(p)
	if w.ends[i] != pageStart(p)+PageSize {
		return nil
	}
	return w.ring[i]
}

// getXLogBuffer is GetXLogBuffer: the buffer page holding pos, for the
// insertion holding l, which has reserved space at pos. A page not yet
// initialized is, after the insertion advertises that it has copied
// everything before pos (so that a writer waiting for insertions below
// it need not wait for this one): AdvanceXLInsertBuffer.
func (w *WAL) getXLogBuffer(l *insertLock, pos LSN) []byte {
	w.posLck.Lock()
	pg := w.bufPage(pos)
	w.posLck.Unlock()
	if pg != nil {
		return pg
	}
	at := pos
	if pageOff(pos) == w.cfg.pageHdrSize(pageStart(pos)) {
		at = pageStart(pos) // GetXLogBuffer's initializedUpto: the header is not the record's
	}
	w.updateInsertingAt(l, at)
	w.advanceInsertBuffer(pos)
	w.posLck.Lock()
	pg = w.bufPage(pos)
	w.posLck.Unlock()
	if pg == nil {
		panic(fmt.Sprintf("wal: the buffer page of %s is not initialized after AdvanceXLInsertBuffer", pos))
	}
	return pg
}

// advanceInsertBufferMax bounds AdvanceXLInsertBuffer's steps: each
// initializes a page or writes out the page a slot held.
const advanceInsertBufferMax = 1 << 20

// advanceInsertBuffer is AdvanceXLInsertBuffer (not opportunistic): it
// initializes the buffer pages up to the one holding upto (zeroed, with a
// page header), each in its ring slot once the page the slot held is
// written out; when it is not, it writes it out (writeOldPage) and looks
// again.
func (w *WAL) advanceInsertBuffer(upto LSN) {
	for i := 0; ; i++ {
		if i > advanceInsertBufferMax {
			panic("wal: AdvanceXLInsertBuffer does not end")
		}
		w.posLck.Lock()
		if upto < w.initUpto {
			w.posLck.Unlock()
			return
		}
		next := w.initUpto
		idx := w.slot(next)
		old := w.ends[idx] // OldPageRqstPtr
		if w.writtenPub < old {
			if !w.reuseUnwritten {
				w.posLck.Unlock()
				w.writeOldPage(old)
				continue
			}
			// Planted bug wal-buffer-reuse-unwritten: the slot is
			// reused with its page not written out.
		}
		pg := w.ring[idx]
		clear(pg)
		w.cfg.appendPageHeader(pg[:0], next, w.timeline(), 0, 0)
		w.ends[idx] = next + PageSize
		w.initUpto = next + PageSize
		w.posLck.Unlock()
	}
}

// writeOldPage writes the WAL out up to old, the end of the page a slot
// holds that AdvanceXLInsertBuffer must reuse: after the insertions into
// it finish (WaitXLogInsertionsToFinish), under WALWriteLock, unless
// another process wrote it meanwhile; the write is XLogWrite with no
// fsync. The unused rest of a switched segment is not in the buffers: a
// request inside it is for the segment's end.
func (w *WAL) writeOldPage(old LSN) {
	w.posLck.Lock()
	req := old
	for _, sw := range w.switchEnds {
		if segEnd := w.cfg.segStart(w.cfg.segOf(sw-1) + 1); sw < req && req < segEnd {
			req = segEnd
		}
	}
	w.posLck.Unlock()
	w.waitInsertionsToFinish(req)
	w.writeLock()
	if w.written >= req {
		w.writeUnlock() // another process wrote it already
		return
	}
	w.xlogWrite(req, false)
	w.writeUnlock()
	w.posLck.Lock()
	w.buffersFull++ // PendingWalStats.wal_buffers_full
	w.posLck.Unlock()
	w.e.Sometimes("wal-buffers-full-write")
	w.e.Inject(PointBuffersFullWrite)
}
