package wal

import (
	"encoding/binary"
	"fmt"
)

// InfoOverwriteContrecord is XLOG_OVERWRITE_CONTRECORD, a record of RMXLog
// whose payload is the LSN of the record whose continuation it replaces.
const InfoOverwriteContrecord = 0xD0

// InsertOverwriteContrecord is CreateOverwriteContrecordRecord: the WAL was
// opened at the page where recovery found a record's continuation missing
// (Reader.MissingContrecPtr), and the first record there says which record
// (aborted, Reader.AbortedRecPtr) is abandoned, on a page flagged
// XLP_FIRST_IS_OVERWRITE_CONTRECORD. A reader that still has the record's
// first pieces (a standby, the archive, this node's own pg_wal) then
// skips the record instead of splicing the new page's bytes onto it. The
// pieces before the page stay untouched, so a segment already complete
// (archived, streamed) is never rewritten. It returns the record's end,
// which the caller flushes.
func (w *WAL) InsertOverwriteContrecord(aborted LSN) LSN {
	l := w.insertLockAcquireExclusive()
	defer w.insertLockReleaseExclusive()
	p := make([]byte, 8)
	binary.LittleEndian.PutUint64(p, uint64(aborted))
	rec := Record{Rmid: RMXLog, Info: InfoOverwriteContrecord, Payload: p}
	w.posLck.Lock()
	if pageOff(w.insertLSN) != 0 || w.initUpto != w.insertLSN || aborted >= w.insertLSN {
		w.posLck.Unlock()
		panic(fmt.Sprintf("wal: overwrite contrecord for %s at %s, not a fresh page after it", aborted, w.insertLSN))
	}
	start, end, prev := w.reserveLocked(l, rec.EncodedSize())
	w.posLck.Unlock()
	// The page is new: no other record is on it yet (AdvanceXLInsertBuffer
	// sets the flag on the page at missingContrecPtr).
	hdr := w.getXLogBuffer(l, start)
	binary.LittleEndian.PutUint16(hdr[2:], binary.LittleEndian.Uint16(hdr[2:])|XLPFirstIsOverwriteContRecord)
	rec.Prev, rec.LSN = prev, start
	w.copyRecord(l, &rec, start, end)
	w.e.Sometimes("wal-overwrite-contrecord-written")
	return end
}
