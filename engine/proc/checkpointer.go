package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// CheckpointerMain is the checkpointer process (CheckpointerMain): a
// checkpoint every checkpoint_timeout, or sooner when requested — the WAL
// writer requests one when max_wal_size of WAL has been written since the
// last REDO pointer, and the startup process requests the end-of-recovery
// checkpoint and waits for it. It starts before the startup process, as
// in PostgreSQL 15. While recovery is in progress the only checkpoint it
// makes is the end-of-recovery one; on a standby it makes restartpoints
// instead (CreateRestartPoint).
// The checkpoint itself is db.CheckpointerCheckpoint, in CreateCheckPoint's
// order; a failed fsync inside it is a PANIC, which the postmaster answers
// with a crash-restart. Any other failure is logged and retried next
// time, as PostgreSQL does (and fails a waiting requester's request).
func CheckpointerMain(e *env.Env, d *db.DB) {
	cfg := d.Config()
	for {
		last := e.Clock.Now()
		var flags db.CheckpointFlags
		for e.Clock.Now()-last < cfg.CheckpointTimeout {
			wait := cfg.CheckpointTimeout - (e.Clock.Now() - last)
			if cfg.ArchiveTimeout > 0 {
				// Wake for archive_timeout too (CheckpointerMain's
				// cur_timeout), and look at it on every wakeup.
				wait = min(wait, d.ArchiveTimeoutWait())
			}
			var req bool
			if req, flags = d.WaitForCheckpointRequest(wait); req {
				e.Sometimes("checkpoint-requested")
				break
			}
			d.CheckArchiveTimeout()
		}
		if d.RecoveryInProgress() && flags&db.CheckpointEndOfRecovery == 0 {
			// A restartpoint: standbys only (crash recovery makes none).
			if d.StandbyMode() {
				if _, err := d.CreateRestartPoint(); err != nil {
					e.Logf("restartpoint failed: %v", err)
				}
			}
			continue
		}
		if err := d.CheckpointerCheckpoint(flags); err != nil {
			e.Sometimes("checkpoint-failed")
			e.Logf("checkpoint failed: %v", err)
		}
	}
}
