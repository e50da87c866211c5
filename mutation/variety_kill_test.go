package mutation

import (
	"context"
	"path/filepath"
	"testing"
)

// End to end, the workload variety's checkers against the mutants they
// were built for: the plain campaign (no flag) kills a redo that skips
// heap deletes through the register deletes' final reads (linearizability),
// and a _bt_check_unique that does not wait for an in-progress inserter
// through the unique checker, each within a few seeds (docs/mutants.md).
func TestPlainCampaignKillsVarietyMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pgdst three times and runs three campaigns")
	}
	ms, err := Load(filepath.Join(root, "testdata", "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		seeds   uint64
		checker string
	}{
		{"redo-skips-heap-delete", 8, "linearizability"},
		{"nbtree-unique-no-wait", 20, "unique"},
		// The range statements (one seed in 40) against a scan that
		// reads its own command's rows: first at seed 78.
		{"vis-own-insert-same-command", 120, "statement-effect"},
	} {
		var m *Mutant
		for _, x := range ms {
			if x.Matches(tc.name) {
				m = x
			}
		}
		if m == nil {
			t.Fatalf("no mutant %s", tc.name)
		}
		r := Run(context.Background(), m, Options{Root: root, Seeds: tc.seeds, Jobs: 1})
		if r.Verdict != Killed || r.Checker != tc.checker {
			t.Errorf("%s: verdict %s by %q (%s), want killed by %s within %d seeds", tc.name, r.Verdict, r.Checker, r.Detail, tc.checker, tc.seeds)
		}
	}
}
