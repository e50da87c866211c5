package db_test

import "github.com/pgdst/pgdst/engine/db"

// The background processes, as plain loops for the tests of this package
// (the real ones, with their requests and the postmaster's supervision, are
// engine/proc's): a checkpoint every checkpoint_timeout, a bgwriter round
// every bgwriter_delay, a WAL flush every wal_writer_delay.

func checkpointerLoop(d *db.DB) func() {
	return func() {
		for {
			d.Env().Clock.Sleep(d.Config().CheckpointTimeout)
			if err := d.Checkpoint(); err != nil {
				d.Env().Logf("checkpoint failed: %v", err)
			}
		}
	}
}

func bgwriterLoop(d *db.DB) func() {
	return func() {
		for {
			d.Env().Clock.Sleep(d.Config().BgwriterDelay)
			if _, err := d.Pool.BgBufferSync(d.Config().BgwriterLRUMax); err != nil {
				d.Env().Logf("bgwriter: %v", err)
			}
		}
	}
}

func walwriterLoop(d *db.DB) func() {
	return func() {
		for {
			d.Env().Clock.Sleep(d.Config().WalWriterDelay)
			d.WAL.Flush(d.WAL.InsertLSN())
		}
	}
}
