package db

import (
	"errors"
	"fmt"
	"github.com/pgdst/pgdst/engine/bugs"
	"io"

	"github.com/pgdst/pgdst/engine/catalog"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// RecoveryStats says what the startup process did.
type RecoveryStats struct {
	Checkpoint wal.LSN
	Redo       wal.LSN
	End        wal.LSN
	EndReason  string
	Records    int
	Synced     int // files fsynced by SyncDataDirectory
	// AbortedRecPtr and MissingContrecPtr: the WAL ended in a record
	// whose continuation was missing (wal.Reader), so new WAL starts at
	// MissingContrecPtr with an XLOG_OVERWRITE_CONTRECORD (StartupXLOG's
	// abortedRecPtr / missingContrecPtr). Both invalid otherwise.
	AbortedRecPtr     wal.LSN
	MissingContrecPtr wal.LSN
}

// walRef lets the buffer pool flush through the WAL once it is open again.
// During redo it does nothing: everything replayed was read from WAL that
// SyncDataDirectory made durable, so pages written then are ordered after
// their WAL already.
type walRef struct {
	w  *wal.WAL
	db *DB
}

func (r *walRef) Flush(upto wal.LSN) {
	if r.w != nil {
		r.w.Flush(upto)
		return
	}
	// XLogFlush during recovery: in archive recovery it moves
	// minRecoveryPoint instead (minrecovery.go).
	r.db.updateMinRecoveryPoint(upto)
}

// NewShared creates an instance's shared memory
// (CreateSharedMemoryAndSemaphores): the storage manager and the buffer
// pool, whose WAL flushes go nowhere until the startup process opens the
// WAL for writing, the checkpointer's request slots and the locks. The
// postmaster creates it before it starts the checkpointer, the background
// writer and the startup process, which all attach to it; the startup
// process then fills in the rest (StartupXLOG). It touches no file.
func NewShared(e *env.Env, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.WAL.Bugs = cfg.Bugs // the WAL's planted bugs (recycle-before-archived)
	db := &DB{e: e, cfg: cfg, ckptMu: e.Sched.NewMutex("CheckpointLock"), relMu: e.Sched.NewMutex("RelCache"), tables: map[string]*table{}}
	db.ckptReqMu = e.Sched.NewMutex("CheckpointerComm")
	db.ckptReqCV = e.Sched.NewCond("CheckpointerComm", db.ckptReqMu)
	db.walRef = &walRef{db: db}
	db.ctlMu = e.Sched.NewMutex("ControlFileLock")
	db.inRecovery = true
	if err := db.newPool(db.walRef); err != nil {
		return nil, err
	}
	return db, nil
}

// Open starts an instance standalone, as a single-user backend does:
// NewShared, then StartupXLOG running the end-of-recovery checkpoint
// itself (RequestCheckpoint's "if in a standalone backend, just do it
// ourselves"). Under a postmaster the startup process asks the
// checkpointer for it instead (proc.StartupProcessMain).
//
// register is called before redo to install the access methods' redo
// functions (RegisterRedo).
func Open(e *env.Env, cfg Config, register func(*DB)) (*DB, RecoveryStats, error) {
	db, err := NewShared(e, cfg)
	if err != nil {
		return nil, RecoveryStats{}, err
	}
	st, err := db.StartupXLOG(register, false)
	if err != nil {
		return nil, st, err
	}
	return db, st, nil
}

// RecoveryInProgress reports whether the startup process is still
// recovering (XLogCtl->SharedRecoveryState): the WAL is not open for
// writing until its end-of-recovery checkpoint is requested.
func (db *DB) RecoveryInProgress() bool { return db.inRecovery }

// StartupXLOG is the startup process's work on shared memory made by
// NewShared. It reads the control file and the checkpoint record it
// names, fsyncs the data directory if the cluster was not shut down
// cleanly, redoes every record from the checkpoint's REDO pointer to the
// end of valid WAL through the resource manager table, trims the clog,
// reopens the WAL for writing and has the end-of-recovery checkpoint
// written (PerformRecoveryXLogAction): by the checkpointer when
// underPostmaster (RequestCheckpoint(CHECKPOINT_END_OF_RECOVERY |
// CHECKPOINT_IMMEDIATE | CHECKPOINT_WAIT)), else in this process. A
// missing or corrupt control file or checkpoint record is a PANIC, never a
// guess.
//
// The background writer may write the buffers redo dirties while redo
// runs. That keeps WAL before data without flushing anything: every page
// change replayed was read from WAL that SyncDataDirectory made durable
// first (or that a power loss left on the medium), so a page's LSN never
// passes the durable end of WAL (XLogFlush in crash recovery only
// updates minRecoveryPoint, and only on a standby).
func (db *DB) StartupXLOG(register func(*DB), underPostmaster bool) (RecoveryStats, error) {
	var st RecoveryStats
	e, cfg := db.e, db.cfg
	if !db.inRecovery || db.WAL != nil {
		panic("db: StartupXLOG on shared memory that has already recovered")
	}
	ctl := readControl(e, cfg.Bugs)
	if ctl.segSize != cfg.WAL.SegmentSize {
		e.Panicf("WAL segment size %d in the control file, %d configured", ctl.segSize, cfg.WAL.SegmentSize)
	}
	checkDataChecksumVersion(e, ctl, cfg)
	standby, hasLabel, targeted := false, false, false
	if cfg.ArchiveRecovery {
		standby, hasLabel = readRecoverySignals(e, &ctl)
		targeted = !standby && db.readRecoverySignal() // archive_recovery.go
	}
	st.Checkpoint, st.Redo = ctl.checkpoint, ctl.redo
	wasShutdown := ctl.state == StateShutdowned && !hasLabel
	if ctl.state == StateInCrashRecovery {
		e.Sometimes("recovery-restarted")
	}
	if ctl.state != StateShutdowned {
		// SyncDataDirectory: the OS may still hold unsynced WAL and data
		// from before the crash; make it durable before trusting it.
		var err error
		if st.Synced, err = syncDataDirectory(e); err != nil {
			e.Panicf("could not sync the data directory: %v", err)
		}
	}
	ctl.state = StateInCrashRecovery
	if standby || targeted {
		ctl.state = StateInArchiveRecovery
	}
	writeControl(e, cfg.Bugs, ctl)
	if hasLabel {
		removeBackupLabel(e)
	}
	db.backupStart = ctl.backupStart
	db.timeline = ctl.timeline
	db.minRecoveryPoint = ctl.minRecoveryPoint
	db.consistent = ctl.backupStart == wal.InvalidLSN && (!standby || ctl.minRecoveryPoint == wal.InvalidLSN)

	var src *standbySource
	var ckrec wal.Record
	if standby {
		src = db.newStandbySource()
		ckrec = src.recordAt(ctl.checkpoint, ctl.redo)
	} else {
		r, err := db.recoveryReader(ctl.checkpoint, wal.InvalidLSN)
		if err != nil {
			e.Panicf("could not locate a valid checkpoint record: %v", err)
		}
		var ok bool
		ckrec, ok, err = r.Next()
		r.Close()
		if err != nil || !ok {
			e.Panicf("could not locate a valid checkpoint record at %s: %v %v", ctl.checkpoint, err, r.EndErr)
		}
	}
	redo, nextXid, err := decodeCheckpoint(ckrec)
	if err != nil || redo != ctl.redo {
		e.Panicf("invalid checkpoint record at %s", ctl.checkpoint)
	}
	// Hot standby observes xids from the checkpoint record's own nextXid
	// (StartupXLOG's ProcArrayInitRecovery(checkPoint.nextXid)): a control
	// file copied after the backup's checkpoint may hold a later one,
	// past xids whose first records replay has yet to see.
	ckptNextXid := nextXid
	nextXid = max(nextXid, ctl.nextXid)
	// RedoRecPtr starts as the checkpoint's REDO pointer (StartupXLOG
	// copies checkPoint.redo into XLogCtl and the insert state).
	db.redoPtr = redo

	if db.Clog, err = clog.Open(e, nil, clog.Config{Buffers: cfg.ClogBuffers, InRecovery: true, Bugs: cfg.Bugs}); err != nil {
		e.Panicf("could not open the clog: %v", err)
	}
	if db.Catalog, err = catalog.Load(e, db.SMgr); err != nil {
		e.Panicf("%v", err)
	}
	if register != nil {
		register(db)
	}

	if standby {
		if cfg.HotStandby {
			db.initHotStandby(ckptNextXid, wasShutdown) // STANDBY_INITIALIZED (hotstandby.go)
		}
		db.standbyMode, db.restartRedo = true, redo
		e.Logf("entering standby mode; redo starts at %s", redo)
		e.RecoveryBegan(uint64(redo))
		var last wal.LSN
		st.End, last = db.standbyRedo(src, redo, &nextXid, &st)
		st.EndReason = "promoted"
		e.RecoveryEnded(uint64(redo), uint64(st.End), int64(st.Records))
		db.promote(st.End)
		return st, db.endRecovery(&st, last, nextXid, underPostmaster)
	}
	if targeted {
		e.RecoveryBegan(uint64(redo))
		var last wal.LSN
		st.End, last = db.pitrRedo(redo, &nextXid, &st)
		st.EndReason = "recovery target"
		e.RecoveryEnded(uint64(redo), uint64(st.End), int64(st.Records))
		db.finishPITR(st.End)
		return st, db.endRecovery(&st, last, nextXid, underPostmaster)
	}
	r, err := db.recoveryReader(redo, wal.InvalidLSN)
	if err != nil {
		e.Panicf("%v", err)
	}
	e.Logf("redo starts at %s", redo)
	e.RecoveryBegan(uint64(redo))
	for {
		rec, ok, err := r.Next()
		if err != nil {
			e.Panicf("could not read WAL during recovery: %v", err)
		}
		if !ok {
			break
		}
		db.replayRecord(rec, r.End(), &nextXid, &st)
		e.Inject(PointAfterRedoRecord)
	}
	st.End, st.EndReason = r.End(), fmt.Sprint(r.EndErr)
	// Which way the WAL ended (ReadRecord's reasons): a clean end is an
	// absent or zero next record; a torn one is a record cut short by the
	// crash; a bad CRC is a record whose bytes are all there but wrong.
	switch {
	case errors.Is(r.EndErr, io.EOF) || errors.Is(r.EndErr, wal.ErrZeroRecord):
		e.Sometimes("recovery-end-clean")
	case errors.Is(r.EndErr, wal.ErrShortRecord) || errors.Is(r.EndErr, wal.ErrBadLength):
		e.Sometimes("recovery-end-torn")
	case errors.Is(r.EndErr, wal.ErrBadCRC):
		e.Sometimes("recovery-end-bad-crc")
	default:
		e.Sometimes("recovery-end-other")
	}
	if r.AbortedRecPtr != wal.InvalidLSN {
		e.Sometimes("recovery-end-incomplete-record")
		st.AbortedRecPtr, st.MissingContrecPtr = r.AbortedRecPtr, r.MissingContrecPtr
	}
	if st.Records > 0 {
		e.Sometimes("recovery-replayed")
	}
	last := r.Last()
	r.Close()
	e.Logf("redo done at %s (%d records): %s", st.End, st.Records, st.EndReason)
	e.RecoveryEnded(uint64(redo), uint64(st.End), int64(st.Records))
	if last == wal.InvalidLSN || st.End <= ctl.checkpoint {
		e.Panicf("WAL ends at %s, before the end of the checkpoint record at %s", st.End, ctl.checkpoint)
	}
	return st, db.endRecovery(&st, last, nextXid, underPostmaster)
}

// endRecovery is the end of StartupXLOG after redo, for crash recovery and
// promotion alike: open the WAL for writing at the end of what was
// replayed, trim the clog, make the transaction machinery, and have the
// end-of-recovery checkpoint written before any backend may write.
func (db *DB) endRecovery(st *RecoveryStats, last wal.LSN, nextXid xact.XID, underPostmaster bool) error {
	e, cfg := db.e, db.cfg
	var err error
	// StartupXLOG: if the WAL ended in an incomplete record, new WAL
	// starts after the pieces of it that persisted, at the page where its
	// continuation is missing, and its first record says the record is
	// abandoned (CreateOverwriteContrecordRecord). Starting at the
	// record instead would rewrite a segment that may be complete,
	// archived and streamed already, whose old tail a standby or the
	// archive could then splice onto the new WAL's continuation.
	walEnd := st.End
	overwrite := st.MissingContrecPtr != wal.InvalidLSN && !cfg.Bugs.Has(bugs.NoOverwriteContrecord)
	if overwrite {
		walEnd = st.MissingContrecPtr
	}
	// wal_buffers = -1 is chosen from shared_buffers (check_wal_buffers).
	if db.WAL, err = wal.OpenOnTimeline(e, cfg.WAL.ResolveBuffers(cfg.SharedBuffers), db.walTimeline(), walEnd, last); err != nil {
		e.Panicf("%v", err)
	}
	db.WAL.PlantBugs(cfg.Bugs)
	if overwrite {
		e.Logf("overwriting the missing contrecord of the record at %s from %s", st.AbortedRecPtr, st.MissingContrecPtr)
		db.WAL.Flush(db.WAL.InsertOverwriteContrecord(st.AbortedRecPtr))
	}
	db.walRef.w = db.WAL
	db.Catalog.SetWAL(db.WAL)
	if err := db.Clog.EndRecovery(db.WAL, uint64(nextXid)); err != nil {
		e.Panicf("could not trim the clog: %v", err)
	}
	if db.Procs != nil {
		// A hot standby's backends stay connected across the promotion
		// in the same proc array (hotstandby.go); their relcache
		// entries were never cached.
		db.Procs.EndStandby(nextXid)
	} else {
		db.Procs = xact.NewProcArray(e, cfg.MaxConnections, nextXid)
	}
	db.Locks = lmgr.New(e, cfg.DeadlockTimeout)
	db.Xacts = &xact.Manager{Procs: db.Procs, Clog: db.Clog, WAL: db.WAL, Locks: db.Locks, SynchronousCommit: cfg.SynchronousCommit, Bugs: cfg.Bugs}
	db.Xacts.SetEnv(e)
	if underPostmaster {
		// The checkpointer sets sync_standbys_defined
		// (SyncRepUpdateSyncStandbysDefined): a standalone backend has
		// none and never waits.
		db.initSyncRep()
	}
	// The end-of-recovery checkpoint (PerformRecoveryXLogAction): redone
	// pages and the trimmed clog are durable before any new transaction
	// writes WAL.
	if underPostmaster {
		if err := db.RequestCheckpointWait(CheckpointEndOfRecovery); err != nil {
			return fmt.Errorf("end-of-recovery checkpoint: %w", err)
		}
	} else if err := db.createCheckPoint(CheckpointEndOfRecovery); err != nil {
		e.Panicf("end-of-recovery checkpoint failed: %v", err)
	}
	db.markPartial()
	// SharedRecoveryState = RECOVERY_STATE_DONE: backends may write WAL.
	db.inRecovery = false
	return nil
}

// redoOne dispatches a record to its resource manager (rm_redo).
func (db *DB) redoOne(rec wal.Record, end wal.LSN) error {
	switch rec.Rmid {
	case wal.RMXLog:
		if rec.Info == InfoCheckpoint {
			_, _, err := decodeCheckpoint(rec)
			return err
		}
		if rec.Info == InfoBackupEnd {
			return db.redoBackupEnd(rec)
		}
		if rec.Info == wal.InfoOverwriteContrecord {
			// xlog_redo: the reader checked that it names the record
			// whose continuation it replaced; nothing to replay.
			return nil
		}
		return fmt.Errorf("unknown xlog record info %#x", rec.Info)
	case xact.RMXact, xact.RMClog:
		_, err := xact.Redo(db.Clog, rec, end)
		return err
	case catalog.RMRelMap, catalog.RMSmgr:
		return db.Catalog.Redo(rec)
	case RMStandby:
		return db.redoStandby(rec)
	}
	fn := db.rmgrs[rec.Rmid]
	if fn == nil {
		return errors.New("unknown resource manager")
	}
	return fn(db, rec, end)
}

// syncDataDirectory fsyncs every file and directory of the cluster, in
// sorted order (SyncDataDirectory with recovery_init_sync_method=fsync).
func syncDataDirectory(e *env.Env) (int, error) {
	n := 0
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if depth > 8 {
			return fmt.Errorf("directory tree deeper than 8 at %q", dir)
		}
		names, err := e.Disk.List(dir)
		if err != nil {
			return err
		}
		for _, name := range names {
			path := name
			if dir != "" {
				path = dir + "/" + name
			}
			_, err := e.Disk.List(path)
			if err == nil {
				if err := walk(path, depth+1); err != nil {
					return err
				}
				continue
			}
			if !errors.Is(err, env.ENOTDIR) {
				return err
			}
			f, err := e.Disk.Open(path, env.OpenExisting)
			if err != nil {
				return err
			}
			err = f.Sync()
			f.Close()
			if err != nil {
				return err
			}
			n++
		}
		return e.Disk.SyncDir(dir)
	}
	return n, walk("", 0)
}

// replayRecord is the startup process's step for one record, in crash
// recovery and in standby mode alike (PerformWalRecovery's loop body):
// count it, advance nextXid past its xid (as xlogrecovery.c advances
// TransamVariables->nextXid), and apply it. A record that cannot be
// applied is a PANIC, as a failed rm_redo is.
func (db *DB) replayRecord(rec wal.Record, end wal.LSN, nextXid *xact.XID, st *RecoveryStats) {
	st.Records++
	if x := xact.XID(rec.Xid); x >= *nextXid {
		*nextXid = x + 1
	}
	db.hotStandbyBeforeRedo(rec)
	if err := db.redoOne(rec, end); err != nil {
		db.e.Panicf("redo of record at %s (rmgr %d info %#x) failed: %v", rec.LSN, rec.Rmid, rec.Info, err)
	}
	db.hotStandbyAfterRedo(rec)
}
