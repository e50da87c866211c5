package buffer

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// A clean buffer is a copy of its block on disk: every change to a page
// must mark its buffer dirty (MarkBufferDirty, MarkBufferDirtyHint), or
// the change is lost at eviction, and a WAL-logged one may be lost for
// good once a checkpoint passes it (the class of "modified the page but
// forgot MarkBufferDirty" bugs, and of a write that ends as clean a buffer
// that was dirtied again while it was being written: BM_JUST_DIRTIED).
// PostgreSQL asserts nothing of the kind; pgdst checks it where it costs
// least: the pool remembers a digest of the page as read from or written to
// disk, and compares it when a clean buffer is evicted. A mismatch is an
// engine bug (a Go panic, so the run fails).

// pageCRC is a digest of a page's bytes: four lanes of 64-bit words,
// each summed with a rotation per word so that a change anywhere, even of
// one bit, changes it (a hint bit is one bit). It is several times
// cheaper than a CRC, and the check needs no more: it compares a page
// with itself, not with anything an adversary wrote.
func pageCRC(pg []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for len(pg) >= 32 {
		w := pg[:32:32]
		s0 = bits.RotateLeft64(s0, 7) + binary.LittleEndian.Uint64(w[0:8])
		s1 = bits.RotateLeft64(s1, 11) + binary.LittleEndian.Uint64(w[8:16])
		s2 = bits.RotateLeft64(s2, 13) + binary.LittleEndian.Uint64(w[16:24])
		s3 = bits.RotateLeft64(s3, 17) + binary.LittleEndian.Uint64(w[24:32])
		pg = pg[32:]
	}
	return s0 ^ bits.RotateLeft64(s1, 16) ^ bits.RotateLeft64(s2, 32) ^ bits.RotateLeft64(s3, 48)
}

// zeroPageCRC is the CRC of a new, all-zero page (ExtendBuffer's).
var zeroPageCRC = pageCRC(make([]byte, BLCKSZ))

// setCleanLocked records that d's page now equals its block on disk,
// whose CRC is crc. The caller holds the header lock.
func (d *bufferDesc) setCleanLocked(crc uint64) {
	d.cleanCRC, d.cleanKnown = crc, !d.hintedClean
}

// checkCleanLocked panics if d, a valid clean buffer about to be evicted
// (pinned only by the caller, so no one can be changing it), holds a page
// that differs from the one it last read or wrote. The caller holds the
// header lock.
func (p *Pool) checkCleanLocked(d *bufferDesc) {
	if !d.valid || d.dirty || !d.cleanKnown {
		return
	}
	if got := pageCRC(p.page(d.id)); got != d.cleanCRC {
		panic(fmt.Sprintf("buffer: clean buffer %d (%s) changed since it was last read or written, without MarkBufferDirty: the change is lost at eviction", d.id+1, d.tag))
	}
}

// CheckClean verifies that every valid, clean, unpinned buffer still holds
// the page it last read or wrote (a pinned one may be in the middle of a
// change, before its MarkBufferDirty). Like InspectValid it takes no lock:
// it is for the simulator's harness, which calls it between two steps of
// a single-threaded simulation, e.g. just before a power loss discards the
// pool.
func (p *Pool) CheckClean() error {
	for i := range p.descs {
		d := &p.descs[i]
		if !d.valid || d.dirty || !d.cleanKnown || d.refcount > 0 || d.ioInProgress {
			continue
		}
		if got := pageCRC(p.page(d.id)); got != d.cleanCRC {
			return fmt.Errorf("clean buffer %d (%s) changed since it was last read or written, without MarkBufferDirty", d.id+1, d.tag)
		}
	}
	return nil
}
