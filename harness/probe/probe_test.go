package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgdst/pgdst/internal/pgtest"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
	"github.com/stretchr/testify/require"
)

// pg starts a PostgreSQL for one test (about a second); the probes of a
// test share it, each resetting its tables.
func pg(t *testing.T) *pgtest.Server {
	t.Helper()
	return pgtest.Start(t)
}

func probe(t *testing.T, o Options) *Result {
	t.Helper()
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	res, err := Run(context.Background(), o)
	require.NoError(t, err)
	var b strings.Builder
	res.Print(&b)
	t.Log("\n" + b.String())
	return res
}

func check(r *Result, name string) *Check {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			return &r.Checks[i]
		}
	}
	return nil
}

// TestNoFalseAlarms: the mixed workload at each isolation level finds
// nothing PostgreSQL 15 does not promise, over a few runs with different
// seeds, and the histories are not empty: every checker had work.
func TestNoFalseAlarms(t *testing.T) {
	s := pg(t)
	runs := 2
	if testing.Short() {
		runs = 1
	}
	for _, iso := range Isolations {
		for i := 0; i < runs; i++ {
			seed := uint64(100 + i)
			t.Run(fmt.Sprintf("%s/seed=%d", iso, seed), func(t *testing.T) {
				res := probe(t, Options{Target: s.URL, Isolation: iso, Clients: 6, Duration: 1500 * time.Millisecond, Seed: seed})
				require.True(t, res.OK(), "first failing check: %s", res.Checker())
				rep := res.Report()
				require.Positive(t, rep.Totals.RegisterOps)
				require.Positive(t, rep.Totals.ListTxns)
				require.Positive(t, rep.Totals.BankReads)
				require.Equal(t, lin.VerdictOK, res.Linearizability.Verdict)
				require.True(t, res.Isolation.Valid())
				require.Positive(t, res.Isolation.OK)
				if iso != simtest.IsoReadCommitted {
					// The level's aborts happen and are failures, not errors.
					require.Positive(t, res.Errors["ERROR 40001"], "no serialization failure at %s", iso)
				}
			})
		}
	}
}

// TestNoFalseAlarmsAcrossImmediateRestarts: with pg_ctl -m immediate
// restart at seeded moments, the clients lose their connections (some
// operations end unknown), reconnect, and still nothing is found.
func TestNoFalseAlarmsAcrossImmediateRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: restarts take seconds")
	}
	s := pg(t)
	for _, iso := range Isolations {
		t.Run(iso, func(t *testing.T) {
			res := probe(t, Options{Target: s.URL, Isolation: iso, Clients: 6, Duration: 4 * time.Second, Seed: 7,
				FaultCmd: s.RestartImmediate(), FaultEvery: 1200 * time.Millisecond})
			require.True(t, res.OK(), "first failing check: %s\n%s", res.Checker(), s.Log())
			require.NotEmpty(t, res.Faults)
			for _, f := range res.Faults {
				require.Empty(t, f.Err, "the fault command failed: %s", f.Output)
			}
			require.Positive(t, res.Errors["connection"], "no client lost its connection to a restart")
			require.Zero(t, res.GaveUp)
		})
	}
}

// TestUnknownOutcomesAreRecorded: a register-only probe across restarts
// records operations of unknown outcome (a statement in flight when the
// server went away), which the linearizability check then accepts either
// way.
func TestUnknownOutcomesAreRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: restarts take seconds")
	}
	s := pg(t)
	res := probe(t, Options{Target: s.URL, Workload: simtest.WorkloadRegister, Clients: 8, Duration: 4 * time.Second, Seed: 9,
		FaultCmd: s.RestartImmediate(), FaultEvery: time.Second})
	require.True(t, res.OK(), res.Checker())
	require.Positive(t, res.Report().Totals.Unknown, "no operation was in flight at any of %d restarts", len(res.Faults))
}

// TestPlantedClientBugsAreCaught: each planted client bug makes its
// checker fail against the real server, and the same bug at a level that
// forgives it (lost updates at REPEATABLE READ fail with 40001) passes.
func TestPlantedClientBugsAreCaught(t *testing.T) {
	s := pg(t)
	for _, c := range []struct {
		unsafe, workload, iso string
		checkers              []string // one of them must fail
	}{
		{UnsafeTransfers, simtest.WorkloadBank, simtest.IsoReadCommitted, []string{simtest.CheckBank}},
		{UnsafeAppends, simtest.WorkloadAppend, simtest.IsoReadCommitted, []string{simtest.CheckIsolation, simtest.CheckDurability}},
		{UnsafeCAS, simtest.WorkloadRegister, simtest.IsoReadCommitted, []string{simtest.CheckLinearizability}},
	} {
		t.Run(c.unsafe, func(t *testing.T) {
			res := probe(t, Options{Target: s.URL, Workload: c.workload, Isolation: c.iso, Clients: 8, Duration: 2 * time.Second, Seed: 3, Unsafe: c.unsafe})
			require.False(t, res.OK(), "--unsafe %s went unnoticed", c.unsafe)
			require.Contains(t, c.checkers, res.Checker())
			for _, name := range c.checkers {
				if ck := check(res, name); ck != nil && ck.Verdict == VerdictFailed {
					require.NotEmpty(t, ck.Failures)
				}
			}
		})
	}
	t.Run("transfers-at-repeatable-read", func(t *testing.T) {
		res := probe(t, Options{Target: s.URL, Workload: simtest.WorkloadBank, Isolation: simtest.IsoRepeatableRead, Clients: 8, Duration: 1500 * time.Millisecond, Seed: 3, Unsafe: UnsafeTransfers})
		require.True(t, res.OK(), "REPEATABLE READ refuses the lost update, yet %s failed", res.Checker())
		require.Positive(t, res.Errors["ERROR 40001"])
	})
}

// TestArtifacts: --artifacts writes the report and the history, and the
// porcupine page when the registers are not linearizable.
func TestArtifacts(t *testing.T) {
	s := pg(t)
	res := probe(t, Options{Target: s.URL, Workload: simtest.WorkloadRegister, Clients: 8, Duration: time.Second, Seed: 5, Unsafe: UnsafeCAS})
	require.Equal(t, simtest.CheckLinearizability, res.Checker())
	dir := t.TempDir()
	wrote, err := res.WriteArtifacts(dir)
	require.NoError(t, err)
	require.Equal(t, []string{dir + "/probe.json", dir + "/history.json", dir + "/porcupine.html"}, wrote)
	b, err := os.ReadFile(dir + "/probe.json")
	require.NoError(t, err)
	require.Contains(t, string(b), `"verdict": "fail"`)
	require.Contains(t, string(b), `"checker": "linearizability"`)

	// history.json is the checkers' input as it was: judged again, it
	// gives the same verdict.
	b, err = os.ReadFile(dir + "/history.json")
	require.NoError(t, err)
	var h History
	require.NoError(t, json.Unmarshal(b, &h))
	require.Equal(t, len(res.Registers), len(h.Registers))
	again := lin.CheckRegisters(h.Registers, porcupineTimeout)
	require.Equal(t, lin.VerdictIllegal, again.Verdict)
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "--target is required"},
		{Options{Target: "x", Workload: "insert", Duration: time.Second}, `unknown workload "insert"`},
		{Options{Target: "x", Isolation: "snapshot", Duration: time.Second}, `unknown isolation level "snapshot"`},
		{Options{Target: "x"}, "give --duration or --ops"},
		{Options{Target: "x", Ops: 5, FaultEvery: time.Second}, "--fault-every needs --fault-cmd"},
		{Options{Target: "x", Ops: 5, Unsafe: "everything"}, `unknown --unsafe "everything"`},
		{Options{Target: "x", Ops: 5, Workload: simtest.WorkloadRegister, Unsafe: UnsafeTransfers}, "changes the bank workload"},
	} {
		err := c.o.Validate()
		require.Error(t, err, "%+v", c.o)
		require.Contains(t, err.Error(), c.want)
		require.NotContains(t, err.Error(), "\n")
	}
	o := Options{Target: "postgres://u:secret@h/db", Ops: 10}
	require.NoError(t, o.Validate())
	require.Equal(t, simtest.WorkloadMixed, o.Workload)
	require.Equal(t, simtest.IsoReadCommitted, o.Isolation)
	require.NotContains(t, o.Command(), "secret")
}

// TestOutcomeOfErrors: what a client concludes from an error. An error
// the server reports on a live connection failed; a lost connection, or a
// FATAL one (sent at an immediate shutdown even after a durable commit),
// leaves the outcome unknown; nothing sent, nothing happened.
func TestOutcomeOfErrors(t *testing.T) {
	live, gone := false, true
	require.False(t, lost(nil, live))
	require.False(t, lost(&pgconn.PgError{Severity: "ERROR", Code: "40001"}, live), "an ERROR on a live connection: failed")
	require.True(t, lost(&pgconn.PgError{Severity: "ERROR", Code: "57P01"}, gone), "an error, and then the connection went")
	require.True(t, lost(&pgconn.PgError{Severity: "FATAL", Code: "57P01"}, live))
	require.True(t, lost(io.ErrUnexpectedEOF, live))
	require.True(t, lost(context.DeadlineExceeded, gone))
	require.False(t, lost(errNoConn, gone), "never sent")
	require.False(t, lost(fmt.Errorf("wrapped: %w", errNoConn), gone))
	require.Equal(t, lin.Unknown, (&client{}).outcome(io.ErrUnexpectedEOF))
	require.Equal(t, lin.OK, (&client{}).outcome(nil))
}

func TestDecodeList(t *testing.T) {
	require.Equal(t, []uint64{}, decodeList(""))
	require.Equal(t, []uint64{1, 22, 3}, decodeList(" 1 22 3"))
	require.Equal(t, []uint64{1, math.MaxUint64}, decodeList(" 1 x"))
}
