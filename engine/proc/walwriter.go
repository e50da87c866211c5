package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// WalWriterMain is the WAL writer (WalWriterMain): every wal_writer_delay
// it writes and fsyncs the WAL's completed pages, or when those are
// durable already, the WAL inserted so far (XLogBackgroundFlush), which
// makes asynchronous commits durable, and, as XLogWrite does when a
// segment fills, asks for a checkpoint once max_wal_size of WAL has been
// written since the last REDO pointer. A failed WAL write or fsync is a
// PANIC inside Flush.
func WalWriterMain(e *env.Env, d *db.DB) {
	cfg := d.Config()
	requested := false
	for {
		e.Clock.Sleep(cfg.WalWriterDelay)
		d.WAL.BackgroundFlush()
		switch over := cfg.MaxWALSize > 0 && d.WALSinceRedo() >= cfg.MaxWALSize; {
		case over && !requested:
			d.RequestCheckpoint()
			requested = true
		case !over:
			requested = false
		}
	}
}
