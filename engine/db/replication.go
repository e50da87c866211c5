package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
)

// Streaming replication's shared state and the base backup (issue 19,
// slice 1): do_pg_backup_start and do_pg_backup_stop on the primary, the
// backup label and standby.signal a standby starts from, the WAL
// receiver's shared positions (WalRcvData) the standby's startup process
// waits on, and the WAL senders' slots (WalSndCtl).

// The files a standby's data directory holds besides the primary's.
const (
	// BackupLabelPath is backup_label: where the base backup's redo
	// starts and the checkpoint it names (do_pg_backup_stop's label).
	BackupLabelPath = "backup_label"
	// StandbySignalPath is standby.signal: start in standby mode.
	StandbySignalPath = "standby.signal"
	// backupLabelOld is where backup_label goes once the startup process
	// has taken its checkpoint into the control file.
	backupLabelOld = "backup_label.old"
)

// CheckpointForce is CHECKPOINT_FORCE: a checkpoint even if nothing was
// written since the last (the checkpointer here makes one on every
// request anyway).
const CheckpointForce CheckpointFlags = 1 << 1

// InfoBackupEnd is XLOG_BACKUP_END, a record of RMXLog whose payload is
// the backup's start point: a standby replaying it has replayed all WAL
// written while the backup copied files, so its data is consistent.
const InfoBackupEnd = 0x50

// StateInArchiveRecovery is DB_IN_ARCHIVE_RECOVERY: a standby replaying.
const StateInArchiveRecovery State = 5

// BackupStart is do_pg_backup_start: it forces full-page writes for the
// backup's life (XLogCtl->Insert.runningBackups, so that a page the copy
// tears is restored by its first change's image whatever
// full_page_writes says), asks the checkpointer for a checkpoint and waits
// for it (RequestCheckpoint(CHECKPOINT_FORCE | CHECKPOINT_WAIT)), and
// returns that checkpoint's REDO pointer (the backup's start point) and
// its record's LSN, read from the control file as do_pg_backup_start reads
// ControlFile->checkPoint. Every BackupStart must be followed by a
// BackupStop, failed or not.
func (db *DB) BackupStart() (start, checkpoint wal.LSN, err error) {
	if db.RecoveryInProgress() {
		return 0, 0, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "recovery is in progress; a base backup from a standby is not supported")
	}
	db.WAL.WithInsertLockExclusive(func(wal.LSN) { db.runningBackups++ })
	if err := db.RequestCheckpointWait(CheckpointForce); err != nil {
		return 0, 0, fmt.Errorf("base backup: checkpoint: %w", err)
	}
	ctl := readControl(db.e, db.cfg.Bugs) // do_pg_backup_start reads ControlFile under ControlFileLock
	if ctl.redo == wal.InvalidLSN || ctl.checkpoint < ctl.redo {
		panic(fmt.Sprintf("db: control file names checkpoint %s before its REDO %s", ctl.checkpoint, ctl.redo))
	}
	db.e.Logf("base backup: start point %s, checkpoint %s", ctl.redo, ctl.checkpoint)
	return ctl.redo, ctl.checkpoint, nil
}

// BackupStop is do_pg_backup_stop: it writes the XLOG_BACKUP_END record
// naming the start point, flushes it, and ends the forcing of full-page
// writes. It returns the record's end, the backup's stop point: a standby
// made from the backup is consistent once it has replayed that far.
// (PostgreSQL also switches to a new segment for the archive; streaming
// does not need it, and the switch is left to archive_timeout.)
func (db *DB) BackupStop(start wal.LSN) wal.LSN {
	if db.runningBackups <= 0 {
		panic("db: BackupStop without a BackupStart")
	}
	var end wal.LSN
	if start != wal.InvalidLSN {
		p := binary.LittleEndian.AppendUint64(nil, uint64(start))
		_, end = db.WAL.Insert(&wal.Record{Rmid: wal.RMXLog, Info: InfoBackupEnd, Payload: p})
		db.WAL.Flush(end)
	}
	db.WAL.WithInsertLockExclusive(func(wal.LSN) { db.runningBackups-- })
	return end
}

// BackupLabel is the text of backup_label (build_backup_content): the
// start point, where redo begins, and the checkpoint record to read first.
func BackupLabel(start, checkpoint wal.LSN) []byte {
	return fmt.Appendf(nil, "START WAL LOCATION: %s\nCHECKPOINT LOCATION: %s\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n", start, checkpoint)
}

// ParseBackupLabel reads a backup label (read_backup_label). A malformed
// one is an error, never a guess.
func ParseBackupLabel(b []byte) (start, checkpoint wal.LSN, err error) {
	var got int
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		var l wal.LSN
		switch k {
		case "START WAL LOCATION":
			l, err = parseLSN(v)
			start = l
			got |= 1
		case "CHECKPOINT LOCATION":
			l, err = parseLSN(v)
			checkpoint = l
			got |= 2
		}
		if err != nil {
			return 0, 0, fmt.Errorf("invalid data in file %q: %w", BackupLabelPath, err)
		}
	}
	if got != 3 || start == wal.InvalidLSN || checkpoint < start {
		return 0, 0, fmt.Errorf("invalid data in file %q", BackupLabelPath)
	}
	return start, checkpoint, nil
}

// parseLSN reads an LSN as wal.LSN.String writes it: %X/%08X.
func parseLSN(s string) (wal.LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, fmt.Errorf("malformed LSN %q", s)
	}
	var v uint64
	for _, part := range []string{hi, lo} {
		var x uint64
		for i := 0; i < len(part); i++ {
			c := part[i]
			switch {
			case '0' <= c && c <= '9':
				x = x<<4 | uint64(c-'0')
			case 'A' <= c && c <= 'F':
				x = x<<4 | uint64(c-'A'+10)
			default:
				return 0, fmt.Errorf("malformed LSN %q", s)
			}
		}
		v = v<<32 | x
	}
	return wal.LSN(v), nil
}

// readRecoverySignals is the part of InitWalRecovery and
// readRecoverySignalFiles this slice needs: standby mode when
// standby.signal is there, and the checkpoint of backup_label, when there
// is one, in place of the control file's (the control file was copied
// after the backup's checkpoint and may name a later one, whose redo would
// skip WAL the copy needs). hasLabel says a label was read.
func readRecoverySignals(e *env.Env, ctl *controlData) (standby, hasLabel bool) {
	if f, err := e.Disk.Open(StandbySignalPath, env.OpenExisting); err == nil {
		f.Close()
		standby = true
	} else if !errors.Is(err, env.ErrNotExist) {
		e.Panicf("could not open file %q: %v", StandbySignalPath, err)
	}
	f, err := e.Disk.Open(BackupLabelPath, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return standby, false
	}
	if err != nil {
		e.Panicf("could not open file %q: %v", BackupLabelPath, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 4096 {
		e.Panicf("could not read file %q: size %d: %v", BackupLabelPath, size, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) != size {
		e.Panicf("could not read file %q: %v", BackupLabelPath, err)
	}
	start, ckpt, err := ParseBackupLabel(b)
	if err != nil {
		e.Panicf("%v", err)
	}
	ctl.checkpoint, ctl.redo, ctl.backupStart = ckpt, start, start
	e.Sometimes("backup-label-read")
	return standby, true
}

// removeBackupLabel renames backup_label out of the way once the control
// file holds its checkpoint (StartupXLOG's durable_rename to
// backup_label.old): a restart then starts from the control file.
func removeBackupLabel(e *env.Env) {
	if err := e.Disk.Rename(BackupLabelPath, backupLabelOld); err != nil {
		e.Panicf("could not rename file %q to %q: %v", BackupLabelPath, backupLabelOld, err)
	}
	if err := e.Disk.SyncDir(""); err != nil {
		e.Panicf("could not fsync the data directory: %v", err)
	}
}

// WalRcv is the WAL receiver's shared memory (WalRcvData): where the
// startup process wants streaming to start, and how far the receiver has
// written and flushed what it received. The startup process reads only
// WAL before Flushed (XLogPageRead's flushedUpto).
type WalRcv struct {
	mu env.Mutex
	cv env.Cond
	// wanted is RequestXLogStreaming's request, start its receiveStart;
	// gen counts the requests, so a receiver streaming for an older one
	// starts again at the new start.
	wanted bool
	start  wal.LSN
	gen    int
	// written and flushed are receivedUpto's two halves
	// (LogstreamResult.Write, flushedUpto).
	written wal.LSN
	flushed wal.LSN
	// Connected says the receiver streams now (WALRCV_STREAMING).
	connected bool
	// running says the receiver is inside a stream and may write into
	// pg_wal; stopping says the startup process waits for it to leave
	// (ShutdownWalRcv, promote.go).
	running, stopping bool
	// tli is the timeline streaming was asked for (receiveStartTLI);
	// ended says the stream reached its end (timeline_follow.go);
	// histories counts the history files the receiver fetched, and
	// historiesSeen those the startup process has rescanned after.
	tli                      uint32
	ended, refused           bool
	histories, historiesSeen int
	// runningGen is the request the receiver's stream serves, and
	// failures counts the streams that ended while their request was
	// still the current one (the receiver could not connect, or the
	// connection failed): WalRcvStreaming() turning false under the
	// startup process (standby_archive.go).
	runningGen, failures int
}

// InitWalRcv makes the WAL receiver's shared memory (WalRcvShmemInit), on
// a standby's shared memory only.
func (db *DB) InitWalRcv() *WalRcv {
	if db.walRcv != nil {
		panic("db: WAL receiver shared memory made twice")
	}
	mu := db.e.Sched.NewSpinLock("WalRcvData") // walrcv->mutex is a spinlock
	db.walRcv = &WalRcv{mu: mu, cv: db.e.Sched.NewCond("WalRcvData", mu)}
	return db.walRcv
}

// WalRcv is the WAL receiver's shared memory, nil on a primary.
func (db *DB) WalRcv() *WalRcv { return db.walRcv }

// RequestStreaming asks for streaming from start (RequestXLogStreaming):
// the postmaster starts a receiver if none runs, and the one that runs
// starts again from start. Flushed starts there.
func (w *WalRcv) RequestStreaming(start wal.LSN) {
	w.mu.Lock()
	w.wanted, w.start = true, start
	w.gen++
	w.written, w.flushed = start, start
	w.cv.Broadcast()
	w.mu.Unlock()
}

// Wanted reports whether streaming is wanted, from where, and for which
// request.
func (w *WalRcv) Wanted() (start wal.LSN, gen int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.start, w.gen, w.wanted
}

// WaitWanted waits at most timeout for a request other than gen.
func (w *WalRcv) WaitWanted(gen int, timeout time.Duration) {
	w.mu.Lock()
	if !w.wanted || w.gen == gen {
		w.cv.WaitTimeout(timeout)
	}
	w.mu.Unlock()
}

// Report is the receiver saying how far it wrote and flushed for request
// gen; a report for an older request is dropped. It wakes the startup
// process.
func (w *WalRcv) Report(gen int, written, flushed wal.LSN, connected bool) {
	if flushed > written {
		panic(fmt.Sprintf("db: WAL receiver reports flushed %s beyond written %s", flushed, written))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.connected = connected
	if gen != w.gen {
		return
	}
	if flushed < w.flushed {
		panic(fmt.Sprintf("db: WAL receiver's flushed position went back from %s to %s", w.flushed, flushed))
	}
	w.written, w.flushed = written, flushed
	w.cv.Broadcast()
}

// Positions is how far the receiver wrote and flushed.
func (w *WalRcv) Positions() (written, flushed wal.LSN) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.flushed
}

// WaitFlushed waits at most timeout for the flushed position to pass
// after and returns it (WaitForWALToBecomeAvailable's wait on
// recoveryWakeupLatch).
func (w *WalRcv) WaitFlushed(after wal.LSN, timeout time.Duration) wal.LSN {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flushed <= after {
		w.cv.WaitTimeout(timeout)
	}
	return w.flushed
}

// ReplayedLSN is the end of the last record the startup process replayed
// (lastReplayedEndRecPtr); InvalidLSN before the first.
func (db *DB) ReplayedLSN() wal.LSN { return db.replayed }

// Consistent reports whether a standby has replayed past its base
// backup's end (reachedConsistency).
func (db *DB) Consistent() bool { return db.consistent }

// WalSnd is one WAL sender's slot (WalSnd): how far it sent, and what its
// standby last said it wrote, flushed and applied.
type WalSnd struct {
	InUse bool
	// AppName is the standby's application_name (its sync-rep name);
	// Streaming says START_REPLICATION was served (WALSNDSTATE_STREAMING).
	AppName              string
	Streaming            bool
	Sent                 wal.LSN
	Write, Flush, Apply  wal.LSN
	LastReplyAt          time.Duration
	StartedAt, StoppedAt time.Duration
}

// WalSndAcquire takes a free WAL sender slot (InitWalSenderSlot): beyond
// max_wal_senders it is 53300, "number of requested standby connections
// exceeds max_wal_senders".
func (db *DB) WalSndAcquire() (int, error) {
	if len(db.walSnds) == 0 && db.cfg.MaxWalSenders > 0 {
		db.walSnds = make([]WalSnd, db.cfg.MaxWalSenders)
	}
	for i := range db.walSnds {
		if !db.walSnds[i].InUse {
			db.walSnds[i] = WalSnd{InUse: true, StartedAt: db.e.Clock.Now()}
			return i, nil
		}
	}
	return -1, pgerr.New(pgerr.TooManyConnections, "number of requested standby connections exceeds max_wal_senders (currently %d)", db.cfg.MaxWalSenders)
}

// WalSndRelease frees slot i (WalSndKill).
func (db *DB) WalSndRelease(i int) {
	if !db.walSnds[i].InUse {
		panic("db: releasing a free WAL sender slot")
	}
	db.walSnds[i].InUse = false
}

// WalSndSlot is slot i, for its WAL sender to update.
func (db *DB) WalSndSlot(i int) *WalSnd {
	if !db.walSnds[i].InUse {
		panic("db: a free WAL sender slot")
	}
	return &db.walSnds[i]
}

// WalSenders is a copy of the WAL senders' slots (pg_stat_replication).
func (db *DB) WalSenders() []WalSnd { return append([]WalSnd(nil), db.walSnds...) }

// sessionBackup is a session's base backup in progress.
type sessionBackup struct {
	running           bool
	start, checkpoint wal.LSN
}

// BackupStart is pg_backup_start() in this session: only one backup at a
// time per session (55000 otherwise). It returns the start point.
func (s *Session) BackupStart() (wal.LSN, error) {
	if s.backup.running {
		return 0, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "a backup is already in progress in this session")
	}
	s.backup.running = true // BackupStart counts it even when it fails
	start, ckpt, err := s.db.BackupStart()
	if err != nil {
		s.abortBackup()
		return 0, err
	}
	s.backup.start, s.backup.checkpoint = start, ckpt
	return start, nil
}

// BackupStop is pg_backup_stop(): it ends the session's backup and
// returns the backup label to write into the copy.
func (s *Session) BackupStop() ([]byte, error) {
	if !s.backup.running {
		return nil, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "backup is not in progress")
	}
	s.db.BackupStop(s.backup.start)
	label := BackupLabel(s.backup.start, s.backup.checkpoint)
	s.backup = sessionBackup{}
	return label, nil
}

// abortBackup is do_pg_abort_backup: a session that ends with its backup
// running stops forcing full-page writes for it.
func (s *Session) abortBackup() {
	if s.backup.running {
		s.db.BackupStop(wal.InvalidLSN)
		s.backup = sessionBackup{}
	}
}
