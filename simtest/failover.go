package simtest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// Failover (issue 19, slice 2): with --failover, at a moment drawn from
// the seed, once standby 1 is consistent, the primary fails, standby 1
// is promoted (pg_promote: engine/db/promote.go) and the clients are
// redirected to it: they reconnect, as a connection pool with the new
// primary's address does, and carry on with their transactions. The old
// primary never rejoins: nothing rebuilds it (no pg_rewind, no new base
// backup). When the workload ends the new primary's machine loses power
// too, and its data directory is recovered and judged.
//
// How the primary fails is the failover's kind, drawn from the
// failover's own stream after its older draws (so a power-off failover
// keeps its moment and crash modes) or pinned by --failover-kind:
//   - power-off: the primary's machine loses power (every process of its
//     server killed, its sockets reset, its unsynced writes dropped or
//     torn by a drawn crash mode) before the promotion;
//   - partition (failover_partition.go), the failover Jepsen tests: the
//     network cuts the old primary off from every standby and from the
//     clients' host, both ways (world.SimNet.Partition: segments wait,
//     TCP retransmits, nothing heals it); the old primary keeps running.
//     Standby 1 is promoted; at its end the address moves to it (a
//     virtual IP: the redirected clients' hung connections to the old
//     primary are reset, and they reconnect to the new one). A drawn
//     share of the clients (1 to half), on a host of their own on the
//     old primary's side of the partition, keep its address, as a stale
//     connection pool does, and go on writing to it; a drawn 5 to 60 ms
//     after the redirection the failover manager fences the old primary:
//     its machine loses power as in a power-off failover, and the stale
//     clients reconnect to the new primary. A base backup the partition
//     cuts off fails (standby.go), as pg_basebackup's stream would.
//
// What PostgreSQL does across a partition, and so what the checker
// (CheckFailover) allows and fails, over the whole lifetime of both
// primaries (each acknowledgement is the node's whose connection carried
// it: servedByNew):
//   - split brain, two nodes that acknowledged commits on the same
//     timeline, always fails: a promoted standby must move to a new
//     timeline (findNewestTimeLine + 1) and say where it branched off in
//     the timeline history file. A partition failover lets the checker
//     see it as it happens in production, both primaries acknowledging
//     at once ("while both were primaries").
//   - two primaries acknowledging at once on different timelines is
//     PostgreSQL's behaviour, not a bug: it has no fencing of its own,
//     and a primary that lost its standbys commits and acknowledges as
//     before (RecordTransactionCommit waits only for its own flush when
//     replication is asynchronous). What the old primary acknowledged
//     past the promoted standby's received WAL, before the partition or
//     in its stale clients' window, is lost: the async loss bound
//     requires the loss to be a suffix of each client's commits on the
//     old primary (a lost commit followed by a kept one is a hole and
//     fails); the loss is counted (FailoverResult.Lost, and how many of
//     the old primary's acknowledgements came after the partition and
//     after the promotion) and the lost commits become unknown outcomes
//     for the history checkers, which judge the rest of the lifetime as
//     ever: every commit the NEW primary acknowledged must survive its
//     power loss, and no data may appear that no transaction wrote. A
//     stale client's read on the old primary may miss what the new one
//     acknowledged (splitRead), which nothing in PostgreSQL prevents
//     either. This loss is why failover managers fence (Patroni's
//     watchdog, STONITH).
//   - with synchronous replication that promises every acknowledged
//     commit to the promoted standby (it is the one candidate needed,
//     synchronous_commit remote_write, on or remote_apply: syncrep.go's
//     guarantees), the partitioned old primary acknowledges no commit
//     its standby lacks: a commit after the partition is flushed and in
//     the old primary's clog but waits in SyncRepWaitForLSN for a reply
//     that never comes; when the canceller, the client's timeout or the
//     fence ends the wait, the client has PostgreSQL's WARNING ("the
//     transaction has already committed locally, but might not have
//     been replicated") or a lost connection: an unknown outcome, not a
//     loss. The old primary may still acknowledge, after the partition
//     began, commits whose flush its WAL sender heard of before it (a
//     reply in flight): those are on the standby. An acknowledged commit
//     the new primary lacks fails the sync-rep checker (syncRepLost);
//     its online half skips acknowledgements while the candidate is
//     being promoted (its receiver's positions are gone).
//   - the new timeline's history file names the old timeline as its
//     parent with the switch point the promotion chose.
//
// Not modelled: the old primary rejoining (pg_rewind); the stale
// clients being cut off from the new primary too (they reach it once the
// old one is fenced, as a reconfigured pool does); the archive, which
// stays on the old primary's disk (pitr_failover.go), is not cut off:
// the old primary's archiver may archive timeline 1's WAL of its window.

// CheckFailover judges a failover (failover.go).
const CheckFailover = "failover"

// failoverStream is the stream of the failover's own draws, so that no
// other draw of a seed moves.
const failoverStream = 0x6661696c6f766572 // "failover"

// failoverReadyMax bounds the wait for standby 1 to be consistent, and
// failoverPromoteMax the wait for its promotion to end.
const (
	failoverReadyMax   = 300 * time.Millisecond
	failoverPromoteMax = 5 * time.Second
)

// failoverPlan is the failover a run draws (resolveFailover).
type failoverPlan struct {
	on bool
	// at is when the primary loses power, crash how (its unsynced writes
	// dropped, a random subset of them, or torn); endCrash is how the new
	// primary's machine loses power when the workload ends.
	at              time.Duration
	crash, endCrash world.CrashMode
	// planned: the fault plan has a promote action, which picks the
	// moment instead of at; node is the standby its node= names ("":
	// standby 1, n2).
	planned bool
	node    string
	// standbyPowerLoss: standby1's machine loses power with the
	// primary's, by standbyCrash, and boots before its promotion
	// (syncrep.go draws it for synchronous runs).
	standbyPowerLoss bool
	standbyCrash     world.CrashMode
	// afterReady delays the power-off past the moment standby1 is
	// consistent, so that a synchronous primary acknowledges commits
	// with its standby before it fails (syncrep.go draws it).
	afterReady time.Duration
	// kind is FailoverPowerOff or FailoverPartition; a partition
	// failover's last stale clients stay with the old primary until it
	// is fenced, window after the redirection (failover_partition.go).
	kind   string
	stale  int
	window time.Duration
}

// FailoverResult is what a failover did.
type FailoverResult struct {
	Kind string // FailoverPowerOff or FailoverPartition
	// At is when the failover began: the old primary lost power, or
	// (partition) was cut off from its standbys and the redirected
	// clients; FencedAt when a partitioned old primary was powered off.
	At         time.Duration
	FencedAt   time.Duration `json:",omitempty"`
	PromotedAt time.Duration `json:",omitempty"` // when the promotion ended (0: it did not)
	Node       string        // the promoted standby
	OldTLI     uint32
	NewTLI     uint32 `json:",omitempty"`
	Switch     uint64 `json:",omitempty"` // the switch point in the history file
	// Lost counts the transactions the old primary acknowledged that the
	// promoted standby lacks (the async loss, a suffix), Kept those it
	// holds.
	Lost, Kept int
	// OldAckedLate counts the commits a partitioned old primary
	// acknowledged after the partition began, OldAckedPromoted those
	// after the new primary's promotion ended (both primaries accepting
	// writes): with asynchronous replication they are lost, by design.
	OldAckedLate     int `json:",omitempty"`
	OldAckedPromoted int `json:",omitempty"`
	// Followed counts the other standbys that followed the new timeline
	// and matched the new primary, LeftOut those that could not follow
	// (their replay was past the switch point; timeline_follow.go).
	Followed, LeftOut int `json:",omitempty"`
	// Unservable counts the other standbys that needed WAL from before
	// the new primary's own base backup (timeline_follow.go).
	Unservable int `json:",omitempty"`
}

func (c Config) validateFailover() error {
	if !c.Failover {
		if planPromotes(c.Faults) {
			return errors.New("a promote action needs --failover (and --standbys)")
		}
		return nil
	}
	if err := validatePromoteNode(c.Faults, c.Standbys); err != nil {
		return err
	}
	switch {
	case c.Standbys < 1:
		return errors.New("failover needs a standby to promote (--standbys 1 or more)")
	case c.Workload != WorkloadInsert && c.Workload != WorkloadMixed && c.Workload != WorkloadBank:
		return fmt.Errorf("failover needs the insert, bank or mixed workload: the %s workload's checker assumes no commit another client saw is lost, which a failover does not promise", c.Workload)
	case c.AsyncCommit:
		return errors.New("failover and synchronous_commit=off are not judged together yet")
	}
	return nil
}

// validateFailoverKind checks --failover-kind (it needs --failover).
func (c Config) validateFailoverKind() error {
	switch {
	case c.FailoverKind == "":
		return nil
	case !slices.Contains(FailoverKinds, c.FailoverKind):
		return fmt.Errorf("failover kind: want power-off or partition, got %q", c.FailoverKind)
	case !c.Failover:
		return errors.New("a failover kind needs --failover (and --standbys)")
	}
	return nil
}

// planPromotes reports whether a fault plan's text has a promote action.
func planPromotes(text string) bool {
	if text == "" {
		return false
	}
	p, err := fault.Parse(text)
	if err != nil {
		return false // Validate reports it
	}
	for _, f := range p.Faults {
		if f.Action.Kind == fault.ActPromote {
			return true
		}
	}
	return false
}

// workloadFailoverMixed is the mixed workload of a failover run: inserts
// and bank transfers. The bank checker needs no acknowledged commit to
// survive (every snapshot read, on the old primary or the new one, must
// hold the accounts' total, and a lost transfer is lost whole), so it
// judges the whole lifetime across an asynchronous failover too. The
// register and list-append checkers stay out: a commit another client
// saw may be lost by a failover, even a synchronous one (a sync-rep wait
// the canceller ended, or a commit a crash-restart of the primary
// recovered before its standby had it, is visible on the old primary
// and not promised on the standby), and a history with a read of a
// write that then vanishes is neither linearizable nor a valid list
// history, though PostgreSQL allowed it.
const workloadFailoverMixed = "insert+bank"

// failoverSeedsPer: of the seeds whose standbys the swarm drew, one in
// failoverSeedsPer also fails over, so that the plain campaign reaches
// promotion and the failover checker without being aimed at them.
const failoverSeedsPer = 2

// failoverDrawStream keys the swarm's failover draw ("failswrm").
const failoverDrawStream = 0x6661696c7377726d

// failoverDrawn reports whether the swarm gives the run a failover: only
// on a seed whose standbys it drew itself (a count given with --standbys
// keeps its runs as they were), and only where nothing given pins what a
// failover run must leave out (resolveFailover narrows the run to
// synchronous inserts and bank transfers, since the other workloads'
// checkers assume an acknowledged commit survives): the mixed or insert workload, no
// asynchronous commit and no pinned workload shape. A plan given does not
// matter: a repro file carries the plan its run drew, and replaying it
// must fail over again.
func failoverDrawn(c Config, r resolved) bool {
	switch {
	case !c.Swarm || c.Standbys != 0 || c.StandbysSet || r.standbys < 1:
		return false
	case c.AsyncCommit || c.AsyncShare != 0 || c.AsyncShareSet:
		return false
	case c.Workload != WorkloadMixed && c.Workload != WorkloadInsert:
		return false
	case c.FollowReads != "" || c.RangeStatements != "" || c.BulkReads != "" || c.ScriptClient != "":
		return false
	}
	return world.NewRand(c.Seed^failoverDrawStream).Intn(failoverSeedsPer) == 0
}

// resolveFailover draws the failover from its own stream: the moment the
// primary loses power, 20 to 120 ms into the run (the workload's
// stretch, once a standby has had time to be made), and the two crash
// modes. The clients run inserts, and of the mixed workload bank
// transfers too (workloadFailoverMixed), with no asynchronous commits,
// bulk reads, range statements, follow reads or script client: the
// other workloads' checkers assume that an acknowledged commit
// survives, which an asynchronous failover does not promise.
func resolveFailover(c Config, r *resolved) {
	if !c.Failover && !failoverDrawn(c, *r) {
		return
	}
	rng := world.NewRand(c.Seed ^ failoverStream)
	modes := []world.CrashMode{world.CrashDropAll, world.CrashRandomSubset, world.CrashTorn}
	p := failoverPlan{on: true, at: time.Duration(20+rng.Intn(100)) * time.Millisecond}
	p.crash, p.endCrash = modes[rng.Intn(3)], modes[rng.Intn(3)]
	if !r.engine.FullPageWrites {
		// A torn page without full-page images is damage the engine may
		// only report (settings.go): not what this checker judges.
		p.crash, p.endCrash = min(p.crash, world.CrashRandomSubset), min(p.endCrash, world.CrashRandomSubset)
	}
	// The kind and a partition's draws come after the older draws, so
	// that a power-off failover's moment and crash modes stay put.
	p.kind = FailoverKinds[rng.Intn(len(FailoverKinds))]
	p.stale, p.window = drawPartition(rng, c.Clients)
	if c.FailoverKind != "" {
		p.kind = c.FailoverKind
	}
	p.planned = planPromotes(c.Faults)
	p.node, _ = planPromoteNode(c.Faults) // Validate has checked it
	r.failover = p
	switch c.Workload {
	case WorkloadMixed:
		r.Workload = workloadFailoverMixed
	case WorkloadBank:
		r.Workload = WorkloadBank
	default:
		r.Workload = WorkloadInsert
	}
	r.asyncShare, r.bulk, r.longReads, r.script, r.follow = 0, false, false, false, false
	r.ranges = rangeStmts{}
}

func (r resolved) stringFailover() string {
	if !r.failover.on {
		return ""
	}
	s := fmt.Sprintf(" failover=%v/%s/%s failover_kind=%s", r.failover.at, r.failover.crash, r.failover.endCrash, r.failover.kind)
	if r.failover.kind == FailoverPartition {
		s += fmt.Sprintf(" failover_stale_clients=%d failover_stale_window=%v", r.failover.stale, r.failover.window)
	}
	return s + r.stringPromoteNode()
}

// failover is a run's failover in progress.
type failover struct {
	p         failoverPlan
	res       *Result
	primary   *world.Node
	pm        *pgproc.Postmaster
	pmProc    env.Proc // the old primary's postmaster
	clients   int
	sb        *standby
	standbys  *standbySet
	proc      env.Proc // the failover's process
	triggered bool     // the plan's promote action fired
	began     bool     // the primary lost power, or was partitioned
	fenced    bool     // the old primary lost power
	fencedAt  time.Duration
	// newPrimaryEnds follows the record ends of the promoted standby's
	// final recovery, for its followers' catch-up (standby_target.go).
	newPrimaryEnds *recordEnds
	// dials are each client's connections, for servedByNew
	// (failover_partition.go).
	dials    [][]dialRec
	byNew    map[*Op]bool // servedByNew by op, for splitRead
	done     bool         // the promotion ended
	oldTLI   uint32
	newTLI   uint32
	switchAt wal.LSN
	rng      *world.Rand
	runner   *world.PlanRunner // the plan's runner (attach), nil before
	// unservable are the standbys re-pointed that need WAL the new
	// primary never had (timeline_follow.go).
	unservable []*standby
	// recovered: the new primary's final recovery succeeded and was
	// judged; archived says what its archiver did after it.
	recovered bool
	archived  string
}

// startFailover spawns the failover's process when the run draws one; nil
// otherwise (every method takes a nil failover for none).
func startFailover(res *Result, rc resolved, sim *world.Sim, primary *world.Node, pmProc env.Proc, pm *pgproc.Postmaster, s *standbySet, w *workload) *failover {
	if !rc.failover.on || s == nil || len(s.nodes) == 0 {
		return nil
	}
	f := &failover{p: rc.failover, res: res, primary: primary, pm: pm, pmProc: pmProc, clients: rc.Clients, sb: s.promoteTarget(rc.failover.node), standbys: s, rng: world.NewRand(rc.Seed ^ failoverStream).Fork(1)}
	f.proc = sim.SpawnAs(env.RoleOther, "failover", func() { f.run(sim, w) })
	return f
}

// attach has the plan runner carry out the plan's promote actions
// through the failover, and spare its process from the plan's kills.
func (f *failover) attach(r *world.PlanRunner) {
	if f != nil {
		r.OnPromote, r.Spare = f.trigger, f.proc
		f.runner = r
	}
}

// crashTimes are the moments a server process of the run was killed
// wholesale: the old primary's crash-restarts, the failover's power-off,
// and the new primary's crash-restarts (the plan's kills reach its
// processes too), for the lock-wait checker.
func (f *failover) crashTimes() []time.Duration {
	out := slices.Clone(f.pm.CrashTimes())
	if f.fenced {
		out = append(out, f.fencedAt)
	}
	if f.sb.pm != nil {
		out = append(out, f.sb.pm.CrashTimes()...)
	}
	return out
}

// trigger is the plan runner's OnPromote: the failover's process fails
// over at its next look (at most a millisecond later).
func (f *failover) trigger() {
	if f != nil {
		f.triggered = true
	}
}

// promoted reports whether the failover began: the primary lost power,
// or was partitioned.
func (f *failover) promoted() bool { return f != nil && f.began }

// oldPrimaryUp reports whether the old primary still runs: no failover,
// or a partitioned one not yet fenced (the sync-rep canceller keeps
// cancelling its waits).
func (f *failover) oldPrimaryUp() bool { return f == nil || !f.fenced }

// run is the failover's process: at the drawn moment, once standby 1 is
// consistent (or not at all), power off the primary, promote the standby
// and redirect the clients. It counts as a client while it works, so
// that the workload does not end between the power-off and the
// redirection.
func (f *failover) run(sim *world.Sim, w *workload) {
	e := f.primary.Env
	if f.p.planned {
		// The plan's promote action picks the moment: look every
		// millisecond until it fires or the workload ends.
		for !f.triggered {
			if w.running == 0 {
				return
			}
			e.Clock.Sleep(time.Millisecond)
		}
	} else if now := e.Clock.Now(); f.p.at > now {
		e.Clock.Sleep(f.p.at - now)
	}
	var sd *db.DB
	delayed := f.p.afterReady == 0
	for waited := time.Duration(0); ; waited += time.Millisecond {
		if w.running == 0 {
			return // the workload ended first: no failover
		}
		if f.sb.pm != nil {
			if d := f.sb.pm.Shared(); d != nil && d.StandbyMode() && d.Consistent() {
				if delayed {
					sd = d
					break
				}
				// syncrep.go's delay past consistency; then look
				// again, since the standby may have crash-restarted
				// meanwhile (its old shared memory would never see
				// the promote request).
				e.Clock.Sleep(f.p.afterReady)
				delayed, waited = true, 0
				continue
			}
		}
		if waited >= failoverReadyMax {
			sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "failover: standby " + f.sb.node.Name + " not consistent in time; no failover"})
			return
		}
		e.Clock.Sleep(time.Millisecond)
	}
	w.running++
	// The old primary's timeline: its shared memory's, or, while it
	// crash-restarts and has none, the one the standby replays (the
	// primary's, streamed).
	f.oldTLI = sd.TimeLineID()
	if d := f.pm.Shared(); d != nil && d.TimeLineID() != 0 {
		f.oldTLI = d.TimeLineID()
	}
	w.failoverAt = e.Clock.Now()
	f.began = true
	f.res.Failover = &FailoverResult{Kind: f.p.kind, At: w.failoverAt, Node: f.sb.node.Name, OldTLI: f.oldTLI}
	if f.isPartition() {
		// The old primary stays up, cut off (failover_partition.go).
		f.cut(sim)
	} else {
		// The primary's machine loses power: its server's processes
		// die, its sockets with them, and its disk keeps what it had
		// synced.
		f.powerOff(sim, "power-loss")
	}
	f.sb.promoted = true
	if f.p.standbyPowerLoss {
		if sd = f.crashStandby(sim); sd == nil {
			f.fail("standby %s did not become consistent again within %v of its power loss", f.sb.node.Name, failoverReadyMax)
			f.powerOff(sim, "fence: power-loss")
			w.running--
			if w.running == 0 {
				w.quietTail()
				sim.RequestStop("workload done")
			}
			return
		}
	}
	if err := sd.RequestPromote(); err != nil {
		f.fail("pg_promote on %s: %v", f.sb.node.Name, err)
	} else {
		for waited := time.Duration(0); waited < failoverPromoteMax; waited += time.Millisecond {
			if d := f.sb.pm.Shared(); d != nil && d != sd && d.StandbyMode() && d.Consistent() {
				// A crash-restart of the standby during its promotion
				// (a plan's kill), before the startup process removed
				// standby.signal, brings it back in standby mode with
				// the request forgotten, as PostgreSQL's does (the
				// promote file was removed when it was seen); a
				// failover manager then asks again.
				sd = d
				if err := sd.RequestPromote(); err != nil {
					f.fail("pg_promote on %s, again after its restart: %v", f.sb.node.Name, err)
					break
				}
			}
			if d := f.sb.pm.DB(); d != nil {
				f.done, f.newTLI = true, d.TimeLineID()
				// The promotion's recovery is the one that ended
				// "promoted": a standby's never ends otherwise. A
				// crash-restart of the new primary, which the plan's
				// kills may cause before this look, adds another, and
				// one after the end-of-recovery checkpoint but before
				// the startup process finished (renaming the old
				// timeline's segment .partial, seed 3517) leaves no
				// recorded promotion at all: the switch point is then
				// not known here (InvalidLSN) and not judged.
				for _, r := range f.sb.pm.Recoveries() {
					if r.EndReason == "promoted" {
						f.switchAt = r.End
						break
					}
				}
				break
			}
			e.Clock.Sleep(time.Millisecond)
		}
		switch err := f.sb.pm.Fatal(); {
		case f.done:
		case err != nil && f.runner != nil && f.runner.NApplied > 0:
			// The plan killed a process of the standby's server while
			// it promoted, and its postmaster gave up ("aborting
			// startup due to startup process failure"): PostgreSQL's
			// answer too. The operator starts it again, which final
			// does: its recovery must succeed and keep what it must.
			sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: fmt.Sprintf("failover: standby %s's server gave up under the plan's faults: %v", f.sb.node.Name, err)})
		default:
			f.fail("standby %s did not end its promotion within %v (its postmaster: %v)", f.sb.node.Name, failoverPromoteMax, err)
		}
	}
	if f.done {
		f.res.Failover.PromotedAt, f.res.Failover.NewTLI, f.res.Failover.Switch = e.Clock.Now(), f.newTLI, uint64(f.switchAt)
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: fmt.Sprintf("failover: %s promoted on timeline %d at %s; clients redirected", f.sb.node.Name, f.newTLI, f.switchAt)})
		w.redirect = f.sb.l
		if f.isPartition() {
			f.moveAddress()
		}
		f.repoint(sim) // timeline_follow.go
	}
	if f.isPartition() {
		// The stale clients write to the old primary for the window,
		// then the failover manager fences it: a power-off, and it
		// never rejoins.
		e.Clock.Sleep(f.p.window)
		f.powerOff(sim, "fence: power-loss")
	}
	w.running--
	if w.running == 0 {
		w.quietTail()
		sim.RequestStop("workload done")
	}
}

func (f *failover) fail(format string, args ...any) {
	f.res.found(Finding{Checker: CheckFailover, Node: f.sb.node.Name, Detail: fmt.Sprintf(format, args...)})
	f.res.fail(CheckFailover, format, args...)
}

// final ends a run that failed over: every process is killed, the new
// primary's machine loses power, and its data directory is recovered
// (crash recovery; standby.signal, if a promotion that did not end left
// it, ignored as the standby checker ignores it) and judged by the
// history checkers and the failover checker, without faults.
func (f *failover) final(res *Result, sim *world.Sim, w *workload, runner *world.PlanRunner) {
	// The plan aims at the old primary: its faults end with the workload.
	runner.Uninstall()
	sim.KillAll()
	if !f.fenced {
		// A partition failover the run's stop interrupted before its
		// fence: the old primary loses power with everything else.
		f.primary.Net.CrashNode(f.primary.Name)
		f.primary.Disk.Crash(f.rng.Fork(1), f.p.crash)
		f.fenced, f.fencedAt = true, sim.Now()
		f.res.Failover.FencedAt = f.fencedAt
		sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: f.primary.Name, Name: "failover: fence: power-loss " + f.p.crash.String()})
	}
	f.primary.Net.HealAll()
	f.sb.node.Watch = nil
	f.sb.node.Disk.Crash(f.rng.Fork(2), f.p.endCrash)
	sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: f.sb.node.Name, Name: "power-loss " + f.p.endCrash.String()})
	scfg := f.standbys.standbyConfig()
	if scfg.ArchiveMode && f.done {
		// The new primary's archive writes that it had not fsynced
		// are lost with it (pitr_failover.go: the shared archive).
		f.primary.Disk.Crash(f.rng.Fork(3), f.p.endCrash)
	}
	w.crashAt = sim.Now()
	w.crashTimes = append(slices.Clone(w.crashTimes), f.fencedAt)
	cfg := scfg.DB
	cfg.ArchiveRecovery = false
	var openErr error
	var newPrimary *db.DB
	sim.SpawnAs(env.RoleStartup, "startup "+f.sb.node.Name, func() {
		d, err := db.NewShared(f.sb.node.Env, cfg)
		// The followers' catch-up target (standby_target.go).
		f.newPrimaryEnds = watchRecordEnds(f.sb.node)
		var stats db.RecoveryStats
		if err == nil {
			stats, err = d.StartupXLOG(db.RegisterAccessMethods, false)
		}
		if err != nil {
			openErr = err
			return
		}
		res.RecoveryDB = stats
		if !checkTables(d, res) {
			return
		}
		f.judgeTimelines(res, d)
		w.checkDB(d, res)
		w.checkHistories(d, res) // the bank's, across the failover (workloadFailoverMixed)
		w.checkEngineErrors(res)
		if scfg.ArchiveMode && f.done {
			// The restarted server's archiver catches up: one pass
			// over what the power loss left .ready (pgarch.c), so that
			// a PITR across the failover finds the new timeline's
			// history and WAL in the archive.
			acfg := scfg.Archiver
			acfg.Bugs = cfg.Bugs
			n, err := pgproc.ArchiveReady(f.sb.node.Env, acfg)
			f.archived = fmt.Sprintf("%d files archived after the final recovery", n)
			if err != nil {
				f.archived += fmt.Sprintf(" (stopped: %v)", err)
			}
		}
		newPrimary = d
	})
	st := sim.Run()
	switch {
	case openErr != nil:
		res.found(stageFinding(StageRecovery, openErr))
		res.fail(CheckRecovery, "recovery of the promoted standby %s failed: %v", f.sb.node.Name, openErr)
	case st.Kind == world.StopPanic:
		res.found(Finding{Checker: CheckRecovery, Stage: StageRecovery, Detail: st.Detail})
		res.fail(CheckRecovery, "recovery of the promoted standby %s failed: %s", f.sb.node.Name, st.Detail)
	case st.Kind != world.StopAllDone:
		res.found(Finding{Checker: CheckLiveness, Stage: StageRecoveryStopped, Stop: st.Kind.String(), Proc: st.Proc, Detail: st.Detail})
		res.fail(CheckLiveness, "recovery of the promoted standby stopped: %s", st)
	default:
		sim.KillAll()
		f.recovered = newPrimary != nil
		f.convergeFollowers(res, sim, newPrimary) // timeline_follow.go
	}
	if f.newPrimaryEnds != nil {
		f.sb.node.WatchEvents = f.newPrimaryEnds.prev
	}
	sim.KillAll()
}

// judgeTimelines is the split-brain half of the failover checker, on the
// recovered new primary d: the old primary accepted writes on its
// timeline until it lost power (a partitioned one, until its fence:
// concurrently with the new one), the new one on the timeline it was
// promoted to; each acknowledged commit is the node's whose connection
// carried it (servedByNew). If both acknowledged commits, the timelines
// must differ, and the new timeline's history file must name the old
// one as its parent with the switch point the promotion chose
// (readTimeLineHistory).
func (f *failover) judgeTimelines(res *Result, d *db.DB) {
	if !f.done {
		return
	}
	oldAcked, newAcked, late, both := 0, 0, 0, 0
	byNew := f.servedByNew(res.History.Ops)
	for i, op := range res.History.Ops {
		if op.Outcome != OK {
			continue
		}
		switch {
		case byNew[i]:
			newAcked++
		default:
			oldAcked++
			if op.Return > res.Failover.At {
				late++
			}
			if op.Return >= res.Failover.PromotedAt {
				both++
			}
		}
	}
	res.Failover.OldAckedLate, res.Failover.OldAckedPromoted = late, both
	if oldAcked > 0 && newAcked > 0 && f.oldTLI == f.newTLI {
		detail := ""
		if both > 0 {
			detail = fmt.Sprintf(", %d of %s's while both were primaries", both, f.primary.Name)
		}
		f.fail("split brain: %s and %s both accepted writes on timeline %d (%d and %d acknowledged commits%s)", f.primary.Name, f.sb.node.Name, f.newTLI, oldAcked, newAcked, detail)
		return
	}
	if d.TimeLineID() != f.newTLI {
		f.fail("the promoted standby %s was promoted to timeline %d but recovers on timeline %d", f.sb.node.Name, f.newTLI, d.TimeLineID())
		return
	}
	b, err := readFile(f.sb.node.Env, db.HistoryPath(f.newTLI))
	if err != nil {
		f.fail("timeline %d has no history file: %v", f.newTLI, err)
		return
	}
	tlis, switches, err := db.ParseHistory(b)
	switch {
	case err != nil:
		f.fail("timeline %d's history file: %v", f.newTLI, err)
	case len(tlis) == 0:
		f.fail("timeline %d's history file names no parent timeline", f.newTLI)
	case tlis[len(tlis)-1] != f.oldTLI || tlis[len(tlis)-1] >= f.newTLI:
		f.fail("timeline %d's history file names timeline %d as its parent, the old primary was on %d", f.newTLI, tlis[len(tlis)-1], f.oldTLI)
	case f.switchAt != wal.InvalidLSN && switches[len(switches)-1] != f.switchAt:
		f.fail("timeline %d's history file has its switch point at %s, the promotion ended redo at %s", f.newTLI, switches[len(switches)-1], f.switchAt)
	}
}

// failoverLoss is the async loss bound of the failover checker: among
// the transactions the old primary acknowledged, those the new primary
// lacks entirely must be, for each client, a suffix of its transactions
// (a hole fails); they are counted and become unknown outcomes, so that
// the durability checker, which judges the rest, does not count them as
// lost. One whose writes are partly there stays as it is: atomicity
// judges it.
func (w *workload) failoverLoss(present map[*Op]int, res *Result) {
	if w.failoverAt == 0 || res.Failover == nil {
		return
	}
	lost := map[int]*Op{} // each client's first lost transaction
	byNew := w.fo.servedByNew(w.hist.Ops)
	for i, op := range w.hist.Ops {
		// The old primary's acknowledgements: before its power-off,
		// or, partitioned, until its fence (an acknowledgement at the
		// very instant of a power-off is the old primary's too).
		if op.Outcome != OK || byNew[i] {
			continue
		}
		n := present[op]
		switch {
		case n == 0 && w.syncRepLost(op, res):
			// syncrep.go: the setting promised this commit to the
			// promoted standby.
		case n == 0:
			if lost[op.Client] == nil {
				lost[op.Client] = op
			}
			res.Failover.Lost++
			op.Outcome, op.Err = Unknown, "acknowledged by the old primary, lost by asynchronous replication at the failover"
		case lost[op.Client] != nil:
			first := lost[op.Client]
			res.found(Finding{Checker: CheckFailover, Client: op.Client, Txn: op.Index, Call: op.Call, Return: op.Return, Outcome: OK, Writes: len(op.Keys), Present: n,
				Detail: fmt.Sprintf("client %d's transaction %d was lost, its later transaction %d kept", op.Client, first.Index, op.Index)})
			res.fail(CheckFailover, "async loss bound: the promoted standby lacks %s but holds the same client's later %s: a hole in the old primary's commit order", first, op)
			res.Failover.Kept++
		default:
			res.Failover.Kept++
		}
	}
}

// readFile reads a whole small file from e's disk.
func readFile(e *env.Env, path string) ([]byte, error) {
	f, err := e.Disk.Open(path, env.OpenExisting)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 1<<20 {
		return nil, fmt.Errorf("size %d: %v", size, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) != size {
		return nil, err
	}
	return b, nil
}
