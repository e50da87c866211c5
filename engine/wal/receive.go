package wal

import (
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
)

// Receiving WAL on a standby (walreceiver.c's XLogWalRcvWrite and
// XLogWalRcvFlush). The primary streams its WAL as bytes at their LSNs,
// exactly as its segments hold them; the receiver writes each chunk into
// the segment holding it here, creating the segment (header first,
// durable_rename) when it is new, and fsyncs on request. It knows nothing
// of records: the standby's startup process reads them, up to the flushed
// position only (Reader.Limit).

// Receiver writes streamed WAL into this node's pg_wal.
type Receiver struct {
	e   *env.Env
	cfg Config
	seg uint64
	f   env.File // the segment written last, nil before the first write
	// TLI is the timeline whose segment names the received WAL goes
	// under (walreceiver.c's recvFileTLI): 0 or 1 is timeline 1.
	TLI uint32
	// written is the end of the bytes written so far, flushed the end of
	// those fsynced (LogstreamResult.Write and .Flush).
	written LSN
	flushed LSN
	// floor is where the WAL this node held already ends when streaming
	// starts before it (StreamStart): the positions never report less.
	floor LSN
}

// StreamStart is where streaming that must reach lsn starts: the start of
// lsn's page, so that the page's header is received with it even when
// this node has no copy of the segment (RequestXLogStreaming starts at
// the segment's start for the same reason).
func StreamStart(lsn LSN) LSN { return pageStart(lsn) }

// ReceiveStart is where a WAL receiver on timeline tli asks for streaming
// that must reach lsn, a record's start: with continuation (the primary
// refused the record's start, its segment removed), the first page of
// the record this node's copy lacks, when it holds the record's first
// pages (XLogPageRead asks for the page it needs); else
// lsn itself when this node's copy of lsn's segment
// (on tli or an older timeline, which the new timeline's copy is made
// from) holds a valid header for lsn's page, else StreamStart(lsn): a
// crash may have left the segment's file with its size but not its bytes.
func ReceiveStart(e *env.Env, c Config, tli uint32, lsn LSN, continuation bool) LSN {
	if !continuation {
		// From the record's start when the primary still has it: the
		// local head may be torn, and streaming it again repairs it.
	} else if need := localContinuation(e, c, tli, lsn); need != InvalidLSN {
		return need
	}
	p := pageStart(lsn)
	if p == lsn {
		return lsn
	}
	need := c.segOff(p) + c.pageHdrSize(p)
	top := max(tli, 1)
	for t := top; t >= 1 && t+64 > top; t-- { // bounded, as PrepareTimelineSegment's search
		f, err := e.Disk.Open(SegmentPathTLI(c, t, c.segOf(lsn)), env.OpenExisting)
		if err != nil {
			continue
		}
		b := make([]byte, need-c.segOff(p))
		n, _ := f.ReadAt(b, c.segOff(p))
		f.Close()
		if int64(n) == int64(len(b)) {
			if _, err := c.validatePageHeader(p, b, 0); err == nil {
				return lsn
			}
		}
	}
	return p
}

// NewReceiver starts receiving at start: nothing before it is written or
// flushed by this receiver.
func NewReceiver(e *env.Env, c Config, start LSN) (*Receiver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.validPos(start) {
		return nil, fmt.Errorf("wal: cannot receive WAL from %s, not a record position", start)
	}
	return &Receiver{e: e, cfg: c, written: start, flushed: start}, nil
}

// Written is the end of the WAL written (not necessarily durable).
func (r *Receiver) Written() LSN { return max(r.written, r.floor) }

// Flushed is the end of the WAL written and fsynced.
func (r *Receiver) Flushed() LSN { return max(r.flushed, r.floor) }

// Holds says this node holds the WAL before at already (the end of what
// its startup process read from pg_wal), so that a receiver that starts
// at at's page (StreamStart) reports nothing less than at, as it did
// before it asked.
func (r *Receiver) Holds(at LSN) { r.floor = max(r.floor, at) }

// Write writes data, the stream's bytes from start on. Chunks come in
// order; one may begin past the end of the last (the primary skips the
// unused rest of a segment a switch record ended), never before it.
// Chunks hold page headers like any other bytes of the stream.
func (r *Receiver) Write(start LSN, data []byte) error {
	if start < r.written {
		return fmt.Errorf("wal: received WAL at %s, before the end %s already written", start, r.written)
	}
	if len(data) == 0 {
		return nil
	}
	for pos := start; pos < start+LSN(len(data)); {
		seg := r.cfg.segOf(pos)
		end := min(start+LSN(len(data)), r.cfg.segStart(seg+1))
		if err := r.open(seg); err != nil {
			return err
		}
		if _, err := r.f.WriteAt(data[pos-start:end-start], r.cfg.segOff(pos)); err != nil {
			return fmt.Errorf("could not write to WAL segment %q at %s: %w", r.f.Path(), pos, err)
		}
		pos = end
	}
	r.written = start + LSN(len(data))
	return nil
}

// Flush fsyncs what was written (XLogWalRcvFlush). A failed fsync is a
// PANIC, as issue_xlog_fsync's: the kernel may have dropped the pages.
func (r *Receiver) Flush() {
	if r.flushed == r.written {
		return
	}
	if r.f != nil {
		if err := r.f.Sync(); err != nil {
			r.e.Panicf("could not fsync WAL segment %q: %v", r.f.Path(), err)
		}
	}
	r.flushed = r.written
}

// open makes seg the segment written, creating it when it is not there. A
// segment already there is kept: the bytes it holds before the chunk are
// the same stream received earlier (a receiver restarted mid-segment).
// Moving to another segment fsyncs the one left, as XLogWalRcvWrite does
// before it closes a segment, so that flushed never covers bytes of a
// closed file that were not synced.
func (r *Receiver) open(seg uint64) error {
	if r.f != nil && r.seg == seg {
		return nil
	}
	if r.f != nil {
		if err := r.f.Sync(); err != nil {
			r.e.Panicf("could not fsync WAL segment %q: %v", r.f.Path(), err)
		}
		r.f.Close()
		r.f = nil
		if r.cfg.ArchiveMode && seg > r.seg {
			// XLogWalRcvClose: with archive_mode = on (not always)
			// the finished segment is marked archived at once
			// (XLogArchiveForceDone), so that once promoted this node
			// never archives WAL the primary produced and archives
			// itself. A failure is logged as PostgreSQL logs it.
			name := SegmentNameTLI(r.cfg, max(r.TLI, 1), r.seg)
			if err := NewArchiveStatus(r.e, r.cfg).ForceDone(name); err != nil {
				r.e.Logf("could not mark %s archived: %v", name, err)
			} else {
				r.e.Sometimes("walreceiver-segment-force-done")
			}
		}
	}
	path := SegmentPathTLI(r.cfg, max(r.TLI, 1), seg)
	f, err := r.e.Disk.Open(path, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		f, err = createSegmentAt(r.e, r.cfg, seg, path)
	}
	if err != nil {
		return fmt.Errorf("could not open WAL segment %d: %w", seg, err)
	}
	r.seg, r.f = seg, f
	return nil
}

// Close closes the open segment; what was not flushed may be lost.
func (r *Receiver) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// ReadStream reads the stream's bytes from start up to limit, at most
// maxBytes of them, from this node's segments, for a WAL sender (WALRead). limit
// must be durable WAL (the flushed position), so every byte before it is
// in its segment, except the unused rest of a segment a switch record
// ended, which the segment's file does not hold: the read then returns
// next, the first position after that gap, and no bytes. It returns the
// bytes read (at start) and the position after them.
func ReadStream(e *env.Env, c Config, start, limit LSN, maxBytes int, buf []byte) (data []byte, next LSN, err error) {
	return ReadStreamTLI(e, c, 1, start, limit, maxBytes, buf)
}

// ReadStreamTLI is ReadStream from timeline tli's copy of start's segment
// (WalSndSegmentOpen opens the file of the timeline it sends, or the next
// timeline's for a historic timeline's last segment).
func ReadStreamTLI(e *env.Env, c Config, tli uint32, start, limit LSN, maxBytes int, buf []byte) (data []byte, next LSN, err error) {
	if start >= limit || maxBytes <= 0 {
		return buf[:0], start, nil
	}
	seg := c.segOf(start)
	segEnd := c.segStart(seg + 1)
	want := min(limit, segEnd, start+LSN(maxBytes)) - start
	f, err := e.Disk.Open(SegmentPathTLI(c, tli, seg), env.OpenExisting)
	if err != nil {
		return nil, start, fmt.Errorf("requested WAL segment %s has already been removed: %w", SegmentNameTLI(c, tli, seg), err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, start, err
	}
	have := max(0, size-c.segOff(start))
	if have == 0 {
		// The gap after a switch record: the next segment's first
		// page comes next, or, when the durable WAL (or a historic
		// timeline) ends at the segment's end, nothing.
		if limit < segEnd {
			return nil, start, fmt.Errorf("wal: segment %d ends at %d, before the durable WAL at %s", seg, size, limit)
		}
		return buf[:0], segEnd, nil
	}
	n := min(int64(want), have)
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	got, err := f.ReadAt(buf, c.segOff(start))
	if int64(got) != n {
		return nil, start, fmt.Errorf("could not read WAL segment %q at %s: %d of %d bytes: %v", f.Path(), start, got, n, err)
	}
	return buf, start + LSN(n), nil
}

// SegmentFileEnd is the LSN just past the bytes the file of lsn's segment
// holds, written or not yet durable (InvalidLSN if there is no such
// file). Only the planted bug walsender-unflushed reads WAL so far.
func SegmentFileEnd(e *env.Env, c Config, lsn LSN) LSN {
	seg := c.segOf(lsn)
	f, err := e.Disk.Open(SegmentPath(c, seg), env.OpenExisting)
	if err != nil {
		return InvalidLSN
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size <= SegHdrSize {
		return InvalidLSN
	}
	return c.segStart(seg) + LSN(size)
}

// FirstSegmentStartAnyTLI is the start of the oldest segment of any
// timeline pg_wal holds (a promoted standby's oldest segments are its
// parent timeline's, the later ones its own): the first byte a WAL sender
// can send.
func FirstSegmentStartAnyTLI(e *env.Env, c Config) (LSN, error) {
	names, err := e.Disk.List(Dir)
	if err != nil {
		return InvalidLSN, err
	}
	first, found := uint64(0), false
	for _, n := range names {
		if _, seg, ok := ParseSegmentNameTLI(c, n); ok && (!found || seg < first) {
			first, found = seg, true
		}
	}
	if !found {
		return InvalidLSN, errors.New("wal: no WAL segments")
	}
	return c.segStart(first), nil
}

// localContinuation is the page where this node's copy of the record at
// lsn stops (its continuation is not there), or InvalidLSN when the
// copy does not hold the record's first page or holds all of it.
func localContinuation(e *env.Env, c Config, tli uint32, lsn LSN) LSN {
	// Timeline tli's copy only: an older timeline's head of the record
	// may differ from tli's, which forked inside it.
	tlis := func(uint64) []uint32 { return []uint32{max(tli, 1)} }
	r, err := NewRestoringReader(e, c, lsn, InvalidLSN, tlis, func(uint32, uint64) {})
	if err != nil {
		return InvalidLSN
	}
	defer r.Close()
	if _, ok, err := r.Next(); err != nil || ok {
		return InvalidLSN
	}
	if r.AbortedRecPtr != lsn || r.MissingContrecPtr <= lsn {
		return InvalidLSN
	}
	return r.MissingContrecPtr
}
