package linearizability

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRegisters100k measures checking a valid history the size of a
// long run: 100k operations over 100 keys from 10 clients whose operations
// overlap, with a few failed and unknown outcomes. The goal is under a second
// on one core (-cpu 1); porcupine checks keys in parallel goroutines, so more
// cores help.
func BenchmarkRegisters100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(42, 100))
	ops := regGenHistory(regGenParams{
		clients: 10, keys: 100, ops: 100_000, values: 1000,
		unknownPct: 0, failedPct: 1, gap: 1000, span: 2000,
	}, rng.IntN)
	b.ResetTimer()
	for b.Loop() {
		if res := CheckRegisters(ops, 0); res.Verdict != VerdictOK {
			b.Fatalf("verdict %q: %s", res.Verdict, res.Explanation)
		}
	}
}

// BenchmarkRegisters100kUnknown is BenchmarkRegisters100k with 0.1% of the
// operations' outcomes unknown, as after crashes: each unknown write stays
// pending to the end of its key's history, which widens the search.
func BenchmarkRegisters100kUnknown(b *testing.B) {
	rng := rand.New(rand.NewPCG(42, 100))
	ops := regGenHistory(regGenParams{
		clients: 10, keys: 100, ops: 100_000, values: 1000,
		unknownPct: 0, failedPct: 1, gap: 1000, span: 2000,
	}, rng.IntN)
	// Make every thousandth operation's outcome unknown. (regGenParams
	// counts in percent, which is too coarse.)
	for i := range ops {
		if i%1000 == 999 && ops[i].Outcome == OK {
			ops[i].Outcome = Unknown
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if res := CheckRegisters(ops, 0); res.Verdict != VerdictOK {
			b.Fatalf("verdict %q: %s", res.Verdict, res.Explanation)
		}
	}
}
