package db

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Targeted archive recovery (point-in-time recovery, xlogrecovery.c): with
// recovery.signal in the data directory (and no standby.signal), the
// startup process restores WAL from the archive with restore_command,
// replays it until the recovery target, and then ends recovery on a new
// timeline, as PostgreSQL 15 does:
//
//   - WAL source (XLogFileReadAnyTLI, WaitForWALToBecomeAvailable without
//     standby mode): before each segment is read, restore_command is asked
//     for it (XLOG_FROM_ARCHIVE, RestoreArchivedFile copies it into
//     pg_wal/RECOVERYXLOG); where the archive does not have it, pg_wal's
//     own copy is read (XLOG_FROM_PG_WAL); where neither has it, the WAL
//     ends. Deviation: a restored segment is always kept under its own
//     name in pg_wal (KeepFileRestoredFromArchive, which PostgreSQL does
//     in standby mode only), so that the reader reads it from there.
//   - Targets (recoveryStopsBefore, recoveryStopsAfter): recovery_target_lsn
//     stops before (exclusive) or after (inclusive, the default) the first
//     record that starts at or past the LSN; recovery_target_xid stops
//     before or after the commit or abort record of that transaction;
//     recovery_target_time stops before the first commit or abort record
//     whose xact_time is past the target (inclusive, the default) or at
//     or past it (not inclusive): transactions sharing the target's
//     microsecond are all kept, or all cut off. As in PostgreSQL, a time
//     target never stops after a record, and the stop is at the first
//     such record in WAL order, not at the last commit before the time:
//     a commit stamped earlier by a clock that runs behind (a promoted
//     standby's, under the simulator's per-node offsets) after a record
//     that stops recovery is lost with it. xact_time is the committing
//     node's env clock (xact.XactRecord); under the real environment that
//     clock counts from the server's start, so a time target is only
//     meaningful within one server lifetime there.
//   - Timelines (InitWalRecovery, readTimeLineHistory, XLogFileReadAnyTLI):
//     recovery_target_timeline is latest: the newest timeline whose history
//     file pg_wal or the archive holds. Its history gives expectedTLEs, and
//     each segment is read from the newest of them that begins at or
//     before the segment, never going back to an older timeline once a
//     newer one's file was read (curFileTLI), so that past a switch point
//     the new timeline's WAL is replayed, not the old one's.
//   - The end (StartupXLOG after redo): the target must have been reached
//     ("recovery ended before configured recovery target was reached") at
//     or after the consistent point ("requested recovery stop point is
//     before consistent recovery point"); then recovery_target_action:
//     promote ends recovery; pause is modelled as pg_wal_replay_resume()
//     called after the inspection, which is a promote; shutdown is not
//     modelled. A new timeline is selected (the newest one whose history
//     file pg_wal or the archive holds, plus one: findNewestTimeLine with
//     recovery_target_timeline = latest), its history file written, the
//     last segment copied to the new timeline's name and the old copy
//     renamed .partial (XLogInitNewTimeline), recovery.signal removed, and
//     the WAL opened for writing on the new timeline's file names at the
//     stop point, every later segment removed.

// RecoverySignalPath is RECOVERY_SIGNAL_FILE.
const RecoverySignalPath = "recovery.signal"

// recoveryXLogPath is where RestoreArchivedFile restores a file to
// (pg_wal/RECOVERYXLOG).
const recoveryXLogPath = wal.Dir + "/RECOVERYXLOG"

// RestoreCommand is restore_command: it copies the archived file named
// file into dst (a path in the node's data directory, made durable) and
// reports whether the archive held it. The simulation supplies it (the
// archive may be on another machine's disk); an error is a failed command.
type RestoreCommand func(e *env.Env, file, dst string) (bool, error)

// Recovery target kinds (recovery_target_*).
const (
	TargetNone = iota
	TargetLSN
	TargetXid
	TargetTime
)

// Recovery target actions (recovery_target_action).
const (
	ActionPause = iota // the default
	ActionPromote
)

// PITRConfig is the targeted archive recovery's configuration.
type PITRConfig struct {
	Restore   RestoreCommand
	Target    int // TargetNone, TargetLSN, TargetXid or TargetTime
	LSN       wal.LSN
	Xid       xact.XID
	TimeUS    int64 // recovery_target_time, in xact_time's microseconds
	Inclusive bool  // recovery_target_inclusive (PostgreSQL's default: true)
	Action    int   // ActionPause or ActionPromote
}

// pitrState is the startup process's progress towards the target.
type pitrState struct {
	cfg     *PITRConfig
	reached bool
	reason  string // recoveryStopReason, for the history file and the log
	// targetTLI is recoveryTargetTLI (recovery_target_timeline = latest:
	// the newest timeline whose history the archive or pg_wal holds).
	targetTLI uint32
}

// timeLineEntry is a TimeLineHistoryEntry: a timeline and where it
// begins (InvalidLSN for the first).
type timeLineEntry struct {
	tli   uint32
	begin wal.LSN
}

// walTimeline is the timeline whose names the WAL opened at the end of
// recovery writes: ThisTimeLineID.
func (db *DB) walTimeline() uint32 { return max(db.timeline, 1) }

// newTimeline is XLogInitNewTimeline at the end of an archive recovery or
// a promotion that switched from timeline old to new at end; the old
// timeline's copy becomes .partial after the end-of-recovery checkpoint
// (endRecovery calls markPartial).
func (db *DB) newTimeline(old, new uint32, end wal.LSN) {
	if err := wal.InitNewTimeline(db.e, db.cfg.WAL, old, new, end); err != nil {
		db.e.Panicf("%v", err)
	}
	db.partial = &partialSegment{tli: old, end: end}
}

// partialSegment is the old timeline's copy of the switch point's
// segment, to be renamed .partial.
type partialSegment struct {
	tli uint32
	end wal.LSN
}

// markPartial is CleanupAfterArchiveRecovery's rename, after the
// end-of-recovery checkpoint.
func (db *DB) markPartial() {
	if db.partial == nil {
		return
	}
	if _, err := wal.MarkPartial(db.e, db.cfg.WAL, db.partial.tli, db.partial.end); err != nil {
		db.e.Panicf("%v", err)
	}
	db.partial = nil
}

// readRecoverySignal reports whether recovery.signal asks for targeted
// recovery (readRecoverySignalFiles; standby.signal wins over it).
func (db *DB) readRecoverySignal() bool {
	e := db.e
	f, err := e.Disk.Open(RecoverySignalPath, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false
	}
	if err != nil {
		e.Panicf("could not open file %q: %v", RecoverySignalPath, err)
	}
	f.Close()
	if db.cfg.PITR == nil || db.cfg.PITR.Restore == nil {
		e.Panicf("must specify restore_command when standby mode is not enabled")
	}
	db.pitr = &pitrState{cfg: db.cfg.PITR}
	e.Logf("starting point-in-time recovery to %s", db.pitr.describe())
	e.Sometimes("pitr-started")
	return true
}

// describe is the target as PostgreSQL's startup log line names it.
func (p *pitrState) describe() string {
	switch p.cfg.Target {
	case TargetLSN:
		return fmt.Sprintf("WAL location (LSN) %q", p.cfg.LSN.String())
	case TargetXid:
		return fmt.Sprintf("XID %d", p.cfg.Xid)
	case TargetTime:
		return xact.FormatTimestamp(p.cfg.TimeUS)
	}
	return "the end of the archived WAL"
}

// recoveryReader opens the WAL at start for recovery: through the archive
// during targeted recovery, else pg_wal alone.
func (db *DB) recoveryReader(start, prev wal.LSN) (*wal.Reader, error) {
	if db.tles == nil {
		db.initTimelines()
	}
	if db.pitr == nil {
		if len(db.tles) == 1 && db.tles[0].tli == 1 {
			return wal.NewReader(db.e, db.cfg.WAL, start, prev)
		}
		// Crash recovery on a later timeline: pg_wal alone.
		return wal.NewRestoringReader(db.e, db.cfg.WAL, start, prev, db.tlisFor, func(uint32, uint64) {})
	}
	return wal.NewRestoringReader(db.e, db.cfg.WAL, start, prev, db.tlisFor, db.restoreSegment)
}

// initTimelines is the part of InitWalRecovery and validateRecoveryParameters
// that picks the recovery target timeline: with recovery_target_timeline =
// latest, the newest timeline whose history file pg_wal or the archive
// holds (findNewestTimeLine), and its history read into expectedTLEs
// (readTimeLineHistory). A history file restored from the archive is kept
// in pg_wal (PostgreSQL restores it again when it needs it), so that the
// history of the timeline this recovery ends on can copy it.
func (db *DB) initTimelines() {
	e, p := db.e, db.pitr
	start := max(db.timeline, 1)
	target := start
	if p != nil {
		target = max(findNewestTimeLine(e, start), db.newestArchivedTimeLine(start))
		p.targetTLI = target
	}
	db.tles = []timeLineEntry{{tli: target}}
	if target == 1 || p != nil && target == start {
		return
	}
	// Crash recovery reads ThisTimeLineID's history from pg_wal
	// (readTimeLineHistory); archive recovery from the archive if need be.
	path := historyPath(target)
	if f, err := e.Disk.Open(path, env.OpenExisting); err == nil {
		f.Close()
	} else if p == nil || !db.restoreArchivedFile(fmt.Sprintf("%08X.history", target), path) {
		e.Panicf("could not read timeline history file %q", path)
	}
	b := readWhole(e, path)
	tlis, switches, err := ParseHistory(b)
	if err != nil {
		e.Panicf("invalid data in history file %q: %v", path, err)
	}
	// expectedTLEs, newest first: each timeline begins where its parent
	// switched off. A history without entries (an empty file) is a
	// timeline without parents, as readTimeLineHistory reads it.
	if len(tlis) > 0 {
		db.tles[0].begin = switches[len(switches)-1]
	}
	for i := len(tlis) - 1; i >= 0; i-- {
		begin := wal.InvalidLSN
		if i > 0 {
			begin = switches[i-1]
		}
		db.tles = append(db.tles, timeLineEntry{tli: tlis[i], begin: begin})
	}
	if p == nil {
		return
	}
	if db.tles[len(db.tles)-1].tli != start {
		e.Panicf("requested timeline %d is not a child of this server's history", target)
	}
	e.Logf("recovery target timeline %d (%d timelines in its history)", target, len(db.tles))
	e.Sometimes("pitr-follows-timeline")
}

// readWhole reads a small file whole.
func readWhole(e *env.Env, path string) []byte {
	f, err := e.Disk.Open(path, env.OpenExisting)
	if err != nil {
		e.Panicf("could not open file %q: %v", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 1<<20 {
		e.Panicf("could not read file %q: size %d: %v", path, size, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) != size {
		e.Panicf("could not read file %q: %v", path, err)
	}
	return b
}

// tlisFor is XLogFileReadAnyTLI's order for segment seg: the timelines of
// expectedTLEs, newest first, skipping those that begin after the
// segment, so that a segment two timelines hold is read from the newer
// one, whose copy holds the older one's WAL up to the switch and its own
// after it.
func (db *DB) tlisFor(seg uint64) []uint32 {
	segSize := uint64(db.cfg.WAL.SegmentSize)
	var out []uint32
	for _, t := range db.tles {
		if t.begin != wal.InvalidLSN && seg < uint64(t.begin)/segSize {
			continue
		}
		out = append(out, t.tli)
	}
	// Planted bug restore-wrong-timeline: the oldest timeline that has
	// the segment wins, so recovery reads the old timeline's WAL past
	// the switch point.
	if db.cfg.Bugs.Has(bugs.RestoreWrongTimeline) {
		slices.Reverse(out)
	}
	return out
}

// restoreSegment is XLogFileReadAnyTLI's XLOG_FROM_ARCHIVE for segment
// seg: restore it into RECOVERYXLOG and keep it under its own name
// (KeepFileRestoredFromArchive: durable_rename over pg_wal's copy). A
// failed or empty-handed restore_command leaves pg_wal's copy to be read
// (XLOG_FROM_PG_WAL).
func (db *DB) restoreSegment(tli uint32, seg uint64) {
	e := db.e
	name := wal.SegmentNameTLI(db.cfg.WAL, tli, seg)
	if !db.restoreArchivedFile(name, recoveryXLogPath) {
		e.Sometimes("pitr-segment-from-pg-wal")
		return
	}
	dst := wal.SegmentPathTLI(db.cfg.WAL, tli, seg)
	if err := e.Disk.Rename(recoveryXLogPath, dst); err != nil {
		e.Panicf("could not rename file %q to %q: %v", recoveryXLogPath, dst, err)
	}
	if err := e.Disk.SyncDir(wal.Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", wal.Dir, err)
	}
	e.Sometimes("pitr-segment-restored")
}

// restoreArchivedFile is RestoreArchivedFile: run restore_command for
// file into dst. A command that fails is logged and taken as "not in the
// archive", as PostgreSQL does for a command that exits non-zero without
// being killed by a signal.
func (db *DB) restoreArchivedFile(file, dst string) bool {
	e := db.e
	_ = e.Disk.Remove(dst) // a leftover of an earlier restore
	ok, err := db.pitr.cfg.Restore(e, file, dst)
	switch {
	case err != nil:
		e.Logf("could not restore file %q from archive: %v", file, err)
		return false
	case !ok:
		e.Logf("could not restore file %q from archive: not found", file)
		return false
	}
	e.Logf("restored log file %q from archive", file)
	return true
}

// xactEnd is a commit or abort record's kind and payload (the part of
// recoveryStopsBefore that reads xact_info, and getRecordTimestamp).
// ok is false for any other record, and for a commit or abort record
// whose payload does not decode (redo reports that damage).
func xactEnd(rec wal.Record) (commit bool, x xact.XactRecord, ok bool) {
	if rec.Rmid != xact.RMXact {
		return false, x, false
	}
	switch rec.Info {
	case xact.InfoCommit:
		commit = true
	case xact.InfoAbort:
	default:
		return false, x, false
	}
	x, err := xact.DecodeXactRecord(rec.Payload)
	if err != nil {
		return false, x, false
	}
	return commit, x, true
}

// commitOrAbort names a transaction's end as the stop's log line does.
func commitOrAbort(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

// TimeTargetStops is recoveryStopsBefore's time test: whether a commit
// or abort record stamped recordUS stops recovery before it, for the
// target targetUS. Many transactions may share a commit time: inclusive
// stops after the last of them, not inclusive at the first.
func TimeTargetStops(recordUS, targetUS int64, inclusive bool) bool {
	if inclusive {
		return recordUS > targetUS
	}
	return recordUS >= targetUS
}

// stopsBefore is recoveryStopsBefore: whether redo must stop before
// replaying rec.
func (p *pitrState) stopsBefore(e *env.Env, rec wal.Record, b bugs.Set) bool {
	if p.cfg.Target == TargetLSN && !p.cfg.Inclusive && rec.LSN >= p.cfg.LSN {
		p.reason = fmt.Sprintf("before LSN %s", p.cfg.LSN)
		e.Logf("recovery stopping before WAL location (LSN) %q", rec.LSN.String())
		return p.stop(e)
	}
	// Otherwise only a commit or abort record may stop recovery.
	commit, x, ok := xactEnd(rec)
	if !ok {
		return false
	}
	stopsHere := false
	switch {
	case p.cfg.Target == TargetXid && !p.cfg.Inclusive:
		stopsHere = x.Xid == p.cfg.Xid
	case p.cfg.Target == TargetTime:
		inclusive := p.cfg.Inclusive
		// Planted bug pitr-time-inclusive-inverted: the two tests are
		// swapped, so an inclusive target cuts off the transactions
		// stamped with its very microsecond and an exclusive one keeps
		// them.
		if b.Has(bugs.PITRTimeInclusiveInverted) {
			inclusive = !inclusive
		}
		stopsHere = TimeTargetStops(x.TimeUS, p.cfg.TimeUS, inclusive)
	}
	if !stopsHere {
		return false
	}
	if p.cfg.Target == TargetTime {
		p.reason = "before " + xact.FormatTimestamp(x.TimeUS)
		e.Sometimes("pitr-time-target-reached")
	} else {
		p.reason = fmt.Sprintf("before transaction %d", x.Xid)
	}
	e.Logf("recovery stopping before %s of transaction %d, time %s", commitOrAbort(commit), x.Xid, xact.FormatTimestamp(x.TimeUS))
	return p.stop(e)
}

// stopsAfter is recoveryStopsAfter: whether redo must stop after rec,
// which was just replayed. A time target never stops here.
func (p *pitrState) stopsAfter(e *env.Env, rec wal.Record) bool {
	if p.cfg.Target == TargetLSN && p.cfg.Inclusive && rec.LSN >= p.cfg.LSN {
		p.reason = fmt.Sprintf("at LSN %s", p.cfg.LSN)
		e.Logf("recovery stopping after WAL location (LSN) %q", rec.LSN.String())
		return p.stop(e)
	}
	commit, x, ok := xactEnd(rec)
	if !ok || p.cfg.Target != TargetXid || !p.cfg.Inclusive || x.Xid != p.cfg.Xid {
		return false
	}
	p.reason = fmt.Sprintf("after transaction %d", x.Xid)
	e.Logf("recovery stopping after %s of transaction %d, time %s", commitOrAbort(commit), x.Xid, xact.FormatTimestamp(x.TimeUS))
	return p.stop(e)
}

func (p *pitrState) stop(e *env.Env) bool {
	p.reached = true
	e.Sometimes("pitr-target-reached")
	return true
}

// pitrRedo is StartupXLOG's redo loop for targeted recovery: replay from
// redo until the target or the end of the WAL the archive and pg_wal
// hold. It returns the end of the WAL to keep and its last record.
func (db *DB) pitrRedo(redo wal.LSN, nextXid *xact.XID, st *RecoveryStats) (end, last wal.LSN) {
	e := db.e
	r, err := db.recoveryReader(redo, wal.InvalidLSN)
	if err != nil {
		e.Panicf("%v", err)
	}
	defer r.Close()
	e.Logf("redo starts at %s", redo)
	for {
		rec, ok, err := r.Next()
		if err != nil {
			e.Panicf("could not read WAL during recovery: %v", err)
		}
		if !ok {
			break
		}
		if db.pitr.stopsBefore(e, rec, db.cfg.Bugs) {
			// The WAL kept ends where rec starts: rec and everything
			// after it are cut off at the end of recovery.
			return rec.LSN, rec.Prev
		}
		db.replayRecord(rec, r.End(), nextXid, st)
		// CheckRecoveryConsistency after each record, as in standby
		// mode: the backup's XLOG_BACKUP_END only marks its end
		// reached (redoBackupEnd), and the merge of hot standby left
		// targeted recovery never consistent.
		db.replayed = r.End()
		db.checkRecoveryConsistency()
		e.Inject(PointAfterRedoRecord)
		if db.pitr.stopsAfter(e, rec) {
			return r.End(), r.Last()
		}
	}
	return r.End(), r.Last()
}

// finishPITR is the end of targeted recovery (StartupXLOG after redo,
// with recoveryTargetAction): the checks, the action, the new timeline
// and the removal of recovery.signal.
func (db *DB) finishPITR(end wal.LSN) {
	e := db.e
	p := db.pitr
	if p.cfg.Target != TargetNone && !p.reached {
		e.Panicf("recovery ended before configured recovery target was reached")
	}
	if !db.consistent {
		e.Panicf("requested recovery stop point is before consistent recovery point")
	}
	if p.cfg.Action == ActionPause {
		// recoveryPausesHere at the target; the inspection is the
		// caller's, and pg_wal_replay_resume() then promotes.
		e.Logf("pausing at the end of recovery")
		e.Logf("Execute pg_wal_replay_resume() to promote.")
	}
	if db.tles == nil {
		panic("db: archive recovery ended before reading any WAL")
	}
	old := p.targetTLI
	newTLI := max(findNewestTimeLine(e, old), db.newestArchivedTimeLine(old)) + 1
	writeTimeLineHistory(e, newTLI, old, end)
	db.archiveTimeLineHistory(newTLI)
	// The timeline whose copy of the last segment was read (the first
	// of XLogFileReadAnyTLI's order that pg_wal holds) is the one
	// XLogInitNewTimeline copies from.
	endTLI := old
	for _, t := range db.tlisFor(uint64(end) / uint64(db.cfg.WAL.SegmentSize)) {
		if f, err := e.Disk.Open(wal.SegmentPathTLI(db.cfg.WAL, t, uint64(end)/uint64(db.cfg.WAL.SegmentSize)), env.OpenExisting); err == nil {
			f.Close()
			endTLI = t
			break
		}
	}
	db.newTimeline(endTLI, newTLI, end)
	db.timeline = newTLI
	e.Logf("selected new timeline ID: %d", newTLI)
	if err := e.Disk.Remove(RecoverySignalPath); err != nil && !errors.Is(err, env.ErrNotExist) {
		e.Panicf("could not remove file %q: %v", RecoverySignalPath, err)
	}
	if err := e.Disk.SyncDir(""); err != nil {
		e.Panicf("could not fsync the data directory: %v", err)
	}
	e.Logf("archive recovery complete")
	e.Sometimes("pitr-promoted")
}

// newestArchivedTimeLine is findNewestTimeLine's probe of the archive
// (existsTimeLineHistory restores <TLI>.history with restore_command):
// the newest timeline after start whose history file the archive holds,
// or start. The restored file goes to RECOVERYHISTORY and is removed.
func (db *DB) newestArchivedTimeLine(start uint32) uint32 {
	newest := start
	for probe := start + 1; probe < start+historyFilesMax; probe++ {
		if !db.restoreArchivedFile(fmt.Sprintf("%08X.history", probe), wal.Dir+"/RECOVERYHISTORY") {
			break
		}
		newest = probe
	}
	_ = db.e.Disk.Remove(wal.Dir + "/RECOVERYHISTORY")
	return newest
}
