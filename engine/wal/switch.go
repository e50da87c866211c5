package wal

// SwitchSegment is RequestXLogSwitch: it ends the current segment with a
// switch record, so that the segment is complete (and archived) once the
// returned position is flushed, and the next record goes to the next
// segment. It switches nothing, and reports false, when no record has
// gone into the current segment (it is at the segment's start, or just
// after the header of initdb's first segment): a switch there would
// only waste a segment (CheckArchiveTimeout's GetLastImportantRecPtr
// check). Like XLogInsertRecord for an XLOG_SWITCH, it holds every
// insertion lock.
func (w *WAL) SwitchSegment() (end LSN, switched bool) {
	l := w.insertLockAcquireExclusive()
	defer w.insertLockReleaseExclusive()
	ins := w.InsertLSN()
	if off := w.cfg.segOff(ins); off == 0 || off == SegHdrSize {
		return ins, false
	}
	w.switchExclusive(l)
	return w.InsertLSN(), true
}
