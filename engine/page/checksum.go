package page

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// The page checksum is PostgreSQL's own (src/include/storage/checksum_impl.h),
// bit for bit: the page is read as 64 rows of 32 little-endian 32-bit words
// (PGChecksummablePage); column j is folded into partial sum j, which starts
// at checksumBaseOffsets[j], with the FNV-1a-like step CHECKSUM_COMP; two
// extra rounds of zeroes mix the last words; the 32 sums are XOR-folded,
// XORed with the block number (so a page written to the wrong block fails),
// and reduced to 1..65535. pd_checksum itself counts as zero. Being
// PostgreSQL's algorithm, it is checked against pages written by a real
// PostgreSQL 15 in checksum_test.go.

// nSums is N_SUMS, the number of partial sums computed in parallel. It is
// part of the algorithm: another value gives other checksums.
const nSums = 32

// fnvPrime is FNV_PRIME, the 32-bit FNV prime.
const fnvPrime = 16777619

// checksumBaseOffsets is checksumBaseOffsets: the random initial value of
// each partial sum.
var checksumBaseOffsets = [nSums]uint32{
	0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A,
	0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
	0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA,
	0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
	0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE,
	0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
	0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E,
	0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
}

// checksumComp is CHECKSUM_COMP: FNV-1a on a 32-bit word, with the product
// XORed with the input shifted right by 17 so that high input bits reach
// the low output bits.
func checksumComp(sum, value uint32) uint32 {
	tmp := sum ^ value
	return tmp*fnvPrime ^ tmp>>17
}

// checksumBlock is pg_checksum_block over p with pd_checksum taken as zero.
// PostgreSQL zeroes the field transiently around the call; masking the word
// instead keeps p untouched, so concurrent readers of a shared page (there
// are none in pgdst, but the buffer manager may pass a frame it only reads)
// never see it change.
func checksumBlock(p []byte) uint32 {
	// pd_checksum is the low half of word 2 of row 0.
	const _ = uint(offChecksum-8) + uint(8-offChecksum)
	assertPage(p)
	const rowBytes = nSums * 4
	pg := (*[BlockSize]byte)(p)
	var result uint32
	// Eight lanes at a time, so that their sums stay in registers.
	for l := 0; l < nSums; l += 8 {
		b := checksumBaseOffsets[l : l+8 : l+8]
		s0, s1, s2, s3, s4, s5, s6, s7 := b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
		for off := l * 4; off < BlockSize; off += rowBytes {
			w := (*[32]byte)(pg[off : off+32])
			v2 := binary.LittleEndian.Uint32(w[8:])
			if off == 0 {
				// Word 2 of row 0 is pd_checksum (low half, taken as
				// zero) and pd_flags (high half).
				v2 &= 0xFFFF0000
			}
			s0 = checksumComp(s0, binary.LittleEndian.Uint32(w[0:]))
			s1 = checksumComp(s1, binary.LittleEndian.Uint32(w[4:]))
			s2 = checksumComp(s2, v2)
			s3 = checksumComp(s3, binary.LittleEndian.Uint32(w[12:]))
			s4 = checksumComp(s4, binary.LittleEndian.Uint32(w[16:]))
			s5 = checksumComp(s5, binary.LittleEndian.Uint32(w[20:]))
			s6 = checksumComp(s6, binary.LittleEndian.Uint32(w[24:]))
			s7 = checksumComp(s7, binary.LittleEndian.Uint32(w[28:]))
		}
		for _, s := range [8]uint32{s0, s1, s2, s3, s4, s5, s6, s7} {
			result ^= checksumComp(checksumComp(s, 0), 0)
		}
	}
	return result
}

// ComputeChecksum returns the checksum of p as block blkno
// (pg_checksum_page): never 0, so that 0 can never pass for a checksum.
// PostgreSQL asserts the page is not new; so do we, since a new page is
// never written with a checksum.
func ComputeChecksum(p []byte, blkno uint32) uint16 {
	if IsNew(p) {
		panic("page: checksum of an uninitialized page")
	}
	checksum := checksumBlock(p) ^ blkno
	return uint16(checksum%65535 + 1)
}

// SetChecksum stores the checksum of p as block blkno in pd_checksum, just
// before the page is written (PageSetChecksumInplace). An all-zero page is
// left alone, as PostgreSQL leaves new pages: it is valid without one. A
// non-zero page that was never initialized is a caller bug.
func SetChecksum(p []byte, blkno uint32) {
	if IsNew(p) {
		if !IsZero(p) {
			panic("page: SetChecksum on an uninitialized, non-zero page")
		}
		return
	}
	put16(p, offChecksum, ComputeChecksum(p, blkno))
}

// Verify checks a page just read from disk as block blkno, before anything
// trusts it (PageIsVerified). An all-zero page is valid: a relation was
// extended but the page never written before a crash. Any other page must
// have a sane header (CheckPage) and a matching checksum. The error wraps
// ErrChecksum, ErrCorrupt or both. Verify never panics, whatever p holds.
func Verify(p []byte, blkno uint32) error {
	if done, err := verifySizeAndNew(p, blkno); done {
		return err
	}
	computed := ComputeChecksum(p, blkno)
	stored := u16(p, offChecksum)
	sanity := CheckPage(p)
	switch {
	case computed != stored && sanity != nil:
		return fmt.Errorf("page verification failed in block %d, calculated checksum %d but expected %d: %w; %w",
			blkno, computed, stored, ErrChecksum, sanity)
	case computed != stored:
		return fmt.Errorf("page verification failed in block %d, calculated checksum %d but expected %d: %w",
			blkno, computed, stored, ErrChecksum)
	case sanity != nil:
		return fmt.Errorf("block %d: %w", blkno, sanity)
	}
	return nil
}

// verifySizeAndNew is what Verify and VerifyNoChecksum both check first:
// the page's size, and that a new page (pd_upper 0) is all zeroes, which
// is then valid. done says whether that settled the verdict err.
func verifySizeAndNew(p []byte, blkno uint32) (done bool, err error) {
	if len(p) != BlockSize {
		return true, fmt.Errorf("%w: page of %d bytes, want %d", ErrCorrupt, len(p), BlockSize)
	}
	if IsNew(p) {
		if IsZero(p) {
			return true, nil
		}
		return true, fmt.Errorf("%w: block %d: pd_upper is 0 but the page is not all zeroes", ErrCorrupt, blkno)
	}
	return false, nil
}

// CheckPage checks the structure of an initialized page without its
// checksum, returning an error wrapping ErrCorrupt. It holds PageIsVerified's
// header checks (flags, pd_lower <= pd_upper <= pd_special <= BlockSize,
// pd_special aligned) plus pd_lower's lower bound, the page size and layout
// version, and every line pointer: normal and dead items with storage lie
// MAXALIGNed inside [pd_upper, pd_special) without overlapping, unused and
// redirect pointers have no storage, and redirects point at an existing
// LP_NORMAL line pointer. A page that passes can be handed to every function of this
// package without tripping an assertion. It never panics.
func CheckPage(p []byte) error {
	if len(p) != BlockSize {
		return fmt.Errorf("%w: page of %d bytes, want %d", ErrCorrupt, len(p), BlockSize)
	}
	if v := u16(p, offSizeVersion); v != BlockSize|LayoutVersion {
		return fmt.Errorf("%w: pd_pagesize_version %#04x, want %#04x", ErrCorrupt, v, BlockSize|LayoutVersion)
	}
	if f := u16(p, offFlags); f&^validFlagBits != 0 {
		return fmt.Errorf("%w: undefined pd_flags bits %#04x", ErrCorrupt, f)
	}
	lower, upper, special, ok := pointers(p)
	if !ok {
		return fmt.Errorf("%w: corrupted page pointers: lower = %d, upper = %d, special = %d",
			ErrCorrupt, lower, upper, special)
	}
	nline := OffsetNumber((lower - HeaderSize) / ItemIDSize)
	var extentsBuf [MaxLinePointers]itemExtent
	extents := extentsBuf[:0]
	for i := FirstOffset; i <= nline; i++ {
		id := itemIDFromWord(binary.LittleEndian.Uint32(p[lpPos(i):]))
		switch id.Flags {
		case LPUnused:
			if id.HasStorage() {
				return fmt.Errorf("%w: unused line pointer %d has length %d", ErrCorrupt, i, id.Len)
			}
			continue
		case LPRedirect:
			t := OffsetNumber(id.Off)
			if id.HasStorage() || t < FirstOffset || t > nline || t == i {
				return fmt.Errorf("%w: line pointer %d: bad redirect to %d (length %d)", ErrCorrupt, i, t, id.Len)
			}
			// A redirect leads to the next member of a HOT chain, which is
			// always a normal tuple (amcheck's verify_heapam checks the
			// same). One to an unused pointer would dangle once
			// RepairFragmentation truncated that pointer away.
			target := itemIDFromWord(binary.LittleEndian.Uint32(p[lpPos(t):]))
			if target.Flags != LPNormal {
				return fmt.Errorf("%w: line pointer %d redirects to %d, a %v line pointer", ErrCorrupt, i, t, target.Flags)
			}
			continue
		case LPNormal:
			if !id.HasStorage() {
				return fmt.Errorf("%w: normal line pointer %d has no storage", ErrCorrupt, i)
			}
		case LPDead:
			if !id.HasStorage() {
				continue
			}
		}
		off, end := int(id.Off), int(id.Off)+int(id.Len)
		if off < upper || end > special || off != maxAlign(off) {
			return fmt.Errorf("%w: corrupted line pointer %d: offset = %d, size = %d", ErrCorrupt, i, off, id.Len)
		}
		extents = append(extents, itemExtent{index: int(i) - 1, off: off, alignedLen: maxAlign(int(id.Len))})
	}
	slices.SortFunc(extents, func(a, b itemExtent) int { return cmp.Compare(a.off, b.off) })
	for k := 1; k < len(extents); k++ {
		prev, cur := extents[k-1], extents[k]
		if prev.off+prev.alignedLen > cur.off {
			return fmt.Errorf("%w: items %d and %d overlap", ErrCorrupt, prev.index+1, cur.index+1)
		}
	}
	return nil
}
