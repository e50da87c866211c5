package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// StartupProcessMain is the startup process (StartupProcessMain →
// StartupXLOG) on the shared memory the postmaster made: it reads the
// control file, locates the checkpoint record, redoes WAL from its REDO
// pointer to the end of valid WAL (the background writer, already running,
// may write the pages redo dirties), rebuilds the clog, and asks the
// checkpointer, already running too, for the end-of-recovery checkpoint
// and waits for it (PerformRecoveryXLogAction; all in db.StartupXLOG). A
// missing or corrupt control file or checkpoint record is a PANIC with a
// clear message, never a guess; so is a failed end-of-recovery checkpoint
// or any other failure to recover, which makes the postmaster give up
// ("aborting startup due to startup process failure"). On success it
// reports what recovery found to done and exits.
func StartupProcessMain(e *env.Env, d *db.DB, done func(db.RecoveryStats)) {
	stats, err := d.StartupXLOG(db.RegisterAccessMethods, true)
	if err != nil {
		e.Panicf("startup process: %v", err)
	}
	done(stats)
}
