package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WAL pages, as PostgreSQL lays them out (src/include/access/xlog_internal.h).
// The stream is cut into pages of PageSize bytes (XLOG_BLCKSZ); each page
// starts with an XLogPageHeaderData, and the first page of a segment with
// the long form (XLogLongPageHeaderData), which also names the segment
// size and the page size so that a file of another configuration is never
// read as WAL:
//
//	off  0  xlp_magic     u16  PageMagic
//	off  2  xlp_info      u16  XLP_* flags
//	off  4  xlp_tli       u32  timeline of the page
//	off  8  xlp_pageaddr  u64  LSN of the page's first byte
//	off 16  xlp_rem_len   u32  bytes of a record continued from the previous page
//	off 20  pad           u32
//	long header only:
//	off 24  xlp_sysid     u64  system identifier (a constant here: pgdst has none)
//	off 32  xlp_seg_size  u32
//	off 36  xlp_xlog_blcksz u32
//
// A record that does not fit on its page continues on the next one after
// that page's header, which then has XLP_FIRST_IS_CONTRECORD and says in
// xlp_rem_len how many bytes of the record remain (CopyXLogRecordToWAL).
// Records cross segment boundaries the same way. The page size is
// PostgreSQL's 8 kB even with the simulator's 64 kB segments: eight pages
// a segment is enough for records to cross pages often (every full-page
// image does) and segments too.
const (
	// PageSize is XLOG_BLCKSZ.
	PageSize = 8192
	// PageMagic is XLOG_PAGE_MAGIC (PostgreSQL 15's value).
	PageMagic = 0xD110
	// ShortPageHdrSize and LongPageHdrSize are SizeOfXLogShortPHD and
	// SizeOfXLogLongPHD (MAXALIGNed).
	ShortPageHdrSize = 24
	LongPageHdrSize  = 40
	// The xlp_info flags.
	XLPFirstIsContRecord          = 0x0001
	XLPLongHeader                 = 0x0002
	XLPBkpRemovable               = 0x0004
	XLPFirstIsOverwriteContRecord = 0x0008
	xlpAllFlags                   = 0x000F
	// SystemID is every page's xlp_sysid: pgdst has no system identifier
	// (a deviation: PostgreSQL's is made at initdb from the time).
	SystemID = 0x7067647374 // "pgdst"
	// usablePageBytes is UsableBytesInPage.
	usablePageBytes = PageSize - ShortPageHdrSize
)

// ErrBadPage is a page header that XLogReaderValidatePageHeader rejects.
var ErrBadPage = errors.New("wal: invalid page header")

// ErrUnexpectedPageAddr is a page header whose xlp_pageaddr names another
// position: most often a recycled segment's stale page (recycle.go).
var ErrUnexpectedPageAddr = errors.New("unexpected pageaddr")

// pageHdrSize is the header size of the page starting at p.
func (c Config) pageHdrSize(p LSN) int64 {
	if c.segOff(p) == 0 {
		return LongPageHdrSize
	}
	return ShortPageHdrSize
}

func pageStart(p LSN) LSN { return p &^ (PageSize - 1) }
func pageOff(p LSN) int64 { return int64(uint64(p) & (PageSize - 1)) }

// usableSegBytes is UsableBytesInSegment.
func (c Config) usableSegBytes() uint64 {
	return uint64(c.SegmentSize/PageSize)*usablePageBytes - (LongPageHdrSize - ShortPageHdrSize)
}

// bytePosToRecPtr is XLogBytePosToRecPtr: the LSN of usable byte position
// pos, a record's start (never a page boundary: the header comes first).
func (c Config) bytePosToRecPtr(pos uint64) LSN {
	usable := c.usableSegBytes()
	fullsegs, left := pos/usable, pos%usable
	var off uint64
	if left < PageSize-LongPageHdrSize {
		off = left + LongPageHdrSize
	} else {
		left -= PageSize - LongPageHdrSize
		off = PageSize + left/usablePageBytes*PageSize + left%usablePageBytes + ShortPageHdrSize
	}
	return c.segStart(fullsegs) + LSN(off)
}

// bytePosToEndRecPtr is XLogBytePosToEndRecPtr: the LSN of the end of a
// record ending at usable byte position pos; a record ending exactly at a
// page's end ends there, not after the next page's header.
func (c Config) bytePosToEndRecPtr(pos uint64) LSN {
	usable := c.usableSegBytes()
	fullsegs, left := pos/usable, pos%usable
	var off uint64
	if left < PageSize-LongPageHdrSize {
		if left != 0 {
			off = left + LongPageHdrSize
		}
	} else {
		left -= PageSize - LongPageHdrSize
		off = PageSize + left/usablePageBytes*PageSize + left%usablePageBytes
		if left%usablePageBytes != 0 {
			off += ShortPageHdrSize
		}
	}
	return c.segStart(fullsegs) + LSN(off)
}

// recPtrToBytePos is XLogRecPtrToBytePos, the inverse of both.
func (c Config) recPtrToBytePos(p LSN) uint64 {
	base := c.segOf(p) * c.usableSegBytes()
	off := uint64(c.segOff(p))
	fullpages, po := off/PageSize, off%PageSize
	if fullpages == 0 {
		if po > 0 {
			if po < LongPageHdrSize {
				panic(fmt.Sprintf("wal: LSN %s is inside a page header", p))
			}
			base += po - LongPageHdrSize
		}
		return base
	}
	base += PageSize - LongPageHdrSize + (fullpages-1)*usablePageBytes
	if po > 0 {
		if po < ShortPageHdrSize {
			panic(fmt.Sprintf("wal: LSN %s is inside a page header", p))
		}
		base += po - ShortPageHdrSize
	}
	return base
}

// validPos reports whether p can be a record's start or a record's end, or
// where streaming starts: aligned and not inside a page header.
func (c Config) validPos(p LSN) bool {
	if uint64(p)%Align != 0 {
		return false
	}
	po := pageOff(p)
	return po == 0 || po >= c.pageHdrSize(pageStart(p))
}

// appendPageHeader appends the header of the page starting at p.
func (c Config) appendPageHeader(dst []byte, p LSN, tli uint32, info uint16, remLen uint32) []byte {
	n := c.pageHdrSize(p)
	if n == LongPageHdrSize {
		info |= XLPLongHeader
	}
	at := len(dst)
	dst = append(dst, make([]byte, n)...)
	b := dst[at:]
	binary.LittleEndian.PutUint16(b[0:], PageMagic)
	binary.LittleEndian.PutUint16(b[2:], info)
	binary.LittleEndian.PutUint32(b[4:], tli)
	binary.LittleEndian.PutUint64(b[8:], uint64(p))
	binary.LittleEndian.PutUint32(b[16:], remLen)
	if n == LongPageHdrSize {
		binary.LittleEndian.PutUint64(b[24:], SystemID)
		binary.LittleEndian.PutUint32(b[32:], uint32(c.SegmentSize))
		binary.LittleEndian.PutUint32(b[36:], PageSize)
	}
	return dst
}

// SegmentHeader is the long page header that starts segment seg on
// timeline 1 with no record continued into it (tests build segments with
// it).
func SegmentHeader(c Config, seg uint64) []byte {
	return c.appendPageHeader(nil, c.segStart(seg), 1, 0, 0)
}

// pageHeader is a decoded page header.
type pageHeader struct {
	info   uint16
	tli    uint32
	remLen uint32
	size   int64
}

// validatePageHeader is XLogReaderValidatePageHeader for the page that
// starts at p, whose first bytes are b; latestTLI is the timeline of the
// last page read before it (0 for none). The messages are PostgreSQL's.
func (c Config) validatePageHeader(p LSN, b []byte, latestTLI uint32) (pageHeader, error) {
	n := c.pageHdrSize(p)
	seg, off := c.segOf(p), c.segOff(p)
	// A segment's first page stands for the segment: a bad one is a bad
	// segment (the standby takes it for one not received yet).
	bad := ErrBadPage
	if n == LongPageHdrSize {
		bad = ErrBadSegment
	}
	if int64(len(b)) < n {
		return pageHeader{}, fmt.Errorf("%w: short page header at %s", bad, p)
	}
	h := pageHeader{
		info:   binary.LittleEndian.Uint16(b[2:]),
		tli:    binary.LittleEndian.Uint32(b[4:]),
		remLen: binary.LittleEndian.Uint32(b[16:]),
		size:   n,
	}
	if m := binary.LittleEndian.Uint16(b[0:]); m != PageMagic {
		return h, fmt.Errorf("%w: invalid magic number %04X in WAL segment %d, LSN %s, offset %d", bad, m, seg, p, off)
	}
	if h.info&^xlpAllFlags != 0 {
		return h, fmt.Errorf("%w: invalid info bits %04X in WAL segment %d, LSN %s, offset %d", bad, h.info, seg, p, off)
	}
	if (h.info&XLPLongHeader != 0) != (n == LongPageHdrSize) {
		return h, fmt.Errorf("%w: invalid info bits %04X in WAL segment %d, LSN %s, offset %d", bad, h.info, seg, p, off)
	}
	if n == LongPageHdrSize {
		sysid := binary.LittleEndian.Uint64(b[24:])
		segSize := binary.LittleEndian.Uint32(b[32:])
		blck := binary.LittleEndian.Uint32(b[36:])
		switch {
		case sysid != SystemID:
			return h, fmt.Errorf("%w: WAL file is from different database system: WAL file database system identifier is %d, pg_control database system identifier is %d", bad, sysid, uint64(SystemID))
		case int64(segSize) != c.SegmentSize:
			return h, fmt.Errorf("%w: WAL file is from different database system: incorrect segment size in page header", bad)
		case blck != PageSize:
			return h, fmt.Errorf("%w: WAL file is from different database system: incorrect XLOG_BLCKSZ in page header", bad)
		}
	}
	// The check that keeps a recycled segment's stale pages, which name
	// the segment they were, from being read as WAL (recycle.go). The
	// prev-link check (ValidXLogRecordHeader) would reject a stale
	// record after it, and the CRC a stale continuation; this one stops
	// the reader at the page, before any of its bytes are taken.
	if addr := LSN(binary.LittleEndian.Uint64(b[8:])); addr != p {
		return h, fmt.Errorf("%w: %w %s in log segment %s, offset %d", bad, ErrUnexpectedPageAddr, addr, SegmentNameTLI(c, max(latestTLI, 1), seg), off)
	}
	if h.tli == 0 || h.tli < latestTLI {
		return h, fmt.Errorf("%w: out-of-sequence timeline ID %d (after %d) in WAL segment %d, LSN %s, offset %d", bad, h.tli, latestTLI, seg, p, off)
	}
	return h, nil
}

// memFile is a segment held in memory, read-only (NewMemReader).
type memFile []byte

func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m memFile) WriteAt([]byte, int64) (int, error) { return 0, errors.New("wal: read-only segment") }
func (m memFile) Sync() error                        { return nil }
func (m memFile) Truncate(int64) error               { return errors.New("wal: read-only segment") }
func (m memFile) Size() (int64, error)               { return int64(len(m)), nil }
func (m memFile) Close() error                       { return nil }
func (m memFile) Path() string                       { return "memory" }
