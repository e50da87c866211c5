// Package buffer is the shared buffer pool: PostgreSQL's bufmgr.c with
// buf_table.c (the buffer mapping table) and freelist.c (the clock-sweep
// replacement strategy), following src/backend/storage/buffer/README.
//
// It owns a fixed array of BLCKSZ pages, the header of each (its tag, pin
// count, usage count, and the valid, dirty, just-dirtied, io-in-progress and
// checkpoint-needed flags), each buffer's content lock, and the mapping from
// (relation, fork, block) to buffer. It reads and writes pages only through
// the storage manager (package smgr) and enforces WAL-before-data: a dirty
// page is written only after the WAL is flushed up to the page's LSN.
//
// It reads and sets a page's pd_lsn (its first 8 bytes) and leaves the rest
// of the page format to the page layer, whose hooks compute and verify
// checksums (Config.Verify and Config.SetChecksum). It never inserts WAL
// (it only flushes WAL up to a page's LSN before writing the page), never
// fsyncs a file directly (smgr queues fsync requests; BufferSync, the
// checkpoint's buffer phase, asks smgr's SyncAll to run them), and never
// decides when to checkpoint or how often the background writer runs.
//
// # Locking
//
// One env.Mutex, the pool's header lock, stands in for both PostgreSQL's
// buffer-mapping partition locks and the per-buffer header spinlocks: it
// guards the mapping table, every header and the clock hand, and is never
// held across I/O, a WAL flush or a content lock wait. Each buffer has a
// content lock (package lwlock) that protects the page bytes: readers of a
// page hold it shared, modifiers exclusive, and writers of the page to disk
// (FlushBuffer) shared, so a page never changes while it is being written.
//
// A buffer's I/O is announced by the io-in-progress flag under the header
// lock (StartBufferIO) and waited for on a per-buffer condition variable
// (WaitIO, as PostgreSQL 15+ does with a ConditionVariable): so two
// processes that miss on the same block never read it into two buffers, and
// two processes never write the same buffer at once.
//
// # Pins
//
// A pin keeps a buffer from being evicted or retagged. The header counts
// pins for the whole pool (refcount) and, for assertions, which processes
// hold them (PostgreSQL's PrivateRefCount): LockBuffer, MarkBufferDirty,
// BufferGetPage and ReleaseBuffer panic if the caller holds no pin.
package buffer

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// BLCKSZ is the page size.
const BLCKSZ = smgr.BLCKSZ

// BMMaxUsageCount caps a buffer's usage count (BM_MAX_USAGE_COUNT): a
// buffer survives at most this many passes of the clock hand unused.
const BMMaxUsageCount = 5

// Injection points.
const (
	PointBeforeWrite = "bufmgr-before-write"
	PointAfterWrite  = "bufmgr-after-write"
	// PointAfterVictimWrite is an eviction between writing its
	// dirty victim and looking at it again: the victim is still in the
	// table, so others may pin it, dirty it, or load the block being
	// read into another buffer (BufferAlloc's "Somebody could have
	// pinned or re-dirtied the buffer while we were doing the I/O").
	PointAfterVictimWrite = "bufmgr-after-victim-write"
)

// ErrNoUnpinnedBuffers is returned when every buffer is pinned, so no
// victim can be found ("no unpinned buffers available").
var ErrNoUnpinnedBuffers = errors.New("no unpinned buffers available")

// Buffer identifies a shared buffer: 1..NBuffers, with 0 invalid, as
// PostgreSQL's Buffer is buf_id + 1.
type Buffer int32

// InvalidBuffer is the zero Buffer.
const InvalidBuffer Buffer = 0

// LockMode is a content lock mode (BUFFER_LOCK_SHARE / _EXCLUSIVE).
type LockMode = lwlock.Mode

// The content lock modes.
const (
	Share     = lwlock.Shared
	Exclusive = lwlock.Exclusive
)

// Tag names the page a buffer holds (BufferTag).
type Tag struct {
	Rel   smgr.RelFileNumber
	Fork  smgr.ForkNumber
	Block smgr.BlockNumber
}

func (t Tag) String() string {
	return fmt.Sprintf("block %d of relation %s", t.Block, smgr.RelPath(t.Rel, t.Fork))
}

func compareTag(a, b Tag) int {
	if c := cmp.Compare(a.Rel, b.Rel); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Fork, b.Fork); c != 0 {
		return c
	}
	return cmp.Compare(a.Block, b.Block)
}

// WAL is what the buffer manager needs of the write-ahead log: XLogFlush.
// *wal.WAL implements it.
type WAL interface {
	// Flush returns once the WAL is durable at least up to upto.
	Flush(upto wal.LSN)
}

// Config parameterises a Pool.
type Config struct {
	// NBuffers is the number of shared buffers (shared_buffers / BLCKSZ).
	NBuffers int
	SMgr     *smgr.SMgr
	WAL      WAL
	// Verify checks a page just read from disk (PageIsVerifiedExtended:
	// it must accept an all-zero page). nil accepts every page.
	Verify func(page []byte, blkno uint32) error
	// SetChecksum stamps the checksum on a private copy of a page about
	// to be written (PageSetChecksumCopy). nil writes pages as they are,
	// as a cluster without data checksums does (checksum.go).
	SetChecksum func(page []byte, blkno uint32)
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
}

// bufferDesc is a buffer header (BufferDesc).
type bufferDesc struct {
	id  int // buf_id, 0-based
	tag Tag

	// The state bits of BufferDesc.state.
	tagValid     bool // BM_TAG_VALID: tag means something, table maps it here
	valid        bool // BM_VALID: the page holds the block's contents
	dirty        bool // BM_DIRTY
	justDirtied  bool // BM_JUST_DIRTIED: dirtied while being written
	ioInProgress bool // BM_IO_IN_PROGRESS
	ioError      bool // BM_IO_ERROR: the last I/O failed
	ckptNeeded   bool // BM_CHECKPOINT_NEEDED

	// hintOnly: dirtied by hint bits alone (MarkBufferDirtyHint), for a
	// sometimes condition. cleanCRC is the page's digest when last read or
	// written, if cleanKnown (coherence.go).
	hintOnly   bool
	cleanCRC   uint64
	cleanKnown bool
	// hintedClean: a hint changed the page without dirtying it
	// (HintedWithoutDirtying); no clean image is known until the buffer
	// holds another block.
	hintedClean bool

	refcount   int // pins, pool-wide
	usageCount int
	pinners    []pinner // who holds the pins (PrivateRefCount)

	content *lwlock.LWLock
	ioCV    env.Cond // on Pool.mu; signalled when I/O ends
}

type pinner struct {
	pid, count int
}

// Stats counts the pool's activity.
type Stats struct {
	Hits, Reads, Extends uint64
	Writes               uint64 // pages written (FlushBuffer)
	Evictions            uint64 // valid buffers reused for another block
	ReadErrors           uint64
}

// Pool is the shared buffer pool of one node.
type Pool struct {
	e   *env.Env
	cfg Config

	// pages are the NBuffers pages (BufferBlocks), each allocated on its
	// first use: a run opens the database several times and seldom
	// touches every buffer.
	pages [][]byte
	mu    env.Mutex // the header lock; see the package comment
	// scratch are BLCKSZ buffers for flushBuffer's private copies, reused
	// once a write is done (a process killed mid-write drops its own);
	// guarded by mu.
	scratch    [][]byte
	descs      []bufferDesc
	table      map[Tag]int // buf_table.c: tag -> buf_id
	freeList   []int       // never-used or invalidated buffers, FIFO
	nextVictim int         // the clock hand
	extendLock map[relFork]env.Mutex
	stats      Stats
}

type relFork struct {
	rel  smgr.RelFileNumber
	fork smgr.ForkNumber
}

// NewPool makes a buffer pool (InitBufferPool). It does no I/O.
func NewPool(e *env.Env, cfg Config) (*Pool, error) {
	if cfg.NBuffers < 1 {
		return nil, fmt.Errorf("buffer: NBuffers %d < 1", cfg.NBuffers)
	}
	if cfg.SMgr == nil || cfg.WAL == nil {
		return nil, errors.New("buffer: Config needs SMgr and WAL")
	}
	p := &Pool{
		e:          e,
		cfg:        cfg,
		pages:      make([][]byte, cfg.NBuffers),
		mu:         e.Sched.NewSpinLock("BufHdrLock"),
		descs:      make([]bufferDesc, cfg.NBuffers),
		table:      make(map[Tag]int, cfg.NBuffers),
		freeList:   make([]int, cfg.NBuffers),
		extendLock: make(map[relFork]env.Mutex),
	}
	for i := range p.descs {
		p.descs[i].id = i
		p.freeList[i] = i
	}
	return p, nil
}

// initLocksLocked gives a buffer its content lock and I/O condition the
// first time it leaves the free list: a run uses a few of its buffers, and
// making every buffer's named lock when the pool is made cost a crash
// cycle 3%. Every use of them is on a buffer taken from the free list
// before, under p.mu, so the locks exist by then.
func (p *Pool) initLocksLocked(d *bufferDesc) {
	if d.content != nil {
		return
	}
	n := strconv.Itoa(d.id + 1)
	d.content = lwlock.New(p.e, "BufferContent "+n)
	d.ioCV = p.e.Sched.NewCond("BufferIO "+n, p.mu)
}

// NBuffers is the pool size.
func (p *Pool) NBuffers() int { return p.cfg.NBuffers }

// Stats returns the counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *Pool) page(id int) []byte {
	pg := p.pages[id]
	if pg == nil {
		pg = make([]byte, BLCKSZ)
		p.pages[id] = pg
	}
	return pg
}

func (p *Pool) self() int {
	pr := p.e.Sched.Self()
	if pr == nil {
		return 0
	}
	return pr.ID()
}

// desc returns the header of b, panicking on an invalid Buffer.
func (p *Pool) desc(b Buffer) *bufferDesc {
	if b < 1 || int(b) > len(p.descs) {
		panic(fmt.Sprintf("buffer: bad buffer ID %d", b))
	}
	return &p.descs[b-1]
}

// pinLocked adds a pin by pid (PinBuffer / PinBuffer_Locked). bump raises
// the usage count, as a normal access does; internal pins (flushing,
// eviction) leave it alone.
func (p *Pool) pinLocked(d *bufferDesc, pid int, bump bool) {
	d.refcount++
	if bump && d.usageCount < BMMaxUsageCount {
		d.usageCount++
	}
	for i := range d.pinners {
		if d.pinners[i].pid == pid {
			d.pinners[i].count++
			return
		}
	}
	d.pinners = append(d.pinners, pinner{pid: pid, count: 1})
}

// unpinLocked drops one pin of pid (UnpinBuffer).
func (p *Pool) unpinLocked(d *bufferDesc, pid int) {
	for i := range d.pinners {
		if d.pinners[i].pid == pid {
			d.refcount--
			d.pinners[i].count--
			if d.pinners[i].count == 0 {
				d.pinners = append(d.pinners[:i], d.pinners[i+1:]...)
			}
			return
		}
	}
	panic(fmt.Sprintf("buffer: process %d unpins buffer %d that it has not pinned", pid, d.id+1))
}

func (d *bufferDesc) pinnedBy(pid int) bool {
	for _, pn := range d.pinners {
		if pn.pid == pid {
			return true
		}
	}
	return false
}

func (p *Pool) assertPinned(d *bufferDesc) {
	pid := p.self()
	p.mu.Lock()
	pinned := d.pinnedBy(pid)
	p.mu.Unlock()
	if !pinned {
		panic(fmt.Sprintf("buffer: process %d uses buffer %d without a pin", pid, d.id+1))
	}
}

// ReadBuffer returns the buffer holding the given block, pinned, reading it
// from disk on a miss (ReadBuffer_common and BufferAlloc). A page that
// fails verification is an error "invalid page in block N of relation R";
// the buffer is then left invalid, so the next ReadBuffer retries the read.
// If every buffer is pinned it returns ErrNoUnpinnedBuffers, as PostgreSQL
// does when the clock sweep passes NBuffers pinned buffers in a row: a pool
// needs more buffers than the pins its processes can hold at once (each
// process also pins the victim it is writing out).
// Sometimes records a sometimes condition for code that has the pool but
// not the environment (redo routines).
func (p *Pool) Sometimes(name string) { p.e.Sometimes(name) }

func (p *Pool) ReadBuffer(rel smgr.RelFileNumber, fork smgr.ForkNumber, blkno smgr.BlockNumber) (Buffer, error) {
	if blkno == smgr.InvalidBlockNumber {
		return InvalidBuffer, errors.New("buffer: ReadBuffer of InvalidBlockNumber (use ExtendBuffer)")
	}
	tag := Tag{Rel: rel, Fork: fork, Block: blkno}
	id, needRead, err := p.bufferAlloc(tag, true)
	if err != nil {
		return InvalidBuffer, err
	}
	if needRead {
		if err := p.readIn(id, tag); err != nil {
			return InvalidBuffer, err
		}
	}
	return Buffer(id + 1), nil
}

// bufferAlloc finds or makes the buffer for tag and pins it. needIO reports
// that the caller now owns the buffer's input I/O (io-in-progress is set,
// the page is not valid) and must fill the page and call endInput.
func (p *Pool) bufferAlloc(tag Tag, bump bool) (id int, needIO bool, err error) {
	pid := p.self()
	p.mu.Lock()
	// Each pass either returns or loses a race with another process that
	// changed the buffer we looked at; the number of passes is bounded in
	// practice by contention, and each failed pass makes progress for
	// someone else.
	for {
		if id, ok := p.table[tag]; ok {
			d := &p.descs[id]
			p.pinLocked(d, pid, bump)
			needIO := p.waitForValidLocked(d)
			if !needIO {
				p.stats.Hits++
			}
			p.mu.Unlock()
			return id, needIO, nil
		}
		victim, err := p.strategyGetBufferLocked(pid)
		if err != nil {
			p.mu.Unlock()
			return -1, false, err
		}
		d := &p.descs[victim]
		if d.dirty {
			// Write the victim out first. Take its content lock
			// conditionally, as BufferAlloc does: someone who pinned it
			// meanwhile may hold it exclusively while waiting for a lock
			// we hold, so waiting here could deadlock. Give it up and
			// look for another victim instead.
			p.mu.Unlock()
			if !d.content.ConditionalAcquire(lwlock.Shared) {
				p.mu.Lock()
				p.unpinLocked(d, pid)
				continue
			}
			p.e.Sometimes("buffer-evicted-dirty")
			werr := p.flushBuffer(d)
			d.content.Release()
			if werr == nil {
				p.e.Inject(PointAfterVictimWrite)
			}
			p.mu.Lock()
			if werr != nil {
				p.unpinLocked(d, pid)
				p.mu.Unlock()
				return -1, false, werr
			}
			// Somebody may have loaded our block while we wrote, or
			// pinned and re-dirtied the victim: look again.
			if _, ok := p.table[tag]; ok || d.refcount != 1 || d.dirty {
				p.unpinLocked(d, pid)
				continue
			}
		}
		// The victim is pinned only by us and clean: retag it
		// (InvalidateVictimBuffer and the table insertion of BufferAlloc).
		if d.refcount != 1 || d.dirty || d.ioInProgress {
			panic(fmt.Sprintf("buffer: victim %d in bad state (refcount %d dirty %v io %v)", d.id+1, d.refcount, d.dirty, d.ioInProgress))
		}
		p.checkCleanLocked(d)
		d.cleanKnown, d.hintedClean = false, false
		if d.tagValid {
			delete(p.table, d.tag)
			if d.valid {
				p.stats.Evictions++
			}
		}
		d.tag = tag
		d.tagValid = true
		d.valid = false
		d.ioError = false
		d.justDirtied = false
		d.hintOnly = false
		d.ckptNeeded = false
		d.usageCount = 1
		d.ioInProgress = true // StartBufferIO(forInput) for our read
		p.table[tag] = victim
		p.mu.Unlock()
		return victim, true, nil
	}
}

// waitForValidLocked waits until the pinned buffer d is valid or no one is
// reading it (WaitIO / StartBufferIO for input). It returns true if the page
// is not valid and no I/O is under way, in which case it has set
// io-in-progress and the caller must read the page (a previous read
// failed, or its reader gave up).
func (p *Pool) waitForValidLocked(d *bufferDesc) bool {
	for {
		if d.valid {
			return false
		}
		if !d.ioInProgress {
			d.ioInProgress = true
			return true
		}
		d.ioCV.Wait()
	}
}

// readIn fills buffer id with its block from disk and verifies it, then
// ends the input I/O (the read half of ReadBuffer_common and
// TerminateBufferIO / AbortBufferIO).
func (p *Pool) readIn(id int, tag Tag) error {
	pg := p.page(id)
	err := p.cfg.SMgr.Read(tag.Rel, tag.Fork, tag.Block, pg)
	if err == nil && p.cfg.Verify != nil {
		if verr := p.cfg.Verify(pg, uint32(tag.Block)); verr != nil {
			p.e.Sometimes("page-verify-failed")
			p.e.PageInvalid(uint32(tag.Rel), uint32(tag.Block))
			err = fmt.Errorf("invalid page in %s: %w", tag, verr)
		}
	}
	if err != nil {
		// Never leave unverified bytes where a bug could read them. This
		// must happen before the unpin below, after which the buffer may
		// be reused.
		clear(pg)
	}
	d := &p.descs[id]
	pid := p.self()
	p.mu.Lock()
	d.ioInProgress = false
	if err != nil {
		d.ioError = true
		d.valid = false
		p.stats.ReadErrors++
		p.unpinLocked(d, pid)
	} else {
		d.valid = true
		d.ioError = false
		d.setCleanLocked(pageCRC(pg))
		p.stats.Reads++
	}
	d.ioCV.Broadcast()
	p.mu.Unlock()
	return err
}

// strategyGetBufferLocked picks a victim buffer and pins it for pid
// (StrategyGetBuffer): first from the free list, then by the clock sweep,
// which passes over pinned buffers and decrements the usage count of
// unpinned ones until it finds one at zero. Each decrement restarts the
// count of buffers tried, so the sweep is bounded by NBuffers *
// (BMMaxUsageCount + 1) steps; it fails after NBuffers pinned buffers in
// a row.
func (p *Pool) strategyGetBufferLocked(pid int) (int, error) {
	for len(p.freeList) > 0 {
		id := p.freeList[0]
		p.freeList = p.freeList[1:]
		d := &p.descs[id]
		if d.refcount == 0 && d.usageCount == 0 && !d.tagValid {
			p.initLocksLocked(d)
			p.pinLocked(d, pid, false)
			return id, nil
		}
	}
	n := len(p.descs)
	tries := n
	for {
		d := &p.descs[p.nextVictim]
		p.nextVictim++
		if p.nextVictim == n {
			p.nextVictim = 0
		}
		if d.refcount == 0 {
			if d.usageCount > 0 {
				d.usageCount--
				tries = n
			} else {
				p.pinLocked(d, pid, false)
				return d.id, nil
			}
		} else {
			tries--
			if tries == 0 {
				return -1, ErrNoUnpinnedBuffers
			}
		}
	}
}

// ExtendBuffer adds a new zeroed block at the end of the fork and returns
// it pinned with its block number (ReadBuffer with P_NEW; ExtendBufferedRel
// in PostgreSQL 16+). The zero page is written through smgr at once, so
// the relation's size on disk always covers every block in the pool. The
// buffer is valid and clean; the caller initialises the page under an
// exclusive content lock and marks it dirty.
func (p *Pool) ExtendBuffer(rel smgr.RelFileNumber, fork smgr.ForkNumber) (Buffer, smgr.BlockNumber, error) {
	// The relation extension lock (LockRelationForExtension) serialises
	// extenders of one relation, so two never claim the same block.
	key := relFork{rel, fork}
	p.mu.Lock()
	lk, ok := p.extendLock[key]
	if !ok {
		lk = p.e.Sched.NewMutex(fmt.Sprintf("extend %s", smgr.RelPath(rel, fork)))
		p.extendLock[key] = lk
	}
	p.mu.Unlock()
	lk.Lock()
	defer lk.Unlock()

	blkno, err := p.cfg.SMgr.NBlocks(rel, fork)
	if err != nil {
		return InvalidBuffer, 0, err
	}
	if blkno == smgr.InvalidBlockNumber {
		return InvalidBuffer, 0, fmt.Errorf("cannot extend relation %s beyond %d blocks", smgr.RelPath(rel, fork), blkno)
	}
	tag := Tag{Rel: rel, Fork: fork, Block: blkno}
	id, needIO, err := p.bufferAlloc(tag, true)
	if err != nil {
		return InvalidBuffer, 0, err
	}
	d := &p.descs[id]
	if !needIO {
		// A buffer for a block past the end of file: PostgreSQL reports
		// "unexpected data beyond EOF". It means buffers were not dropped
		// when the relation was truncated.
		pid := p.self()
		p.mu.Lock()
		p.unpinLocked(d, pid)
		p.mu.Unlock()
		return InvalidBuffer, 0, fmt.Errorf("unexpected data beyond EOF in %s", tag)
	}
	pg := p.page(id)
	clear(pg)
	// An all-zero page is written without a checksum, as PostgreSQL
	// writes new pages: verification accepts all-zero pages.
	err = p.cfg.SMgr.Extend(rel, fork, blkno, pg)
	pid := p.self()
	p.mu.Lock()
	d.ioInProgress = false
	if err != nil {
		d.ioError = true
		p.unpinLocked(d, pid)
	} else {
		d.valid = true
		d.setCleanLocked(zeroPageCRC)
		p.stats.Extends++
	}
	d.ioCV.Broadcast()
	p.mu.Unlock()
	if err != nil {
		return InvalidBuffer, 0, err
	}
	return Buffer(id + 1), blkno, nil
}

// ReleaseBuffer drops the caller's pin (ReleaseBuffer / UnpinBuffer). The
// caller must not hold the content lock when dropping its last pin.
func (p *Pool) ReleaseBuffer(b Buffer) {
	d := p.desc(b)
	pid := p.self()
	p.mu.Lock()
	last := false
	for _, pn := range d.pinners {
		if pn.pid == pid && pn.count == 1 {
			last = true
		}
	}
	p.mu.Unlock()
	if last && d.content.HeldByMe() {
		panic(fmt.Sprintf("buffer: process %d drops its last pin of buffer %d while holding its content lock", pid, b))
	}
	p.mu.Lock()
	p.unpinLocked(d, pid)
	p.mu.Unlock()
}

// UnlockReleaseBuffer releases the content lock, then the pin.
func (p *Pool) UnlockReleaseBuffer(b Buffer) {
	p.UnlockBuffer(b)
	p.ReleaseBuffer(b)
}

// LockBuffer takes the content lock of a pinned buffer (LockBuffer).
func (p *Pool) LockBuffer(b Buffer, mode LockMode) {
	d := p.desc(b)
	p.assertPinned(d)
	d.content.Acquire(mode)
}

// ConditionalLockBuffer takes the content lock exclusively if that is
// possible without waiting (ConditionalLockBuffer).
func (p *Pool) ConditionalLockBuffer(b Buffer) bool {
	d := p.desc(b)
	p.assertPinned(d)
	return d.content.ConditionalAcquire(lwlock.Exclusive)
}

// UnlockBuffer releases the content lock (LockBuffer(BUFFER_LOCK_UNLOCK)).
func (p *Pool) UnlockBuffer(b Buffer) {
	p.desc(b).content.Release()
}

// MarkBufferDirty marks a pinned, exclusively locked buffer dirty
// (MarkBufferDirty). The caller must have set the page's LSN to the WAL
// record describing the change (or the change must need no WAL).
func (p *Pool) MarkBufferDirty(b Buffer) {
	d := p.desc(b)
	p.assertPinned(d)
	if !d.content.HeldByMeInMode(lwlock.Exclusive) {
		panic(fmt.Sprintf("buffer: MarkBufferDirty of buffer %d without its exclusive content lock", b))
	}
	p.mu.Lock()
	if !d.valid {
		p.mu.Unlock()
		panic(fmt.Sprintf("buffer: MarkBufferDirty of invalid buffer %d", b))
	}
	d.dirty = true
	d.justDirtied = true
	d.hintOnly = false
	p.mu.Unlock()
}

// BufferGetPage returns the page of a pinned buffer. The slice aliases
// shared memory: read it under a content lock, change it only under the
// exclusive one.
func (p *Pool) BufferGetPage(b Buffer) []byte {
	d := p.desc(b)
	p.assertPinned(d)
	return p.page(d.id)
}

// BufferGetTag returns the tag of a pinned buffer (BufferGetTag).
func (p *Pool) BufferGetTag(b Buffer) Tag {
	d := p.desc(b)
	p.assertPinned(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	return d.tag
}

// BufferGetBlockNumber returns the block number of a pinned buffer.
func (p *Pool) BufferGetBlockNumber(b Buffer) smgr.BlockNumber {
	return p.BufferGetTag(b).Block
}

// PageGetLSN reads pd_lsn, the first 8 bytes of a page, little-endian.
// The layout is the page package's (PostgreSQL's PageXLogRecPtr: two
// 32-bit halves, high first); there must be one definition of it.
func PageGetLSN(p []byte) wal.LSN { return page.LSN(p) }

// PageSetLSN writes pd_lsn.
func PageSetLSN(p []byte, lsn wal.LSN) { page.SetLSN(p, lsn) }

// BufferGetLSN returns the page LSN of a pinned buffer (BufferGetLSNAtomic).
// The caller should hold the content lock for a stable answer.
func (p *Pool) BufferGetLSN(b Buffer) wal.LSN {
	return PageGetLSN(p.BufferGetPage(b))
}

// BufferIsDirty reports whether a pinned buffer is dirty.
func (p *Pool) BufferIsDirty(b Buffer) bool {
	d := p.desc(b)
	p.assertPinned(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	return d.dirty
}

// flushBuffer writes a dirty buffer (FlushBuffer). The caller holds a pin
// and the content lock (at least shared), so the page cannot change. It
// waits for any other write of the buffer, returns nil at once if the
// buffer is clean by then, flushes WAL up to the page's LSN (WAL before
// data), stamps the checksum on a private copy, and writes the copy
// through smgr without fsync. The dirty flag is cleared only if nobody
// dirtied the page during the write (BM_JUST_DIRTIED).
func (p *Pool) flushBuffer(d *bufferDesc) error {
	// StartBufferIO(forInput = false).
	p.mu.Lock()
	early := p.cfg.Bugs.Has(bugs.EarlyClean)
	for d.ioInProgress && !early {
		d.ioCV.Wait()
	}
	if !d.valid || !d.dirty {
		p.mu.Unlock()
		return nil
	}
	d.ioInProgress = true
	d.justDirtied = false
	hintOnly := d.hintOnly
	if early {
		d.dirty, d.ckptNeeded = false, false
	}
	tag := d.tag
	// The private copy comes from the pool's scratch buffers, taken and
	// given back under the header lock: pgdst serve's processes flush in
	// parallel, and two flushers that took the same scratch buffer wrote
	// one page's bytes to the other's block (checksum failures, index
	// tuples pointing past the heap's end, redo failing on a full page).
	var buf []byte
	if n := len(p.scratch); n > 0 {
		buf, p.scratch = p.scratch[n-1], p.scratch[:n-1]
	}
	p.mu.Unlock()

	if buf == nil {
		buf = make([]byte, BLCKSZ)
	}
	copy(buf, p.page(d.id))
	written := pageCRC(buf) // the page as written, before its checksum
	// XLogFlush before the write: the WAL that describes every change on
	// this page must be durable before the page can reach disk.
	if lsn := PageGetLSN(buf); lsn != 0 && !p.cfg.Bugs.Has(bugs.WriteBeforeWAL) {
		p.cfg.WAL.Flush(lsn)
	}
	if p.cfg.SetChecksum != nil {
		p.cfg.SetChecksum(buf, uint32(tag.Block))
	}
	p.e.Inject(PointBeforeWrite)
	err := p.cfg.SMgr.Write(tag.Rel, tag.Fork, tag.Block, buf)
	if err == nil {
		p.e.BufferWritten(uint32(tag.Rel), uint32(tag.Block), uint64(PageGetLSN(buf))) // buf is intact: nothing ran since the write
		if hintOnly {
			p.e.Sometimes("hint-page-written")
			if p.cfg.SetChecksum == nil {
				p.e.Sometimes("hint-page-written-no-checksum")
			}
		}
		p.e.Inject(PointAfterWrite)
	}

	// TerminateBufferIO / AbortBufferIO.
	p.mu.Lock()
	p.scratch = append(p.scratch, buf) // the disk keeps no reference
	d.ioInProgress = false
	if err != nil {
		d.ioError = true
	} else {
		d.ioError = false
		if !d.justDirtied {
			d.dirty = false
			d.ckptNeeded = false
			d.hintOnly = false
			d.setCleanLocked(written)
		}
		p.stats.Writes++
	}
	d.ioCV.Broadcast()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("could not write %s: %w", tag, err)
	}
	return nil
}

// FlushOneBuffer writes a pinned buffer if it is dirty (FlushOneBuffer).
// The caller holds its content lock.
func (p *Pool) FlushOneBuffer(b Buffer) error {
	d := p.desc(b)
	p.assertPinned(d)
	if !d.content.HeldByMe() {
		panic(fmt.Sprintf("buffer: FlushOneBuffer of buffer %d without its content lock", b))
	}
	return p.flushBuffer(d)
}

// syncOneBuffer pins buffer id if it still satisfies want, writes it under
// a share lock and unpins it (SyncOneBuffer). It reports whether it wrote.
func (p *Pool) syncOneBuffer(id int, want func(d *bufferDesc) bool) (bool, error) {
	d := &p.descs[id]
	pid := p.self()
	p.mu.Lock()
	if !want(d) {
		p.mu.Unlock()
		return false, nil
	}
	p.pinLocked(d, pid, false)
	p.mu.Unlock()
	d.content.Acquire(lwlock.Shared)
	err := p.flushBuffer(d)
	d.content.Release()
	p.mu.Lock()
	p.unpinLocked(d, pid)
	p.mu.Unlock()
	return err == nil, err
}

// CheckPointBuffers is the write phase of a checkpoint (BufferSync): every
// buffer dirty when it starts is written (WAL first), in tag order; buffers
// dirtied later are left for the next checkpoint. It does not fsync: that
// is ProcessSyncRequests' job (SMgr.SyncAll), which the checkpointer runs
// next.
func (p *Pool) CheckPointBuffers() (written int, err error) {
	type item struct {
		id  int
		tag Tag
	}
	p.mu.Lock()
	var todo []item
	for i := range p.descs {
		d := &p.descs[i]
		if d.dirty && d.valid {
			d.ckptNeeded = true
			todo = append(todo, item{i, d.tag})
		}
	}
	p.mu.Unlock()
	slices.SortFunc(todo, func(a, b item) int { return compareTag(a.tag, b.tag) })
	for _, it := range todo {
		ok, err := p.syncOneBuffer(it.id, func(d *bufferDesc) bool { return d.ckptNeeded && d.valid })
		if err != nil {
			return written, err
		}
		if ok {
			written++
		}
	}
	return written, nil
}

// BufferSync writes every buffer that is dirty when it starts (the buffer
// phase of a checkpoint, BufferSync with CHECKPOINT_FLUSH_ALL semantics
// for permanent relations), then fsyncs every file with pending writes
// (smgr SyncAll, as CheckPointGuts does next). Buffers are marked
// checkpoint-needed first and written in tag order; a buffer written by
// someone else meanwhile loses the mark and is skipped, and buffers dirtied
// after the start are left for the next checkpoint. A failed fsync is a
// PANIC (in SyncAll); a failed write is returned.
func (p *Pool) BufferSync() (written int, err error) {
	written, err = p.CheckPointBuffers()
	if err != nil {
		return written, err
	}
	p.cfg.SMgr.SyncAll()
	return written, nil
}

// BgBufferSync is one round of the background writer (BgBufferSync): it
// scans ahead of the clock hand, at most one full lap, and writes dirty
// buffers that are unpinned and have usage count 0 (the ones the clock
// sweep would evict next), at most lruMaxPages of them
// (bgwriter_lru_maxpages). It returns how many it wrote. Unlike
// PostgreSQL it does not estimate the allocation rate to decide how far
// to scan.
func (p *Pool) BgBufferSync(lruMaxPages int) (int, error) {
	if lruMaxPages <= 0 {
		return 0, nil
	}
	p.mu.Lock()
	start := p.nextVictim
	p.mu.Unlock()
	n := len(p.descs)
	written := 0
	reusable := func(d *bufferDesc) bool {
		return d.valid && d.dirty && d.refcount == 0 && d.usageCount == 0
	}
	for i := 0; i < n && written < lruMaxPages; i++ {
		ok, err := p.syncOneBuffer((start+i)%n, reusable)
		if err != nil {
			return written, err
		}
		if ok {
			written++
		}
	}
	return written, nil
}

// DropRelationBuffers forgets every buffer of the fork at or after block
// firstBlock without writing it (DropRelationBuffers), before the fork is
// truncated or unlinked. No buffer of those blocks may be pinned.
func (p *Pool) DropRelationBuffers(rel smgr.RelFileNumber, fork smgr.ForkNumber, firstBlock smgr.BlockNumber) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.descs {
		d := &p.descs[i]
		// Let a write in progress finish (InvalidateBuffer waits for it).
		for d.tagValid && d.tag.Rel == rel && d.tag.Fork == fork && d.tag.Block >= firstBlock && d.ioInProgress {
			d.ioCV.Wait()
		}
		if !d.tagValid || d.tag.Rel != rel || d.tag.Fork != fork || d.tag.Block < firstBlock {
			continue
		}
		if d.refcount != 0 {
			return fmt.Errorf("buffer: cannot drop pinned buffer %d (%s)", i+1, d.tag)
		}
		delete(p.table, d.tag)
		*d = bufferDesc{id: d.id, content: d.content, ioCV: d.ioCV}
		p.freeList = append(p.freeList, i)
	}
	return nil
}

// CheckInvariants verifies the pool's internal consistency: the mapping
// table and the headers agree, pin counts match their pinners, and usage
// counts are in range. Tests call it between operations.
func (p *Pool) CheckInvariants() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := 0
	for i := range p.descs {
		d := &p.descs[i]
		sum := 0
		for _, pn := range d.pinners {
			if pn.count <= 0 {
				return fmt.Errorf("buffer %d: pinner %d with count %d", i+1, pn.pid, pn.count)
			}
			sum += pn.count
		}
		if sum != d.refcount {
			return fmt.Errorf("buffer %d: refcount %d but pinners hold %d", i+1, d.refcount, sum)
		}
		if d.usageCount < 0 || d.usageCount > BMMaxUsageCount {
			return fmt.Errorf("buffer %d: usage count %d", i+1, d.usageCount)
		}
		if (d.valid || d.dirty) && !d.tagValid {
			return fmt.Errorf("buffer %d: valid or dirty without a tag", i+1)
		}
		if d.dirty && !d.valid {
			return fmt.Errorf("buffer %d: dirty but not valid", i+1)
		}
		if d.tagValid {
			seen++
			if id, ok := p.table[d.tag]; !ok || id != i {
				return fmt.Errorf("buffer %d: %s not mapped to it", i+1, d.tag)
			}
		}
	}
	if seen != len(p.table) {
		return fmt.Errorf("mapping table has %d entries for %d tagged buffers", len(p.table), seen)
	}
	return nil
}

// InspectValid calls fn with the tag, pd_lsn and dirty bit of every valid
// buffer, in buffer order, without taking any lock (taking one would be a
// scheduling point). It is for the simulator's checkers, which run between
// two yield points of a single-threaded simulation and see the pool as it
// is at that instant, other processes parked wherever they were. Engine
// code must not call it.
func (p *Pool) InspectValid(fn func(tag Tag, lsn wal.LSN, dirty bool)) {
	for i := range p.descs {
		d := &p.descs[i]
		if d.valid {
			fn(d.tag, PageGetLSN(p.page(i)), d.dirty)
		}
	}
}
