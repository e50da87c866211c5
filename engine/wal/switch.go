package wal

import "slices"

// SwitchSegment ends the current segment early with a switch record and
// flushes it, so that the segment is complete and the archiver can copy
// it (RequestXLogSwitch, which XLogInsertRecord flushes for an XLOG_SWITCH;
// the checkpointer calls it when archive_timeout expires, CheckArchiveTimeout).
// When the insert position is at the start of a segment, nothing has been
// written since the last switch and nothing is done, as in PostgreSQL. It
// returns the switch record's end and whether there was one.
func (w *WAL) SwitchSegment() (end LSN, switched bool) {
	w.insertMu.Lock()
	if w.cfg.segOff(w.insertLSN) <= SegHdrSize {
		end = w.insertLSN
		w.insertMu.Unlock()
		return end, false
	}
	segEnd := w.cfg.segStart(w.cfg.segOf(w.insertLSN) + 1)
	sw := Record{Rmid: RMXLog, Info: InfoSwitch}
	_, end = w.appendLocked(&sw)
	w.switchEnds = append(w.switchEnds, end)
	// The rest of the segment and the next segment's header are skipped,
	// as in makeRoomLocked. The padding is most of a segment here, so it
	// is made in place: one allocation at most (the buffer keeps its
	// capacity after the flush compacts it), zeroed rather than copied.
	pad := int(segEnd-w.insertLSN) + SegHdrSize
	n := len(w.buf)
	w.buf = slices.Grow(w.buf, pad)[:n+pad]
	clear(w.buf[n:])
	w.insertLSN = segEnd + SegHdrSize
	w.insertMu.Unlock()
	w.e.Sometimes("wal-switch-forced")
	w.Flush(w.insertLSN)
	return end, true
}
