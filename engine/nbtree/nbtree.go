// Package nbtree is a primary-key B-tree over uint64 keys that map to heap
// TIDs, built like PostgreSQL's nbtree (src/backend/access/nbtree, whose
// README describes the algorithm): a Lehman & Yao tree with right-links and
// high keys, so that a reader never holds more than one page lock and still
// finds every key that existed when it started, by moving right past
// concurrent splits (_bt_moveright).
//
// It owns the layout of its pages (the metapage at block 0, the
// BTPageOpaqueData special space, leaf tuples, pivot tuples and high keys),
// descent (_bt_search), insertion with page splits (_bt_doinsert,
// _bt_split, _bt_insert_parent, _bt_newroot), the uniqueness check
// (_bt_check_unique), point and range scans (_bt_first, _bt_readpage,
// _bt_readnextpage), the deletion of single entries (_bt_delitems_vacuum),
// its WAL records and their redo (nbtxlog.c), and a structural self-check
// (amcheck's bt_index_parent_check, in spirit).
//
// It never touches files directly outside redo (pages come from the buffer
// pool), never decides when to checkpoint (the caller supplies NeedsFPI,
// which compares a page LSN with the checkpoint's REDO pointer), and never
// interprets heap tuples: visibility is the caller's, through the isLive
// hook of InsertUnique.
//
// # Keys
//
// The key space is the pair (key, heap TID), ordered by key, then by TID,
// as PostgreSQL 12+ orders it ("heapkeyspace": the heap TID is a tiebreaker
// key attribute). So one key may have many entries (the heap keeps old
// tuple versions, each with its own index entry), every entry is unique in
// the tree, and a pivot tuple (a high key or a downlink's separator) carries
// the heap TID as well, so that duplicates may span leaf pages.
//
// # Page layout
//
// Every page is a standard slotted page (package page) with 16 bytes of
// special space, BTPageOpaqueData:
//
//	off 0  btpo_prev   u32  left sibling, or NoBlock
//	off 4  btpo_next   u32  right sibling, or NoBlock (the rightmost page)
//	off 8  btpo_level  u32  0 for leaves
//	off 12 btpo_flags  u16  BTP_LEAF, BTP_ROOT, BTP_META, BTP_INCOMPLETE_SPLIT
//	off 14 (padding)
//
// On a page that is not the rightmost of its level, item 1 is the high key
// (P_HIKEY): an upper bound, exclusive, on the page's keys and the lower
// bound of its right sibling's. Data items start at P_FIRSTDATAKEY (1 on a
// rightmost page, 2 otherwise). A leaf item is an index tuple whose t_tid
// is the heap TID and whose key is the 8-byte big-endian key. A pivot tuple
// (a high key, or an item of an internal page) has the IndexAMReservedBit
// set in t_info, a 14-byte key (the key, then the heap TID's block u32 and
// offset u16, little-endian) and, on an internal page, the child's block
// number in t_tid. The first data item of an internal page has an empty key
// that stands for minus infinity, as PostgreSQL's truncated "minus infinity"
// items do.
//
// The metapage (block 0) holds BTMetaPageData as its one item: magic,
// version, root block and root level. (PostgreSQL keeps it after the page
// header with pd_lower moved past it; an item keeps it inside the page
// package's invariants.)
//
// # Deviations from PostgreSQL, each deliberate
//
//   - No page deletion, no page recycling, no fast root, no deduplication
//     (posting lists), no suffix truncation beyond the minus-infinity item,
//     no LP_DEAD hints ("simple deletion"), no bottom-up deletion. Delete
//     removes one entry, as VACUUM's _bt_delitems_vacuum does; pages never
//     merge, so an emptied page stays in the tree, empty.
//   - A split logs both halves as full-page images (PostgreSQL logs the
//     right half's items and enough of the left half to rebuild it from
//     the old page). It is larger but needs no replay logic that could
//     diverge from the do-time code.
//   - New pages come from extending the relation (no free space map).
//   - Create logs the metapage and an empty root leaf in one record; the
//     root is not created lazily on first insert.
//   - Page LSNs are read and written with buffer.PageGetLSN and
//     buffer.PageSetLSN (one little-endian u64), because that is how the
//     buffer pool reads pd_lsn to flush WAL before writing a page. The page
//     package's LSN/SetLSN store two 32-bit halves, high first, and give a
//     different value for the same bytes; the two must not be mixed.
//   - Redo takes the storage manager as well as the pool: it extends the
//     relation as far as a record needs and overwrites a page that fails
//     verification with zeros when the record carries its full image,
//     which the pool alone cannot do (XLogReadBufferExtended and
//     RBM_ZERO_AND_LOCK).
//   - The uniqueness check reports a transaction to wait for to the caller
//     (InsertUnique's waitXid) instead of waiting itself
//     (XactLockTableWait): the caller waits and retries, as _bt_doinsert's
//     retry loop does.
package nbtree

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// NoBlock is P_NONE: no sibling.
const NoBlock = ^uint32(0)

// MetaBlock is BTREE_METAPAGE.
const MetaBlock = 0

// btpo_flags bits (nbtree.h).
const (
	FlagLeaf            uint16 = 1 << 0 // BTP_LEAF
	FlagRoot            uint16 = 1 << 1 // BTP_ROOT
	FlagMeta            uint16 = 1 << 3 // BTP_META
	FlagIncompleteSplit uint16 = 1 << 7 // BTP_INCOMPLETE_SPLIT: the right sibling has no downlink yet
	validFlags                 = FlagLeaf | FlagRoot | FlagMeta | FlagIncompleteSplit
)

// Metapage constants (BTREE_MAGIC, BTREE_VERSION).
const (
	Magic   uint32 = 0x053162
	Version uint32 = 4
)

const (
	opaqueSize  = 16
	metaSize    = 16
	leafKeySize = 8
	// pivotKeySize is the key of a pivot tuple: the key and the heap TID.
	pivotKeySize = 14
)

var (
	// ErrCorrupt reports a page or record that breaks the tree's rules.
	ErrCorrupt = errors.New("nbtree: index corrupted")
	// ErrDuplicateEntry reports an Insert of an entry (key and TID) that
	// is already in the index: a caller bug, never a uniqueness violation.
	ErrDuplicateEntry = errors.New("nbtree: entry already in index")
)

// Config says where an index lives and how it logs.
type Config struct {
	Rel  smgr.RelFileNumber
	Pool *buffer.Pool
	SMgr *smgr.SMgr
	WAL  *wal.WAL
	// NeedsFPI reports whether a page whose LSN is pageLSN needs a
	// full-page image with its next change: the page was not changed
	// since the latest checkpoint's REDO pointer (pageLSN <= RedoRecPtr,
	// XLogRecordAssemble's test). It is called under the WAL insert lock.
	// nil means never (no torn-page protection).
	NeedsFPI func(pageLSN wal.LSN) bool
	// MaxTuplesPerPage, when positive, caps the items (high key included)
	// of every page, so that tests grow deep trees from few keys. Zero
	// means only space limits a page.
	MaxTuplesPerPage int
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
	// PredicateLocks, when not nil, is told of leaf page splits
	// (predicate.go).
	PredicateLocks PageSplitter
}

// Index is an open B-tree. Its methods may be called by many processes at
// once; all shared state lives in buffer pages under their content locks.
type Index struct {
	e   *env.Env
	cfg Config
	// The cached metapage (rd_amcache, as _bt_getroot keeps it): a search
	// starts at the cached root and checks that the page is still a root
	// of the cached level; if not, it drops the cache and reads the
	// metapage. cacheMu guards the two fields.
	cacheMu env.Mutex
	cached  meta
	cacheOK bool
}

// metaForSearch returns the metapage, from the cache when it holds one
// (fromCache tells the caller to validate the root it names).
func (ix *Index) metaForSearch() (m meta, fromCache bool, err error) {
	ix.cacheMu.Lock()
	m, ok := ix.cached, ix.cacheOK
	ix.cacheMu.Unlock()
	if ok {
		return m, true, nil
	}
	if m, err = ix.readMeta(); err != nil {
		return meta{}, false, err
	}
	ix.cacheMu.Lock()
	ix.cached, ix.cacheOK = m, true
	ix.cacheMu.Unlock()
	return m, false, nil
}

// dropMetaCache forgets the cached metapage (after a new root, or when the
// cached root turned out stale).
func (ix *Index) dropMetaCache() {
	ix.cacheMu.Lock()
	ix.cacheOK = false
	ix.cacheMu.Unlock()
}

// Open returns a handle on an index that Create made earlier.
func Open(e *env.Env, cfg Config) (*Index, error) {
	if cfg.Pool == nil || cfg.SMgr == nil || cfg.WAL == nil {
		return nil, errors.New("nbtree: Config needs Pool, SMgr and WAL")
	}
	return &Index{e: e, cfg: cfg, cacheMu: e.Sched.NewMutex("BtreeMetaCache")}, nil
}

// ---------------------------------------------------------------------
// Special space (BTPageOpaqueData).

type opaque struct {
	prev, next, level uint32
	flags             uint16
}

func getOpaque(pg []byte) opaque {
	s := page.Special(pg)
	return opaque{
		prev:  binary.LittleEndian.Uint32(s[0:]),
		next:  binary.LittleEndian.Uint32(s[4:]),
		level: binary.LittleEndian.Uint32(s[8:]),
		flags: binary.LittleEndian.Uint16(s[12:]),
	}
}

func setOpaque(pg []byte, o opaque) {
	s := page.Special(pg)
	binary.LittleEndian.PutUint32(s[0:], o.prev)
	binary.LittleEndian.PutUint32(s[4:], o.next)
	binary.LittleEndian.PutUint32(s[8:], o.level)
	binary.LittleEndian.PutUint16(s[12:], o.flags)
	binary.LittleEndian.PutUint16(s[14:], 0)
}

func (o opaque) rightmost() bool { return o.next == NoBlock }     // P_RIGHTMOST
func (o opaque) leftmost() bool  { return o.prev == NoBlock }     // P_LEFTMOST
func (o opaque) isLeaf() bool    { return o.flags&FlagLeaf != 0 } // P_ISLEAF

// firstDataKey is P_FIRSTDATAKEY: item 1 is the high key unless the page is
// the rightmost of its level.
func (o opaque) firstDataKey() page.OffsetNumber {
	if o.rightmost() {
		return page.FirstOffset
	}
	return page.FirstOffset + 1
}

// initPage formats pg as an empty B-tree page (_bt_pageinit).
func initPage(pg []byte, o opaque) {
	page.Init(pg, opaqueSize)
	setOpaque(pg, o)
}

// ---------------------------------------------------------------------
// Keys.

// bkey is a position in the key space: the key and the heap TID. A scan key
// for "the first entry of key k" uses the zero TID, which sorts before
// every real TID (real offsets start at 1).
type bkey struct {
	k   uint64
	tid page.ItemPointer
}

func compareKey(a, b bkey) int {
	switch {
	case a.k < b.k:
		return -1
	case a.k > b.k:
		return 1
	case a.tid.Block < b.tid.Block:
		return -1
	case a.tid.Block > b.tid.Block:
		return 1
	case a.tid.Offset < b.tid.Offset:
		return -1
	case a.tid.Offset > b.tid.Offset:
		return 1
	}
	return 0
}

func (k bkey) String() string { return fmt.Sprintf("%d%v", k.k, k.tid) }

// leafTuple encodes a leaf entry.
func leafTuple(k bkey) []byte {
	var kb [leafKeySize]byte
	binary.BigEndian.PutUint64(kb[:], k.k)
	return page.EncodeIndexTuple(page.IndexTuple{TID: k.tid, Key: kb[:]})
}

// pivotTuple encodes a pivot: a high key (child 0) or a downlink to child.
// minusInf gives the minus-infinity item of an internal page.
func pivotTuple(k bkey, child uint32, minusInf bool) []byte {
	t := page.IndexTuple{TID: page.ItemPointer{Block: child, Offset: 1}, Info: page.IndexAMReservedBit}
	if !minusInf {
		var kb [pivotKeySize]byte
		binary.BigEndian.PutUint64(kb[0:], k.k)
		binary.LittleEndian.PutUint32(kb[8:], k.tid.Block)
		binary.LittleEndian.PutUint16(kb[12:], uint16(k.tid.Offset))
		t.Key = kb[:]
	}
	return page.EncodeIndexTuple(t)
}

// itemKey decodes the key of an encoded leaf or pivot tuple. A pivot with
// an empty key is minus infinity (inf is then true). It checks the shape,
// so that a damaged page gives an error, never a wrong answer.
func itemKey(b []byte) (k bkey, minusInf bool, err error) {
	if len(b) < page.IndexTupleHeaderSize {
		return bkey{}, false, fmt.Errorf("%w: item of %d bytes", ErrCorrupt, len(b))
	}
	info := binary.LittleEndian.Uint16(b[6:])
	key := b[page.IndexTupleHeaderSize:]
	if int(info&page.IndexSizeMask) != len(b) {
		return bkey{}, false, fmt.Errorf("%w: item size %d in t_info, %d stored", ErrCorrupt, info&page.IndexSizeMask, len(b))
	}
	if info&page.IndexAMReservedBit == 0 {
		if len(key) != leafKeySize {
			return bkey{}, false, fmt.Errorf("%w: leaf item key of %d bytes", ErrCorrupt, len(key))
		}
		return bkey{k: binary.BigEndian.Uint64(key), tid: page.IndexTupleTID(b)}, false, nil
	}
	switch len(key) {
	case 0:
		return bkey{}, true, nil
	case pivotKeySize:
		return bkey{
			k: binary.BigEndian.Uint64(key),
			tid: page.ItemPointer{
				Block:  binary.LittleEndian.Uint32(key[8:]),
				Offset: page.OffsetNumber(binary.LittleEndian.Uint16(key[12:])),
			},
		}, false, nil
	}
	return bkey{}, false, fmt.Errorf("%w: pivot key of %d bytes", ErrCorrupt, len(key))
}

func isPivot(b []byte) bool {
	return len(b) >= page.IndexTupleHeaderSize && binary.LittleEndian.Uint16(b[6:])&page.IndexAMReservedBit != 0
}

// mustKey is itemKey for pages this process holds locked and that passed
// verification when read: a malformed item there is a broken invariant of
// the engine, so it PANICs.
func (ix *Index) mustKey(b []byte) (bkey, bool) {
	k, inf, err := itemKey(b)
	if err != nil {
		ix.e.Panicf("nbtree: relation %d: %v", ix.cfg.Rel, err)
	}
	return k, inf
}

// childOf returns the child block of a pivot (BTreeTupleGetDownLink).
func childOf(b []byte) uint32 { return page.IndexTupleTID(b).Block }

// ---------------------------------------------------------------------
// The metapage (BTMetaPageData).

type meta struct {
	root, level uint32
}

func encodeMeta(m meta) []byte {
	b := make([]byte, metaSize)
	binary.LittleEndian.PutUint32(b[0:], Magic)
	binary.LittleEndian.PutUint32(b[4:], Version)
	binary.LittleEndian.PutUint32(b[8:], m.root)
	binary.LittleEndian.PutUint32(b[12:], m.level)
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaSize {
		return meta{}, fmt.Errorf("%w: metapage data of %d bytes", ErrCorrupt, len(b))
	}
	if binary.LittleEndian.Uint32(b[0:]) != Magic {
		return meta{}, fmt.Errorf("%w: metapage has bad magic %#x", ErrCorrupt, binary.LittleEndian.Uint32(b[0:]))
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != Version {
		return meta{}, fmt.Errorf("%w: metapage version %d, want %d", ErrCorrupt, v, Version)
	}
	return meta{root: binary.LittleEndian.Uint32(b[8:]), level: binary.LittleEndian.Uint32(b[12:])}, nil
}

// metaItem returns the metapage's item, aliasing the page, checking that
// the page is a metapage.
func metaItem(pg []byte) ([]byte, error) {
	if page.IsNew(pg) || page.SpecialSize(pg) != opaqueSize || getOpaque(pg).flags&FlagMeta == 0 || page.MaxOffset(pg) != 1 {
		return nil, fmt.Errorf("%w: block 0 is not a metapage", ErrCorrupt)
	}
	return page.GetItem(pg, page.FirstOffset), nil
}

// readMeta reads the root and its level under a share lock on the
// metapage (_bt_getroot without the cache PostgreSQL keeps in rd_amcache).
func (ix *Index) readMeta() (meta, error) {
	buf, err := ix.read(MetaBlock)
	if err != nil {
		return meta{}, err
	}
	p := ix.cfg.Pool
	p.LockBuffer(buf, buffer.Share)
	it, err := metaItem(p.BufferGetPage(buf))
	var m meta
	if err == nil {
		m, err = decodeMeta(it)
	}
	p.UnlockReleaseBuffer(buf)
	return m, err
}

func (ix *Index) read(blk uint32) (buffer.Buffer, error) {
	if blk == NoBlock {
		ix.e.Panicf("nbtree: relation %d: read of P_NONE", ix.cfg.Rel)
	}
	return ix.cfg.Pool.ReadBuffer(ix.cfg.Rel, smgr.MainForkNum, smgr.BlockNumber(blk))
}

// relbuf releases a locked buffer (_bt_relbuf).
func (ix *Index) relbuf(b buffer.Buffer) { ix.cfg.Pool.UnlockReleaseBuffer(b) }

// getbuf reads and locks a block (_bt_getbuf).
func (ix *Index) getbuf(blk uint32, mode buffer.LockMode) (buffer.Buffer, error) {
	b, err := ix.read(blk)
	if err != nil {
		return buffer.InvalidBuffer, err
	}
	ix.cfg.Pool.LockBuffer(b, mode)
	if err := ix.checkBtreePage(b, blk); err != nil {
		ix.relbuf(b)
		return buffer.InvalidBuffer, err
	}
	return b, nil
}

// checkBtreePage is _bt_checkpage: a page reached by a link must be an
// initialized B-tree page.
func (ix *Index) checkBtreePage(b buffer.Buffer, blk uint32) error {
	pg := ix.cfg.Pool.BufferGetPage(b)
	if page.IsNew(pg) {
		return fmt.Errorf("%w: index %d contains unexpected zero page at block %d", ErrCorrupt, ix.cfg.Rel, blk)
	}
	if page.SpecialSize(pg) != opaqueSize {
		return fmt.Errorf("%w: index %d contains corrupted page at block %d", ErrCorrupt, ix.cfg.Rel, blk)
	}
	if o := getOpaque(pg); o.flags&^validFlags != 0 {
		return fmt.Errorf("%w: block %d has unknown flags %#x", ErrCorrupt, blk, o.flags)
	}
	return nil
}

// newPage extends the relation by one page and returns it exclusively
// locked and still zero (_bt_allocbuf without the free space map).
func (ix *Index) newPage() (buffer.Buffer, uint32, error) {
	b, blk, err := ix.cfg.Pool.ExtendBuffer(ix.cfg.Rel, smgr.MainForkNum)
	if err != nil {
		return buffer.InvalidBuffer, 0, err
	}
	ix.cfg.Pool.LockBuffer(b, buffer.Exclusive)
	return b, uint32(blk), nil
}

// fits reports whether tup can be added to pg (PageGetFreeSpace against
// the MAXALIGNed size, as _bt_findinsertloc does), honouring the test cap.
func (ix *Index) fits(pg []byte, extraItems int, bytes int) bool {
	if ix.cfg.MaxTuplesPerPage > 0 && int(page.MaxOffset(pg))+extraItems > ix.cfg.MaxTuplesPerPage {
		return false
	}
	return page.FreeSpace(pg) >= bytes
}

func maxAlign(n int) int { return (n + page.MaxAlign - 1) &^ (page.MaxAlign - 1) }
