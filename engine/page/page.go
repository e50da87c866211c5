// Package page owns the on-disk format of an 8 KiB slotted page, as
// PostgreSQL's src/include/storage/bufpage.h and
// src/backend/storage/page/bufpage.c define it: the page header
// (PageHeaderData), the line pointer array (ItemIdData, itemid.h) growing up
// from pd_lower, the items growing down from pd_upper, and the special space
// at the end that an access method (the B-tree) keeps its opaque data in. It
// also owns the page checksum (pg_checksum_page, checksum_impl.h) and the
// read-time checks with and without data checksums (PageIsVerifiedExtended), the heap tuple header
// (HeapTupleHeaderData, htup_details.h) and the index tuple header
// (IndexTupleData, itup.h).
//
// Every function works in place on a []byte of exactly BlockSize bytes, the
// way bufpage.c works on a shared buffer, so that the buffer manager can hand
// its frames to this package without copying.
//
// It must never touch: I/O (reading and writing blocks is the buffer
// manager's and storage manager's job), buffers and their locks or pins, the
// WAL (callers log their changes and call SetLSN themselves), and visibility
// rules (the infomask bits are defined and set here, but what they mean for a
// snapshot is decided by the heap's visibility code). It does no allocation
// on its hot paths and keeps no state of its own.
//
// Errors and panics: a page that came from disk may hold anything, so
// Verify, CheckPage and the Decode functions return errors (wrapping
// ErrChecksum or ErrCorrupt) and never panic on any input. Everything else
// assumes its page passed Verify (or was built by this package) and asserts
// its invariants densely: a violated invariant there is a bug in the engine,
// not bad data, and panics, as PostgreSQL's Assert and its PANIC on
// "corrupted page pointers" in PageAddItemExtended do.
//
// On-disk layout (little-endian; the first 20 bytes match PostgreSQL's
// header byte for byte on a little-endian machine):
//
//	off  0  pd_lsn               8 bytes: xlogid (high 32 bits), xrecoff (low 32 bits)
//	off  8  pd_checksum          u16
//	off 10  pd_flags             u16  PD_HAS_FREE_LINES, PD_PAGE_FULL, PD_ALL_VISIBLE
//	off 12  pd_lower             u16  offset to start of free space
//	off 14  pd_upper             u16  offset to end of free space
//	off 16  pd_special           u16  offset to start of special space
//	off 18  pd_pagesize_version  u16  BlockSize | LayoutVersion
//	off 20  pd_prune_xid         u64  oldest prunable xid, 0 if none
//	off 28  pd_linp              [n]ItemIdData, 4 bytes each
//
// Deviations from PostgreSQL, each deliberate:
//   - pd_prune_xid is 64 bits, because pgdst's transaction ids are 64 bits
//     and never wrap around. The header is therefore 28 bytes, not 24.
//   - The layout version is LayoutVersion (0x64), not PG_PAGE_LAYOUT_VERSION
//     (4): the header and the tuple headers differ from PostgreSQL's, so a
//     PostgreSQL page must fail the version check rather than be misread.
//   - Verify (PageIsVerified) also checks pd_lower, the page size and
//     version, and every line pointer (bounds, alignment, overlap, redirect
//     targets). PostgreSQL checks only the pointers' order and defers the
//     rest to PageAddItemExtended's PANIC and PageRepairFragmentation's
//     ERROR; checking at read time lets every later operation treat a
//     violation as an engine bug.
//   - Data checksums are a cluster's choice, as initdb's --data-checksums
//     is: with them, every written page carries one (SetChecksum) and
//     Verify checks it; without them pd_checksum stays 0 and
//     VerifyNoChecksum checks the header alone (checksums_off.go).
package page

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/wal"
)

// Page geometry. BlockSize is BLCKSZ; MaxAlign is MAXALIGN on the 64-bit
// platforms PostgreSQL is built for; HeaderSize is SizeOfPageHeaderData.
const (
	BlockSize     = 8192
	MaxAlign      = 8
	HeaderSize    = 28
	ItemIDSize    = 4 // sizeof(ItemIdData)
	LayoutVersion = 0x64
)

// Header field offsets.
const (
	offLSN         = 0
	offChecksum    = 8
	offFlags       = 10
	offLower       = 12
	offUpper       = 14
	offSpecial     = 16
	offSizeVersion = 18
	offPruneXid    = 20
)

// pd_flags bits (bufpage.h). They are hints: none is WAL-logged on its own.
const (
	// FlagHasFreeLines (PD_HAS_FREE_LINES) says some line pointer before
	// pd_lower is LP_UNUSED, so AddItem should look for it before growing the
	// array.
	FlagHasFreeLines uint16 = 0x0001
	// FlagPageFull (PD_PAGE_FULL) says an UPDATE found no room for its new
	// version here, which suggests pruning.
	FlagPageFull uint16 = 0x0002
	// FlagAllVisible (PD_ALL_VISIBLE) says every tuple is visible to everyone.
	FlagAllVisible uint16 = 0x0004
	// validFlagBits (PD_VALID_FLAG_BITS) is the OR of all defined bits; any
	// other bit set means the header is not sane.
	validFlagBits uint16 = 0x0007
)

// OffsetNumber is a 1-based index into the line pointer array (off.h).
type OffsetNumber uint16

// InvalidOffset (InvalidOffsetNumber) asks AddItem to choose the slot.
// FirstOffset (FirstOffsetNumber) is the first valid one.
const (
	InvalidOffset OffsetNumber = 0
	FirstOffset   OffsetNumber = 1
)

// MaxLinePointers bounds the line pointer array of any page: it cannot grow
// past the space between the header and the end of the block.
const MaxLinePointers = (BlockSize - HeaderSize) / ItemIDSize

// MaxHeapTuplesPerPage is htup_details.h's bound on line pointers in a heap
// page: every tuple needs a MAXALIGNed header and a line pointer. With the
// 64-bit header it is 226 (PostgreSQL: 291).
const MaxHeapTuplesPerPage = (BlockSize - HeaderSize) / (HeapTupleDataOffset + ItemIDSize)

// MaxIndexTuplesPerPage is itup.h's bound for index pages: a tuple is at
// least MAXALIGN(sizeof(IndexTupleData) + 1) bytes. It is 408.
const MaxIndexTuplesPerPage = (BlockSize - HeaderSize) / ((IndexTupleHeaderSize+1+MaxAlign-1)&^(MaxAlign-1) + ItemIDSize)

var (
	// ErrChecksum: the stored pd_checksum does not match the page's contents
	// and block number. The page must never be used.
	ErrChecksum = errors.New("page: checksum mismatch")
	// ErrCorrupt: the page (or an item decoded from it) is structurally
	// invalid: header pointers, version, line pointers or tuple headers.
	ErrCorrupt = errors.New("page: corrupt")
	// ErrNoSpace: AddItem found no room (PageAddItemExtended returning
	// InvalidOffsetNumber for want of space or of heap line pointers). It is
	// an ordinary outcome: the caller tries another page.
	ErrNoSpace = errors.New("page: not enough free space")
)

func maxAlign(n int) int { return (n + MaxAlign - 1) &^ (MaxAlign - 1) }

func u16(p []byte, off int) uint16      { return binary.LittleEndian.Uint16(p[off:]) }
func put16(p []byte, off int, v uint16) { binary.LittleEndian.PutUint16(p[off:], v) }

// assertPage panics unless p is exactly one block: every page function needs
// that, and a wrong-size slice is always a caller's mistake.
func assertPage(p []byte) {
	if len(p) != BlockSize {
		panic(fmt.Sprintf("page: buffer of %d bytes, want %d", len(p), BlockSize))
	}
}

// Init formats p as an empty page with specialSize bytes (rounded up to
// MAXALIGN) of special space at its end (PageInit). It zeroes the whole
// block first, so that unused space never carries stale bytes to disk. As in
// PostgreSQL it does not set a checksum: that happens when the page is
// written (SetChecksum).
func Init(p []byte, specialSize int) {
	assertPage(p)
	specialSize = maxAlign(specialSize)
	if specialSize < 0 || HeaderSize+specialSize >= BlockSize {
		panic(fmt.Sprintf("page: special size %d does not fit a page", specialSize))
	}
	clear(p)
	put16(p, offLower, HeaderSize)
	put16(p, offUpper, uint16(BlockSize-specialSize))
	put16(p, offSpecial, uint16(BlockSize-specialSize))
	put16(p, offSizeVersion, BlockSize|LayoutVersion)
	assertPointers(p)
}

// IsNew reports whether p was never initialized (PageIsNew: pd_upper == 0).
// An all-zero page read from disk is new.
func IsNew(p []byte) bool {
	assertPage(p)
	return u16(p, offUpper) == 0
}

// IsZero reports whether every byte of p is zero: a relation extended but
// never written (the all-zeroes case of PageIsVerifiedExtended).
func IsZero(p []byte) bool {
	assertPage(p)
	for i := 0; i < BlockSize; i += 8 {
		if binary.LittleEndian.Uint64(p[i:]) != 0 {
			return false
		}
	}
	return true
}

// IsEmpty reports whether no line pointer has been allocated (PageIsEmpty).
func IsEmpty(p []byte) bool {
	assertPage(p)
	return u16(p, offLower) <= HeaderSize
}

// LSN returns pd_lsn (PageGetLSN). It is stored as two 32-bit halves, high
// first, like PostgreSQL's PageXLogRecPtr.
func LSN(p []byte) wal.LSN {
	assertPage(p)
	hi := binary.LittleEndian.Uint32(p[offLSN:])
	lo := binary.LittleEndian.Uint32(p[offLSN+4:])
	return wal.LSN(uint64(hi)<<32 | uint64(lo))
}

// SetLSN sets pd_lsn (PageSetLSN): the end of the WAL record that last
// changed the page, which the buffer manager must flush before writing it.
func SetLSN(p []byte, lsn wal.LSN) {
	assertPage(p)
	binary.LittleEndian.PutUint32(p[offLSN:], uint32(uint64(lsn)>>32))
	binary.LittleEndian.PutUint32(p[offLSN+4:], uint32(lsn))
}

// Checksum returns the stored pd_checksum (not a freshly computed one; see
// ComputeChecksum).
func Checksum(p []byte) uint16 { assertPage(p); return u16(p, offChecksum) }

// Flags returns pd_flags.
func Flags(p []byte) uint16 { assertPage(p); return u16(p, offFlags) }

// SetFlags sets the given pd_flags bits (PageSetHasFreeLinePointers,
// PageSetFull, PageSetAllVisible).
func SetFlags(p []byte, bits uint16) {
	assertPage(p)
	if bits&^validFlagBits != 0 {
		panic(fmt.Sprintf("page: undefined pd_flags bits %#x", bits))
	}
	put16(p, offFlags, u16(p, offFlags)|bits)
}

// ClearFlags clears the given pd_flags bits (PageClearHasFreeLinePointers,
// PageClearFull, PageClearAllVisible).
func ClearFlags(p []byte, bits uint16) {
	assertPage(p)
	if bits&^validFlagBits != 0 {
		panic(fmt.Sprintf("page: undefined pd_flags bits %#x", bits))
	}
	put16(p, offFlags, u16(p, offFlags)&^bits)
}

// Lower returns pd_lower, the end of the line pointer array.
func Lower(p []byte) uint16 { assertPage(p); return u16(p, offLower) }

// Upper returns pd_upper, the start of item storage.
func Upper(p []byte) uint16 { assertPage(p); return u16(p, offUpper) }

// SpecialOffset returns pd_special, the start of the special space.
func SpecialOffset(p []byte) uint16 { assertPage(p); return u16(p, offSpecial) }

// SpecialSize returns the size of the special space (PageGetSpecialSize).
func SpecialSize(p []byte) int {
	assertPointers(p)
	return BlockSize - int(u16(p, offSpecial))
}

// Special returns the special space (PageGetSpecialPointer). The slice
// aliases the page, so writes to it change the page.
func Special(p []byte) []byte {
	assertPointers(p)
	return p[u16(p, offSpecial):BlockSize:BlockSize]
}

// PageSizeVersion returns pd_pagesize_version.
func PageSizeVersion(p []byte) uint16 { assertPage(p); return u16(p, offSizeVersion) }

// PruneXid returns pd_prune_xid, the oldest xid among tuples that might be
// prunable, or 0.
func PruneXid(p []byte) uint64 {
	assertPage(p)
	return binary.LittleEndian.Uint64(p[offPruneXid:])
}

// SetPrunable records that a tuple deleted by xid might become prunable
// (PageSetPrunable): pd_prune_xid only ever moves back to an older xid.
// pgdst's xids are 64-bit and never wrap, so "older" is plain "<".
func SetPrunable(p []byte, xid uint64) {
	assertPage(p)
	if xid == 0 {
		panic("page: SetPrunable with the invalid xid 0")
	}
	if cur := PruneXid(p); cur == 0 || xid < cur {
		binary.LittleEndian.PutUint64(p[offPruneXid:], xid)
	}
}

// ClearPrunable resets pd_prune_xid (PageClearPrunable).
func ClearPrunable(p []byte) {
	assertPage(p)
	binary.LittleEndian.PutUint64(p[offPruneXid:], 0)
}

// MaxOffset returns the number of line pointers (PageGetMaxOffsetNumber);
// it is 0 for an uninitialized page, whose pd_lower is 0.
func MaxOffset(p []byte) OffsetNumber {
	assertPage(p)
	lower := int(u16(p, offLower))
	if lower <= HeaderSize {
		return 0
	}
	return OffsetNumber((lower - HeaderSize) / ItemIDSize)
}

// ExactFreeSpace returns pd_upper - pd_lower, or 0 if they cross
// (PageGetExactFreeSpace).
func ExactFreeSpace(p []byte) int {
	assertPage(p)
	space := int(u16(p, offUpper)) - int(u16(p, offLower))
	return max(space, 0)
}

// FreeSpace returns the room for one more item, net of the line pointer it
// would need (PageGetFreeSpace). An uninitialized page has none.
func FreeSpace(p []byte) int {
	assertPage(p)
	space := int(u16(p, offUpper)) - int(u16(p, offLower))
	if space < ItemIDSize {
		return 0
	}
	return space - ItemIDSize
}

// HeapFreeSpace is FreeSpace for heap pages (PageGetHeapFreeSpace): it is 0
// when the page already has MaxHeapTuplesPerPage line pointers and none of
// them is free, because AddItemExtended with AddIsHeap would refuse.
func HeapFreeSpace(p []byte) int {
	space := FreeSpace(p)
	if space == 0 {
		return 0
	}
	nline := MaxOffset(p)
	if nline < MaxHeapTuplesPerPage {
		return space
	}
	if u16(p, offFlags)&FlagHasFreeLines == 0 {
		// The hint may be wrong, but AddItem believes it, so we must too.
		return 0
	}
	for off := FirstOffset; off <= nline; off++ {
		if !GetItemID(p, off).IsUsed() {
			return space
		}
	}
	return 0
}

// pointers returns pd_lower, pd_upper and pd_special and whether they are
// sane: the checks that bufpage.c repeats before it moves any bytes
// ("corrupted page pointers").
func pointers(p []byte) (lower, upper, special int, ok bool) {
	lower = int(u16(p, offLower))
	upper = int(u16(p, offUpper))
	special = int(u16(p, offSpecial))
	ok = lower >= HeaderSize && lower <= upper && upper <= special &&
		special <= BlockSize && special == maxAlign(special) &&
		(lower-HeaderSize)%ItemIDSize == 0
	return lower, upper, special, ok
}

// assertPointers panics if the header pointers are not sane. PostgreSQL
// PANICs (PageAddItemExtended) or ERRORs (PageRepairFragmentation,
// PageIndexTupleDelete) here; in pgdst a page in memory passed Verify or was
// built by this package, so insane pointers are an engine bug.
func assertPointers(p []byte) (lower, upper, special int) {
	assertPage(p)
	lower, upper, special, ok := pointers(p)
	if !ok {
		panic(fmt.Sprintf("page: corrupted page pointers: lower = %d, upper = %d, special = %d",
			lower, upper, special))
	}
	return lower, upper, special
}
