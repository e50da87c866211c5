package mutation

import "fmt"

// The RIP model of mutation analysis (reach, infect, propagate; Offutt,
// Voas): a mutant is killed only when a run reaches the mutated code, the
// mutation infects the run's state (it behaves differently from the
// unmutated engine), and the difference propagates to something a checker
// judges wrong. pgdst's runs are deterministic and each has a trace hash
// (scheduling decisions, env calls, injection points, the engine's semantic
// events), so "infected" is measured exactly: the mutant's run of a seed
// traced differently from the unmutated engine's run of that seed. That
// sorts the survivors:
//
//   - no run infected: the mutant is equivalent, or the workload never
//     reaches the mutated code with a state where it matters (a coverage
//     gap: more variety is what would kill it);
//   - runs infected, none judged wrong: the engine behaved differently
//     and the difference never reached a verdict: no checker looks there
//     (a checker gap), or the failure needs a later step the workload
//     never takes (a crash in the window, a page written before a flush),
//     or the change preserves behaviour (a different but still total
//     lock order).
//
// The trace holds the mutated code's own events too: a mutant that drops
// an fsync or a lock acquisition infects every run that reaches it, so
// for such mutants the count measures reach. A killed mutant has at least
// one infected run: its failing seed. Infection below the trace (a byte
// of a page that no later event depends on) is not counted, and needs no
// counting: it cannot fail a run either.

// Infection compares two campaigns' trace hashes by run index (entry i is
// the run of seed start + i; "" is a run the campaign did not hold):
// compared are the indices both ran, infected those whose hashes differ,
// first the smallest infected index (-1 when none).
func Infection(base, mut []string) (compared, infected, first int) {
	first = -1
	for i := 0; i < min(len(base), len(mut)); i++ {
		if base[i] == "" || mut[i] == "" {
			continue
		}
		compared++
		if base[i] != mut[i] {
			infected++
			if first < 0 {
				first = i
			}
		}
	}
	return compared, infected, first
}

// CompareWithBaseline sets r's infection counts from its trace hashes and
// the baseline's. With no baseline (nil), or no hashes on either side, or
// campaigns that began at different seeds, nothing is compared and
// r.Compared stays 0 (the table's "-").
func CompareWithBaseline(r *Result, base *Result) {
	r.Compared, r.Infected, r.FirstInfectedSeed = 0, 0, 0
	if base == nil || r.Mutant == base.Mutant || base.TraceStart != r.TraceStart {
		return
	}
	compared, infected, first := Infection(base.Traces, r.Traces)
	r.Compared, r.Infected = compared, infected
	if first >= 0 {
		r.FirstInfectedSeed = r.TraceStart + uint64(first)
	}
}

// Infected renders a result's infection for the table: "-" when not
// compared, else "infected/compared" and the first infected seed.
func (r Result) InfectedString() string {
	if r.Compared == 0 {
		return "-"
	}
	if r.Infected == 0 {
		return fmt.Sprintf("0/%d", r.Compared)
	}
	return fmt.Sprintf("%d/%d from seed %d", r.Infected, r.Compared, r.FirstInfectedSeed)
}

// RIP is what a judged mutant's infection says, in a phrase ("" when there
// is nothing to say: not compared, or not judged).
func (r Result) RIP() string {
	if r.Compared == 0 {
		return ""
	}
	switch {
	case r.Verdict == Killed && r.Infected == 0:
		// A failing seed must trace differently from the baseline's
		// passing run of it: the comparison itself is broken.
		return "KILLED WITHOUT AN INFECTED RUN: the trace hashes do not compare the same seeds, or miss what the checker saw"
	case r.Verdict == Killed:
		return "infected and propagated to a checker"
	case r.Verdict != Survived:
		return ""
	case r.Infected == 0:
		return "no run infected: equivalent, or out of the workload's reach (a coverage gap)"
	default:
		return "runs infected, none judged wrong: the change did not propagate to a verdict (a checker gap, or a later step the workload never takes) or preserves behaviour"
	}
}
