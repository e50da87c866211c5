// Package explain is `pgdst explain`: from a failing run to its cause in
// plain language. It replays a repro file with an event observer and
// writes, for the checker that failed, one paragraph that says what
// happened in the order it happened: for a lost commit, the commit
// record's LSN, when the client was acknowledged, how far WAL was durable
// then and at the crash, who flushed what in between and what recovery
// found; for a page the checkpoint checker caught, the page, its LSNs,
// the checkpoint's REDO pointer and who wrote the page when; and so on for
// every checker.
//
// Everything comes from typed values: the run's events (env.Event) and
// its Result (the Finding its checker recorded, the histories and their
// checkers' typed results). No failure message is read back; names and
// messages that events carry are only quoted.
//
// An account ends with the mechanism, in the words a PostgreSQL user
// knows ("the commit was acknowledged before its commit record was
// durable"), derived from the order of the events, not from knowing which
// planted bug was on: the rules are PostgreSQL's (XLogFlush before the
// commit is acknowledged, WAL before data, REDO before CheckPointGuts,
// PANIC on a failed fsync), so the same words name a bug nobody planted.
package explain

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// Account is explain's answer for one failing run.
type Account struct {
	Seed    uint64
	Checker string
	// Mechanism names the cause in a PostgreSQL user's words, one
	// sentence ("" when the events do not tell).
	Mechanism string
	// Text is the whole paragraph, Mechanism included.
	Text string
	// Marks are the moments the account rests on, for a timeline: the
	// acknowledgment of a lost commit, the crash, a page write.
	Marks []Mark
}

// Mark is one moment of an account.
type Mark struct {
	Time  time.Duration
	Pid   int
	Label string
	// Step names the moment's part in a lost commit's chain (the report
	// page and its browser test find it by this name): "commit-record",
	// "flush-before-ack", "ack", "flush", "crash", "redo"; a lost
	// asynchronous commit's "sync-ack"; a page written too early's
	// "flush-before-write" and "flush"; "" elsewhere.
	Step string
}

// String is the account as explain prints it.
func (a *Account) String() string {
	return fmt.Sprintf("seed %d failed %s.\n%s", a.Seed, a.Checker, wrap(a.Text, 100))
}

// Recorder collects a run's events for Explain: set it as the run's
// Config.Events, or feed it recorded events (Observe).
type Recorder struct{ m *model }

// NewRecorder makes an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{m: newModel()} }

// Observe is env.Observer.
func (r *Recorder) Observe(e env.Event) { r.m.add(e) }

// Explain writes the account of res, a failing run whose events rec saw.
func Explain(res *simtest.Result, rec *Recorder) *Account {
	a := &account{Account: Account{Seed: res.Seed, Checker: res.Checker}, m: rec.m, res: res}
	if res.OK {
		a.say("The run passed: there is nothing to explain.")
		return a.done()
	}
	f := res.Finding
	if f != nil && f.Initdb {
		a.say("The checker caught this while initdb built the cluster every run starts from.")
	}
	switch {
	case res.Checker == simtest.CheckDurability && f != nil:
		a.durability(f)
	case res.Checker == simtest.CheckAtomicity && f != nil:
		a.atomicity(f)
	case res.Checker == simtest.CheckWALBeforeData && f != nil:
		a.walBeforeData(f)
	case res.Checker == simtest.CheckCheckpoint && f != nil:
		a.checkpoint(f)
	case res.Checker == simtest.CheckLiveness && f != nil && f.Stage != "":
		a.liveness(f)
	case res.Checker == simtest.CheckLiveness && f != nil:
		a.checkpointWait(f)
	case res.Checker == simtest.CheckLinearizability:
		a.linearizability()
	case res.Checker == simtest.CheckIsolation:
		a.isolation()
	case res.Checker == simtest.CheckBank:
		a.bank()
	case res.Checker == simtest.CheckUnique && f != nil:
		a.unique(f)
	case res.Checker == simtest.CheckStatementEffect, res.Checker == simtest.CheckEngineError:
		a.statement()
	case res.Checker == simtest.CheckArchive && f != nil:
		a.archive(f)
	case res.Checker == simtest.CheckLockWakeup && f != nil:
		a.lockWakeup(f)
	case res.Checker == simtest.CheckLockRetry && f != nil:
		a.lockRetry(f)
	case res.Checker == simtest.CheckProgress && f != nil:
		a.progress(f)
	case res.Checker == simtest.CheckHintBeforeCommit && f != nil:
		a.hintBeforeCommit(f)
	case res.Checker == simtest.CheckSelf && f != nil:
		a.self(f)
	case res.Checker == simtest.CheckRecovery && f != nil:
		a.recoveryFailed(f)
	case res.Checker == simtest.CheckStandby && f != nil:
		a.standby(f)
	case res.Checker == simtest.CheckFailover && f != nil:
		a.failover(f)
	case res.Checker == simtest.CheckStandbyReads && f != nil:
		a.standbyReads(f)
	case res.Checker == simtest.CheckSyncRep && f != nil:
		a.syncRep(f)
	case res.Checker == simtest.CheckPITR && f != nil:
		a.pitr(f)
	default:
		a.recovery()
	}
	a.fsyncFailures()
	if rec.m.dropped > 0 {
		a.say("(Only the run's first %d events of the kinds an account reads were kept; %d later ones were not, so this account may miss facts.)", maxEvents, rec.m.dropped)
	}
	if a.Mechanism == "" {
		a.say("The events do not show which rule broke; the report page (pgdst report) draws the run.")
	}
	return a.done()
}

// ownAccount lists the checkers Explain gives an account of their own
// (the switch above): every checker simtest.CheckerNames lists
// (TestEveryCheckerHasAnAccount). A failure whose checker recorded no
// Finding (none should) falls to the recovery account, the only generic
// one left.
var ownAccount = map[string]bool{
	simtest.CheckDurability: true, simtest.CheckAtomicity: true, simtest.CheckWALBeforeData: true,
	simtest.CheckCheckpoint: true, simtest.CheckLiveness: true, simtest.CheckLinearizability: true,
	simtest.CheckIsolation: true, simtest.CheckBank: true, simtest.CheckUnique: true,
	simtest.CheckStatementEffect: true, simtest.CheckEngineError: true, simtest.CheckArchive: true,
	simtest.CheckLockWakeup: true, simtest.CheckLockRetry: true, simtest.CheckProgress: true,
	simtest.CheckHintBeforeCommit: true, simtest.CheckSelf: true, simtest.CheckRecovery: true,
	simtest.CheckStandby: true, simtest.CheckFailover: true, simtest.CheckStandbyReads: true, simtest.CheckSyncRep: true, simtest.CheckPITR: true,
}

// account is an Account being written.
type account struct {
	Account
	m    *model
	res  *simtest.Result
	text []string
	// async: the lost commit was asynchronous (lostCommit then leaves
	// the cause to asyncCause); lostAck is its acknowledgment.
	async   bool
	lostAck *env.Event
}

func (a *account) say(format string, args ...any) {
	a.text = append(a.text, fmt.Sprintf(format, args...))
}

// cause sets the mechanism and says it, with PostgreSQL's rule.
func (a *account) cause(mechanism, rule string) {
	if a.Mechanism != "" {
		a.say("Also: %s (%s).", mechanism, rule)
		return
	}
	a.Mechanism = upperFirst(mechanism) + "."
	a.say("So %s: %s.", mechanism, rule)
}

func (a *account) mark(e *env.Event, label string) { a.markStep(e, "", label) }

// markStep marks e as one step of the account's chain.
func (a *account) markStep(e *env.Event, step, label string) {
	if e != nil {
		a.Marks = append(a.Marks, Mark{Time: e.Time, Pid: e.Pid, Label: label, Step: step})
	}
}

func (a *account) done() *Account {
	a.Text = strings.Join(a.text, " ")
	// The marks read as a chain, in the order they happened.
	sort.SliceStable(a.Marks, func(i, j int) bool { return a.Marks[i].Time < a.Marks[j].Time })
	return &a.Account
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	col := 0
	for i, w := range strings.Fields(s) {
		if i > 0 {
			if col+1+len(w) > width {
				b.WriteByte('\n')
				col = 0
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
