package wal

import (
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
)

// Timelines in segment names (XLogFileName: TTTTTTTTXXXXXXXXYYYYYYYY).
// Timeline 1's names are SegmentName's; a node that ends an archive
// recovery on a new timeline (engine/db/archive_recovery.go) writes its
// segments under the new timeline's names, and a reader that knows the
// timeline history (expectedTLEs) opens each segment under the name of
// the timeline that owns it (XLogFileReadAnyTLI). A standby's promotion
// does the same (engine/db/promote.go), and with archive mode both keep
// archive status for the new timeline's files (archive.go).

// SegmentNameTLI is the file name of segment seg of timeline tli.
func SegmentNameTLI(c Config, tli uint32, seg uint64) string {
	perID := uint64(0x100000000) / uint64(c.SegmentSize)
	return fmt.Sprintf("%08X%08X%08X", tli, seg/perID, seg%perID)
}

// SegmentPathTLI is the path of segment seg of timeline tli.
func SegmentPathTLI(c Config, tli uint32, seg uint64) string {
	return Dir + "/" + SegmentNameTLI(c, tli, seg)
}

// ParseSegmentNameTLI returns the timeline and segment number of a WAL
// file name of any timeline (IsXLogFileName, XLogFromFileName).
func ParseSegmentNameTLI(c Config, name string) (uint32, uint64, bool) {
	if len(name) != segNameChars {
		return 0, 0, false
	}
	tli, ok1 := hex8(name[0:8])
	hi, ok2 := hex8(name[8:16])
	lo, ok3 := hex8(name[16:24])
	perID := uint64(0x100000000) / uint64(c.SegmentSize)
	if !ok1 || !ok2 || !ok3 || tli == 0 || lo >= perID {
		return 0, 0, false
	}
	return uint32(tli), hi*perID + lo, true
}

// NewRestoringReader is NewReader for archive recovery: tlisFor lists,
// for a segment, the timelines whose copy of it to try, in order
// (XLogFileReadAnyTLI over expectedTLEs), and restore is called with each
// before the reader opens that copy, so that the startup process can
// fetch it from the archive into pg_wal first (XLOG_FROM_ARCHIVE before
// XLOG_FROM_PG_WAL). The first copy that exists is read.
func NewRestoringReader(e *env.Env, c Config, start, prev LSN, tlisFor func(seg uint64) []uint32, restore func(tli uint32, seg uint64)) (*Reader, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if restore == nil || tlisFor == nil {
		panic("wal: NewRestoringReader without a restore function or a timeline list")
	}
	r := &Reader{e: e, cfg: c, next: start, prev: prev, restore: restore, tlisFor: tlisFor}
	if _, err := r.openSegment(c.segOf(start)); err != nil {
		return nil, err
	}
	return r, nil
}

// openFile opens segment seg: timeline 1's file, or the first of the
// timelines tlisFor lists that has one (after restore had its chance).
func (r *Reader) openFile(seg uint64) (env.File, error) {
	if r.tlisFor == nil {
		return r.e.Disk.Open(SegmentPath(r.cfg, seg), env.OpenExisting)
	}
	err := fmt.Errorf("no timeline holds segment %d: %w", seg, env.ErrNotExist)
	for _, tli := range r.tlisFor(seg) { // bounded by the history's length
		if tli < r.curTLI {
			// Never back to an older timeline once a newer one's
			// file was read: its later segments hold WAL the newer
			// timeline replaced (XLogFileReadAnyTLI's curFileTLI).
			break
		}
		r.restore(tli, seg)
		f, oerr := r.e.Disk.Open(SegmentPathTLI(r.cfg, tli, seg), env.OpenExisting)
		if oerr == nil {
			r.curTLI = tli
		}
		if oerr == nil || !errors.Is(oerr, env.ErrNotExist) {
			return f, oerr
		}
	}
	return nil, err
}

func (w *WAL) timeline() uint32 {
	if w.tli == 0 {
		return 1
	}
	return w.tli
}

// segmentPath is the path of segment seg of the WAL's timeline.
func (w *WAL) segmentPath(seg uint64) string { return SegmentPathTLI(w.cfg, w.timeline(), seg) }

// createSegment creates segment seg of the WAL's timeline.
func (w *WAL) createSegment(seg uint64) (env.File, error) {
	return createSegmentAt(w.e, w.cfg, seg, w.segmentPath(seg))
}

// InitNewTimeline is XLogInitNewTimeline: the first segment of timeline
// newTLI is a copy of the segment holding end on timeline oldTLI, up to
// end (PostgreSQL zero-fills the rest; here the file ends there, as every
// segment this WAL opens at its end does), made durable under the new
// name (MarkPartial later renames the old timeline's copy). A missing old
// segment (end at the start of a segment never created) leaves nothing to
// copy.
func InitNewTimeline(e *env.Env, c Config, oldTLI, newTLI uint32, end LSN) error {
	if newTLI <= oldTLI {
		return fmt.Errorf("wal: new timeline %d is not after %d", newTLI, oldTLI)
	}
	seg := c.segOf(end)
	from, to := SegmentPathTLI(c, oldTLI, seg), SegmentPathTLI(c, newTLI, seg)
	in, err := e.Disk.Open(from, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	n := c.segOff(end)
	b := make([]byte, n)
	_, rerr := in.ReadAt(b, 0)
	in.Close()
	if rerr != nil {
		return fmt.Errorf("could not read file %q: %w", from, rerr)
	}
	tmp := Dir + "/xlogtemp"
	_ = e.Disk.Remove(tmp)
	out, err := e.Disk.Open(tmp, env.OpenCreateExcl)
	if err != nil {
		return fmt.Errorf("could not create file %q: %w", tmp, err)
	}
	if _, err := out.WriteAt(b, 0); err != nil {
		out.Close()
		return fmt.Errorf("could not write to file %q: %w", tmp, err)
	}
	if err := out.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", tmp, err)
	}
	out.Close()
	if err := e.Disk.Rename(tmp, to); err != nil {
		return fmt.Errorf("could not rename file %q to %q: %w", tmp, to, err)
	}
	if err := e.Disk.SyncDir(Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
	e.Sometimes("wal-new-timeline-segment")
	return nil
}

// MarkPartial renames the old timeline's copy of the segment holding end
// to .partial (CleanupAfterArchiveRecovery), once the end-of-recovery
// checkpoint has put the new timeline in the control file: a crash
// before then recovers on the old timeline, from that very file. It
// returns the .partial file's name, "" when there was no such copy. With
// archive mode the .partial is then notified for archiving (XLogArchiveCleanup
// of any status it had, the rename, XLogArchiveNotify), so that the old
// timeline's last WAL reaches the archive under a name recovery never
// reads by itself, and cannot collide with the complete segment the old
// timeline's server may still archive. (PostgreSQL keeps the old name,
// and archives it as it is, when the segment already had .ready or .done:
// it was complete; here the switch point's segment never is.)
func MarkPartial(e *env.Env, c Config, oldTLI uint32, end LSN) (string, error) {
	from := SegmentPathTLI(c, oldTLI, c.segOf(end))
	name := SegmentNameTLI(c, oldTLI, c.segOf(end)) + ".partial"
	if c.ArchiveMode {
		a := NewArchiveStatus(e, c)
		if err := a.CleanupFile(name); err != nil {
			return "", err
		}
	}
	if err := e.Disk.Rename(from, from+".partial"); err != nil {
		if errors.Is(err, env.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("could not rename file %q to %q: %w", from, from+".partial", err)
	}
	if err := e.Disk.SyncDir(Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
	if c.ArchiveMode {
		if err := NewArchiveStatus(e, c).NotifyFile(name); err != nil {
			e.Logf("could not notify %s for archiving: %v", name, err)
		} else {
			e.Sometimes("archive-partial-notified")
		}
	}
	return name, nil
}

// openOnNewTimeline is OpenOnTimeline for tli > 1: every segment file
// after end's, of any timeline, is removed (they hold WAL past the end of
// recovery, restored from the archive or left by an old timeline), and
// end's segment of timeline tli is opened (InitNewTimeline made it) or
// created, and cut at end. With archive mode, the archive status is
// repaired as Open repairs it, for this timeline's segments (renotify).
func openOnNewTimeline(e *env.Env, c Config, tli uint32, end, last LSN) (*WAL, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.validPos(end) {
		return nil, fmt.Errorf("wal: invalid end of WAL %s", end)
	}
	seg := c.segOf(end)
	names, err := e.Disk.List(Dir)
	if err != nil {
		return nil, err
	}
	removed := false
	for _, n := range names {
		if _, s, ok := ParseSegmentNameTLI(c, n); ok && s > seg {
			if err := e.Disk.Remove(Dir + "/" + n); err != nil {
				return nil, err
			}
			removed = true
		}
	}
	path := SegmentPathTLI(c, tli, seg)
	f, err := e.Disk.Open(path, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		f, err = createSegmentAt(e, c, seg, path)
	}
	if err != nil {
		return nil, fmt.Errorf("wal: could not open segment: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size != c.segOff(end) {
		if err := f.Truncate(c.segOff(end)); err != nil {
			return nil, err
		}
		if err := f.Sync(); err != nil {
			e.Panicf("could not fsync file %q: %v", f.Path(), err)
		}
	}
	if removed {
		if err := e.Disk.SyncDir(Dir); err != nil {
			e.Panicf("could not fsync directory %q: %v", Dir, err)
		}
	}
	if c.ArchiveMode {
		files, err := listSegmentFiles(e, c)
		if err == nil {
			err = renotify(e, c, files, seg, tli)
		}
		if err != nil {
			e.Logf("could not repair archive status: %v", err)
		}
	}
	return newWAL(e, c, tli, end, last, seg, f), nil
}
