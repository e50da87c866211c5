package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/simtest/world"
)

// The script client: on some seeds the last client is a script run by
// psql against the server, a file of INSERT statements sent one after
// another in autocommit mode with no pause between them, and several
// times as many of them as an interactive client's transactions. One
// backend then commits back to back for tens of milliseconds: each of
// its commits enters and leaves the checkpoint-delaying critical section
// (DELAY_CHKPT_START in RecordTransactionCommit), and a checkpoint that
// begins meanwhile must wait for the commits it saw there, never for the
// backend (the checkpoint liveness checker judges the wait). Interactive
// clients, which pause between transactions, never hold a backend in that
// rhythm long enough.

// scriptSeedsPer: one swarm seed in scriptSeedsPer has a script client.
// scriptTxnsFactor: it runs scriptTxnsFactor times Txns statements. The
// two together cost the plain campaign about 1% more steps.
const (
	scriptSeedsPer   = 24
	scriptTxnsFactor = 4
	// scriptKeyBase is where the script's keys start: past the other
	// clients' keys (client*Txns+txn)*WritesMax+i, the bulk loads' (1<<40)
	// and the contended ones (1<<41), since it runs more than Txns
	// statements.
	scriptKeyBase = 1 << 42
)

// swarmScriptClient draws whether the seed has a script client, from a
// stream of its own so that no other draw of the seed changes.
func swarmScriptClient(seed uint64) bool {
	return world.NewRand(seed^0x736372697074636c).Intn(scriptSeedsPer) == 0 // "scriptcl"
}

// resolveScriptClient decides the script client: drawn under Swarm,
// pinned by Config.ScriptClient, and only where the workload inserts,
// has another client, and its last client is not the bulk reader.
func resolveScriptClient(c Config, r *resolved) {
	on := c.Swarm && swarmScriptClient(c.Seed)
	switch c.ScriptClient {
	case VarietyOn:
		on = true
	case VarietyOff:
		on = false
	}
	r.script = on && scriptClientPossible(c) && !r.vary.bulkReads
}

func scriptClientPossible(c Config) bool {
	return kindsHave(kinds(c.Workload), WorkloadInsert) && c.Clients >= 2
}

func (c Config) validateScriptClient() error {
	switch c.ScriptClient {
	case VarietyDraw, VarietyOff:
		return nil
	case VarietyOn:
		if !scriptClientPossible(c) {
			return fmt.Errorf("a script client needs a workload with inserts and at least 2 clients")
		}
		if c.BulkReads == VarietyOn {
			return fmt.Errorf("a script client and bulk reads both need the last client")
		}
		return nil
	}
	return fmt.Errorf("script client must be on or off, got %q", c.ScriptClient)
}

// isScript reports whether client c is the run's script client.
func (w *workload) isScript(c int) bool { return w.rc.script && c == w.rc.Clients-1 }

// txnsOf is how many transactions client c runs.
func (w *workload) txnsOf(c int) int {
	if w.isScript(c) {
		return w.rc.Txns * scriptTxnsFactor
	}
	return w.rc.Txns
}

// scriptKey is the script's t-th key.
func scriptKey(t int) uint64 { return scriptKeyBase + uint64(t) }

// ScriptClientOf reports whether c's run has a script client, as resolve
// decides it (the shrinker tries it off only when it is on).
func ScriptClientOf(c Config) bool {
	var r resolved
	resolveVariety(c, &r)
	resolveScriptClient(c, &r)
	return r.script
}
