package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pgdst/pgdst/harness/repro"
	lin "github.com/pgdst/pgdst/linearizability"
)

// Format is the probe JSON format's version.
const Format = 1

// Report is a probe's results as data: --json writes it, and --artifacts
// writes it as probe.json beside the history and, when the registers were
// found not linearizable, porcupine's page.
type Report struct {
	Format int    `json:"format"`
	Build  string `json:"build"`
	Params Params `json:"params"`
	// Verdict is "pass" or "fail"; Checker names the first failing
	// check.
	Verdict string  `json:"verdict"`
	Checker string  `json:"checker,omitempty"`
	Checks  []Check `json:"checks"`
	Totals  Totals  `json:"totals"`
	Faults  []Fault `json:"faults"`
	// Errors are the errors clients saw, by severity and SQLSTATE
	// ("ERROR 40001"), or "connection" and "timeout".
	Errors map[string]int `json:"errors"`
	// Reproduce is the command line of this probe: the seed repeats the
	// clients' choices, not the machine's timing.
	Reproduce string `json:"reproduce_command"`
}

// Params are the probe's options as given (the password left out).
type Params struct {
	Target     string `json:"target"`
	Workload   string `json:"workload"`
	Isolation  string `json:"isolation"`
	Clients    int    `json:"clients"`
	Duration   string `json:"duration,omitempty"`
	Ops        int    `json:"ops,omitempty"`
	Seed       uint64 `json:"seed"`
	FaultCmd   string `json:"fault_cmd,omitempty"`
	FaultEvery string `json:"fault_every,omitempty"`
	OpTimeout  string `json:"op_timeout"`
	Unsafe     string `json:"unsafe,omitempty"`
}

// Totals count the histories.
type Totals struct {
	WallNS        int64 `json:"wall_ns"`
	RegisterOps   int   `json:"register_ops"`
	ListTxns      int   `json:"list_txns"`
	BankTxns      int   `json:"bank_txns"`
	BankReads     int   `json:"bank_reads"`
	Unknown       int   `json:"unknown"` // operations and transactions of unknown outcome
	ClientsGaveUp int   `json:"clients_gave_up"`
}

// History is what history.json holds: the recorded histories, final reads
// included, in the types the checkers take.
type History struct {
	Registers []lin.RegOp    `json:"registers"`
	Lists     []lin.Txn      `json:"lists"`
	BankReads []lin.BankRead `json:"bank_reads"`
	Faults    []Fault        `json:"faults"`
}

// Report makes the result's report.
func (r *Result) Report() *Report {
	o := r.Options
	p := Params{Target: o.RedactedTarget(), Workload: o.Workload, Isolation: o.Isolation, Clients: o.Clients, Ops: o.Ops, Seed: o.Seed,
		FaultCmd: o.FaultCmd, OpTimeout: o.OpTimeout.String(), Unsafe: o.Unsafe}
	if o.Duration > 0 {
		p.Duration = o.Duration.String()
	}
	if o.FaultCmd != "" {
		p.FaultEvery = o.FaultEvery.String()
	}
	rep := &Report{Format: Format, Build: repro.BuildID(), Params: p, Verdict: "pass", Checker: r.Checker(), Checks: r.Checks,
		Faults: r.Faults, Errors: r.Errors, Reproduce: o.Command()}
	if rep.Checker != "" {
		rep.Verdict = "fail"
	}
	if rep.Faults == nil {
		rep.Faults = []Fault{}
	}
	t := &rep.Totals
	t.WallNS, t.BankReads, t.ClientsGaveUp = r.WallNS, len(r.BankReads), r.GaveUp
	t.BankTxns = r.BankTxns[lin.OK] + r.BankTxns[lin.Failed] + r.BankTxns[lin.Unknown]
	t.Unknown = r.BankTxns[lin.Unknown]
	for _, op := range r.Registers {
		if op.Client != lin.FinalReader {
			t.RegisterOps++
			if op.Outcome == lin.Unknown {
				t.Unknown++
			}
		}
	}
	for _, tx := range r.Lists {
		if tx.Client != lin.FinalReader {
			t.ListTxns++
			if tx.Outcome == lin.Unknown {
				t.Unknown++
			}
		}
	}
	return rep
}

// Command is the pgdst probe command line of o (the target redacted).
func (o *Options) Command() string {
	w := []string{"pgdst", "probe", "--target", shellQuote(o.RedactedTarget()), "--workload", o.Workload, "--isolation", o.Isolation,
		"--clients", fmt.Sprint(o.Clients), "--seed", fmt.Sprint(o.Seed)}
	if o.Duration > 0 {
		w = append(w, "--duration", o.Duration.String())
	}
	if o.Ops > 0 {
		w = append(w, "--ops", fmt.Sprint(o.Ops))
	}
	if o.FaultCmd != "" {
		w = append(w, "--fault-cmd", shellQuote(o.FaultCmd), "--fault-every", o.FaultEvery.String())
	}
	if o.OpTimeout != DefaultOpTimeout {
		w = append(w, "--op-timeout", o.OpTimeout.String())
	}
	if o.Unsafe != "" {
		w = append(w, "--unsafe", o.Unsafe)
	}
	return strings.Join(w, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// WriteJSON writes the report to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteArtifacts writes probe.json, history.json and, when the registers
// were found not linearizable, porcupine.html (the faults drawn as crash
// marks) to dir, and returns the paths written.
func (r *Result) WriteArtifacts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var wrote []string
	p := filepath.Join(dir, "probe.json")
	if err := r.Report().WriteJSON(p); err != nil {
		return wrote, err
	}
	wrote = append(wrote, p)
	h := History{Registers: r.Registers, Lists: r.Lists, BankReads: r.BankReads, Faults: r.Faults}
	b, err := json.Marshal(h)
	if err != nil {
		return wrote, err
	}
	p = filepath.Join(dir, "history.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return wrote, err
	}
	wrote = append(wrote, p)
	if l := r.Linearizability; l != nil && l.Verdict == lin.VerdictIllegal {
		var marks []lin.PageMark
		for _, f := range r.Faults {
			marks = append(marks, lin.PageMark{Start: f.Start, End: f.End, Label: "fault", Details: r.Options.FaultCmd, Crash: true})
		}
		p = filepath.Join(dir, "porcupine.html")
		if err := l.WriteVisualizationMarked(p, marks); err != nil {
			return wrote, err
		}
		wrote = append(wrote, p)
	}
	return wrote, nil
}

// Print writes the human summary: one line per check, the failures and
// allowed findings under it, and the verdict.
func (r *Result) Print(w io.Writer) {
	rep := r.Report()
	t := rep.Totals
	fmt.Fprintf(w, "probe: seed %d, %s, workload %s at %s, %d clients, %v: %d register ops, %d list-append txns, %d bank txns (%d unknown outcomes); %d faults\n",
		r.Options.Seed, rep.Params.Target, r.Options.Workload, r.Options.Isolation, r.Options.Clients, time.Duration(r.WallNS).Round(time.Millisecond),
		t.RegisterOps, t.ListTxns, t.BankTxns, t.Unknown, len(r.Faults))
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s x%d", k, r.Errors[k])
		}
		fmt.Fprintf(w, "  errors seen (aborts and lost connections; 40001 and 40P01 are the level's aborts): %s\n", strings.Join(parts, ", "))
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-16s %-7s %s\n", c.Name, c.Verdict, c.Summary)
		for _, f := range c.Failures {
			fmt.Fprintf(w, "    %s\n", f)
		}
		for _, a := range c.Allowed {
			fmt.Fprintf(w, "    allowed at %s: %s\n", r.Options.Isolation, a)
		}
	}
	if rep.Checker != "" {
		fmt.Fprintf(w, "FAIL: %s (seed %d)\n", rep.Checker, r.Options.Seed)
	} else {
		fmt.Fprintf(w, "PASS (seed %d)\n", r.Options.Seed)
	}
}
