package probe

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
)

// Verdicts of one check.
const (
	VerdictOK      = "ok"
	VerdictFailed  = "failed"
	VerdictUnknown = "unknown" // porcupine gave up: not a failure, not a pass
)

// maxCheckFailures bounds the failure lines kept per check.
const maxCheckFailures = 10

// Check is one checker's verdict.
type Check struct {
	Name     string   `json:"name"` // simtest's checker names
	Verdict  string   `json:"verdict"`
	Summary  string   `json:"summary"`
	Failures []string `json:"failures,omitempty"`
	// Allowed are findings the level allows (REPEATABLE READ's write
	// skew, G2-item): reported, not failures.
	Allowed []string `json:"allowed,omitempty"`
}

// Result is a judged probe.
type Result struct {
	Options   Options
	WallNS    int64
	Faults    []Fault
	Registers []lin.RegOp
	Lists     []lin.Txn
	BankReads []lin.BankRead
	BankTxns  [3]int         // by lin.Outcome
	Errors    map[string]int // errors the clients saw, by severity and SQLSTATE, or kind
	GaveUp    int            // clients that stopped reconnecting

	Linearizability *lin.LinResult
	Isolation       *lin.IsolationResult
	Bank            *lin.BankResult
	Checks          []Check
}

// OK reports whether no check failed.
func (r *Result) OK() bool { return r.Checker() == "" }

// Checker is the first failing check's name, "" when none failed.
func (r *Result) Checker() string {
	for _, c := range r.Checks {
		if c.Verdict == VerdictFailed {
			return c.Name
		}
	}
	return ""
}

func (r *Result) add(c *client) {
	r.Registers = append(r.Registers, c.regs...)
	r.Lists = append(r.Lists, c.lists...)
	r.BankReads = append(r.BankReads, c.bankReads...)
	for i, n := range c.bankTxns {
		r.BankTxns[i] += n
	}
	if r.Errors == nil {
		r.Errors = map[string]int{}
	}
	for k, n := range c.errs {
		r.Errors[k] += n
	}
	if c.gaveUp {
		r.GaveUp++
	}
}

// sortHistories puts each history in call order, as the simulator's
// are, and numbers the transactions (Txn.ID is the index).
func (r *Result) sortHistories() {
	slices.SortStableFunc(r.Registers, func(a, b lin.RegOp) int { return cmp.Compare(a.Call, b.Call) })
	slices.SortStableFunc(r.Lists, func(a, b lin.Txn) int { return cmp.Compare(a.Call, b.Call) })
	slices.SortStableFunc(r.BankReads, func(a, b lin.BankRead) int { return cmp.Compare(a.Call, b.Call) })
	for i := range r.Lists {
		r.Lists[i].ID = i
	}
}

// uses reports whether the probe's workload draws kind.
func uses(workload, kind string) bool {
	return workload == kind || workload == simtest.WorkloadMixed
}

// tableSpec is one table of a workload: its DDL and opening rows.
type tableSpec struct {
	kind, name, ddl, rows string
}

func tableSpecs(workload string) []tableSpec {
	values := func(n int, v string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("(%d, %s)", i, v)
		}
		return strings.Join(s, ", ")
	}
	all := []tableSpec{
		{simtest.WorkloadRegister, tableRegister, "(k int PRIMARY KEY, v bigint NOT NULL)", "(k, v) VALUES " + values(registerKeys, "0")},
		{simtest.WorkloadBank, tableBank, "(k int PRIMARY KEY, balance bigint NOT NULL)", "(k, balance) VALUES " + values(bankAccounts, fmt.Sprint(bankBalance))},
		{simtest.WorkloadAppend, tableLists, "(k int PRIMARY KEY, v text NOT NULL)", "(k, v) VALUES " + values(listKeys, "''")},
	}
	var out []tableSpec
	for _, t := range all {
		if uses(workload, t.kind) {
			out = append(out, t)
		}
	}
	return out
}

// connectRetry connects, retrying with backoff until ctx ends: the server
// may be starting, or restarting after the last fault.
func connectRetry(ctx context.Context, target string) (*pgx.Conn, error) {
	backoff := backoffMin
	for {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		conn, err := pgx.Connect(cctx, target)
		cancel()
		if err == nil {
			return conn, nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// setupTables creates the workload's tables if they do not exist and
// resets their rows to the opening ones, in one transaction per table.
func setupTables(ctx context.Context, target, workload string) error {
	conn, err := connectRetry(ctx, target)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, t := range tableSpecs(workload) {
		if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+t.name+" "+t.ddl); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
		for _, sql := range []string{"BEGIN", "DELETE FROM " + t.name, "INSERT INTO " + t.name + " " + t.rows, "COMMIT"} {
			if _, err := conn.Exec(ctx, sql); err != nil {
				return fmt.Errorf("reset %s: %s: %w", t.name, sql, err)
			}
		}
	}
	return nil
}

// finalState is what the tables hold after the run.
type finalState struct {
	registers map[uint64]uint64
	bank      map[uint64]int64
	lists     map[uint64][]uint64
	dups      []string // keys a table showed twice
}

// readFinal reads every workload table once the clients and the faults
// are done, waiting for the server to come back if a fault left it
// restarting.
func readFinal(ctx context.Context, target, workload string) (*finalState, error) {
	conn, err := connectRetry(ctx, target)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	f := &finalState{registers: map[uint64]uint64{}, bank: map[uint64]int64{}, lists: map[uint64][]uint64{}}
	for _, t := range tableSpecs(workload) {
		rows, err := conn.Query(ctx, "SELECT * FROM "+t.name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		seen := map[uint64]bool{}
		for rows.Next() {
			var k int64
			var key uint64
			switch t.kind {
			case simtest.WorkloadRegister:
				var v int64
				err = rows.Scan(&k, &v)
				key = uint64(k)
				f.registers[key] = uint64(v)
			case simtest.WorkloadBank:
				var b int64
				err = rows.Scan(&k, &b)
				key = uint64(k)
				f.bank[key] = b
			default:
				var s string
				err = rows.Scan(&k, &s)
				key = uint64(k)
				f.lists[key] = decodeList(s)
			}
			if err != nil {
				break
			}
			if seen[key] {
				f.dups = append(f.dups, fmt.Sprintf("%s shows key %d twice", t.name, key))
			}
			seen[key] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
	}
	return f, nil
}

// level is the isolation checker's level for the probe's.
func level(iso string) lin.Level {
	switch iso {
	case simtest.IsoRepeatableRead:
		return lin.RepeatableRead
	case simtest.IsoSerializable:
		return lin.Serializable
	}
	return lin.ReadCommitted
}

// check adds the final reads to the histories (after every other
// operation in real time: at is later than every return) and runs the
// checkers of the workload's kinds.
func (r *Result) check(f *finalState, at int64) {
	w := r.Options.Workload
	if len(f.dups) > 0 {
		r.Checks = append(r.Checks, Check{Name: simtest.CheckUnique, Verdict: VerdictFailed, Summary: "a key twice in the final read", Failures: f.dups})
	}
	if uses(w, simtest.WorkloadRegister) {
		r.checkRegisters(f, at)
	}
	if uses(w, simtest.WorkloadBank) {
		r.checkBank(f, at)
	}
	if uses(w, simtest.WorkloadAppend) {
		r.checkLists(f, at)
	}
}

func (r *Result) checkRegisters(f *finalState, at int64) {
	for k := uint64(0); k < registerKeys; k++ {
		v, ok := f.registers[k]
		if !ok {
			v = regNone
		}
		r.Registers = append(r.Registers, lin.RegOp{Client: lin.FinalReader, Call: at, Return: at + 1, Kind: lin.RegRead, Key: k, Result: v, Outcome: lin.OK})
	}
	res := lin.CheckRegistersNamed(r.Registers, porcupineTimeout, lin.Names{Value: simtest.RegisterValueName, Deletes: func(v uint64) bool { return v == regNone }})
	r.Linearizability = res
	c := Check{Name: simtest.CheckLinearizability, Verdict: VerdictOK}
	ok, failed, unknown := countOutcomes(r.Registers, func(o lin.RegOp) lin.Outcome { return o.Outcome })
	c.Summary = fmt.Sprintf("%d register operations (%d ok, %d failed, %d unknown), final reads included", len(r.Registers), ok, failed, unknown)
	switch res.Verdict {
	case lin.VerdictIllegal:
		c.Verdict = VerdictFailed
		c.Failures = []string{"the register history is not linearizable: " + res.Explanation}
	case lin.VerdictUnknown:
		c.Verdict = VerdictUnknown
		c.Summary += fmt.Sprintf("; porcupine gave up after %v", porcupineTimeout)
	}
	r.Checks = append(r.Checks, c)
}

func (r *Result) checkBank(f *finalState, at int64) {
	r.BankReads = append(r.BankReads, lin.BankRead{Client: lin.FinalReader, Call: at, Return: at + 1, Balances: f.bank})
	res := lin.CheckBank(r.BankReads, bankAccounts, bankTotal)
	r.Bank = res
	c := Check{Name: simtest.CheckBank, Verdict: VerdictOK,
		Summary: fmt.Sprintf("%d transactions (%d ok, %d failed, %d unknown); %d snapshot reads, final read included, must hold accounts 0..%d summing to %d",
			r.BankTxns[lin.OK]+r.BankTxns[lin.Failed]+r.BankTxns[lin.Unknown], r.BankTxns[lin.OK], r.BankTxns[lin.Failed], r.BankTxns[lin.Unknown], res.Reads, bankAccounts-1, bankTotal)}
	if !res.Valid() {
		c.Verdict = VerdictFailed
		c.Summary += fmt.Sprintf("; %d reads do not", res.Invalid)
		c.Failures = res.Violations
	}
	r.Checks = append(r.Checks, c)
}

// checkLists judges what the final read shows of each transaction's
// appends (every one of an acknowledged transaction, none of a failed
// one, all or none of an unknown one: durability and atomicity across the
// faults), then adds the final read to the history and runs the isolation
// checker at the probe's level.
func (r *Result) checkLists(f *finalState, at int64) {
	kept := map[[2]uint64]bool{}
	final := lin.Txn{ID: len(r.Lists), Client: lin.FinalReader, Call: at, Return: at + 1, Outcome: lin.OK}
	for k := uint64(0); k < listKeys; k++ {
		list, ok := f.lists[k]
		if !ok {
			continue // the isolation checker sees the missing list as an empty read
		}
		for _, v := range list {
			kept[[2]uint64{k, v}] = true
		}
		final.Mops = append(final.Mops, lin.Mop{Kind: lin.MopRead, Key: k, List: list})
	}
	dur := Check{Name: simtest.CheckDurability, Verdict: VerdictOK}
	atom := Check{Name: simtest.CheckAtomicity, Verdict: VerdictOK}
	for i := range r.Lists {
		t := &r.Lists[i]
		n, appends := t.AppendsKept(kept)
		switch {
		case t.Outcome == lin.OK && n != appends:
			dur.fail("acknowledged list-append %s: %d of %d appends missing from the final read", t, appends-n, appends)
		case t.Outcome == lin.Failed && n != 0:
			atom.fail("failed list-append %s: %d appends in the final read", t, n)
		case t.Outcome == lin.Unknown && n != 0 && n != appends:
			atom.fail("list-append %s of unknown outcome: %d of %d appends in the final read", t, n, appends)
		}
	}
	ok, failed, unknown := countOutcomes(r.Lists, func(t lin.Txn) lin.Outcome { return t.Outcome })
	dur.Summary = fmt.Sprintf("the appends of %d acknowledged list-append transactions in the final read", ok)
	atom.Summary = fmt.Sprintf("none of %d failed and all or none of %d unknown transactions' appends in the final read", failed, unknown)
	r.Checks = append(r.Checks, dur, atom)

	r.Lists = append(r.Lists, final)
	lv := level(r.Options.Isolation)
	res := lin.CheckIsolation(r.Lists, lv)
	r.Isolation = res
	c := Check{Name: simtest.CheckIsolation, Verdict: VerdictOK, Summary: res.Summary()}
	for _, fd := range res.Forbidden {
		c.fail("%s at %s: %s", fd.Anomaly, lv, fd.Explanation)
	}
	// One line per anomaly the level allows: how many, why, and the
	// first one in words.
	for _, a := range res.Anomalies() {
		if lv.Forbids(a) {
			continue
		}
		n, first := 0, ""
		for _, fd := range res.Findings {
			if fd.Anomaly == a {
				if n == 0 {
					first = fd.Explanation
				}
				n++
			}
		}
		why := ""
		switch {
		case a == lin.G2Item && lv == lin.RepeatableRead:
			why = ", allowed: REPEATABLE READ is snapshot isolation, which allows write skew"
		case lv == lin.ReadCommitted:
			why = ", allowed: READ COMMITTED takes a snapshot per statement"
		}
		c.Allowed = append(c.Allowed, fmt.Sprintf("%s (%d%s); the first: %s", a, n, why, first))
	}
	r.Checks = append(r.Checks, c)
}

func (c *Check) fail(format string, args ...any) {
	c.Verdict = VerdictFailed
	if len(c.Failures) < maxCheckFailures {
		c.Failures = append(c.Failures, fmt.Sprintf(format, args...))
	}
}

func countOutcomes[T any](xs []T, out func(T) lin.Outcome) (ok, failed, unknown int) {
	for _, x := range xs {
		switch out(x) {
		case lin.OK:
			ok++
		case lin.Failed:
			failed++
		default:
			unknown++
		}
	}
	return ok, failed, unknown
}
