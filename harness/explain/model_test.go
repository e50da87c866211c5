package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// TestDurabilityFromEventsAlone: the lost commit's story comes from typed
// fields only. The process names and the crash's text are chosen to
// mislead a reader of words (a client named like a backend, a crash
// message that claims the WAL was flushed): the account must not follow
// them.
func TestDurabilityFromEventsAlone(t *testing.T) {
	msT := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	rec := NewRecorder()
	for _, e := range []env.Event{
		{Kind: env.EvSpawn, Time: 0, Pid: 0, A: 2, Role2: env.RolePostmaster, Name: "postmaster"},
		{Kind: env.EvSpawn, Time: 0, Pid: 0, A: 3, Role2: env.RoleClient, Name: "backend 7"},
		{Kind: env.EvSpawn, Time: 0, Pid: 2, A: 4, Role2: env.RoleWalwriter, Name: "client-0"},
		{Kind: env.EvSpawn, Time: msT(1), Pid: 2, A: 5, Role2: env.RoleBackend, Name: "walwriter"},
		{Kind: env.EvNetWrite, Time: msT(1), Pid: 3, Role: env.RoleClient, A: 11},
		{Kind: env.EvNetRead, Time: msT(1), Pid: 5, Role: env.RoleBackend, A: 11},
		{Kind: env.EvWALFlush, Time: msT(4), Pid: 4, Role: env.RoleWalwriter, LSN: 0x100},
		{Kind: env.EvWALInsert, Time: msT(9), Pid: 5, Role: env.RoleBackend, LSN: 0x100, LSN2: 0x128, Rmgr: 1, Xid: 9},
		{Kind: env.EvCommit, Time: msT(9.5), Pid: 5, Role: env.RoleBackend, Xid: 9, LSN: 0x128},
		{Kind: env.EvCommitAck, Time: msT(10), Pid: 5, Role: env.RoleBackend, Xid: 9, LSN: 0x128},
		{Kind: env.EvCrash, Time: msT(12), Pid: 0, Role: env.RoleOther, Name: "WAL flushed to 0/FFFF, all durable"},
		{Kind: env.EvRecoveryBegin, Time: msT(15), Pid: 8, Role: env.RoleStartup, LSN: 0x80},
		{Kind: env.EvRecoveryEnd, Time: msT(20), Pid: 8, Role: env.RoleStartup, LSN: 0x80, LSN2: 0x100, A: 3},
	} {
		rec.Observe(e)
	}
	res := &simtest.Result{Seed: 7, Checker: simtest.CheckDurability,
		Finding: &simtest.Finding{Checker: simtest.CheckDurability, Client: 0, Txn: 2, Call: msT(8), Return: msT(11), Outcome: simtest.OK, Writes: 1}}
	acc := Explain(res, rec)
	for _, want := range []string{
		"Client 0's transaction 2, acknowledged at 11.000 ms, lost 1 of its 1 row",
		"committed as xid 9 in backend p5 (client 0's connection): its commit record is at 0/100..0/128",
		"acknowledged the commit at 10.000 ms, when WAL was durable only to 0/100 (flushed by the WAL writer p4 at 4.000 ms)",
		"Nothing flushed WAL between the acknowledgment and the crash at 12.000 ms",
		"Recovery replayed 3 WAL records from 0/80 to 0/100",
		"The commit record was not in the WAL it found",
	} {
		require.Contains(t, acc.Text, want)
	}
	require.Equal(t, "The commit was acknowledged before its commit record was durable.", acc.Mechanism)
	require.False(t, strings.Contains(acc.Text, "durable to 0/FFFF"), acc.Text)
	var steps []string
	for _, mk := range acc.Marks {
		steps = append(steps, mk.Step)
	}
	require.Equal(t, []string{"flush-before-ack", "commit-record", "ack", "crash", "redo"}, steps, "the chain, in time order: the last flush before the acknowledgment, the commit record, the acknowledgment, the crash, the end of redo")
}

// TestPassingRunHasNothingToExplain: an account of a passing run names no
// mechanism.
func TestPassingRunHasNothingToExplain(t *testing.T) {
	acc := Explain(&simtest.Result{OK: true}, NewRecorder())
	require.Empty(t, acc.Mechanism)
	require.Contains(t, acc.Text, "nothing to explain")
}
