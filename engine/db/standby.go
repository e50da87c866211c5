package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Standby mode in the startup process (xlogrecovery.c): with
// standby.signal present, recovery does not end at the end of the WAL it
// finds. It reads pg_wal first (XLOG_FROM_PG_WAL); where that WAL ends it
// asks for streaming from there (RequestXLogStreaming) and from then on
// reads only what the WAL receiver has flushed (XLOG_FROM_STREAM,
// flushedUpto), waiting for more when it has replayed all of it
// (WaitForWALToBecomeAvailable). The archive as a source, promotion and
// hot standby are later slices: a standby's startup process replays until
// it is killed.

// standbyPoll bounds each wait for more WAL, so the startup process looks
// again even if a wakeup is missed (WaitForWALToBecomeAvailable's
// 5-second WaitLatch, scaled to the simulator's run lengths).
const standbyPoll = 100 * time.Millisecond

// standbySource is where a standby's startup process reads WAL from.
type standbySource struct {
	db        *DB
	streaming bool // streaming was requested: read only up to flushedUpto
	// The archive as a source (standby_archive.go): restore is
	// restore_command (nil: none), fromArchive says the next pass reads
	// XLOG_FROM_ARCHIVE, restored that this cycle restored a segment,
	// failuresSeen the receiver's failed streams when streaming was
	// requested, lastFail the last failure's time.
	restore      RestoreCommand
	fromArchive  bool
	restored     bool
	failuresSeen int
	lastFail     time.Duration
}

func (db *DB) newStandbySource() *standbySource {
	if db.walRcv == nil {
		db.e.Panicf("standby mode needs a WAL receiver: primary_conninfo is not set")
	}
	// InitWalRecovery: in archive recovery the first source is the
	// archive (currentSource = XLOG_FROM_ARCHIVE).
	restore := db.standbyRestore()
	return &standbySource{db: db, restore: restore, fromArchive: restore != nil}
}

// open opens a reader at start (prev: the record before it, or
// InvalidLSN), limited to the flushed WAL once streaming. It returns the
// limit (InvalidLSN: none), and a nil reader when nothing can be read yet.
func (s *standbySource) open(start, prev wal.LSN) (*wal.Reader, wal.LSN) {
	db := s.db
	limit := wal.InvalidLSN
	if s.streaming {
		written, flushed := db.walRcv.Positions()
		limit = flushed
		// Planted bug standby-applies-unflushed: the startup process
		// replays what the receiver has written, not only what it has
		// flushed (XLogPageRead's flushedUpto).
		if db.cfg.Bugs.Has(bugs.StandbyAppliesUnflushed) {
			limit = written
		}
		if limit <= start {
			return nil, limit
		}
	}
	r, err := db.standbyReader(start, prev) // timeline_follow.go
	if err != nil {
		if errors.Is(err, env.ErrNotExist) || errors.Is(err, wal.ErrBadSegment) {
			return nil, limit // not in pg_wal (yet)
		}
		db.e.Panicf("could not read WAL at %s: %v", start, err)
	}
	r.Limit = limit
	return r, limit
}

// stream asks the WAL receiver for the WAL from start on.
func (s *standbySource) stream(start wal.LSN) {
	if s.streaming {
		panic("db: streaming requested twice")
	}
	s.streaming = true
	s.restored = false
	if s.restore != nil {
		w := s.db.walRcv
		w.mu.Lock()
		s.failuresSeen = w.failures
		w.mu.Unlock()
	}
	s.db.e.Logf("started streaming WAL from primary at %s", start)
	s.db.e.Sometimes("standby-streaming-requested")
	s.db.walRcv.requestOn(s.db.streamTimeline(start), start) // timeline_follow.go
}

// wait waits until the receiver has flushed beyond limit.
func (s *standbySource) wait(limit wal.LSN) {
	s.db.walRcv.WaitFlushed(limit, standbyPoll)
}

// recordAt reads the record at lsn (the checkpoint record a standby starts
// from), streaming from from when pg_wal does not hold it.
func (s *standbySource) recordAt(lsn, from wal.LSN) wal.Record {
	db := s.db
	for {
		r, limit := s.open(lsn, wal.InvalidLSN)
		if r != nil {
			rec, ok, err := r.Next()
			r.Close()
			if err != nil {
				db.e.Panicf("could not read WAL at %s: %v", lsn, err)
			}
			if ok {
				return rec
			}
			if s.streaming && !errors.Is(r.EndErr, wal.ErrBeyondLimit) {
				db.e.Panicf("invalid checkpoint record at %s in streamed WAL: %v", lsn, r.EndErr)
			}
		}
		if !s.streaming {
			if s.fromArchive {
				s.fromArchive = false
				if db.restoreStandbySegment(uint64(lsn) / uint64(db.cfg.WAL.SegmentSize)) {
					continue
				}
			}
			s.stream(from)
			continue
		}
		if s.restore != nil && s.streamFailed() {
			s.leaveStreaming()
			continue
		}
		s.wait(max(limit, lsn))
	}
}

// standbyRedo is the standby's redo loop: it replays every record from
// redo on, reading pg_wal, then streaming, and waits for more at the end
// of what was flushed. It returns only on promotion (promote.go): where
// the WAL it replayed ends, and the start of its last record. Its loop
// has no bound for that reason; each pass replays records or waits for
// the receiver, at most standbyPoll.
func (db *DB) standbyRedo(s *standbySource, redo wal.LSN, nextXid *xact.XID, st *RecoveryStats) (end, last wal.LSN) {
	e := db.e
	next, prev := redo, wal.InvalidLSN
	for {
		if s.fromArchive {
			s.fromArchive = false
			next, prev = db.standbyArchivePass(s, next, prev, nextXid, st)
		}
		var limit wal.LSN
		next, prev, limit = db.standbyPass(s, next, prev, nextXid, st)
		if !s.streaming {
			e.Logf("end of WAL in pg_wal at %s", next)
			s.stream(db.streamStart(s, next))
			continue
		}
		// WaitForWALToBecomeAvailable looks for a promote request each
		// time it has no more WAL to give (CheckForStandbyTrigger).
		if db.checkForStandbyTrigger() {
			return db.finishStandby(s, next, prev, nextXid, st)
		}
		if n, ok := db.followTimeline(next); ok { // timeline_follow.go
			if n != next {
				prev = wal.InvalidLSN // read back from the switch point
			}
			next = n
			continue
		}
		if s.restore != nil && s.streamFailed() {
			s.leaveStreaming()
			continue
		}
		e.Sometimes("standby-waited-for-wal")
		s.wait(max(limit, next))
	}
}

// standbyPass replays what can be read from next on (prev: the record
// before it) and returns where it stopped, the last record and the limit
// it read to.
func (db *DB) standbyPass(s *standbySource, next, prev wal.LSN, nextXid *xact.XID, st *RecoveryStats) (wal.LSN, wal.LSN, wal.LSN) {
	e := db.e
	r, limit := s.open(next, prev)
	if r == nil {
		return next, prev, limit
	}
	for {
		rec, ok, err := r.Next()
		if err != nil {
			e.Panicf("could not read WAL during recovery: %v", err)
		}
		if !ok {
			break
		}
		db.replayRecord(rec, r.End(), nextXid, st)
		db.replayed = r.End()
		db.checkRecoveryConsistency()
		if rec.Rmid == wal.RMXLog && rec.Info == InfoCheckpoint {
			// RecoveryRestartPoint: a restartpoint may now
			// start redo here after a restart.
			ckRedo, ckXid, _ := decodeCheckpoint(rec)
			db.restartPoint = restartPoint{checkpoint: rec.LSN, end: r.End(), redo: ckRedo, nextXid: max(ckXid, *nextXid)}
		}
		e.Inject(PointAfterRedoRecord)
	}
	next, prev = r.End(), r.Last()
	endErr := r.EndErr
	r.Close()
	if s.streaming && !errors.Is(endErr, wal.ErrBeyondLimit) && next < limit && !errors.Is(endErr, wal.ErrBadSegment) {
		// The receiver flushed it, so it is the primary's WAL:
		// a record there that does not read back is damage.
		e.Panicf("invalid record at %s in streamed WAL flushed to %s: %v", next, limit, endErr)
	}
	return next, prev, limit
}

// redoBackupEnd replays XLOG_BACKUP_END (xlog_redo): the end of the
// backup this standby was made from makes it consistent.
func (db *DB) redoBackupEnd(rec wal.Record) error {
	if len(rec.Payload) != 8 {
		return fmt.Errorf("backup end record of %d bytes", len(rec.Payload))
	}
	start := wal.LSN(binary.LittleEndian.Uint64(rec.Payload))
	if db.backupStart != wal.InvalidLSN && start == db.backupStart && !db.backupEndReached {
		db.backupEndReached = true
		db.e.Logf("backup end reached at %s", rec.LSN)
		// A targeted recovery (archive_recovery.go) is consistent here;
		// a standby also checks after each record it replays.
		db.checkRecoveryConsistency()
	}
	return nil
}

// restartPoint is a checkpoint record a standby replayed.
type restartPoint struct {
	checkpoint, end, redo wal.LSN
	nextXid               xact.XID
}

// StandbyMode reports whether the startup process runs in standby mode
// (the checkpointer then makes restartpoints).
func (db *DB) StandbyMode() bool { return db.standbyMode }

// CreateRestartPoint is the checkpointer's restartpoint on a standby
// (CreateRestartPoint): at the last checkpoint record replayed, if it is
// newer than the control file's, the same guts as a checkpoint's (clog,
// every dirty buffer, fsync of every file written), then the control file
// names that checkpoint, so that a restart replays from its REDO pointer
// rather than from the base backup's start. Every page change before that
// REDO pointer is then durable, and a page a power loss tears afterwards
// is restored by the full-page image of its first change after it, as on
// the primary. None is made before the standby is consistent (its base
// backup's end replayed): until then a restart must replay from the
// backup's start. It reports whether it made one.
func (db *DB) CreateRestartPoint() (bool, error) {
	if !db.standbyMode || !db.inRecovery {
		panic("db: a restartpoint outside standby mode")
	}
	db.ckptMu.Lock()
	defer db.ckptMu.Unlock()
	e := db.e
	rp := db.restartPoint
	if rp.checkpoint == wal.InvalidLSN || rp.redo <= db.restartRedo || !db.consistent {
		return false, nil // "skipping restartpoint, already performed at ..."
	}
	if err := db.checkPointGuts(); err != nil {
		return false, fmt.Errorf("restartpoint: %w", err)
	}
	// CreateRestartPoint: minRecoveryPoint at least the end of the
	// checkpoint record, so that a restart from it is not consistent
	// before it has replayed that record again.
	db.ctlMu.Lock()
	db.minRecoveryPoint = max(db.minRecoveryPoint, rp.end)
	ctl := controlData{state: StateInArchiveRecovery, checkpoint: rp.checkpoint, redo: rp.redo, nextXid: rp.nextXid,
		segSize: db.cfg.WAL.SegmentSize, dataChecksumVersion: db.cfg.dataChecksumVersion(), timeline: db.timeline,
		minRecoveryPoint: db.minRecoveryPoint}
	writeControl(e, db.cfg.Bugs, ctl)
	db.ctlMu.Unlock()
	db.restartRedo = rp.redo
	e.Logf("restartpoint complete: redo %s, record %s", rp.redo, rp.checkpoint)
	e.Sometimes("standby-restartpoint")
	return true, nil
}
