package env

import (
	"fmt"
	"math/bits"
	"sort"
)

// Condition is a "sometimes" condition: a state of the engine that a
// healthy campaign must reach in some run (Antithesis' sometimes
// assertions, FoundationDB's TEST macro). A condition no run reaches is a
// blind spot: whatever code runs only there is never tested.
type Condition struct {
	Name string
	What string // what the engine is doing there, with PostgreSQL's function
}

// Conditions lists every condition the engine declares, in one table, so
// that a campaign can name those it never reached. A test
// (sometimes_test.go) checks that every Sometimes call in the engine names
// a listed condition and that every listed one is called somewhere.
var Conditions = []Condition{
	{"btree-leaf-split", "a full B-tree leaf page is split in two (_bt_split on a leaf)"},
	{"btree-internal-split", "a full B-tree internal page is split, its downlink inserted one level up (_bt_split above the leaves)"},
	{"btree-root-split", "the root splits and a new root is made above it (_bt_newroot)"},
	{"btree-finish-split", "an insert finds a split whose downlink a crash lost and finishes it (_bt_finish_split)"},
	{"redo-fpi-restored", "redo restores a full-page image instead of applying the change (XLogReadBufferForRedoExtended: BLK_RESTORED)"},
	{"redo-blk-done", "redo skips a block whose page LSN already covers the record (XLogReadBufferForRedoExtended: BLK_DONE)"},
	{"redo-unreadable-page-replaced", "redo meets a page that fails verification (torn) and a record that rebuilds it wholesale, so it zeroes it first (RBM_ZERO_AND_LOCK)"},
	{"page-verify-failed", "a page read from disk fails verification, a torn or corrupted page (PageIsVerifiedExtended)"},
	{"hint-bit-set", "a visibility check sets a tuple's commit or abort hint bit (SetHintBits)"},
	{"heap-update-new-page", "an update's new version does not fit the old version's page and goes to another, both pages locked in block order (heap_update's RelationGetBufferForTuple)"},
	{"heap-update-recheck-failed", "an update that let go of the old page to find room elsewhere finds the old version changed by another transaction meanwhile, and starts over (heap_update's re-check after RelationGetBufferForTuple)"},
	{"hint-fpi-logged", "a hint bit is a page's first change since the checkpoint, so a full-page image is logged for it (XLogSaveBufferForHint)"},
	{"hint-page-written", "a page dirtied by hint bits alone is written, hints and all (FlushBuffer after MarkBufferDirtyHint)"},
	{"hint-first-change-unlogged", "without data checksums, a hint bit is a page's first change since the checkpoint and dirties it with no full-page image (MarkBufferDirtyHint with XLogHintBitIsNeeded() false)"},
	{"hint-page-written-no-checksum", "without data checksums, a page dirtied by hint bits alone is written with pd_checksum 0 and no WAL record covering the hints (FlushBuffer, PageSetChecksumCopy doing nothing)"},
	{"hint-during-write", "a hint bit dirties a buffer while it is being written, so the write leaves it dirty (BM_JUST_DIRTIED)"},
	{"hint-deferred-async-commit", "a commit hint is not set because the asynchronous commit's record is not yet flushed (SetHintBits' XLogNeedsFlush)"},
	{"async-commit", "a transaction commits without waiting for its commit record to be flushed (synchronous_commit = off)"},
	{"heap-page-pruned", "a heap page is pruned of dead tuples (heap_page_prune)"},
	{"vacuum-kept-recently-dead", "vacuum keeps a dead tuple an older snapshot may still see (HeapTupleSatisfiesVacuum: HEAPTUPLE_RECENTLY_DEAD)"},
	{"vacuum-removed-tuple", "vacuum removes a dead tuple and its index entries (lazy_vacuum_heap_page)"},
	{"autovacuum-ran", "an autovacuum worker vacuums a table past its threshold (do_autovacuum)"},
	{"checkpoint-requested", "the checkpointer wakes for a request rather than checkpoint_timeout (CheckpointerMain's ckpt_flags)"},
	{"checkpoint-failed", "a checkpoint fails with an ERROR and the checkpointer carries on (CheckpointerMain's error recovery)"},
	{"checkpoint-with-open-xact", "a checkpoint takes its REDO pointer while a transaction is in progress (CreateCheckPoint)"},
	{"checkpoint-delayed-by-commit", "a checkpoint waits for a commit in its critical section to reach the clog (HaveVirtualXIDsDelayingChkpt)"},
	{"clog-page-extended", "the clog is extended by a zeroed page for the next transactions (ExtendCLOG, ZeroCLOGPage)"},
	{"wal-segment-created", "a new WAL segment is created by durable_rename (XLogFileInit, after initdb's first)"},
	{"wal-segment-switch", "the WAL writer closes a full segment and opens the next (XLogWrite's XLogFileInit / XLogFileOpen)"},
	{"wal-switch-forced", "archive_timeout passed and the checkpointer ends a WAL segment that holds records, so it is archived (CheckArchiveTimeout, RequestXLogSwitch)"},
	{"wal-record-crosses-page", "a WAL record does not fit on its page and continues on the next, after a page header flagged XLP_FIRST_IS_CONTRECORD (CopyXLogRecordToWAL)"},
	{"wal-record-crosses-segment", "a WAL record continues into the next segment (CopyXLogRecordToWAL at a segment's end)"},
	{"wal-flush-ends-mid-record", "the WAL writer's flush of completed pages ends at a page boundary inside a record, its last pages not yet written (XLogBackgroundFlush backing off to the last completed page)"},
	{"wal-segment-durable-mid-record", "a segment is fsynced whose last record continues in the next segment, not yet written (XLogWrite's finishing_seg inside a record)"},
	{"wal-switch-crosses-segment", "a switch record does not fit in its segment and ends in the next, which is then written whole (ReserveXLogSwitch's EndPos rounded to the end of the segment it ends in)"},
	{"wal-flush-waited-for-insertion", "a WAL flush waits for an insertion still copying its record below the flush request (WaitXLogInsertionsToFinish's LWLockWaitForVar)"},
	{"wal-overwrite-contrecord-written", "the end of recovery writes XLOG_OVERWRITE_CONTRECORD at the page where a record's continuation was missing (CreateOverwriteContrecordRecord)"},
	{"wal-read-overwritten-contrecord", "a reader finds a record's continuation page flagged XLP_FIRST_IS_OVERWRITE_CONTRECORD and skips the abandoned record (XLogDecodeNextRecord's overwrittenRecPtr)"},
	{"recovery-end-incomplete-record", "recovery ends in a record that crosses pages whose continuation is missing or invalid (XLogDecodeNextRecord's abortedRecPtr / missingContrecPtr)"},
	{"wal-segment-removed", "a checkpoint removes WAL segments before its REDO (RemoveOldXlogFiles)"},
	{"wal-segment-recycled", "a checkpoint renames a segment before its REDO into a future segment's name instead of removing it (RemoveXlogFile, InstallXLogFileSegment)"},
	{"wal-recycled-segment-reused", "the WAL writer opens a recycled segment and overwrites its stale pages (XLogFileInit finding the file installed)"},
	{"wal-read-unexpected-pageaddr", "a WAL reader finds a page whose xlp_pageaddr names another position, most often a recycled segment's stale page (XLogReaderValidatePageHeader)"},
	{"wal-removal-held-by-archive", "a checkpoint keeps a segment it could remove because it is not yet archived (XLogArchiveCheckDone false)"},
	{"recovery-restarted", "recovery starts from a control file that says a recovery was already in progress: an earlier one crashed (DB_IN_CRASH_RECOVERY)"},
	{"recovery-replayed", "crash recovery replays at least one record after the checkpoint's REDO (PerformWalRecovery's main loop)"},
	{"recovery-end-clean", "recovery ends at a clean end of WAL: a zero or missing next record (XLogReadRecord returns NULL)"},
	{"recovery-end-torn", "recovery ends at a record cut short by the crash: it runs past the end of the WAL written, or its length is invalid (XLogReadRecord's checks)"},
	{"recovery-end-bad-crc", "recovery ends at a complete record whose CRC is wrong (ValidXLogRecord)"},
	{"recovery-end-other", "recovery ends at a bad prev-link, misaligned position, segment boundary or bad segment header (ValidXLogRecordHeader, XLogReaderValidatePageHeader)"},
	{"lock-wait", "a transaction waits for a row lock another holds (LockAcquire sleeping in ProcSleep)"},
	{"deadlock-check-ran", "a lock wait outlasts deadlock_timeout and the deadlock check runs (CheckDeadLock)"},
	{"deadlock-detected", "the deadlock detector breaks a cycle of waits (DeadLockCheck)"},
	{"lwlock-pause-overtaken", "a process paused by the fault plan just before acquiring an LWLock finds that another process took the same lock during the pause (a backend descheduled at LWLockAcquire)"},
	{"serialization-failure", "an update or lock conflicts with a concurrent update under REPEATABLE READ: 40001 raised (heap_update's TM_Updated)"},
	{"create-skipped-orphan-file", "CREATE TABLE finds a file of the relation number it would take, an orphan a crashed CREATE TABLE left, and takes the next (GetNewRelFileNumber)"},
	{"scan-skipped-own-write", "a statement's sequential scan reaches a row version its own command wrote after the scan began and skips it (HeapTupleSatisfiesMVCC: cmin >= curcid, the Halloween problem)"},
	{"epq-recheck", "a READ COMMITTED update finds its row updated by a concurrent commit and rechecks the newest version (EvalPlanQual)"},
	{"fsync-eio-panic", "a data file's fsync fails and the server PANICs rather than retry (ProcessSyncRequests, data_sync_elevel)"},
	{"wal-fsync-panic", "a WAL segment's fsync fails and the server PANICs (issue_xlog_fsync)"},
	{"fsync-queue-full", "the fsync request queue is full and the writer fsyncs the segment itself (register_dirty_segment when ForwardSyncRequest fails)"},
	{"write-enospc", "a data file write or extension fails with ENOSPC and the error goes to the caller, not a PANIC (mdextend's ereport(ERROR))"},
	{"archiver-behind", "the archiver finds more than one segment waiting in archive_status: it fell behind (pgarch_readyXlog)"},
	{"archiver-failed", "archiving a segment fails and the archiver will retry it (pgarch_ArchiverCopyLoop's failure path)"},
	{"archive-history-notified", "a new timeline's history file is notified for archiving (writeTimeLineHistory's XLogArchiveNotify)"},
	{"archive-partial-notified", "the old timeline's last segment, renamed .partial at a timeline switch, is notified for archiving (CleanupAfterArchiveRecovery)"},
	{"walreceiver-segment-force-done", "a standby with archive_mode = on marks a streamed segment archived when it finishes it (XLogWalRcvClose's XLogArchiveForceDone)"},
	{"archiver-already-archived", "a segment is found already in the archive with the same contents, as after a crash between copy and .done (the archive_command's idempotence)"},
	{"crash-restart", "the postmaster reinitializes after a server process died abnormally (HandleChildCrash, PM_WAIT_DEAD_END)"},
	{"end-of-recovery-checkpoint", "recovery's end-of-recovery checkpoint completes (CreateEndOfRecoveryCheckpoint)"},
	{"buffer-evicted-dirty", "a backend evicts a dirty buffer and writes it itself (BufferAlloc's FlushBuffer)"},
	// Replication (issue 19), reached only by runs with standbys; appended
	// so that no older condition's index moves.
	{"backup-label-read", "a standby's startup process takes its first checkpoint from backup_label, not the control file (read_backup_label)"},
	{"standby-streaming-requested", "a standby's startup process has replayed all of pg_wal and asks for streaming from where it ends (RequestXLogStreaming)"},
	{"standby-waited-for-wal", "a standby has replayed all the WAL its receiver flushed and waits for more (WaitForWALToBecomeAvailable)"},
	{"standby-consistent", "a standby replays its base backup's XLOG_BACKUP_END, and past minRecoveryPoint, and is consistent (reachedConsistency)"},
	{"standby-consistent-at-min-recovery-point", "a restarted standby is consistent once it has replayed past the minRecoveryPoint its control file holds (CheckRecoveryConsistency)"},
	{"standby-min-recovery-point", "a standby writing a data page in recovery moves minRecoveryPoint in its control file past the page's LSN first (UpdateMinRecoveryPoint)"},
	{"walsender-streaming", "a WAL sender starts streaming from the LSN a standby asked for (StartReplication)"},
	{"walsender-refused-max", "a replication connection beyond max_wal_senders is refused with 53300 (InitWalSenderSlot)"},
	{"walsender-timeout", "a WAL sender ends its connection after wal_sender_timeout of silence from its standby (WalSndCheckTimeOut)"},
	{"syncrep-wait", "a committing backend waits for its synchronous standbys (SyncRepWaitForLSN queues it)"},
	{"syncrep-released-write", "a WAL sender releases commits waiting for the standbys' write position (SyncRepWakeQueue, SYNC_REP_WAIT_WRITE)"},
	{"syncrep-released-flush", "a WAL sender releases commits waiting for the standbys' flush position (SyncRepWakeQueue, SYNC_REP_WAIT_FLUSH)"},
	{"syncrep-released-apply", "a WAL sender releases commits waiting for the standbys' apply position (SyncRepWakeQueue, SYNC_REP_WAIT_APPLY)"},
	{"syncrep-wait-canceled", "a sync-rep wait is canceled: committed locally, perhaps not replicated (SyncRepWaitForLSN's QueryCancelPending WARNING)"},
	{"syncrep-wait-terminated", "a sync-rep wait ends by the backend's termination (SyncRepWaitForLSN's ProcDiePending WARNING)"},
	{"walreceiver-streaming", "a WAL receiver connects and starts streaming (WalReceiverMain)"},
	{"standby-restartpoint", "a standby's checkpointer makes a restartpoint at the last checkpoint record replayed, so a restart replays from there (CreateRestartPoint)"},
	{"walreceiver-retry", "a WAL receiver's connection fails or ends, and it connects again after wal_retrieve_retry_interval (WalReceiverMain)"},
	{"standby-promote-requested", "a standby's startup process finds the promote signal file while it waits for WAL (CheckForStandbyTrigger)"},
	{"standby-promoted", "a promoted standby picks a new timeline and ends recovery (StartupXLOG after findNewestTimeLine)"},
	// Hot standby (engine/db/hotstandby.go).
	{"running-xacts-logged", "a primary logs XLOG_RUNNING_XACTS, at a checkpoint or from the background writer (LogStandbySnapshot)"},
	{"hot-standby-snapshot-ready", "a hot standby applies its first running-xacts record and may take snapshots (STANDBY_SNAPSHOT_READY)"},
	{"hot-standby-accepting", "a standby's postmaster accepts read-only connections while recovery goes on (PM_HOT_STANDBY)"},
	{"hot-standby-write-refused", "a write on a hot standby, or in a transaction that began in recovery, fails with 25006 (PreventCommandIfReadOnly)"},
	{"standby-snapshot-conflict", "a replayed prune or vacuum record conflicts with a standby snapshot, and the startup process waits (ResolveRecoveryConflictWithSnapshot)"},
	{"standby-query-cancelled", "the startup process cancels a standby snapshot after max_standby_streaming_delay"},
	{"standby-statement-cancelled", "a standby statement fails with 40001, canceling statement due to conflict with recovery"},
	// SERIALIZABLE (issue 20), reached only by runs at serializable;
	// appended so that no older condition's index moves.
	{"ssi-rw-conflict", "a serializable transaction's read or write meets a concurrent serializable transaction's write or SIREAD lock: a rw-conflict is flagged (FlagRWConflict)"},
	{"ssi-dangerous-structure", "a new rw-conflict completes a dangerous structure Tin -rw-> Tpivot -rw-> Tout with Tout committing first (OnConflict_CheckForSerializationFailure)"},
	{"ssi-pivot-doomed-at-commit", "a committing serializable transaction dooms the pivot of a dangerous structure it ends (PreCommit_CheckForSerializationFailure)"},
	{"ssi-promote-page", "a SIREAD tuple lock past max_pred_locks_per_page is promoted to a page lock (CheckAndPromotePredicateLockRequest)"},
	{"ssi-promote-relation", "a SIREAD lock past max_pred_locks_per_relation is promoted to a relation lock (CheckAndPromotePredicateLockRequest)"},
	{"ssi-page-split-transfer", "a B-tree leaf split copies SIREAD locks of the page to its new right sibling (PredicateLockPageSplit)"},
	{"ssi-summarized", "the serializable transaction records are full and the oldest committed one is summarized (SummarizeOldestCommittedSxact)"},
	{"pitr-started", "a base backup with recovery.signal starts a targeted archive recovery (readRecoverySignalFiles)"},
	{"pitr-segment-restored", "targeted recovery restores a WAL segment from the archive with restore_command (XLOG_FROM_ARCHIVE, RestoreArchivedFile)"},
	{"pitr-segment-from-pg-wal", "the archive lacks a segment targeted recovery needs, which reads pg_wal's copy (XLOG_FROM_PG_WAL)"},
	{"pitr-target-reached", "targeted recovery reaches its recovery target (recoveryStopsBefore or recoveryStopsAfter)"},
	{"pitr-time-target-reached", "targeted recovery stops before the first commit or abort record whose xact_time passes recovery_target_time (recoveryStopsBefore)"},
	{"pitr-promoted", "targeted recovery ends at its target on a new timeline (recovery_target_action)"},
	{"wal-new-timeline-segment", "the end of an archive recovery copies the last segment to the new timeline's name and renames the old one .partial (XLogInitNewTimeline)"},
	{"pitr-follows-timeline", "archive recovery follows a timeline history from the archive to a timeline after the backup's (recovery_target_timeline = latest)"},
	{"walsender-historic-timeline", "a WAL sender streams a timeline of its history that is not its own, up to the switch point (StartReplication, tliSwitchPoint)"},
	{"walsender-end-of-timeline", "a WAL sender ends a historic timeline's stream at its switch point with the next timeline (XLogSendPhysical, WalSndDone)"},
	{"walreceiver-end-of-timeline", "a WAL receiver reaches the end of the timeline it streamed and waits for new orders (walrcv_endstreaming)"},
	{"walreceiver-history-fetched", "a WAL receiver writes a timeline history file the primary sent (WalRcvFetchTimeLineHistoryFiles, writeTimeLineHistoryFile)"},
	{"standby-followed-timeline", "a standby's startup process follows a new timeline (rescanLatestTimeLine)"},
	{"standby-timeline-forked-before-replay", "a standby refuses a new timeline that forked off before its replay position (rescanLatestTimeLine)"},
	{"standby-segment-from-archive", "a standby's startup process restores a WAL segment from the archive with restore_command (WaitForWALToBecomeAvailable's XLOG_FROM_ARCHIVE)"},
	{"standby-stream-failed-to-archive", "a standby's stream fails (no connection, a broken one, or the segment already removed) and its startup process goes back to the archive (XLOG_FROM_STREAM to XLOG_FROM_ARCHIVE)"},
	{"standby-archive-to-stream", "a standby that restored WAL from the archive runs out of it and streams again from its replay position (XLOG_FROM_PG_WAL to XLOG_FROM_STREAM)"},
	// Safe snapshots of READ ONLY serializable transactions (issue 20).
	{"ssi-ro-safe", "a READ ONLY serializable transaction's snapshot is safe: it opts out of SSI at once or drops its SIREAD locks mid-transaction (GetSerializableTransactionSnapshotInt, ReleasePredicateLocks(false, true))"},
	{"ssi-ro-unsafe", "a read-write transaction commits with a rw-conflict out to a transaction that committed before a concurrent READ ONLY one's snapshot, which is unsafe (FlagSxactUnsafe)"},
	{"ssi-deferrable-waited", "a SERIALIZABLE READ ONLY DEFERRABLE transaction waits for a safe snapshot (GetSafeSnapshot)"},
	{"wal-buffers-full-write", "a WAL insertion needs a WAL buffer page whose slot still holds an older page not yet written, and writes the WAL out up to that page's end itself before reusing the slot (AdvanceXLInsertBuffer's XLogWrite: pg_stat_wal.wal_buffers_full)"},
}

// condIndex maps a condition's name to its bit.
var condIndex = func() map[string]int {
	if len(Conditions) > 64*len(Reached{}) {
		panic("env: more sometimes conditions than Reached holds")
	}
	m := make(map[string]int, len(Conditions))
	for i, c := range Conditions {
		if _, dup := m[c.Name]; dup {
			panic("env: sometimes condition listed twice: " + c.Name)
		}
		m[c.Name] = i
	}
	return m
}()

// Reached is a set of conditions, a bit per entry of Conditions.
type Reached [2]uint64

// Add puts the named condition in the set; an unlisted name panics, so a
// misspelt call fails the first run that reaches it.
func (r *Reached) Add(name string) {
	i, ok := condIndex[name]
	if !ok {
		panic(fmt.Sprintf("env: Sometimes(%q): not in env.Conditions", name))
	}
	r[i/64] |= 1 << (i % 64)
}

// Has reports whether the named condition is in the set.
func (r Reached) Has(name string) bool {
	i, ok := condIndex[name]
	return ok && r[i/64]&(1<<(i%64)) != 0
}

// Len counts the conditions in the set.
func (r Reached) Len() int { return bits.OnesCount64(r[0]) + bits.OnesCount64(r[1]) }

// Names lists the conditions in the set, in table order.
func (r Reached) Names() []string {
	var out []string
	for i, c := range Conditions {
		if r[i/64]&(1<<(i%64)) != 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

// ConditionNames lists every condition's name, sorted.
func ConditionNames() []string {
	out := make([]string, len(Conditions))
	for i, c := range Conditions {
		out[i] = c.Name
	}
	sort.Strings(out)
	return out
}

// Sometimes records that the engine reached the named condition. It is
// neither a scheduling point nor a traced event, so it changes no run:
// the simulator only keeps the set for the run's result. Without a set
// (the real environment, most unit tests) or without an Env it does
// nothing, after checking the name.
//
// The first time a run reaches a condition, OnFirstReach (when set) is
// told its index in Conditions: the simulator notes the scheduler step and
// virtual time there, where a guided campaign forks new runs from
// (harness/campaign/guided_anchor.go). Every later call only tests the
// bit, so the hook costs nothing on the hot paths (hint bits, pruning).
func (e *Env) Sometimes(name string) {
	i, ok := condIndex[name]
	if !ok {
		panic(fmt.Sprintf("env: Sometimes(%q): not in env.Conditions", name))
	}
	if e == nil || e.Reached == nil {
		return
	}
	w, b := i/64, uint64(1)<<(i%64)
	if e.Reached[w]&b != 0 {
		return
	}
	e.Reached[w] |= b
	if e.OnFirstReach != nil {
		e.OnFirstReach(i)
	}
}

// Collecting reports whether the environment collects sometimes
// conditions: a caller whose test for one costs work, or reads shared
// state without its lock, asks first.
func (e *Env) Collecting() bool { return e != nil && e.Reached != nil }
