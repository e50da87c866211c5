package simtest

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// archiveChecker holds the archiver (engine/proc/archiver.go) and the WAL's
// archive status (engine/wal/archive.go) to PostgreSQL's promise, reading
// only the disk, never the engine's own bookkeeping:
//
//   - .ready only for a completed segment (XLogWrite calls
//     XLogArchiveNotifySeg once the segment is finished; a segment is
//     finished when its switch record is durable, as every segment ends
//     with one here): judged when the status file is created;
//   - .done only once the archive holds a durable copy equal to the
//     completed segment (pgarch_archiveXlog reports success only after
//     archive_command did, and the command must not return before the
//     copy is safe; pgarch_archiveDone then renames .ready to .done):
//     judged at the rename;
//   - a completed segment leaves pg_wal only once archived
//     (RemoveOldXlogFiles asks XLogArchiveCheckDone): judged at the
//     removal, or at the rename that recycles it into a future
//     segment's name, which needs a .done and a durable, equal copy;
//   - after the crash and recovery (afterRecovery): every segment whose
//     .done is durable is in the archive, durably, complete and equal to
//     the segment the engine completed, every completed segment still in
//     pg_wal durably holds what it held when completed, and no segment
//     older than pg_wal's oldest is missing from the archive (archive_mode
//     is on from initdb, so every segment ever removed had to be archived
//     first).
//
// "Equal" is against the content the segment had when it was first seen
// complete (its CRC is remembered), which no later write may change: a
// completed segment is never written again, and recovery truncates only
// the segment it ends in, which is not complete.
type archiveChecker struct {
	res  *Result
	disk *world.SimDisk
	cfg  wal.Config
	dir  string
	// completed remembers, per segment first seen complete, the length and
	// CRC-32C of its content then (bounded by the run's segments).
	completed map[uint64]segDigest
	// removed holds the completed segments removed from pg_wal since: a
	// segment of that number written again (only after a fault that
	// destroyed WAL made recovery end before it) is a new segment, whose
	// digest replaces the old one.
	removed map[uint64]bool
}

// segDigest identifies a completed segment's content.
type segDigest struct {
	n   int
	crc uint32
}

var archiveCRCTable = crc32.MakeTable(crc32.Castagnoli)

func digestOf(b []byte) segDigest {
	return segDigest{n: len(b), crc: crc32.Checksum(b, archiveCRCTable)}
}

func newArchiveChecker(res *Result, disk *world.SimDisk, cfg wal.Config, dir string) *archiveChecker {
	return &archiveChecker{res: res, disk: disk, cfg: cfg, dir: dir, completed: map[uint64]segDigest{}, removed: map[uint64]bool{}}
}

// completeLen returns how much of b, a segment's content, is the
// complete segment, and whether it is complete: a segment is complete
// once it is written to its end (records cross into the next segment) or
// once its switch record is (the rest of the segment is never written).
// Records are read as recovery reads them (wal.NewMemReader checks each
// page header and CRC); a record that does not read ends the segment's
// valid records.
func (c *archiveChecker) completeLen(seg uint64, b []byte) (int, bool) {
	full := int64(len(b)) == c.cfg.SegmentSize
	if full && wal.PageNamed(c.cfg, seg, b, c.cfg.SegmentSize-wal.PageSize) {
		// Written to its last page. A recycled segment (wal/recycle.go)
		// is as long before it is written, but its last page still
		// names the segment it was.
		return len(b), true
	}
	start, ok := wal.FirstRecordInSegment(c.cfg, seg, b)
	if !ok {
		return 0, false
	}
	r, err := wal.NewMemReader(c.cfg, func(s uint64) []byte {
		if s == seg {
			return b
		}
		return nil
	}, start, wal.InvalidLSN)
	if err != nil {
		return 0, false
	}
	for i := 0; i < len(b); i++ { // each step reads a record of b
		if _, ok, err := r.Next(); err != nil || !ok {
			break
		}
	}
	if r.Switches == 0 {
		return 0, false
	}
	n := int(uint64(r.SwitchEnd) - seg*uint64(c.cfg.SegmentSize))
	if n <= 0 || n > len(b) {
		return 0, false
	}
	if full {
		// A recycled segment ended by a switch record: the engine
		// writes its padding to the end, and the segment is the whole
		// file, as PostgreSQL's always is.
		return len(b), true
	}
	return n, true
}

// segmentOf parses a path inside dir naming a segment, with an optional
// suffix that must then be present.
func (c *archiveChecker) segmentOf(path, dir, suffix string) (uint64, bool) {
	name, ok := strings.CutPrefix(path, dir+"/")
	if !ok {
		return 0, false
	}
	if suffix != "" {
		if name, ok = strings.CutSuffix(name, suffix); !ok {
			return 0, false
		}
	}
	return wal.ParseSegmentName(c.cfg, name)
}

// durableComplete returns the durable content of pg_wal's segment seg if
// it is complete. The first time, it reads the segment's records to find
// its switch record and remembers the complete length and digest; later
// it only checks that the length is still there (archivedCopy compares
// any copy with both the bytes and the digest).
func (c *archiveChecker) durableComplete(seg uint64) ([]byte, bool) {
	dur, ok := c.disk.DurableFile(wal.SegmentPath(c.cfg, seg))
	if !ok {
		return nil, false
	}
	d, seen := c.completed[seg]
	if seen && !c.removed[seg] && len(dur) >= d.n {
		return dur[:d.n], true
	}
	n, ok := c.completeLen(seg, dur)
	if !ok {
		return nil, false
	}
	if !seen || c.removed[seg] {
		c.completed[seg] = digestOf(dur[:n])
		delete(c.removed, seg)
	}
	return dur[:n], true
}

// archivedCopy judges the archive's durable copy of seg against the
// completed segment (want, its durable content in pg_wal, nil if gone; and
// its digest, if it was seen complete), and says what is wrong (its zero
// value if nothing).
func (c *archiveChecker) archivedCopy(seg uint64, want []byte) archiveCopy {
	path := c.dir + "/" + wal.SegmentName(c.cfg, seg)
	cp, ok := c.disk.DurableFile(path)
	if !ok {
		return archiveCopy{what: CopyMissing, path: path}
	}
	d, seen := c.completed[seg]
	if want == nil && !seen {
		// Never seen complete in pg_wal: the copy must at least be a
		// complete segment.
		n, complete := c.completeLen(seg, cp)
		switch {
		case !complete:
			return archiveCopy{what: CopyIncomplete, path: path, got: len(cp)}
		case n != len(cp):
			return archiveCopy{what: CopyTrailing, path: path, got: len(cp), want: n}
		}
		return archiveCopy{}
	}
	n := len(want)
	if want == nil {
		n = d.n
	}
	switch {
	case len(cp) != n:
		return archiveCopy{what: CopySize, path: path, got: len(cp), want: n}
	case want != nil && !bytes.Equal(cp, want):
		return archiveCopy{what: CopyDiffers, path: path, got: len(cp), want: n, inPGWAL: true}
	case want == nil && digestOf(cp) != d:
		return archiveCopy{what: CopyDiffers, path: path, got: len(cp), want: n}
	}
	return archiveCopy{}
}

// archiveCopy is what is wrong with an archived copy (what: a Copy*
// constant, "" if nothing): the copy's path, its durable length and the
// completed segment's.
type archiveCopy struct {
	what      string
	path      string
	got, want int
	inPGWAL   bool // CopyDiffers: judged against pg_wal's segment, else its digest
}

func (a archiveCopy) bad() bool { return a.what != "" }

func (a archiveCopy) String() string {
	switch a.what {
	case CopyMissing:
		return "the archive holds no durable " + a.path
	case CopyIncomplete:
		return fmt.Sprintf("the durable %s is not a complete segment (%d bytes, no switch record)", a.path, a.got)
	case CopyTrailing:
		return fmt.Sprintf("the durable %s holds %d bytes past its switch record", a.path, a.got-a.want)
	case CopySize:
		return fmt.Sprintf("the durable %s holds %d bytes, not the completed segment's %d", a.path, a.got, a.want)
	case CopyDiffers:
		if a.inPGWAL {
			return fmt.Sprintf("the durable %s differs from the completed segment in pg_wal", a.path)
		}
		return fmt.Sprintf("the durable %s differs from the segment as it was completed", a.path)
	}
	return ""
}

// archiveFinding is the Finding of an archive failure of kind what on seg,
// with cp what was wrong with its copy (zero if not judged).
func (c *archiveChecker) archiveFinding(what string, seg uint64, cp archiveCopy) Finding {
	return Finding{Checker: CheckArchive, Archive: what, Segment: wal.SegmentName(c.cfg, seg), Copy: cp.what, CopyBytes: cp.got, WantBytes: cp.want}
}

// diskOp judges the archive status changes and segment removals as they
// start (world.Node.Watch).
func (c *archiveChecker) diskOp(op world.DiskOp) {
	switch op.Kind {
	case world.OpOpen:
		// Only XLogArchiveNotify opens a .ready file (to create it).
		seg, ok := c.segmentOf(op.Path, wal.StatusDir, ".ready")
		if !ok {
			return
		}
		c.res.Online.judged(countArchiveReady, 1)
		if _, complete := c.durableComplete(seg); !complete {
			c.res.found(c.archiveFinding(ArchiveReadyEarly, seg, archiveCopy{}))
			c.res.fail(CheckArchive, "%s is created, but segment %s is not complete and durable in pg_wal (a segment is notified for archiving only once finished)",
				op.Path, wal.SegmentName(c.cfg, seg))
		}
	case world.OpRename:
		seg, ok := c.segmentOf(op.Path2, wal.StatusDir, ".done")
		if !ok {
			c.segmentLeaves(op)
			return
		}
		c.res.Online.judged(countArchiveDone, 1)
		want, complete := c.durableComplete(seg)
		if !complete {
			if _, seen := c.completed[seg]; !seen {
				c.res.found(c.archiveFinding(ArchiveDoneNeverComplete, seg, archiveCopy{}))
				c.res.fail(CheckArchive, "%s marks segment %s archived, but it was never complete and durable in pg_wal",
					op.Path2, wal.SegmentName(c.cfg, seg))
				return
			}
			want = nil // gone from pg_wal: judged against its digest
		}
		if why := c.archivedCopy(seg, want); why.bad() {
			c.res.found(c.archiveFinding(ArchiveDoneBadCopy, seg, why))
			c.res.fail(CheckArchive, "segment %s is marked archived (%s), but %s", wal.SegmentName(c.cfg, seg), op.Path2, why)
		}
	case world.OpRemove:
		c.segmentLeaves(op)
	}
}

// segmentLeaves judges a segment leaving pg_wal, removed or, renamed
// into a future segment's name, recycled (RemoveOldXlogFiles): a
// completed segment may leave only once archived.
func (c *archiveChecker) segmentLeaves(op world.DiskOp) {
	seg, ok := c.segmentOf(op.Path, wal.Dir, "")
	if !ok {
		return
	}
	if op.Kind == world.OpRename {
		// Recycling (RemoveXlogFile, InstallXLogFileSegment): the
		// segment leaves pg_wal under its name exactly as if it
		// were removed, and the name it takes is a new segment.
		to, ok := c.segmentOf(op.Path2, wal.Dir, "")
		if !ok {
			return
		}
		if _, seen := c.completed[to]; seen {
			c.removed[to] = true
		}
	}
	cur, _, exists := c.disk.Contents(op.Path)
	if _, complete := c.completeLen(seg, cur); !exists || !complete {
		// A segment past the end of WAL that recovery removes
		// (wal.Open) holds no completed WAL.
		return
	}
	c.res.Online.judged(countArchiveRemoved, 1)
	want, _ := c.durableComplete(seg)
	defer func() { c.removed[seg] = true }()
	// XLogArchiveCheckDone asks whether .done exists, not whether
	// its rename is durable yet: the checkpoint may remove the
	// segment between pgarch_archiveDone's rename and its directory
	// fsync. That is safe because the copy was durable before the
	// rename (judged next); a crash that loses the rename leaves a
	// .ready for a segment that is gone, which the archiver drops.
	done := wal.StatusDir + "/" + wal.SegmentName(c.cfg, seg) + ".done"
	if _, _, ok := c.disk.Contents(done); !ok {
		c.res.found(c.archiveFinding(ArchiveRemovedNotDone, seg, archiveCopy{}))
		c.res.fail(CheckArchive, "completed segment %s is removed from pg_wal, but %s does not exist (it was never archived)",
			wal.SegmentName(c.cfg, seg), done)
		return
	}
	if why := c.archivedCopy(seg, want); why.bad() {
		c.res.found(c.archiveFinding(ArchiveRemovedBadCopy, seg, why))
		c.res.fail(CheckArchive, "completed segment %s is removed from pg_wal, but %s", wal.SegmentName(c.cfg, seg), why)
	}
}

// afterRecovery judges the durable state the crash and recovery left: every
// segment with a durable .done is in the archive, durable, complete and
// equal to the segment as completed; every segment older than pg_wal's
// oldest is in the archive.
func (c *archiveChecker) afterRecovery() {
	names := c.disk.DurableNames(wal.Dir)
	oldest, found := uint64(0), false
	for _, n := range names { // sorted: segment names sort as numbers
		if seg, ok := wal.ParseSegmentName(c.cfg, n); ok {
			oldest, found = seg, true
			break
		}
	}
	if !found {
		c.res.found(Finding{Checker: CheckArchive, Archive: ArchiveNoSegment})
		c.res.fail(CheckArchive, "after recovery pg_wal durably holds no segment")
		return
	}
	judged := map[uint64]bool{}
	for _, n := range c.disk.DurableNames(wal.StatusDir) {
		base, ok := strings.CutSuffix(n, ".done")
		if !ok {
			continue
		}
		seg, ok := wal.ParseSegmentName(c.cfg, base)
		if !ok {
			continue
		}
		judged[seg] = true
		want, _ := c.durableComplete(seg)
		if why := c.archivedCopy(seg, want); why.bad() {
			c.res.found(c.archiveFinding(ArchiveRecoveredDoneBadCopy, seg, why))
			c.res.fail(CheckArchive, "after recovery segment %s is durably marked archived, but %s", base, why)
		}
	}
	c.judgeRewritten(judged)
	for seg := uint64(0); seg < oldest; seg++ { // bounded by pg_wal's oldest segment number
		if judged[seg] {
			continue
		}
		judged[seg] = true
		if why := c.archivedCopy(seg, nil); why.bad() {
			c.res.found(c.archiveFinding(ArchiveRecoveredGoneBadCopy, seg, why))
			c.res.fail(CheckArchive, "after recovery segment %s is gone from pg_wal, and %s", wal.SegmentName(c.cfg, seg), why)
		}
	}
	c.res.Online.judged(countArchiveAfterRecovery, uint64(len(judged)))
}

// judgeRewritten judges, after recovery, every segment seen complete that
// is still in pg_wal under its name: its durable content must begin with
// the segment as completed. A notified segment may be copied by the
// archiver, or streamed by a walsender, at any moment from then on, so a
// recovery that ends in a record continuing past it must not write over
// its tail (StartupXLOG's missingContrecPtr: new WAL starts at the page
// where the continuation is missing, with XLOG_OVERWRITE_CONTRECORD). The
// copies judge this only once the archiver has copied the segment again
// and a checkpoint removed it; this judges it when a crash in the
// recovery, or the run's end, comes first. The segments are judged in
// order (sorted), which bounds the loop by the run's segments.
func (c *archiveChecker) judgeRewritten(judged map[uint64]bool) {
	segs := make([]uint64, 0, len(c.completed))
	for seg := range c.completed {
		if !c.removed[seg] {
			segs = append(segs, seg)
		}
	}
	slices.Sort(segs)
	for _, seg := range segs {
		dur, ok := c.disk.DurableFile(wal.SegmentPath(c.cfg, seg))
		if !ok {
			continue // gone from pg_wal: its archived copy is judged
		}
		judged[seg] = true
		d := c.completed[seg]
		if len(dur) >= d.n && digestOf(dur[:d.n]) == d {
			continue
		}
		c.res.found(Finding{Checker: CheckArchive, Archive: ArchiveRecoveredRewritten, Segment: wal.SegmentName(c.cfg, seg), CopyBytes: len(dur), WantBytes: d.n})
		c.res.fail(CheckArchive, "after recovery completed segment %s in pg_wal durably holds other bytes than when it was completed (a completed segment is never written again)", wal.SegmentName(c.cfg, seg))
	}
}
