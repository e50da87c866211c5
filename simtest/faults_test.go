package simtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/fault"
)

// faultCases shows, for every fault action, its effect on a run of the
// storage engine and the engine's reaction. A new action without a case
// fails TestFaultActionsAllCovered.
var faultCases = map[fault.ActionKind]struct {
	plan  string
	check func(t *testing.T, base, r *Result)
}{
	fault.ActCrash: {"crash mode=torn when point=backend-after-xlogflush#5", func(t *testing.T, base, r *Result) {
		require.Equal(t, "power-loss", r.CrashKind)
		require.Equal(t, "torn", r.CrashMode, "the action's crash mode overrides the run's")
		require.Contains(t, r.CrashDetail, "backend-after-xlogflush#5")
		require.Less(t, r.Acked, base.Acked)
	}},
	fault.ActKill: {"kill role=backend when point=backend-after-xlogflush#3", func(t *testing.T, base, r *Result) {
		// The postmaster reaps the killed backend and crash-restarts;
		// the clients reconnect and the workload goes on.
		require.Len(t, r.CrashRestarts, 1)
		require.Contains(t, r.CrashRestarts[0], "was terminated: killed")
		require.Positive(t, r.Unknown+countFailed(r), "the killed backend's transaction is unknown or failed")
		require.Greater(t, r.Acked, 0)
	}},
	fault.ActPause: {"pause for=80ms role=backend when point=backend-after-xlogflush#3", func(t *testing.T, base, r *Result) {
		require.Contains(t, r.FaultLog[0], ": fault 1 (pause for=80ms role=backend) on point backend-after-xlogflush#3")
		slow := false
		for _, op := range r.History.Ops {
			slow = slow || op.Return-op.Call >= 80*time.Millisecond
		}
		require.True(t, slow, "the paused client's transaction took at least the pause")
	}},
	fault.ActFsyncEIO: {"fsync-eio when file=heap and role=checkpointer", func(t *testing.T, base, r *Result) {
		// PostgreSQL PANICs on a failed fsync since 2018; the postmaster
		// crash-restarts and recovery from WAL restores what the dropped
		// pages held.
		require.NotEmpty(t, r.CrashRestarts)
		require.Contains(t, r.CrashRestarts[0], "PANIC: could not fsync file")
		require.Positive(t, r.Acked)
	}},
	fault.ActWriteEIO: {"write-eio when file=heap and role=backend times=0", func(t *testing.T, base, r *Result) {
		requireFailedWith(t, r, "input/output error")
	}},
	fault.ActENOSPC: {"enospc when file=heap and role=backend times=0", func(t *testing.T, base, r *Result) {
		requireFailedWith(t, r, "no space left on device")
	}},
	fault.ActReadEIO: {"read-eio when file=heap times=3", func(t *testing.T, base, r *Result) {
		// A statement that reads the page fails with the error; the
		// startup process fails with it and the server is started again.
		// The engine-level reaction of a statement is
		// TestFaultReadEIOAndBitFlipOnHeapPages.
		// Every failure is the read error itself (or the client's own
		// rollback): never some other error it caused, never wrong rows
		// (the run's checkers). Redo of a block it will overwrite whole
		// (a full-page image, an initialised page) does not need the
		// failed read, as RBM_ZERO_AND_LOCK does not.
		for _, op := range r.History.Ops {
			// A unique violation on a key other clients insert too
			// (contended keys) is no effect of the fault.
			if op.Outcome == Failed && op.Err != errRolledBack.Error() && !strings.Contains(op.Err, "SQLSTATE 23505") {
				require.Contains(t, op.Err, "input/output error", "%s", op)
			}
		}
		for _, c := range r.RecoveryCrashes {
			require.Contains(t, c, "input/output error")
		}
	}},
	fault.ActBitFlip: {"bitflip when file=heap times=0", func(t *testing.T, base, r *Result) {
		// Recovery reads the corrupted pages: it must stop with a clear
		// checksum error, never run on wrong data; restarted, it either
		// meets the corruption again (detected) or redo rewrites the page
		// from WAL first. Statements meet it the same way:
		// TestFaultReadEIOAndBitFlipOnHeapPages.
		seen := strings.Contains(r.Detected, "checksum")
		for _, c := range r.RecoveryCrashes {
			seen = seen || strings.Contains(c, "checksum mismatch")
		}
		require.True(t, seen, "the flipped bits must be reported: %s", r.Summary())
	}},
	fault.ActTornWrite: {"torn-write when file=heap times=3", func(t *testing.T, base, r *Result) {
		// A torn page reported as written fails its checksum when read
		// back: statements touching it fail, never return wrong rows.
		requireFailedWith(t, r, "checksum", "unexpected data beyond EOF")
		require.NotEmpty(t, r.Destructive)
	}},
	fault.ActLostWrite: {"lost-write when file=heap and role=checkpointer times=0", func(t *testing.T, base, r *Result) {
		// Beyond the limits: the engine cannot know. When the lost page
		// mattered, the checkpoint checker saw the disk did not keep what
		// the checkpoint wrote, and the run passes as detected.
		require.NotEmpty(t, r.Destructive)
		if r.Detected != "" {
			require.Contains(t, r.Detected, "lost-write")
		}
	}},
	fault.ActMisdirectedWrite: {"misdirected-write by=8192 when file=heap times=2", func(t *testing.T, base, r *Result) {
		require.NotEmpty(t, r.Destructive)
	}},
	fault.ActLatency: {"latency for=5ms when file=wal and op=fsync times=0", func(t *testing.T, base, r *Result) {
		require.Greater(t, r.Virtual, base.Virtual+50*1e6, "every WAL fsync costs 5ms more")
	}},
	fault.ActClockSkew: {"clock-skew max=3ms times=0", func(t *testing.T, base, r *Result) {
		require.NotEqual(t, base.Trace, r.Trace)
	}},
}

func countFailed(r *Result) int {
	n := 0
	for _, op := range r.History.Ops {
		if op.Outcome == Failed {
			n++
		}
	}
	return n
}

// requireFailedWith asserts that some transaction failed with one of msgs.
func requireFailedWith(t *testing.T, r *Result, msgs ...string) {
	t.Helper()
	for _, op := range r.History.Ops {
		for _, m := range msgs {
			if op.Outcome == Failed && strings.Contains(op.Err, m) {
				return
			}
		}
	}
	t.Fatalf("no transaction failed with any of %q", msgs)
}

func TestFaultActionsAllCovered(t *testing.T) {
	for k := fault.ActionKind(1); k.String() != fmt.Sprintf("ActionKind(%d)", k) && k < 64; k++ {
		if k == fault.ActPromote {
			continue // it needs --standbys and --failover: TestFailoverPlanPromote
		}
		_, ok := faultCases[k]
		require.True(t, ok, "fault action %s has no test case", k)
	}
}

// TestFaultActions runs each case's plan on a few seeds: the plan's fault
// fires, the run passes (every checker, the recoverability limits applied),
// and the case's own effect is there.
func TestFaultActions(t *testing.T) {
	for k, tc := range faultCases {
		t.Run(k.String(), func(t *testing.T) {
			for seed := uint64(1); seed <= 3; seed++ {
				c := insertConfig(seed)
				c.Txns = 30
				c.Faults = "# no faults\n" // an empty plan: no crash drawn from the seed
				// The cases judge what page checksums report (bit
				// flips, torn writes): without data checksums such
				// damage may only be detected later, or not at all.
				c.DataChecksums = DataChecksumsOn
				base := Run(c)
				require.True(t, base.OK, "seed %d without faults: %v", seed, base.Failures)
				c.Faults = tc.plan
				r := Run(c)
				require.True(t, r.OK, "seed %d: %v\n%s", seed, r.Failures, r.Summary())
				require.Positive(t, r.FaultsApplied, "seed %d: the fault never fired", seed)
				tc.check(t, base, r)
				again := Run(c)
				require.Equal(t, r.Trace, again.Trace, "seed %d: same seed and plan, same trace", seed)
			}
		})
	}
}

// The engine makes every rename it depends on durable with a directory
// fsync (durable_rename), so a crash between a rename and that fsync on a
// file system whose renames are not atomic across power loss must not
// hurt: here, a WAL segment being created (the catalog map is replaced only
// by CREATE TABLE, before the plan starts).
func TestNonAtomicRenameCrashIsSurvived(t *testing.T) {
	fired := 0
	for seed := uint64(1); seed <= 20; seed++ {
		c := insertConfig(seed)
		c.Txns = 40
		c.Faults = "crash mode=random-subset rename=non-atomic when op=syncdir and path=pg_wal\n"
		r := Run(c)
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		if strings.Contains(r.CrashDetail, "rename=non-atomic") {
			fired++
		}
	}
	require.GreaterOrEqual(t, fired, 10, "the crash must fire where the workload creates a WAL segment")
}
