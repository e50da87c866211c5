package proc

import "github.com/pgdst/pgdst/engine/env"

// Point is one injection point: a named place where a crash changes what
// recovery must do. The simulator can crash the node, kill a process or
// pause it there (fault plans' point=NAME#K), and its systematic campaigns
// enumerate them.
type Point struct {
	Name string
	// Roles are the processes that reach it, as runs reach it
	// (simtest's TestPointsTableRolesAreReached checks this column
	// against every (role, point) a sample of runs reaches, both ways):
	// the plan generator pairs a role only with a point the role reaches.
	Roles env.RoleSet
	What  string // why a crash there matters
}

// Who reaches the points, in groups. Every XLogFlush can write and fsync
// WAL itself, and create the next segment, when the WAL writer has not yet
// (XLogWrite in the caller):
// backends at commit, and whoever writes a page whose WAL is not yet
// durable (FlushBuffer's XLogFlush: a backend evicting, the bgwriter, the
// checkpointer, the startup process evicting during redo), the checkpointer
// for its record, the startup process for the end-of-recovery checkpoint's.
// Under the postmaster the startup process requests the end-of-recovery
// checkpoint from the checkpointer (PerformRecoveryXLogAction); a
// standalone startup process (the final recovery after a run, as a
// single-user backend) runs it itself, so the startup role reaches every
// checkpoint point. A heap or B-tree change is logged by a backend or an
// autovacuum worker (page-after-xloginsert); redo applies records without
// logging them. An autovacuum worker that must evict a dirty buffer to
// read the next page of a table larger than shared buffers writes it
// (FlushBuffer), writing and flushing WAL first, as the swarm's bulk-loaded
// tables show, and creating the next WAL segment when its flush crosses
// into it (XLogWrite's XLogFileInit runs in whichever process writes past
// a segment's end; seen since the swarm draws low autovacuum thresholds and
// register deletes give it dead rows to vacuum). Clog pages
// are written by checkpoints: a backend would write one only when evicting
// a clog page to extend the clog, which takes far more transactions than a
// run has (a page holds 32768). Vacuum runs in a backend (VACUUM) and in
// autovacuum workers; the launcher reaches none.
var (
	reachBackend    = env.NewRoleSet(env.RoleBackend)
	reachPageChange = env.NewRoleSet(env.RoleBackend, env.RoleAutovacuumWorker)
	// reachFlushMidRecord: the WAL writer's flush of its completed pages,
	// and the flushes that take WALWriteLock after WaitXLogInsertionsToFinish
	// stopped them at an insertion crossing a page (the copier flags the
	// next page meanwhile), an autovacuum worker's too (its VACUUM's
	// flushes are few, but the runs sampled reach it). A full WAL buffer is written out by the heap and
	// B-tree changes' insertions (reachPageChange): the bgwriter's,
	// checkpointer's and startup process's few records never outrun the
	// WAL writer by wal_buffers pages in the runs sampled.
	reachFlushMidRecord = env.NewRoleSet(env.RoleWalwriter, env.RoleBackend, env.RoleBgwriter, env.RoleCheckpointer, env.RoleAutovacuumWorker)
	// reachWALWriteRunning are the WAL writers of a running server: the
	// startup process's one flush (the end-of-recovery checkpoint's
	// record) does not span a segment boundary inside a record in the
	// runs sampled.
	reachWALWriteRunning = env.NewRoleSet(env.RoleBackend, env.RoleBgwriter, env.RoleCheckpointer, env.RoleWalwriter, env.RoleAutovacuumWorker)
	reachWALWrite        = env.NewRoleSet(env.RoleBackend, env.RoleBgwriter, env.RoleCheckpointer, env.RoleWalwriter, env.RoleStartup, env.RoleAutovacuumWorker)
	reachPageWrite       = env.NewRoleSet(env.RoleBackend, env.RoleBgwriter, env.RoleCheckpointer, env.RoleStartup, env.RoleAutovacuumWorker)
	reachCheckpoint      = env.NewRoleSet(env.RoleCheckpointer, env.RoleStartup)
	reachStartup         = env.NewRoleSet(env.RoleStartup)
	reachVacuum          = env.NewRoleSet(env.RoleBackend, env.RoleAutovacuumWorker)
	reachArchiver        = env.NewRoleSet(env.RoleArchiver)
	reachEvict           = env.NewRoleSet(env.RoleBackend, env.RoleAutovacuumWorker, env.RoleStartup)
	reachWALInsert       = env.NewRoleSet(env.RoleBackend, env.RoleAutovacuumWorker, env.RoleBgwriter, env.RoleCheckpointer, env.RoleStartup)
)

// Points lists every injection point of the engine, in the order a
// transaction, a checkpoint and a recovery reach them. A test checks that
// every point the engine's source injects is listed here (and nothing
// else), and simtest crashes at each of them.
var Points = []Point{
	{"backend-after-snapshot", reachBackend, "a statement has its snapshot and has touched no row: nothing of it is in the WAL, and a pause here lets other transactions commit updates that its own must follow along the update chain (EvalPlanQual)"},
	{"page-after-xloginsert", reachPageChange, "a heap or B-tree change's record is in the WAL buffers and its pages, still exclusively locked, carry its LSN: they must already be dirty (MarkBufferDirty before XLogInsert), since a checkpoint that takes its REDO pointer now is past the record"},
	{"backend-after-commit-insert", reachBackend, "the commit record is in the WAL buffers, not yet on disk: the transaction must be lost if it never flushes, kept if a later flush takes it along"},
	{"backend-after-xlogflush", reachBackend, "the commit record is durable but the clog does not say committed yet and the client has no answer: recovery must redo the commit"},
	{"backend-after-clog-update", reachBackend, "the clog page in memory says committed; the commit is durable, not acknowledged"},
	{"backend-before-ack", reachBackend, "everything is done but the client has not heard: the outcome is unknown to it, and must be all or nothing"},
	{"walwriter-before-write", reachWALWrite, "WAL is about to be written to the segment: nothing of it is on disk"},
	{"walwriter-before-fsync", reachWALWrite, "WAL is written but not fsynced: a power loss may keep any part of it, torn at sectors"},
	{"walwriter-after-fsync", reachWALWrite, "WAL is durable up to the flush point"},
	{"walwriter-after-fsync-mid-record", reachFlushMidRecord, "a flush ended at a page boundary inside a record whose last pages are not written: the WAL writer's flush of its completed pages (XLogBackgroundFlush), or any XLogFlush that found an insertion copying a record across pages there (WaitXLogInsertionsToFinish returns its insertingAt); a power loss leaves the record incomplete at the end of WAL, and recovery must write XLOG_OVERWRITE_CONTRECORD past it"},
	{"walwriter-after-segment-fsync-mid-record", reachWALWriteRunning, "a segment is fsynced (XLogWrite's finishing_seg) whose last record continues in the next segment, not yet written: a power loss leaves the record's head alone at the end of one segment"},
	{"wal-buffers-full-after-write", reachPageChange, "an insertion found the WAL buffer page it needs still holding an older page and wrote the WAL out up to that page's end itself, without fsync (AdvanceXLInsertBuffer's XLogWrite), before reusing the slot: the WAL on disk runs ahead of the WAL flushed, and a power loss may keep any part of it"},
	{"wal-after-segment-create", reachWALWrite, "a new WAL segment has just been made durable by durable_rename"},
	{"bufmgr-before-write", reachPageWrite, "a dirty page is about to be written, its WAL flushed (FlushBuffer)"},
	{"bufmgr-after-write", reachPageWrite, "a page is written to the OS, not fsynced: a power loss may tear it"},
	{"smgr-before-write", reachPageWrite, "the relation file write itself is about to happen"},
	{"smgr-after-write", reachPageWrite, "the relation file write happened; its fsync request is queued"},
	{"clog-before-write", reachCheckpoint, "a clog page is about to be written (after its group LSN's WAL is flushed)"},
	{"clog-after-write", reachCheckpoint, "a clog page is written, not fsynced"},
	{"checkpointer-after-redo", reachCheckpoint, "the REDO pointer is taken; nothing of this checkpoint is durable"},
	{"checkpointer-after-delay-wait", reachCheckpoint, "commits in their critical section have reached the clog"},
	{"checkpointer-after-clog", reachCheckpoint, "the clog is flushed and fsynced"},
	{"checkpointer-after-buffers", reachCheckpoint, "every buffer dirty at REDO is written, none fsynced: a power loss may tear them, and full-page images must repair them"},
	{"smgr-after-fsync", reachCheckpoint, "one relation segment is fsynced; others are not yet"},
	{"checkpointer-after-fsyncs", reachCheckpoint, "every write the checkpoint needs is durable"},
	{"clog-after-fsync", reachCheckpoint, "a clog segment is fsynced"},
	{"checkpointer-after-record", reachCheckpoint, "the checkpoint record is in the WAL buffers"},
	{"checkpointer-after-flush", reachCheckpoint, "the checkpoint record is durable but the control file still names the previous checkpoint"},
	{"control-file-before-fsync", reachCheckpoint, "the control file's one sector is written in place, not fsynced (update_controlfile between write and pg_fsync): a power loss keeps the old control file or the new one, never a mix, since ControlFileData fits PG_CONTROL_MAX_SAFE_SIZE"},
	{"checkpointer-after-control", reachCheckpoint, "the control file names the new checkpoint: recovery now starts at its REDO"},
	{"wal-before-segment-recycle", reachCheckpoint, "a checkpoint is about to rename an old segment into a future one's name (RemoveXlogFile's InstallXLogFileSegment): a power loss keeps the old name"},
	{"wal-after-segment-recycle", reachCheckpoint, "an old segment is durably renamed into a future one's name, its stale pages intact: only xlp_pageaddr tells them from WAL"},
	{"checkpointer-after-segment-removal", reachCheckpoint, "WAL before REDO is removed: from now on nothing before it can be replayed"},
	{"startup-after-redo-record", reachStartup, "one WAL record is redone: a crash in the middle of recovery, which must be restartable"},
	{"vacuum-after-heap-prune", reachVacuum, "vacuum removed dead tuples from the heap but not yet their index entries"},
	{"vacuum-after-index", reachVacuum, "index entries of dead tuples are removed; the heap's line pointers are not yet free"},
	{"catalog-after-record", reachBackend, "CREATE TABLE's catalog record is in the WAL"},
	{"archiver-after-copy", reachArchiver, "a WAL segment is copied to the archive, not fsynced"},
	{"archiver-after-fsync", reachArchiver, "the archived copy is durable but not yet marked done"},
	// Race windows (simtest's PCT scheduler and the plans' pauses stop
	// here): each costs a scheduler step, so only where the order of two
	// processes' steps matters.
	{"xact-after-xid-assign", reachBackend, "a transaction has its xid in the proc array and holds its lock, with nothing in the WAL: a stall here makes later xids commit first, out of xid order, and holds the xmin horizon back"},
	{"wal-insert-copy", reachWALInsert, "a WAL insertion has reserved its record's space and holds its insertion lock, with the record not (or, at a page it goes on to, not wholly) copied into the WAL buffers: a flush now must wait for it (WaitXLogInsertionsToFinish), or it writes a torn record"},
	{"bufmgr-after-victim-write", reachEvict, "an eviction (a backend's, an autovacuum worker's, the startup process's in redo) wrote its dirty victim and has not looked at it again: others may pin it, dirty it again or load the wanted block elsewhere, which BufferAlloc must then notice"},
}

// PointNames lists the points' names, in table order.
func PointNames() []string {
	out := make([]string, len(Points))
	for i, p := range Points {
		out[i] = p.Name
	}
	return out
}
