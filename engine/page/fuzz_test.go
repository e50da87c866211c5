package page

import (
	"bytes"
	"os"
	"testing"
)

// fuzzPage turns fuzz input into one block, zero-padded or truncated.
func fuzzPage(data []byte) []byte {
	p := make([]byte, BlockSize)
	copy(p, data)
	return p
}

// seedPages adds valid pages (a checksummed heap page, an index page with
// special space) and PostgreSQL's pages as fuzz seeds, so that mutations
// start from structure rather than noise.
func seedPages(f *testing.F) {
	heap := make([]byte, BlockSize)
	Init(heap, 0)
	for i := range 20 {
		off, _ := AddItem(heap, EncodeHeapTuple(HeapTupleHeader{Xmin: uint64(i + 3)}, bytes.Repeat([]byte{byte(i)}, i*7)), InvalidOffset, false)
		if i%5 == 0 {
			SetItemUnused(heap, off)
		}
	}
	SetItemRedirect(heap, 2, 3)
	SetItemDead(heap, 4)
	SetChecksum(heap, 1)
	f.Add(heap, uint32(1))

	index := make([]byte, BlockSize)
	Init(index, 16)
	for i := range 30 {
		_, _ = AddItem(index, EncodeIndexTuple(IndexTuple{TID: ItemPointer{Block: uint32(i), Offset: 1}, Key: []byte{byte(i)}}), OffsetNumber(1+i/2), false)
	}
	MarkItemDead(index, 5)
	SetChecksum(index, 2)
	f.Add(index, uint32(2))

	for _, file := range []string{"testdata/pg15_pg_class_blk0.page", "testdata/pg15_pg_class_blk7.page"} {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, uint32(0))
		}
	}
	f.Add(make([]byte, BlockSize), uint32(0))
}

// FuzzVerify: Verify never panics on arbitrary bytes, and a page it accepts
// is safe to hand to the page operations.
//
// Run it with a bounded minimization, for example
//
//	go test ./engine/page -run '^$' -fuzz '^FuzzVerify$' -fuzztime 20s -fuzzminimizetime 100x
//
// Its inputs are whole 8 KiB pages, and the fuzzer's default (up to 60 s of
// minimizing every new interesting input) otherwise stalls it at 0 execs/s.
func FuzzVerify(f *testing.F) {
	seedPages(f)
	f.Fuzz(func(t *testing.T, data []byte, blkno uint32) {
		_ = Verify(data, blkno) // any length
		p := fuzzPage(data)
		if Verify(p, blkno) == nil && !IsZero(p) {
			exercise(t, p)
		}
		// Fix the checksum, so that the structural checks are what decides.
		if !IsNew(p) {
			put16(p, offChecksum, ComputeChecksum(p, blkno))
			if err := Verify(p, blkno); err == nil {
				exercise(t, p)
			} else if CheckPage(p) == nil {
				t.Fatalf("Verify failed with a correct checksum and a sane page: %v", err)
			}
		}
	})
}

// exercise runs every page operation on a page that passed CheckPage: none
// may panic, and the page must still pass afterwards. This is the promise
// that lets the engine treat assertion failures as its own bugs.
func exercise(t *testing.T, p []byte) {
	t.Helper()
	if err := CheckPage(p); err != nil {
		t.Fatalf("verified page fails CheckPage: %v", err)
	}
	n := MaxOffset(p)
	var firstStorage OffsetNumber
	for off := FirstOffset; off <= n; off++ {
		id := GetItemID(p, off)
		if id.HasStorage() {
			item := GetItem(p, off)
			_, _, _ = DecodeHeapTuple(item)
			_, _ = DecodeIndexTuple(item)
			if firstStorage == InvalidOffset {
				firstStorage = off
			}
		}
	}
	_ = FreeSpace(p)
	_ = HeapFreeSpace(p)
	_ = Special(p)
	q := append([]byte(nil), p...)
	RepairFragmentation(q)
	if err := CheckPage(q); err != nil {
		t.Fatalf("page fails CheckPage after RepairFragmentation: %v", err)
	}
	_, _ = AddItem(q, []byte("fuzz"), InvalidOffset, false)
	if firstStorage != InvalidOffset {
		q = append(q[:0], p...)
		IndexTupleDelete(q, firstStorage)
		_, _ = AddItem(q, []byte("fuzz"), FirstOffset, false)
	}
}

// FuzzDecodeTuple: the tuple decoders never panic on arbitrary bytes; what
// they accept re-encodes to the same bytes.
func FuzzDecodeTuple(f *testing.F) {
	f.Add(EncodeHeapTuple(HeapTupleHeader{Xmin: 5, Xmax: 9, Ctid: ItemPointer{Block: 1, Offset: 2}, Infomask: HeapXmaxInvalid}, []byte("row")))
	f.Add(EncodeIndexTuple(IndexTuple{TID: ItemPointer{Block: 3, Offset: 4}, Key: []byte("key"), Info: IndexVarMask}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, data, err := DecodeHeapTuple(b); err == nil {
			if _, err := AsHeapTuple(b); err != nil {
				t.Fatalf("DecodeHeapTuple accepts what AsHeapTuple rejects: %v", err)
			}
			if h.Hoff == HeapTupleDataOffset && b[HeapTupleHeaderSize] == 0 {
				if again := EncodeHeapTuple(h, data); !bytes.Equal(again, b) {
					t.Fatalf("heap tuple does not round-trip:\n%x\n%x", b, again)
				}
			}
		}
		if it, err := DecodeIndexTuple(b); err == nil {
			if again := EncodeIndexTuple(it); !bytes.Equal(again, b) {
				t.Fatalf("index tuple does not round-trip:\n%x\n%x", b, again)
			}
		}
	})
}
