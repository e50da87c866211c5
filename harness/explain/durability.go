package explain

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// durability: an acknowledged transaction is missing after recovery.
func (a *account) durability(f *simtest.Finding) {
	what := fmt.Sprintf("client %d's transaction %d", f.Client, f.Txn)
	unit := "row"
	if f.List {
		what, unit = fmt.Sprintf("list-append T%d (client %d)", f.Txn, f.Client), "append"
	}
	if f.Async {
		a.say("%s committed with synchronous_commit = off and, acknowledged at %s, lost %d of its %s after recovery. PostgreSQL may lose such a commit, but only among the newest commits of a server lifetime and only within three wal_writer_delay cycles of its acknowledgment; this loss is outside that.",
			upperFirst(what), ms(f.Return), f.Writes-f.Present, plural(f.Writes, unit))
		a.async = true
		a.lostCommit(f.Client, f.Call, f.Return)
		a.asyncCause(f)
		return
	}
	a.say("%s, acknowledged at %s, lost %d of its %s after recovery.", upperFirst(what), ms(f.Return), f.Writes-f.Present, plural(f.Writes, unit))
	a.lostCommit(f.Client, f.Call, f.Return)
}

// lostCommit tells the story of client's acknowledged commit, called at
// call and acknowledged at ret, that recovery lost: its commit record,
// the WAL flushes around its acknowledgment, the crash, what recovery
// replayed.
func (a *account) lostCommit(client int, call, ret time.Duration) {
	m := a.m
	backends := m.backendsOf(client)
	ack := m.lastBefore(ret, func(e *env.Event) bool {
		return e.Kind == env.EvCommitAck && e.Time >= call && backends[e.Pid]
	})
	if ack == nil {
		a.say("No backend serving client %d acknowledged a commit between %s and %s in the events.", client, ms(call), ms(ret))
		a.recovery()
		return
	}
	commitLSN := ack.LSN
	a.lostAck = ack
	rec := m.recordEnding(commitLSN, ack.Time)
	where := "ends at " + lsn(commitLSN)
	if rec != nil {
		where = fmt.Sprintf("is at %s..%s", lsn(rec.LSN), lsn(commitLSN))
	}
	flushedAck, flushEv := m.flushedAt(ack.Time)
	if rec != nil {
		a.markStep(rec, "commit-record", fmt.Sprintf("xid %d's commit record inserted at %s..%s", ack.Xid, lsn(rec.LSN), lsn(commitLSN)))
	}
	if flushEv != nil {
		a.markStep(flushEv, "flush-before-ack", fmt.Sprintf("WAL flushed to %s, the last flush before the acknowledgment", lsn(flushEv.LSN)))
	}
	a.markStep(ack, "ack", fmt.Sprintf("xid %d acknowledged (commit record ends at %s; WAL durable to %s)", ack.Xid, lsn(commitLSN), lsn(flushedAck)))
	a.say("It committed as xid %d in %s: its commit record %s, and the backend acknowledged the commit at %s, when WAL was durable only to %s (flushed%s).",
		ack.Xid, m.who(ack.Pid), where, ms(ack.Time), lsn(flushedAck), flushedBy(m, flushEv))
	if flushedAck >= commitLSN {
		a.say("The commit record was durable when the client was told.")
	}
	crash, restart := m.endAfter(ack.Time)
	if crash == nil {
		a.say("No crash follows in the events.")
		return
	}
	a.markStep(crash, "crash", "crash")
	if restart {
		// Name the crash-restart as what it is: its event's name is
		// quoted, never read.
		how := "panicked"
		if crash.Kind == env.EvKilled {
			how = "was killed"
		}
		a.say("Then %s %s at %s (%s), and the postmaster crash-restarted the server: WAL still in shared memory's WAL buffers was lost, and only what had been written out survived.", m.who(crash.Pid), how, ms(crash.Time), crash.Name)
		crash = &env.Event{Kind: env.EvCrash, Time: crash.Time, Pid: crash.Pid, Name: "a crash-restart"}
	}
	flushedCrash, lastFlush := m.flushedAt(crash.Time)
	reached := m.firstAfter(ack.Time, true, func(e *env.Event) bool {
		return e.Kind == env.EvWALFlush && e.LSN >= commitLSN && e.Time <= crash.Time
	})
	flushes := 0
	var flushList []string
	m.each(ack.Time, crash.Time, func(e *env.Event) bool { return e.Kind == env.EvWALFlush }, func(e *env.Event) {
		flushes++
		if len(flushList) < maxListed {
			flushList = append(flushList, fmt.Sprintf("to %s by %s at %s", lsn(e.LSN), m.who(e.Pid), ms(e.Time)))
		}
	})
	if reached != nil {
		a.markStep(reached, "flush", fmt.Sprintf("WAL flushed to %s, past the commit record", lsn(reached.LSN)))
	} else if lastFlush != nil && lastFlush.Time > ack.Time {
		a.markStep(lastFlush, "flush", fmt.Sprintf("WAL flushed to %s, the last flush before the crash, short of %s", lsn(lastFlush.LSN), lsn(commitLSN)))
	}
	switch {
	case reached != nil:
		a.say("WAL became durable past it at %s (flushed by %s), before the crash at %s (%s), which left WAL durable to %s.",
			ms(reached.Time), m.who(reached.Pid), ms(crash.Time), crash.Name, lsn(flushedCrash))
	case flushes > 0:
		more := ""
		if flushes > len(flushList) {
			more = fmt.Sprintf(" and %d more, the last%s", flushes-len(flushList), flushedBy(m, lastFlush))
		}
		a.say("Between the acknowledgment and the crash at %s (%s) WAL was flushed %s (%s%s), but never up to %s: at the crash it was durable only to %s.",
			ms(crash.Time), crash.Name, times(flushes), strings.Join(flushList, "; "), more, lsn(commitLSN), lsn(flushedCrash))
	default:
		a.say("Nothing flushed WAL between the acknowledgment and the crash at %s (%s): WAL was durable only to %s.",
			ms(crash.Time), crash.Name, lsn(flushedCrash))
	}
	end := m.firstAfter(crash.Time, true, func(e *env.Event) bool { return e.Kind == env.EvRecoveryEnd })
	if end != nil {
		a.say("Recovery replayed %s from %s to %s.", plural(int(end.A), "WAL record"), lsn(end.LSN), lsn(end.LSN2))
		a.markStep(end, "redo", fmt.Sprintf("recovery replayed %s to %s", plural(int(end.A), "WAL record"), lsn(end.LSN2)))
	}
	switch {
	case a.async && reached == nil:
		// An asynchronous commit may be acknowledged before its record
		// is durable: asyncCause says which promise broke.
		if end != nil && end.LSN2 < commitLSN {
			a.say("The commit record was not in the WAL it found.")
		}
	case a.async:
		a.lostDurableCommit(crash, end, commitLSN, ack.Xid)
	case flushedAck < commitLSN && reached == nil:
		if end != nil && end.LSN2 < commitLSN {
			a.say("The commit record was not in the WAL it found.")
		}
		a.cause("the commit was acknowledged before its commit record was durable",
			"with synchronous_commit = on, RecordTransactionCommit flushes WAL up to the commit record (XLogFlush) before the backend tells the client, so that a crash can never lose an acknowledged commit")
	case flushedAck < commitLSN:
		a.cause("the commit was acknowledged before its commit record was durable, although a later flush made it durable before the crash",
			"RecordTransactionCommit's XLogFlush must come before the reply; the loss itself then needs another cause")
		a.lostDurableCommit(crash, end, commitLSN, ack.Xid)
	default:
		a.lostDurableCommit(crash, end, commitLSN, ack.Xid)
	}
}

// lostDurableCommit: the commit record was durable at the crash, and yet
// its rows are gone.
func (a *account) lostDurableCommit(crash, end *env.Event, commitLSN, xid uint64) {
	if end != nil && end.LSN2 < commitLSN {
		if a.tornRecordCause(end.LSN2, crash.Time, fmt.Sprintf("recovery stopped at %s, before the durable commit record at %s", lsn(end.LSN2), lsn(commitLSN))) {
			return
		}
		if a.overwrittenPageCause(end.LSN2, crash.Time, fmt.Sprintf("recovery stopped at %s, before the durable commit record at %s", lsn(end.LSN2), lsn(commitLSN))) {
			return
		}
		a.cause(fmt.Sprintf("recovery stopped at %s, before the durable commit record at %s", lsn(end.LSN2), lsn(commitLSN)),
			"redo must replay every durable WAL record up to the end of valid WAL")
		return
	}
	if end != nil && end.LSN > commitLSN {
		a.say("Recovery started at REDO %s, past the commit record: whatever its changes needed had to be on disk already.", lsn(end.LSN))
	}
	if st := a.res.XidStatus; xid < uint64(len(st)) && clog.Status(st[xid]) != clog.Committed {
		// The rows may all be on disk and yet invisible: the clog page
		// recovery read no longer says the transaction committed.
		a.say("After recovery the clog says xid %d is %s, although its commit record was durable.", xid, statusName(clog.Status(st[xid])))
		if end != nil && end.LSN > commitLSN {
			a.cause("the clog lost the transaction's commit status, which recovery does not replay from before REDO",
				"TransactionIdSetTreeStatus must record every commit in its clog page, and CheckPointCLOG must write that page before the checkpoint's REDO passes the commit record")
			return
		}
		a.cause("the clog lost the transaction's commit status although redo replayed its commit record",
			"xact_redo_commit sets the commit status in the clog (TransactionIdCommitTree)")
		return
	}
	if st := a.res.XidStatus; xid < uint64(len(st)) && end != nil && end.LSN <= commitLSN {
		// Redo replayed the commit record and the clog says committed,
		// and still the rows are not seen: what hides them is on the
		// tuples, which no event records.
		a.say("After recovery the clog says xid %d committed, and redo replayed its commit record.", xid)
		a.cause("the rows of a transaction the clog says committed are not visible after recovery: their tuples are marked invalid or their changes are missing",
			"SetHintBits may mark a tuple's xmin invalid only when TransactionIdDidCommit is false and the transaction is not in progress (HeapTupleSatisfiesMVCC), and redo must restore every logged change")
		return
	}
	a.pageLossContext(crash, xid, end)
}

// statusName is a clog status as PostgreSQL's TRANSACTION_STATUS_* reads.
func statusName(s clog.Status) string {
	switch s {
	case clog.InProgress:
		return "in progress"
	case clog.Aborted:
		return "aborted"
	case clog.SubCommitted:
		return "sub-committed"
	}
	return "committed"
}

// pageLossContext names what can lose a change whose WAL was durable: a
// checkpoint whose REDO pointer passed it while the page was not on disk.
func (a *account) pageLossContext(crash *env.Event, xid uint64, end *env.Event) {
	m := a.m
	cp := m.lastBefore(crash.Time, func(e *env.Event) bool { return e.Kind == env.EvControlUpdate })
	if cp == nil || end == nil || end.LSN != cp.LSN2 {
		return
	}
	a.say("The last checkpoint before the crash had its control file updated at %s by %s, naming REDO %s, where recovery started: changes before it are not replayed and must be on disk.",
		ms(cp.Time), m.who(cp.Pid), lsn(cp.LSN2))
	a.mark(cp, "control file: REDO "+lsn(cp.LSN2))
	start := m.lifetimeStart(crash.Time)
	var before *env.Event
	m.each(start, crash.Time, func(e *env.Event) bool { return e.Kind == env.EvWALInsert && e.Xid == xid && e.LSN2 <= cp.LSN2 }, func(e *env.Event) {
		if before == nil {
			before = e
		}
	})
	if before == nil {
		return
	}
	a.say("The transaction's change logged by %s at %s (%s..%s) is before that REDO pointer, so recovery relied on its page being on disk, and it was not.",
		m.who(before.Pid), ms(before.Time), lsn(before.LSN), lsn(before.LSN2))
	a.faultsNear(before.Time, cp.Time, nil)
	a.cause("the checkpoint's REDO pointer passed a change whose page was not written",
		"CreateCheckPoint's guarantee: every change before REDO is on disk, fsynced, before the control file names it")
}

// maxListed bounds the events an account lists one by one.
const maxListed = 4

// flushedBy is " by X at T" for a flush event (nil: none).
func flushedBy(m *model, e *env.Event) string {
	if e == nil {
		return " by nobody yet in this server lifetime"
	}
	return fmt.Sprintf(" by %s at %s", m.who(e.Pid), ms(e.Time))
}

// times is "once", "twice", "3 times".
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}
