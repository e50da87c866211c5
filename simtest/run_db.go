package simtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// The run on the storage engine (engine/db): the workload, the fault
// plan, the online I/O checkers, recovery and the judges.

// table is the workload's table.
const table = "t"

// crashStepsPerTxnDB estimates the yield points a transaction costs on the
// storage engine, so that a seeded crash step falls anywhere in the
// workload (measured: a 48-transaction run takes 7.5k steps, a third of
// them recovery and checks, so about 100 per transaction).
const crashStepsPerTxnDB = 100

// CrashPoints lists the injection points seeded plans crash at, and that
// systematic campaigns enumerate: every point of the engine (proc.Points).
func CrashPoints() []string { return pgproc.PointNames() }

// checkPlanPoints rejects a plan that names an injection point the engine
// does not have, with the list of those it has: its fault could never fire.
func checkPlanPoints(p fault.Plan) error {
	known := append(pgproc.PointNames(), env.PointLWLockAcquire)
	for _, name := range p.PointNames() {
		if !slices.Contains(known, name) {
			return fmt.Errorf("unknown injection point %q (the engine's points: %s)", name, strings.Join(known, ", "))
		}
	}
	return nil
}

// pausePoints are where a pause widens a race window: a page marked clean
// but not yet written, a page change's record inserted with its buffers
// still locked, a commit between its WAL and its clog update, a checkpoint
// between taking REDO and flushing, a WAL write not yet synced.
var pausePoints = []string{
	"backend-after-snapshot", "bufmgr-before-write", "page-after-xloginsert", "backend-after-commit-insert", "backend-after-xlogflush",
	"checkpointer-after-redo", "checkpointer-after-buffers", "walwriter-before-fsync",
}

// racePoints are the race windows where a short pause of a backend lets
// others run a scheduling race through (fault.Gen.RacePoints): a
// transaction holding its fresh xid with nothing in the WAL, a commit
// between its clog update and leaving the proc array, an eviction between
// writing its victim and looking at it again.
var racePoints = []string{"xact-after-xid-assign", "backend-after-clog-update", "bufmgr-after-victim-write"}

func resolveDB(c Config, rng *world.Rand, r *resolved) {
	r.engine = db.DefaultConfig()
	r.engine.Bugs = c.Bugs
	r.engine.SynchronousCommit = !c.AsyncCommit
	r.engine.MaxConnections = c.Clients + 4
	// PostgreSQL's defaults (checkpoint_timeout 5min, bgwriter_delay
	// 200ms) would never fire within a run of a few hundred milliseconds
	// of virtual time; the simulator scales them down. Few shared buffers
	// and small relation and WAL segments make evictions and segment
	// boundaries part of every run.
	r.engine.CheckpointTimeout = 20 * time.Millisecond
	r.engine.BgwriterDelay = 5 * time.Millisecond
	r.engine.BgwriterLRUMax = 4
	r.engine.WalWriterDelay = 2 * time.Millisecond
	r.engine.SharedBuffers = 32
	r.engine.SegBlocks = 16
	r.engine.WAL.SegmentSize = 256 << 10
	if c.Swarm {
		r.engine.CheckpointTimeout = time.Duration(2+rng.Intn(60)) * time.Millisecond
		r.engine.BgwriterDelay = time.Duration(1+rng.Intn(20)) * time.Millisecond
		r.engine.BgwriterLRUMax = 1 + rng.Intn(8)
		r.engine.SharedBuffers = []int{16, 16, 32}[rng.Intn(3)]
		r.engine.WAL.SegmentSize = int64(64<<10) << rng.Intn(4)
	}
	if c.PGTimings {
		d := db.DefaultConfig()
		r.engine.CheckpointTimeout, r.engine.BgwriterDelay, r.engine.BgwriterLRUMax, r.engine.WalWriterDelay = d.CheckpointTimeout, d.BgwriterDelay, d.BgwriterLRUMax, d.WalWriterDelay
	}
	// max_wal_size: a few segments, so the WAL writer requests checkpoints.
	// min_wal_size: PostgreSQL's least (two segments), so checkpoints
	// recycle old segments into future ones up to XLOGfileslop's horizon
	// and delete the rest (wal/recycle.go).
	r.engine.MaxWALSize = 4 * r.engine.WAL.SegmentSize
	r.engine.MinWALSize = 2 * r.engine.WAL.SegmentSize
	r.server = pgproc.DefaultConfig()
	r.server.AutovacuumConf.Naptime = 20 * time.Millisecond
	if c.Swarm {
		r.server.AutovacuumConf.Naptime = time.Duration(5+rng.Intn(50)) * time.Millisecond
	}
	if c.PGTimings {
		r.server.AutovacuumConf.Naptime = pgproc.DefaultAutovacuumConfig().Naptime
	}
	// archive_mode: on in half the swarm's runs and in fixed-timing runs
	// (so systematic campaigns reach the archiver's points).
	archive := !c.Swarm || rng.Intn(2) == 0
	r.engine.WAL.ArchiveMode = archive
	r.server.ArchiveMode = archive
	r.server.Archiver = pgproc.ArchiverConfig{WAL: r.engine.WAL, ArchiveDir: archiveDir, Delay: 5 * time.Millisecond}
	if c.Swarm {
		r.server.Archiver.Delay = time.Duration(1+rng.Intn(20)) * time.Millisecond
	}
	if c.PGTimings {
		r.server.Archiver.Delay = pgproc.DefaultArchiverConfig().Delay
	}
	r.server.DB = r.engine
}

// runDB is Run on the storage engine: initdb and CREATE TABLE, the
// postmaster and its processes, clients working through backends under the
// fault plan (with crash-restarts when a server process dies), power loss,
// recovery (which the plan may crash again), the engine self-check and the
// checkers.
func runDB(res *Result, rc resolved, node *world.Node, rng *world.Rand, trace *world.Trace) {
	c := rc.Config
	sim := node.Sim
	sim.ReuseGoroutines(true)
	defer sim.ReuseGoroutines(false)

	// initdb and CREATE TABLE run to completion before anything can crash:
	// the run starts from their image (initdb_image.go).
	img := imageFor(rc, trace)
	if img.err != nil {
		checker := CheckRecovery
		if img.checker != "" {
			checker = img.checker // an online checker judged initdb
			if img.finding != nil {
				f := *img.finding
				f.Initdb = true
				res.found(f)
			}
		} else {
			res.found(stageFinding(StageBoot, img.err))
		}
		res.fail(checker, "%v", img.err)
		return
	}
	img.startFrom(node, trace)

	// Boot: the postmaster runs the startup process (nothing to recover
	// after initdb), then the auxiliary processes, and accepts the
	// clients' connections; a PANIC or a killed server process makes it
	// crash-restart while the clients carry on.
	wl := &workload{rc: rc, node: node, hist: res.History, rng: rng.Fork(5)}
	var runner *world.PlanRunner
	listener := pgproc.NewListener(node.Env)
	pm, err := pgproc.NewPostmaster(node.Env, rc.server, listener)
	if err != nil {
		res.found(stageFinding(StageBoot, err))
		res.fail(CheckRecovery, "postmaster: %v", err)
		return
	}
	wl.pm = pm
	node.Postmaster = true
	sim.SetPanicKillsProcess(true)
	installed := false
	pm.OnReady(func(*db.DB) {
		// The plan starts once the boot's recovery is done, so that its
		// hit numbers and nth counters mean the workload's events (the
		// boot after initdb has nothing to recover).
		if !installed {
			runner.Install()
			installed = true
		}
	})
	// The online checkers see the postmaster's shared memory until the
	// workload ends (its startup process's recovery included), then the
	// final recovery's (finalDB), from its creation.
	var finalDB *db.DB
	finalRecovery := false
	checkers := installOnlineCheckers(res, node, rc.engine, func() *db.DB {
		if finalRecovery {
			return finalDB
		}
		return pm.Shared()
	})
	defer checkers.uninstall(node)
	checkers.lockWait.crashes = pm.CrashTimes
	res.Online.Add(img.online) // initdb's events, judged when the image was built
	// PCT's change points fall in the workload (scheduler.go).
	sim.SetPCTHorizon(sim.Steps(), crashSteps(rc))
	pmProc := sim.SpawnAs(env.RolePostmaster, "postmaster", pm.Main)
	standbys := newStandbys(rc, node)
	if standbys != nil {
		standbys.start(res, sim, listener, pm)
	}
	fo := startFailover(res, rc, sim, node, pmProc, pm, standbys, wl)
	pitr := startPITR(rc, sim, node, listener)
	if fo != nil {
		checkers.lockWait.crashes = fo.crashTimes // the failover's power-off kills lock waiters too
	}
	wl.fo = fo
	startSyncRep(res, rc, sim, node, pm, standbys, wl, fo)
	wl.startClients(listener)
	hsReads := startStandbyReads(rc, node, listener, standbys, wl)
	plan := dbPlan(c, rc, rng.Fork(4), sim.Steps())
	res.Plan, res.FaultIntensity = plan.String(), rc.faultIntensity
	sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "fault plan:\n" + res.Plan})
	runner = world.NewPlanRunner(node, plan, rng.Fork(7))
	fo.attach(runner)
	checkers.lockWait.paused = runner.PausedFor
	st := sim.Run()
	sim.SetPanicKillsProcess(false)
	node.Postmaster = false
	finalRecovery = true
	res.CrashRestarts = pm.Crashes()
	if err := pm.Fatal(); err != nil {
		// The postmaster gave up: a startup process failed. Under an
		// injected I/O fault that is PostgreSQL's answer too ("aborting
		// startup due to startup process failure"), and the operator
		// starts the server again: the run goes on to the final
		// recovery, which must succeed. With no fault, recovery itself
		// is broken.
		if runner.NApplied == 0 {
			res.found(stageFinding(StageStartup, err))
			res.fail(CheckRecovery, "%v", err)
			return
		}
		res.CrashRestarts = append(res.CrashRestarts, err.Error())
	}
	wl.crashAt, wl.crashTimes, wl.stallsTo = sim.Now(), pm.CrashTimes(), runner.StallsUntil
	wl.flushes = &checkers.walFlushes
	planStop := 0
	if st.Kind == world.StopFault {
		planStop = 1 // the crash or kill that ended the workload
	}
	checkers.liveness.judge(sim.Now(), runner.NApplied <= planStop && len(pm.CrashTimes()) == 0 && !fo.promoted(), "faults, pauses or crash-restarts in the workload")
	checkers.lockWait.judgeSleepers(sim.Now(), checkers.lockWait.crashes())
	res.lockWakeMax = checkers.lockWait.wakeMax
	wl.progress.ended(sim.Now())
	switch {
	case runner.NApplied > planStop || len(pm.CrashTimes()) > 0 || fo.promoted():
		wl.progress.judge(res, false, "faults, pauses or crash-restarts in the workload")
	case rc.syncRep.on() && (rc.syncRep.cancelAfter == 0 || rc.syncRep.cancelAfter > clientProgressMax/2):
		// syncrep.go: commits wait for as long as a synchronous
		// standby is away, as in PostgreSQL, unless the canceller
		// ends the wait well within the rule's limit.
		wl.progress.judge(res, false, "sync-rep waits the canceller does not bound")
	case node.Reached.Has("deadlock-check-ran") || checkers.lockWait.sleepMax >= progressLockSleepMax:
		wl.progress.judge(res, false, "a long lock wait (a deadlock until deadlock_timeout)")
	default:
		wl.progress.judge(res, true, "")
	}
	res.Acked = res.History.Count(OK)
	res.Unknown = res.History.Count(Unknown)

	// Crash, then recover and check. The plan stays installed while the
	// startup process recovers, so a crash, a kill or a disk fault can hit
	// recovery itself, which must then start over and still succeed (a
	// few times at most); the checks run fault-free.
	appliedAtCrash := runner.NApplied
	for attempt := 0; ; attempt++ {
		if fo.promoted() {
			fo.final(res, sim, wl, runner) // the new primary's end, not the old one's (failover.go)
			if pitr != nil {
				pitr.restoreAcrossFailover(res, sim, fo) // pitr_failover.go
			}
			break
		}
		if st.Kind == world.StopFault && runner.StopAction.Kind == fault.ActCrash {
			if runner.StopAction.Mode != "" {
				rc.crash, _ = world.ParseCrashMode(runner.StopAction.Mode)
			}
			node.Disk.SetNonAtomicRename(runner.StopAction.NonAtomicRename)
		}
		if attempt == 0 {
			powerLoss, ok := res.classifyCrash(st, runner.StopAction)
			if !ok {
				break
			}
			sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: node.Name, Name: res.CrashKind + " " + res.CrashDetail})
			checkCleanBuffers(pm, res)
			sim.KillAll()
			if powerLoss {
				node.Disk.Crash(rng.Fork(6), rc.crash)
				res.CrashMode = rc.crash.String()
				res.noteTornWithoutFPW(rc.engine, node.Disk)
			}
		} else {
			res.RecoveryCrashes = append(res.RecoveryCrashes, st.String())
			sim.HarnessEvent(env.Event{Kind: env.EvRecoveryCrash, Node: node.Name, Name: st.String()})
			sim.KillAll()
			if st.Kind == world.StopFault && runner.StopAction.Kind == fault.ActCrash {
				node.Disk.Crash(rng.Fork(6+uint64(attempt)), rc.crash)
				res.noteTornWithoutFPW(rc.engine, node.Disk)
			}
		}
		node.Disk.SetNonAtomicRename(false)
		runner.Stopped = false
		if attempt >= maxRecoveryCrashes {
			runner.Uninstall()
		}
		appliedBefore := runner.NApplied
		recovered := false
		var openErr error
		sim.SpawnAs(env.RoleStartup, "startup", func() {
			// A standalone startup (db.Open's steps), whose shared
			// memory the online checkers watch from the start.
			d, err := db.NewShared(node.Env, rc.engine)
			finalDB = d
			if standbys != nil {
				// The standby checker's catch-up target
				// (standby_target.go).
				if standbys.primaryEnds == nil {
					standbys.primaryEnds = watchRecordEnds(node)
				}
				standbys.primaryEnds.reset()
			}
			var stats db.RecoveryStats
			if err == nil {
				stats, err = d.StartupXLOG(db.RegisterAccessMethods, false)
			}
			if err != nil {
				openErr = err
				return
			}
			recovered = true
			runner.Uninstall()
			res.RecoveryDB = stats
			if !checkTables(d, res) {
				return
			}
			wl.checkDB(d, res)
			wl.checkHistories(d, res)
			wl.checkRangeStatements(res)
			wl.checkEngineErrors(res)
			checkLookups(d, res)
			if checkers.archive != nil {
				checkers.archive.afterRecovery()
			}
		})
		st = sim.Run()
		faultHit := runner.NApplied > appliedBefore
		switch {
		case !recovered && faultHit && (st.Kind == world.StopFault || st.Kind == world.StopPanic && isEnginePanic(st) || openErr != nil):
			// The plan crashed recovery, or failed it with an I/O
			// error (the startup process exits; the operator, here
			// the loop, starts the server again).
			if openErr != nil {
				st = world.Stop{Kind: world.StopPanic, Detail: "startup: " + openErr.Error()}
			}
			continue
		case openErr != nil:
			res.found(stageFinding(StageRecovery, openErr))
			res.fail(CheckRecovery, "recovery failed: %v", openErr)
		case st.Kind == world.StopPanic:
			res.found(Finding{Checker: CheckRecovery, Stage: StageRecovery, Detail: st.Detail})
			res.fail(CheckRecovery, "recovery failed: %s", st.Detail)
		case st.Kind != world.StopAllDone:
			res.found(Finding{Checker: CheckLiveness, Stage: StageRecoveryStopped, Stop: st.Kind.String(), Proc: st.Proc, Detail: st.Detail})
			res.fail(CheckLiveness, "recovery stopped: %s", st)
		}
		break
	}
	runner.Uninstall()
	if standbys != nil && finalDB != nil && finalDB.WAL != nil && st.Kind == world.StopAllDone {
		standbys.converge(res, sim, finalDB, listener)
	}
	if pitr != nil && finalDB != nil && finalDB.WAL != nil && st.Kind == world.StopAllDone {
		pitr.restore(res, sim)
	}
	// Any fault in the recovery (a crash, a pause at a checkpoint point,
	// added latency) can stretch the end-of-recovery checkpoint's wait.
	checkers.liveness.judge(sim.Now(), runner.NApplied == appliedAtCrash, "faults in the recovery")
	res.FaultsApplied, res.FaultLog, res.Destructive = runner.NApplied, runner.Described, runner.Destructive()
	res.PointHits, res.CrashedAt = runner.Hits, runner.CrashedAt
	res.PointRoles = runner.Roles
	res.LockRoles = runner.LockRoles
	res.FaultFires, res.Applied = runner.Fires, runner.Log
	res.noChecksums = !rc.engine.DataChecksums
	if standbys != nil && standbys.primaryRows != nil {
		hsReads.judge(res, standbys.primaryRows[hsTable], len(res.Destructive) > 0)
	}
	hsReads.judgeApplyReads(res, len(res.Destructive) > 0)
	res.judgeBeyondLimits()
}

// maxRecoveryCrashes bounds how often the plan may crash recovery before
// the run recovers without it.
const maxRecoveryCrashes = 4

// isEnginePanic reports whether a stop is an engine PANIC (a clean crash
// the postmaster restarts from), not a Go panic (an engine bug).
func isEnginePanic(st world.Stop) bool {
	_, ok := st.Value.(*env.PanicError)
	return ok
}

// checkTables self-checks every table the recovered catalog holds,
// including those created mid-run (client 1's second table): a table
// that redo rebuilt wrongly is as much a failure as the workload's own.
// It notes the workload table's row count and the largest index, and
// reports whether every table passed.
func checkTables(d *db.DB, res *Result) bool {
	for _, name := range d.Tables() {
		rows, err := d.CheckTable(name)
		if err != nil {
			res.found(selfFinding(SelfTable, name, 0, err))
			res.fail(CheckSelf, "%v", err)
			return false
		}
		if name == table {
			res.Rows = rows
		}
		if def, ok := d.Catalog.Lookup(name); ok {
			if n, err := d.SMgr.NBlocks(def.Index, smgr.MainForkNum); err == nil {
				res.IndexBlocksMax = max(res.IndexBlocksMax, int(n))
			}
		}
	}
	return true
}

// judgeBeyondLimits applies the recoverability limits (disk_faults.go):
// after a fault that destroys data on the medium (a torn, lost or
// misdirected write, a bit flip), the engine is not required to keep
// everything — the damaged bytes may have been the only copy — but it must
// never return wrong data. So a lost acknowledged commit, a recovery that
// stops with a clear error, a self-check that reports the corruption, or a
// checkpoint whose pages the disk did not keep is a pass ("detected"); wrong
// or partial data (atomicity) and writing data before its WAL still fail,
// except where nothing could have detected the damage: without data
// checksums a torn, misdirected or bit-flipped heap or index page reads
// back as a valid page (PageIsVerifiedExtended checks the header alone),
// so PostgreSQL returns whatever it holds, half a transaction included,
// and so may pgdst.
func (res *Result) judgeBeyondLimits() {
	if res.OK || len(res.Destructive)+len(res.tornNoFPW) == 0 {
		return
	}
	if len(res.Destructive) == 0 && !tornPageDetected(res.Failures[0]) {
		// Only full_page_writes=off's torn pages: the one damage
		// allowed is a page that fails verification when read.
		return
	}
	destructive := append(append([]string(nil), res.Destructive...), res.tornNoFPW...)
	switch res.Checker {
	// A lost page also makes a register read stale, a list lose its
	// tail or an account lose one leg of a transfer: the history
	// checkers' verdicts after such a fault are lost data, not an
	// engine bug, and pass as detected too.
	// A lost delete or update mark can also bring back an old version of
	// a row next to its new one (CheckUnique); an archive whose copy or
	// segment such a fault damaged is lost data too (CheckArchive). A
	// range transaction whose page such a fault changed under it reads
	// lost data as well (CheckStatementEffect), and an engine that meets
	// a damaged page may fail a statement with an internal error rather
	// than return wrong data (CheckEngineError). A bit flipped into a
	// commit hint on a page read back without data checksums is the
	// medium's, not the engine's (CheckHintBeforeCommit). A lost or
	// misdirected write of the primary's WAL can take back WAL a standby
	// already holds, which then diverges from the primary (CheckStandby),
	// or that the promoted standby then lacks or holds out of order
	// (CheckFailover), under synchronous replication too (CheckSyncRep), or a PITR restore (CheckPITR).
	case CheckDurability, CheckRecovery, CheckSelf, CheckCheckpoint, CheckLinearizability, CheckIsolation, CheckBank, CheckUnique, CheckArchive, CheckStatementEffect, CheckEngineError, CheckHintBeforeCommit, CheckStandby, CheckFailover, CheckSyncRep, CheckPITR:
		res.Detected = fmt.Sprintf("after %s: %s", strings.Join(destructive, ", "), res.Failures[0])
		res.OK, res.Checker, res.Failures = true, "", nil
	case CheckAtomicity:
		if res.noChecksums && damagedDataPage(res.Destructive) {
			res.Detected = fmt.Sprintf("after %s, undetectable without data checksums: %s", strings.Join(destructive, ", "), res.Failures[0])
			res.OK, res.Checker, res.Failures = true, "", nil
		}
	}
}

// damagedDataPage reports whether a destructive fault (PlanRunner's
// "Nx KIND on CLASS") hit a heap or index file.
func damagedDataPage(destructive []string) bool {
	for _, d := range destructive {
		if strings.HasSuffix(d, " on heap") || strings.HasSuffix(d, " on index") {
			return true
		}
	}
	return false
}

// dbPlan is the run's fault plan: the one the Config gives, or one drawn
// from the seed by the plan generator (fault.Generate), which pairs roles
// only with the points the engine's table says they reach.
func dbPlan(c Config, rc resolved, rng *world.Rand, stepsSoFar uint64) fault.Plan {
	var plan fault.Plan
	if c.Faults != "" {
		plan, _ = fault.Parse(c.Faults) // Validate has parsed it once already
	}
	if c.CrashStep != 0 {
		plan.Faults = append(plan.Faults, fault.Fault{Action: fault.Action{Kind: fault.ActCrash},
			When: fault.AtomExpr(fault.Atom{Kind: fault.AtomStepGE, N: c.CrashStep}), Times: 1})
	}
	if c.Faults != "" || c.CrashStep != 0 {
		return plan
	}
	return withWALCrash(withLockPause(fault.Generate(rng, fault.Gen{
		Points:        planPoints,
		PausePoints:   pausePoints,
		RacePoints:    racePoints,
		SnapshotPoint: db.PointAfterSnapshot,
		RedoPoint:     db.PointAfterRedoRecord,
		StepsSoFar:    stepsSoFar,
		CrashSteps:    crashSteps(rc),
		Intensity:     rc.faultIntensity,
		Fork:          func(label uint64) fault.Rand { return rng.Fork(label) },
	}), rc), rc)
}

// crashSteps estimates the workload's steps, over which a step crash is
// drawn: a bulk seed's loads add theirs.
func crashSteps(rc resolved) uint64 {
	n := uint64(rc.Clients * rc.Txns * crashStepsPerTxnDB)
	if rc.bulk {
		n += uint64(rc.Clients * (bulkRowsMin + bulkRowsMax) / 2 * crashStepsPerBulkRow)
	}
	return n
}

// crashStepsPerBulkRow estimates the steps one row of a bulk load costs.
const crashStepsPerBulkRow = 19

// planPoints is the engine's points table as the plan generator reads it.
var planPoints = func() []fault.PointRoles {
	out := make([]fault.PointRoles, len(pgproc.Points))
	for i, p := range pgproc.Points {
		out[i] = fault.PointRoles{Name: p.Name, Roles: p.Roles}
	}
	return out
}()

// rowBytes is the default size of a row's value (Config.RowBytes): large
// enough that a run's rows outgrow shared buffers, so pages are evicted and
// written by the bgwriter and by backends, not only by checkpoints.
const rowBytes = 1000

// rowBytesMin and rowBytesMax bound Config.RowBytes: the id must fit, and
// a row must stay below PostgreSQL's TOAST_TUPLE_THRESHOLD (about 2 kB), as
// the engine has no TOAST and keeps every value in its heap tuple.
const (
	rowBytesMin = 8
	rowBytesMax = 2000
)

// rowValue is a row's value: the id, then bytes derived from it, so that a
// torn or misplaced row never passes for a good one.
// Byte i (past the id) is byte i%8 of the id xor i, computed a word at a
// time: rows are made and compared millions of times in a campaign.
func rowValue(id uint64, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, id)
	for i := 8; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], id^rowPattern[i/8])
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(id>>(8*(i%8))) ^ byte(i)
	}
	return b
}

// rowIs reports whether b is rowValue(id, n), without making it: the final
// check compares every row.
func rowIs(b []byte, id uint64, n int) bool {
	if len(b) != n || binary.LittleEndian.Uint64(b) != id {
		return false
	}
	for i := 8; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != id^rowPattern[i/8] {
			return false
		}
	}
	for i := n &^ 7; i < n; i++ {
		if b[i] != byte(id>>(8*(i%8)))^byte(i) {
			return false
		}
	}
	return true
}

// rowPattern[k] holds the bytes byte(8k), ..., byte(8k+7), little-endian.
var rowPattern = func() (p [rowBytesMax/8 + 1]uint64) {
	for k := range p {
		for j := 0; j < 8; j++ {
			p[k] |= uint64(byte(8*k+j)) << (8 * j)
		}
	}
	return p
}()

// A client reconnects for dialBudget of virtual time at most, longer than
// any recovery of a run takes, pausing between attempts from 1 ms up to
// dialBackoffMax, doubling, as a connection pool backs off: at a fixed
// 1 ms, 16 clients waiting out a one-second recovery made 16,000 dials
// and most of their run's work.
const (
	dialBudget     = 10 * time.Second
	dialBackoffMax = 32 * time.Millisecond
)

func (w *workload) startClients(l *pgproc.Listener) {
	w.running = w.rc.Clients
	w.progress = newClientProgress(w.rc.Clients)
	for c := 0; c < w.rc.Clients; c++ {
		crng := w.rng.Fork(uint64(c))
		w.node.Env.SpawnAs(env.RoleClient, fmt.Sprintf("client-%d", c), func() { w.client(l, c, crng) })
	}
}

// dial connects through the postmaster, retrying while it is starting up
// or recovering (57P03), as a client's connection pool does.
func (w *workload) dial(l0 *pgproc.Listener, client int) (*pgproc.Conn, error) {
	clock := w.node.Env.Clock
	deadline := clock.Now() + dialBudget
	pause := time.Millisecond
	for {
		// A failover moves the clients to the new primary
		// (failover.go), a partition failover's stale ones only once
		// it fenced the old one (failover_partition.go).
		l, from := w.route(l0, client)
		c, err := l.DialFrom(from)
		if err == nil {
			w.noteDial(l, client)
			return c, nil
		}
		if w.pm.Fatal() != nil || clock.Now() >= deadline {
			return nil, err
		}
		clock.Sleep(pause) // at least 1 ms: the loop ends by dialBudget/1ms attempts
		pause = min(2*pause, dialBackoffMax)
	}
}

// client is one simulated application: Txns transactions of the
// workload's kinds, each recorded with its outcome. A connection the
// server ends (a crash-restart) or the client abandons (a timeout) makes
// the transaction in flight unknown if its COMMIT was sent, failed
// otherwise; the client then reconnects.
//
// The last client to finish stops the run; not in a deferred call, which a
// kill's unwinding would run too.
func (w *workload) client(l *pgproc.Listener, c int, rng *world.Rand) {
	s := &session{w: w, l: l, c: c, rng: rng}
	w.progress.started(c, w.node.Env.Clock.Now())
	w.transactions(s)
	w.progress.finished(c, w.node.Env.Clock.Now())
	if s.conn != nil {
		s.conn.Close()
	}
	w.running--
	if w.running == 0 {
		w.quietTail()
		w.node.Sim.RequestStop("workload done")
	}
}

// transactions runs the client's transactions until done or the server
// is gone for good (the harness reports why).
func (w *workload) transactions(s *session) {
	e := w.node.Env
	ks := kinds(w.rc.Workload)
	script := w.isScript(s.c)
	for t := 0; t < w.txnsOf(s.c); t++ {
		if script {
			// One statement after another, as psql sends a file.
			if !s.connect() || !s.insertAutocommit(t) {
				return
			}
			continue
		}
		if w.rc.ThinkMax > 0 {
			e.Clock.Sleep(time.Duration(s.rng.Intn(int(w.rc.ThinkMax))))
		}
		kind := ks[0]
		if len(ks) > 1 {
			kind = ks[s.rng.Intn(len(ks))]
		}
		kind = w.rc.listInsertsKind(kind)
		if w.rc.bulk && t == 0 && !w.rc.Autocommit && kindsHave(ks, WorkloadInsert) {
			// A bulk seed's clients open with a load each, together,
			// before most of the plan's crash points come.
			kind = WorkloadInsert
		}
		if w.bulkReadsNow(s, t) {
			kind = kindBulkRead
		}
		if w.rangeNow(s.c, t) && kind != kindBulkRead {
			kind = kindRange
		}
		if kind == WorkloadInsert && !(w.rc.bulk && t == 0) && w.followInsertNow(s.c) {
			kind = kindFollowRead
		}
		var alive bool
		switch kind {
		case kindBulkRead:
			alive = s.bulkReadTxn()
		case kindRange:
			alive = s.rangeTxn()
		case kindFollowRead:
			alive = s.followInsertRead()
		case WorkloadInsert:
			alive = s.insertTxn(t)
		case WorkloadRegister:
			alive = s.registerTxn()
		case WorkloadBank:
			alive = s.bankTxn()
		case WorkloadAppend:
			alive = s.appendTxn()
		}
		if !alive {
			return
		}
		if s.conn == nil {
			continue
		}
		// Maintenance and DDL between transactions: client 0 vacuums
		// a table every vacuumEvery-th transaction (the eighth, or on
		// some swarm seeds the second), client 1 creates a second
		// table halfway (VACUUM and CREATE TABLE are WAL-logged too, and
		// recovery must replay them wherever a crash cuts them).
		switch {
		case s.c == 0 && t%w.rc.vacuumEvery == w.rc.vacuumEvery-1:
			_, _ = s.call(pgproc.Request{Op: pgproc.OpVacuum, Table: w.vacuumTable(t)})
		case s.c == 1 && t == w.rc.Txns/2:
			_, _ = s.call(pgproc.Request{Op: pgproc.OpCreateTable, Table: table + "2"})
		}
	}
}

// vacuumTable is the table client 0 vacuums after its t-th transaction:
// t in insert-only runs, else each of the run's tables in turn (the
// register, bank and list tables are where updates leave dead versions).
func (w *workload) vacuumTable(t int) string {
	tables := append([]string{table}, tablesFor(w.rc.Workload)...)
	return tables[(t/w.rc.vacuumEvery)%len(tables)]
}

// insertTxn is one write transaction of fresh keys into table t. One in
// eight is rolled back by the client: its rows must never be seen, and
// they give vacuum dead tuples.
func (s *session) insertTxn(t int) bool {
	if !s.connect() {
		return false
	}
	w, c := s.w, s.c
	if w.rc.Autocommit {
		return s.insertAutocommit(t)
	}
	n := 1 + s.rng.Intn(w.rc.WritesMax)
	bulk := w.rc.bulk && t == 0
	if bulk {
		n = bulkRowsMin + s.rng.Intn(bulkRowsMax-bulkRowsMin+1) + w.bulkReadExtraRows()
	}
	keys := make([]uint64, n)
	vals := make([]uint64, n)
	for i := range keys {
		keys[i], vals[i] = w.key(c, t, i), value(c, t, i)
		if bulk {
			keys[i] = w.bulkKey(c, t, i)
		}
	}
	if !bulk {
		s.contend(keys)
	}
	op := w.hist.begin(c, t, keys, vals, w.node.Env.Clock.Now())
	_, err := s.call(pgproc.Request{Op: pgproc.OpBegin, Iso: db.ReadCommitted})
	if err == nil {
		op.Async, err = s.setLocalAsync()
	}
	for i := 0; i < n && err == nil; i++ {
		_, err = s.call(pgproc.Request{Op: pgproc.OpInsert, Table: table, Key: keys[i], Val: rowValue(vals[i], w.rc.rowBytes)})
	}
	abort := s.rng.Intn(8) == 0
	outcome, err := s.end(err, abort)
	op.Return, op.Outcome = w.node.Env.Clock.Now(), outcome
	if outcome == OK && !op.Async && !w.rc.AsyncCommit {
		w.syncWrite(op.Call, op.Return)
	}
	if outcome == OK {
		w.noteCommit(c, WorkloadInsert, keys...)
	}
	if err != nil {
		op.Err = err.Error()
	}
	return true
}

// insertAutocommit is insertTxn as one autocommit INSERT of one row.
func (s *session) insertAutocommit(t int) bool {
	w, c := s.w, s.c
	keys, val := []uint64{w.key(c, t, 0)}, value(c, t, 0)
	if w.isScript(c) {
		keys[0] = scriptKey(t)
	}
	s.contend(keys)
	key := keys[0]
	op := w.hist.begin(c, t, keys, []uint64{val}, w.node.Env.Clock.Now())
	_, err := s.call(pgproc.Request{Op: pgproc.OpInsert, Table: table, Key: key, Val: rowValue(val, w.rc.rowBytes)})
	op.Return, op.Outcome = w.node.Env.Clock.Now(), s.autocommitOutcome(err)
	if op.Outcome == OK && !w.rc.AsyncCommit {
		w.syncWrite(op.Call, op.Return)
	}
	if op.Outcome == OK {
		w.noteCommit(c, WorkloadInsert, key)
	}
	if err != nil {
		op.Err = err.Error()
	}
	return true
}

// errRolledBack is the outcome of a transaction the client rolled back.
var errRolledBack = errors.New("rolled back by the client")

// checkDB judges what recovery kept, from a scan of the table: every
// acknowledged transaction fully present (durability); every unknown one
// all or nothing, nothing of a transaction that never began or failed, no
// row with a value nobody wrote (atomicity); no key twice, and no key
// acknowledged by two inserters (CheckUnique). It also judges the bulk
// reader's reads, against the same history.
func (w *workload) checkDB(d *db.DB, res *Result) {
	kw := indexWriters(w.hist.Ops)
	if w.failoverAt == 0 {
		w.judgeKeyReads(kw, res)
	}
	present := make(map[*Op]int)
	s, err := d.Connect()
	if err != nil {
		res.found(stageFinding(StageConnect, err))
		res.fail(CheckRecovery, "connect after recovery: %v", err)
		return
	}
	defer s.Close()
	prev, scanned := uint64(0), false
	var dups []uint64
	err = s.Scan(table, 0, ^uint64(0), func(k uint64, val []byte) bool {
		// The scan is in key order: a key shown twice shows up at once.
		// It is judged after the transactions: a lost or doubled commit
		// is the more specific account of the same damage.
		if scanned && k == prev && len(dups) < maxFailures {
			dups = append(dups, k)
		}
		prev, scanned = k, true
		ws := kw[k]
		if len(ws) == 0 {
			res.fail(CheckAtomicity, "key %d is present but no transaction that began wrote it", k)
			return true
		}
		// A key one transaction wrote is judged against its value; a
		// contended key by the writer whose value it holds.
		op, want := ws[0].op, ws[0].val
		if len(ws) > 1 {
			if o, ok := kw.writer(k, rowID(val)); ok {
				op, want = o, rowID(val)
			}
		}
		if !rowIs(val, want, w.rc.rowBytes) {
			res.fail(CheckAtomicity, "key %d holds %x, want %#x from %s", k, val, want, op)
			return true
		}
		present[op]++
		return true
	})
	if err != nil {
		res.found(stageFinding(StageScan, err))
		res.fail(CheckRecovery, "scan after recovery: %v", err)
		return
	}
	if w.failoverAt != 0 {
		// failover.go: the commits the failover lost become unknown
		// before the reads and the durability checker judge them.
		w.failoverLoss(present, res)
		w.judgeKeyReads(kw, res)
	}
	w.judge(present, res)
	w.judgeContended(kw, res)
	for _, k := range dups {
		res.found(Finding{Checker: CheckUnique, Table: table, Key: k})
		res.fail(CheckUnique, "the final scan of %s shows key %d twice", table, k)
	}
	if !res.OK {
		res.XidStatus = xidStatuses(d)
	}
}

// xidStatusMax bounds the xids whose recovered clog status a failing run
// records (a run assigns a few hundred).
const xidStatusMax = 1 << 16

// xidStatuses reads the recovered clog for every xid below nextXid (at
// most xidStatusMax), clog.InProgress where it cannot be read.
func xidStatuses(d *db.DB) []uint8 {
	n := min(uint64(d.Procs.NextXID()), xidStatusMax)
	out := make([]uint8, n)
	for xid := uint64(xact.FirstNormalXID); xid < n; xid++ {
		st, _, err := d.Clog.GetStatus(xid)
		if err == nil {
			out[xid] = uint8(st)
		}
	}
	return out
}

func (r resolved) stringDB() string {
	archive := "off"
	if r.server.ArchiveMode {
		archive = fmt.Sprintf("on archiver_delay=%v", r.server.Archiver.Delay)
	}
	iso := r.isolationName()
	return fmt.Sprintf("workload=%s isolation=%s client_timeout=%v synchronous_commit=%v autocommit=%v row_bytes=%d clients=%d txns=%d writes<=%d think<%v crash-mode=%s switch=%.3f checkpoint_timeout=%v max_wal_size=%dkB bgwriter_delay=%v bgwriter_lru_maxpages=%d wal_writer_delay=%v shared_buffers=%d wal_segment_size=%dkB autovacuum_naptime=%v archive_mode=%s bulk=%v vacuum_every=%d long_reads=%v bugs=%s",
		r.Workload, iso, r.timeout, map[bool]string{true: "on", false: "off"}[r.engine.SynchronousCommit], r.Autocommit, r.rowBytes, r.Clients, r.Txns, r.WritesMax, r.ThinkMax, r.crash, r.sched.SwitchProb, r.engine.CheckpointTimeout, r.engine.MaxWALSize>>10,
		r.engine.BgwriterDelay, r.engine.BgwriterLRUMax, r.engine.WalWriterDelay, r.engine.SharedBuffers, r.engine.WAL.SegmentSize>>10,
		r.server.AutovacuumConf.Naptime, archive, r.bulk, r.vacuumEvery, r.longReads, r.Bugs)
}

// Bulk loads: on one swarm seed in bulkSeedsPer, each client's first
// transaction loads bulkRowsMin..bulkRowsMax rows of bulkRowBytes (as a
// COPY or a multi-row INSERT would), together about 500, so that table
// t's index outgrows its root leaf (about 400 keys) and splits while
// other clients insert. A load row costs about 19 scheduler steps, so the
// loads cost the campaign about a tenth more steps; the other seeds run
// as before. bulkRowsMax stays below 255 so value's row byte holds i+1.
const (
	bulkSeedsPer = 16
	bulkRowsMin  = 100
	bulkRowsMax  = 150
	bulkRowBytes = 100
)

func kindsHave(ks []string, k string) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// bulkKeyBase puts bulk-loaded keys above every ordinary key (key), each
// transaction in a block of 256.
const bulkKeyBase = 1 << 40

func (w *workload) bulkKey(client, txn, i int) uint64 {
	if i < 0 || i >= 256 {
		panic(fmt.Sprintf("simtest: bulk row %d out of range", i))
	}
	return bulkKeyBase + uint64(client*w.rc.Txns+txn)<<8 + uint64(i)
}
