package skel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/pgdst/pgdst/engine/wal"
)

// A heap page of the skeleton: 8 KiB, a header with pd_lsn and a checksum,
// then a fixed array of 64-bit values (0 means "no row").
//
//	off 0  pd_lsn      u64
//	off 8  pd_checksum u32  CRC32C of the page with this field zeroed
//	off 12 pd_version  u32
//	off 16 values      [SlotsPerPage]u64
//
// PostgreSQL's pg_checksum_page is an FNV-1a variant folded to 16 bits; a
// CRC32C is stronger and the engine never exchanges pages with PostgreSQL.
const (
	PageSize     = 8192
	pageHdrSize  = 16
	SlotsPerPage = (PageSize - pageHdrSize) / 8
	pageVersion  = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrChecksum is a page whose checksum does not verify: it must never be used.
var ErrChecksum = errors.New("page verification failed: checksum mismatch")

type page struct {
	vals  [SlotsPerPage]uint64
	lsn   wal.LSN
	dirty bool
	// ioInProgress and justDirtied are BM_IO_IN_PROGRESS and
	// BM_JUST_DIRTIED: a page stays dirty while it is being written, so a
	// checkpoint can never skip a page whose write has not finished.
	ioInProgress bool
	justDirtied  bool
}

func (p *page) encode(b []byte) {
	if len(b) != PageSize {
		panic("skel: page buffer of wrong size")
	}
	binary.LittleEndian.PutUint64(b[0:], uint64(p.lsn))
	binary.LittleEndian.PutUint32(b[8:], 0)
	binary.LittleEndian.PutUint32(b[12:], pageVersion)
	for i, v := range p.vals {
		binary.LittleEndian.PutUint64(b[pageHdrSize+8*i:], v)
	}
	binary.LittleEndian.PutUint32(b[8:], pageChecksum(b))
}

func pageChecksum(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[0:8])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(c, castagnoli, b[12:])
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// decodePage verifies and decodes a page read from disk. An all-zero page
// is a legal empty page, as PageIsVerified allows (a relation extended but
// never written before a crash).
func decodePage(b []byte, blkno int) (page, error) {
	var p page
	if len(b) != PageSize {
		return p, fmt.Errorf("block %d: short page (%d bytes)", blkno, len(b))
	}
	if isZero(b) {
		return p, nil
	}
	if binary.LittleEndian.Uint32(b[8:]) != pageChecksum(b) {
		return p, fmt.Errorf("invalid page in block %d: %w", blkno, ErrChecksum)
	}
	if v := binary.LittleEndian.Uint32(b[12:]); v != pageVersion {
		return p, fmt.Errorf("invalid page in block %d: version %d", blkno, v)
	}
	p.lsn = wal.LSN(binary.LittleEndian.Uint64(b[0:]))
	for i := range p.vals {
		p.vals[i] = binary.LittleEndian.Uint64(b[pageHdrSize+8*i:])
	}
	return p, nil
}
