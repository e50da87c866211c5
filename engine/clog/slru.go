package clog

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// This file is the clog's simple LRU buffer manager, after PostgreSQL's
// src/backend/access/transam/slru.c: a fixed array of page slots, found by
// linear search, replaced least recently used first, written with the WAL
// flushed first, and read from and written to segment files of
// PagesPerSegment pages. Every function here is called with c.lock held.

// slot is one page buffer and its state (the per-slot arrays of
// SlruSharedData: page_buffer, page_status, page_dirty, page_number,
// page_lru_count, and clog's group_lsn).
type slot struct {
	// valid: the slot holds page pageno (SLRU_PAGE_VALID); otherwise it is
	// SLRU_PAGE_EMPTY. There are no in-progress states: I/O happens with
	// the control lock held.
	valid  bool
	dirty  bool
	pageno uint64
	lru    uint64 // the value of lruCount when the page was last used
	data   []byte // PageSize bytes
	// groupLSN is the largest asynchronous-commit LSN of each group of
	// XactsPerLSNGroup xids since the page was read or zeroed, and maxLSN
	// the largest of them: the WAL must be flushed up to maxLSN before the
	// page is written (SlruPhysicalWritePage's max_lsn).
	groupLSN []wal.LSN
	maxLSN   wal.LSN
}

// maxSlotAttempts bounds the loops that look for a buffer. Each round
// writes one dirty victim, which stays clean unless another process
// dirties it while the WAL is flushed, so a handful of rounds per slot is
// plenty; hitting the bound is an engine bug.
const maxSlotAttempts = 64 * MaxBuffers

// touch marks slot i as just used (SlruRecentlyUsed).
func (c *CLOG) touch(i int) {
	c.lruCount++
	c.slots[i].lru = c.lruCount
}

// find returns the slot holding pageno, or -1.
func (c *CLOG) find(pageno uint64) int {
	for i := range c.slots {
		if c.slots[i].valid && c.slots[i].pageno == pageno {
			return i
		}
	}
	return -1
}

// victim chooses the slot to reuse for a page not in memory
// (SlruSelectLRUPage): an empty slot if there is one, otherwise the least
// recently used page other than the latest page, which new xids are being
// recorded on and which would be read back at once. Ties go to the lowest
// slot number, so the choice is deterministic.
func (c *CLOG) victim() int {
	best := -1
	for i := range c.slots {
		s := &c.slots[i]
		if !s.valid {
			if s.data == nil {
				s.data = make([]byte, PageSize)
				s.groupLSN = make([]wal.LSN, LSNsPerPage)
			}
			return i
		}
		if c.hasLatest && s.pageno == c.latestPage {
			continue
		}
		if best < 0 || s.lru < c.slots[best].lru {
			best = i
		}
	}
	if best < 0 {
		panic("clog: no buffer can be evicted")
	}
	return best
}

// readPage returns the slot holding pageno, reading the page from its
// segment when it is not in memory (SimpleLruReadPage). xid names the
// transaction in error messages. Writing a dirty victim may release and
// retake the lock (see writeSlot), so the search starts over after it.
func (c *CLOG) readPage(pageno, xid uint64) (int, error) {
	for range maxSlotAttempts {
		if i := c.find(pageno); i >= 0 {
			c.touch(i)
			return i, nil
		}
		v := c.victim()
		if s := &c.slots[v]; s.valid && s.dirty {
			if err := c.writeSlot(v); err != nil {
				return -1, err
			}
			c.stats.Evictions++
			continue
		}
		s := &c.slots[v]
		s.valid = false
		if err := c.physicalRead(pageno, xid, s.data); err != nil {
			return -1, err
		}
		c.fill(v, pageno)
		return v, nil
	}
	panic(fmt.Sprintf("clog: found no buffer for page %d", pageno))
}

// zeroPage puts a zeroed, dirty page pageno in a buffer and makes it the
// latest page (SimpleLruZeroPage). The page is not written.
func (c *CLOG) zeroPage(pageno uint64) (int, error) {
	for range maxSlotAttempts {
		i := c.find(pageno)
		if i < 0 {
			i = c.victim()
			if s := &c.slots[i]; s.valid && s.dirty {
				if err := c.writeSlot(i); err != nil {
					return -1, err
				}
				c.stats.Evictions++
				continue
			}
		}
		clear(c.slots[i].data)
		c.fill(i, pageno)
		c.slots[i].dirty = true
		c.latestPage, c.hasLatest = pageno, true
		return i, nil
	}
	panic(fmt.Sprintf("clog: found no buffer for page %d", pageno))
}

// fill makes slot i hold pageno as just read or zeroed: clean, with no
// group LSNs (SimpleLruZeroLSNs).
func (c *CLOG) fill(i int, pageno uint64) {
	s := &c.slots[i]
	s.valid, s.dirty, s.pageno = true, false, pageno
	clear(s.groupLSN)
	s.maxLSN = wal.InvalidLSN
	c.touch(i)
}

// writeSlot writes slot i's page if it is dirty (SlruInternalWritePage and
// SlruPhysicalWritePage). WAL before data: the WAL is first flushed up to
// the page's largest group LSN. The flush runs without the control lock,
// as PostgreSQL's does (it holds only the buffer's I/O lock then), so that
// other processes can use the clog while the WAL is fsynced. Afterwards the
// slot may hold another page or have been written by someone else, which
// is then enough; or a new asynchronous commit may have raised its LSN,
// which is flushed with the lock held (the WAL never calls back into the
// clog, so this cannot deadlock, and it bounds the retries to one). On a
// write error the page stays dirty, so a later attempt writes it.
func (c *CLOG) writeSlot(i int) error {
	s := &c.slots[i]
	if !s.valid || !s.dirty {
		return nil
	}
	pageno := s.pageno
	if c.wal != nil && s.maxLSN != wal.InvalidLSN && c.wal.NeedsFlush(s.maxLSN) {
		lsn := s.maxLSN
		c.stats.WALFlushes++
		c.lock.Unlock()
		c.wal.Flush(lsn)
		c.lock.Lock()
		s = &c.slots[i]
		if !s.valid || !s.dirty || s.pageno != pageno {
			return nil
		}
		if c.wal.NeedsFlush(s.maxLSN) {
			c.stats.WALFlushes++
			c.wal.Flush(s.maxLSN)
		}
	}
	c.e.Inject("clog-before-write")
	if err := c.physicalWrite(pageno, s.data); err != nil {
		return err
	}
	s.dirty = false
	c.stats.Writes++
	c.e.Inject("clog-after-write")
	return nil
}

// physicalRead reads page pageno into buf (SlruPhysicalReadPage). A missing
// segment file reads as zeroes in recovery, as PostgreSQL does ("file
// doesn't exist, reading as zeroes"): a page whose CLOG_ZEROPAGE record is
// replayed later, or whose file creation was lost with the rest of the
// unsynced state, is rebuilt by redo. Outside recovery a missing file is an
// error. A short read is an error in recovery too, as in PostgreSQL: a file
// that exists was created by a page write, and a checkpoint or a
// RedoZeroPage writes every page that a replayed record can touch.
func (c *CLOG) physicalRead(pageno, xid uint64, buf []byte) error {
	path := SegmentPath(SegmentOf(pageno))
	off := int64(pageno%PagesPerSegment) * PageSize
	f, err := c.e.Disk.Open(path, env.OpenExisting)
	if err != nil {
		if errors.Is(err, env.ErrNotExist) && c.inRecovery {
			c.e.Logf("clog: file %q doesn't exist, reading page %d as zeroes", path, pageno)
			clear(buf)
			c.stats.ZeroReads++
			return nil
		}
		return fmt.Errorf("could not access status of transaction %d: could not open file %q: %w", xid, path, err)
	}
	defer f.Close()
	n, err := f.ReadAt(buf, off)
	if n != len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return fmt.Errorf("could not access status of transaction %d: could not read from file %q at offset %d: read only %d of %d bytes", xid, path, off, n, len(buf))
		}
		return fmt.Errorf("could not access status of transaction %d: could not read from file %q at offset %d: %w", xid, path, off, err)
	}
	c.stats.Reads++
	return nil
}

// physicalWrite writes page pageno from buf (SlruPhysicalWritePage),
// creating the segment file if needed, and records the segment for the
// next checkpoint's fsync and, for a new file, pg_xact's.
func (c *CLOG) physicalWrite(pageno uint64, buf []byte) error {
	seg := SegmentOf(pageno)
	path := SegmentPath(seg)
	off := int64(pageno%PagesPerSegment) * PageSize
	f, err := c.e.Disk.Open(path, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		// PostgreSQL opens with O_CREAT. The new directory entry is
		// durable only after the checkpoint fsyncs pg_xact.
		f, err = c.e.Disk.Open(path, env.OpenCreate)
		if err == nil {
			c.dirCreated = true
		}
	}
	if err != nil {
		return fmt.Errorf("could not write page %d of file %q: could not open it: %w", pageno, path, err)
	}
	defer f.Close()
	// The sync request is registered before the write, so that even a
	// failed write that left partial data in the cache is fsynced (or its
	// fsync fails and PANICs) at the next checkpoint.
	c.pendingSync[seg] = true
	if _, err := f.WriteAt(buf, off); err != nil {
		return fmt.Errorf("could not write to file %q at offset %d: %w", path, off, err)
	}
	return nil
}

// sortedKeys returns m's keys in increasing order, so that map order never
// reaches behaviour.
func sortedKeys(m map[uint64]bool) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
