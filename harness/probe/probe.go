// Package probe is `pgdst probe`: the simulator's register, bank and
// list-append workloads run over pgx against any PostgreSQL server (pgdst
// serve or PostgreSQL itself), by real concurrent clients, and judged by
// the same checkers as a simulated run (package linearizability):
// linearizability of the registers (porcupine), isolation anomalies of the
// list-append transactions at the level asked for (Elle-style), the bank
// invariant, and what the final read after the run shows of acknowledged
// and failed appends.
//
// A history here is recorded as the simulator records it (simtest's
// workload_kinds.go), with wall-clock nanoseconds since the run began
// where the simulator has virtual ones: an operation is entered at its
// call, and its outcome is what the client learned. An error the server
// reported on a live connection is a failure (the statement or
// transaction took no effect); a connection lost or abandoned while a
// COMMIT (or an autocommit statement) was in flight leaves the outcome
// unknown, as does a FATAL error, which PostgreSQL may send after the
// commit record is durable (quickdie at an immediate shutdown).
//
// Faults are the user's: --fault-cmd runs a shell command at seeded
// moments (say pg_ctl -m immediate restart), and whatever it does to the
// server becomes part of the history through the clients' lost
// connections, unknown outcomes and reconnections.
//
// This is harness code: it runs goroutines and reads the wall clock, which
// engine code never does.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgdst/pgdst/simtest"
)

// The workloads probe runs: the simulator's names (simtest.Workloads)
// but insert, whose checker needs the simulator's crash bookkeeping.
var Workloads = []string{simtest.WorkloadRegister, simtest.WorkloadBank, simtest.WorkloadAppend, simtest.WorkloadMixed}

// Isolations are the levels a probe may ask for, as the simulator spells
// them.
var Isolations = simtest.Isolations

// The planted client bugs (--unsafe), for the tests that show each
// checker fire against a real server: an application's classic
// concurrency mistakes, which PostgreSQL does not forgive.
const (
	// UnsafeTransfers: bank transfers read both balances and write back
	// the computed ones without a row lock, which only REPEATABLE READ
	// and SERIALIZABLE make safe (they fail the second writer with
	// 40001); at READ COMMITTED it loses updates, and money.
	UnsafeTransfers = "transfers"
	// UnsafeAppends: an append reads the list and writes back the whole
	// new text instead of appending in place (v = v || x); at READ
	// COMMITTED a concurrent append is overwritten.
	UnsafeAppends = "appends"
	// UnsafeCAS: a register's compare-and-set is a SELECT and then an
	// unconditional UPDATE, two autocommit statements, so two clients
	// can both swap from the same value.
	UnsafeCAS = "cas"
)

// unsafeWorkload is the workload each planted bug changes.
var unsafeWorkload = map[string]string{
	UnsafeTransfers: simtest.WorkloadBank,
	UnsafeAppends:   simtest.WorkloadAppend,
	UnsafeCAS:       simtest.WorkloadRegister,
}

// Options define one probe.
type Options struct {
	Target    string // a PostgreSQL URL (or key=value connection string)
	Workload  string // one of Workloads
	Isolation string // one of Isolations
	Clients   int
	// Duration and Ops bound the run: it stops at whichever comes first
	// (0: no bound of that kind; not both 0).
	Duration time.Duration
	Ops      int
	// Seed drives every choice the clients make (operation, key, value,
	// abort) and the fault moments; the timing is the machine's.
	Seed uint64
	// FaultCmd, when set, is run by sh -c at seeded moments, on average
	// every FaultEvery (uniformly between half and one and a half of it
	// after the previous one ended).
	FaultCmd   string
	FaultEvery time.Duration
	// OpTimeout abandons a statement that has not returned (the
	// connection is closed; a COMMIT in flight is unknown).
	OpTimeout time.Duration
	// Unsafe plants a client bug (UnsafeTransfers, UnsafeAppends,
	// UnsafeCAS), for the tests that show the checkers fire against a
	// real server.
	Unsafe string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Defaults used by the command and the tests.
const (
	DefaultClients    = 8
	DefaultDuration   = 10 * time.Second
	DefaultFaultEvery = 3 * time.Second
	DefaultOpTimeout  = 10 * time.Second
)

// The shapes of the workloads' tables are the simulator's (simtest's
// workload.go), so that a probe's histories look like a simulated run's.
const (
	registerKeys = simtest.RegisterKeys
	bankAccounts = simtest.BankAccounts
	bankBalance  = simtest.BankBalance
	bankTotal    = bankAccounts * bankBalance
	listKeys     = simtest.ListKeys
	listMopsMax  = simtest.ListMopsMax
	abortOneIn   = 16 // list-append transactions rolled back on purpose, as in the simulator
	maxAmount    = 20 // a transfer moves 1..maxAmount, as in the simulator
)

// Bounds on waiting for the server.
const (
	connectTimeout = 5 * time.Second
	backoffMin     = 10 * time.Millisecond
	backoffMax     = time.Second
	// reconnectMax is how long a client keeps trying to reconnect
	// before it gives up (and the final read how long it waits).
	reconnectMax = 2 * time.Minute
	// setupMax is how long the probe waits for the server at the start:
	// long enough for one that is starting, short for a wrong URL.
	setupMax = 15 * time.Second
	// faultCmdTimeout bounds one run of the fault command.
	faultCmdTimeout = 5 * time.Minute
	// porcupineTimeout bounds the linearizability search; a history it
	// cannot decide in time is "unknown", not failed.
	porcupineTimeout = 30 * time.Second
)

// faultStream separates the fault moments' random stream from the
// clients' (each client's is the seed and its number).
const faultStream = 0x9e1e_5a17_f00d_0b5e

// Validate checks o and fills in defaults for zero fields; it returns one
// line for the first problem.
func (o *Options) Validate() error {
	if o.Target == "" {
		return errors.New("--target is required: a PostgreSQL URL such as postgres://user@host:5432/db")
	}
	if o.Workload == "" {
		o.Workload = simtest.WorkloadMixed
	}
	if !slices.Contains(Workloads, o.Workload) {
		return fmt.Errorf("unknown workload %q (known: %s)", o.Workload, strings.Join(Workloads, ", "))
	}
	if o.Isolation == "" {
		o.Isolation = simtest.IsoReadCommitted
	}
	if !slices.Contains(Isolations, o.Isolation) {
		return fmt.Errorf("unknown isolation level %q (known: %s)", o.Isolation, strings.Join(Isolations, ", "))
	}
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if o.Duration < 0 || o.Ops < 0 {
		return errors.New("--duration and --ops cannot be negative")
	}
	if o.Duration == 0 && o.Ops == 0 {
		return errors.New("give --duration or --ops (or both): the run needs a bound")
	}
	if o.FaultCmd != "" && o.FaultEvery <= 0 {
		o.FaultEvery = DefaultFaultEvery
	}
	if o.FaultCmd == "" && o.FaultEvery > 0 {
		return errors.New("--fault-every needs --fault-cmd")
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Unsafe != "" {
		kind, ok := unsafeWorkload[o.Unsafe]
		switch {
		case !ok:
			return fmt.Errorf("unknown --unsafe %q (known: %s, %s, %s)", o.Unsafe, UnsafeTransfers, UnsafeAppends, UnsafeCAS)
		case !uses(o.Workload, kind):
			return fmt.Errorf("--unsafe %s changes the %s workload: use --workload %s or mixed", o.Unsafe, kind, kind)
		}
	}
	return nil
}

// RedactedTarget is the target without its password, for printing.
func (o *Options) RedactedTarget() string {
	u, err := url.Parse(o.Target)
	if err != nil || u.Scheme == "" {
		return "(a connection string)"
	}
	return u.Redacted()
}

// Fault is one run of the fault command.
type Fault struct {
	Start  int64  `json:"start_ns"` // nanoseconds since the run began
	End    int64  `json:"end_ns"`
	Err    string `json:"error,omitempty"`
	Output string `json:"output,omitempty"` // its last lines
}

// prober is one run in progress.
type prober struct {
	o     Options
	start time.Time
	// stop is closed when the clients must stop starting operations.
	stop     chan struct{}
	stopOnce sync.Once
	deadline time.Time
	left     atomic.Int64 // operations left under --ops
	regSeq   atomic.Uint64
	listSeq  [listKeys]atomic.Uint64
	logMu    sync.Mutex
}

func (p *prober) now() int64 { return int64(time.Since(p.start)) }

func (p *prober) logf(format string, args ...any) {
	if p.o.Log == nil {
		return
	}
	p.logMu.Lock()
	defer p.logMu.Unlock()
	fmt.Fprintf(p.o.Log, "probe: %7.3fs "+format+"\n", append([]any{time.Since(p.start).Seconds()}, args...)...)
}

func (p *prober) halt() { p.stopOnce.Do(func() { close(p.stop) }) }

// claim reports whether the client may start another operation.
func (p *prober) claim() bool {
	select {
	case <-p.stop:
		return false
	default:
	}
	if p.o.Duration > 0 && time.Now().After(p.deadline) {
		p.halt()
		return false
	}
	if p.o.Ops > 0 && p.left.Add(-1) < 0 {
		p.halt()
		return false
	}
	return true
}

// Run runs one probe: it prepares the tables, runs the clients and the
// faults, reads the tables at the end and judges the histories. An error
// means the probe could not be judged (bad options, the server never
// reachable); a verdict of failure is in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	p := &prober{o: o, stop: make(chan struct{})}
	setupCtx, cancel := context.WithTimeout(ctx, setupMax)
	err := setupTables(setupCtx, o.Target, o.Workload)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("prepare the tables on %s: %w", o.RedactedTarget(), err)
	}
	p.start = time.Now()
	p.deadline = p.start.Add(o.Duration)
	p.left.Store(int64(o.Ops))
	p.logf("seed %d: %d clients, workload %s at %s", o.Seed, o.Clients, o.Workload, o.Isolation)

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	go func() {
		select {
		case <-runCtx.Done():
			p.halt()
		case <-p.stop:
		}
	}()
	clients := make([]*client, o.Clients)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = newClient(p, i)
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			c.run(runCtx)
		}(clients[i])
	}
	var faults []Fault
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		if o.FaultCmd != "" {
			faults = p.injectFaults(runCtx)
		}
	}()
	wg.Wait()
	p.halt()
	<-faultDone
	end := p.now()
	p.logf("clients done; final read")

	res := &Result{Options: o, Faults: faults, WallNS: end}
	for _, c := range clients {
		res.add(c)
	}
	res.sortHistories()
	// The final read happens even after an interrupt: the histories so
	// far deserve their verdict.
	finalCtx, cancelFinal := context.WithTimeout(context.WithoutCancel(ctx), reconnectMax)
	defer cancelFinal()
	final, err := readFinal(finalCtx, o.Target, o.Workload)
	if err != nil {
		return res, fmt.Errorf("the final read on %s: %w", o.RedactedTarget(), err)
	}
	res.check(final, p.now())
	return res, nil
}

// injectFaults runs the fault command at seeded moments until the clients
// stop, one run at a time.
func (p *prober) injectFaults(ctx context.Context) []Fault {
	rng := rand.New(rand.NewPCG(p.o.Seed, faultStream))
	var out []Fault
	for {
		wait := time.Duration(float64(p.o.FaultEvery) * (0.5 + rng.Float64()))
		t := time.NewTimer(wait)
		select {
		case <-p.stop:
			t.Stop()
			return out
		case <-t.C:
		}
		f := Fault{Start: p.now()}
		p.logf("fault: %s", p.o.FaultCmd)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), faultCmdTimeout)
		b, err := exec.CommandContext(cctx, "sh", "-c", p.o.FaultCmd).CombinedOutput()
		cancel()
		f.End = p.now()
		f.Output = tail(string(b), 3)
		if err != nil {
			f.Err = err.Error()
			p.logf("fault command failed: %v: %s", err, f.Output)
		}
		out = append(out, f)
	}
}

// tail keeps the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
