package proc

// Point is one injection point: a named place where a crash changes what
// recovery must do. The simulator can crash the node, kill a process or
// pause it there (fault plans' point=NAME#K), and its systematic campaigns
// enumerate them.
type Point struct {
	Name    string
	Process string // the process (or processes) that reach it
	What    string // why a crash there matters
}

// Points lists every injection point of the engine, in the order a
// transaction, a checkpoint and a recovery reach them. A test checks that
// every point the engine's source injects is listed here (and nothing
// else), and simtest crashes at each of them.
var Points = []Point{
	{"backend-after-snapshot", "backend", "a statement has its snapshot and has touched no row: nothing of it is in the WAL, and a pause here lets other transactions commit updates that its own must follow along the update chain (EvalPlanQual)"},
	{"page-after-xloginsert", "initdb, backend, autovacuum worker", "a heap or B-tree change's record is in the WAL buffers and its pages, still exclusively locked, carry its LSN: they must already be dirty (MarkBufferDirty before XLogInsert), since a checkpoint that takes its REDO pointer now is past the record"},
	{"backend-after-commit-insert", "backend", "the commit record is in the WAL buffers, not yet on disk: the transaction must be lost if it never flushes, kept if a later flush takes it along"},
	{"backend-after-xlogflush", "backend", "the commit record is durable but the clog does not say committed yet and the client has no answer: recovery must redo the commit"},
	{"backend-after-clog-update", "backend", "the clog page in memory says committed; the commit is durable, not acknowledged"},
	{"backend-before-ack", "backend", "everything is done but the client has not heard: the outcome is unknown to it, and must be all or nothing"},
	{"walwriter-before-write", "backend, walwriter", "WAL is about to be written to the segment: nothing of it is on disk"},
	{"walwriter-before-fsync", "backend, walwriter", "WAL is written but not fsynced: a power loss may keep any part of it, torn at sectors"},
	{"walwriter-after-fsync", "backend, walwriter", "WAL is durable up to the flush point"},
	{"wal-after-segment-create", "backend, walwriter", "a new WAL segment has just been made durable by durable_rename"},
	{"bufmgr-before-write", "backend, bgwriter, checkpointer", "a dirty page is about to be written, its WAL flushed (FlushBuffer)"},
	{"bufmgr-after-write", "backend, bgwriter, checkpointer", "a page is written to the OS, not fsynced: a power loss may tear it"},
	{"smgr-before-write", "backend, bgwriter, checkpointer", "the relation file write itself is about to happen"},
	{"smgr-after-write", "backend, bgwriter, checkpointer", "the relation file write happened; its fsync request is queued"},
	{"clog-before-write", "checkpointer, backend", "a clog page is about to be written (after its group LSN's WAL is flushed)"},
	{"clog-after-write", "checkpointer, backend", "a clog page is written, not fsynced"},
	{"checkpointer-after-redo", "checkpointer, startup", "the REDO pointer is taken; nothing of this checkpoint is durable"},
	{"checkpointer-after-delay-wait", "checkpointer, startup", "commits in their critical section have reached the clog"},
	{"checkpointer-after-clog", "checkpointer, startup", "the clog is flushed and fsynced"},
	{"checkpointer-after-buffers", "checkpointer, startup", "every buffer dirty at REDO is written, none fsynced: a power loss may tear them, and full-page images must repair them"},
	{"smgr-after-fsync", "checkpointer, startup", "one relation segment is fsynced; others are not yet"},
	{"checkpointer-after-fsyncs", "checkpointer, startup", "every write the checkpoint needs is durable"},
	{"clog-after-fsync", "checkpointer, startup", "a clog segment is fsynced"},
	{"checkpointer-after-record", "checkpointer, startup", "the checkpoint record is in the WAL buffers"},
	{"checkpointer-after-flush", "checkpointer, startup", "the checkpoint record is durable but the control file still names the previous checkpoint"},
	{"checkpointer-after-control", "checkpointer, startup", "the control file names the new checkpoint: recovery now starts at its REDO"},
	{"checkpointer-after-segment-removal", "checkpointer, startup", "WAL before REDO is removed: from now on nothing before it can be replayed"},
	{"startup-after-redo-record", "startup", "one WAL record is redone: a crash in the middle of recovery, which must be restartable"},
	{"vacuum-after-heap-prune", "autovacuum worker, backend", "vacuum removed dead tuples from the heap but not yet their index entries"},
	{"vacuum-after-index", "autovacuum worker, backend", "index entries of dead tuples are removed; the heap's line pointers are not yet free"},
	{"catalog-after-record", "backend", "CREATE TABLE's catalog record is in the WAL"},
	{"archiver-after-copy", "archiver", "a WAL segment is copied to the archive, not fsynced"},
	{"archiver-after-fsync", "archiver", "the archived copy is durable but not yet marked done"},
}

// PointNames lists the points' names, in table order.
func PointNames() []string {
	out := make([]string, len(Points))
	for i, p := range Points {
		out[i] = p.Name
	}
	return out
}
