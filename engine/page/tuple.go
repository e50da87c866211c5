package page

import (
	"encoding/binary"
	"fmt"
)

// ItemPointer is a TID: a block number and a line pointer number in it
// (ItemPointerData, itemptr.h). It is 6 bytes on disk: the block number as
// a little-endian uint32 (PostgreSQL splits it into two uint16 halves,
// bi_hi and bi_lo, only so that the struct needs 2-byte alignment), then
// the offset number as a little-endian uint16 (ip_posid).
type ItemPointer struct {
	Block  uint32
	Offset OffsetNumber
}

// ItemPointerSize is sizeof(ItemPointerData).
const ItemPointerSize = 6

// IsValid is ItemPointerIsValid: the offset number is not InvalidOffset.
func (t ItemPointer) IsValid() bool { return t.Offset != InvalidOffset }

func (t ItemPointer) String() string { return fmt.Sprintf("(%d,%d)", t.Block, t.Offset) }

func putItemPointer(b []byte, t ItemPointer) {
	binary.LittleEndian.PutUint32(b, t.Block)
	binary.LittleEndian.PutUint16(b[4:], uint16(t.Offset))
}

func getItemPointer(b []byte) ItemPointer {
	return ItemPointer{Block: binary.LittleEndian.Uint32(b), Offset: OffsetNumber(binary.LittleEndian.Uint16(b[4:]))}
}

// t_infomask bits, with PostgreSQL's values (htup_details.h).
const (
	HeapHasNull        uint16 = 0x0001 // HEAP_HASNULL: has null attribute(s)
	HeapHasVarWidth    uint16 = 0x0002 // HEAP_HASVARWIDTH: has variable-width attribute(s)
	HeapHasExternal    uint16 = 0x0004 // HEAP_HASEXTERNAL: has external stored attribute(s)
	HeapHasOIDOld      uint16 = 0x0008 // HEAP_HASOID_OLD: had an object-id field (pre-12)
	HeapXmaxKeyShrLock uint16 = 0x0010 // HEAP_XMAX_KEYSHR_LOCK: xmax is a key-shared locker
	HeapComboCID       uint16 = 0x0020 // HEAP_COMBOCID: t_cid is a combo cid
	HeapXmaxExclLock   uint16 = 0x0040 // HEAP_XMAX_EXCL_LOCK: xmax is exclusive locker
	HeapXmaxLockOnly   uint16 = 0x0080 // HEAP_XMAX_LOCK_ONLY: xmax, if valid, is only a locker
	HeapXminCommitted  uint16 = 0x0100 // HEAP_XMIN_COMMITTED: t_xmin committed
	HeapXminInvalid    uint16 = 0x0200 // HEAP_XMIN_INVALID: t_xmin invalid/aborted
	HeapXmaxCommitted  uint16 = 0x0400 // HEAP_XMAX_COMMITTED: t_xmax committed
	HeapXmaxInvalid    uint16 = 0x0800 // HEAP_XMAX_INVALID: t_xmax invalid/aborted
	HeapXmaxIsMulti    uint16 = 0x1000 // HEAP_XMAX_IS_MULTI: t_xmax is a MultiXactId
	HeapUpdated        uint16 = 0x2000 // HEAP_UPDATED: this is the UPDATEd version of a row
	HeapMovedOff       uint16 = 0x4000 // HEAP_MOVED_OFF: moved away by pre-9.0 VACUUM FULL
	HeapMovedIn        uint16 = 0x8000 // HEAP_MOVED_IN: moved here by pre-9.0 VACUUM FULL

	// HeapXmaxShrLock (HEAP_XMAX_SHR_LOCK) is a shared locker: both lock bits.
	HeapXmaxShrLock = HeapXmaxExclLock | HeapXmaxKeyShrLock
	// HeapLockMask (HEAP_LOCK_MASK) covers the lock strength bits.
	HeapLockMask = HeapXmaxShrLock | HeapXmaxExclLock | HeapXmaxKeyShrLock
	// HeapXminFrozen (HEAP_XMIN_FROZEN) is both xmin hint bits at once.
	HeapXminFrozen = HeapXminCommitted | HeapXminInvalid
	// HeapMoved (HEAP_MOVED) is either moved bit.
	HeapMoved = HeapMovedOff | HeapMovedIn
	// HeapXactMask (HEAP_XACT_MASK) covers the visibility-related bits.
	HeapXactMask uint16 = 0xFFF0
	// HeapXmaxBits (HEAP_XMAX_BITS) must all be cleared when xmax changes.
	HeapXmaxBits = HeapXmaxCommitted | HeapXmaxInvalid | HeapXmaxIsMulti | HeapLockMask | HeapXmaxLockOnly
)

// t_infomask2 bits (htup_details.h).
const (
	HeapNattsMask   uint16 = 0x07FF // HEAP_NATTS_MASK: 11 bits for the number of attributes
	HeapKeysUpdated uint16 = 0x2000 // HEAP_KEYS_UPDATED: updated with key columns changed, or deleted
	HeapHotUpdated  uint16 = 0x4000 // HEAP_HOT_UPDATED: HOT-updated
	HeapOnlyTuple   uint16 = 0x8000 // HEAP_ONLY_TUPLE: a heap-only tuple
	Heap2XactMask   uint16 = 0xE000 // HEAP2_XACT_MASK: visibility-related bits
)

// XmaxIsLockedOnly is HEAP_XMAX_IS_LOCKED_ONLY: xmax only locks the tuple
// (HEAP_XMAX_LOCK_ONLY, or the pre-9.3 encoding of an exclusive lock).
func XmaxIsLockedOnly(infomask uint16) bool {
	return infomask&HeapXmaxLockOnly != 0 ||
		infomask&(HeapXmaxIsMulti|HeapLockMask) == HeapXmaxExclLock
}

// HeapTupleHeader is the decoded heap tuple header (HeapTupleHeaderData),
// with pgdst's 64-bit transaction ids. On disk:
//
//	off  0  t_xmin       u64  inserting xid
//	off  8  t_xmax       u64  deleting or locking xid, 0 if none
//	off 16  t_cid        u32  inserting or deleting command id (t_field3)
//	off 20  t_ctid       6 bytes: block u32, offset u16
//	off 26  t_infomask2  u16  number of attributes + HOT flags
//	off 28  t_infomask   u16  flag bits
//	off 30  t_hoff       u8   offset of the user data
//	off 31  (padding; PostgreSQL's t_bits null bitmap would start here)
//	off 32  user data
//
// The fixed part is 31 bytes (PostgreSQL: 23) and t_hoff is its MAXALIGN,
// 32 (PostgreSQL: 24). pgdst keeps no null bitmap: the user data is opaque
// to this package, and the heap's row format encodes its own nulls. There
// is no t_xvac either: old-style VACUUM FULL never existed here, so t_cid
// has t_field3 to itself.
type HeapTupleHeader struct {
	Xmin      uint64
	Xmax      uint64
	Cid       uint32
	Ctid      ItemPointer
	Infomask2 uint16
	Infomask  uint16
	Hoff      uint8 // output only: DecodeHeapTuple fills it, encoding always writes HeapTupleDataOffset
}

// Heap tuple header geometry.
const (
	// HeapTupleHeaderSize is the fixed part (SizeofHeapTupleHeader).
	HeapTupleHeaderSize = 31
	// HeapTupleDataOffset is where the user data starts, t_hoff.
	HeapTupleDataOffset = (HeapTupleHeaderSize + MaxAlign - 1) &^ (MaxAlign - 1)
	// MaxHeapTupleSize bounds a whole heap tuple so that it fits an empty
	// heap page with its line pointer (MaxHeapTupleSize in htup_details.h).
	MaxHeapTupleSize = BlockSize - (HeaderSize+ItemIDSize+MaxAlign-1)&^(MaxAlign-1)
)

const (
	offXmin      = 0
	offXmax      = 8
	offCid       = 16
	offCtid      = 20
	offInfomask2 = 26
	offInfomask  = 28
	offHoff      = 30
)

// HeapTupleSize returns the encoded size of a tuple with dataLen bytes of
// user data.
func HeapTupleSize(dataLen int) int { return HeapTupleDataOffset + dataLen }

// AppendHeapTuple appends the encoding of header h followed by data to dst
// and returns the extended slice. A tuple larger than MaxHeapTupleSize is a
// caller bug (the heap must reject or TOAST it first).
func AppendHeapTuple(dst []byte, h HeapTupleHeader, data []byte) []byte {
	size := HeapTupleSize(len(data))
	if size > MaxHeapTupleSize {
		panic(fmt.Sprintf("page: heap tuple of %d bytes exceeds MaxHeapTupleSize %d", size, MaxHeapTupleSize))
	}
	start := len(dst)
	dst = append(dst, make([]byte, HeapTupleDataOffset)...)
	t := dst[start:]
	binary.LittleEndian.PutUint64(t[offXmin:], h.Xmin)
	binary.LittleEndian.PutUint64(t[offXmax:], h.Xmax)
	binary.LittleEndian.PutUint32(t[offCid:], h.Cid)
	putItemPointer(t[offCtid:], h.Ctid)
	binary.LittleEndian.PutUint16(t[offInfomask2:], h.Infomask2)
	binary.LittleEndian.PutUint16(t[offInfomask:], h.Infomask)
	t[offHoff] = HeapTupleDataOffset
	return append(dst, data...)
}

// EncodeHeapTuple returns a new buffer holding header h followed by data.
func EncodeHeapTuple(h HeapTupleHeader, data []byte) []byte {
	return AppendHeapTuple(make([]byte, 0, HeapTupleSize(len(data))), h, data)
}

// checkHeapTuple validates the framing of an encoded heap tuple.
func checkHeapTuple(b []byte) error {
	if len(b) < HeapTupleDataOffset {
		return fmt.Errorf("%w: heap tuple of %d bytes is shorter than its header (%d)", ErrCorrupt, len(b), HeapTupleDataOffset)
	}
	if len(b) > MaxHeapTupleSize {
		return fmt.Errorf("%w: heap tuple of %d bytes exceeds MaxHeapTupleSize %d", ErrCorrupt, len(b), MaxHeapTupleSize)
	}
	hoff := int(b[offHoff])
	if hoff < HeapTupleHeaderSize || hoff != maxAlign(hoff) || hoff > len(b) {
		return fmt.Errorf("%w: heap tuple t_hoff %d invalid for a %d-byte tuple", ErrCorrupt, hoff, len(b))
	}
	return nil
}

// DecodeHeapTuple decodes a heap tuple, as GetItem returns it. The returned
// data aliases b. Any malformed input gives an error wrapping ErrCorrupt;
// it never panics.
func DecodeHeapTuple(b []byte) (HeapTupleHeader, []byte, error) {
	if err := checkHeapTuple(b); err != nil {
		return HeapTupleHeader{}, nil, err
	}
	t := HeapTuple(b)
	h := HeapTupleHeader{
		Xmin:      t.Xmin(),
		Xmax:      t.Xmax(),
		Cid:       t.Cid(),
		Ctid:      t.Ctid(),
		Infomask2: t.Infomask2(),
		Infomask:  t.Infomask(),
		Hoff:      b[offHoff],
	}
	return h, t.Data(), nil
}

// HeapTuple is a view of an encoded heap tuple, usually an item on a page
// (GetItem's slice), whose accessors read and write the header in place:
// hint bits, xmax and t_ctid change on the page without re-encoding the
// tuple, as heap_update, heap_lock_tuple and SetHintBits do in PostgreSQL.
// Make one with AsHeapTuple, which validates it; the accessors then assume
// a valid tuple and panic on a short one.
type HeapTuple []byte

// AsHeapTuple validates b as an encoded heap tuple and returns a view of it.
func AsHeapTuple(b []byte) (HeapTuple, error) {
	if err := checkHeapTuple(b); err != nil {
		return nil, err
	}
	return HeapTuple(b), nil
}

func (t HeapTuple) header() []byte {
	if len(t) < HeapTupleDataOffset {
		panic(fmt.Sprintf("page: heap tuple view of %d bytes", len(t)))
	}
	return t[:HeapTupleDataOffset:HeapTupleDataOffset]
}

// Xmin is HeapTupleHeaderGetXmin.
func (t HeapTuple) Xmin() uint64 { return binary.LittleEndian.Uint64(t.header()[offXmin:]) }

// SetXmin is HeapTupleHeaderSetXmin.
func (t HeapTuple) SetXmin(xid uint64) { binary.LittleEndian.PutUint64(t.header()[offXmin:], xid) }

// Xmax is HeapTupleHeaderGetRawXmax.
func (t HeapTuple) Xmax() uint64 { return binary.LittleEndian.Uint64(t.header()[offXmax:]) }

// SetXmax is HeapTupleHeaderSetXmax. It writes only the field: callers
// clear HeapXmaxBits and set the new lock or update bits themselves, as
// heap_delete and heap_lock_tuple do.
func (t HeapTuple) SetXmax(xid uint64) { binary.LittleEndian.PutUint64(t.header()[offXmax:], xid) }

// Cid is HeapTupleHeaderGetRawCommandId.
func (t HeapTuple) Cid() uint32 { return binary.LittleEndian.Uint32(t.header()[offCid:]) }

// SetCid writes t_cid (HeapTupleHeaderSetCmin/SetCmax without the combo
// cid bookkeeping, which is the caller's).
func (t HeapTuple) SetCid(cid uint32) { binary.LittleEndian.PutUint32(t.header()[offCid:], cid) }

// Ctid returns t_ctid: the tuple's own TID, or its newer version's.
func (t HeapTuple) Ctid() ItemPointer { return getItemPointer(t.header()[offCtid:]) }

// SetCtid writes t_ctid, as heap_update does to link to the new version.
func (t HeapTuple) SetCtid(tid ItemPointer) { putItemPointer(t.header()[offCtid:], tid) }

// Infomask returns t_infomask.
func (t HeapTuple) Infomask() uint16 { return binary.LittleEndian.Uint16(t.header()[offInfomask:]) }

// SetInfomask sets the given t_infomask bits (SetHintBits and friends).
func (t HeapTuple) SetInfomask(bits uint16) {
	h := t.header()
	binary.LittleEndian.PutUint16(h[offInfomask:], binary.LittleEndian.Uint16(h[offInfomask:])|bits)
}

// ClearInfomask clears the given t_infomask bits.
func (t HeapTuple) ClearInfomask(bits uint16) {
	h := t.header()
	binary.LittleEndian.PutUint16(h[offInfomask:], binary.LittleEndian.Uint16(h[offInfomask:])&^bits)
}

// Infomask2 returns t_infomask2.
func (t HeapTuple) Infomask2() uint16 { return binary.LittleEndian.Uint16(t.header()[offInfomask2:]) }

// SetInfomask2 sets the given t_infomask2 flag bits
// (HeapTupleHeaderSetHotUpdated, SetHeapOnly). Setting attribute-count bits
// this way is a caller bug; use SetNatts.
func (t HeapTuple) SetInfomask2(bits uint16) {
	if bits&HeapNattsMask != 0 {
		panic(fmt.Sprintf("page: SetInfomask2 with attribute-count bits %#x", bits))
	}
	h := t.header()
	binary.LittleEndian.PutUint16(h[offInfomask2:], binary.LittleEndian.Uint16(h[offInfomask2:])|bits)
}

// ClearInfomask2 clears the given t_infomask2 flag bits
// (HeapTupleHeaderClearHotUpdated, ClearHeapOnly).
func (t HeapTuple) ClearInfomask2(bits uint16) {
	if bits&HeapNattsMask != 0 {
		panic(fmt.Sprintf("page: ClearInfomask2 with attribute-count bits %#x", bits))
	}
	h := t.header()
	binary.LittleEndian.PutUint16(h[offInfomask2:], binary.LittleEndian.Uint16(h[offInfomask2:])&^bits)
}

// Natts is HeapTupleHeaderGetNatts.
func (t HeapTuple) Natts() int { return int(t.Infomask2() & HeapNattsMask) }

// SetNatts is HeapTupleHeaderSetNatts.
func (t HeapTuple) SetNatts(n int) {
	if n < 0 || n > int(HeapNattsMask) {
		panic(fmt.Sprintf("page: %d attributes do not fit t_infomask2", n))
	}
	h := t.header()
	v := binary.LittleEndian.Uint16(h[offInfomask2:])&^HeapNattsMask | uint16(n)
	binary.LittleEndian.PutUint16(h[offInfomask2:], v)
}

// Hoff returns t_hoff.
func (t HeapTuple) Hoff() int { return int(t.header()[offHoff]) }

// Data returns the user data (everything from t_hoff on), aliasing t.
func (t HeapTuple) Data() []byte {
	hoff := t.Hoff()
	if hoff > len(t) {
		panic(fmt.Sprintf("page: t_hoff %d beyond a %d-byte tuple", hoff, len(t)))
	}
	return t[hoff:len(t):len(t)]
}
