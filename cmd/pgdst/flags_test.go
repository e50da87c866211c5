package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/harness/cli"
)

// TestBadFlagValues: every flag's bad value is one line naming the flag
// and what it wants, and exit status 2, before anything runs; no message
// leaks a package prefix ("simtest:") or blames another flag. Every run
// flag of the table has a case here.
func TestBadFlagValues(t *testing.T) {
	dir := t.TempDir()
	repro := filepath.Join(dir, "r.json")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--row-bytes", "0"}, "-row-bytes: must be in [8, 2000]"},
		{[]string{"run", "--row-bytes", "7"}, "-row-bytes: must be in [8, 2000]"},
		{[]string{"run", "--row-bytes", "2001"}, "-row-bytes: must be in [8, 2000]"},
		{[]string{"run", "--clients", "0"}, "-clients: must be in [1, 64]"},
		{[]string{"run", "--clients", "65"}, "-clients: must be in [1, 64]"},
		{[]string{"run", "--clients", "many"}, "-clients: not an integer"},
		{[]string{"run", "--standbys", "4"}, "-standbys: must be in [0, 3]"},
		{[]string{"run", "--txns", "0"}, "-txns: must be in [1, 10000]"},
		{[]string{"run", "--txns", "10001"}, "-txns: must be in [1, 10000]"},
		{[]string{"run", "--writes", "0"}, "-writes: must be in [1, 64]"},
		{[]string{"run", "--think-max", "-1ms"}, "-think-max: must be in [0s, 1m0s]"},
		{[]string{"run", "--think-max", "2m"}, "-think-max: must be in [0s, 1m0s]"},
		{[]string{"run", "--think-max", "soon"}, "-think-max: not a duration"},
		{[]string{"run", "--client-timeout", "-1s"}, "-client-timeout: must be in [0s, 1h0m0s]"},
		{[]string{"run", "--client-timeout", "2h"}, "-client-timeout: must be in [0s, 1h0m0s]"},
		{[]string{"run", "--crash-mode", "bogus"}, "-crash-mode: want drop-all, random-subset or torn"},
		{[]string{"run", "--crash-step", "0"}, "-crash-step: must be >= 1"},
		{[]string{"run", "--crash-step", "-5"}, "-crash-step: not an integer"},
		{[]string{"run", "--workload", "nope"}, "-workload: want insert, register, bank, append or mixed"},
		{[]string{"run", "--isolation", "snapshot"}, "-isolation: want read-committed, repeatable-read or serializable"},
		{[]string{"run", "--pred-locks", "tiny"}, "-pred-locks: want default or scaled"},
		{[]string{"run", "--list-inserts", "maybe"}, "-list-inserts: want on or off"},
		{[]string{"run", "--hot-keys", "maybe"}, "-hot-keys: want on or off"},
		{[]string{"run", "--ssi-read-only", "sometimes"}, "-ssi-read-only: want off, read-only, deferrable or mixed"},
		{[]string{"run", "--synchronous-commit", "maybe"}, "-synchronous-commit: want off, local, remote_write, on or remote_apply"},
		{[]string{"run", "--synchronous-standby-names", "FIRST 0 (standby1)"}, "-synchronous-standby-names: want FIRST n (names), ANY n (names), a list of names, or *"},
		{[]string{"run", "--syncrep-cancel", "forever"}, "-syncrep-cancel: want off or a duration in (0, 1s]"},
		{[]string{"run", "--failover-standby-power-loss", "maybe"}, "-failover-standby-power-loss: want on or off"},
		{[]string{"run", "--no-swarm=maybe"}, "-no-swarm: want true or false"},
		{[]string{"run", "--pg-timings=2"}, "-pg-timings: want true or false"},
		{[]string{"run", "--autocommit=yes"}, "-autocommit: want true or false"},
		{[]string{"run", "--failover=yes"}, "-failover: want true or false"},
		{[]string{"run", "--failover-kind", "stonith"}, "-failover-kind: want power-off or partition"},
		{[]string{"run", "--deletes", "maybe"}, "-deletes: want on or off"},
		{[]string{"run", "--contended-keys", "1"}, "-contended-keys: want on or off"},
		{[]string{"run", "--bulk-reads", "yes"}, "-bulk-reads: want on or off"},
		{[]string{"run", "--register-bytes", "7"}, "-register-bytes: must be in [8, 2000]"},
		{[]string{"run", "--register-bytes", "2001"}, "-register-bytes: must be in [8, 2000]"},
		{[]string{"run", "--workload", "bank", "--deletes", "on"}, "the bank workload has no registers"},
		{[]string{"run", "--script-client", "maybe"}, "-script-client: want on or off"},
		{[]string{"run", "--range-statements", "sometimes"}, "-range-statements: want on or off"},
		{[]string{"run", "--follow-reads", "sometimes"}, "-follow-reads: want on or off"},
		{[]string{"run", "--standby-reads", "maybe"}, "-standby-reads: want on or off"},
		{[]string{"run", "--standby-archive", "maybe"}, "-standby-archive: want on or off"},
		{[]string{"run", "--pitr", "sometimes"}, "-pitr: want on or off"},
		{[]string{"run", "--workload", "bank", "--script-client", "on"}, "a script client needs a workload with inserts"},
		{[]string{"run", "--bug", "no-such-bug"}, `-bug: unknown bug "no-such-bug"`},
		{[]string{"run", "--faults", ""}, "-faults: want a file name"},
		{[]string{"run", "--faults", filepath.Join(dir, "missing.plan")}, "reading the fault plan"},
		{[]string{"run", "--fault", "crsh"}, "-fault: "},
		{[]string{"run", "--no-faults=x"}, "-no-faults: want true or false"},
		{[]string{"run", "--fault-intensity", "2"}, "-fault-intensity: must be in [0, 1]"},
		{[]string{"run", "--fault-intensity", "NaN"}, "-fault-intensity: must be in [0, 1]"},
		{[]string{"run", "--fault-intensity", "lots"}, "-fault-intensity: not a number"},
		{[]string{"run", "--full-page-writes", "maybe"}, "-full-page-writes: want on or off"},
		{[]string{"run", "--data-checksums", "maybe"}, "-data-checksums: want on or off"},
		{[]string{"run", "--data-checksums", "off", "--full-page-writes", "off"}, "data checksums off with full_page_writes off: a torn page could be neither repaired nor detected"},
		{[]string{"run", "--shared-buffers", "8"}, "-shared-buffers: must be in [16, 4096]"},
		{[]string{"run", "--next-xid", "2"}, "-next-xid: must be in [3, 1099511627776]"},
		{[]string{"run", "--fsync-queue", "0"}, "-fsync-queue: must be in [1, 4096]"},
		{[]string{"run", "--max-wal-senders", "101"}, "-max-wal-senders: must be in [1, 100]"},
		{[]string{"run", "--standbys", "2", "--max-wal-senders", "1"}, "max_wal_senders 1 is below the 2 standbys"},
		{[]string{"run", "--wal-buffers", "2"}, "-wal-buffers: must be in [4, 2048]"},
		{[]string{"run", "--checkpoint-timeout", "0s"}, "-checkpoint-timeout: must be in [1ms, 1h0m0s]"},
		{[]string{"run", "--archive-timeout", "2h"}, "-archive-timeout: must be in [1ms, 1h0m0s]"},
		{[]string{"run", "--deadlock-timeout", "0s"}, "-deadlock-timeout: must be in [1ms, 1h0m0s]"},
		{[]string{"run", "--wal-segment-size", "100"}, "-wal-segment-size: must be a power of two"},
		{[]string{"run", "--wal-segment-size", "32"}, "-wal-segment-size: must be in [64, 16384]"},
		{[]string{"run", "--autovacuum-vacuum-threshold", "-1"}, "-autovacuum-vacuum-threshold: must be in [0, 1048576]"},
		{[]string{"run", "--autovacuum-vacuum-scale-factor", "101"}, "-autovacuum-vacuum-scale-factor: must be in [0, 100]"},
		{[]string{"run", "--async-share", "1.5"}, "-async-share: must be in [0, 1]"},
		{[]string{"run", "--async-share", "half"}, "-async-share: not a number"},
		{[]string{"run", "--hint-bits", "sometimes"}, "-hint-bits: want dirty or no-dirty"},
		{[]string{"run", "--lock-pause", "ProcArray"}, "-lock-pause: want off, any, ProcArrayLock, XidGenLock,"},
		{[]string{"run", "--config", filepath.Join(dir, "missing.json")}, "--config: "},
		{[]string{"run", "--seed", "-1"}, "-seed: "},
		{[]string{"run", "--fault", "crash when point=no-such-point"}, `unknown injection point "no-such-point" (the engine's points: backend-after-snapshot,`},
		{[]string{"campaign", "--seeds", "3", "--fault", "pause for=1ms when not point=nope"}, `unknown injection point "nope"`},
		{[]string{"campaign", "--systematic", "0"}, "-systematic: must be in [1, 1000]"},
		{[]string{"campaign", "--systematic", "1001"}, "-systematic: must be in [1, 1000]"},
		{[]string{"campaign", "--seeds", "0"}, "-seeds: must be >= 1"},
		{[]string{"run", "--scheduler", "pct:9"}, "scheduler must be random or pct:D with D in [1, 8]"},
		{[]string{"campaign"}, "--seeds N (or --systematic K)"},
		{[]string{"campaign", "--seeds", "3", "--jobs", "0"}, "-jobs: must be >= 1"},
		{[]string{"campaign", "--seeds", "3", "--time-budget", "-1s"}, "-time-budget: must be >= 0s"},
		{[]string{"campaign", "--seeds", "3", "--shard", "2/2"}, "--shard: the shard index (I) must be"},
		{[]string{"shrink", repro, "--max-attempts", "0"}, "-max-attempts: must be >= 1"},
		{[]string{"shrink", repro, "--time-budget", "0s"}, "-time-budget: must be >= 1ns"},
		{[]string{"report", dir, "--max-events", "0"}, "-max-events: must be >= 1"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		code, out, errOut := runCLI(c.args...)
		require.Equal(t, 2, code, "%q: %s %s", c.args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: want one line, got %q", c.args, errOut)
		require.Contains(t, errOut, c.want, "%q", c.args)
		require.NotContains(t, errOut, "simtest:", "%q", c.args)
		require.NotContains(t, errOut, "goroutine", "%q", c.args)
		if !strings.Contains(c.want, "seeds") {
			require.NotContains(t, errOut, "--seeds must", "%q blames another flag", c.args)
		}
		require.Empty(t, out, "%q", c.args)
		for _, a := range c.args {
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if strings.HasPrefix(a, "-") {
				covered[name] = true
			}
		}
	}
	for _, f := range cli.RunFlags {
		require.True(t, covered[f.Name], "no bad-value case for --%s", f.Name)
	}
}

// TestJobsFarAboveTheCoresIsCapped: --jobs far above the core count warns
// and runs at most 4 workers a core; the results do not depend on it.
func TestJobsFarAboveTheCoresIsCapped(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "c.json")
	code, out, errOut := runCLI("campaign", "--seeds", "2", "--jobs", "100000", "--json", jsonPath)
	require.Equal(t, 0, code, out+errOut)
	capped := jobsPerCore * runtime.NumCPU()
	require.Contains(t, errOut, fmt.Sprintf("pgdst campaign: --jobs 100000 is far above the %d cores (each run is single-threaded): running %d\n", runtime.NumCPU(), capped))
	require.Contains(t, out, fmt.Sprintf("on %d workers", capped))
	require.Equal(t, capped, mustReadCampaign(t, jsonPath).Totals.Workers)
}

// TestCommandPrintsDurationsOneWay: the reproduce command, the campaign's
// header and its JSON write a duration as the duration flags read it, in
// ASCII, whatever the command line said (1500us, 1.5ms).
func TestCommandPrintsDurationsOneWay(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "c.json")
	code, out, errOut := runCLI("campaign", "--seeds", "1", "--think-max", "1500us", "--client-timeout", "0.5ms", "--json", jsonPath)
	require.Equal(t, 0, code, out+errOut)
	require.Contains(t, out, " --client-timeout 500us --think-max 1.5ms\n")
	require.Equal(t, "--client-timeout 500us --think-max 1.5ms", mustReadCampaign(t, jsonPath).Params.Flags)
}
