package page

import "testing"

func BenchmarkChecksum(b *testing.B) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	fill(p[HeaderSize:], 1)
	b.SetBytes(BlockSize)
	for i := 0; b.Loop(); i++ {
		_ = ComputeChecksum(p, uint32(i))
	}
}

func BenchmarkVerify(b *testing.B) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	for {
		if _, err := AddItem(p, make([]byte, 100), InvalidOffset, false); err != nil {
			break
		}
	}
	SetChecksum(p, 5)
	b.SetBytes(BlockSize)
	for b.Loop() {
		if err := Verify(p, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddItem appends 100-byte items, re-initializing the page when it
// fills; the figure is per AddItem call.
func BenchmarkAddItem(b *testing.B) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	item := make([]byte, 100)
	for b.Loop() {
		if _, err := AddItem(p, item, InvalidOffset, false); err != nil {
			Init(p, 0)
		}
	}
}

// BenchmarkAddItemMiddle inserts B-tree style at the first position, which
// shifts every line pointer.
func BenchmarkAddItemMiddle(b *testing.B) {
	p := make([]byte, BlockSize)
	Init(p, 16)
	item := make([]byte, 16)
	for b.Loop() {
		if _, err := AddItem(p, item, FirstOffset, false); err != nil {
			Init(p, 16)
		}
	}
}

func BenchmarkRepairFragmentation(b *testing.B) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	for {
		if _, err := AddItem(p, make([]byte, 60), InvalidOffset, false); err != nil {
			break
		}
	}
	for off := FirstOffset; off <= MaxOffset(p); off += 2 {
		SetItemUnused(p, off)
	}
	q := make([]byte, BlockSize)
	for b.Loop() {
		copy(q, p)
		RepairFragmentation(q)
	}
}
