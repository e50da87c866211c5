package page

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/wal"
)

// fill writes deterministic pseudo-random bytes (xorshift64) into b.
func fill(b []byte, seed uint64) {
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

// slot is the model of one line pointer.
type slot struct {
	flags  LPFlags
	data   []byte       // the item's bytes while it has storage, else nil
	target OffsetNumber // LP_REDIRECT only
}

type mode int

const (
	// heapMode: items are added anywhere free and keep their offset numbers;
	// pointers become unused, dead or redirects; pruning repairs the page.
	heapMode mode = iota
	// indexMode: items are inserted in the middle (shifting pointers),
	// killed (dead with storage) and deleted (compacted out).
	indexMode
)

// model is the reference a page is checked against: the list of line
// pointers by offset number, the item area's low end and the free-lines
// hint, which PostgreSQL's AddItem believes even when it is stale.
type model struct {
	mode    mode
	p       []byte
	slots   []slot
	upper   int
	special int
	hasFree bool
}

func newModel(t *rapid.T, md mode) *model {
	special := 0
	if md == indexMode {
		special = rapid.SampledFrom([]int{0, 16, 13, 24}).Draw(t, "special")
	}
	m := &model{mode: md, p: make([]byte, BlockSize)}
	Init(m.p, special)
	m.special = BlockSize - maxAlign(special)
	m.upper = m.special
	m.check(t)
	return m
}

func (m *model) lower() int { return HeaderSize + len(m.slots)*ItemIDSize }

// redirected reports whether some redirect points at offset off; such a
// pointer must stay used, as the heap-only tuple a HOT chain reaches does.
func (m *model) redirected(off OffsetNumber) bool {
	for _, s := range m.slots {
		if s.flags == LPRedirect && s.target == off {
			return true
		}
	}
	return false
}

func (m *model) drawItem(t *rapid.T) []byte {
	n := rapid.IntRange(1, 400).Draw(t, "len")
	if rapid.IntRange(0, 15).Draw(t, "big") == 0 {
		n = rapid.IntRange(400, BlockSize+64).Draw(t, "biglen")
	}
	b := make([]byte, n)
	fill(b, rapid.Uint64().Draw(t, "seed"))
	return b
}

// add draws an AddItem call and predicts its outcome.
func (m *model) add(t *rapid.T) {
	item := m.drawItem(t)
	limit := OffsetNumber(len(m.slots) + 1)
	var flags AddFlags
	if m.mode == heapMode && rapid.Bool().Draw(t, "isheap") {
		flags |= AddIsHeap
	}
	off := InvalidOffset
	shuffle := false
	switch how := rapid.IntRange(0, 2).Draw(t, "how"); {
	case how == 1:
		// Overwrite an unused pointer or append after the last.
		var choices []OffsetNumber
		for i, s := range m.slots {
			if s.flags == LPUnused {
				choices = append(choices, OffsetNumber(i+1))
			}
		}
		off = rapid.SampledFrom(append(choices, limit)).Draw(t, "overwrite")
		flags |= AddOverwrite
	case how == 2 && m.mode == indexMode:
		off = OffsetNumber(rapid.IntRange(1, int(limit)).Draw(t, "insert"))
		shuffle = off < limit
	}
	// Predict the slot AddItem picks, including the hint's side effect.
	want := off
	if off == InvalidOffset {
		want = limit
		if m.hasFree {
			found := false
			for i, s := range m.slots {
				if s.flags == LPUnused {
					want, found = OffsetNumber(i+1), true
					break
				}
			}
			if !found {
				m.hasFree = false
			}
		}
	}
	lower := m.lower()
	if want == limit || shuffle {
		lower += ItemIDSize
	}
	fits := lower <= m.upper-maxAlign(len(item))
	if flags&AddIsHeap != 0 && want > MaxHeapTuplesPerPage {
		fits = false
	}

	got, err := AddItemExtended(m.p, item, off, flags)
	if !fits {
		require.ErrorIs(t, err, ErrNoSpace)
		require.Equal(t, InvalidOffset, got)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want, got)
	s := slot{flags: LPNormal, data: item}
	switch {
	case shuffle:
		m.slots = append(m.slots[:want-1], append([]slot{s}, m.slots[want-1:]...)...)
	case want == limit:
		m.slots = append(m.slots, s)
	default:
		m.slots[want-1] = s
	}
	m.upper -= maxAlign(len(item))
}

// pick draws a slot satisfying ok, or returns InvalidOffset if none does.
func (m *model) pick(t *rapid.T, label string, ok func(OffsetNumber, slot) bool) OffsetNumber {
	var choices []OffsetNumber
	for i, s := range m.slots {
		if ok(OffsetNumber(i+1), s) {
			choices = append(choices, OffsetNumber(i+1))
		}
	}
	if len(choices) == 0 {
		return InvalidOffset
	}
	return rapid.SampledFrom(choices).Draw(t, label)
}

func (m *model) randomOp(t *rapid.T) {
	kind := rapid.IntRange(0, 9).Draw(t, "op")
	switch {
	case kind <= 4:
		m.add(t)
	case kind == 5 && m.mode == heapMode:
		// Pruning: a pointer becomes unused (a removed heap-only tuple).
		if off := m.pick(t, "unused", func(o OffsetNumber, s slot) bool { return s.flags != LPUnused && !m.redirected(o) }); off != InvalidOffset {
			SetItemUnused(m.p, off)
			m.slots[off-1] = slot{flags: LPUnused}
		}
	case kind == 6 && m.mode == heapMode:
		if off := m.pick(t, "dead", func(o OffsetNumber, s slot) bool { return s.flags != LPUnused && !m.redirected(o) }); off != InvalidOffset {
			SetItemDead(m.p, off)
			m.slots[off-1] = slot{flags: LPDead}
		}
	case kind == 7 && m.mode == heapMode:
		// A HOT chain's root becomes a redirect to a live member.
		off := m.pick(t, "root", func(o OffsetNumber, s slot) bool { return s.flags != LPUnused && !m.redirected(o) })
		if off == InvalidOffset {
			return
		}
		target := m.pick(t, "target", func(o OffsetNumber, s slot) bool { return o != off && s.flags == LPNormal })
		if target == InvalidOffset {
			return
		}
		SetItemRedirect(m.p, off, target)
		m.slots[off-1] = slot{flags: LPRedirect, target: target}
	case kind == 5 || kind == 6:
		// Index mode: kill an entry (LP_DEAD, storage kept).
		if off := m.pick(t, "kill", func(_ OffsetNumber, s slot) bool { return s.data != nil }); off != InvalidOffset {
			MarkItemDead(m.p, off)
			m.slots[off-1].flags = LPDead
		}
	case kind == 7:
		if off := m.pick(t, "delete", func(_ OffsetNumber, s slot) bool { return s.data != nil }); off != InvalidOffset {
			IndexTupleDelete(m.p, off)
			m.upper += maxAlign(len(m.slots[off-1].data))
			m.slots = append(m.slots[:off-1], m.slots[off:]...)
		}
	default:
		m.repair()
	}
}

// repair applies RepairFragmentation to the page and its expected effect
// (the PostgreSQL 17 version) to the model.
func (m *model) repair() {
	RepairFragmentation(m.p)
	used := 0
	m.upper = m.special
	for _, s := range m.slots {
		if s.data != nil {
			m.upper -= maxAlign(len(s.data))
		}
	}
	for len(m.slots) > 0 && m.slots[len(m.slots)-1].flags == LPUnused {
		m.slots = m.slots[:len(m.slots)-1]
	}
	m.hasFree = false
	for _, s := range m.slots {
		if s.flags == LPUnused {
			m.hasFree = true
		} else {
			used++
		}
	}
}

// check compares the page with the model and asserts the page invariants.
func (m *model) check(t require.TestingT) {
	p := m.p
	require.Equal(t, OffsetNumber(len(m.slots)), MaxOffset(p))
	require.Equal(t, m.lower(), int(Lower(p)))
	require.Equal(t, m.upper, int(Upper(p)))
	require.Equal(t, m.special, int(SpecialOffset(p)))
	require.LessOrEqual(t, int(Lower(p)), int(Upper(p)))
	require.Equal(t, max(0, m.upper-m.lower()-ItemIDSize), FreeSpace(p))
	require.Equal(t, max(0, m.upper-m.lower()), ExactFreeSpace(p))
	require.Equal(t, m.hasFree, Flags(p)&FlagHasFreeLines != 0)
	require.Len(t, Special(p), BlockSize-m.special)
	for i, s := range m.slots {
		off := OffsetNumber(i + 1)
		id := GetItemID(p, off)
		require.Equal(t, s.flags, id.Flags, "lp %d", off)
		require.Equal(t, s.data != nil, id.HasStorage(), "lp %d", off)
		if s.data != nil {
			require.True(t, bytes.Equal(s.data, GetItem(p, off)), "lp %d: item bytes differ", off)
		}
		if s.flags == LPRedirect {
			require.Equal(t, s.target, id.RedirectTarget())
		}
	}
	require.NoError(t, CheckPage(p))
}

func runModel(t *testing.T, md mode) {
	rapid.Check(t, func(t *rapid.T) {
		m := newModel(t, md)
		n := rapid.IntRange(1, 200).Draw(t, "n")
		for range n {
			m.randomOp(t)
			m.check(t)
		}
		// The page is always writable and readable back.
		cp := append([]byte(nil), m.p...)
		SetLSN(cp, wal.LSN(rapid.Uint64().Draw(t, "lsn")))
		SetChecksum(cp, 7)
		require.NoError(t, Verify(cp, 7))
	})
}

func TestModelHeap(t *testing.T)  { runModel(t, heapMode) }
func TestModelIndex(t *testing.T) { runModel(t, indexMode) }

func TestInit(t *testing.T) {
	p := make([]byte, BlockSize)
	fill(p, 1)
	Init(p, 13)
	require.Equal(t, uint16(HeaderSize), Lower(p))
	require.Equal(t, uint16(BlockSize-16), Upper(p))
	require.Equal(t, uint16(BlockSize-16), SpecialOffset(p))
	require.Equal(t, 16, SpecialSize(p))
	require.Equal(t, uint16(BlockSize|LayoutVersion), PageSizeVersion(p))
	require.False(t, IsNew(p))
	require.True(t, IsEmpty(p))
	require.Equal(t, OffsetNumber(0), MaxOffset(p))
	require.Equal(t, BlockSize-16-HeaderSize-ItemIDSize, FreeSpace(p))
	require.Equal(t, make([]byte, BlockSize-HeaderSize), p[HeaderSize:], "Init zeroes the page")
	require.Panics(t, func() { Init(p, BlockSize) })
	require.Panics(t, func() { Init(make([]byte, 100), 0) })
	require.True(t, IsNew(make([]byte, BlockSize)))
	require.Equal(t, OffsetNumber(0), MaxOffset(make([]byte, BlockSize)))
	require.Zero(t, FreeSpace(make([]byte, BlockSize)))
}

func TestHeaderFields(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	SetLSN(p, 0x0000_0012_3456_789A)
	require.Equal(t, wal.LSN(0x0000_0012_3456_789A), LSN(p))
	// PageXLogRecPtr: xlogid (high half) first.
	require.Equal(t, []byte{0x12, 0, 0, 0, 0x9A, 0x78, 0x56, 0x34}, p[0:8])
	SetPrunable(p, 100)
	SetPrunable(p, 200)
	require.Equal(t, uint64(100), PruneXid(p))
	SetPrunable(p, 50)
	require.Equal(t, uint64(50), PruneXid(p))
	ClearPrunable(p)
	require.Zero(t, PruneXid(p))
	SetFlags(p, FlagAllVisible|FlagPageFull)
	require.Equal(t, FlagAllVisible|FlagPageFull, Flags(p))
	ClearFlags(p, FlagPageFull)
	require.Equal(t, FlagAllVisible, Flags(p))
	require.Panics(t, func() { SetFlags(p, 0x10) })
	require.Panics(t, func() { SetPrunable(p, 0) })
}

func TestAddItemCallerBugsPanic(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	off, err := AddItem(p, []byte("a"), InvalidOffset, false)
	require.NoError(t, err)
	require.Equal(t, FirstOffset, off)
	require.Panics(t, func() { _, _ = AddItem(p, nil, InvalidOffset, false) }, "empty item")
	require.Panics(t, func() { _, _ = AddItem(p, []byte("b"), 3, false) }, "beyond limit")
	require.Panics(t, func() { _, _ = AddItem(p, []byte("b"), 1, true) }, "overwrite used")
	require.Panics(t, func() { GetItemID(p, 2) })
	require.Panics(t, func() { GetItemID(p, 0) })
	SetItemDead(p, 1)
	require.Panics(t, func() { GetItem(p, 1) }, "no storage")
	require.Panics(t, func() { MarkItemDead(p, 1) })
	require.Panics(t, func() { SetItemRedirect(p, 1, 1) })
	put16(p, offLower, 2)
	require.Panics(t, func() { _, _ = AddItem(p, []byte("b"), InvalidOffset, false) }, "corrupted pointers")
}

func TestAddItemFull(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	n := 0
	for {
		_, err := AddItemExtended(p, make([]byte, 1), InvalidOffset, AddIsHeap)
		if err != nil {
			require.ErrorIs(t, err, ErrNoSpace)
			break
		}
		n++
	}
	// 1-byte items take 8 bytes + 4 for the pointer: the heap limit hits first.
	require.Equal(t, MaxHeapTuplesPerPage, n)
	require.Zero(t, HeapFreeSpace(p))
	require.Positive(t, FreeSpace(p))
	_, err := AddItem(p, make([]byte, BlockSize), InvalidOffset, false)
	require.ErrorIs(t, err, ErrNoSpace)
	_, err = AddItem(p, make([]byte, 40000), InvalidOffset, false)
	require.ErrorIs(t, err, ErrNoSpace)
}

// The B-tree inserts in the middle: line pointers shift, items do not move.
func TestAddItemShuffle(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 16)
	for _, s := range []string{"a", "c", "e"} {
		_, err := AddItem(p, []byte(s), InvalidOffset, false)
		require.NoError(t, err)
	}
	off, err := AddItem(p, []byte("b"), 2, false)
	require.NoError(t, err)
	require.Equal(t, OffsetNumber(2), off)
	off, err = AddItem(p, []byte("d"), 4, false)
	require.NoError(t, err)
	require.Equal(t, OffsetNumber(4), off)
	var got []string
	for i := FirstOffset; i <= MaxOffset(p); i++ {
		got = append(got, string(GetItem(p, i)))
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
	IndexTupleDelete(p, 3)
	got = got[:0]
	for i := FirstOffset; i <= MaxOffset(p); i++ {
		got = append(got, string(GetItem(p, i)))
	}
	require.Equal(t, []string{"a", "b", "d", "e"}, got)
	require.Equal(t, BlockSize-16-4*MaxAlign, int(Upper(p)))
}

// PostgreSQL 17's PageRepairFragmentation truncates trailing unused line
// pointers, keeps the others and sets the hint for them.
func TestRepairFragmentationTruncates(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	for i := range 5 {
		_, err := AddItem(p, []byte(fmt.Sprint(i)), InvalidOffset, false)
		require.NoError(t, err)
	}
	SetItemUnused(p, 2)
	SetItemUnused(p, 4)
	SetItemUnused(p, 5)
	RepairFragmentation(p)
	require.Equal(t, OffsetNumber(3), MaxOffset(p))
	require.NotZero(t, Flags(p)&FlagHasFreeLines)
	require.Equal(t, "0", string(GetItem(p, 1)))
	require.Equal(t, "2", string(GetItem(p, 3)))
	require.Equal(t, BlockSize-2*MaxAlign, int(Upper(p)))
	off, err := AddItem(p, []byte("x"), InvalidOffset, false)
	require.NoError(t, err)
	require.Equal(t, OffsetNumber(2), off, "the free line pointer is reused")
	// Everything unused: the array empties.
	for i := FirstOffset; i <= MaxOffset(p); i++ {
		SetItemUnused(p, i)
	}
	RepairFragmentation(p)
	require.True(t, IsEmpty(p))
	require.Zero(t, Flags(p)&FlagHasFreeLines)
	require.Equal(t, BlockSize, int(Upper(p)))
}

func TestErrorsAreDistinct(t *testing.T) {
	require.False(t, errors.Is(ErrChecksum, ErrCorrupt))
	require.False(t, errors.Is(ErrNoSpace, ErrCorrupt))
}
