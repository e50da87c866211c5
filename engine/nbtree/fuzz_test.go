package nbtree_test

import (
	"encoding/binary"
	"testing"

	"github.com/pgdst/pgdst/engine/nbtree"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
)

// FuzzDecodeRecord feeds arbitrary payloads and info bytes to
// DecodeRecord, which recovery runs on whatever the WAL holds: it must
// return an error or a record, never panic. The seeds are well-formed
// records of each type.
func FuzzDecodeRecord(f *testing.F) {
	leaf := page.EncodeIndexTuple(page.IndexTuple{TID: page.ItemPointer{Block: 1, Offset: 2}, Key: make([]byte, 8)})
	ref := func(id uint8, data []byte) wal.BlockRef {
		return wal.BlockRef{ID: id, Rel: 16384, Block: uint32(id) + 1, Data: data}
	}
	img := make([]byte, page.BlockSize)
	page.Init(img, 16)
	imgRef := func(id uint8) wal.BlockRef {
		r := ref(id, nil)
		r.Image, r.HoleOffset, r.HoleLength = img, page.Lower(img), page.Upper(img)-page.Lower(img)
		return r
	}
	u16 := binary.LittleEndian.AppendUint16
	seeds := []struct {
		info uint8
		body wal.Body
	}{
		{nbtree.InfoInsertLeaf, wal.Body{Blocks: []wal.BlockRef{ref(0, leaf)}, Main: u16(nil, 1)}},
		{nbtree.InfoVacuum, wal.Body{Blocks: []wal.BlockRef{ref(0, u16(nil, 3))}, Main: u16(nil, 1)}},
		{nbtree.InfoSplitL, wal.Body{Blocks: []wal.BlockRef{imgRef(0), imgRef(1), ref(2, []byte{})}, Main: make([]byte, 8)}},
		{nbtree.InfoMeta, wal.Body{Blocks: []wal.BlockRef{imgRef(0), imgRef(1)}}},
	}
	for _, s := range seeds {
		f.Add(s.info, s.body.Encode(nil))
	}
	f.Fuzz(func(t *testing.T, info uint8, payload []byte) {
		_, _ = nbtree.DecodeRecord(wal.Record{Rmid: nbtree.RMBtree, Info: info, Payload: payload})
	})
}
