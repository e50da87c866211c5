package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestScriptClientRunsBackToBack: pinned on, the last client sends
// scriptTxnsFactor times Txns autocommit INSERTs of its own keys, and the
// runs pass; pinned off, no key of the script's range is written.
func TestScriptClientRunsBackToBack(t *testing.T) {
	script, others := 0, 0
	for seed := uint64(1); seed <= 20; seed++ {
		c := DefaultConfig(seed)
		c.ScriptClient = VarietyOn
		c.BulkReads = VarietyOff
		res := Run(c)
		require.True(t, res.OK, "seed %d: %v", seed, res.Failures)
		for _, op := range res.History.Ops {
			switch {
			case op.Keys[0] >= scriptKeyBase:
				require.Equal(t, c.Clients-1, op.Client, "seed %d: a script key written by another client", seed)
				script++
			case op.Client == 0:
				others++
			}
		}
		require.Contains(t, res.Config, "script_client=true")

		c.ScriptClient = VarietyOff
		res = Run(c)
		require.True(t, res.OK, "seed %d off: %v", seed, res.Failures)
		for _, op := range res.History.Ops {
			require.Less(t, op.Keys[0], uint64(scriptKeyBase), "seed %d off: a script key", seed)
		}
	}
	// The power loss may cut a run short; over the seeds the script sends
	// several times the statements client 0 sends transactions of inserts.
	require.Greater(t, script, 2*others, "the script sent %d statements, client 0 %d insert transactions", script, others)
}

// TestScriptClientDrawnOnItsOwnStream: the swarm gives a script client to
// about one seed in scriptSeedsPer, and the draw changes no other draw.
func TestScriptClientDrawnOnItsOwnStream(t *testing.T) {
	n := 0
	for seed := uint64(1); seed <= 2400; seed++ {
		if swarmScriptClient(seed) {
			n++
		}
	}
	require.InDelta(t, 2400/scriptSeedsPer, n, 40)
	for seed := uint64(1); seed <= 50; seed++ {
		a, b := DefaultConfig(seed), DefaultConfig(seed)
		b.ScriptClient = VarietyOff
		ra, rb := resolve(a, world.NewRand(seed).Fork(3)), resolve(b, world.NewRand(seed).Fork(3))
		if ra.failover.on != rb.failover.on {
			// Pinning the script client rules the failover out
			// (failoverDrawn), and a run without one may give its
			// standbys restore_command (standby_archive.go).
			continue
		}
		require.Equal(t, ra.engine, rb.engine, "seed %d", seed)
		require.Equal(t, ra.sched, rb.sched, "seed %d", seed)
	}
}

// TestScriptClientCatchesDelayChkptByBackend: the planted bug that lets
// one backend committing back to back starve the checkpoint is caught by
// the checkpoint liveness checker once a script client runs, and the same
// seeds pass without the bug.
func TestScriptClientCatchesDelayChkptByBackend(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 120; seed++ {
		c := DefaultConfig(seed)
		c.ScriptClient, c.BulkReads = VarietyOn, VarietyOff
		c.Bugs = bugs.Set(0).With(bugs.DelayChkptByBackend)
		res := Run(c)
		if res.OK {
			continue
		}
		require.Equal(t, CheckLiveness, res.Checker, "seed %d: %v", seed, res.Failures)
		caught++
		c.Bugs = 0
		require.True(t, Run(c).OK, "seed %d fails without the bug", seed)
	}
	require.Greater(t, caught, 0, "no seed of 120 caught delay-chkpt-by-backend")
}
