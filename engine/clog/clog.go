// Package clog owns the commit log (pg_xact): two status bits per
// transaction id, kept in 8 KiB pages cached in a few in-memory buffers and
// stored in segment files pg_xact/XXXX of 32 pages each. It mirrors
// PostgreSQL's src/backend/access/transam/clog.c on top of the simple LRU
// buffer manager of slru.c, which here lives in slru.go of this package.
//
// # What it owns and what it must never touch
//
// The package owns the pg_xact directory, its segment files, the page
// buffers that cache them and the group LSNs of those pages. It must never
// touch the heap, the shared buffer pool, the WAL files or the control file:
// it reaches the WAL only through the WALFlusher interface (XLogFlush before
// writing a page, XLogNeedsFlush for callers deciding on hint bits), and it
// writes no WAL record of its own. The caller (the transaction manager) logs
// the CLOG_ZEROPAGE record that ExtendCLOG asks for, and the commit and abort
// records whose redo calls RedoSetStatus.
//
// # Transaction ids
//
// pgdst's transaction ids are 64 bits wide and never wrap around, so there is
// no TransactionIdPrecedes modular arithmetic, no freezing horizon for the
// clog to respect and no truncation yet (TruncateCLOG is not implemented:
// with no wraparound nothing forces it, and removing segments would need a
// checkpoint first, as PostgreSQL's TruncateCLOG explains). Page numbers and
// segment numbers are plain divisions of the xid. The special xids follow
// PostgreSQL's transam.h: 0 is InvalidXid, 1 is BootstrapXid, 2 is FrozenXid
// and the first xid ever assigned is FirstNormalXid = 3. GetStatus answers for
// the special xids without reading any page, as TransactionLogFetch does:
// the bootstrap and frozen xids are committed, the invalid xid is aborted.
// Because xids never wrap, the page of the first xid is created once by
// Bootstrap (page 0; BootstrapAt for a cluster started elsewhere, as
// pg_resetwal -x starts one) and
// ExtendCLOG zeroes a page only when the first xid of that page is assigned
// (PostgreSQL also zeroes page 0 again when FirstNormalTransactionId comes
// round after a wraparound, which cannot happen here).
//
// # Fault model
//
// The clog is not crash safe by itself and does not need to be: every status
// it records comes from a WAL record (commit, abort, or the CLOG_ZEROPAGE
// record of a new page) that recovery replays from the checkpoint's REDO
// pointer. What a crash can do to pg_xact, on a disk with Linux page-cache
// semantics (see simtest/world/disk.go):
//
//   - lose any page write made since the segment's last fsync, or keep it, or
//     (torn) keep some of its 512-byte sectors and not others;
//   - lose a segment file created since the last fsync of pg_xact, or leave
//     it shorter than the pages written to it.
//
// A checkpoint (Checkpoint, CheckPointCLOG) writes every dirty page and
// fsyncs every segment written since the previous checkpoint, and pg_xact
// itself when a segment was created, before the caller writes its checkpoint
// record. So every status set before the REDO pointer is durable, and every
// status set after it has its WAL record after the REDO pointer, which redo
// applies again (RedoZeroPage, RedoSetStatus). A torn page is harmless for
// the same reason: each of its sectors holds either the old or the new bits
// of each xid, status bits only move forward (in progress, then sub-committed,
// then committed or aborted), and redo moves them forward again.
//
// WAL before data: a page that holds an asynchronous commit is written only
// after the WAL is flushed up to the page's largest group LSN, as
// SlruPhysicalWritePage's XLogFlush ensures. Otherwise a page could reach the
// disk saying "committed" while the commit record is lost, and recovery
// would keep a commit that never happened. Aborts carry no LSN and need no
// flush: if an abort record is lost, the transaction is treated as aborted
// anyway. A lost abort can leave ABORTED bits on disk for xids beyond the
// recovered nextXid; EndRecovery zeroes the rest of the current page
// (TrimCLOG) and ExtendCLOG zeroes every later page before its first xid is
// handed out, so such bits are never read for a new transaction.
//
// Pages carry no checksum, as in PostgreSQL: every bit pattern is a valid
// page, so a garbled page cannot be detected here; a short page read (a
// segment shorter than the page) is an error value.
//
// An fsync failure is a PANIC (env.Panicf), PostgreSQL's behaviour with
// data_sync_retry=off: after a failed fsync the kernel may have dropped the
// dirty pages and marked them clean, so a retry could report durability that
// does not exist.
package clog

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// Status is a transaction's state in the commit log (XidStatus).
type Status uint8

// The four statuses, with PostgreSQL's bit values; all zeroes is the initial
// state of every xid on a freshly zeroed page.
const (
	InProgress   Status = 0 // TRANSACTION_STATUS_IN_PROGRESS
	Committed    Status = 1 // TRANSACTION_STATUS_COMMITTED
	Aborted      Status = 2 // TRANSACTION_STATUS_ABORTED
	SubCommitted Status = 3 // TRANSACTION_STATUS_SUB_COMMITTED
)

var statusNames = [...]string{"in-progress", "committed", "aborted", "sub-committed"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// The special transaction ids (transam.h).
const (
	InvalidXid     uint64 = 0
	BootstrapXid   uint64 = 1
	FrozenXid      uint64 = 2
	FirstNormalXid uint64 = 3
)

// Layout constants, as in clog.c and slru.h.
const (
	PageSize         = 8192                            // BLCKSZ
	BitsPerXact      = 2                               // CLOG_BITS_PER_XACT
	XactsPerByte     = 4                               // CLOG_XACTS_PER_BYTE
	XactsPerPage     = PageSize * XactsPerByte         // CLOG_XACTS_PER_PAGE: 32768
	XactsPerLSNGroup = 32                              // CLOG_XACTS_PER_LSN_GROUP
	LSNsPerPage      = XactsPerPage / XactsPerLSNGroup // CLOG_LSNS_PER_PAGE: 1024
	PagesPerSegment  = 32                              // SLRU_PAGES_PER_SEGMENT
	XactsPerSegment  = XactsPerPage * PagesPerSegment
	statusMask       = 1<<BitsPerXact - 1 // CLOG_XACT_BITMASK
)

// Dir is the directory that holds the segment files.
const Dir = "pg_xact"

// DefaultBuffers is the number of page buffers when Config.Buffers is 0.
// MinBuffers is the fewest allowed: eviction never chooses the latest page
// (the one new xids go to), so at least one other buffer must exist.
const (
	DefaultBuffers = 8
	MinBuffers     = 2
	// MaxBuffers bounds the buffer array (and each linear page lookup).
	MaxBuffers = 1024
)

// PageOf is the page holding xid (TransactionIdToPage).
func PageOf(xid uint64) uint64 { return xid / XactsPerPage }

// SegmentOf is the segment holding page pageno.
func SegmentOf(pageno uint64) uint64 { return pageno / PagesPerSegment }

// SegmentPath is the file of segment seg: four upper-case hex digits while
// they suffice, as SlruFileName's short names, and more beyond (64-bit xids
// can need up to eleven).
func SegmentPath(seg uint64) string { return fmt.Sprintf("%s/%04X", Dir, seg) }

// WALFlusher is what the clog needs from the WAL. *wal.WAL satisfies it.
type WALFlusher interface {
	// Flush makes the WAL durable at least up to upto (XLogFlush).
	Flush(upto wal.LSN)
	// NeedsFlush reports whether lsn is beyond the durable WAL
	// (XLogNeedsFlush).
	NeedsFlush(lsn wal.LSN) bool
}

// Config sizes and positions a CLOG.
type Config struct {
	// Buffers is the number of page buffers (NUM_CLOG_BUFFERS,
	// transaction_buffers). 0 means DefaultBuffers.
	Buffers int
	// InRecovery opens the clog for the startup process (InRecovery): the
	// WAL may be nil until EndRecovery, and a page whose segment file does
	// not exist reads as zeroes instead of failing.
	InRecovery bool
	// Bugs switches on planted bugs (engine/bugs); zero in production.
	Bugs bugs.Set
}

// Stats counts the clog's I/O.
type Stats struct {
	Reads      uint64 // pages read from segment files
	Writes     uint64 // pages written
	Fsyncs     uint64 // segment fsyncs at checkpoints
	DirFsyncs  uint64 // pg_xact fsyncs at checkpoints
	WALFlushes uint64 // WAL flushes requested before a page write
	Evictions  uint64 // dirty pages written to make room
	ZeroReads  uint64 // missing pages read as zeroes in recovery
}

// CLOG is the commit log of one running node: the page buffers (the SLRU's
// shared memory) and the state of the files behind them.
//
// Locking: lock is CLogControlLock (XactSLRULock). It guards every field
// below it. It is held across page reads and writes, which PostgreSQL does
// not do (it releases the control lock and holds a per-buffer I/O lock
// while a page is being read or written): this is simpler, costs only
// concurrency between processes that touch the clog, and needs no
// READ_IN_PROGRESS and WRITE_IN_PROGRESS slot states. It is released around
// the WAL flush that precedes a page write (see writeSlot), and around the
// fsyncs of a checkpoint.
type CLOG struct {
	e    *env.Env
	lock env.Mutex

	wal        WALFlusher
	inRecovery bool
	bugs       bugs.Set
	slots      []slot
	lruCount   uint64 // cur_lru_count
	latestPage uint64 // latest_page_number: never chosen for eviction
	hasLatest  bool
	// pendingSync holds the segments written since the last checkpoint
	// took its list (the sync requests that SlruPhysicalWritePage registers
	// with the checkpointer). Its keys are sorted before use.
	pendingSync map[uint64]bool
	// dirCreated says a segment file was created since the last checkpoint,
	// so the checkpoint must fsync pg_xact for its directory entry.
	dirCreated bool
	stats      Stats
}

// Open makes the clog of a node that starts up (CLOGShmemInit). It does no
// I/O: pages are read on first use. w may be nil only with cfg.InRecovery,
// in which case EndRecovery supplies it: every LSN that recovery hands the
// clog comes from WAL that was read from disk and is therefore durable, so
// page writes during redo need no WAL flush.
func Open(e *env.Env, w WALFlusher, cfg Config) (*CLOG, error) {
	n := cfg.Buffers
	if n == 0 {
		n = DefaultBuffers
	}
	if n < MinBuffers || n > MaxBuffers {
		return nil, fmt.Errorf("clog: %d buffers is outside [%d, %d]", n, MinBuffers, MaxBuffers)
	}
	if w == nil && !cfg.InRecovery {
		return nil, fmt.Errorf("clog: a WAL is required outside recovery")
	}
	c := &CLOG{
		e:           e,
		lock:        e.Sched.NewMutex("CLogControlLock"),
		wal:         w,
		inRecovery:  cfg.InRecovery,
		bugs:        cfg.Bugs,
		slots:       make([]slot, n),
		pendingSync: make(map[uint64]bool),
	}
	// Each slot's page is allocated when the slot is first used (victim):
	// a run seldom needs more than one or two.
	return c, nil
}

// Bootstrap creates pg_xact with its first segment holding a zeroed page 0,
// durably (BootStrapCLOG, run once by initdb). The special xids below
// FirstNormalXid live on page 0 but are never looked up in it.
func Bootstrap(e *env.Env) error { return BootstrapAt(e, FirstNormalXid) }

// BootstrapAt is Bootstrap for a cluster whose first xid is nextXid, as
// initdb followed by pg_resetwal -x leaves it (pg_upgrade runs exactly
// that, after copying the old cluster's pg_xact): the zeroed page is the
// one holding nextXid, in its segment, at its offset, so that TrimCLOG
// (EndRecovery) finds it when nextXid is not the first xid of its page.
// Earlier pages are never read: no tuple carries an xid below nextXid.
// A segment written at a later page's offset reads as zeroes before it,
// as a sparse file does.
func BootstrapAt(e *env.Env, nextXid uint64) error {
	if nextXid < FirstNormalXid {
		return fmt.Errorf("clog: bootstrap with nextXid %d below the first normal xid", nextXid)
	}
	if err := e.Disk.MkdirAll(Dir); err != nil {
		return fmt.Errorf("clog: could not create directory %q: %w", Dir, err)
	}
	pageno := PageOf(nextXid)
	path := SegmentPath(SegmentOf(pageno))
	f, err := e.Disk.Open(path, env.OpenCreateExcl)
	if err != nil {
		return fmt.Errorf("clog: could not create file %q: %w", path, err)
	}
	defer f.Close()
	off := int64(pageno%PagesPerSegment) * PageSize
	if _, err := f.WriteAt(make([]byte, PageSize), off); err != nil {
		return fmt.Errorf("clog: could not write to file %q: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", path, err)
	}
	if err := e.Disk.SyncDir(Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
	if err := e.Disk.SyncDir(""); err != nil {
		e.Panicf("could not fsync the data directory: %v", err)
	}
	return nil
}

// byteAndShift locate xid's two bits within its page (TransactionIdToByte,
// TransactionIdToBIndex).
func byteAndShift(xid uint64) (int, uint) {
	idx := xid % XactsPerPage
	return int(idx / XactsPerByte), uint(idx%XactsPerByte) * BitsPerXact
}

// lsnIndex is xid's group within its page (GetLSNIndex without the slot).
func lsnIndex(xid uint64) int { return int(xid%XactsPerPage) / XactsPerLSNGroup }

// GetStatus returns xid's status and the LSN of its group: the largest
// commit-record LSN of an asynchronous commit in xid's group of
// XactsPerLSNGroup xids since the page was read or zeroed
// (TransactionIdGetStatus). A caller that wants to set a hint bit for a
// committed xid must first check that WAL is durable up to that LSN
// (SetHintBits' XLogNeedsFlush); InvalidLSN means no asynchronous commit is
// pending on the group. The special xids are answered as
// TransactionLogFetch does, with InvalidLSN. A page that cannot be read
// gives an error.
func (c *CLOG) GetStatus(xid uint64) (Status, wal.LSN, error) {
	switch {
	case xid == InvalidXid:
		return Aborted, wal.InvalidLSN, nil
	case xid < FirstNormalXid:
		return Committed, wal.InvalidLSN, nil
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	i, err := c.readPage(PageOf(xid), xid)
	if err != nil {
		return InProgress, wal.InvalidLSN, err
	}
	s := &c.slots[i]
	b, shift := byteAndShift(xid)
	return Status(s.data[b]>>shift) & statusMask, s.groupLSN[lsnIndex(xid)], nil
}

// SetStatus records xid's status (TransactionIdSetStatusBit, through
// TransactionIdSetPageStatus for a tree of one). commitLSN is the end of the
// commit record for an asynchronous commit, and InvalidLSN otherwise (a
// synchronous commit has flushed its record already; an abort needs no
// flush): it raises the group LSN of xid's group and the page's largest LSN,
// which writing the page must flush the WAL up to first.
//
// Status moves forward only: from in progress to any final status, from
// sub-committed to committed or aborted, or to the status it has already.
// Anything else, a special xid, or InProgress as the new status is a caller
// bug and panics, as clog.c's assertions would. A page that cannot be read
// gives an error and changes nothing.
func (c *CLOG) SetStatus(xid uint64, status Status, commitLSN wal.LSN) error {
	if xid < FirstNormalXid {
		panic(fmt.Sprintf("clog: SetStatus of special xid %d", xid))
	}
	if status == InProgress || status > SubCommitted {
		panic(fmt.Sprintf("clog: SetStatus of xid %d to %s", xid, status))
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	i, err := c.readPage(PageOf(xid), xid)
	if err != nil {
		return err
	}
	if cur := c.statusAt(i, xid); !(cur == InProgress || cur == status || (cur == SubCommitted && status != SubCommitted)) {
		panic(fmt.Sprintf("clog: xid %d cannot go from %s to %s", xid, cur, status))
	}
	if c.bugs.Has(bugs.ClogStatusLostUpdate) {
		if i, err = c.relockStale(i, xid); err != nil {
			return err
		}
	}
	c.setStatusBits(i, xid, status, commitLSN)
	return nil
}

// relockStale is planted bug clog-status-lost-update: SetStatus reads
// xid's status byte under the control lock, gives the lock up and takes it
// again (as code that reads a page under a shared lock and upgrades to an
// exclusive one does), then stores the byte it read before storing xid's
// own bits. TransactionIdSetStatusBit changes the byte in place under one
// exclusive hold; here a commit or abort of another xid of the same byte
// (four xids share one) that lands while the lock was free is overwritten,
// and that transaction reads as in progress for ever: once it leaves the
// proc array, readers take it for aborted. It returns xid's slot, which
// may have moved.
func (c *CLOG) relockStale(i int, xid uint64) (int, error) {
	b, _ := byteAndShift(xid)
	stale := c.slots[i].data[b]
	c.lock.Unlock()
	c.lock.Lock() // a scheduling point: another SetStatus may run here
	i, err := c.readPage(PageOf(xid), xid)
	if err != nil {
		return i, err
	}
	c.slots[i].data[b] = stale
	return i, nil
}

// statusAt reads xid's bits from slot i, which holds xid's page.
func (c *CLOG) statusAt(i int, xid uint64) Status {
	b, shift := byteAndShift(xid)
	return Status(c.slots[i].data[b]>>shift) & statusMask
}

// setStatusBits stores xid's bits in slot i, marks the page dirty and
// raises the group and page LSNs (TransactionIdSetStatusBit).
func (c *CLOG) setStatusBits(i int, xid uint64, status Status, lsn wal.LSN) {
	s := &c.slots[i]
	if !s.valid || s.pageno != PageOf(xid) {
		panic(fmt.Sprintf("clog: slot %d does not hold the page of xid %d", i, xid))
	}
	b, shift := byteAndShift(xid)
	s.data[b] = s.data[b]&^(statusMask<<shift) | byte(status)<<shift
	s.dirty = true
	if lsn != wal.InvalidLSN {
		if g := lsnIndex(xid); s.groupLSN[g] < lsn {
			s.groupLSN[g] = lsn
		}
		if s.maxLSN < lsn {
			s.maxLSN = lsn
		}
	}
}

// ExtendCLOG makes room for a newly assigned xid: when xid is the first of
// its page, it zeroes that page in a buffer (ZeroCLOGPage, without writing
// it) and reports true, and the caller must then insert a CLOG_ZEROPAGE WAL
// record for PageOf(xid), whose redo is RedoZeroPage. For every other xid it
// does nothing. PostgreSQL inserts that record itself, under the control
// lock; here the WAL belongs to the caller. The order is still safe: until
// the record exists, the page holds only zeroes, whose loss or early write
// changes no status. The caller must insert that record before it hands out
// any later xid (GetNewTransactionId holds XidGenLock across ExtendCLOG), so
// that a durable record of a later xid implies a durable CLOG_ZEROPAGE
// record for every page before it. It fails only when a dirty page had to
// be written to make room and the write failed.
func (c *CLOG) ExtendCLOG(xid uint64) (bool, error) {
	if xid%XactsPerPage != 0 || xid < FirstNormalXid {
		return false, nil
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	if _, err := c.zeroPage(PageOf(xid)); err != nil {
		return false, err
	}
	c.e.Sometimes("clog-page-extended")
	return true, nil
}

// RedoZeroPage replays a CLOG_ZEROPAGE record (clog_redo): it zeroes the
// page and writes it at once, as clog_redo does with SimpleLruWritePage, so
// that the segment file exists and holds the page before any later record
// reads it. Replaying it twice gives the same page: every status on the page
// comes from records after it, which redo replays again.
func (c *CLOG) RedoZeroPage(pageno uint64) error {
	c.lock.Lock()
	defer c.lock.Unlock()
	i, err := c.zeroPage(pageno)
	if err != nil {
		return err
	}
	return c.writeSlot(i)
}

// RedoSetStatus replays the status that a commit or abort record gives xid
// (xact_redo_commit and xact_redo_abort calling TransactionIdCommitTree or
// TransactionIdAbortTree). lsn is the record's LSN; it is kept as the group
// LSN as PostgreSQL does on a standby (TransactionIdAsyncCommitTree in
// xact_redo_commit), where its crash recovery passes InvalidXLogRecPtr
// instead: the record was read from durable WAL, so either choice makes a
// hint-bit check pass and a page write's WAL flush a no-op.
//
// Redo is idempotent: replaying the same record again, or a sub-commit after
// the final status it led to (a page written after the commit and then
// replayed from before it), leaves the final status. A record that
// contradicts a final status (committed then aborted, or the reverse) means
// the clog or the WAL is corrupt, and is an error.
func (c *CLOG) RedoSetStatus(xid uint64, status Status, lsn wal.LSN) error {
	if xid < FirstNormalXid || status == InProgress || status > SubCommitted {
		return fmt.Errorf("clog: redo of invalid status %s for xid %d", status, xid)
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	i, err := c.readPage(PageOf(xid), xid)
	if err != nil {
		return err
	}
	cur := c.statusAt(i, xid)
	switch {
	case cur == InProgress || cur == status || (cur == SubCommitted && status != SubCommitted):
		c.setStatusBits(i, xid, status, lsn)
	case status == SubCommitted:
		// Already past sub-committed: the page was written after the
		// transaction finished. Keep the final status.
	default:
		return fmt.Errorf("clog: redo sets xid %d to %s, but the clog says %s", xid, status, cur)
	}
	return nil
}

// EndRecovery ends recovery (TrimCLOG): it sets the WAL that page writes
// flush from now on (w may be nil if Open was given one), and zeroes every
// status from nextXid to the end of its page. Those xids were never
// assigned as far as the recovered WAL knows, but a page written before the
// crash can hold ABORTED bits for them (aborts are not flushed); they will be
// assigned again and must start in progress. Pages after nextXid's page
// need nothing: ExtendCLOG zeroes each before its first xid is assigned.
// A missing segment still reads as zeroes here, because the page of nextXid
// need not exist yet when nextXid is the first xid of a page (nothing is then
// read) or when its only changes were lost with the WAL.
//
// The trim is not WAL-logged, so the caller must make it durable with the
// end-of-recovery checkpoint (Checkpoint) before it assigns any xid, as
// StartupXLOG does: otherwise a crash could bring the stale bits back under
// a reassigned xid, and redo of that xid's commit would find them and fail.
func (c *CLOG) EndRecovery(w WALFlusher, nextXid uint64) error {
	if nextXid < FirstNormalXid {
		return fmt.Errorf("clog: EndRecovery with nextXid %d", nextXid)
	}
	c.lock.Lock()
	defer c.lock.Unlock()
	if w != nil {
		c.wal = w
	}
	if c.wal == nil {
		return fmt.Errorf("clog: EndRecovery without a WAL")
	}
	pageno := PageOf(nextXid)
	c.latestPage, c.hasLatest = pageno, true
	if nextXid%XactsPerPage != 0 {
		i, err := c.readPage(pageno, nextXid)
		if err != nil {
			return err
		}
		s := &c.slots[i]
		b, shift := byteAndShift(nextXid)
		s.data[b] &= byte(1)<<shift - 1
		clear(s.data[b+1:])
		s.dirty = true
	}
	c.inRecovery = false
	return nil
}

// Checkpoint makes every status set so far durable (CheckPointCLOG, which
// is SimpleLruWriteAll followed by the checkpointer's processing of the sync
// requests): it writes each dirty page, after flushing the WAL up to the
// page's LSN, then fsyncs every segment written since the last checkpoint,
// and pg_xact if a segment was created. The caller writes its checkpoint
// record only after this returns. A write error is returned (the checkpoint
// fails and is retried); an fsync error is a PANIC.
//
// Pages dirtied while the checkpoint runs may stay dirty, as
// SimpleLruWriteAll allows: their changes come from WAL records after the
// REDO pointer, which recovery replays.
func (c *CLOG) Checkpoint() error {
	c.lock.Lock()
	for i := range c.slots {
		if c.slots[i].valid && c.slots[i].dirty {
			if err := c.writeSlot(i); err != nil {
				c.lock.Unlock()
				return err
			}
		}
	}
	segs := sortedKeys(c.pendingSync)
	clear(c.pendingSync)
	syncDir := c.dirCreated
	c.dirCreated = false
	c.lock.Unlock()

	// The fsyncs run without the control lock, as the checkpointer's
	// ProcessSyncRequests does. A segment written meanwhile is put back on
	// the pending list by its writer and synced by the next checkpoint; its
	// status changes are after the REDO pointer.
	for k, seg := range segs {
		path := SegmentPath(seg)
		f, err := c.e.Disk.Open(path, env.OpenExisting)
		if err != nil {
			// Nothing was lost yet: the written pages are still in the
			// kernel's cache. Put the unsynced segments back and fail
			// this checkpoint, as a failed open in ProcessSyncRequests
			// leaves the request queued.
			c.lock.Lock()
			for _, s := range segs[k:] {
				c.pendingSync[s] = true
			}
			c.dirCreated = c.dirCreated || syncDir
			c.lock.Unlock()
			return fmt.Errorf("clog: could not open file %q to fsync it: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			c.e.Panicf("could not fsync file %q: %v", path, err)
		}
		_ = f.Close()
	}
	if syncDir {
		if err := c.e.Disk.SyncDir(Dir); err != nil {
			c.e.Panicf("could not fsync directory %q: %v", Dir, err)
		}
	}
	c.lock.Lock()
	c.stats.Fsyncs += uint64(len(segs))
	if syncDir {
		c.stats.DirFsyncs++
	}
	c.lock.Unlock()
	c.e.Inject("clog-after-fsync")
	return nil
}

// Stats returns the I/O counters.
func (c *CLOG) Stats() Stats {
	c.lock.Lock()
	defer c.lock.Unlock()
	return c.stats
}
