// Package db is the storage engine's spine: initdb, shared memory, the
// startup process's recovery, the checkpoint and the checkpointer's request
// slots, sessions and vacuum, over the WAL, the clog, the buffer pool and the
// transaction manager. Access methods (heap, B-tree) plug their redo into its
// resource manager table. The processes' loops (background writer,
// checkpointer, WAL writer, autovacuum, startup) are engine/proc's, one file
// per process; they call into this package for each round of work.
//
// It owns the control file and the order of the checkpoint and of
// recovery. It never touches tuples or index pages itself.
package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/catalog"
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/predicate"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// The checkpoint's injection points, in order.
const (
	PointAfterRedo      = "checkpointer-after-redo"
	PointAfterDelayWait = "checkpointer-after-delay-wait"
	PointAfterClog      = "checkpointer-after-clog"
	PointAfterBuffers   = "checkpointer-after-buffers"
	PointAfterSync      = "checkpointer-after-fsyncs"
	PointAfterRecord    = "checkpointer-after-record"
	PointAfterFlush     = "checkpointer-after-flush"
	// PointControlBeforeFsync is inside every control file update
	// (update_controlfile between its write and its pg_fsync), the
	// checkpoint's and the startup process's alike.
	PointControlBeforeFsync = "control-file-before-fsync"
	PointAfterControl       = "checkpointer-after-control"
	PointAfterRemoveSegment = "checkpointer-after-segment-removal"
	PointAfterRedoRecord    = "startup-after-redo-record"
)

// PointAfterSnapshot is where a statement has its snapshot and has read or
// changed no row yet: a pause there lets other transactions commit
// changes to the rows it is about to update, which it must then follow
// along their update chains (EvalPlanQual).
const PointAfterSnapshot = "backend-after-snapshot"

// InfoCheckpoint is XLOG_CHECKPOINT_ONLINE, a record of RMXLog.
const InfoCheckpoint = 0x10

// Config is the engine's configuration, with PostgreSQL's defaults.
type Config struct {
	SharedBuffers     int // in pages
	MaxConnections    int
	WAL               wal.Config
	SegBlocks         uint32 // relation segment size in blocks
	ClogBuffers       int
	SynchronousCommit bool
	// HintBitsDirty makes hint bits dirty their page as PostgreSQL's
	// MarkBufferDirtyHint does with data checksums (a full-page image for
	// the first hint after a checkpoint); false keeps pgdst's cheaper
	// deviation, where a hint rides along with the page's next logged
	// change or is lost (heapam.Config.HintBitsDirty). DefaultConfig
	// turns it on.
	HintBitsDirty     bool
	CheckpointTimeout time.Duration
	// MaxWALSize is max_wal_size in bytes: this much WAL since the last
	// REDO pointer requests a checkpoint.
	MaxWALSize int64
	// MinWALSize is min_wal_size in bytes: a checkpoint recycles old
	// segments into future ones up to this much WAL past its REDO pointer
	// at least, whatever the recent WAL rate (XLOGfileslop). WALRecycle
	// is wal_recycle: off, old segments are deleted, never recycled.
	MinWALSize int64
	WALRecycle bool
	// WALPrealloc makes each checkpoint create the next WAL segment once
	// the WAL fills three quarters of the current one (PreallocXlogFiles,
	// which PostgreSQL always runs; off by default here, so that runs
	// keep creating segments in the WAL writer's and backends' flushes).
	WALPrealloc     bool
	BgwriterDelay   time.Duration
	BgwriterLRUMax  int
	WalWriterDelay  time.Duration
	DeadlockTimeout time.Duration
	// FullPageWrites is full_page_writes: the first change of a page
	// after a checkpoint's REDO pointer logs an image of the whole page,
	// so that redo can repair a page a crash tore mid-write. Off, a torn
	// page cannot be repaired, only detected by its checksum, and redo
	// meets pages already newer than a record (BLK_DONE).
	FullPageWrites bool
	// DataChecksums is initdb's --data-checksums, which the control file
	// records (data_checksum_version) for the cluster's life: every page
	// written carries a checksum that every read verifies, and a hint
	// bit's first change after a checkpoint logs a full-page image
	// (XLogHintBitIsNeeded). Off, as PostgreSQL 15's initdb defaults to,
	// pages keep pd_checksum 0 and hints are never WAL-logged
	// (data_checksums.go). DefaultConfig turns it on.
	DataChecksums bool
	// ArchiveTimeout is archive_timeout: this long after the last forced
	// switch, the checkpointer ends a WAL segment that has records in it,
	// so that it is archived (CheckArchiveTimeout); 0 never forces one.
	ArchiveTimeout time.Duration
	// MaxWalSenders is max_wal_senders: the WAL senders that may run at
	// once (replication.go).
	MaxWalSenders int
	// InitNextXid is the first xid the cluster InitDB makes hands out, as
	// pg_resetwal -x sets it after initdb (pg_upgrade does so with the old
	// cluster's nextXid, its pg_xact copied over): the checkpoint record
	// and the control file carry it, and pg_xact holds its page zeroed
	// (clog.BootstrapAt). 0 is initdb's own, FirstNormalXID. Only InitDB
	// reads it.
	InitNextXid uint64
	// SyncRequestsMax bounds the checkpointer's fsync request queue
	// (CheckpointerShmem's max_requests, NBuffers in PostgreSQL; here the
	// smgr's pending-sync table, smgr.Config.MaxPendingSyncs): a writer
	// that finds it full fsyncs the segment itself. 0 is
	// smgr.DefaultMaxPendingSyncs.
	SyncRequestsMax int
	// WalSenderTimeout is wal_sender_timeout: a WAL sender whose standby
	// says nothing for this long ends its connection.
	WalSenderTimeout time.Duration
	// WALKeepSize is wal_keep_size in bytes: a checkpoint keeps this much
	// WAL before the insert position for standbys (KeepLogSeg), 0 none.
	WALKeepSize int64
	// ArchiveRecovery makes the startup process look for standby.signal
	// and backup_label (replication.go). PostgreSQL always looks; pgdst
	// looks only on the nodes of a run with standbys, so that a
	// single-node run's disk operations, and so its trace, are the same
	// as before replication existed.
	ArchiveRecovery bool
	// HotStandby is hot_standby = on on a standby (read-only sessions
	// during recovery) and, on a primary, wal_level = replica's
	// running-xacts records (hotstandby.go); off on single-node runs.
	HotStandby bool
	// LogSnapshotInterval is the background writer's
	// LOG_SNAPSHOT_INTERVAL_MS; MaxStandbyStreamingDelay is
	// max_standby_streaming_delay (hotstandby.go).
	LogSnapshotInterval      time.Duration
	MaxStandbyStreamingDelay time.Duration
	Bugs                     bugs.Set
	// BtreeMaxTuplesPerPage, when positive, caps the items of every
	// B-tree page (nbtree's MaxTuplesPerPage): a page size scaled down to
	// a run's few rows, so that leaf splits happen.
	BtreeMaxTuplesPerPage int
	// PredicateLocks sizes SERIALIZABLE's predicate lock manager
	// (serializable.go); zero fields take PostgreSQL's defaults.
	PredicateLocks PredicateLockConfig
	// SynchronousStandbyNames is synchronous_standby_names and
	// SynchronousCommitLevel refines SynchronousCommit with
	// synchronous_commit's remote levels (syncrep.go); the zero values
	// are asynchronous replication and SynchronousCommit's on or off.
	SynchronousStandbyNames string
	SynchronousCommitLevel  SyncCommitLevel
	// PITR is the targeted archive recovery's configuration
	// (restore_command and recovery_target_*; archive_recovery.go), nil
	// where none is configured. It is read only with ArchiveRecovery and a
	// recovery.signal file.
	PITR *PITRConfig
}

// DefaultConfig is PostgreSQL's defaults, scaled where memory matters.
func DefaultConfig() Config {
	return Config{
		SharedBuffers:     128,
		MaxConnections:    100,
		WAL:               wal.DefaultConfig(),
		SegBlocks:         smgr.DefaultSegBlocks,
		ClogBuffers:       clog.DefaultBuffers,
		SynchronousCommit: true,
		HintBitsDirty:     true,
		CheckpointTimeout: 5 * time.Minute,
		MaxWALSize:        1 << 30,
		MinWALSize:        80 << 20,
		WALRecycle:        true,
		BgwriterDelay:     200 * time.Millisecond,
		BgwriterLRUMax:    100,
		WalWriterDelay:    200 * time.Millisecond,
		DeadlockTimeout:   time.Second,
		FullPageWrites:    true,
		DataChecksums:     true,
		MaxWalSenders:     10,
		WalSenderTimeout:  time.Minute,
		// Hot standby's timings (hotstandby.go).
		LogSnapshotInterval:      DefaultLogSnapshotInterval,
		MaxStandbyStreamingDelay: DefaultMaxStandbyStreamingDelay,
	}
}

// Validate rejects a configuration the engine cannot run with.
func (c Config) Validate() error {
	switch {
	case c.SharedBuffers < 16 || c.SharedBuffers > 1<<20:
		return fmt.Errorf("shared_buffers must be in [16, 1048576] pages, got %d", c.SharedBuffers)
	case c.MaxConnections < 1 || c.MaxConnections > 10000:
		return fmt.Errorf("max_connections must be in [1, 10000], got %d", c.MaxConnections)
	case c.CheckpointTimeout <= 0 || c.BgwriterDelay <= 0 || c.WalWriterDelay <= 0 || c.DeadlockTimeout <= 0:
		return errors.New("checkpoint_timeout, bgwriter_delay, wal_writer_delay and deadlock_timeout must be positive")
	case c.MaxWALSize < 0 || c.MinWALSize < 0:
		return errors.New("max_wal_size and min_wal_size must not be negative")
	case c.ArchiveTimeout < 0:
		return errors.New("archive_timeout must not be negative")
	case c.MaxWalSenders < 0 || c.MaxWalSenders > 100:
		return fmt.Errorf("max_wal_senders must be in [0, 100], got %d", c.MaxWalSenders)
	case c.HotStandby && (c.LogSnapshotInterval <= 0 || c.MaxStandbyStreamingDelay < 0):
		return errors.New("hot standby needs a positive snapshot interval and a non-negative max_standby_streaming_delay")
	case c.WalSenderTimeout < 0 || c.WALKeepSize < 0:
		return errors.New("wal_sender_timeout and wal_keep_size must not be negative")
	case c.InitNextXid != 0 && (c.InitNextXid < uint64(xact.FirstNormalXID) || c.InitNextXid > InitNextXidMax):
		return fmt.Errorf("initdb's next xid must be in [%d, %d], got %d", xact.FirstNormalXID, InitNextXidMax, c.InitNextXid)
	case c.SyncRequestsMax < 0 || c.SyncRequestsMax > smgr.DefaultMaxPendingSyncs:
		return fmt.Errorf("the fsync request queue must hold [1, %d] requests, got %d", smgr.DefaultMaxPendingSyncs, c.SyncRequestsMax)
	}
	if err := c.validateSyncRep(); err != nil {
		return err
	}
	return c.WAL.Validate()
}

// RedoFunc replays one record of a resource manager; end is its end LSN,
// the LSN its changes stamp on pages.
type RedoFunc func(db *DB, rec wal.Record, end wal.LSN) error

// DB is one running instance: its shared memory.
type DB struct {
	e       *env.Env
	cfg     Config
	WAL     *wal.WAL
	SMgr    *smgr.SMgr
	Pool    *buffer.Pool
	Clog    *clog.CLOG
	Procs   *xact.ProcArray
	Locks   *lmgr.Manager
	Xacts   *xact.Manager
	Catalog *catalog.Catalog
	pred    *predicate.Manager // SERIALIZABLE's predicate locks (serializable.go)
	// safeSnap is where DEFERRABLE transactions wait (safe_snapshot.go).
	safeSnap *safeSnapshotWait

	relMu  env.Mutex // guards tables
	tables map[string]*table

	ckptMu env.Mutex // CheckpointLock: one checkpoint at a time
	// CheckpointerShmem's request flag, and the latch that wakes the
	// checkpointer (RequestCheckpoint).
	ckptReqMu env.Mutex
	ckptReqCV env.Cond
	ckptReq   bool
	// The checkpoints the checkpointer started, finished and failed
	// (ckpt_started, ckpt_done, ckpt_failed), and the flags requested
	// for the next one (ckpt_flags); guarded by ckptReqMu.
	ckptFlags   CheckpointFlags
	ckptStarted uint64
	ckptDone    uint64
	ckptFailed  uint64
	redoPtr     wal.LSN // RedoRecPtr, guarded by the WAL insert lock
	// walRef is the buffer pool's way to the WAL, set when the startup
	// process opens it for writing.
	walRef *walRef
	// inRecovery is SharedRecoveryState != RECOVERY_STATE_DONE.
	inRecovery bool
	// lastXlogSwitch is when the checkpointer last looked at
	// archive_timeout and switched or found nothing to switch
	// (CheckArchiveTimeout's last_xlog_switch_time); the checkpointer's
	// alone.
	lastXlogSwitch time.Duration
	rmgrs          [256]RedoFunc

	// Replication (replication.go). runningBackups forces full-page
	// writes (XLogCtl->Insert.runningBackups), guarded by the WAL insert
	// lock. walRcv is a standby's WAL receiver state; replayed and
	// consistent are its startup process's (lastReplayedEndRecPtr,
	// reachedConsistency); walSnds are a primary's WAL sender slots.
	runningBackups int
	walRcv         *WalRcv
	replayed       wal.LSN
	consistent     bool
	backupStart    wal.LSN // the control file's backupStartPoint at startup
	// backupEndReached says the startup process replayed the backup's
	// XLOG_BACKUP_END; minRecoveryPoint is the control file's, guarded
	// by ctlMu (ControlFileLock) with every control file write that can
	// race with it (minrecovery.go).
	backupEndReached bool
	minRecoveryPoint wal.LSN
	ctlMu            env.Mutex
	// standbyMode says the startup process runs in standby mode, and
	// restartPoint is the last checkpoint record it replayed, a
	// restartpoint's candidate (RecoveryRestartPoint); restartRedo is the
	// REDO pointer of the control file's checkpoint (standby.go).
	standbyMode  bool
	restartPoint restartPoint
	restartRedo  wal.LSN
	// priorRedo is the REDO pointer of the last checkpoint this instance
	// made, ckptDistance CheckPointDistanceEstimate: the WAL between two
	// checkpoints, which XLOGfileslop uses to choose how many old
	// segments to recycle (checkpoint.go). Both are the checkpointer's,
	// and start unset at each start (PostgreSQL takes the prior REDO
	// pointer from the control file, so its first checkpoint after a
	// start already updates the estimate).
	priorRedo    wal.LSN
	ckptDistance float64
	walSnds      []WalSnd
	// syncRep is synchronous replication's shared state (syncrep.go),
	// nil when no commit waits for a standby.
	syncRep *syncRepCtl
	// timeline is ThisTimeLineID (promote.go): 1 from initdb, a new one
	// at each promotion.
	timeline uint32
	// promoteSignaled is the startup process's promote_signaled flag
	// (IsPromoteSignaled), set by RequestPromote.
	promoteSignaled bool
	// lastSnapshotLog and lastSnapshotAt are the end and time of the last
	// running-xacts record (hotstandby.go), the logging process's.
	lastSnapshotLog wal.LSN
	lastSnapshotAt  time.Duration
	// pitr is the targeted archive recovery in progress, nil if none
	// (archive_recovery.go).
	pitr *pitrState
	// tles is expectedTLEs, newest first (archive_recovery.go), nil until
	// recovery reads its first record; partial is the old timeline's
	// segment to rename .partial after the end-of-recovery checkpoint.
	tles    []timeLineEntry
	partial *partialSegment
	// forkRefused: rescanLatestTimeLine refused a timeline that forked
	// off before the replay position (timeline_follow.go).
	forkRefused bool
}

// Env is the instance's environment.
func (db *DB) Env() *env.Env { return db.e }

// Config is the instance's configuration.
func (db *DB) Config() Config { return db.cfg }

// NeedsFPI reports whether a page last changed at pageLSN needs a full-page
// image in the record about to change it: its first change since the REDO
// pointer (XLogCheckBufferNeedsBackup). Callers ask it inside
// wal.InsertWith's build callback, under the insert lock, so a concurrent
// checkpoint cannot move the REDO pointer between the decision and the
// record's insertion (XLogInsertRecord's RedoRecPtr re-check). With
// full_page_writes off no page needs one (XLogInsert's doPageWrites); the
// planted bug full-page-writes-off drops them while the setting says on.
func (db *DB) NeedsFPI(pageLSN wal.LSN) bool {
	if !db.cfg.FullPageWrites && db.runningBackups == 0 {
		return false
	}
	return pageLSN <= db.redoPtr && !db.cfg.Bugs.Has(bugs.FullPageWritesOff)
}

// RedoPtr is the REDO pointer of the latest checkpoint begun (RedoRecPtr),
// for checkers; it is read without the insert lock.
func (db *DB) RedoPtr() wal.LSN { return db.redoPtr }

// RegisterRedo installs the redo function of resource manager rmid.
func (db *DB) RegisterRedo(rmid uint8, fn RedoFunc) {
	if db.rmgrs[rmid] != nil {
		panic(fmt.Sprintf("db: resource manager %d registered twice", rmid))
	}
	db.rmgrs[rmid] = fn
}

func checkpointRecord(redo wal.LSN, nextXid xact.XID) wal.Record {
	p := make([]byte, 16)
	binary.LittleEndian.PutUint64(p, uint64(redo))
	binary.LittleEndian.PutUint64(p[8:], uint64(nextXid))
	return wal.Record{Rmid: wal.RMXLog, Info: InfoCheckpoint, Payload: p}
}

func decodeCheckpoint(rec wal.Record) (redo wal.LSN, nextXid xact.XID, err error) {
	if rec.Rmid != wal.RMXLog || rec.Info != InfoCheckpoint || len(rec.Payload) != 16 {
		return 0, 0, errors.New("not a checkpoint record")
	}
	return wal.LSN(binary.LittleEndian.Uint64(rec.Payload)), xact.XID(binary.LittleEndian.Uint64(rec.Payload[8:])), nil
}

// InitDB creates a cluster (initdb/BootStrapXLOG): directories, the first
// WAL segment, the clog, a first checkpoint record and the control file,
// all durable before it returns.
func InitDB(e *env.Env, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, d := range []string{"global", smgr.BaseDir} {
		if err := e.Disk.MkdirAll(d); err != nil {
			return err
		}
	}
	if err := wal.Create(e, cfg.WAL); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	nextXid := xact.FirstNormalXID
	if cfg.InitNextXid != 0 {
		nextXid = xact.XID(cfg.InitNextXid)
	}
	if err := clog.BootstrapAt(e, uint64(nextXid)); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if err := catalog.Init(e); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	w, err := wal.Open(e, cfg.WAL.ResolveBuffers(cfg.SharedBuffers), wal.FirstLSN, wal.InvalidLSN)
	if err != nil {
		return err
	}
	rec := checkpointRecord(wal.FirstLSN, nextXid)
	start, end := w.Insert(&rec)
	w.Flush(end)
	w.Close()
	writeControl(e, cfg.Bugs, controlData{state: StateShutdowned, checkpoint: start, redo: wal.FirstLSN, nextXid: nextXid, segSize: cfg.WAL.SegmentSize, dataChecksumVersion: cfg.dataChecksumVersion()})
	for _, d := range []string{"", "global", smgr.BaseDir} {
		if err := e.Disk.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) newPool(w buffer.WAL) error {
	var err error
	db.SMgr, err = smgr.New(db.e, smgr.Config{SegBlocks: db.cfg.SegBlocks, MaxPendingSyncs: db.cfg.SyncRequestsMax, Bugs: db.cfg.Bugs})
	if err != nil {
		return err
	}
	bc := buffer.Config{
		NBuffers:    db.cfg.SharedBuffers,
		SMgr:        db.SMgr,
		WAL:         w,
		Verify:      page.Verify,
		SetChecksum: page.SetChecksum,
		Bugs:        db.cfg.Bugs,
	}
	if !db.cfg.DataChecksums {
		// PageIsVerifiedExtended and PageSetChecksumCopy without
		// DataChecksumsEnabled(): the header is still checked, the
		// checksum neither written nor read.
		bc.Verify, bc.SetChecksum = page.VerifyNoChecksum, nil
	}
	db.Pool, err = buffer.NewPool(db.e, bc)
	return err
}

// InitNextXidMax bounds Config.InitNextXid: 2^40 xids, far beyond any run,
// keep clog segment names short.
const InitNextXidMax = 1 << 40
