package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// BackgroundWriterMain is the background writer (BackgroundWriterMain):
// every bgwriter_delay, write up to bgwriter_lru_maxpages dirty buffers
// ahead of the clock hand (BgBufferSync), without fsync — the checkpoint
// fsyncs them. A failed write is logged; the buffer stays dirty and is
// written again later. It starts before the startup process, as in
// PostgreSQL 15, and writes the pages redo dirties too: their LSNs are
// within the WAL recovery read, which is durable (db.StartupXLOG), so
// they need no WAL flush.
func BackgroundWriterMain(e *env.Env, d *db.DB) {
	cfg := d.Config()
	for {
		e.Clock.Sleep(cfg.BgwriterDelay)
		if _, err := d.Pool.BgBufferSync(cfg.BgwriterLRUMax); err != nil {
			e.Logf("background writer: %v", err)
		}
		d.BgwriterLogStandbySnapshot()
	}
}
