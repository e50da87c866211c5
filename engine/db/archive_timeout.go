package db

import "time"

// CheckArchiveTimeout is the checkpointer's CheckArchiveTimeout: once
// archive_timeout has passed since it last looked, it forces a switch to
// the next WAL segment if the current one holds records
// (RequestXLogSwitch), and flushes the switch, so that a lightly loaded
// server still hands its WAL to the archiver within archive_timeout. It
// does nothing while recovery is in progress, nor with archive_timeout 0.
// PostgreSQL also counts a segment the WAL writer finished on its own as a
// switch (GetLastSegSwitchData); here such a segment only makes the next
// forced switch come earlier than it must.
func (db *DB) CheckArchiveTimeout() {
	t := db.cfg.ArchiveTimeout
	if t <= 0 || db.inRecovery || db.WAL == nil {
		return
	}
	now := db.e.Clock.Now()
	if db.lastXlogSwitch == 0 {
		// The timer starts when recovery ends (StartupXLOG's
		// lastSegSwitchTime = time(NULL)).
		db.lastXlogSwitch = now
	}
	if now-db.lastXlogSwitch < t {
		return
	}
	if end, switched := db.WAL.SwitchSegment(); switched {
		// XLogInsertRecord flushes a switch record and the padding after
		// it at once: the segment is complete, and its .ready is made.
		db.WAL.Flush(end)
		db.e.Sometimes("wal-switch-forced")
	}
	db.lastXlogSwitch = now
}

// ArchiveTimeoutWait is how long the checkpointer may sleep before
// CheckArchiveTimeout is due (CheckpointerMain's cur_timeout), or 0 when
// archive_timeout plays no part: off, or recovery in progress.
func (db *DB) ArchiveTimeoutWait() time.Duration {
	t := db.cfg.ArchiveTimeout
	if t <= 0 || db.inRecovery || db.lastXlogSwitch == 0 {
		return t // the first look sets the timer
	}
	return max(t-(db.e.Clock.Now()-db.lastXlogSwitch), time.Microsecond)
}
