package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// TestAsyncLossFromARun: seed 10 with ack-before-flush loses an
// asynchronous commit that a later synchronous commit, acknowledged
// before its own record was durable, should have carried to disk. The
// account says so from the finding's typed facts (Async, SyncCall) and
// the events; before the finding was typed it said "the events do not
// show which rule broke".
func TestAsyncLossFromARun(t *testing.T) {
	set, err := bugs.ParseSet("ack-before-flush")
	require.NoError(t, err)
	cfg := simtest.DefaultConfig(10)
	cfg.Bugs = set
	rec := NewRecorder()
	cfg.Events = rec
	res := simtest.Run(cfg)
	require.False(t, res.OK)
	require.Equal(t, simtest.CheckDurability, res.Checker)
	require.NotNil(t, res.Finding)
	require.True(t, res.Finding.Async, "the run's first failure is the asynchronous commit's loss")
	require.NotZero(t, res.Finding.SyncCall)
	acc := Explain(res, rec)
	require.Contains(t, acc.Text, "committed with synchronous_commit = off")
	require.Contains(t, strings.ToLower(acc.Mechanism), "a synchronous commit was acknowledged before its commit record was durable")
	steps := map[string]bool{}
	for _, mk := range acc.Marks {
		steps[mk.Step] = true
	}
	require.True(t, steps["ack"] && steps["sync-ack"] && steps["crash"], "%+v", acc.Marks)
}

// TestAsyncLossRules: the other two promises, from synthetic events: a
// later commit of the lifetime survived (Other), or nothing later should
// have carried it and the WAL writer never flushed it.
func TestAsyncLossRules(t *testing.T) {
	msT := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	events := []env.Event{
		{Kind: env.EvSpawn, Time: 0, Pid: 0, A: 3, Role2: env.RoleClient, Name: "client-0"},
		{Kind: env.EvSpawn, Time: 0, Pid: 0, A: 4, Role2: env.RoleWalwriter, Name: "walwriter"},
		{Kind: env.EvSpawn, Time: msT(1), Pid: 0, A: 5, Role2: env.RoleBackend, Name: "backend 1"},
		{Kind: env.EvNetWrite, Time: msT(1), Pid: 3, Role: env.RoleClient, A: 11},
		{Kind: env.EvNetRead, Time: msT(1), Pid: 5, Role: env.RoleBackend, A: 11},
		{Kind: env.EvWALFlush, Time: msT(4), Pid: 4, Role: env.RoleWalwriter, LSN: 0x100},
		{Kind: env.EvWALInsert, Time: msT(9), Pid: 5, Role: env.RoleBackend, LSN: 0x100, LSN2: 0x128, Rmgr: 1, Xid: 9},
		{Kind: env.EvCommitAck, Time: msT(10), Pid: 5, Role: env.RoleBackend, Xid: 9, LSN: 0x128},
		{Kind: env.EvCrash, Time: msT(80), Pid: 0, Role: env.RoleOther, Name: "power-loss"},
		{Kind: env.EvRecoveryBegin, Time: msT(85), Pid: 8, Role: env.RoleStartup, LSN: 0x80},
		{Kind: env.EvRecoveryEnd, Time: msT(90), Pid: 8, Role: env.RoleStartup, LSN: 0x80, LSN2: 0x100, A: 3},
	}
	lost := simtest.Finding{Checker: simtest.CheckDurability, Client: 0, Txn: 2, Call: msT(8), Return: msT(11), Outcome: simtest.OK, Writes: 1, Async: true}
	for _, c := range []struct {
		name  string
		other *simtest.Finding
		want  string
	}{
		{"a later commit survived", &simtest.Finding{Client: 1, Txn: 4, Call: msT(20), Return: msT(21), Writes: 1, Present: 1},
			"an asynchronous commit was lost while a later commit of the same server lifetime survived"},
		{"the WAL writer never flushed it", nil, "the wal writer left an asynchronous commit's record unflushed for 70.000 ms"},
	} {
		rec := NewRecorder()
		for _, e := range events {
			rec.Observe(e)
		}
		f := lost
		f.Other = c.other
		acc := Explain(&simtest.Result{Seed: 7, Checker: simtest.CheckDurability, Finding: &f}, rec)
		require.Contains(t, strings.ToLower(acc.Mechanism), c.want, "%s: %s", c.name, acc.Text)
		require.NotContains(t, acc.Text, "acknowledged before its commit record was durable", "%s: an asynchronous commit may be", c.name)
	}
}
