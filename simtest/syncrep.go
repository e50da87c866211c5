package simtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// Synchronous replication in runs (issue 19): with standbys, the primary
// may run with synchronous_standby_names (--synchronous-standby-names,
// PostgreSQL's FIRST n / ANY n grammar over the standbys' names standby1,
// standby2, ..., their application_name) and synchronous_commit
// (--synchronous-commit: local, remote_write, on or remote_apply). A
// commit then waits for its standbys (engine/db/syncrep.go). Writes hang
// while the synchronous standbys are away, as in PostgreSQL; an operator
// process (the sync-rep canceller, --syncrep-cancel) cancels, with
// pg_cancel_backend, or on one in four terminates, with
// pg_terminate_backend, every backend that has waited longer than a drawn
// limit, as a statement_timeout or a watchdog does: the commit then stands
// locally though perhaps not replicated (PostgreSQL's WARNING), and the
// client records it as an unknown outcome, not an acknowledgement. Under
// the swarm, half the seeds that draw standbys (and not a pinned count)
// run synchronously, from a stream of their own.
//
// The sync-rep durability checker (CheckSyncRep) judges two things:
//   - at every acknowledgement by the primary (a COMMIT's reply without a
//     WARNING), at least n of the synchronous candidates (the standbys
//     synchronous_standby_names names) hold the commit record at the
//     level's position: written by the WAL receiver (remote_write),
//     fsynced (on), or replayed by the startup process (remote_apply).
//     This is what SyncRepReleaseWaiters promises for FIRST n (each of
//     the n synchronous standbys) and ANY n (the n-th newest) alike;
//   - after a failover (failover.go) that promotes standby1 when the
//     setting makes it part of every quorum (it is the one standby named,
//     n is 1), no commit the old primary acknowledged
//     may be missing from it: the async loss bound allows none. With
//     remote_write this holds only when the standby's machine kept its
//     page cache: remote_write survives the primary's power loss, not the
//     standby's (PostgreSQL's documented promise), so a failover that
//     powers off both machines (drawn here on half the sync failovers)
//     judges remote_write commits as the async bound does, and on and
//     remote_apply commits strictly.

// CheckSyncRep judges synchronous replication (syncrep.go).
const CheckSyncRep = "syncrep"

// countSyncRepAcks counts the acknowledgements the sync-rep checker
// judged.
const countSyncRepAcks = CheckSyncRep + ": acknowledgements"

// syncRepStream keys the sync-rep draws ("syncrep1").
const syncRepStream = 0x73796e6372657031

// SyncCommitLevels are the values of --synchronous-commit (off is
// --async-commit's).
var SyncCommitLevels = []string{"local", "remote_write", "on", "remote_apply"}

// syncRepCancelMax bounds --syncrep-cancel.
const syncRepCancelMax = time.Second

// syncRepPlan is a run's synchronous replication (resolveSyncRep).
type syncRepPlan struct {
	names string
	cfg   db.SyncStandbys
	level db.SyncCommitLevel
	// cancelAfter is the canceller's limit (0: no canceller).
	cancelAfter time.Duration
}

// on reports whether commits wait for standbys.
func (p syncRepPlan) on() bool { return p.cfg.Defined() && p.level > db.SyncCommitLocal }

// ParseSyncRepCancel reads --syncrep-cancel: off, or a duration in (0, 1s].
func ParseSyncRepCancel(v string) (time.Duration, error) {
	if v == "off" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > syncRepCancelMax {
		return 0, fmt.Errorf("want off or a duration in (0, %v]", syncRepCancelMax)
	}
	return d, nil
}

func (c Config) validateSyncRep() error {
	if c.SyncStandbyNames != "" {
		cfg, err := db.ParseSyncStandbyNames(c.SyncStandbyNames)
		if err != nil {
			return err
		}
		if cfg.Defined() && (c.Standbys < 1 && c.StandbysSet || !c.Swarm && c.Standbys < 1) {
			return errors.New("synchronous_standby_names needs standbys (--standbys 1 or more)")
		}
		if cfg.Defined() && c.AsyncCommit {
			return errors.New("synchronous_standby_names with synchronous_commit=off: no commit would wait")
		}
	}
	if c.SyncCommit != "" {
		l, err := db.ParseSyncCommitLevel(c.SyncCommit)
		if err != nil {
			return err
		}
		if l == db.SyncCommitOff {
			return errors.New("synchronous_commit=off is AsyncCommit")
		}
		if c.AsyncCommit {
			return errors.New("--synchronous-commit and --async-commit contradict each other")
		}
	}
	if c.SyncRepCancel != "" {
		if _, err := ParseSyncRepCancel(c.SyncRepCancel); err != nil {
			return fmt.Errorf("syncrep-cancel: %w", err)
		}
	}
	if c.FailoverStandbyPowerLoss != "" && c.FailoverStandbyPowerLoss != VarietyOn && c.FailoverStandbyPowerLoss != VarietyOff {
		return fmt.Errorf("failover-standby-power-loss: want on or off, got %q", c.FailoverStandbyPowerLoss)
	}
	return nil
}

// syncRepNames are the settings the swarm draws from, by the number of
// standbys (1 or 2): every form of the grammar, with priorities, quorums
// and the wildcard.
var syncRepNames = [...][]string{
	1: {"standby1", "FIRST 1 (standby1)", "ANY 1 (standby1)", "*"},
	2: {"FIRST 1 (standby1, standby2)", "FIRST 2 (standby1, standby2)", "ANY 1 (standby1, standby2)", "ANY 2 (standby1, standby2)", "standby2, standby1", "*"},
}

// syncRepLevels are the levels the swarm draws, on twice as often: it is
// PostgreSQL's default.
var syncRepLevels = [...]db.SyncCommitLevel{db.SyncCommitRemoteWrite, db.SyncCommitOn, db.SyncCommitOn, db.SyncCommitRemoteApply}

// syncRepCancels are the canceller's limits the swarm draws.
var syncRepCancels = [...]time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}

// resolveSyncRep draws the run's synchronous replication from its own
// stream, every draw made on every seed in a fixed order: sync or async
// (half the seeds whose standbys the swarm drew; never when the count
// was given, nor with synchronous_commit off), the setting, the level,
// the canceller's limit, and whether a failover powers off the standby's
// machine too (half the sync failovers). A pinned flag replaces its draw.
func resolveSyncRep(c Config, r *resolved) {
	rng := world.NewRand(c.Seed ^ syncRepStream)
	on := rng.Intn(2) == 0
	namesAt := rng.Intn(len(syncRepNames[2]))
	level := syncRepLevels[rng.Intn(len(syncRepLevels))]
	cancel := syncRepCancels[rng.Intn(len(syncRepCancels))]
	bothDown := rng.Intn(2) == 0
	crash := []world.CrashMode{world.CrashDropAll, world.CrashRandomSubset, world.CrashTorn}[rng.Intn(3)]
	afterReady := time.Duration(5+rng.Intn(60)) * time.Millisecond

	var p syncRepPlan
	switch {
	case c.SyncStandbyNames != "" || c.SyncStandbyNamesSet:
		p.names = c.SyncStandbyNames
	case c.Swarm && c.Standbys == 0 && !c.StandbysSet && r.standbys >= 1 && on && !c.AsyncCommit:
		opts := syncRepNames[min(r.standbys, 2)]
		p.names = opts[namesAt%len(opts)]
	}
	p.cfg, _ = db.ParseSyncStandbyNames(p.names) // Validate has checked a given one
	p.level = level
	if c.SyncCommit != "" {
		p.level, _ = db.ParseSyncCommitLevel(c.SyncCommit)
	}
	p.cancelAfter = cancel
	if c.SyncRepCancel != "" {
		p.cancelAfter, _ = ParseSyncRepCancel(c.SyncRepCancel)
	}
	if !p.cfg.Defined() || r.standbys == 0 {
		// Asynchronous, or a seed whose swarm drew no standby to name
		// (a setting given applies to the seeds with standbys):
		// nothing changes, and the run is as it was.
		return
	}
	r.syncRep = p
	r.engine.SynchronousStandbyNames = p.names
	if c.SyncCommit != "" || !r.AsyncCommit {
		r.engine.SynchronousCommitLevel = p.level
	}
	if r.failover.on {
		switch c.FailoverStandbyPowerLoss {
		case VarietyOn:
			bothDown = true
		case VarietyOff:
			bothDown = false
		}
		r.failover.standbyPowerLoss, r.failover.standbyCrash, r.failover.afterReady = bothDown, crash, afterReady
		if crash == world.CrashTorn && !r.engine.FullPageWrites {
			r.failover.standbyCrash = world.CrashRandomSubset
		}
	}
}

func (r resolved) stringSyncRep() string {
	p := r.syncRep
	if !p.cfg.Defined() {
		return ""
	}
	s := fmt.Sprintf(" synchronous_standby_names=%q synchronous_commit=%s syncrep_cancel=%v", p.names, p.level, p.cancelAfter)
	if r.failover.on {
		s += fmt.Sprintf(" failover_after_ready=%v", r.failover.afterReady)
	}
	if r.failover.standbyPowerLoss {
		s += " failover_standby_power_loss=" + r.failover.standbyCrash.String()
	}
	return s
}

// standbyAppName is the i-th standby's application_name (0-based):
// standby1, standby2, ...
func standbyAppName(i int) string { return fmt.Sprintf("standby%d", i+1) }

// syncCandidates are the run's standbys synchronous_standby_names
// names (a priority above 0), in order.
func (p syncRepPlan) syncCandidates(s *standbySet) []*standby {
	var out []*standby
	for i, sb := range s.nodes {
		if p.cfg.Priority(standbyAppName(i)) > 0 {
			out = append(out, sb)
		}
	}
	return out
}

// guarantees reports whether every commit acknowledged under p is on
// standby sb: sb is the one candidate and one is needed. With two
// candidates even FIRST 2 or ANY 2 does not promise it to a given one:
// PostgreSQL counts WAL senders, and the other standby's two (one stale,
// one new after a reconnection) meet the number (judgeSyncAck).
func (p syncRepPlan) guarantees(s *standbySet, sb *standby) bool {
	c := p.syncCandidates(s)
	if !p.on() || len(c) != 1 || p.cfg.Num != 1 {
		return false
	}
	for _, x := range c {
		if x == sb {
			return true
		}
	}
	return false
}

// startSyncRep installs the sync-rep checker's online half on the
// primary's node and spawns the canceller, when commits wait for
// standbys.
func startSyncRep(res *Result, rc resolved, sim *world.Sim, node *world.Node, pm *pgproc.Postmaster, s *standbySet, w *workload, fo *failover) {
	p := rc.syncRep
	if !p.on() || s == nil {
		return
	}
	cands := p.syncCandidates(s)
	var names []string // the candidates' application_names
	for _, sb := range cands {
		names = append(names, standbyAppName(slices.Index(s.nodes, sb)))
	}
	failed := false // one failure line per run: the first ack is the story
	prev := node.WatchEvents
	node.WatchEvents = func(e *env.Event) {
		if prev != nil {
			prev(e)
		}
		if e.Kind == env.EvCommitAck {
			judgeSyncAck(res, rc, cands, names, pm.Shared(), wal.LSN(e.LSN), sim.Now(), &failed)
		}
	}
	if p.cancelAfter <= 0 {
		return
	}
	rng := world.NewRand(rc.Seed ^ syncRepStream).Fork(1)
	e := node.Env
	sim.SpawnAs(env.RoleOther, "syncrep canceller", func() {
		poll := max(p.cancelAfter/4, time.Millisecond)
		// One pass per poll; it ends with the workload or the old
		// primary's power-off (a partitioned one's waits are still
		// cancelled until it is fenced: failover_partition.go).
		for w.running > 0 && fo.oldPrimaryUp() {
			e.Clock.Sleep(poll)
			d := pm.Shared()
			if d == nil || !fo.oldPrimaryUp() {
				continue
			}
			now := e.Clock.Now()
			for _, wt := range d.SyncRepWaiters() {
				if now-wt.Since >= p.cancelAfter {
					d.InterruptSyncRepWait(wt.Slot, rng.Intn(4) == 0)
				}
			}
		}
	})
}

// judgeSyncAck is the online half of the sync-rep checker: the primary
// acknowledged a commit whose record ends at lsn; at least n candidates
// must hold it at the level's position. A run with transactions that SET
// LOCAL synchronous_commit = off (they do not wait, by design) is not
// judged: the acknowledgement does not say which kind it was.
//
// PostgreSQL counts WAL senders, not machines (SyncRepGetCandidateStandbys
// walks WalSndCtl->walsnds): a standby that reconnects while its old WAL
// sender has not yet noticed the loss (wal_sender_timeout) counts once
// per streaming WAL sender with its name, so FIRST 2 or ANY 2 may be met
// by one standby twice. The checker counts as PostgreSQL does, weighing
// each standby that holds the commit by its streaming WAL senders on the
// primary d.
func judgeSyncAck(res *Result, rc resolved, cands []*standby, names []string, d *db.DB, lsn wal.LSN, now time.Duration, failed *bool) {
	p := rc.syncRep
	if rc.asyncShare > 0 {
		res.Online.skipped(countSyncRepAcks, "transactions with SET LOCAL synchronous_commit = off", 1)
		return
	}
	have, reset, promoting := 0, 0, 0
	var at []string
	senders := map[string]int{}
	if d != nil {
		for _, ws := range d.WalSenders() {
			if ws.InUse && ws.Streaming {
				senders[strings.ToLower(ws.AppName)]++
			}
		}
	}
	for i, sb := range cands {
		pos := wal.InvalidLSN
		if sb.pm != nil {
			if sd := sb.pm.Shared(); sd != nil && sd.WalRcv() != nil {
				written, flushed := sd.WalRcv().Positions()
				switch p.level {
				case db.SyncCommitRemoteWrite:
					pos = written
				case db.SyncCommitRemoteApply:
					pos = sd.ReplayedLSN()
				default:
					pos = flushed
				}
			}
		}
		weight := max(1, senders[strings.ToLower(names[i])])
		switch {
		case pos >= lsn:
			have += weight
		case sb.promoted:
			// A partition failover promotes it while the old
			// primary still runs (failover_partition.go): its
			// receiver is shut down and its positions gone, while
			// the old primary may still release a wait on the
			// report its WAL sender had before the partition.
			// Whether such a commit is on the promoted standby is
			// judged at the end, against the new primary's data
			// (syncRepLost).
			promoting++
		case sb.pm == nil:
			// The standby is down between a harness restart's kill
			// and its start: its shared positions are gone, while
			// the primary's WAL sender for it (not yet timed out)
			// still holds the flush position it reported, which the
			// primary rightly counts (what a receiver reports
			// flushed is on its disk).
			reset++
		case sb.pm != nil && len(sb.pm.CrashTimes()) > 0, sb.restarts > 0:
			// A standby that crash-restarted starts its shared
			// positions again from where its streaming restarts:
			// what it flushed before is on its disk, but no longer
			// in the positions read here. So does one whose server
			// the harness restarted (a kill -9 or a power loss of
			// its machine, standby.go's net faults), and while it is
			// down it has no positions at all: the positions are
			// read when the client's reply is sent, which may come
			// after the WAL sender released the wait on the old
			// server's report (seeds 321 and 379 with
			// --standby-reads on at remote_apply).
			reset++
		}
		at = append(at, fmt.Sprintf("%s at %s", sb.node.Name, pos))
	}
	if have < p.cfg.Num && promoting > 0 && have+reset+promoting >= p.cfg.Num {
		res.Online.skipped(countSyncRepAcks, "a synchronous standby was being promoted (a partition failover; judged against the new primary's data)", 1)
		return
	}
	if have < p.cfg.Num && have+reset >= p.cfg.Num {
		res.Online.skipped(countSyncRepAcks, "a synchronous standby restarted (its positions reset)", 1)
		return
	}
	res.Online.judged(countSyncRepAcks, 1)
	if have < p.cfg.Num && !*failed {
		*failed = true
		detail := fmt.Sprintf("commit ending at %s acknowledged with synchronous_commit=%s under %q while %d of the %d synchronous standbys needed had it (%v)", lsn, p.level, p.names, have, p.cfg.Num, at)
		res.found(Finding{Checker: CheckSyncRep, At: now, Detail: detail})
		res.fail(CheckSyncRep, "%s", detail)
	}
}

// syncRepLost is the sync-rep checker's failover half, asked by the
// async loss bound about op, an acknowledged commit the promoted standby
// lacks: under a setting that guarantees it is there, that is a failure
// (true), else it is the async loss the bound counts (false).
func (w *workload) syncRepLost(op *Op, res *Result) bool {
	f := w.fo
	if f == nil || op.Async || !w.rc.syncRep.guarantees(f.standbys, f.sb) {
		return false
	}
	if w.rc.syncRep.level == db.SyncCommitRemoteWrite && f.p.standbyPowerLoss {
		return false // remote_write does not survive the standby's power loss
	}
	res.found(Finding{Checker: CheckSyncRep, Client: op.Client, Txn: op.Index, Call: op.Call, Return: op.Return, Outcome: OK, Writes: len(op.Keys),
		Detail: fmt.Sprintf("acknowledged with synchronous_commit=%s under %q, lost by the failover to %s", w.rc.syncRep.level, w.rc.syncRep.names, f.sb.node.Name)})
	res.fail(CheckSyncRep, "sync-rep durability: %s was acknowledged by the old primary with synchronous_commit=%s under %q, and the promoted %s lacks it", op, w.rc.syncRep.level, w.rc.syncRep.names, f.sb.node.Name)
	return true
}

// crashStandby is the failover's second power loss, when drawn: the
// standby's machine goes down with the primary's (a shared power
// feed), its unsynced writes lost by its crash mode; it boots again,
// replays what its disk kept, and is promoted from there. It returns the
// restarted standby's shared memory once consistent, nil if it did not
// get there in time.
func (f *failover) crashStandby(sim *world.Sim) *db.DB {
	sb, e := f.sb, f.primary.Env
	if sb.pmProc != nil {
		sim.KillTree(sb.pmProc)
	}
	sb.node.Net.CrashNode(sb.node.Name)
	sb.node.Disk.Crash(f.rng.Fork(3), f.p.standbyCrash)
	sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: sb.node.Name, Name: "failover: power-loss " + f.p.standbyCrash.String()})
	sb.pm = f.standbys.startStandby(sim, sb)
	for waited := time.Duration(0); waited < failoverReadyMax; waited += time.Millisecond {
		if d := sb.pm.Shared(); d != nil && d.StandbyMode() && d.Consistent() {
			return d
		}
		e.Clock.Sleep(time.Millisecond)
	}
	return nil
}

// errSyncRepWarning is a COMMIT's reply with a sync-rep WARNING: the
// transaction committed locally but may not be replicated, so the client
// does not take it for an acknowledgement (an unknown outcome).
var errSyncRepWarning = errors.New("sync-rep wait canceled: committed locally, perhaps not replicated")
