package page

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func drawItemPointer(t *rapid.T, label string) ItemPointer {
	return ItemPointer{Block: rapid.Uint32().Draw(t, label+"blk"), Offset: OffsetNumber(rapid.Uint16().Draw(t, label+"off"))}
}

func TestHeapTupleRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := HeapTupleHeader{
			Xmin:      rapid.Uint64().Draw(t, "xmin"),
			Xmax:      rapid.Uint64().Draw(t, "xmax"),
			Cid:       rapid.Uint32().Draw(t, "cid"),
			Ctid:      drawItemPointer(t, "ctid"),
			Infomask2: rapid.Uint16().Draw(t, "infomask2"),
			Infomask:  rapid.Uint16().Draw(t, "infomask"),
		}
		data := rapid.SliceOfN(rapid.Byte(), 0, 600).Draw(t, "data")
		b := EncodeHeapTuple(h, data)
		require.Len(t, b, HeapTupleSize(len(data)))
		got, gotData, err := DecodeHeapTuple(b)
		require.NoError(t, err)
		h.Hoff = HeapTupleDataOffset
		require.Equal(t, h, got)
		require.Equal(t, data, append([]byte{}, gotData...))
		// Appending to a non-empty buffer encodes the same bytes.
		prefix := []byte("xyz")
		require.Equal(t, b, AppendHeapTuple(prefix, h, data)[3:])
	})
}

// In-place changes through the HeapTuple view of a page item land on the
// page and leave every other byte alone.
func TestHeapTupleInPlace(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := make([]byte, BlockSize)
		Init(p, 0)
		h := HeapTupleHeader{Xmin: rapid.Uint64().Draw(t, "xmin"), Infomask2: 3}
		data := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data")
		off, err := AddItem(p, EncodeHeapTuple(h, data), InvalidOffset, false)
		require.NoError(t, err)
		before := append([]byte(nil), p...)

		tup, err := AsHeapTuple(GetItem(p, off))
		require.NoError(t, err)
		xmax := rapid.Uint64().Draw(t, "xmax")
		ctid := drawItemPointer(t, "ctid")
		bits := rapid.Uint16().Draw(t, "bits")
		tup.SetXmax(xmax)
		tup.SetCtid(ctid)
		tup.SetInfomask(bits)
		tup.SetInfomask2(HeapHotUpdated)
		tup.SetCid(7)

		got, gotData, err := DecodeHeapTuple(GetItem(p, off))
		require.NoError(t, err)
		require.Equal(t, h.Xmin, got.Xmin)
		require.Equal(t, xmax, got.Xmax)
		require.Equal(t, ctid, got.Ctid)
		require.Equal(t, bits, got.Infomask)
		require.Equal(t, uint16(3)|HeapHotUpdated, got.Infomask2)
		require.Equal(t, 3, tup.Natts())
		require.Equal(t, uint32(7), got.Cid)
		require.Equal(t, data, append([]byte{}, gotData...))
		tup.ClearInfomask(bits)
		tup.ClearInfomask2(HeapHotUpdated)
		require.Zero(t, tup.Infomask())

		// Only the header of this one item changed.
		start := int(GetItemID(p, off).Off)
		for i := range p {
			if i < start+offXmax || i >= start+offHoff {
				require.Equal(t, before[i], p[i], "byte %d", i)
			}
		}
	})
}

func TestInfomaskValues(t *testing.T) {
	// htup_details.h's values, which pgdst keeps.
	require.Equal(t, uint16(0x0100), HeapXminCommitted)
	require.Equal(t, uint16(0x0200), HeapXminInvalid)
	require.Equal(t, uint16(0x0400), HeapXmaxCommitted)
	require.Equal(t, uint16(0x0800), HeapXmaxInvalid)
	require.Equal(t, uint16(0x0080), HeapXmaxLockOnly)
	require.Equal(t, uint16(0x0040), HeapXmaxExclLock)
	require.Equal(t, uint16(0x0010), HeapXmaxKeyShrLock)
	require.Equal(t, uint16(0x0050), HeapXmaxShrLock)
	require.Equal(t, uint16(0x2000), HeapUpdated)
	require.Equal(t, uint16(0x1CD0), HeapXmaxBits)
	require.Equal(t, uint16(0x4000), HeapHotUpdated)
	require.Equal(t, uint16(0x8000), HeapOnlyTuple)
	require.True(t, XmaxIsLockedOnly(HeapXmaxLockOnly))
	require.True(t, XmaxIsLockedOnly(HeapXmaxExclLock))
	require.False(t, XmaxIsLockedOnly(HeapXmaxExclLock|HeapXmaxIsMulti))
	require.False(t, XmaxIsLockedOnly(0))
	require.Equal(t, 32, HeapTupleDataOffset)
	require.Equal(t, 226, MaxHeapTuplesPerPage)
	require.Equal(t, 408, MaxIndexTuplesPerPage)
}

func TestHeapTupleDecodeErrors(t *testing.T) {
	b := EncodeHeapTuple(HeapTupleHeader{Xmin: 1}, []byte("data"))
	for name, mutate := range map[string]func([]byte) []byte{
		"short":          func(b []byte) []byte { return b[:20] },
		"hoff too small": func(b []byte) []byte { b[offHoff] = 24; return b },
		"hoff unaligned": func(b []byte) []byte { b[offHoff] = 33; return b },
		"hoff too big":   func(b []byte) []byte { b[offHoff] = 40; return b },
		"too long":       func(b []byte) []byte { return append(b, make([]byte, BlockSize)...) },
	} {
		_, _, err := DecodeHeapTuple(mutate(append([]byte(nil), b...)))
		require.ErrorIs(t, err, ErrCorrupt, name)
	}
	require.Panics(t, func() { EncodeHeapTuple(HeapTupleHeader{}, make([]byte, MaxHeapTupleSize)) })
	require.Panics(t, func() { HeapTuple(make([]byte, 10)).Xmin() })
	require.Panics(t, func() { HeapTuple(make([]byte, 40)).SetInfomask2(1) })
	// The largest legal heap tuple fits an empty heap page.
	p := make([]byte, BlockSize)
	Init(p, 0)
	_, err := AddItem(p, EncodeHeapTuple(HeapTupleHeader{}, make([]byte, MaxHeapTupleSize-HeapTupleDataOffset)), InvalidOffset, false)
	require.NoError(t, err)
}

func TestIndexTupleRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		it := IndexTuple{
			TID:  drawItemPointer(t, "tid"),
			Info: rapid.Uint16().Draw(t, "info") &^ IndexSizeMask,
			Key:  rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "key"),
		}
		b := EncodeIndexTuple(it)
		require.Len(t, b, IndexTupleSize(len(it.Key)))
		got, err := DecodeIndexTuple(b)
		require.NoError(t, err)
		require.Equal(t, it.TID, got.TID)
		require.Equal(t, it.Info, got.Info)
		require.Equal(t, append([]byte{}, it.Key...), append([]byte{}, got.Key...))
		require.Equal(t, it.TID, IndexTupleTID(b))
		tid := drawItemPointer(t, "newtid")
		SetIndexTupleTID(b, tid)
		got, err = DecodeIndexTuple(b)
		require.NoError(t, err)
		require.Equal(t, tid, got.TID)
	})
}

func TestIndexTupleDecodeErrors(t *testing.T) {
	b := EncodeIndexTuple(IndexTuple{Key: []byte("key")})
	_, err := DecodeIndexTuple(b[:7])
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = DecodeIndexTuple(b[:10])
	require.ErrorIs(t, err, ErrCorrupt)
	_, err = DecodeIndexTuple(append(b, 0))
	require.ErrorIs(t, err, ErrCorrupt)
	require.Panics(t, func() { EncodeIndexTuple(IndexTuple{Key: make([]byte, MaxIndexKeySize+1)}) })
	require.Panics(t, func() { EncodeIndexTuple(IndexTuple{Info: 5}) })
}
