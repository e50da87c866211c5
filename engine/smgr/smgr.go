// Package smgr is the storage manager: PostgreSQL's smgr.c with its one
// implementation, the magnetic-disk manager md.c, plus the part of sync.c
// (the checkpointer's pending-operations table) that decides which files a
// checkpoint must fsync.
//
// It owns the relation files under base/ and nothing else: it maps a
// (relation, fork, block) to a segment file and an offset, reads and writes
// whole blocks, extends, truncates and unlinks relations, and remembers which
// segments have writes that are not yet fsynced. It never caches page
// contents (that is the buffer manager's job), never interprets a page (no
// checksums, no LSNs: WAL-before-data is the buffer manager's rule), and
// never touches the WAL, the control file or anything outside base/.
//
// # Files
//
// A relation fork is a sequence of segment files of SegBlocks blocks each:
// base/<relnumber> for segment 0 and base/<relnumber>.<segno> for the
// others, with a fork suffix (_fsm, _vm) for forks other than main, exactly
// as PostgreSQL names them (minus the database directory: there is one
// database). PostgreSQL's RELSEG_SIZE is 131072 blocks (1 GiB); the default
// here is 128 blocks (1 MiB) so that tests and simulation runs cross segment
// boundaries. As in md.c, every segment before the last is exactly
// SegBlocks long, and segments past the last partial one may exist with size
// zero ("inactive" segments left by Truncate).
//
// # Durability
//
// Write and Extend never fsync. Like md.c's register_dirty_segment they
// record the segment in the pending-sync table (RegisterSyncRequest); the
// checkpointer's SyncAll fsyncs every pending segment in sorted order
// (ProcessSyncRequests) and raises a PANIC if any fsync fails, as PostgreSQL
// has done since 2018 (data_sync_retry = off): after a failed fsync Linux may
// have dropped the dirty pages and marked them clean, so retrying would
// report success for lost data. If the table is full, the writer fsyncs the
// segment itself, as register_dirty_segment does when ForwardSyncRequest
// fails.
//
// Creating, extending into, and removing segment files change the base/
// directory; the simulated disk (like POSIX) makes such a change durable
// only after a directory fsync, so SyncAll also fsyncs base/ when it
// changed. PostgreSQL does not fsync the directory at each checkpoint: it
// relies on the WAL record of the relation's creation and on recovery
// re-creating missing segments (EXTENSION_CREATE_RECOVERY). This package is
// stricter so that a checkpoint alone makes its files durable.
//
// # Reads beyond the end of file
//
// A read of a block that lies beyond the end of its segment, or in a
// segment that does not exist, is an error ("could not read block N ...:
// read only K of 8192 bytes"), as mdread reports it. md.c zero-fills such a
// block instead only when zero_damaged_pages is on or during WAL replay
// (InRecovery), where redo may legitimately reference a block whose
// extension never reached disk before the crash; Config.ZeroFillMissing
// turns that behaviour on. In the same mode writes may create missing
// segments and land beyond the end of file (md.c's
// EXTENSION_CREATE_RECOVERY).
//
// # Concurrency
//
// An SMgr is shared by all processes of a node. One env.Mutex guards its
// tables and is held across opening a segment file but never across a
// block read, write or fsync, so that I/O from different processes
// overlaps. Callers must serialise extension of one relation (PostgreSQL's
// relation extension lock; the buffer manager does it) and must not unlink
// a relation while others do I/O on it.
package smgr

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// BLCKSZ is the size of a block (a page) in bytes.
const BLCKSZ = 8192

// BaseDir is the directory that holds every relation file.
const BaseDir = "base"

// PGRelSegSize is PostgreSQL's default RELSEG_SIZE: 131072 blocks, 1 GiB.
const PGRelSegSize = 131072

// DefaultSegBlocks is this engine's default segment size: 128 blocks
// (1 MiB), small so that segment boundaries are exercised.
const DefaultSegBlocks = 128

// DefaultMaxPendingSyncs bounds the pending-sync table (the checkpointer's
// request queue, sized by NBuffers in PostgreSQL).
const DefaultMaxPendingSyncs = 4096

// RelFileNumber names a relation's files (PostgreSQL's RelFileNumber, the
// relfilenode).
type RelFileNumber uint32

// ForkNumber selects one fork of a relation (ForkNumber).
type ForkNumber uint8

// The forks, as PostgreSQL numbers them. Only the main fork is used by the
// engine so far; the others are named so that paths come out right.
const (
	MainForkNum ForkNumber = iota
	FSMForkNum
	VisibilityMapForkNum
	InitForkNum
	numForks
)

var forkSuffix = [numForks]string{"", "_fsm", "_vm", "_init"}

func (f ForkNumber) String() string {
	switch f {
	case MainForkNum:
		return "main"
	case FSMForkNum:
		return "fsm"
	case VisibilityMapForkNum:
		return "vm"
	case InitForkNum:
		return "init"
	}
	return "fork" + strconv.Itoa(int(f))
}

// BlockNumber is a block's index within a fork.
type BlockNumber uint32

// InvalidBlockNumber is never a valid block (P_NEW in older PostgreSQL).
const InvalidBlockNumber BlockNumber = 0xFFFFFFFF

// Injection points.
const (
	PointBeforeWrite = "smgr-before-write"
	PointAfterWrite  = "smgr-after-write"
	PointAfterFsync  = "smgr-after-fsync"
)

// RelPath is the path of segment 0 of a fork (relpath()).
func RelPath(rel RelFileNumber, fork ForkNumber) string {
	return BaseDir + "/" + strconv.FormatUint(uint64(rel), 10) + forkSuffix[fork]
}

// SegPath is the path of one segment of a fork (_mdfd_segpath()).
func SegPath(rel RelFileNumber, fork ForkNumber, segno uint32) string {
	p := RelPath(rel, fork)
	if segno == 0 {
		return p
	}
	return p + "." + strconv.FormatUint(uint64(segno), 10)
}

// Config parameterises an SMgr.
type Config struct {
	// SegBlocks is RELSEG_SIZE, blocks per segment file. 0 means
	// DefaultSegBlocks.
	SegBlocks uint32
	// ZeroFillMissing makes reads beyond the end of file return zeros and
	// lets writes create missing segments, as md.c does during recovery
	// (InRecovery) or with zero_damaged_pages.
	ZeroFillMissing bool
	// MaxPendingSyncs bounds the pending-sync table. 0 means
	// DefaultMaxPendingSyncs.
	MaxPendingSyncs int
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
}

// SegTag names one segment file (FileTag in sync.c).
type SegTag struct {
	Rel   RelFileNumber
	Fork  ForkNumber
	Segno uint32
}

func (t SegTag) path() string { return SegPath(t.Rel, t.Fork, t.Segno) }

func compareSegTag(a, b SegTag) int {
	if c := cmp.Compare(a.Rel, b.Rel); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Fork, b.Fork); c != 0 {
		return c
	}
	return cmp.Compare(a.Segno, b.Segno)
}

// SMgr is the storage manager of one node.
type SMgr struct {
	e   *env.Env
	cfg Config

	mu    env.Mutex           // guards the fields below
	files map[SegTag]env.File // open segment files (md_seg_fds)
	// classes says which relations are heaps and which indexes, as the
	// catalog tells it (SetClass), so that every segment file is
	// registered with its class when it is opened (env.ClassifyFile).
	classes map[RelFileNumber]env.FileClass
	// pending is the checkpointer's pending-operations table
	// (pendingOps): segments written since their last fsync.
	pending map[SegTag]struct{}
	// dirDirty records that base/ changed (a file was created or removed)
	// since its last fsync.
	dirDirty bool
	// baseReady records that base/ exists (made by Create).
	baseReady bool
	// rootDirty records that this SMgr made base/ (MkdirAll), so that its
	// entry in the data directory needs a directory fsync too.
	rootDirty bool

	// syncMu serialises SyncAll with Unlink, so that a segment's handle is
	// never closed under a running fsync (PostgreSQL gets the same effect
	// from forget requests processed by the checkpointer itself).
	syncMu env.Mutex

	stats Stats
}

// Stats counts what the storage manager did.
type Stats struct {
	Reads, Writes, Extends uint64
	Fsyncs                 uint64 // segment fsyncs by SyncAll
	DirFsyncs              uint64
	WriterFsyncs           uint64 // fsyncs done by writers because the table was full
}

// New makes a storage manager. It does no I/O.
func New(e *env.Env, cfg Config) (*SMgr, error) {
	if cfg.SegBlocks == 0 {
		cfg.SegBlocks = DefaultSegBlocks
	}
	if cfg.MaxPendingSyncs == 0 {
		cfg.MaxPendingSyncs = DefaultMaxPendingSyncs
	}
	if cfg.MaxPendingSyncs < 0 {
		return nil, fmt.Errorf("smgr: MaxPendingSyncs %d < 0", cfg.MaxPendingSyncs)
	}
	// A segment's byte size must fit the disk's int64 offsets comfortably
	// and the block number space: PostgreSQL allows up to 2^31 blocks per
	// segment; keep the same limit.
	if cfg.SegBlocks > 1<<31 {
		return nil, fmt.Errorf("smgr: SegBlocks %d too large", cfg.SegBlocks)
	}
	return &SMgr{
		e:       e,
		cfg:     cfg,
		mu:      e.Sched.NewSpinLock("SMgr"),
		syncMu:  e.Sched.NewMutex("SMgrSync"),
		files:   make(map[SegTag]env.File),
		classes: make(map[RelFileNumber]env.FileClass),
		pending: make(map[SegTag]struct{}),
	}, nil
}

// Config returns the configuration in effect (defaults filled in).
func (s *SMgr) Config() Config { return s.cfg }

// Stats returns the counters.
func (s *SMgr) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *SMgr) segOf(blkno BlockNumber) (segno uint32, off int64) {
	segno = uint32(blkno) / s.cfg.SegBlocks
	off = int64(uint32(blkno)%s.cfg.SegBlocks) * BLCKSZ
	return segno, off
}

func checkFork(fork ForkNumber) error {
	if fork >= numForks {
		return fmt.Errorf("smgr: invalid fork number %d", fork)
	}
	return nil
}

// SetClass records what relation rel holds (heap or index), as the
// catalog knows it, and registers the class of rel's segment files that are
// open already (a relation created by redo before the map record that names
// it). The storage manager itself never interprets pages, so it cannot tell.
func (s *SMgr) SetClass(rel RelFileNumber, class env.FileClass) {
	if class != env.FileHeap && class != env.FileIndex {
		panic("smgr: a relation is a heap or an index")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.classes[rel] = class
	// Registering is order-free (a path gets its class), so the map's
	// order cannot reach behaviour.
	for t := range s.files {
		if t.Rel == rel {
			s.classifyLocked(t)
		}
	}
}

// classifyLocked tells the environment what segment t's file holds, when
// the catalog has said so. Only the main fork holds data here.
func (s *SMgr) classifyLocked(t SegTag) {
	if c, ok := s.classes[t.Rel]; ok && t.Fork == MainForkNum {
		s.e.ClassifyFile(t.path(), c)
	}
}

// openSegLocked returns the open handle of a segment, opening it if
// necessary (_mdfd_openseg). With env.OpenCreate a missing segment is
// created and base/ is marked for a directory fsync. The caller holds mu.
func (s *SMgr) openSegLocked(t SegTag, flag env.OpenFlag) (env.File, error) {
	if f, ok := s.files[t]; ok {
		return f, nil
	}
	s.classifyLocked(t)
	var f env.File
	var err error
	if flag == env.OpenExisting {
		f, err = s.e.Disk.Open(t.path(), env.OpenExisting)
	} else {
		// Try to create first, to learn whether the directory changed.
		f, err = s.e.Disk.Open(t.path(), env.OpenCreateExcl)
		if err == nil {
			s.dirDirty = true
		} else if errors.Is(err, env.ErrExist) {
			f, err = s.e.Disk.Open(t.path(), env.OpenExisting)
		}
	}
	if err != nil {
		return nil, err
	}
	s.files[t] = f
	return f, nil
}

func (s *SMgr) ensureBaseLocked() error {
	if s.baseReady {
		return nil
	}
	if err := s.e.Disk.MkdirAll(BaseDir); err != nil {
		return err
	}
	s.baseReady = true
	s.rootDirty = true
	return nil
}

// Create makes a new, empty fork (mdcreate). It fails if the fork exists,
// unless isRedo, where an existing fork is accepted as it is (redo of a
// creation that already reached disk). The new file is registered for
// fsync and base/ for a directory fsync, both done by the next SyncAll.
func (s *SMgr) Create(rel RelFileNumber, fork ForkNumber, isRedo bool) error {
	if err := checkFork(fork); err != nil {
		return err
	}
	t := SegTag{Rel: rel, Fork: fork}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureBaseLocked(); err != nil {
		return err
	}
	if _, ok := s.files[t]; ok {
		if isRedo {
			return nil
		}
		return fmt.Errorf("could not create file %q: %w", t.path(), env.ErrExist)
	}
	s.classifyLocked(t)
	f, err := s.e.Disk.Open(t.path(), env.OpenCreateExcl)
	if err != nil {
		if !isRedo || !errors.Is(err, env.ErrExist) {
			return fmt.Errorf("could not create file %q: %w", t.path(), err)
		}
		if f, err = s.e.Disk.Open(t.path(), env.OpenExisting); err != nil {
			return fmt.Errorf("could not open file %q: %w", t.path(), err)
		}
	} else {
		s.dirDirty = true
	}
	s.files[t] = f
	return s.registerLocked(t, f)
}

// Exists reports whether the fork's first segment exists (mdexists).
func (s *SMgr) Exists(rel RelFileNumber, fork ForkNumber) (bool, error) {
	if err := checkFork(fork); err != nil {
		return false, err
	}
	t := SegTag{Rel: rel, Fork: fork}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[t]; ok {
		return true, nil
	}
	_, err := s.openSegLocked(t, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// NBlocks returns the number of blocks in the fork (mdnblocks): full
// segments, then the blocks of the first segment shorter than SegBlocks. A
// trailing partial block (a torn extension) does not count.
func (s *SMgr) NBlocks(rel RelFileNumber, fork ForkNumber) (BlockNumber, error) {
	if err := checkFork(fork); err != nil {
		return 0, err
	}
	var n uint64
	// The loop is bounded by the block number space.
	for segno := uint32(0); uint64(segno)*uint64(s.cfg.SegBlocks) < uint64(InvalidBlockNumber); segno++ {
		t := SegTag{Rel: rel, Fork: fork, Segno: segno}
		s.mu.Lock()
		f, err := s.openSegLocked(t, env.OpenExisting)
		s.mu.Unlock()
		if err != nil {
			if segno > 0 && errors.Is(err, env.ErrNotExist) {
				break
			}
			return 0, fmt.Errorf("could not open file %q: %w", t.path(), err)
		}
		size, err := f.Size()
		if err != nil {
			return 0, fmt.Errorf("could not seek to end of file %q: %w", t.path(), err)
		}
		blocks := uint64(size / BLCKSZ)
		if blocks > uint64(s.cfg.SegBlocks) {
			return 0, fmt.Errorf("segment %q is too large: %d blocks", t.path(), blocks)
		}
		n += blocks
		if blocks < uint64(s.cfg.SegBlocks) {
			break
		}
	}
	if n >= uint64(InvalidBlockNumber) {
		return 0, fmt.Errorf("relation %s is too large", RelPath(rel, fork))
	}
	return BlockNumber(n), nil
}

func checkBuf(buf []byte) error {
	if len(buf) != BLCKSZ {
		return fmt.Errorf("smgr: buffer of %d bytes, want %d", len(buf), BLCKSZ)
	}
	return nil
}

// Read reads block blkno into buf (mdread). A block beyond the end of file
// is an error unless Config.ZeroFillMissing, where it reads as zeros.
func (s *SMgr) Read(rel RelFileNumber, fork ForkNumber, blkno BlockNumber, buf []byte) error {
	if err := checkFork(fork); err != nil {
		return err
	}
	if err := checkBuf(buf); err != nil {
		return err
	}
	if blkno == InvalidBlockNumber {
		return fmt.Errorf("smgr: read of invalid block number")
	}
	segno, off := s.segOf(blkno)
	t := SegTag{Rel: rel, Fork: fork, Segno: segno}
	s.mu.Lock()
	f, err := s.openSegLocked(t, env.OpenExisting)
	s.stats.Reads++
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, env.ErrNotExist) && s.cfg.ZeroFillMissing {
			clear(buf)
			return nil
		}
		return fmt.Errorf("could not read block %d in file %q: %w", blkno, t.path(), err)
	}
	n, err := f.ReadAt(buf, off)
	if n == BLCKSZ {
		return nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("could not read block %d in file %q: %w", blkno, t.path(), err)
	}
	if s.cfg.ZeroFillMissing {
		clear(buf[n:])
		return nil
	}
	return fmt.Errorf("could not read block %d in file %q: read only %d of %d bytes", blkno, t.path(), n, BLCKSZ)
}

// Write writes buf to block blkno, which must already exist (mdwrite): use
// Extend to add blocks. It does not fsync; it registers the segment for the
// next SyncAll.
func (s *SMgr) Write(rel RelFileNumber, fork ForkNumber, blkno BlockNumber, buf []byte) error {
	return s.write(rel, fork, blkno, buf, false)
}

// Extend writes buf as block blkno at or beyond the current end of the
// fork (mdextend), creating the next segment file when blkno starts one.
// Callers serialise extension of a relation; blocks skipped over (blkno >
// NBlocks) read back as zeros, as holes in a file do. It does not fsync.
func (s *SMgr) Extend(rel RelFileNumber, fork ForkNumber, blkno BlockNumber, buf []byte) error {
	return s.write(rel, fork, blkno, buf, true)
}

func (s *SMgr) write(rel RelFileNumber, fork ForkNumber, blkno BlockNumber, buf []byte, extend bool) error {
	if err := checkFork(fork); err != nil {
		return err
	}
	if err := checkBuf(buf); err != nil {
		return err
	}
	if blkno == InvalidBlockNumber {
		return fmt.Errorf("cannot extend file %q beyond %d blocks", RelPath(rel, fork), InvalidBlockNumber)
	}
	segno, off := s.segOf(blkno)
	t := SegTag{Rel: rel, Fork: fork, Segno: segno}
	// Extension creates the next segment file when it starts one, but the
	// fork itself must exist (mdextend opens it with mdopenfork, which
	// fails on a missing first segment). In recovery any missing segment
	// is created (EXTENSION_CREATE_RECOVERY).
	flag := env.OpenExisting
	if (extend && segno > 0) || s.cfg.ZeroFillMissing {
		flag = env.OpenCreate
	}
	s.mu.Lock()
	f, err := s.openSegLocked(t, flag)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("could not write block %d in file %q: %w", blkno, t.path(), err)
	}
	// Extension must not overwrite, and a plain write must not extend: both
	// would be a buffer-manager bug (mdextend's and mdwrite's assertions).
	if !s.cfg.ZeroFillMissing {
		size, err := f.Size()
		if err != nil {
			return fmt.Errorf("could not seek to end of file %q: %w", t.path(), err)
		}
		// A trailing partial block (a torn extension before a crash) may
		// be overwritten by the extension that redoes it.
		if extend && off+BLCKSZ <= size {
			return fmt.Errorf("smgr: extend of block %d of %s would overwrite an existing block", blkno, RelPath(rel, fork))
		}
		if !extend && off+BLCKSZ > size {
			return fmt.Errorf("smgr: write of block %d of %s beyond the end of file (use Extend)", blkno, RelPath(rel, fork))
		}
	}
	s.e.Inject(PointBeforeWrite)
	n, err := f.WriteAt(buf, off)
	if err == nil && n != BLCKSZ {
		err = io.ErrShortWrite
	}
	if err != nil {
		if errors.Is(err, env.ENOSPC) {
			s.e.Sometimes("write-enospc")
		}
		if extend {
			return fmt.Errorf("could not extend file %q: %w", t.path(), err)
		}
		return fmt.Errorf("could not write block %d in file %q: %w", blkno, t.path(), err)
	}
	s.e.Inject(PointAfterWrite)
	s.mu.Lock()
	defer s.mu.Unlock()
	if extend {
		s.stats.Extends++
	} else {
		s.stats.Writes++
	}
	return s.registerLocked(t, f)
}

// registerLocked records that segment t needs an fsync before the next
// checkpoint completes (register_dirty_segment / RegisterSyncRequest). If
// the table is full the caller fsyncs the file itself, as a backend does
// when the checkpointer's request queue is full.
func (s *SMgr) registerLocked(t SegTag, f env.File) error {
	if _, ok := s.pending[t]; ok {
		return nil
	}
	// The checkpointer's own requests go straight to its pendingOps
	// (RegisterSyncRequest calls RememberSyncRequest in the checkpointer,
	// ForwardSyncRequest elsewhere): only the others' can meet a full
	// queue. The startup process counts as the checkpointer here, as it
	// runs the end-of-recovery checkpoint that PostgreSQL 15's startup
	// process asks the checkpointer for (PerformRecoveryXLogAction's
	// RequestCheckpoint); its redo writes, which PostgreSQL 15 forwards,
	// are then never refused either. The role is asked only when the
	// table is full, which the default bound never is.
	if len(s.pending) < s.cfg.MaxPendingSyncs || s.ownsPendingOps() {
		s.pending[t] = struct{}{}
		return nil
	}
	s.e.Sometimes("fsync-queue-full")
	if s.cfg.Bugs.Has(bugs.SyncQueueFullNoFsync) {
		// Planted bug sync-queue-full-no-fsync: the writer takes the
		// failed ForwardSyncRequest for a request made, and neither
		// queues the segment nor fsyncs it. The next checkpoint then
		// completes without the write durable, and a power loss after it
		// loses a change its REDO pointer says is on disk.
		return nil
	}
	s.stats.WriterFsyncs++
	if err := f.Sync(); err != nil {
		s.e.Sometimes("fsync-eio-panic")
		s.e.Panicf("could not fsync file %q: %v", t.path(), err)
	}
	return nil
}

// ownsPendingOps reports whether the calling process keeps the pending
// table itself rather than forwarding to it (see registerLocked).
func (s *SMgr) ownsPendingOps() bool {
	r := s.e.SelfRole()
	return r == env.RoleCheckpointer || r == env.RoleStartup
}

// PendingSyncs returns the segments waiting for an fsync, sorted.
func (s *SMgr) PendingSyncs() []SegTag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedPendingLocked()
}

func (s *SMgr) sortedPendingLocked() []SegTag {
	out := make([]SegTag, 0, len(s.pending))
	for t := range s.pending {
		out = append(out, t)
	}
	slices.SortFunc(out, compareSegTag)
	return out
}

// SyncAll makes every write registered so far durable (the sync phase of a
// checkpoint, ProcessSyncRequests): it fsyncs each pending segment in
// (relation, fork, segment) order, then base/ if files were created or
// removed (and the data directory if it made base/). Requests registered
// while it runs are left for the next call. Any fsync failure is a PANIC
// (with the planted bug fsync-retry, a segment's is logged and the segment
// stays pending instead).
func (s *SMgr) SyncAll() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()

	s.mu.Lock()
	tags := s.sortedPendingLocked()
	files := make([]env.File, len(tags))
	for i, t := range tags {
		files[i] = s.files[t]
		delete(s.pending, t)
	}
	dirDirty, rootDirty := s.dirDirty, s.rootDirty
	s.dirDirty, s.rootDirty = false, false
	s.mu.Unlock()

	synced := 0
	for i, t := range tags {
		f := files[i]
		if f == nil {
			// Registered segments are always open: only Unlink closes
			// files, and it forgets their requests first.
			s.e.Panicf("smgr: pending fsync of %q without an open file", t.path())
		}
		if err := f.Sync(); err != nil {
			if !s.cfg.Bugs.Has(bugs.FsyncRetry) {
				s.e.Sometimes("fsync-eio-panic")
				s.e.Panicf("could not fsync file %q: %v", t.path(), err)
			}
			// Planted bug fsync-retry: ProcessSyncRequests before 2018
			// (data_sync_retry = on): the failure is logged and the
			// segment stays in the table for the next checkpoint, whose
			// fsync succeeds once the kernel has dropped the unwritten
			// pages. Only the checkpointer's fsyncs retry; a writer's
			// own fsync of a full table (registerLocked) and the
			// directory fsyncs still PANIC.
			s.e.Logf("could not fsync file %q: %v; will retry at the next checkpoint", t.path(), err)
			s.mu.Lock()
			s.pending[t] = struct{}{}
			s.mu.Unlock()
		} else {
			synced++
		}
		s.e.Inject(PointAfterFsync)
	}
	if dirDirty {
		if err := s.e.Disk.SyncDir(BaseDir); err != nil {
			s.e.Panicf("could not fsync directory %q: %v", BaseDir, err)
		}
	}
	if rootDirty {
		if err := s.e.Disk.SyncDir(""); err != nil {
			s.e.Panicf("could not fsync the data directory: %v", err)
		}
	}
	s.mu.Lock()
	s.stats.Fsyncs += uint64(synced)
	if dirDirty {
		s.stats.DirFsyncs++
	}
	s.mu.Unlock()
}

// Truncate shortens the fork to nblocks blocks (mdtruncate). Whole
// segments past the new end are truncated to zero length and kept, as
// md.c keeps inactive segments so that other holders of their file
// descriptors never write to an unlinked copy; the truncations are
// registered for fsync. The caller must first drop the fork's buffers past
// nblocks (DropRelationBuffers).
func (s *SMgr) Truncate(rel RelFileNumber, fork ForkNumber, nblocks BlockNumber) error {
	cur, err := s.NBlocks(rel, fork)
	if err != nil {
		return err
	}
	if nblocks > cur {
		return fmt.Errorf("could not truncate file %q to %d blocks: it's only %d blocks now", RelPath(rel, fork), nblocks, cur)
	}
	if nblocks == cur {
		return nil
	}
	lastSeg := uint32(0)
	if cur > 0 {
		lastSeg = uint32(cur-1) / s.cfg.SegBlocks
	}
	for segno := lastSeg; ; segno-- {
		t := SegTag{Rel: rel, Fork: fork, Segno: segno}
		segStart := uint64(segno) * uint64(s.cfg.SegBlocks)
		var keep int64
		if uint64(nblocks) > segStart {
			keep = int64(uint64(nblocks)-segStart) * BLCKSZ
		}
		s.mu.Lock()
		f, err := s.openSegLocked(t, env.OpenExisting)
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("could not truncate file %q: %w", t.path(), err)
		}
		if err := f.Truncate(keep); err != nil {
			return fmt.Errorf("could not truncate file %q to %d blocks: %w", t.path(), nblocks, err)
		}
		s.mu.Lock()
		err = s.registerLocked(t, f)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if uint64(nblocks) >= segStart || segno == 0 {
			break
		}
	}
	return nil
}

// Unlink removes every segment of the fork (mdunlink) and forgets their
// pending fsyncs (register_forget_request). The removal is durable after
// the next SyncAll. Unlike md.c, the first segment is removed at once
// rather than truncated and left until the next checkpoint: that delay
// protects relfilenumber reuse after wal_level=minimal optimisations,
// which this engine does not have.
func (s *SMgr) Unlink(rel RelFileNumber, fork ForkNumber) error {
	if err := checkFork(fork); err != nil {
		return err
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	// The loop stops at the first missing segment, as mdunlinkfork's does;
	// inactive zero-length segments are removed with the rest.
	for segno := uint32(0); ; segno++ {
		t := SegTag{Rel: rel, Fork: fork, Segno: segno}
		s.mu.Lock()
		delete(s.pending, t)
		f := s.files[t]
		delete(s.files, t)
		s.mu.Unlock()
		if f != nil {
			if err := f.Close(); err != nil {
				return fmt.Errorf("could not close file %q: %w", t.path(), err)
			}
		}
		err := s.e.Disk.Remove(t.path())
		if errors.Is(err, env.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("could not remove file %q: %w", t.path(), err)
		}
		s.mu.Lock()
		s.dirDirty = true
		s.mu.Unlock()
	}
}

// Close closes every open file. Pending fsync requests are dropped: call
// SyncAll first if they matter.
func (s *SMgr) Close() error {
	s.mu.Lock()
	tags := make([]SegTag, 0, len(s.files))
	for t := range s.files {
		tags = append(tags, t)
	}
	slices.SortFunc(tags, compareSegTag)
	files := make([]env.File, len(tags))
	for i, t := range tags {
		files[i] = s.files[t]
		delete(s.files, t)
	}
	clear(s.pending)
	s.mu.Unlock()
	var first error
	for _, f := range files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
