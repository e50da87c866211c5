package simtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
)

// syncRepConfig is the default run with one synchronous standby at
// level, the canceller at cancel.
func syncRepConfig(seed uint64, names, level, cancel string) Config {
	c := DefaultConfig(seed)
	c.Standbys, c.SyncStandbyNames, c.SyncCommit, c.SyncRepCancel = 1, names, level, cancel
	return c
}

// TestSyncRepRunsReachEveryState: runs with a synchronous standby pass,
// and together reach every state of a sync-rep wait: waiting, released
// by the write, flush and apply positions, canceled and terminated (the
// canceller's pg_cancel_backend and pg_terminate_backend); canceled
// commits are unknown outcomes, not acknowledgements, and the checker
// judged acknowledgements.
func TestSyncRepRunsReachEveryState(t *testing.T) {
	levels := []string{"remote_write", "on", "remote_apply"}
	reached := map[string]bool{}
	acksJudged := uint64(0)
	for _, r := range runSeeds(36, func(seed uint64) Config {
		return syncRepConfig(seed, "FIRST 1 (standby1)", levels[seed%3], "20ms")
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		for _, name := range []string{"syncrep-wait", "syncrep-released-write", "syncrep-released-flush", "syncrep-released-apply", "syncrep-wait-canceled", "syncrep-wait-terminated"} {
			if r.Sometimes.Has(name) {
				reached[name] = true
			}
		}
		if c := r.Online[countSyncRepAcks]; c != nil {
			acksJudged += c.Judged
		}
	}
	require.Len(t, reached, 6, "states reached: %v", reached)
	require.Positive(t, acksJudged)
}

// TestSyncRepNoCancellerNotJudgedForProgress: with nobody to cancel
// them, commits wait while the standby is away, as in PostgreSQL; the
// client-progress checker does not judge such runs, and they pass.
func TestSyncRepNoCancellerNotJudgedForProgress(t *testing.T) {
	for _, r := range runSeeds(6, func(seed uint64) Config { return syncRepConfig(seed, "standby1", "on", "off") }) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		if c := r.Online[countClientProgress]; c != nil {
			require.Zero(t, c.Judged, "seed %d", r.Seed)
		}
	}
}

// TestSyncRepGuarantees: which settings promise a commit to standby1.
func TestSyncRepGuarantees(t *testing.T) {
	s := &standbySet{nodes: []*standby{{}, {}}}
	for names, want := range map[string]bool{
		"FIRST 2 (standby1, standby2)": false, "ANY 2 (standby1, standby2)": false, "*": false, "standby1": true,
		"FIRST 1 (standby1, standby2)": false, "ANY 1 (standby1, standby2)": false, "standby2": false,
	} {
		cfg, err := db.ParseSyncStandbyNames(names)
		require.NoError(t, err)
		p := syncRepPlan{names: names, cfg: cfg, level: db.SyncCommitOn}
		require.Equal(t, want, p.guarantees(s, s.nodes[0]), names)
	}
	one := &standbySet{nodes: []*standby{{}}}
	cfg, _ := db.ParseSyncStandbyNames("*")
	require.True(t, syncRepPlan{cfg: cfg, level: db.SyncCommitRemoteWrite}.guarantees(one, one.nodes[0]))
	require.False(t, syncRepPlan{cfg: cfg, level: db.SyncCommitLocal}.guarantees(one, one.nodes[0]), "local waits for no standby")
}

// TestSyncRepConfigRejects: one-line errors for settings a run cannot
// honour.
func TestSyncRepConfigRejects(t *testing.T) {
	for _, c := range []Config{
		syncRepConfig(1, "FIRST 0 (standby1)", "", ""),
		syncRepConfig(1, "", "remote_flush", ""),
		syncRepConfig(1, "", "", "forever"),
		syncRepConfig(1, "", "", "2s"),
		func() Config {
			c := syncRepConfig(1, "standby1", "", "")
			c.Standbys, c.StandbysSet = 0, true
			return c
		}(),
		func() Config { c := syncRepConfig(1, "standby1", "", ""); c.AsyncCommit = true; return c }(),
		func() Config { c := syncRepConfig(1, "", "", ""); c.FailoverStandbyPowerLoss = "maybe"; return c }(),
	} {
		err := c.Validate()
		require.Error(t, err, "%+v", c)
	}
	d, err := ParseSyncRepCancel("50ms")
	require.NoError(t, err)
	require.Equal(t, 50*time.Millisecond, d)
}

// TestSyncRepRegressions are seeds the sync-rep checker failed on while
// it was built, each now passing for the reason given.
func TestSyncRepRegressions(t *testing.T) {
	for _, tc := range []struct {
		why  string
		seed uint64
		mk   func(c *Config)
	}{
		// A remote_write commit the standby wrote and then fsynced
		// while its promotion began: the promotion replayed only up to
		// the receiver's last published flush position (its final
		// report, after ShutdownWalRcv, was dropped) and lost it. The
		// engine's promotion now reads pg_wal to its end, as
		// WaitForWALToBecomeAvailable does after the trigger, and the
		// receiver flushes on leaving its stream (WalRcvDie).
		{"remote_write commit lost by the promotion", 258, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.Failover, c.FailoverStandbyPowerLoss = "standby1", "remote_write", true, VarietyOff
		}},
		// The standby crash-restarted (a plan's kill of its bgwriter):
		// its shared positions start again, though what it flushed is
		// on its disk; the ack is not judged against them.
		{"standby crash-restart resets its positions", 959, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.Failover, c.FailoverStandbyPowerLoss = "FIRST 1 (standby1)", "on", true, VarietyOn
		}},
		// The standby crash-restarted during the failover's delay past
		// its consistency: the promote request went to its old shared
		// memory and the promotion never ended; the failover now looks
		// at the standby again after the delay.
		{"promote request lost to a crash-restarted standby", 959, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.Failover, c.FailoverStandbyPowerLoss = "standby1", "remote_write", true, VarietyOff
		}},
		// The plan killed the restarted standby's startup process while
		// it promoted, and its postmaster gave up, as PostgreSQL's does
		// ("aborting startup due to startup process failure"): not a
		// failover failure; final recovers its data directory and judges
		// it.
		{"the plan's kill aborts the standby's promotion", 1533, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.Failover, c.FailoverStandbyPowerLoss = "FIRST 1 (standby1)", "on", true, VarietyOn
		}},
		// standby1 reconnected while its old WAL sender lived on: two
		// WAL senders named standby1 met FIRST 2, as in PostgreSQL.
		{"one standby's two WAL senders meet FIRST 2", 186, func(c *Config) {
			c.Standbys, c.SyncStandbyNames, c.SyncCommit = 2, "FIRST 2 (standby1, standby2)", "on"
		}},
		// The WAL sender released a remote_apply wait on the standby's
		// report; the standby's machine then lost power (a net fault of
		// standby.go) before the backend's reply, so at the ack the
		// standby had no positions at all: not judged, as after a
		// crash-restart.
		{"the harness restarts the standby between release and ack", 379, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.StandbyReads = "FIRST 1 (standby1)", "remote_apply", VarietyOn
		}},
		{"the harness restarts the standby between release and ack", 321, func(c *Config) {
			c.SyncStandbyNames, c.SyncCommit, c.StandbyReads = "FIRST 1 (standby1)", "remote_apply", VarietyOn
		}},
	} {
		c := DefaultConfig(tc.seed)
		c.Standbys = 1
		tc.mk(&c)
		r := Run(c)
		require.True(t, r.OK, "%s (seed %d): %v", tc.why, tc.seed, r.Failures)
	}
}
