package page

import (
	"encoding/binary"
	"fmt"
)

// IndexTuple is a decoded index tuple (IndexTupleData, src/include/access/itup.h).
// On disk:
//
//	off 0  t_tid   6 bytes: block u32, offset u16 (the heap TID it points to)
//	off 6  t_info  u16: bits 0-12 size, 13 AM-reserved, 14 has varwidth, 15 has nulls
//	off 8  key bytes
//
// The size in t_info is the exact size of header plus key, not its MAXALIGN
// as in PostgreSQL (index_form_tuple): pgdst's keys are opaque bytes with no
// length of their own, so the exact length is what recovers them. The line
// pointer's lp_len records the same exact length.
type IndexTuple struct {
	TID  ItemPointer
	Info uint16 // flag bits only (IndexNullMask, IndexVarMask, IndexAMReservedBit); the size is computed
	Key  []byte
}

// t_info bits (itup.h).
const (
	IndexSizeMask      uint16 = 0x1FFF // INDEX_SIZE_MASK
	IndexAMReservedBit uint16 = 0x2000 // INDEX_AM_RESERVED_BIT: the B-tree uses it for posting lists and pivots
	IndexVarMask       uint16 = 0x4000 // INDEX_VAR_MASK
	IndexNullMask      uint16 = 0x8000 // INDEX_NULL_MASK
)

// IndexTupleHeaderSize is sizeof(IndexTupleData).
const IndexTupleHeaderSize = 8

// MaxIndexKeySize is the largest key an index tuple can carry: its size
// must fit the 13-bit size field. (The B-tree imposes its own, smaller,
// limit so that three tuples fit a page.)
const MaxIndexKeySize = int(IndexSizeMask) - IndexTupleHeaderSize

// IndexTupleSize returns the encoded size of an index tuple with a key of
// keyLen bytes.
func IndexTupleSize(keyLen int) int { return IndexTupleHeaderSize + keyLen }

// AppendIndexTuple appends the encoding of t to dst. A key longer than
// MaxIndexKeySize or size bits in t.Info are caller bugs.
func AppendIndexTuple(dst []byte, t IndexTuple) []byte {
	if len(t.Key) > MaxIndexKeySize {
		panic(fmt.Sprintf("page: index key of %d bytes exceeds %d", len(t.Key), MaxIndexKeySize))
	}
	if t.Info&IndexSizeMask != 0 {
		panic(fmt.Sprintf("page: index tuple t_info flags %#x carry size bits", t.Info))
	}
	var hdr [IndexTupleHeaderSize]byte
	putItemPointer(hdr[:], t.TID)
	binary.LittleEndian.PutUint16(hdr[6:], t.Info|uint16(IndexTupleSize(len(t.Key))))
	dst = append(dst, hdr[:]...)
	return append(dst, t.Key...)
}

// EncodeIndexTuple returns a new buffer holding the encoding of t.
func EncodeIndexTuple(t IndexTuple) []byte {
	return AppendIndexTuple(make([]byte, 0, IndexTupleSize(len(t.Key))), t)
}

// DecodeIndexTuple decodes one index tuple occupying all of b (an item as
// GetItem returns it). The key aliases b. The size in t_info must equal
// len(b); any malformed input gives an error wrapping ErrCorrupt and never
// a panic.
func DecodeIndexTuple(b []byte) (IndexTuple, error) {
	if len(b) < IndexTupleHeaderSize {
		return IndexTuple{}, fmt.Errorf("%w: index tuple of %d bytes is shorter than its header", ErrCorrupt, len(b))
	}
	info := binary.LittleEndian.Uint16(b[6:])
	if size := int(info & IndexSizeMask); size != len(b) {
		return IndexTuple{}, fmt.Errorf("%w: index tuple t_info size %d, item is %d bytes", ErrCorrupt, size, len(b))
	}
	return IndexTuple{
		TID:  getItemPointer(b),
		Info: info &^ IndexSizeMask,
		Key:  b[IndexTupleHeaderSize:len(b):len(b)],
	}, nil
}

// IndexTupleTID reads t_tid of an encoded index tuple in place.
func IndexTupleTID(b []byte) ItemPointer {
	if len(b) < IndexTupleHeaderSize {
		panic(fmt.Sprintf("page: index tuple of %d bytes", len(b)))
	}
	return getItemPointer(b)
}

// SetIndexTupleTID rewrites t_tid of an encoded index tuple in place, as
// the B-tree does when it points a pivot tuple at another child block.
func SetIndexTupleTID(b []byte, tid ItemPointer) {
	if len(b) < IndexTupleHeaderSize {
		panic(fmt.Sprintf("page: index tuple of %d bytes", len(b)))
	}
	putItemPointer(b, tid)
}
