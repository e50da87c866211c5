package page

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// The known answers come from a real PostgreSQL 15 (Debian's build): a
// cluster made with `initdb --data-checksums`, whose `pg_checksums --check`
// reported 0 bad checksums, and two blocks of pg_class (base/1/1259) copied
// into testdata. pd_checksum in each was written by PostgreSQL's own
// pg_checksum_page, so agreeing with it proves the algorithm, the base
// offsets, the block number mixing and the reduction are PostgreSQL's.
var pgKnownPages = []struct {
	file  string
	blkno uint32
	want  uint16
}{
	{"testdata/pg15_pg_class_blk0.page", 0, 0x3c20},
	{"testdata/pg15_pg_class_blk7.page", 7, 0x2c90},
}

func readPGPage(t *testing.T, file string) []byte {
	t.Helper()
	p, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Len(t, p, BlockSize)
	return p
}

func TestChecksumKnownAnswerPostgreSQL15(t *testing.T) {
	for _, k := range pgKnownPages {
		p := readPGPage(t, k.file)
		require.Equal(t, k.want, Checksum(p), "%s: stored pd_checksum", k.file)
		require.Equal(t, k.want, ComputeChecksum(p, k.blkno), "%s: pg_checksum_page", k.file)
		require.Equal(t, k.want, literalChecksum(p, k.blkno), "%s: literal re-implementation", k.file)
		// The same bytes at another block must not verify (transposed pages).
		require.NotEqual(t, k.want, ComputeChecksum(p, k.blkno+1))
	}
}

// A PostgreSQL page carries the right checksum but PostgreSQL's layout
// version (4), so Verify rejects it as corrupt, not as a checksum failure.
func TestVerifyRejectsPostgreSQLLayout(t *testing.T) {
	for _, k := range pgKnownPages {
		p := readPGPage(t, k.file)
		err := Verify(p, k.blkno)
		require.ErrorIs(t, err, ErrCorrupt)
		require.NotErrorIs(t, err, ErrChecksum)
		require.Equal(t, uint16(BlockSize|4), PageSizeVersion(p))
	}
}

// The line pointer bit layout (lp_off bits 0-14, lp_flags 15-16, lp_len
// 17-31) is GCC's layout of ItemIdData: decoding PostgreSQL's own line
// pointers must give sane pointers of every kind initdb leaves in pg_class
// (normal tuples inside the item area, HOT redirects to existing pointers,
// unused pointers of all zeroes). pg_class tuples are longer than
// PostgreSQL's 24-byte tuple header, which pins down lp_len's position too.
func TestItemIDLayoutMatchesPostgreSQL(t *testing.T) {
	for _, k := range pgKnownPages {
		p := readPGPage(t, k.file)
		// PostgreSQL's header is 24 bytes; its line pointers start there.
		const pgHeaderSize = 24
		lower, upper, special := int(Lower(p)), int(Upper(p)), int(SpecialOffset(p))
		n := (lower - pgHeaderSize) / ItemIDSize
		seen := map[LPFlags]int{}
		for i := range n {
			id := itemIDFromWord(binary.LittleEndian.Uint32(p[pgHeaderSize+i*ItemIDSize:]))
			seen[id.Flags]++
			switch id.Flags {
			case LPNormal:
				require.GreaterOrEqual(t, int(id.Off), upper, "lp %d", i+1)
				require.LessOrEqual(t, int(id.Off)+int(id.Len), special, "lp %d", i+1)
				require.Zero(t, id.Off%MaxAlign, "lp %d", i+1)
				require.Greater(t, int(id.Len), 24, "lp %d", i+1)
			case LPRedirect:
				require.Zero(t, id.Len, "lp %d", i+1)
				require.GreaterOrEqual(t, int(id.Off), 1, "lp %d", i+1)
				require.LessOrEqual(t, int(id.Off), n, "lp %d", i+1)
			case LPUnused:
				require.Equal(t, ItemID{}, id, "lp %d", i+1)
			default:
				t.Fatalf("%s lp %d: unexpected %v", k.file, i+1, id)
			}
		}
		require.Positive(t, seen[LPNormal], k.file)
		t.Logf("%s: %d normal, %d redirect, %d unused line pointers", k.file, seen[LPNormal], seen[LPRedirect], seen[LPUnused])
	}
}

// literalChecksum follows checksum_impl.h line by line, independently of
// checksumBlock: it builds the PGChecksummablePage two-dimensional array,
// zeroes pd_checksum transiently on a copy as pg_checksum_page does, and
// runs the three loops of pg_checksum_block as written.
func literalChecksum(page []byte, blkno uint32) uint16 {
	const rows = BlockSize / (4 * nSums)
	var data [rows][nSums]uint32
	cpy := append([]byte(nil), page...)
	cpy[8], cpy[9] = 0, 0 // cpage->phdr.pd_checksum = 0
	for i := range rows {
		for j := range nSums {
			data[i][j] = binary.LittleEndian.Uint32(cpy[(i*nSums+j)*4:])
		}
	}
	comp := func(checksum *uint32, value uint32) {
		tmp := *checksum ^ value
		*checksum = tmp*16777619 ^ (tmp >> 17)
	}
	var sums [nSums]uint32
	copy(sums[:], checksumBaseOffsets[:]) // memcpy(sums, checksumBaseOffsets, ...)
	for i := range rows {
		for j := range nSums {
			comp(&sums[j], data[i][j])
		}
	}
	for range 2 {
		for j := range nSums {
			comp(&sums[j], 0)
		}
	}
	var result uint32
	for i := range nSums {
		result ^= sums[i]
	}
	checksum := result ^ blkno
	return uint16((checksum % 65535) + 1)
}

func TestChecksumMatchesLiteral(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := make([]byte, BlockSize)
		fill(p, rapid.Uint64().Draw(t, "seed"))
		put16(p, offUpper, uint16(rapid.IntRange(1, 0xFFFF).Draw(t, "upper"))) // not new
		blkno := rapid.Uint32().Draw(t, "blkno")
		got := ComputeChecksum(p, blkno)
		require.Equal(t, literalChecksum(p, blkno), got)
		require.NotZero(t, got, "a checksum is never 0")
		// pd_checksum takes no part in its own checksum.
		put16(p, offChecksum, rapid.Uint16().Draw(t, "stored"))
		require.Equal(t, got, ComputeChecksum(p, blkno))
	})
}

func TestVerifyZeroPage(t *testing.T) {
	p := make([]byte, BlockSize)
	require.NoError(t, Verify(p, 0))
	require.NoError(t, Verify(p, 12345))
	SetChecksum(p, 3) // a no-op on a new page, as PageSetChecksumInplace
	require.True(t, IsZero(p))
	// Not zero but uninitialized: corrupt.
	p[100] = 1
	require.ErrorIs(t, Verify(p, 0), ErrCorrupt)
	require.ErrorIs(t, Verify(make([]byte, 100), 0), ErrCorrupt)
}

func TestVerifyHeaderSanity(t *testing.T) {
	fresh := func() []byte {
		p := make([]byte, BlockSize)
		Init(p, 16)
		_, err := AddItem(p, []byte("hello"), InvalidOffset, false)
		require.NoError(t, err)
		SetChecksum(p, 9)
		require.NoError(t, Verify(p, 9))
		return p
	}
	cases := map[string]func(p []byte){
		"lower below header": func(p []byte) { put16(p, offLower, HeaderSize-4) },
		"lower above upper":  func(p []byte) { put16(p, offLower, Upper(p)+8) },
		"upper above special": func(p []byte) {
			put16(p, offUpper, SpecialOffset(p)+8)
		},
		"special beyond block": func(p []byte) { put16(p, offSpecial, BlockSize+8) },
		"special unaligned":    func(p []byte) { put16(p, offSpecial, SpecialOffset(p)-4) },
		"bad version":          func(p []byte) { put16(p, offSizeVersion, BlockSize|4) },
		"bad page size":        func(p []byte) { put16(p, offSizeVersion, 4096|LayoutVersion) },
		"undefined flag":       func(p []byte) { put16(p, offFlags, 0x0100) },
		"item past special": func(p []byte) {
			setItemID(p, 1, ItemID{Off: uint16(SpecialOffset(p)) - 8, Flags: LPNormal, Len: 16})
		},
		"normal without storage": func(p []byte) { setItemID(p, 1, ItemID{Flags: LPNormal}) },
		"redirect to itself":     func(p []byte) { setItemID(p, 1, ItemID{Off: 1, Flags: LPRedirect}) },
		"redirect to unused": func(p []byte) {
			_, err := AddItem(p, []byte("x"), InvalidOffset, false)
			require.NoError(t, err)
			SetItemUnused(p, 2)
			setItemID(p, 1, ItemID{Off: 2, Flags: LPRedirect})
		},
		"unused with storage": func(p []byte) { setItemID(p, 1, ItemID{Off: Upper(p), Len: 5}) },
	}
	for name, corrupt := range cases {
		t.Run(name, func(t *testing.T) {
			p := fresh()
			corrupt(p)
			require.ErrorIs(t, CheckPage(p), ErrCorrupt)
			// With a fresh checksum only the structure is wrong.
			SetChecksum(p, 9)
			err := Verify(p, 9)
			require.ErrorIs(t, err, ErrCorrupt)
			require.NotErrorIs(t, err, ErrChecksum)
		})
	}
}

func TestVerifyOverlappingItems(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 0)
	for range 2 {
		_, err := AddItem(p, make([]byte, 16), InvalidOffset, false)
		require.NoError(t, err)
	}
	id := GetItemID(p, 2)
	id.Off += 8
	setItemID(p, 2, id)
	require.ErrorIs(t, CheckPage(p), ErrCorrupt)
}

// checksummedPage builds a page with a random history of operations and a
// valid checksum for blkno.
func checksummedPage(t *rapid.T) ([]byte, uint32) {
	m := newModel(t, heapMode)
	steps := rapid.IntRange(0, 60).Draw(t, "steps")
	for range steps {
		m.randomOp(t)
	}
	blkno := rapid.Uint32().Draw(t, "blkno")
	SetChecksum(m.p, blkno)
	return m.p, blkno
}

func TestSetChecksumThenVerify(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, blkno := checksummedPage(t)
		require.NoError(t, Verify(p, blkno))
		// The same page at another block: the block number is mixed in.
		other := rapid.Uint32().Filter(func(b uint32) bool { return b != blkno }).Draw(t, "other")
		if err := Verify(p, other); err == nil {
			// Only a collision of the 16-bit reduction can hide it.
			require.Equal(t, reduce(checksumBlock(p)^blkno), reduce(checksumBlock(p)^other))
		} else {
			require.ErrorIs(t, err, ErrChecksum)
		}
	})
}

func reduce(c uint32) uint16 { return uint16(c%65535 + 1) }

// flipDetected flips bit k of a checksummed page and reports whether Verify
// notices. When it does not, the flip must have changed the 32-bit
// pg_checksum_block value and been hidden only by the reduction to 16 bits
// (checksum % 65535): the one way PostgreSQL's checksum can miss a single
// bit flip, about once in 65535 flips.
func flipDetected(t require.TestingT, p []byte, blkno uint32, k int) bool {
	before := checksumBlock(p)
	p[k/8] ^= 1 << (k % 8)
	defer func() { p[k/8] ^= 1 << (k % 8) }()
	err := Verify(p, blkno)
	if err != nil {
		require.True(t, errors.Is(err, ErrChecksum) || errors.Is(err, ErrCorrupt), "unexpected error %v", err)
		return true
	}
	after := checksumBlock(p)
	require.NotEqual(t, before, after, "bit %d: the 32-bit checksum itself collided", k)
	require.Equal(t, reduce(before^blkno), reduce(after^blkno))
	return false
}

// TestBitFlipProperty: a single bit flip anywhere in a checksummed page
// makes Verify fail, except when the 16-bit reduction collides.
func TestBitFlipProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p, blkno := checksummedPage(t)
		k := rapid.IntRange(0, BlockSize*8-1).Draw(t, "bit")
		flipDetected(t, p, blkno, k)
		require.NoError(t, Verify(p, blkno), "the flip was undone")
	})
}

// TestEveryBitFlip flips each of the 65536 bits of one fixed page in turn.
// Single bit flips are not guaranteed to be caught by a 16-bit checksum;
// this measures how many slip through (about one is expected) and checks
// that each is a collision of the final reduction.
func TestEveryBitFlip(t *testing.T) {
	p := make([]byte, BlockSize)
	Init(p, 16)
	var item [97]byte
	for i := 0; ; i++ {
		fill(item[:], uint64(i))
		if _, err := AddItem(p, item[:], InvalidOffset, false); err != nil {
			break
		}
	}
	SetLSN(p, 0x1_0000_2000)
	const blkno = 42
	SetChecksum(p, blkno)
	missed := 0
	for k := range BlockSize * 8 {
		if !flipDetected(t, p, blkno, k) {
			missed++
		}
	}
	t.Logf("%d of %d single bit flips undetected", missed, BlockSize*8)
	require.LessOrEqual(t, missed, 6)
}
