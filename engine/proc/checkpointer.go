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
// makes is the end-of-recovery one: the others would be restartpoints,
// which only a standby makes (CreateRestartPoint; pgdst has no standby).
// The checkpoint itself is db.CheckpointerCheckpoint, in CreateCheckPoint's
// order; a failed fsync inside it is a PANIC, which the postmaster answers
// with a crash-restart. Any other failure is logged and retried next
// time, as PostgreSQL does (and fails a waiting requester's request).
func CheckpointerMain(e *env.Env, d *db.DB) {
	cfg := d.Config()
	archive := newArchiveTimeout(e, d) // nil without archive_timeout
	for {
		last := e.Clock.Now()
		var flags db.CheckpointFlags
		for e.Clock.Now()-last < cfg.CheckpointTimeout {
			var req bool
			if req, flags = d.WaitForCheckpointRequest(archive.wait(cfg.CheckpointTimeout - (e.Clock.Now() - last))); req {
				e.Sometimes("checkpoint-requested")
				break
			}
			archive.check()
		}
		if d.RecoveryInProgress() && flags&db.CheckpointEndOfRecovery == 0 {
			continue // a restartpoint: standbys only
		}
		if err := d.CheckpointerCheckpoint(flags); err != nil {
			e.Sometimes("checkpoint-failed")
			e.Logf("checkpoint failed: %v", err)
		}
	}
}
