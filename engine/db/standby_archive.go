package db

import (
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// The archive as a standby's WAL source (xlogrecovery.c,
// WaitForWALToBecomeAvailable): a standby with restore_command reads
// XLOG_FROM_ARCHIVE first (XLogFileReadAnyTLI with XLOG_FROM_ANY: each
// segment restored from the archive if it holds it, pg_wal's copy
// otherwise), then XLOG_FROM_PG_WAL, then XLOG_FROM_STREAM. When
// streaming fails (the receiver cannot connect, the connection breaks, or
// the primary has already removed the segment it asks for), the startup
// process stops the receiver (XLogShutdownWalRcv), waits out
// wal_retrieve_retry_interval since the last failure, and starts the
// cycle again at the archive. A standby that fell behind the primary's
// wal_keep_size so catches up from the archive and then streams again
// from its replay position. Deviation: the restored segment is read from
// pg_wal under its own name (KeepFileRestoredFromArchive, as PostgreSQL
// does), and only timeline 1 is read: standbys on later timelines are not
// given restore_command yet.

// walRetrieveRetryInterval is wal_retrieve_retry_interval (5 s), scaled
// to the simulation's receiver timings as their retry interval is.
const walRetrieveRetryInterval = 10 * time.Millisecond

// standbyArchiveSegmentsMax bounds one archive pass: each step restores
// one segment, and a run's WAL is far fewer segments.
const standbyArchiveSegmentsMax = 1 << 20

// standbyRestore is the standby's restore_command, nil when none is set.
func (db *DB) standbyRestore() RestoreCommand {
	if db.cfg.PITR == nil {
		return nil
	}
	return db.cfg.PITR.Restore
}

// restoreStandbySegment is XLogFileRead's XLOG_FROM_ARCHIVE for segment
// seg: RestoreArchivedFile into RECOVERYXLOG, then
// KeepFileRestoredFromArchive (durable_rename over pg_wal's copy). The
// receiver is stopped whenever this runs, so nothing else writes the
// segment. It reports whether the archive held it.
func (db *DB) restoreStandbySegment(seg uint64) bool {
	e := db.e
	name := wal.SegmentName(db.cfg.WAL, seg)
	_ = e.Disk.Remove(recoveryXLogPath) // a leftover of an earlier restore
	ok, err := db.standbyRestore()(e, name, recoveryXLogPath)
	switch {
	case err != nil:
		e.Logf("could not restore file %q from archive: %v", name, err)
		return false
	case !ok:
		return false // not archived (yet): PostgreSQL logs nothing either
	}
	e.Logf("restored log file %q from archive", name)
	dst := wal.SegmentPath(db.cfg.WAL, seg)
	if err := e.Disk.Rename(recoveryXLogPath, dst); err != nil {
		e.Panicf("could not rename file %q to %q: %v", recoveryXLogPath, dst, err)
	}
	if err := e.Disk.SyncDir(wal.Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", wal.Dir, err)
	}
	e.Sometimes("standby-segment-from-archive")
	return true
}

// standbyArchivePass is WaitForWALToBecomeAvailable's XLOG_FROM_ARCHIVE
// source: restore the segment the next record is in and replay what
// pg_wal then holds, then the segment after the last restored one (or
// the one where pg_wal's copy ended), until the archive does not have
// the one needed. It returns where replay stopped and the last record.
func (db *DB) standbyArchivePass(s *standbySource, next, prev wal.LSN, nextXid *xact.XID, st *RecoveryStats) (wal.LSN, wal.LSN) {
	if s.streaming {
		panic("db: the archive read while streaming")
	}
	segSize := uint64(db.cfg.WAL.SegmentSize)
	want := uint64(next) / segSize
	for i := 0; i < standbyArchiveSegmentsMax; i++ {
		if !db.restoreStandbySegment(want) {
			break
		}
		s.restored = true
		next, prev, _ = db.standbyPass(s, next, prev, nextXid, st)
		// The next segment needed: the one after the last restored,
		// or the one where pg_wal's copy ended if replay got past it.
		want = max(uint64(next)/segSize, want+1)
	}
	return next, prev
}

// streamFailed reports whether the receiver's stream for the current
// request ended (WalRcvStreaming() is false: lastSourceFailed while
// reading XLOG_FROM_STREAM).
func (s *standbySource) streamFailed() bool {
	w := s.db.walRcv
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures > s.failuresSeen
}

// leaveStreaming is WaitForWALToBecomeAvailable's XLOG_FROM_STREAM
// failure: stop the receiver (XLogShutdownWalRcv), so that it writes
// nothing into pg_wal while segments are restored, wait until
// wal_retrieve_retry_interval has passed since the last failure, and go
// back to the archive.
func (s *standbySource) leaveStreaming() {
	db := s.db
	e := db.e
	if !s.streaming {
		panic("db: leaving a stream never requested")
	}
	db.walRcv.shutdown()
	s.streaming = false
	e.Logf("streaming from the primary failed: trying the archive")
	e.Sometimes("standby-stream-failed-to-archive")
	now := e.Clock.Now()
	if wait := s.lastFail + walRetrieveRetryInterval - now; s.lastFail != 0 && wait > 0 {
		e.Clock.Sleep(wait)
	}
	s.lastFail = e.Clock.Now()
	s.fromArchive = true
}

// streamStart is where streaming is asked to start after the archive and
// pg_wal ran out: the replay position.
func (db *DB) streamStart(s *standbySource, next wal.LSN) wal.LSN {
	if s.restore == nil {
		return next
	}
	if s.restored {
		db.e.Sometimes("standby-archive-to-stream")
	}
	// Planted bug standby-archive-source-skips: coming from the archive
	// source, streaming is asked from the start of the segment after
	// the one replay is in (readSegNo + 1) rather than from the replay
	// position. RequestXLogStreaming rounds the start to a segment
	// boundary (recptr -= XLogSegmentOffset(recptr)), so rounding the
	// wrong way, as if the segment being read were complete because
	// the archive source had been tried for it, is an easy slip: the
	// tail of that segment is never streamed.
	if db.cfg.Bugs.Has(bugs.StandbyArchiveSourceSkips) {
		segSize := uint64(db.cfg.WAL.SegmentSize)
		if off := uint64(next) % segSize; off != 0 {
			return next + wal.LSN(segSize-off)
		}
	}
	return next
}
