package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/harness/campaign"
)

// guidedReport reads a guided campaign's JSON with the figures that
// depend on the machine (wall and CPU times, workers, rate) zeroed.
func guidedReport(t *testing.T, path string) campaign.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var rep campaign.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	rep.Totals.WallNS, rep.Totals.Workers, rep.Totals.SeedsPerSec = 0, 0, 0
	for i := range rep.FailingSeeds {
		rep.FailingSeeds[i].WallNS, rep.FailingSeeds[i].CPUNS = 0, 0
	}
	return rep
}

// TestGuidedCampaignIsDeterministic: the same guided campaign twice, on
// one worker and on three, gives the same report: the same runs derived,
// the same corpus, the same failing runs with the same trace hashes.
func TestGuidedCampaignIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	var reps []campaign.Report
	for i, jobs := range []string{"1", "3", "1"} {
		path := filepath.Join(dir, "c"+jobs+"-"+string(rune('a'+i))+".json")
		code, out, errOut := runCLI("campaign", "--guided", "--seeds", "56", "--start", "7", "--jobs", jobs, "--bug", "ack-before-flush", "--json", path)
		require.Equal(t, 1, code, out+errOut)
		require.Contains(t, out, "campaign: guided, 56 runs")
		require.Contains(t, out, "guided:         corpus ")
		reps = append(reps, guidedReport(t, path))
	}
	require.NotNil(t, reps[0].Guided)
	require.Positive(t, reps[0].Guided.Derived, "after the first generation most runs are derived")
	require.Positive(t, reps[0].Guided.Corpus)
	require.True(t, reps[0].Params.Guided)
	require.Equal(t, reps[0], reps[1], "--jobs 1 and --jobs 3")
	require.Equal(t, reps[0], reps[2], "the same flags twice")
}

// TestGuidedDerivedFailureReproduces: a failing run the guided campaign
// derived from its corpus is written as a repro file like any failing
// seed, and both its reproduce command and 'pgdst replay' of the file
// give its failure and trace hash exactly.
func TestGuidedDerivedFailureReproduces(t *testing.T) {
	dir := t.TempDir()
	art := filepath.Join(dir, "art")
	jsonPath := filepath.Join(dir, "c.json")
	code, out, errOut := runCLI("campaign", "--guided", "--seeds", "48", "--jobs", "2", "--bug", "ack-before-flush", "--artifacts", art, "--json", jsonPath)
	require.Equal(t, 1, code, out+errOut)
	rep := guidedReport(t, jsonPath)
	var derived *campaign.FailingSeed
	for i, f := range rep.FailingSeeds {
		if f.Derived {
			derived = &rep.FailingSeeds[i]
			break
		}
	}
	require.NotNil(t, derived, "some derived run fails under ack-before-flush")
	require.Positive(t, rep.Guided.DerivedFailed)
	require.NotEmpty(t, derived.ReproFile)
	require.Contains(t, out, "reproduce: "+derived.Repro+"\n")

	code, ran, errOut := runCLI(shellFields(strings.TrimPrefix(derived.Repro, "go run ./cmd/pgdst "))...)
	require.Equal(t, 1, code, ran+errOut)
	require.Equal(t, "seed="+itoa(derived.Seed)+" verdict=fail trace="+derived.Trace, lastLine(ran), derived.Repro)
	code, replayed, errOut := runCLI("replay", derived.ReproFile)
	require.Equal(t, 0, code, replayed+errOut)
	require.Contains(t, replayed, "identical")
	require.Equal(t, lastLine(ran), lastLine(replayed))
}

// TestGuidedRefusesSystematic: --guided explores from seeds, --systematic
// enumerates plans on one seed.
func TestGuidedRefusesSystematic(t *testing.T) {
	code, _, errOut := runCLI("campaign", "--guided", "--systematic", "1")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--guided")
}
