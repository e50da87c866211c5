package simtest

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
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
	// PGTimings keeps PostgreSQL's own defaults for the background
	// processes (bgwriter_delay 200ms, checkpoint_timeout 5min) instead of
	// the scaled-down timings that make checkpoints happen within a run.
	// It overrides Swarm's timing draws.
	PGTimings bool
	Bugs      bugs.Set
	// Faults is the fault plan, in package fault's text form; "" draws
	// one from the seed.
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
	}
	if c.FaultIntensity < 0 || c.FaultIntensity > 1 {
		return fmt.Errorf("fault intensity must be in [0, 1], got %v", c.FaultIntensity)
	}
	return nil
}

// resolved is a Config with every seeded choice made.
type resolved struct {
	Config
	crash  CrashMode
	engine db.Config
	server pgproc.Config
	sched  SchedConfig
	lat    Latency
}

func resolve(c Config, rng *Rand) resolved {
	r := resolved{Config: c, sched: DefaultSchedConfig, lat: DefaultLatency}
	if c.Swarm {
		r.sched.SwitchProb = 0.02 + 0.5*rng.Float64()
	}
	resolveDB(c, rng, &r)
	if c.CrashMode == "" {
		r.crash = CrashMode(rng.Intn(3))
	} else {
		r.crash, _ = ParseCrashMode(c.CrashMode)
	}
	return r
}

func (r resolved) String() string { return r.stringDB() }

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

	CrashKind   string // "power-loss" or "crash-restart"
	CrashDetail string
	Acked       int
	Unknown     int
	RecoveryDB  db.RecoveryStats
	Rows        int    // visible rows after recovery
	CrashMode   string // what the disk kept at a power loss
	// Plan is the fault plan the run carried, one fault per
	// line; FaultsApplied counts the faults that fired, FaultLog lists the
	// first few, Destructive the ones beyond the recoverability limits.
	Plan          string
	FaultsApplied int
	FaultLog      []string
	Destructive   []string
	// CrashRestarts lists the postmaster's crash-restarts during the
	// workload: which server process died (a PANIC, a kill) and why.
	CrashRestarts []string
	// RecoveryCrashes lists the crashes the plan caused during recovery,
	// each followed by another recovery.
	RecoveryCrashes []string
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

// Run performs one run: initdb, boot, the workload with background
// processes under the fault plan, a crash, recovery, and the checks.
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
	runDB(res, rc, node, rng, trace)
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
	pm      *pgproc.Postmaster
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
	for _, c := range r.CrashRestarts {
		fmt.Fprintf(&b, "crash-restart during the workload: %s\n", c)
	}
	fmt.Fprintf(&b, "crash: %s: %s\n", r.CrashKind, r.CrashDetail)
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
	for _, c := range r.RecoveryCrashes {
		fmt.Fprintf(&b, "crash during recovery: %s\n", c)
	}
	fmt.Fprintf(&b, "recovery: checkpoint %s redo %s..%s, %d records, %d files synced; %d rows after; end of WAL: %s\n",
		r.RecoveryDB.Checkpoint, r.RecoveryDB.Redo, r.RecoveryDB.End, r.RecoveryDB.Records, r.RecoveryDB.Synced, r.Rows, r.RecoveryDB.EndReason)
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
