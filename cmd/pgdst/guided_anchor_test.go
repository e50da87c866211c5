package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGuidedAnchorIsDeterministic: a guided campaign with anchored runs
// (--guided-anchor) gives the same report on one worker and on three, it
// records the share in its parameters, and its anchored runs are there;
// without the flag the campaign is the one before anchored runs existed,
// and the flag without --guided is refused.
func TestGuidedAnchorIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	var reps []string
	for i, jobs := range []string{"1", "3"} {
		path := filepath.Join(dir, "a"+jobs+".json")
		code, out, errOut := runCLI("campaign", "--guided", "--guided-anchor", "50", "--seeds", "64", "--start", "3", "--jobs", jobs, "--json", path)
		require.Equal(t, 0, code, out+errOut)
		rep := guidedReport(t, path)
		require.Equal(t, 50, rep.Params.GuidedAnchor)
		anchored := 0
		for k, v := range rep.Guided.Mutations {
			if strings.HasPrefix(k, "anchor-") {
				anchored += v
			}
		}
		require.Positive(t, anchored, "run %d: some derived runs are anchored: %v", i, rep.Guided.Mutations)
		b, err := json.Marshal(rep)
		require.NoError(t, err)
		reps = append(reps, string(b))
	}
	require.Equal(t, reps[0], reps[1], "--jobs 1 and --jobs 3")

	path := filepath.Join(dir, "none.json")
	code, out, errOut := runCLI("campaign", "--guided", "--seeds", "64", "--start", "3", "--jobs", "1", "--json", path)
	require.Equal(t, 0, code, out+errOut)
	for k := range guidedReport(t, path).Guided.Mutations {
		require.False(t, strings.HasPrefix(k, "anchor-"), "no anchored run without --guided-anchor: %s", k)
	}

	code, _, errOut = runCLI("campaign", "--guided-anchor", "50", "--seeds", "4")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "add --guided")
}
