package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// CheckpointerMain is the checkpointer process (CheckpointerMain): a
// checkpoint every checkpoint_timeout, or sooner when requested — the WAL
// writer requests one when max_wal_size of WAL has been written since the
// last REDO pointer. The checkpoint itself is db.Checkpoint, in
// CreateCheckPoint's order; a failed fsync inside it is a PANIC, which the
// postmaster answers with a crash-restart. Any other failure is logged and
// retried next time, as PostgreSQL does.
func CheckpointerMain(e *env.Env, d *db.DB) {
	cfg := d.Config()
	for {
		last := e.Clock.Now()
		for e.Clock.Now()-last < cfg.CheckpointTimeout {
			if d.WaitForCheckpointRequest(cfg.CheckpointTimeout - (e.Clock.Now() - last)) {
				break
			}
		}
		if err := d.Checkpoint(); err != nil {
			e.Logf("checkpoint failed: %v", err)
		}
	}
}
