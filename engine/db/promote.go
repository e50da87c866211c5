package db

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Promotion (xlogrecovery.c, xlog.c, timeline.c): a standby's startup
// process ends recovery when asked to (the promote signal file that
// pg_promote and pg_ctl promote write), stops its WAL receiver, replays
// what the receiver flushed, picks a new timeline ID, writes the timeline
// history file and then ends recovery as crash recovery does: the WAL is
// opened for writing at the end of what was replayed (the rest of the
// last segment cut off) and the end-of-recovery checkpoint is written on
// the new timeline before any backend may write.
//
// The new timeline is recorded in the control file (its checkpoint's
// ThisTimeLineID) and in the history file, and its WAL segments carry its
// ID in their names: the switch point's segment is copied to the new
// timeline's name up to the switch point (XLogInitNewTimeline), and the
// old timeline's copy is renamed .partial once the end-of-recovery
// checkpoint is done (engine/wal/restore.go, archive_recovery.go).

// PromoteSignalPath is the promote signal file (PROMOTE_SIGNAL_FILE).
const PromoteSignalPath = "promote"

// standbyStopPoll bounds each wait for the WAL receiver to stop, and
// standbyStopWaits the number of waits (ShutdownWalRcv waits without a
// bound; a receiver that never leaves its stream is a bug here).
const (
	standbyStopPoll  = 10 * time.Millisecond
	standbyStopWaits = 10000
)

// TimeLineID is ThisTimeLineID: the timeline this instance's WAL is on.
func (db *DB) TimeLineID() uint32 { return db.timeline }

// RequestPromote is pg_promote(wait => false) on a standby: write the
// promote signal file, then signal the startup process (pg_promote
// signals the postmaster, whose SIGUSR1 handler sends the startup process
// SIGUSR2: StartupProcTriggerHandler sets promote_signaled and wakes it
// with WakeupRecovery). It reports an error on a node not in standby
// mode, as pg_promote does ("recovery is not in progress").
func (db *DB) RequestPromote() error {
	e := db.e
	if !db.standbyMode || !db.inRecovery {
		return errors.New("recovery is not in progress")
	}
	f, err := e.Disk.Open(PromoteSignalPath, env.OpenCreate)
	if err != nil {
		return fmt.Errorf("could not create file %q: %w", PromoteSignalPath, err)
	}
	f.Close()
	db.promoteSignaled = true
	w := db.walRcv
	w.mu.Lock()
	w.cv.Broadcast()
	w.mu.Unlock()
	return nil
}

// checkForStandbyTrigger reports whether promotion was asked for
// (CheckForStandbyTrigger): the startup process was signalled
// (IsPromoteSignaled) and the promote signal file exists
// (CheckPromoteSignal). The file is removed once seen, as
// CheckForStandbyTrigger does. Unsignalled, it touches no file.
func (db *DB) checkForStandbyTrigger() bool {
	e := db.e
	if !db.promoteSignaled {
		return false
	}
	db.promoteSignaled = false
	f, err := e.Disk.Open(PromoteSignalPath, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false
	}
	if err != nil {
		e.Panicf("could not open file %q: %v", PromoteSignalPath, err)
	}
	f.Close()
	if err := e.Disk.Remove(PromoteSignalPath); err != nil {
		e.Panicf("could not remove file %q: %v", PromoteSignalPath, err)
	}
	e.Logf("received promote request")
	e.Sometimes("standby-promote-requested")
	return true
}

// finishStandby ends standby mode on a promote request: it stops the WAL
// receiver (XLogShutdownWalRcv), then replays what the receiver flushed
// before it stopped (the last pass of WaitForWALToBecomeAvailable after
// the trigger, reading pg_wal), and returns where that WAL ends and the
// start of its last record. A standby that has not reached consistency
// cannot be promoted: PostgreSQL stops with "requested recovery stop
// point is before consistent recovery point".
func (db *DB) finishStandby(s *standbySource, next, prev wal.LSN, nextXid *xact.XID, st *RecoveryStats) (wal.LSN, wal.LSN) {
	e := db.e
	db.walRcv.shutdown()
	// After the trigger WaitForWALToBecomeAvailable reads pg_wal
	// (XLOG_FROM_PG_WAL), not up to the receiver's last published flush
	// position: the receiver flushed all it wrote as it left its stream
	// (WalRcvDie), and a report it made after ShutdownWalRcv bumped the
	// request is dropped, so that position may lag what pg_wal holds. A
	// commit a remote_write or on standby confirmed must survive the
	// promotion (simtest's sync-rep checker caught the loss: seed 258 of
	// --standbys 1 --synchronous-standby-names standby1 --failover
	// --synchronous-commit remote_write).
	s.streaming = false
	next, prev, _ = db.standbyPass(s, next, prev, nextXid, st)
	if !db.consistent {
		e.Panicf("requested recovery stop point is before consistent recovery point")
	}
	if prev == wal.InvalidLSN {
		e.Panicf("promotion before any record was replayed")
	}
	e.Logf("redo done at %s (%d records): promoted", next, st.Records)
	return next, prev
}

// shutdown is ShutdownWalRcv: no more streaming is wanted, and it waits
// until the receiver has left its stream, so that nothing it receives
// afterwards is written into pg_wal.
func (w *WalRcv) shutdown() {
	w.mu.Lock()
	w.wanted, w.stopping = false, true
	w.gen++
	w.cv.Broadcast()
	for i := 0; w.running; i++ {
		if i >= standbyStopWaits {
			panic("db: the WAL receiver did not stop")
		}
		w.cv.WaitTimeout(standbyStopPoll)
	}
	w.stopping = false
	w.mu.Unlock()
}

// Begin is the receiver entering its stream for request gen: it reports
// false, and the receiver must not stream, if that request is not the
// current one (ShutdownWalRcv came first). Begin, End and Stopped do not
// take the spinlock, unlike WalRcvDie's update of walRcvState: every
// unlock is a traced scheduling event in the simulator, and taking it on
// each message would change the trace of every run with a standby that
// is never promoted. The simulator runs one process at a time and none of
// the three has a scheduling point, so each is atomic all the same.
func (w *WalRcv) Begin(gen int) bool {
	if !w.wanted || w.gen != gen {
		return false
	}
	w.running, w.runningGen = true, gen
	return true
}

// End is the receiver leaving its stream (WalRcvDie's WALRCV_STOPPED).
func (w *WalRcv) End() {
	w.running = false
	if w.wanted && w.gen == w.runningGen {
		w.failures++
	}
	if w.stopping {
		w.mu.Lock()
		w.cv.Broadcast()
		w.mu.Unlock()
	}
}

// Stopped reports whether the receiver streaming for request gen must
// stop: ShutdownWalRcv was called (or another start requested).
func (w *WalRcv) Stopped(gen int) bool { return w.gen != gen }

// historyPath is a timeline's history file in pg_wal (TLHistoryFilePath).
func historyPath(tli uint32) string { return fmt.Sprintf("%s/%08X.history", wal.Dir, tli) }

// HistoryPath is the history file of timeline tli, for checkers.
func HistoryPath(tli uint32) string { return historyPath(tli) }

// historyFilesMax bounds findNewestTimeLine's probe.
const historyFilesMax = 1 << 16

// findNewestTimeLine is findNewestTimeLine: the newest timeline whose
// history file exists, probing upwards from start (existsTimeLineHistory).
func findNewestTimeLine(e *env.Env, start uint32) uint32 {
	newest := start
	for probe := start + 1; probe < start+historyFilesMax; probe++ {
		f, err := e.Disk.Open(historyPath(probe), env.OpenExisting)
		if errors.Is(err, env.ErrNotExist) {
			return newest
		}
		if err != nil {
			e.Panicf("could not open file %q: %v", historyPath(probe), err)
		}
		f.Close()
		newest = probe
	}
	e.Panicf("more than %d timeline history files", historyFilesMax)
	return 0
}

// writeTimeLineHistory is writeTimeLineHistory: the new timeline's history
// file holds the parent's history (none for timeline 1) and one line for
// the parent: its ID, the switch point, and the reason. It is written to
// a temporary file, fsynced, renamed into place and its directory fsynced
// (durable_rename), so that the file exists whole or not at all.
func writeTimeLineHistory(e *env.Env, newTLI, parentTLI uint32, switchPoint wal.LSN) {
	var b strings.Builder
	if parentTLI > 1 {
		f, err := e.Disk.Open(historyPath(parentTLI), env.OpenExisting)
		if err != nil {
			e.Panicf("could not open file %q: %v", historyPath(parentTLI), err)
		}
		size, err := f.Size()
		if err != nil || size > 1<<20 {
			e.Panicf("could not read file %q: size %d: %v", historyPath(parentTLI), size, err)
		}
		old := make([]byte, size)
		if n, err := f.ReadAt(old, 0); int64(n) != size {
			e.Panicf("could not read file %q: %v", historyPath(parentTLI), err)
		}
		f.Close()
		b.Write(old)
	}
	fmt.Fprintf(&b, "%d\t%s\tno recovery target specified\n", parentTLI, switchPoint)
	tmp := wal.Dir + "/xlogtemp.history"
	f, err := e.Disk.Open(tmp, env.OpenCreate)
	if err != nil {
		e.Panicf("could not create file %q: %v", tmp, err)
	}
	if err := f.Truncate(0); err != nil {
		e.Panicf("could not truncate file %q: %v", tmp, err)
	}
	if _, err := f.WriteAt([]byte(b.String()), 0); err != nil {
		e.Panicf("could not write to file %q: %v", tmp, err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", tmp, err)
	}
	f.Close()
	if err := e.Disk.Rename(tmp, historyPath(newTLI)); err != nil {
		e.Panicf("could not rename file %q to %q: %v", tmp, historyPath(newTLI), err)
	}
	if err := e.Disk.SyncDir(wal.Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", wal.Dir, err)
	}
}

// archiveTimeLineHistory is the end of writeTimeLineHistory: with
// archive_mode = on (XLogArchivingActive) the new history file is notified
// for archiving (XLogArchiveNotify), so that the archive learns of the new
// timeline before any of its WAL (the archiver takes history files first).
// A failed notification is logged: PostgreSQL's is too, and nothing
// re-creates it.
func (db *DB) archiveTimeLineHistory(tli uint32) {
	if !db.cfg.WAL.ArchiveMode {
		return
	}
	if err := wal.NewArchiveStatus(db.e, db.cfg.WAL).NotifyFile(wal.HistoryFileName(tli)); err != nil {
		db.e.Logf("could not notify %s for archiving: %v", wal.HistoryFileName(tli), err)
		return
	}
	db.e.Sometimes("archive-history-notified")
}

// ParseHistory parses a timeline history file: for each parent timeline,
// its ID and the LSN where the next one branched off (readTimeLineHistory).
// As readTimeLineHistory does, it skips blank lines and comments ('#'), so
// an empty file is a timeline without parents, not a syntax error.
func ParseHistory(b []byte) (tlis []uint32, switches []wal.LSN, err error) {
	for i, line := range strings.Split(string(b), "\n") {
		if i >= historyFilesMax {
			return nil, nil, errors.New("timeline history too long")
		}
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		var tli uint32
		var hi, lo uint32
		if _, err := fmt.Sscanf(line, "%d\t%X/%X\t", &tli, &hi, &lo); err != nil {
			return nil, nil, fmt.Errorf("syntax error in history file: %q", line)
		}
		if len(tlis) > 0 && tli <= tlis[len(tlis)-1] {
			return nil, nil, errors.New("timeline IDs must be in increasing sequence")
		}
		tlis, switches = append(tlis, tli), append(switches, wal.LSN(uint64(hi)<<32|uint64(lo)))
	}
	return tlis, switches, nil
}

// promote is the part of StartupXLOG that runs after a standby's redo
// ended on a promote request: the new timeline (findNewestTimeLine + 1),
// its history file, and the signal files removed so that a restart is a
// crash recovery on the new timeline, not standby mode again (StartupXLOG
// and CleanupAfterArchiveRecovery durable_unlink them).
func (db *DB) promote(end wal.LSN) {
	e := db.e
	old := db.timeline
	newTLI := findNewestTimeLine(e, old) + 1
	// Planted bug promotion-reuses-timeline: the promoted standby keeps
	// its parent's timeline ID, so two nodes write on the same timeline.
	if db.cfg.Bugs.Has(bugs.PromotionReusesTimeline) {
		newTLI = old
	} else {
		writeTimeLineHistory(e, newTLI, old, end)
		// Planted bug promote-no-history-archive: the history file is
		// never notified for archiving.
		if !db.cfg.Bugs.Has(bugs.PromoteNoHistoryArchive) {
			db.archiveTimeLineHistory(newTLI)
		}
		db.newTimeline(old, newTLI, end) // XLogInitNewTimeline (archive_recovery.go)
	}
	db.timeline = newTLI
	e.Logf("selected new timeline ID: %d", newTLI)
	e.Sometimes("standby-promoted")
	// The control file names the new timeline (CreateEndOfRecoveryRecord's
	// UpdateControlFile, minRecoveryPointTLI there) before standby.signal
	// goes and anything is written on it, so that a crash before the
	// end-of-recovery checkpoint recovers on the new timeline, not the
	// parent's: a split brain (found by simtest's failover seed 2122 once
	// sync rep moved its timing; TestPromotionCrashBeforeEndOfRecovery-
	// Checkpoint). A crash before the signal's removal comes back a
	// standby, to be promoted again, as in PostgreSQL.
	ctl := readControl(e, db.cfg.Bugs)
	ctl.timeline = newTLI
	writeControl(e, db.cfg.Bugs, ctl)
	for _, p := range []string{StandbySignalPath} {
		if err := e.Disk.Remove(p); err != nil && !errors.Is(err, env.ErrNotExist) {
			e.Panicf("could not remove file %q: %v", p, err)
		}
	}
	if err := e.Disk.SyncDir(""); err != nil {
		e.Panicf("could not fsync the data directory: %v", err)
	}
	// The checkpointer makes no more restartpoints: wait for one that
	// runs to finish (it holds the checkpoint lock) before switching.
	db.ckptMu.Lock()
	db.standbyMode = false
	db.ckptMu.Unlock()
	e.Logf("archive recovery complete")
}

// FindNewestTimeLine is findNewestTimeLine, for tests and checkers.
func FindNewestTimeLine(e *env.Env, start uint32) uint32 { return findNewestTimeLine(e, start) }
