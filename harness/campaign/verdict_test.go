package campaign

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSummaryEndsWithVerdict: the summary's last line is PASS, FAIL or
// INCOMPLETE, agreeing with the counts, and a failing one names the first
// failing seed and what to run next.
func TestSummaryEndsWithVerdict(t *testing.T) {
	last := func(rep *Report) string {
		var b bytes.Buffer
		printVerdict(&b, rep)
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		require.Len(t, lines, 1)
		return lines[0]
	}
	pass := &Report{Totals: Totals{Planned: 5, Runs: 5}}
	require.Equal(t, "PASS: 5 seeds, no check failed.", last(pass))
	pass.BlindSpots = []string{"archiver-after-copy"}
	require.Contains(t, last(pass), "Blind spots are not failures")

	fail := &Report{Totals: Totals{Planned: 5, Runs: 5, Failed: 2}, FailingSeeds: []FailingSeed{{Seed: 3, Checker: "durability"}}}
	got := last(fail)
	require.True(t, strings.HasPrefix(got, "FAIL: 2 of 5 seeds failed (first: seed 3, durability)."), got)
	require.Contains(t, got, "pgdst shrink DIR/seed-3.repro.json")
	require.Contains(t, got, "pgdst explain DIR/seed-3.repro.json")

	cut := &Report{Totals: Totals{Planned: 5, Runs: 2}, Interrupted: true}
	require.Equal(t, "INCOMPLETE: 2 of 5 seeds ran, none failed.", last(cut))
}
