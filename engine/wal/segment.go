package wal

import (
	"errors"
	"fmt"
	"sort"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
)

// Segments. The WAL stream is cut into files of SegmentSize bytes named as
// PostgreSQL names them (timeline 1): pg_wal/000000010000000000000003 holds
// LSNs [3*SegmentSize, 4*SegmentSize). Each segment is a sequence of pages
// (page.go) whose first has the long page header, so that a file holding
// the wrong segment is never read as WAL. Records cross page and segment
// boundaries as continuation records; a switch record (XLOG_SWITCH) ends a
// segment early only when asked (archive_timeout, pg_switch_wal).
//
// Old segments are recycled into future names by the checkpoint, as
// PostgreSQL does (recycle.go): a segment file may therefore hold stale
// pages of the segment it was, which the pageaddr check rejects.
//
// Deviation: PostgreSQL preallocates and zero-fills each new segment (or,
// with wal_init_zero=off, extends it). Here a new segment is an empty file
// made durable by durable_rename (create a temporary file, fsync it,
// rename it into place, fsync pg_wal). The unused rest of a new segment
// after a switch record is never written (PostgreSQL writes it as empty
// pages); in a recycled segment it is written as zeros, so that an
// archived copy never carries the stale pages after a switch.
const (
	Dir = "pg_wal"
	// SegHdrSize is the long page header that starts every segment: the
	// first record of a fresh segment starts after it.
	SegHdrSize   = LongPageHdrSize
	segNameChars = 24
	// RMXLog is the resource manager of WAL-internal records (RM_XLOG_ID).
	RMXLog = 0
	// InfoSwitch is XLOG_SWITCH: the rest of the segment is unused.
	InfoSwitch = 0x40
	// SegmentSizeMin and SegmentSizeMax bound the segment size.
	SegmentSizeMin = 64 << 10
	SegmentSizeMax = 1 << 30
)

// FirstLSN is where the first record of a fresh WAL goes: just after the
// header of segment 0.
const FirstLSN LSN = SegHdrSize

// Config is the WAL's configuration.
type Config struct {
	// SegmentSize is a power of two in [SegmentSizeMin, SegmentSizeMax]
	// (wal_segment_size; PostgreSQL's default is 16 MiB).
	SegmentSize int64
	// ArchiveMode is archive_mode = on: a completed segment is notified to
	// the archiver (pg_wal/archive_status/<segment>.ready) and is removed
	// only once archived (.done). See archive.go. Default off.
	ArchiveMode bool
	// WALBuffers is wal_buffers in pages (wal_buffers.go): 0 is -1, chosen
	// from shared_buffers by ResolveBuffers (XLOGChooseNumBuffers); a
	// value below WALBuffersSetMin counts as WALBuffersSetMin.
	WALBuffers int
	// Bugs are the planted bugs switched on (engine/bugs): the engine's
	// own copy carries the node's; a checker's copy carries none.
	Bugs bugs.Set `json:"-"`
}

// DefaultConfig is PostgreSQL's default.
func DefaultConfig() Config { return Config{SegmentSize: 16 << 20} }

// Validate rejects a segment size that is not a power of two in range.
func (c Config) Validate() error {
	s := c.SegmentSize
	if s < SegmentSizeMin || s > SegmentSizeMax || s&(s-1) != 0 {
		return fmt.Errorf("wal segment size must be a power of two in [%d, %d], got %d", SegmentSizeMin, SegmentSizeMax, s)
	}
	if c.WALBuffers < 0 || c.WALBuffers > WALBuffersMax {
		return fmt.Errorf("wal_buffers must be in [0, %d] pages (0: chosen from shared_buffers), got %d", WALBuffersMax, c.WALBuffers)
	}
	return nil
}

// MaxRecordSize is the largest record the WAL takes (records cross
// segments, so the segment size does not bound it).
func (c Config) MaxRecordSize() int { return RecordSizeMax }

func (c Config) segOf(l LSN) uint64      { return uint64(l) / uint64(c.SegmentSize) }
func (c Config) segStart(seg uint64) LSN { return LSN(seg * uint64(c.SegmentSize)) }
func (c Config) segOff(l LSN) int64      { return int64(uint64(l) % uint64(c.SegmentSize)) }

// SegmentName is the file name of segment seg (XLogFileName, timeline 1).
func SegmentName(c Config, seg uint64) string {
	perID := uint64(0x100000000) / uint64(c.SegmentSize)
	return fmt.Sprintf("%08X%08X%08X", 1, seg/perID, seg%perID)
}

// SegmentPath is the path of segment seg.
func SegmentPath(c Config, seg uint64) string { return Dir + "/" + SegmentName(c, seg) }

// ParseSegmentName returns the segment number of a WAL file name: 24
// upper-case hex digits (IsXLogFileName), timeline 1. It runs on every
// name of every pg_wal listing, so it reads the digits itself rather than
// through fmt.Sscanf.
func ParseSegmentName(c Config, name string) (uint64, bool) {
	if len(name) != segNameChars {
		return 0, false
	}
	tli, ok1 := hex8(name[0:8])
	hi, ok2 := hex8(name[8:16])
	lo, ok3 := hex8(name[16:24])
	if !ok1 || !ok2 || !ok3 || tli != 1 {
		return 0, false
	}
	perID := uint64(0x100000000) / uint64(c.SegmentSize)
	if lo >= perID {
		return 0, false
	}
	return hi*perID + lo, true
}

// hex8 parses 8 upper-case hex digits.
func hex8(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case '0' <= ch && ch <= '9':
			v = v<<4 | uint64(ch-'0')
		case 'A' <= ch && ch <= 'F':
			v = v<<4 | uint64(ch-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// ErrBadSegment is a segment whose first page header does not name it.
var ErrBadSegment = errors.New("wal: invalid segment header")

// createSegment makes segment seg durable and empty (its pages, headers
// first, come with the first flush that reaches it), by
// durable_rename: a temporary file is written and fsynced, renamed into
// place, and pg_wal is fsynced, so the segment can never vanish at a crash
// once a record in it has been flushed.
func createSegment(e *env.Env, c Config, seg uint64) (env.File, error) {
	return createSegmentAt(e, c, seg, SegmentPath(c, seg))
}

// createSegmentAt is createSegment under the file name path (a segment of
// a timeline other than 1, restore.go).
func createSegmentAt(e *env.Env, c Config, seg uint64, path string) (env.File, error) {
	tmp := Dir + "/xlogtemp"
	_ = e.Disk.Remove(tmp) // a leftover from a crash mid-creation
	f, err := e.Disk.Open(tmp, env.OpenCreateExcl)
	if err != nil {
		return nil, fmt.Errorf("could not create file %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", tmp, err)
	}
	f.Close()
	if err := e.Disk.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("could not rename file %q to %q: %w", tmp, path, err)
	}
	if err := e.Disk.SyncDir(Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", Dir, err)
	}
	e.Inject("wal-after-segment-create")
	e.Sometimes("wal-segment-created")
	return e.Disk.Open(path, env.OpenExisting)
}

// listSegments returns the segment numbers present in pg_wal, ascending.
func listSegments(e *env.Env, c Config) ([]uint64, error) {
	names, err := e.Disk.List(Dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range names { // List is sorted, and names sort as numbers
		if seg, ok := ParseSegmentName(c, n); ok {
			out = append(out, seg)
		}
	}
	return out, nil
}

// segFile is a segment file in pg_wal: its timeline, segment number and
// name.
type segFile struct {
	tli  uint32
	seg  uint64
	name string
}

// listSegmentFiles returns the segment files of every timeline in pg_wal,
// by segment number and, for one number, oldest timeline first (on a
// single timeline this is listSegments' order).
func listSegmentFiles(e *env.Env, c Config) ([]segFile, error) {
	names, err := e.Disk.List(Dir)
	if err != nil {
		return nil, err
	}
	var out []segFile
	for _, n := range names {
		if tli, seg, ok := ParseSegmentNameTLI(c, n); ok {
			out = append(out, segFile{tli: tli, seg: seg, name: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].seg != out[j].seg {
			return out[i].seg < out[j].seg
		}
		return out[i].tli < out[j].tli
	})
	return out, nil
}
