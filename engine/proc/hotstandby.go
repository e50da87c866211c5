package proc

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// Hot standby in the postmaster and the backend (db/hotstandby.go).

// pmHotStandby is PM_HOT_STANDBY: the startup process still replays, and
// read-only connections are accepted.
const pmHotStandby pmState = 10

// hotStandbyServe is the postmaster's part of hot standby during
// recovery (PM_RECOVERY -> PM_HOT_STANDBY on PMSIGNAL_BEGIN_HOT_STANDBY):
// once d is consistent with its snapshot ready, it listens and accepts
// connections, each served by a backend on the recovering shared memory.
// It reports whether it waited for a connection (the caller's sleep).
func (pm *Postmaster) hotStandbyServe(d *db.DB) bool {
	if !d.HotStandbyActive() {
		return false
	}
	if pm.state != pmHotStandby {
		pm.state = pmHotStandby
		pm.l.Listen()
		pm.e.Logf("database system is ready to accept read-only connections")
		pm.e.Sometimes("hot-standby-accepting")
	}
	if c, ok := pm.l.Accept(pm.cfg.ServerLoopTimeout); ok {
		pm.startBackendOn(d, c)
	}
	return true
}

// startBackendOn forks a backend on d for an accepted connection, beyond
// max_connections refused as serverLoop refuses it.
func (pm *Postmaster) startBackendOn(d *db.DB, c *Conn) {
	if len(pm.backends) >= pm.cfg.DB.MaxConnections {
		pm.l.Reject(c, pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already"))
		return
	}
	pm.nBackends++
	p := pm.Spawn(env.RoleBackend, fmt.Sprintf("backend %d", pm.nBackends), func() { BackendMain(pm.e, d, c) })
	pm.backends[p.ID()] = c
}

// readOnlyCheck is PreventCommandIfReadOnly and
// PreventCommandDuringRecovery for the statements that write, run before
// the statement: 25006 in a read-only transaction.
func readOnlyCheck(s *db.Session, op Op) error {
	switch op {
	case OpInsert, OpInsertSelect:
		return s.PreventCommandIfReadOnly("INSERT")
	case OpUpdate, OpAppend, OpCAS, OpAdd, OpUpdateRange:
		return s.PreventCommandIfReadOnly("UPDATE")
	case OpDelete:
		return s.PreventCommandIfReadOnly("DELETE")
	case OpCreateTable:
		return s.PreventCommandIfReadOnly("CREATE TABLE")
	case OpVacuum:
		return s.PreventCommandDuringRecovery("VACUUM")
	}
	return nil
}
