package explain

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// asyncCause names which of PostgreSQL's promises for an asynchronous
// commit (synchronous_commit = off) the loss broke, from the finding's
// typed facts and the events: a later commit of the same lifetime
// survived (WAL reaches the disk in LSN order), a later synchronous
// commit's flush should have carried it, or the WAL writer never flushed
// it in time.
func (a *account) asyncCause(f *simtest.Finding) {
	ack := a.lostAck
	if a.Mechanism != "" || ack == nil {
		return // lostDurableCommit named the cause, or there is no commit to reason about
	}
	m := a.m
	switch {
	case f.Other != nil:
		a.say("Yet %s, called at %s after this one was acknowledged, survived.", findingName(f.Other), ms(f.Other.Call))
		a.cause("an asynchronous commit was lost while a later commit of the same server lifetime survived",
			"with synchronous_commit = off a crash may lose only the newest commits, since XLogWrite hands WAL to the kernel in LSN order and recovery replays it up to the first record it cannot read")
	case f.SyncCall != 0:
		sync := m.lastBefore(f.SyncReturn, func(e *env.Event) bool {
			return e.Kind == env.EvCommitAck && e.Time >= f.SyncCall && e.LSN > ack.LSN
		})
		if sync == nil {
			a.say("A synchronous commit called at %s and acknowledged at %s, after this one, should have flushed WAL past it, but no acknowledgment of a commit past %s shows in that span.", ms(f.SyncCall), ms(f.SyncReturn), lsn(ack.LSN))
			return
		}
		durable, flushEv := m.flushedAt(sync.Time)
		a.markStep(sync, "sync-ack", fmt.Sprintf("xid %d, a synchronous commit, acknowledged (commit record ends at %s; WAL durable to %s)", sync.Xid, lsn(sync.LSN), lsn(durable)))
		a.say("A later synchronous commit, xid %d in %s, was acknowledged at %s with its commit record ending at %s, past this one's, so its flush should have made this one durable too; WAL was durable only to %s when it was acknowledged (flushed%s).",
			sync.Xid, m.who(sync.Pid), ms(sync.Time), lsn(sync.LSN), lsn(durable), flushedBy(m, flushEv))
		if durable < sync.LSN {
			a.cause("a synchronous commit was acknowledged before its commit record was durable, and the earlier asynchronous commit its flush would have carried was lost",
				"with synchronous_commit = on, RecordTransactionCommit flushes WAL up to the commit record (XLogFlush) before the backend tells the client, which makes every earlier commit durable as well")
			return
		}
		a.cause("recovery lost an asynchronous commit that a synchronous commit's flush had made durable",
			"redo must replay every durable WAL record up to the end of valid WAL")
	default:
		crash := m.crashAfter(ack.Time)
		left := "until the crash"
		if crash != nil {
			left = fmt.Sprintf("for %s, from its acknowledgment to the crash", ms(crash.Time-ack.Time))
		}
		a.cause("the WAL writer left an asynchronous commit's record unflushed "+left,
			"XLogSetAsyncXactLSN wakes the WAL writer, whose XLogBackgroundFlush must flush an asynchronous commit within three wal_writer_delay cycles")
	}
}

// findingName names a finding's transaction as the durability account
// does.
func findingName(f *simtest.Finding) string {
	if f.List {
		return fmt.Sprintf("list-append T%d (client %d)", f.Txn, f.Client)
	}
	return fmt.Sprintf("client %d's transaction %d", f.Client, f.Txn)
}
