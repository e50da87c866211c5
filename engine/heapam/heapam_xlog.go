package heapam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/page"
)

// The heap's WAL records (heapam_xlog.h). Each record's body is a wal.Body:
// block references (with full-page images when needed) and main data. The
// main data structs below are encoded little-endian, field by field, with
// no padding; 64-bit xids replace PostgreSQL's 32-bit ones.

// Resource manager ids (rmgrlist.h).
const (
	RMHeap2 uint8 = 9  // RM_HEAP2_ID
	RMHeap  uint8 = 10 // RM_HEAP_ID
)

// RM_HEAP info codes (heapam_xlog.h). The high bit is a flag.
const (
	XLogHeapInsert uint8 = 0x00 // XLOG_HEAP_INSERT
	XLogHeapDelete uint8 = 0x10 // XLOG_HEAP_DELETE
	XLogHeapUpdate uint8 = 0x20 // XLOG_HEAP_UPDATE
	XLogHeapLock   uint8 = 0x60 // XLOG_HEAP_LOCK
	// XLogHeapOpMask (XLOG_HEAP_OPMASK) selects the operation.
	XLogHeapOpMask uint8 = 0x70
	// XLogHeapInitPage (XLOG_HEAP_INIT_PAGE): the (new) target page holds
	// only this tuple, so redo initialises it instead of reading it; the
	// block needs no full-page image.
	XLogHeapInitPage uint8 = 0x80
)

// RM_HEAP2 info codes (PostgreSQL 16's heapam_xlog.h).
const (
	XLogHeap2Prune  uint8 = 0x10 // XLOG_HEAP2_PRUNE
	XLogHeap2Vacuum uint8 = 0x20 // XLOG_HEAP2_VACUUM
	// XLogHeap2FPIForHint is PostgreSQL's XLOG_FPI_FOR_HINT (an RM_XLOG
	// record there): a full-page image of a heap page whose only change
	// since the checkpoint is hint bits (hint_dirty.go).
	XLogHeap2FPIForHint uint8 = 0x70
)

// infobits of xl_heap_delete, xl_heap_update and xl_heap_lock: the xmax
// flags that redo restores (XLHL_*).
const (
	xlhlXmaxIsMulti    uint8 = 0x01
	xlhlXmaxLockOnly   uint8 = 0x02
	xlhlXmaxExclLock   uint8 = 0x04
	xlhlXmaxKeyshrLock uint8 = 0x08
	xlhlKeysUpdated    uint8 = 0x10
)

// computeInfobits is compute_infobits: the xmax flags of a tuple as logged.
func computeInfobits(infomask, infomask2 uint16) uint8 {
	var b uint8
	if infomask&page.HeapXmaxIsMulti != 0 {
		b |= xlhlXmaxIsMulti
	}
	if infomask&page.HeapXmaxLockOnly != 0 {
		b |= xlhlXmaxLockOnly
	}
	if infomask&page.HeapXmaxExclLock != 0 {
		b |= xlhlXmaxExclLock
	}
	// A shared lock sets both lock bits; KEYSHR alone is the key-share one.
	if infomask&page.HeapXmaxKeyShrLock != 0 {
		b |= xlhlXmaxKeyshrLock
	}
	if infomask2&page.HeapKeysUpdated != 0 {
		b |= xlhlKeysUpdated
	}
	return b
}

// fixInfomaskFromInfobits is fix_infomask_from_infobits: it clears the
// xmax bits and HEAP_KEYS_UPDATED of t and sets those the record says.
func fixInfomaskFromInfobits(t page.HeapTuple, infobits uint8) {
	t.ClearInfomask(page.HeapXmaxBits)
	t.ClearInfomask2(page.HeapKeysUpdated)
	var m uint16
	if infobits&xlhlXmaxIsMulti != 0 {
		m |= page.HeapXmaxIsMulti
	}
	if infobits&xlhlXmaxLockOnly != 0 {
		m |= page.HeapXmaxLockOnly
	}
	if infobits&xlhlXmaxExclLock != 0 {
		m |= page.HeapXmaxExclLock
	}
	if infobits&xlhlXmaxKeyshrLock != 0 {
		m |= page.HeapXmaxKeyShrLock
	}
	t.SetInfomask(m)
	if infobits&xlhlKeysUpdated != 0 {
		t.SetInfomask2(page.HeapKeysUpdated)
	}
}

// ErrBadRecord is a heap record that does not decode.
var ErrBadRecord = errors.New("heapam: invalid WAL record")

// XLHeapHeader is xl_heap_header, the block data prefix of an inserted
// tuple, followed by the tuple's user data. pgdst adds t_cid: PostgreSQL's
// redo resets it to FirstCommandId, since only the (now gone) inserting
// backend ever reads it, but logging it makes a redone page identical to
// the page the primary had, which recovery's self-check and the tests
// compare byte for byte.
type XLHeapHeader struct {
	Infomask2 uint16
	Infomask  uint16
	Hoff      uint8
	Cid       uint32
}

// xlHeapHeaderSize is the encoded size of XLHeapHeader.
const xlHeapHeaderSize = 2 + 2 + 1 + 4

// appendTupleData encodes xl_heap_header and the user data.
func appendTupleData(dst []byte, hdr XLHeapHeader, data []byte) []byte {
	dst = slices.Grow(dst, xlHeapHeaderSize+len(data)) // grown once, not per field
	dst = binary.LittleEndian.AppendUint16(dst, hdr.Infomask2)
	dst = binary.LittleEndian.AppendUint16(dst, hdr.Infomask)
	dst = append(dst, hdr.Hoff)
	dst = binary.LittleEndian.AppendUint32(dst, hdr.Cid)
	return append(dst, data...)
}

// DecodeTupleData decodes block data written by appendTupleData. The data
// aliases b. It never panics.
func DecodeTupleData(b []byte) (XLHeapHeader, []byte, error) {
	if len(b) < xlHeapHeaderSize {
		return XLHeapHeader{}, nil, fmt.Errorf("%w: tuple data of %d bytes", ErrBadRecord, len(b))
	}
	h := XLHeapHeader{
		Infomask2: binary.LittleEndian.Uint16(b[0:]),
		Infomask:  binary.LittleEndian.Uint16(b[2:]),
		Hoff:      b[4],
		Cid:       binary.LittleEndian.Uint32(b[5:]),
	}
	if h.Hoff != page.HeapTupleDataOffset {
		return XLHeapHeader{}, nil, fmt.Errorf("%w: t_hoff %d", ErrBadRecord, h.Hoff)
	}
	data := b[xlHeapHeaderSize:]
	if page.HeapTupleSize(len(data)) > page.MaxHeapTupleSize {
		return XLHeapHeader{}, nil, fmt.Errorf("%w: tuple of %d bytes", ErrBadRecord, len(data))
	}
	return h, data, nil
}

// XLHeapInsert is xl_heap_insert: where the tuple went on block 0.
type XLHeapInsert struct {
	Offnum page.OffsetNumber
	Flags  uint8
}

const xlHeapInsertSize = 3

func (x XLHeapInsert) encode() []byte {
	b := binary.LittleEndian.AppendUint16(make([]byte, 0, xlHeapInsertSize), uint16(x.Offnum))
	return append(b, x.Flags)
}

// DecodeInsert decodes xl_heap_insert. It never panics.
func DecodeInsert(b []byte) (XLHeapInsert, error) {
	if len(b) != xlHeapInsertSize {
		return XLHeapInsert{}, fmt.Errorf("%w: xl_heap_insert of %d bytes", ErrBadRecord, len(b))
	}
	x := XLHeapInsert{Offnum: page.OffsetNumber(binary.LittleEndian.Uint16(b)), Flags: b[2]}
	if x.Offnum == page.InvalidOffset || x.Offnum > page.MaxHeapTuplesPerPage {
		return XLHeapInsert{}, fmt.Errorf("%w: insert at offset %d", ErrBadRecord, x.Offnum)
	}
	return x, nil
}

// XLHeapDelete is xl_heap_delete, on block 0. pgdst adds the deleting
// command id (see XLHeapHeader for why).
type XLHeapDelete struct {
	Xmax     uint64
	Offnum   page.OffsetNumber
	Infobits uint8
	Flags    uint8
	Cid      uint32
}

const xlHeapDeleteSize = 8 + 2 + 1 + 1 + 4

func (x XLHeapDelete) encode() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, xlHeapDeleteSize), x.Xmax)
	b = binary.LittleEndian.AppendUint16(b, uint16(x.Offnum))
	b = append(b, x.Infobits, x.Flags)
	return binary.LittleEndian.AppendUint32(b, x.Cid)
}

// DecodeDelete decodes xl_heap_delete. It never panics.
func DecodeDelete(b []byte) (XLHeapDelete, error) {
	if len(b) != xlHeapDeleteSize {
		return XLHeapDelete{}, fmt.Errorf("%w: xl_heap_delete of %d bytes", ErrBadRecord, len(b))
	}
	x := XLHeapDelete{
		Xmax:     binary.LittleEndian.Uint64(b),
		Offnum:   page.OffsetNumber(binary.LittleEndian.Uint16(b[8:])),
		Infobits: b[10],
		Flags:    b[11],
		Cid:      binary.LittleEndian.Uint32(b[12:]),
	}
	if x.Offnum == page.InvalidOffset || x.Offnum > page.MaxHeapTuplesPerPage {
		return XLHeapDelete{}, fmt.Errorf("%w: delete at offset %d", ErrBadRecord, x.Offnum)
	}
	return x, nil
}

// XLHeapUpdate is xl_heap_update: block 0 is the new version's page (its
// data is the new tuple), block 1 the old version's page when it differs.
// pgdst adds the old version's new t_cid.
type XLHeapUpdate struct {
	OldXmax     uint64
	OldOffnum   page.OffsetNumber
	OldInfobits uint8
	Flags       uint8
	NewXmax     uint64
	NewOffnum   page.OffsetNumber
	OldCid      uint32
}

const xlHeapUpdateSize = 8 + 2 + 1 + 1 + 8 + 2 + 4

func (x XLHeapUpdate) encode() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, xlHeapUpdateSize), x.OldXmax)
	b = binary.LittleEndian.AppendUint16(b, uint16(x.OldOffnum))
	b = append(b, x.OldInfobits, x.Flags)
	b = binary.LittleEndian.AppendUint64(b, x.NewXmax)
	b = binary.LittleEndian.AppendUint16(b, uint16(x.NewOffnum))
	return binary.LittleEndian.AppendUint32(b, x.OldCid)
}

// DecodeUpdate decodes xl_heap_update. It never panics.
func DecodeUpdate(b []byte) (XLHeapUpdate, error) {
	if len(b) != xlHeapUpdateSize {
		return XLHeapUpdate{}, fmt.Errorf("%w: xl_heap_update of %d bytes", ErrBadRecord, len(b))
	}
	x := XLHeapUpdate{
		OldXmax:     binary.LittleEndian.Uint64(b),
		OldOffnum:   page.OffsetNumber(binary.LittleEndian.Uint16(b[8:])),
		OldInfobits: b[10],
		Flags:       b[11],
		NewXmax:     binary.LittleEndian.Uint64(b[12:]),
		NewOffnum:   page.OffsetNumber(binary.LittleEndian.Uint16(b[20:])),
		OldCid:      binary.LittleEndian.Uint32(b[22:]),
	}
	for _, off := range []page.OffsetNumber{x.OldOffnum, x.NewOffnum} {
		if off == page.InvalidOffset || off > page.MaxHeapTuplesPerPage {
			return XLHeapUpdate{}, fmt.Errorf("%w: update at offset %d", ErrBadRecord, off)
		}
	}
	return x, nil
}

// XLHeapLock is xl_heap_lock, on block 0. pgdst adds the locker's
// command id.
type XLHeapLock struct {
	LockingXid uint64
	Offnum     page.OffsetNumber
	Infobits   uint8
	Flags      uint8
	Cid        uint32
}

const xlHeapLockSize = 8 + 2 + 1 + 1 + 4

func (x XLHeapLock) encode() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, xlHeapLockSize), x.LockingXid)
	b = binary.LittleEndian.AppendUint16(b, uint16(x.Offnum))
	b = append(b, x.Infobits, x.Flags)
	return binary.LittleEndian.AppendUint32(b, x.Cid)
}

// DecodeLock decodes xl_heap_lock. It never panics.
func DecodeLock(b []byte) (XLHeapLock, error) {
	if len(b) != xlHeapLockSize {
		return XLHeapLock{}, fmt.Errorf("%w: xl_heap_lock of %d bytes", ErrBadRecord, len(b))
	}
	x := XLHeapLock{
		LockingXid: binary.LittleEndian.Uint64(b),
		Offnum:     page.OffsetNumber(binary.LittleEndian.Uint16(b[8:])),
		Infobits:   b[10],
		Flags:      b[11],
		Cid:        binary.LittleEndian.Uint32(b[12:]),
	}
	if x.Offnum == page.InvalidOffset || x.Offnum > page.MaxHeapTuplesPerPage {
		return XLHeapLock{}, fmt.Errorf("%w: lock at offset %d", ErrBadRecord, x.Offnum)
	}
	return x, nil
}

// XLHeapPrune is xl_heap_prune (PostgreSQL 16) without redirects, since
// pgdst has no HOT chains: the line pointers of block 0 that become
// LP_DEAD (pruning) and those that become LP_UNUSED (vacuum's second pass,
// xl_heap_vacuum, once index entries are gone). The offsets are the block
// data, dead ones first, as u16s. Horizon is the snapshotConflictHorizon
// (a hot standby resolves its conflict with standby snapshots before
// replaying the removal: engine/db/hotstandby.go).
type XLHeapPrune struct {
	Horizon uint64
	Dead    []page.OffsetNumber
	Unused  []page.OffsetNumber
}

const xlHeapPruneSize = 8 + 2 + 2

func (x XLHeapPrune) encodeMain() []byte {
	b := binary.LittleEndian.AppendUint64(make([]byte, 0, xlHeapPruneSize), x.Horizon)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(x.Dead)))
	return binary.LittleEndian.AppendUint16(b, uint16(len(x.Unused)))
}

func (x XLHeapPrune) encodeOffsets() []byte {
	b := make([]byte, 0, 2*(len(x.Dead)+len(x.Unused)))
	for _, off := range x.Dead {
		b = binary.LittleEndian.AppendUint16(b, uint16(off))
	}
	for _, off := range x.Unused {
		b = binary.LittleEndian.AppendUint16(b, uint16(off))
	}
	return b
}

// DecodePrune decodes xl_heap_prune's main data and block 0's offsets. It
// never panics.
func DecodePrune(main, offsets []byte) (XLHeapPrune, error) {
	if len(main) != xlHeapPruneSize {
		return XLHeapPrune{}, fmt.Errorf("%w: xl_heap_prune of %d bytes", ErrBadRecord, len(main))
	}
	x := XLHeapPrune{Horizon: binary.LittleEndian.Uint64(main)}
	ndead := int(binary.LittleEndian.Uint16(main[8:]))
	nunused := int(binary.LittleEndian.Uint16(main[10:]))
	if ndead+nunused > page.MaxHeapTuplesPerPage || len(offsets) != 2*(ndead+nunused) {
		return XLHeapPrune{}, fmt.Errorf("%w: prune of %d+%d offsets with %d bytes", ErrBadRecord, ndead, nunused, len(offsets))
	}
	all := make([]page.OffsetNumber, ndead+nunused)
	for i := range all {
		all[i] = page.OffsetNumber(binary.LittleEndian.Uint16(offsets[2*i:]))
		if all[i] == page.InvalidOffset || all[i] > page.MaxHeapTuplesPerPage {
			return XLHeapPrune{}, fmt.Errorf("%w: prune of offset %d", ErrBadRecord, all[i])
		}
	}
	x.Dead, x.Unused = all[:ndead:ndead], all[ndead:]
	return x, nil
}
