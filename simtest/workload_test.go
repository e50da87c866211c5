package simtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkloadsPassAndRecordRealHistories: every workload at every
// isolation level passes its checkers on the same seeds, and the histories
// they judged are real ones — operations of every kind, unknown outcomes
// from crashes, serialization failures under REPEATABLE READ, and, in the
// list-append histories, anomalies that the level allows (so the checker
// saw genuine concurrency, not a serial trickle).
func TestWorkloadsPassAndRecordRealHistories(t *testing.T) {
	const seeds = 40
	for _, wl := range []string{WorkloadRegister, WorkloadBank, WorkloadAppend, WorkloadMixed} {
		for _, iso := range Isolations {
			t.Run(fmt.Sprintf("%s/%s", wl, iso), func(t *testing.T) {
				var regs, lists, reads, unknown, failed, allowed int
				for _, r := range runSeeds(seeds, func(seed uint64) Config {
					c := DefaultConfig(seed)
					c.Workload, c.Isolation = wl, iso
					return c
				}) {
					require.True(t, r.OK, "seed %d:\n%s", r.Seed, r.Summary())
					h := r.History
					regs += len(h.Registers)
					lists += len(h.Lists)
					reads += len(h.BankReads)
					for _, op := range h.Registers {
						if op.Outcome == Unknown {
							unknown++
						}
					}
					for _, txn := range h.Lists {
						switch txn.Outcome {
						case Unknown:
							unknown++
						case Failed:
							failed++
						}
					}
					if r.Isolation != nil {
						allowed += len(r.Isolation.Findings)
					}
				}
				t.Logf("%d register ops, %d list-append txns (%d failed), %d bank reads, %d unknown outcomes, %d allowed anomalies",
					regs, lists, failed, reads, unknown, allowed)
				switch wl {
				case WorkloadRegister:
					require.Greater(t, regs, seeds*20)
				case WorkloadBank:
					// SERIALIZABLE aborts more transfers and reads
					// (40001 on rw-conflicts), so fewer reads commit.
					min := seeds * 5
					if iso == IsoSerializable {
						min = seeds * 4
					}
					require.Greater(t, reads, min)
				case WorkloadAppend:
					require.Greater(t, lists, seeds*20)
					require.Positive(t, failed, "no list-append transaction failed or was rolled back")
				case WorkloadMixed:
					require.Positive(t, regs)
					require.Positive(t, lists)
					require.Positive(t, reads)
				}
				if wl != WorkloadBank {
					require.Positive(t, unknown, "no crash ever left an operation unknown")
				}
			})
		}
	}
}
