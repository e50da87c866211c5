package proc

import (
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// StartupProcessMain is the startup process (StartupProcessMain →
// StartupXLOG): it reads the control file, locates the checkpoint record,
// redoes WAL from its REDO pointer to the end of valid WAL, rebuilds the
// clog and writes an end-of-recovery checkpoint (all in db.Open). A missing
// or corrupt control file or checkpoint record is a PANIC with a clear
// message, never a guess; so is any other failure to recover, which makes
// the postmaster give up ("aborting startup due to startup process
// failure"). On success it hands the new shared memory to done and exits.
func StartupProcessMain(e *env.Env, cfg db.Config, done func(*db.DB, db.RecoveryStats)) {
	d, stats, err := db.Open(e, cfg, db.RegisterAccessMethods)
	if err != nil {
		e.Panicf("startup process: %v", err)
	}
	done(d, stats)
}
