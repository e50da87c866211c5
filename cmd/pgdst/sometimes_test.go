package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestCampaignRequireCoverage: a short default campaign reaches some
// sometimes conditions but not all (no orphan file of a crashed CREATE
// TABLE in it). Without
// --require-coverage it passes and its summary names the unreached ones;
// with it, the same campaign exits 1 with the list; 'pgdst points
// --campaign' shows the runs per condition and the same blind spots, and
// 'pgdst points' alone lists every condition with its meaning.
func TestCampaignRequireCoverage(t *testing.T) {
	campaignGC(t)
	jsonPath := filepath.Join(t.TempDir(), "c.json")
	code, out, errOut := runCLI("campaign", "--seeds", "4", "--jobs", "1", "--json", jsonPath)
	require.Equal(t, 0, code, out, errOut)
	rep := mustReadCampaign(t, jsonPath)
	require.Len(t, rep.Sometimes, len(env.Conditions))
	require.Contains(t, rep.SometimesBlindSpots, "create-skipped-orphan-file")
	require.Less(t, len(rep.SometimesBlindSpots), len(env.Conditions), "some condition is reached")
	blind := strings.Join(rep.SometimesBlindSpots, ", ")
	require.Contains(t, out, "blind spots (sometimes): "+blind+"\n")

	code, out, errOut = runCLI("campaign", "--seeds", "4", "--jobs", "1", "--require-coverage")
	require.Equal(t, 1, code, out)
	require.Contains(t, errOut, fmt.Sprintf("--require-coverage: %d of %d sometimes conditions never reached: %s",
		len(rep.SometimesBlindSpots), len(env.Conditions), blind))

	// A sharded campaign is judged once merged.
	code, out, errOut = runCLI("merge", jsonPath, "--require-coverage")
	require.Equal(t, 1, code, out)
	require.Contains(t, errOut, "pgdst merge: --require-coverage: "+fmt.Sprint(len(rep.SometimesBlindSpots)))
	code, _, _ = runCLI("merge", jsonPath)
	require.Equal(t, 0, code)

	code, out, _ = runCLI("points", "--campaign", jsonPath)
	require.Equal(t, 0, code, out)
	for _, s := range rep.Sometimes {
		require.Regexp(t, fmt.Sprintf(`(?m)^%s\s+%d$`, regexp.QuoteMeta(s.Name), s.Runs), out)
	}
	require.Contains(t, out, fmt.Sprintf("blind spots (sometimes, %d of %d never reached): %s", len(rep.SometimesBlindSpots), len(env.Conditions), blind))

	code, out, _ = runCLI("points")
	require.Equal(t, 0, code, out)
	for _, c := range env.Conditions {
		require.Regexp(t, fmt.Sprintf(`(?m)^%s\s+%s$`, regexp.QuoteMeta(c.Name), regexp.QuoteMeta(c.What)), out)
	}
}
