package simtest

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/skel"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/fault"
)

// Config is everything that defines a run besides the build: with the same
// Config, a run is byte-for-byte the same run.
type Config struct {
	Seed      uint64
	Clients   int
	Txns      int // per client
	WritesMax int // writes per transaction, drawn in [1, WritesMax]
	// ThinkMax is the longest pause of a client before each transaction,
	// drawn uniformly in [0, ThinkMax) of virtual time.
	ThinkMax time.Duration
	// CrashMode is what the disk keeps of unsynced writes at the crash;
	// "" draws one from the seed.
	CrashMode string
	// CrashStep is the step at which power fails; 0 draws one from the seed.
	CrashStep uint64
	// Swarm draws the engine's timing knobs and the scheduler's switch
	// probability from the seed, as TigerBeetle's VOPR and FoundationDB's
	// knobs do, so that many seeds explore many configurations.
	Swarm bool
	// Engine is the engine under test: "skel" (the walking skeleton, the
	// default) or "db" (the storage engine).
	Engine string
	// PGTimings keeps PostgreSQL's own defaults for the background
	// processes (bgwriter_delay 200ms, checkpoint_timeout 5min) instead of
	// the scaled-down timings that make checkpoints happen within a run.
	// It overrides Swarm's timing draws.
	PGTimings bool
	Bugs      bugs.Set
	// Faults is the fault plan, in package fault's text form; "" draws
	// one from the seed (engine db).
	Faults string
	// FaultIntensity in [0, 1] adds the swarm's disk and clock faults to
	// a plan drawn from the seed (0: none).
	FaultIntensity float64
	// TraceOut, when set, receives the readable trace.
	TraceOut io.Writer
}

// DefaultConfig is the embedded default workload.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Clients: 4, Txns: 12, WritesMax: 3, ThinkMax: 2 * time.Millisecond, Swarm: true}
}

// CampaignGCPercent is the GOGC a campaign runs with (see cmd/pgdst).
const CampaignGCPercent = 1000

// Validate rejects a configuration the run cannot honour.
func (c Config) Validate() error {
	if c.Clients < 1 || c.Clients > 64 {
		return fmt.Errorf("clients must be in [1, 64], got %d", c.Clients)
	}
	if c.Txns < 1 || c.Txns > 10000 {
		return fmt.Errorf("txns must be in [1, 10000], got %d", c.Txns)
	}
	if c.WritesMax < 1 || c.WritesMax > 64 {
		return fmt.Errorf("writes must be in [1, 64], got %d", c.WritesMax)
	}
	if c.ThinkMax < 0 || c.ThinkMax > time.Minute {
		return fmt.Errorf("think-max must be in [0, 1m], got %v", c.ThinkMax)
	}
	if c.CrashMode != "" {
		if _, err := ParseCrashMode(c.CrashMode); err != nil {
			return err
		}
	}
	if c.Faults != "" {
		if _, err := fault.Parse(c.Faults); err != nil {
			return fmt.Errorf("fault plan: %w", err)
		}
		if c.Engine != "db" {
			return fmt.Errorf("fault plans need --engine db")
		}
	}
	if c.FaultIntensity < 0 || c.FaultIntensity > 1 {
		return fmt.Errorf("fault intensity must be in [0, 1], got %v", c.FaultIntensity)
	}
	if c.Engine != "" && c.Engine != "skel" && c.Engine != "db" {
		return fmt.Errorf("unknown engine %q (want skel or db)", c.Engine)
	}
	return nil
}

// resolved is a Config with every seeded choice made.
type resolved struct {
	Config
	crash  CrashMode
	skel   skel.Config
	engine db.Config
	sched  SchedConfig
	lat    Latency
}

func resolve(c Config, rng *Rand) resolved {
	r := resolved{Config: c, skel: skel.DefaultConfig(), sched: DefaultSchedConfig, lat: DefaultLatency}
	r.skel.Bugs = c.Bugs
	// PostgreSQL's defaults (checkpoint_timeout 5min, bgwriter_delay
	// 200ms) would never fire within a run of a few hundred milliseconds
	// of virtual time; the simulator scales them down.
	r.skel.CheckpointTimeout = 20 * time.Millisecond
	r.skel.BgwriterDelay = 5 * time.Millisecond
	r.skel.BgwriterLRUMaxPages = 4
	needKeys := uint64(c.Clients) * uint64(c.Txns) * uint64(c.WritesMax)
	for uint64(r.skel.Pages)*skel.SlotsPerPage < needKeys {
		r.skel.Pages *= 2
	}
	// Small WAL segments, so that runs cross segment boundaries; the
	// smallest that still holds the largest commit record the workload
	// can make.
	r.skel.WAL.SegmentSize = 256 << 10
	if c.Swarm {
		r.skel.WAL.SegmentSize = int64(64<<10) << rng.Intn(4)
	}
	for r.skel.MaxWrites() < c.WritesMax && r.skel.WAL.SegmentSize < wal.SegmentSizeMax {
		r.skel.WAL.SegmentSize *= 2
	}
	if c.Swarm {
		r.sched.SwitchProb = 0.02 + 0.5*rng.Float64()
		r.skel.CheckpointTimeout = time.Duration(2+rng.Intn(60)) * time.Millisecond
		r.skel.BgwriterDelay = time.Duration(1+rng.Intn(20)) * time.Millisecond
		r.skel.BgwriterLRUMaxPages = 1 + rng.Intn(8)
	}
	if c.PGTimings {
		d := skel.DefaultConfig()
		r.skel.CheckpointTimeout, r.skel.BgwriterDelay, r.skel.BgwriterLRUMaxPages = d.CheckpointTimeout, d.BgwriterDelay, d.BgwriterLRUMaxPages
	}
	if c.Engine == "db" {
		resolveDB(c, rng, &r)
	}
	if c.CrashMode == "" {
		r.crash = CrashMode(rng.Intn(3))
	} else {
		r.crash, _ = ParseCrashMode(c.CrashMode)
	}
	return r
}

func (r resolved) String() string {
	if r.Engine == "db" {
		return r.stringDB()
	}
	return fmt.Sprintf("engine=skel clients=%d txns=%d writes<=%d think<%v crash-mode=%s switch=%.3f checkpoint_timeout=%v bgwriter_delay=%v bgwriter_lru_maxpages=%d pages=%d wal_segment_size=%dkB bugs=%s",
		r.Clients, r.Txns, r.WritesMax, r.ThinkMax, r.crash, r.sched.SwitchProb, r.skel.CheckpointTimeout,
		r.skel.BgwriterDelay, r.skel.BgwriterLRUMaxPages, r.skel.Pages, r.skel.WAL.SegmentSize>>10, r.Bugs)
}

// Result is what a run found.
type Result struct {
	Seed     uint64
	OK       bool
	Checker  string   // the checker that failed ("" when OK)
	Failures []string // what it found, first few
	Config   string   // the resolved configuration
	Trace    uint64
	Events   uint64
	Steps    uint64
	Virtual  time.Duration

	CrashStep   uint64
	CrashKind   string // "power-loss" or "crash-restart"
	CrashDetail string
	Acked       int
	Unknown     int
	Recovery    skel.RecoveryStats
	RecoveryDB  db.RecoveryStats
	Rows        int    // visible rows after recovery (engine db)
	CrashMode   string // what the disk kept at a power loss
	CrashPoint  string // "point#k" when the crash was at an injection point (engine skel)
	// Plan is the fault plan the run carried (engine db), one fault per
	// line; FaultsApplied counts the faults that fired, FaultLog lists the
	// first few, Destructive the ones beyond the recoverability limits.
	Plan          string
	FaultsApplied int
	FaultLog      []string
	Destructive   []string
	// Detected, on a passing run, is the damage a destructive fault did
	// that the engine reported or that the limits allow (see
	// judgeBeyondLimits).
	Detected string
	History  *History
}

// TraceString is the 16-hex-digit trace hash.
func (r *Result) TraceString() string { return fmt.Sprintf("%016x", r.Trace) }

// Verdict is "ok" or "fail".
func (r *Result) Verdict() string {
	if r.OK {
		return "ok"
	}
	return "fail"
}

// The checkers a run applies, by name.
const (
	CheckDurability = "durability" // acknowledged commits survive
	CheckAtomicity  = "atomicity"  // all or nothing; nothing never committed
	CheckSelf       = "self-check" // engine self-checks after recovery
	CheckRecovery   = "recovery"   // recovery must succeed
	CheckLiveness   = "liveness"   // no deadlock, no engine bug panic
	// CheckWALBeforeData judges the I/O history as it happens: no data
	// page reaches the disk before the WAL up to its LSN is durable.
	CheckWALBeforeData = "wal-before-data"
	// CheckCheckpoint judges each checkpoint as it completes: every change
	// before its REDO pointer is durable on disk.
	CheckCheckpoint = "checkpoint"
)

const maxFailures = 8

func (r *Result) fail(checker, format string, args ...any) {
	if r.OK {
		r.OK = false
		r.Checker = checker
	}
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, checker+": "+fmt.Sprintf(format, args...))
	}
}

// crashStepsPerTxn estimates the yield points a transaction costs, so that
// the seeded crash step falls anywhere in the workload.
const crashStepsPerTxn = 30

// Run performs one run: initdb, boot, the workload with background
// processes, a crash at a seeded step, recovery, and the checks.
func Run(c Config) *Result {
	res := &Result{Seed: c.Seed, OK: true, History: &History{}}
	if err := c.Validate(); err != nil {
		res.fail(CheckRecovery, "invalid config: %v", err)
		return res
	}
	rng := NewRand(c.Seed)
	trace := newTrace(c.TraceOut)
	defer trace.flush()
	rc := resolve(c, rng.Fork(3))
	res.Config = rc.String()
	trace.note(0, 0, "seed "+fmt.Sprint(c.Seed)+" config "+res.Config)
	node := NewNode(rng, trace, rc.sched, rc.lat)
	sim := node.Sim
	defer func() {
		sim.KillAll()
		res.Trace, res.Events, res.Steps, res.Virtual = trace.Hash(), trace.Events(), sim.Steps(), sim.Now()
	}()
	if c.Engine == "db" {
		runDB(res, rc, node, rng, trace)
		return res
	}

	// initdb runs to completion before anything can crash.
	var initErr error
	sim.Spawn("initdb", func() { initErr = skel.InitDB(node.Env, rc.skel) })
	if st := sim.Run(); st.Kind != StopAllDone || initErr != nil {
		res.fail(CheckRecovery, "initdb: %v %v", st, initErr)
		return res
	}

	// Boot and run the workload until the crash step.
	wl := &workload{rc: rc, node: node, hist: res.History, rng: rng.Fork(5)}
	sim.Spawn("startup", func() {
		db, _, err := skel.Open(node.Env, rc.skel)
		if err != nil {
			node.Env.Panicf("startup: %v", err)
		}
		node.Env.Sched.Spawn("bgwriter", db.BgwriterLoop)
		node.Env.Sched.Spawn("checkpointer", db.CheckpointerLoop)
		wl.start(db)
	})
	res.CrashStep = c.CrashStep
	if res.CrashStep == 0 {
		est := uint64(rc.Clients*rc.Txns*crashStepsPerTxn) + 1
		res.CrashStep = sim.Steps() + 1 + uint64(rng.Fork(4).Intn(int(est)))
	}
	sim.SetStepLimit(res.CrashStep)
	st := sim.Run()
	sim.SetStepLimit(0)
	powerLoss, ok := res.classifyCrash(st, fault.Action{})
	if !ok {
		return res
	}
	trace.note(sim.Now(), 0, "crash: "+res.CrashKind+" "+res.CrashDetail)
	sim.KillAll()
	if powerLoss {
		node.Disk.Crash(rng.Fork(6), rc.crash)
	}
	res.Acked = res.History.Count(OK)
	res.Unknown = res.History.Count(Unknown)

	// Recover and check.
	var checkErr error
	sim.Spawn("startup", func() {
		db, stats, err := skel.Open(node.Env, rc.skel)
		if err != nil {
			checkErr = err
			return
		}
		res.Recovery = stats
		committed, err := skel.CommittedWrites(node.Env, rc.skel)
		if err != nil {
			res.fail(CheckSelf, "reading the recovered WAL: %v", err)
			return
		}
		wl.check(db, committed, res)
		if err := db.SelfCheck(); err != nil {
			res.fail(CheckSelf, "%v", err)
		}
	})
	st = sim.Run()
	switch {
	case st.Kind == StopPanic:
		res.fail(CheckRecovery, "recovery failed: %s", st.Detail)
	case st.Kind != StopAllDone:
		res.fail(CheckLiveness, "recovery stopped: %s", st)
	case checkErr != nil:
		res.fail(CheckRecovery, "recovery failed: %v", checkErr)
	}
	return res
}

// classifyCrash records how the workload phase ended: power loss at the
// crash point, or crash-restart after a PANIC (the postmaster kills every
// other process and recovers, but the OS and its page cache survive, so
// unsynced writes are not lost). Any other stop is a failure; ok is false.
func (res *Result) classifyCrash(st Stop, stopAction fault.Action) (powerLoss, ok bool) {
	switch st.Kind {
	case StopFault:
		if stopAction.Kind == fault.ActKill {
			res.CrashKind = "crash-restart"
			res.CrashDetail = fmt.Sprintf("%s (killed %s)", st.Detail, st.Proc)
			return false, true
		}
		res.CrashKind = "power-loss"
		res.CrashDetail = fmt.Sprintf("%s (in %s)", st.Detail, st.Proc)
		return true, true
	case StopStepLimit, StopRequested, StopInject:
		res.CrashKind = "power-loss"
		res.CrashDetail = fmt.Sprintf("%s (in %s)", st, st.Proc)
		return true, true
	case StopPanic:
		if _, isPanic := st.Value.(*env.PanicError); !isPanic {
			res.fail(CheckLiveness, "engine bug: process %s panicked: %v\n%s", st.Proc, st.Value, st.Stack)
			return false, false
		}
		res.CrashKind = "crash-restart"
		res.CrashDetail = st.Detail
		return false, true
	}
	res.fail(CheckLiveness, "workload stopped: %s", st)
	return false, false
}

// workload is the simulated clients: each runs Txns write transactions of
// fresh keys, so that every key has exactly one writer and the checker can
// tell exactly which transactions survived.
type workload struct {
	rc      resolved
	node    *Node
	hist    *History
	rng     *Rand
	running int
}

func (w *workload) key(client, txn, i int) uint64 {
	return uint64((client*w.rc.Txns+txn)*w.rc.WritesMax + i)
}

func value(client, txn, i int) uint64 {
	return uint64(client+1)<<40 | uint64(txn+1)<<8 | uint64(i+1)
}

func (w *workload) start(db *skel.DB) {
	w.running = w.rc.Clients
	for c := 0; c < w.rc.Clients; c++ {
		crng := w.rng.Fork(uint64(c))
		w.node.Env.Sched.Spawn(fmt.Sprintf("client-%d", c), func() { w.client(db, c, crng) })
	}
}

func (w *workload) client(db *skel.DB, c int, rng *Rand) {
	e := w.node.Env
	for t := 0; t < w.rc.Txns; t++ {
		if w.rc.ThinkMax > 0 {
			e.Clock.Sleep(time.Duration(rng.Intn(int(w.rc.ThinkMax))))
		}
		n := 1 + rng.Intn(w.rc.WritesMax)
		keys := make([]uint64, n)
		vals := make([]uint64, n)
		for i := range keys {
			keys[i], vals[i] = w.key(c, t, i), value(c, t, i)
		}
		op := w.hist.begin(c, t, keys, vals, e.Clock.Now())
		tx := db.Begin()
		var err error
		for i := range keys {
			if err = tx.Put(keys[i], vals[i]); err != nil {
				break
			}
		}
		if err == nil {
			op.Xid, err = tx.Commit()
		} else {
			tx.Rollback()
		}
		op.Return = e.Clock.Now()
		if err != nil {
			op.Outcome, op.Err = Failed, err.Error()
		} else {
			op.Outcome = OK
		}
	}
	w.running--
	if w.running == 0 {
		w.node.Sim.RequestStop("workload done")
	}
}

// check judges what recovery kept: every acknowledged transaction fully
// present (durability); every unknown one all or nothing, and nothing of a
// transaction that never began or failed (atomicity); no key holds a value
// nobody wrote. Against the durable WAL (committed): every present value
// has a commit record — so nothing from a transaction that never wrote one
// survives — and every commit record was fully redone (self-check).
func (w *workload) check(db *skel.DB, committed map[uint64]uint64, res *Result) {
	byKey := make(map[uint64]*Op)
	for _, op := range w.hist.Ops {
		for _, k := range op.Keys {
			byKey[k] = op
		}
	}
	present := make(map[*Op]int)
	total := uint64(w.rc.Clients * w.rc.Txns * w.rc.WritesMax)
	for k := uint64(0); k < total; k++ {
		v, err := db.Get(k)
		if err != nil {
			res.fail(CheckRecovery, "read key %d: %v", k, err)
			return
		}
		op := byKey[k]
		if cv, ok := committed[k]; ok && v != cv {
			res.fail(CheckSelf, "key %d holds %#x but the durable WAL commits %#x", k, v, cv)
		} else if !ok && v != 0 {
			res.fail(CheckAtomicity, "key %d holds %#x but no durable commit record wrote it", k, v)
		}
		switch {
		case v == 0:
		case op == nil:
			res.fail(CheckAtomicity, "key %d holds %#x but no transaction that began wrote it", k, v)
		default:
			want := uint64(0)
			for i, ok := range op.Keys {
				if ok == k {
					want = op.Values[i]
				}
			}
			if v != want {
				res.fail(CheckAtomicity, "key %d holds %#x, want %#x from %s", k, v, want, op)
				continue
			}
			present[op]++
		}
	}
	w.judge(present, res)
}

// judge applies the per-transaction rules to how many of each
// transaction's writes recovery kept: an acknowledged transaction fully
// (durability); a failed one not at all, an unknown one all or nothing
// (atomicity).
func (w *workload) judge(present map[*Op]int, res *Result) {
	for _, op := range w.hist.Ops {
		n := present[op]
		switch op.Outcome {
		case OK:
			if n != len(op.Keys) {
				res.fail(CheckDurability, "acknowledged %s: %d of %d writes lost after %s", op, len(op.Keys)-n, len(op.Keys), res.CrashKind)
			}
		case Failed:
			if n != 0 {
				res.fail(CheckAtomicity, "failed %s: %d writes present", op, n)
			}
		case Unknown:
			if n != 0 && n != len(op.Keys) {
				res.fail(CheckAtomicity, "partial transaction: %s: %d of %d writes present", op, n, len(op.Keys))
			}
		}
	}
}

// Summary is the readable report of a run, ending with the verdict line.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %s\n", r.Config)
	fmt.Fprintf(&b, "workload: %d transactions, %d acknowledged, %d unknown at the crash\n", len(r.History.Ops), r.Acked, r.Unknown)
	if r.Plan != "" {
		fmt.Fprintf(&b, "crash: %s: %s\n", r.CrashKind, r.CrashDetail)
	} else if r.CrashPoint != "" {
		fmt.Fprintf(&b, "crash: %s at injection point %s: %s\n", r.CrashKind, r.CrashPoint, r.CrashDetail)
	} else {
		fmt.Fprintf(&b, "crash: %s at step %d: %s\n", r.CrashKind, r.CrashStep, r.CrashDetail)
	}
	if r.Plan != "" {
		fmt.Fprintf(&b, "fault plan:\n")
		for _, l := range strings.Split(strings.TrimSuffix(r.Plan, "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		fmt.Fprintf(&b, "faults applied: %d\n", r.FaultsApplied)
		for _, l := range r.FaultLog {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if r.RecoveryDB.End != 0 {
		fmt.Fprintf(&b, "recovery: checkpoint %s redo %s..%s, %d records, %d files synced; %d rows after; end of WAL: %s\n",
			r.RecoveryDB.Checkpoint, r.RecoveryDB.Redo, r.RecoveryDB.End, r.RecoveryDB.Records, r.RecoveryDB.Synced, r.Rows, r.RecoveryDB.EndReason)
	} else {
		fmt.Fprintf(&b, "recovery: checkpoint %s redo %s..%s, %d records, %d commits, %d full-page images; end: %s\n",
			r.Recovery.Checkpoint, r.Recovery.Redo, r.Recovery.End, r.Recovery.Records, r.Recovery.Commits, r.Recovery.FPIs, r.Recovery.EndReason)
	}
	fmt.Fprintf(&b, "simulated: %v virtual, %d steps, %d trace events\n", r.Virtual, r.Steps, r.Events)
	if r.Detected != "" {
		fmt.Fprintf(&b, "beyond the recoverability limits, detected: %s\n", r.Detected)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAIL %s\n", f)
	}
	fmt.Fprintf(&b, "seed=%d verdict=%s trace=%s", r.Seed, r.Verdict(), r.TraceString())
	return b.String()
}
