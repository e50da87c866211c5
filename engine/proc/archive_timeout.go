package proc

import (
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// archiveTimeout is the checkpointer's archive_timeout duty
// (CheckArchiveTimeout in checkpointer.c): with archive mode on, a segment
// that WAL has been written to is switched out at most archive_timeout
// after the last forced switch, so that the archive never lags the WAL by
// more than that. The checkpointer wakes for it between checkpoints.
//
// Deviation: PostgreSQL also counts the WAL writer's own segment switches
// (GetLastSegSwitchData); here only the forced ones restart the timer, so
// a forced switch may come sooner after a natural one.
type archiveTimeout struct {
	e       *env.Env
	d       *db.DB
	timeout time.Duration
	last    time.Duration // the last forced switch, or the checkpointer's start
}

// newArchiveTimeout is nil unless archive_mode is on with archive_timeout
// set: the checkpointer then waits exactly as it would without it.
func newArchiveTimeout(e *env.Env, d *db.DB) *archiveTimeout {
	w := d.Config().WAL
	if !w.ArchiveMode || w.ArchiveTimeout <= 0 {
		return nil
	}
	return &archiveTimeout{e: e, d: d, timeout: w.ArchiveTimeout, last: e.Clock.Now()}
}

// wait bounds the checkpointer's next sleep so that it wakes when
// archive_timeout expires.
func (a *archiveTimeout) wait(d time.Duration) time.Duration {
	if a == nil {
		return d
	}
	return max(0, min(d, a.last+a.timeout-a.e.Clock.Now()))
}

// check forces a segment switch if archive_timeout has expired
// (CheckArchiveTimeout; not during recovery, when no WAL is written).
func (a *archiveTimeout) check() {
	if a == nil {
		return
	}
	now := a.e.Clock.Now()
	if now-a.last < a.timeout {
		return
	}
	// The timer restarts in recovery too, so that the checkpointer
	// sleeps a whole archive_timeout before it looks again.
	a.last = now
	if a.d.RecoveryInProgress() || a.d.WAL == nil {
		return
	}
	a.d.WAL.SwitchSegment() // nothing when no WAL was written since the last switch
}
