package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// Segment recycling, as PostgreSQL 15's checkpoint does it
// (src/backend/access/transam/xlog.c: RemoveOldXlogFiles, RemoveXlogFile,
// InstallXLogFileSegment, XLOGfileslop). At the end of a checkpoint every
// segment before the one holding the REDO pointer (less what wal_keep_size
// keeps, KeepLogSeg) is no longer needed for crash recovery. Rather than
// unlink it, the checkpoint renames it into the name of a future segment,
// the first free name from the segment holding the end of WAL on, up to
// the recycling horizon XLOGfileslop computes from min_wal_size,
// max_wal_size and the distance the last checkpoints covered; only the
// segments beyond the horizon are deleted. A recycled file keeps its stale
// contents: the WAL writer later opens it under its new name and
// overwrites it page by page, and until it has, its pages name the LSNs
// of the segment it was. What stops a reader from taking them for WAL is
// the xlp_pageaddr check of XLogReaderValidatePageHeader ("unexpected
// pageaddr"), which every page read passes (page.go).
//
// A segment whose archiving is not done (no .done, XLogArchiveCheckDone)
// is neither recycled nor removed: the archive would miss it.
//
// Fault model. The rename is durable_rename: the rename, then an fsync of
// pg_wal. A power loss between the two may keep the old name or the new
// one (the simulated disk loses an unsynced directory entry change); with
// the old name the segment is an old segment again, which the next
// checkpoint recycles or removes; with the new one it is a future segment
// whose stale pages the pageaddr check rejects. Either way no byte of the
// file changes, so no WAL needed by recovery can be lost: the segment is
// before the REDO pointer of a checkpoint whose control file is durable.
// The injection points wal-before-segment-recycle and
// wal-after-segment-recycle put a crash on either side of the rename.
//
// Deviations. PostgreSQL's durable_rename also fsyncs the file before and
// after the rename; a recycled segment was fsynced when its WAL was
// flushed and has not been written since, so those fsyncs change nothing
// in the disk model and are left out. PostgreSQL serialises
// InstallXLogFileSegment with XLogFileInit under ControlFileLock; here the
// WAL writer creates segments under WALWriteLock, which the recycler takes
// around each rename instead. Recovery (Open) removes every segment after
// the end of WAL, recycled ones included, where PostgreSQL keeps them.

// XLogFileSlop is XLOGfileslop: the highest segment number a checkpoint
// whose REDO pointer is redo may recycle an old segment into. minWALSize
// and maxWALSize are min_wal_size and max_wal_size in bytes, estimate is
// CheckPointDistanceEstimate (bytes of WAL between two checkpoints) and
// completion is checkpoint_completion_target. Between the two limits
// enough segments are kept to last until the next checkpoint ends,
// assuming WAL keeps coming at the estimated rate, plus 10%.
func XLogFileSlop(c Config, redo LSN, minWALSize, maxWALSize int64, estimate, completion float64) uint64 {
	segs := func(bytes int64) uint64 { // ConvertToXSegs
		return uint64(max(bytes, 0) / c.SegmentSize)
	}
	redoSeg := c.segOf(redo)
	minSeg := redoSeg + segs(minWALSize)
	maxSeg := redoSeg + segs(maxWALSize)
	if minSeg > 0 {
		minSeg--
	}
	if maxSeg > 0 {
		maxSeg--
	}
	distance := (1.0 + completion) * estimate * 1.10
	recycle := uint64(math.Ceil((float64(redo) + distance) / float64(c.SegmentSize)))
	recycle = max(recycle, minSeg)
	return min(recycle, maxSeg)
}

// RemovalStats counts what RemoveOldXlogFiles did (CheckpointStats'
// ckpt_segs_recycled and ckpt_segs_removed).
type RemovalStats struct {
	Recycled int
	Removed  int
}

// RemoveOldXlogFiles is RemoveOldXlogFiles: every segment before the one
// holding keep whose archiving is done goes, oldest first: renamed into a
// future segment's name while free names up to recycleSeg remain, from
// the segment holding end (the end of the checkpoint record) on
// (RemoveXlogFile, InstallXLogFileSegment with find_free), deleted once
// they are used up. recycle false is wal_recycle = off: every segment is
// deleted. pg_wal is fsynced after the deletions (each recycling fsyncs it
// itself), and then the archive status files of the segments gone are
// removed (XLogArchiveCleanup), so a durable .done never disappears before
// its segment does.
func (w *WAL) RemoveOldXlogFiles(keep, end LSN, recycle bool, recycleSeg uint64) (RemovalStats, error) {
	var st RemovalStats
	segs, err := listSegmentFiles(w.e, w.cfg)
	if err != nil {
		return st, err
	}
	old := len(segs)
	for i, s := range segs {
		if s.seg >= w.cfg.segOf(keep) {
			old = i
			break
		}
	}
	done := w.archivedPrefix(segs[:old])
	if done < old {
		w.e.Sometimes("wal-removal-held-by-archive")
	}
	// Planted bug recycle-before-archived: the segments a free name
	// awaits are recycled whether or not their archiving is done.
	candidates := done
	if w.cfg.Bugs.Has(bugs.RecycleBeforeArchived) {
		candidates = old
	}
	slot := w.cfg.segOf(end)
	var gone []segFile
	removed := false
	for i, s := range segs[:candidates] { // bounded by pg_wal's segments
		if recycle && slot <= recycleSeg {
			next, ok, err := w.installRecycled(s, slot, recycleSeg)
			if err != nil {
				w.syncRemovals(removed)
				w.cleanupArchiveStatus(gone)
				return st, err
			}
			if ok {
				slot = next + 1 // Needn't recheck that slot on future iterations
				st.Recycled++
				gone = append(gone, s)
				continue
			}
			slot = recycleSeg + 1 // no free name left within the horizon
		}
		if i >= done {
			break // only the planted bug gets here: never delete an unarchived segment
		}
		if err := w.e.Disk.Remove(Dir + "/" + s.name); err != nil {
			w.syncRemovals(removed)
			w.cleanupArchiveStatus(gone)
			return st, err // .done files stay: RenotifyArchive drops orphans
		}
		removed = true
		st.Removed++
		gone = append(gone, s)
	}
	if st.Removed > 0 {
		w.e.Sometimes("wal-segment-removed")
	}
	w.syncRemovals(removed)
	w.cleanupArchiveStatus(gone)
	return st, nil
}

// syncRemovals fsyncs pg_wal after unlinks (durable_unlink's directory
// fsync, once for all of them).
func (w *WAL) syncRemovals(removed bool) {
	if !removed {
		return
	}
	if err := w.e.Disk.SyncDir(Dir); err != nil {
		w.e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
}

// installRecycled is InstallXLogFileSegment with find_free for the old
// segment old: the first segment number from slot on, at most maxSeg,
// that has no file gets old's file by durable_rename. It returns the
// number used, or false when every name up to maxSeg is taken. It holds
// WALWriteLock (see the deviations above) so that the WAL writer cannot
// create the segment between the look and the rename: the rename would
// replace a file holding flushed WAL.
func (w *WAL) installRecycled(old segFile, slot, maxSeg uint64) (uint64, bool, error) {
	w.writeLock()
	defer w.writeUnlock()
	seg := slot
	for i := 0; ; i++ { // bounded: one step per name up to maxSeg
		if seg > maxSeg {
			return 0, false, nil
		}
		if i > SegmentSizeMax {
			panic("wal: looking for a free segment name does not end")
		}
		f, err := w.e.Disk.Open(w.segmentPath(seg), env.OpenExisting)
		if errors.Is(err, env.ErrNotExist) {
			break
		}
		if err != nil {
			return 0, false, fmt.Errorf("could not stat file %q: %w", w.segmentPath(seg), err)
		}
		f.Close()
		seg++
	}
	if w.cfg.segStart(seg) < pageStart(w.written) || seg <= old.seg {
		panic(fmt.Sprintf("wal: recycling segment %s into %d, not after the end of WAL %s", old.name, seg, w.written))
	}
	from, to := Dir+"/"+old.name, w.segmentPath(seg)
	w.e.Inject("wal-before-segment-recycle")
	if err := w.e.Disk.Rename(from, to); err != nil {
		// durable_rename logs and InstallXLogFileSegment fails; the
		// segment stays old, for the next checkpoint.
		return 0, false, fmt.Errorf("could not rename file %q to %q: %w", from, to, err)
	}
	if err := w.e.Disk.SyncDir(Dir); err != nil {
		w.e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
	w.e.Inject("wal-after-segment-recycle")
	w.e.Sometimes("wal-segment-recycled")
	w.e.Logf("recycled write-ahead log file %q as %q", old.name, SegmentNameTLI(w.cfg, w.timeline(), seg))
	return seg, true, nil
}

// PageNamed reports whether b, the bytes of segment seg from its start,
// holds at offset off the header of the page written for that position:
// the magic number and an xlp_pageaddr naming it. A recycled segment's
// page not yet overwritten names the position it had in the segment it
// was. The checkers use it to tell a segment written to its end from a
// recycled one; it checks no planted bug.
func PageNamed(c Config, seg uint64, b []byte, off int64) bool {
	if off < 0 || off%PageSize != 0 || off+ShortPageHdrSize > int64(len(b)) {
		return false
	}
	h := b[off:]
	return binary.LittleEndian.Uint16(h[0:]) == PageMagic && LSN(binary.LittleEndian.Uint64(h[8:])) == c.segStart(seg)+LSN(off)
}

// PreallocXlogFiles is PreallocXlogFiles: once the WAL up to end (the end
// of a checkpoint's record) fills three quarters of its segment, the
// next segment is made now (XLogFileInitInternal), by the checkpoint,
// rather than by whichever backend's XLogFlush first crosses into it. A
// recycled segment installed there already is kept. It reports whether
// it created the segment. pgdst makes it an option (db.Config.WALPrealloc,
// off by default); PostgreSQL runs it at every checkpoint.
func (w *WAL) PreallocXlogFiles(end LSN) bool {
	if end == InvalidLSN {
		return false
	}
	if w.cfg.segOff(end-1) < w.cfg.SegmentSize/4*3 {
		return false
	}
	seg := w.cfg.segOf(end-1) + 1
	w.writeLock()
	defer w.writeUnlock()
	if w.cfg.segStart(seg) < pageStart(w.written) {
		return false // the WAL writer is past it already
	}
	f, err := w.e.Disk.Open(w.segmentPath(seg), env.OpenExisting)
	if err == nil {
		f.Close()
		return false
	}
	if !errors.Is(err, env.ErrNotExist) {
		w.e.Logf("could not stat file %q: %v", w.segmentPath(seg), err)
		return false
	}
	if f, err = w.createSegment(seg); err != nil {
		w.e.Logf("could not preallocate WAL segment %d: %v", seg, err)
		return false
	}
	f.Close()
	return true
}
