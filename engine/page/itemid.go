package page

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// LPFlags is the 2-bit state of a line pointer (lp_flags, itemid.h).
type LPFlags uint8

// Line pointer states.
const (
	// LPUnused (LP_UNUSED): free for reuse; lp_len is always 0.
	LPUnused LPFlags = 0
	// LPNormal (LP_NORMAL): in use; lp_len is always > 0.
	LPNormal LPFlags = 1
	// LPRedirect (LP_REDIRECT): a HOT redirect; lp_off holds the offset
	// number of the chain's next member and lp_len is 0.
	LPRedirect LPFlags = 2
	// LPDead (LP_DEAD): dead; it may or may not still have storage (a heap
	// page's pruned pointer has none, an index page's killed item keeps it).
	LPDead LPFlags = 3
)

func (f LPFlags) String() string {
	switch f {
	case LPUnused:
		return "LP_UNUSED"
	case LPNormal:
		return "LP_NORMAL"
	case LPRedirect:
		return "LP_REDIRECT"
	default:
		return "LP_DEAD"
	}
}

// ItemID is one decoded line pointer (ItemIdData). On disk it is a 32-bit
// little-endian word laid out as GCC lays out PostgreSQL's bit fields:
// lp_off in bits 0-14, lp_flags in bits 15-16, lp_len in bits 17-31.
type ItemID struct {
	Off   uint16 // lp_off: byte offset of the item, or redirect target
	Flags LPFlags
	Len   uint16 // lp_len: byte length of the item
}

// lpMax is the largest value a 15-bit lp_off or lp_len can hold.
const lpMax = 1<<15 - 1

func (id ItemID) word() uint32 {
	if id.Off > lpMax || id.Len > lpMax || id.Flags > LPDead {
		panic(fmt.Sprintf("page: line pointer out of range: %+v", id))
	}
	return uint32(id.Off) | uint32(id.Flags)<<15 | uint32(id.Len)<<17
}

func itemIDFromWord(w uint32) ItemID {
	return ItemID{Off: uint16(w & lpMax), Flags: LPFlags(w >> 15 & 3), Len: uint16(w >> 17)}
}

// IsUsed is ItemIdIsUsed: anything but LP_UNUSED.
func (id ItemID) IsUsed() bool { return id.Flags != LPUnused }

// IsNormal is ItemIdIsNormal.
func (id ItemID) IsNormal() bool { return id.Flags == LPNormal }

// IsRedirected is ItemIdIsRedirected.
func (id ItemID) IsRedirected() bool { return id.Flags == LPRedirect }

// IsDead is ItemIdIsDead.
func (id ItemID) IsDead() bool { return id.Flags == LPDead }

// HasStorage is ItemIdHasStorage: the pointer owns bytes in the item area.
func (id ItemID) HasStorage() bool { return id.Len != 0 }

// RedirectTarget is ItemIdGetRedirect.
func (id ItemID) RedirectTarget() OffsetNumber {
	if id.Flags != LPRedirect {
		panic(fmt.Sprintf("page: RedirectTarget of a %v line pointer", id.Flags))
	}
	return OffsetNumber(id.Off)
}

func lpPos(off OffsetNumber) int { return HeaderSize + (int(off)-1)*ItemIDSize }

// assertOffset panics unless off names an existing line pointer.
func assertOffset(p []byte, off OffsetNumber) {
	if n := MaxOffset(p); off < FirstOffset || off > n {
		panic(fmt.Sprintf("page: offset %d out of range [1, %d]", off, n))
	}
}

// GetItemID returns line pointer off (PageGetItemId).
func GetItemID(p []byte, off OffsetNumber) ItemID {
	assertOffset(p, off)
	return itemIDFromWord(binary.LittleEndian.Uint32(p[lpPos(off):]))
}

func setItemID(p []byte, off OffsetNumber, id ItemID) {
	binary.LittleEndian.PutUint32(p[lpPos(off):], id.word())
}

// GetItem returns the bytes of item off (PageGetItem). The slice aliases the
// page (its capacity is clipped to the item), so in-place changes such as
// hint bits land on the page. The pointer must have storage.
func GetItem(p []byte, off OffsetNumber) []byte {
	id := GetItemID(p, off)
	if !id.HasStorage() {
		panic(fmt.Sprintf("page: GetItem(%d) of a %v line pointer without storage", off, id.Flags))
	}
	_, upper, special := assertPointers(p)
	start, end := int(id.Off), int(id.Off)+int(id.Len)
	if start < upper || end > special || start != maxAlign(start) {
		panic(fmt.Sprintf("page: corrupted line pointer %d: offset = %d, size = %d", off, id.Off, id.Len))
	}
	return p[start:end:end]
}

// SetItemUnused marks a line pointer free for reuse (ItemIdSetUnused). Its
// storage, if any, becomes garbage until RepairFragmentation reclaims it.
// Like PostgreSQL it does not set PD_HAS_FREE_LINES: RepairFragmentation
// does, after it has counted.
func SetItemUnused(p []byte, off OffsetNumber) {
	assertOffset(p, off)
	setItemID(p, off, ItemID{Flags: LPUnused})
}

// SetItemDead marks a line pointer dead and drops its storage
// (ItemIdSetDead), as heap pruning does.
func SetItemDead(p []byte, off OffsetNumber) {
	assertOffset(p, off)
	setItemID(p, off, ItemID{Flags: LPDead})
}

// MarkItemDead marks a line pointer dead but keeps its storage
// (ItemIdMarkDead), as an index scan does when it kills an index entry.
func MarkItemDead(p []byte, off OffsetNumber) {
	id := GetItemID(p, off)
	if !id.HasStorage() {
		panic(fmt.Sprintf("page: MarkItemDead(%d) of a line pointer without storage", off))
	}
	id.Flags = LPDead
	setItemID(p, off, id)
}

// SetItemRedirect turns a line pointer into a HOT redirect to target
// (ItemIdSetRedirect), dropping its storage.
func SetItemRedirect(p []byte, off, target OffsetNumber) {
	assertOffset(p, off)
	assertOffset(p, target)
	if target == off {
		panic(fmt.Sprintf("page: line pointer %d redirected to itself", off))
	}
	// A HOT chain continues at a normal (heap-only) tuple; anything else
	// would leave a redirect that CheckPage rejects.
	if id := GetItemID(p, target); !id.IsNormal() {
		panic(fmt.Sprintf("page: line pointer %d redirected to %d, a %v line pointer", off, target, id.Flags))
	}
	setItemID(p, off, ItemID{Off: uint16(target), Flags: LPRedirect})
}

// AddFlags are PageAddItemExtended's flags.
type AddFlags uint8

const (
	// AddOverwrite (PAI_OVERWRITE): store the item in the given line
	// pointer, which must be unused or one past the last, instead of
	// shifting later pointers up to make room.
	AddOverwrite AddFlags = 1 << 0
	// AddIsHeap (PAI_IS_HEAP): refuse to create more than
	// MaxHeapTuplesPerPage line pointers.
	AddIsHeap AddFlags = 1 << 1
)

// AddItem is PostgreSQL's PageAddItem macro: AddItemExtended with
// AddOverwrite when overwrite is true.
func AddItem(p []byte, item []byte, off OffsetNumber, overwrite bool) (OffsetNumber, error) {
	var flags AddFlags
	if overwrite {
		flags = AddOverwrite
	}
	return AddItemExtended(p, item, off, flags)
}

// AddItemExtended adds item to the page and returns its offset number
// (PageAddItemExtended).
//
// With off == InvalidOffset it takes the first unused line pointer that has
// no storage if PD_HAS_FREE_LINES says there may be one (clearing the hint
// if there is none), else a new one at the end. With a valid off and
// AddOverwrite it stores into that line pointer, which must be unused or one
// past the last. With a valid off and no AddOverwrite it inserts at off,
// shifting the line pointers at off and above up by one, as a B-tree needs
// to keep its items in key order.
//
// The item is placed at pd_upper - MAXALIGN(len(item)); its line pointer
// records the exact length. ErrNoSpace is the only error, returned when the
// item does not fit or AddIsHeap's line pointer limit is reached. An off
// beyond the end or an overwrite of a used pointer is a caller bug and
// panics (PostgreSQL warns and returns InvalidOffsetNumber, after which
// every caller raises an error of its own).
func AddItemExtended(p []byte, item []byte, off OffsetNumber, flags AddFlags) (OffsetNumber, error) {
	lower0, upper0, _ := assertPointers(p)
	if len(item) == 0 {
		panic("page: AddItem of an empty item")
	}
	limit := MaxOffset(p) + 1
	needShuffle := false
	if off != InvalidOffset {
		if flags&AddOverwrite != 0 {
			if off < limit {
				if id := GetItemID(p, off); id.IsUsed() || id.HasStorage() {
					panic(fmt.Sprintf("page: will not overwrite used line pointer %d (%v)", off, id.Flags))
				}
			}
		} else if off < limit {
			needShuffle = true
		}
	} else if u16(p, offFlags)&FlagHasFreeLines != 0 {
		// Look for a recyclable pointer. Checking for storage as well is
		// PostgreSQL's paranoia: an unused pointer never has any.
		for off = FirstOffset; off < limit; off++ {
			if id := GetItemID(p, off); !id.IsUsed() && !id.HasStorage() {
				break
			}
		}
		if off >= limit {
			// The hint was wrong; reset it.
			ClearFlags(p, FlagHasFreeLines)
		}
	} else {
		off = limit
	}
	if off > limit {
		panic(fmt.Sprintf("page: item offset %d beyond the first unused line pointer %d", off, limit))
	}
	if flags&AddIsHeap != 0 && off > MaxHeapTuplesPerPage {
		return InvalidOffset, fmt.Errorf("%w: heap page already has %d line pointers", ErrNoSpace, MaxHeapTuplesPerPage)
	}
	lower := lower0
	if off == limit || needShuffle {
		lower += ItemIDSize
	}
	// Signed arithmetic, so that a huge item cannot wrap around.
	upper := upper0 - maxAlign(len(item))
	if len(item) > lpMax || lower > upper {
		return InvalidOffset, fmt.Errorf("%w: item of %d bytes, %d free", ErrNoSpace, len(item), FreeSpace(p))
	}
	if needShuffle {
		pos := lpPos(off)
		copy(p[pos+ItemIDSize:lower], p[pos:lower0])
	}
	copy(p[upper:], item)
	put16(p, offLower, uint16(lower))
	put16(p, offUpper, uint16(upper))
	setItemID(p, off, ItemID{Off: uint16(upper), Flags: LPNormal, Len: uint16(len(item))})
	return off, nil
}

// IndexTupleDelete removes item off from an index page and closes both
// gaps: the line pointers above it move down one slot and the item bytes
// below it move up (PageIndexTupleDelete). Offset numbers above off change,
// so it is for index pages only: heap line pointers are referenced by TIDs
// and must stay put (use SetItemUnused and RepairFragmentation there).
func IndexTupleDelete(p []byte, off OffsetNumber) {
	lower, upper, special := assertPointers(p)
	nline := MaxOffset(p)
	assertOffset(p, off)
	id := GetItemID(p, off)
	if !id.HasStorage() {
		panic(fmt.Sprintf("page: IndexTupleDelete(%d) of a line pointer without storage", off))
	}
	offset, size := int(id.Off), int(id.Len)
	if offset < upper || offset+size > special || offset != maxAlign(offset) {
		panic(fmt.Sprintf("page: corrupted line pointer: offset = %d, size = %d", offset, size))
	}
	size = maxAlign(size)

	// Close the hole in the line pointer array.
	pos := lpPos(off)
	copy(p[pos:lower-ItemIDSize], p[pos+ItemIDSize:lower])
	// Slide the items stored below the deleted one up over it.
	if offset > upper {
		copy(p[upper+size:offset+size], p[upper:offset])
	}
	put16(p, offUpper, uint16(upper+size))
	put16(p, offLower, uint16(lower-ItemIDSize))
	// Zero the vacated slot so that free space never holds a stale line
	// pointer (PostgreSQL leaves it; zeroing costs nothing and keeps page
	// images independent of history).
	clear(p[lower-ItemIDSize : lower])

	// Every item that was stored below the deleted one moved up by size.
	for i := FirstOffset; i <= nline-1; i++ {
		other := GetItemID(p, i)
		if other.HasStorage() && int(other.Off) <= offset {
			other.Off += uint16(size)
			setItemID(p, i, other)
		}
	}
}

// itemExtent is PostgreSQL's itemIdCompactData: where one item's storage
// is and how much of it (aligned) to move.
type itemExtent struct {
	index      int // line pointer index, 0-based
	off        int // lp_off
	alignedLen int // MAXALIGN(lp_len)
}

// RepairFragmentation compacts the item storage of a heap page so that all
// free space is one hole between pd_lower and pd_upper
// (PageRepairFragmentation, in its PostgreSQL 17 form). Line pointer numbers
// of used pointers never change, since TIDs reference them; unused pointers
// at the end of the array are truncated away, unused ones in the middle stay
// and PD_HAS_FREE_LINES is set if any remain (cleared otherwise).
func RepairFragmentation(p []byte) {
	lower, upper, special := assertPointers(p)
	nline := MaxOffset(p)

	var extentsBuf [MaxLinePointers]itemExtent
	extents := extentsBuf[:0]
	nunused, totalLen := 0, 0
	finalUsed := InvalidOffset
	for i := FirstOffset; i <= nline; i++ {
		id := GetItemID(p, i)
		if !id.IsUsed() {
			if id.HasStorage() {
				panic(fmt.Sprintf("page: unused line pointer %d has storage", i))
			}
			setItemID(p, i, ItemID{Flags: LPUnused})
			nunused++
			continue
		}
		finalUsed = i
		if !id.HasStorage() {
			continue
		}
		off := int(id.Off)
		if off < upper || off >= special {
			panic(fmt.Sprintf("page: corrupted line pointer %d: %d", i, off))
		}
		e := itemExtent{index: int(i) - 1, off: off, alignedLen: maxAlign(int(id.Len))}
		totalLen += e.alignedLen
		extents = append(extents, e)
	}
	if totalLen > special-lower {
		panic(fmt.Sprintf("page: corrupted item lengths: total %d, available space %d", totalLen, special-lower))
	}

	if len(extents) == 0 {
		// Nothing has storage: just reset the item area.
		put16(p, offUpper, uint16(special))
	} else {
		compactify(p, extents, special)
	}

	if finalUsed != nline {
		nunusedEnd := int(nline - finalUsed)
		if nunusedEnd > nunused {
			panic("page: RepairFragmentation miscounted trailing unused line pointers")
		}
		nunused -= nunusedEnd
		put16(p, offLower, uint16(lower-nunusedEnd*ItemIDSize))
		// Zero the truncated pointers, as IndexTupleDelete does, so that
		// free space never holds a stale line pointer.
		clear(p[lower-nunusedEnd*ItemIDSize : lower])
	}
	if nunused > 0 {
		SetFlags(p, FlagHasFreeLines)
	} else {
		ClearFlags(p, FlagHasFreeLines)
	}
}

// compactify moves the items described by extents to the end of the item
// area, highest first (compactify_tuples). Processing in decreasing lp_off
// order means an item only ever moves towards the special space and never
// over an item that has not moved yet, so copy's memmove is safe without
// PostgreSQL's scratch buffer.
func compactify(p []byte, extents []itemExtent, special int) {
	slices.SortFunc(extents, func(a, b itemExtent) int { return cmp.Compare(b.off, a.off) })
	upper := special
	for _, e := range extents {
		upper -= e.alignedLen
		if upper < e.off {
			panic(fmt.Sprintf("page: compactify would move item %d down (%d -> %d)", e.index+1, e.off, upper))
		}
		copy(p[upper:upper+e.alignedLen], p[e.off:e.off+e.alignedLen])
		off := OffsetNumber(e.index + 1)
		id := GetItemID(p, off)
		id.Off = uint16(upper)
		setItemID(p, off, id)
	}
	put16(p, offUpper, uint16(upper))
}
