package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/harness/campaign"
	"github.com/pgdst/pgdst/harness/repro"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// campaignGC runs the test at the campaign's GOGC, as the command does
// (tuneGC): at the default the collector runs every run or two.
func campaignGC(t *testing.T) {
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

func mustReadCampaign(t *testing.T, path string) *campaign.Report {
	t.Helper()
	rep, err := campaign.ReadReport(path)
	require.NoError(t, err)
	return rep
}

func mustReadJUnit(t *testing.T, path string) *campaign.JUnitSuites {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var j campaign.JUnitSuites
	require.NoError(t, xml.Unmarshal(b, &j), "%s", b)
	return &j
}

// directRuns runs seeds start..start+n-1 of cfg without the campaign, for
// the counts a campaign must report.
func directRuns(start, n uint64, bug string) (failed map[uint64]*simtest.Result, byChecker map[string]int, steps uint64, virtual time.Duration) {
	failed, byChecker = map[uint64]*simtest.Result{}, map[string]int{}
	for s := start; s < start+n; s++ {
		c := simtest.DefaultConfig(s)
		if bug != "" {
			c.Bugs, _ = bugs.ParseSet(bug)
		}
		r := simtest.Run(c)
		steps += r.Steps
		virtual += r.Virtual
		if !r.OK {
			failed[s] = r
			byChecker[r.Checker]++
		}
	}
	return failed, byChecker, steps, virtual
}

// TestCampaignJSONAndJUnitWithBug: a campaign with a planted bug writes
// JSON and JUnit that parse and agree with the seeds run one by one; CI
// sees each failing seed with its reproduce command.
func TestCampaignJSONAndJUnitWithBug(t *testing.T) {
	campaignGC(t)
	dir := t.TempDir()
	jsonPath, junitPath := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.xml")
	code, out, errOut := runCLI("campaign", "--seeds", "20", "--bug", "ack-before-flush", "--jobs", "2", "--json", jsonPath, "--junit", junitPath)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, out, "results:        "+jsonPath+", "+junitPath)

	failed, byChecker, steps, virtual := directRuns(1, 20, "ack-before-flush")
	require.NotEmpty(t, failed)
	rep := mustReadCampaign(t, jsonPath)
	require.Equal(t, campaign.Format, rep.Format)
	require.Equal(t, repro.BuildID(), rep.Build)
	require.Equal(t, uint64(1), rep.Params.Start)
	require.Equal(t, uint64(20), rep.Params.Seeds)
	require.Equal(t, 1, rep.Params.ShardCount)
	require.Equal(t, []int{0}, rep.Params.Shards)
	require.Equal(t, "--bug ack-before-flush", rep.Params.Flags)
	require.Equal(t, "ack-before-flush", rep.Params.Config.Bugs.String())
	require.Equal(t, 20, rep.Totals.Runs)
	require.Equal(t, uint64(20), rep.Totals.Planned)
	require.Equal(t, len(failed), rep.Totals.Failed)
	require.Equal(t, steps, rep.Totals.Steps)
	require.Equal(t, int64(virtual), rep.Totals.VirtualNS)
	require.Equal(t, 2, rep.Totals.Workers)
	require.Positive(t, rep.Totals.SeedsPerSec)
	require.Positive(t, rep.Totals.WallNS)
	require.Equal(t, byChecker, rep.FailuresByChecker)
	require.False(t, rep.Interrupted)
	require.False(t, rep.TimeBudgetExhausted)
	require.Len(t, rep.FailingSeeds, len(failed))
	for i, f := range rep.FailingSeeds {
		r := failed[f.Seed]
		require.NotNil(t, r, "seed %d", f.Seed)
		if i > 0 {
			require.Less(t, rep.FailingSeeds[i-1].Seed, f.Seed, "sorted by seed")
		}
		require.Equal(t, f.Seed-1, f.Index)
		require.Equal(t, r.Checker, f.Checker)
		require.Equal(t, r.Failures[:min(len(r.Failures), campaign.MaxReportedFailures)], f.Failures)
		require.Equal(t, r.TraceString(), f.Trace)
		require.Equal(t, fmt.Sprintf("go run ./cmd/pgdst run --seed %d --bug ack-before-flush", f.Seed), f.Repro)
		require.Empty(t, f.ReproFile, "no --artifacts")
	}
	require.Len(t, rep.Points, len(simtest.CrashPoints()))
	for i, p := range rep.Points {
		require.Equal(t, simtest.CrashPoints()[i], p.Name)
		require.Equal(t, p.Hits == 0, slices.Contains(rep.BlindSpots, p.Name))
		require.LessOrEqual(t, p.RunsHit, 20)
		require.LessOrEqual(t, p.RunsCrashed, p.RunsHit)
	}

	j := mustReadJUnit(t, junitPath)
	require.Len(t, j.Suites, 1)
	s := j.Suites[0]
	require.Equal(t, len(failed)+1, s.Tests)
	require.Equal(t, len(failed), s.Failures)
	require.Equal(t, s.Tests, j.Tests)
	require.Len(t, s.Cases, len(failed)+1)
	for i, f := range rep.FailingSeeds {
		c := s.Cases[i]
		require.Equal(t, fmt.Sprintf("seed %d", f.Seed), c.Name)
		require.NotNil(t, c.Failure)
		require.Equal(t, f.Checker, c.Failure.Type)
		require.Contains(t, c.Failure.Message, "reproduce: "+f.Repro)
		require.Contains(t, c.Failure.Text, "reproduce: "+f.Repro+"\n")
	}
	sum := s.Cases[len(s.Cases)-1]
	require.Nil(t, sum.Failure)
	require.Contains(t, sum.Name, "campaign summary: 20 seeds run")
	require.Contains(t, sum.SystemOut.Text, "seeds run:      20")
}

// TestCampaignJSONAndJUnitClean: a passing campaign's JSON has no failing
// seeds and its JUnit only the passing summary testcase.
func TestCampaignJSONAndJUnitClean(t *testing.T) {
	campaignGC(t)
	dir := t.TempDir()
	jsonPath, junitPath := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.xml")
	code, out, errOut := runCLI("campaign", "--seeds", "30", "--start", "100", "--json", jsonPath, "--junit", junitPath)
	require.Equal(t, 0, code, out+errOut)
	_, _, steps, virtual := directRuns(100, 30, "")
	rep := mustReadCampaign(t, jsonPath)
	require.Equal(t, 30, rep.Totals.Runs)
	require.Equal(t, 0, rep.Totals.Failed)
	require.Equal(t, steps, rep.Totals.Steps)
	require.Equal(t, int64(virtual), rep.Totals.VirtualNS)
	require.Empty(t, rep.FailuresByChecker)
	require.Equal(t, map[string]int{"power-loss": 30}, rep.CrashesByKind)
	require.NotNil(t, rep.FailingSeeds)
	require.Empty(t, rep.FailingSeeds)
	raw, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"failing_seeds": []`)

	j := mustReadJUnit(t, junitPath)
	require.Equal(t, 1, j.Tests)
	require.Equal(t, 0, j.Failures)
	require.Len(t, j.Suites[0].Cases, 1)
	require.Nil(t, j.Suites[0].Cases[0].Failure)

	// The summary table: crash points reached and the blind spots.
	hit := len(simtest.CrashPoints()) - len(rep.BlindSpots)
	require.Contains(t, out, fmt.Sprintf("crash points:   %d of %d hit", hit, len(simtest.CrashPoints())))
	if len(rep.BlindSpots) > 0 {
		require.Contains(t, out, "blind spots:    "+strings.Join(rep.BlindSpots, ", "))
	}
}

// TestCampaignArtifacts: --artifacts writes, per failing seed, a repro file
// repro.Read accepts whose config runs to the same trace, the readable
// trace, and porcupine's page when the registers were not linearizable.
func TestCampaignArtifacts(t *testing.T) {
	campaignGC(t)
	dir := filepath.Join(t.TempDir(), "artifacts")
	code, out, errOut := runCLI("campaign", "--seeds", "20", "--bug", "ack-before-flush", "--artifacts", dir)
	require.Equal(t, 1, code, out+errOut)
	rep := mustReadCampaign(t, filepath.Join(dir, "campaign.json"))
	require.NotEmpty(t, rep.FailingSeeds)
	porcupines := 0
	for _, f := range rep.FailingSeeds {
		name := filepath.Join(dir, fmt.Sprintf("seed-%d", f.Seed))
		require.Equal(t, name+".repro.json", f.ReproFile)
		require.Equal(t, name+".trace.txt", f.TraceFile)
		r, err := repro.Read(f.ReproFile)
		require.NoError(t, err)
		require.Equal(t, f.Seed, r.Seed)
		require.Equal(t, f.Checker, r.Failure.Checker)
		require.Equal(t, f.Trace, r.Failure.Trace)
		require.Equal(t, f.Repro, r.Command)
		again := simtest.Run(r.Config)
		require.Equal(t, f.Trace, again.TraceString(), "seed %d: the repro's config is the same run", f.Seed)
		require.False(t, again.OK)

		trace, err := os.ReadFile(f.TraceFile)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(trace), ""), "")
		require.Contains(t, string(trace), fmt.Sprintf("seed %d config ", f.Seed))
		require.Equal(t, name+".events.jsonl", f.EventsFile)
		events, err := os.Open(f.EventsFile)
		require.NoError(t, err)
		crashes := 0
		require.NoError(t, world.ReadEvents(events, func(e env.Event) {
			if e.Kind == env.EvCrash {
				crashes++
			}
		}))
		events.Close()
		require.Positive(t, crashes, "seed %d: the recorded events hold the crash", f.Seed)

		illegal := again.Linearizability != nil && again.Linearizability.Verdict == lin.VerdictIllegal
		_, statErr := os.Stat(name + ".porcupine.html")
		if illegal {
			porcupines++
			require.Equal(t, name+".porcupine.html", f.PorcupineFile)
			page, err := os.ReadFile(f.PorcupineFile)
			require.NoError(t, err)
			require.Contains(t, string(page), "<html")
		} else {
			require.Empty(t, f.PorcupineFile)
			require.True(t, os.IsNotExist(statErr), "seed %d: no porcupine page without an illegal verdict", f.Seed)
		}
	}
	require.Positive(t, porcupines, "seeds 2 and 12 fail linearizability")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Equal(t, 1+3*len(rep.FailingSeeds)+porcupines, len(entries), "nothing for passing seeds")
}

// TestRunArtifacts: run --artifacts writes the same four files for a
// failing seed, nothing for a passing one, and keeps the verdict line last.
func TestRunArtifacts(t *testing.T) {
	// The first seed ack-before-flush fails under porcupine (about three
	// in four fail), so that the visualization is written too.
	seed := ""
	for s := uint64(1); s <= 50 && seed == ""; s++ {
		c := simtest.DefaultConfig(s)
		c.Bugs = c.Bugs.With(bugs.AckBeforeFlush)
		if r := simtest.Run(c); r.Checker == simtest.CheckLinearizability {
			seed = fmt.Sprint(s)
		}
	}
	require.NotEmpty(t, seed, "no seed in 1..50 where porcupine catches ack-before-flush")
	dir := t.TempDir()
	code, out, errOut := runCLI("run", "--seed", seed, "--bug", "ack-before-flush", "--artifacts", dir)
	require.Equal(t, 1, code, out)
	m := verdictLine.FindStringSubmatch(lastLine(out))
	require.NotNil(t, m, lastLine(out))
	require.Equal(t, "fail", m[2])
	r, err := repro.Read(filepath.Join(dir, "seed-"+seed+".repro.json"))
	require.NoError(t, err)
	require.Equal(t, m[3], r.Failure.Trace)
	require.Equal(t, "go run ./cmd/pgdst run --seed "+seed+" --bug ack-before-flush", r.Command)
	require.Equal(t, m[3], simtest.Run(r.Config).TraceString())
	for _, f := range []string{"seed-" + seed + ".trace.txt", "seed-" + seed + ".events.jsonl", "seed-" + seed + ".porcupine.html"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Positive(t, st.Size())
		require.Contains(t, errOut, filepath.Join(dir, f))
	}

	clean := t.TempDir()
	code, out, _ = runCLI("run", "--seed", "7", "--artifacts", clean)
	require.Equal(t, 0, code, out)
	require.Regexp(t, verdictLine, lastLine(out))
	entries, err := os.ReadDir(clean)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// machineFree is a report with what depends on the machine (wall time,
// workers, build) and on the output paths taken out.
func machineFree(r *campaign.Report) *campaign.Report {
	c := *r
	c.Build, c.Params.Shards, c.Params.ShardCount, c.MissingShards = "", nil, 0, nil
	c.Totals.WallNS, c.Totals.Workers, c.Totals.SeedsPerSec = 0, 0, 0
	// When each failing run came, in wall and CPU time, is the machine's.
	c.FailingSeeds = slices.Clone(c.FailingSeeds)
	for i := range c.FailingSeeds {
		c.FailingSeeds[i].WallNS, c.FailingSeeds[i].CPUNS = 0, 0
	}
	return &c
}

// TestShardsMergeEqualUnsharded: shards 0/2 and 1/2 (on different worker
// counts, the second through auto/2) merged are the unsharded campaign,
// failing seeds, counts and point hits alike.
func TestShardsMergeEqualUnsharded(t *testing.T) {
	campaignGC(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	common := []string{"campaign", "--seeds", "21", "--bug", "ack-before-flush"}
	code, out, _ := runCLI(append(common, "--jobs", "2", "--json", p("all.json"))...)
	require.Equal(t, 1, code, out)
	code, out, _ = runCLI(append(common, "--jobs", "1", "--shard", "0/2", "--json", p("s0.json"))...)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "campaign: shard 0/2 of seeds 1..21 (11 seeds)")
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	code, out, _ = runCLI(append(common, "--jobs", "2", "--shard", "auto/2", "--json", p("s1.json"))...)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "campaign: shard 1/2 of seeds 1..21 (10 seeds)")

	s0, s1 := mustReadCampaign(t, p("s0.json")), mustReadCampaign(t, p("s1.json"))
	require.Equal(t, 11, s0.Totals.Runs)
	require.Equal(t, 10, s1.Totals.Runs)
	for _, f := range s0.FailingSeeds {
		require.Equal(t, uint64(1), f.Seed%2, "shard 0 runs seeds 1, 3, ...")
	}
	for _, f := range s1.FailingSeeds {
		require.Equal(t, uint64(0), f.Seed%2)
	}

	code, out, errOut := runCLI("merge", p("s1.json"), p("s0.json"), "-o", p("merged.json"), "--junit", p("merged.xml"))
	require.Equal(t, 1, code, "the merged campaign has failures: %s %s", out, errOut)
	require.Contains(t, out, "merge: 2 files, shards 0,1 of 2 of seeds 1..21")
	merged, all := mustReadCampaign(t, p("merged.json")), mustReadCampaign(t, p("all.json"))
	require.Equal(t, []int{0, 1}, merged.Params.Shards)
	require.Equal(t, 2, merged.Params.ShardCount)
	require.Empty(t, merged.MissingShards)
	require.Equal(t, all.Totals.Failed, len(merged.FailingSeeds))
	require.Equal(t, machineFree(all), machineFree(merged))
	require.Equal(t, s0.Totals.Workers+s1.Totals.Workers, merged.Totals.Workers)
	require.Equal(t, max(s0.Totals.WallNS, s1.Totals.WallNS), merged.Totals.WallNS)
	j := mustReadJUnit(t, p("merged.xml"))
	require.Equal(t, all.Totals.Failed, j.Failures)

	// The summary is the campaign's.
	_, allOut, _ := runCLI("merge", p("all.json"))
	require.Contains(t, allOut, fmt.Sprintf("failures:       %d\n", all.Totals.Failed))
	require.Contains(t, out, fmt.Sprintf("failures:       %d\n", all.Totals.Failed))

	// Only one shard: merged, but incomplete.
	code, out, errOut = runCLI("merge", p("s0.json"))
	require.Equal(t, 1, code)
	require.Contains(t, out, "shards:         0 of 2 (missing: 1)")
	require.Contains(t, errOut, "shards 1 of 2 missing")
}

// TestMergeRefuses: overlapping shards, different campaigns, files that
// are not campaign results: one line, exit 2.
func TestMergeRefuses(t *testing.T) {
	campaignGC(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, c := range [][]string{
		{"--seeds", "6", "--shard", "0/2", "--json", p("a0.json")},
		{"--seeds", "6", "--shard", "1/2", "--json", p("a1.json")},
		{"--seeds", "6", "--shard", "1/2", "--workload", "bank", "--json", p("bank1.json")},
		{"--seeds", "6", "--shard", "1/3", "--json", p("third.json")},
		{"--seeds", "6", "--json", p("whole.json")},
	} {
		code, out, errOut := runCLI(append([]string{"campaign"}, c...)...)
		require.Equal(t, 0, code, "%q: %s %s", c, out, errOut)
	}
	require.NoError(t, os.WriteFile(p("junk.json"), []byte(`{"format": 1, "nope": true}`), 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{p("a0.json"), p("a0.json")}, "both cover shard 0 of 2: their seeds overlap"},
		{[]string{p("a0.json"), p("bank1.json")}, "config.workload"},
		{[]string{p("a0.json"), p("third.json")}, "shard_count"},
		{[]string{p("a0.json"), p("whole.json")}, "shard_count"},
		{[]string{p("a0.json"), p("junk.json")}, "not a campaign JSON file"},
		{[]string{p("a0.json"), p("missing.json")}, "no such file"},
		{[]string{}, "no input files"},
		{[]string{p("a0.json"), "-o", filepath.Join(p("junk.json"), "dir.json")}, "-o"},
		{[]string{p("a0.json"), "--bogus"}, "flag provided but not defined"},
	} {
		code, out, errOut := runCLI(append([]string{"merge"}, c.args...)...)
		require.Equal(t, 2, code, "%q: %s %s", c.args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: %q", c.args, errOut)
		require.Contains(t, errOut, c.want, "%q", c.args)
		require.Empty(t, out, "%q", c.args)
	}
	code, out, _ := runCLI("merge", p("a0.json"), p("a1.json"))
	require.Equal(t, 0, code, out)
}

// TestCampaignTimeBudget: the budget stops the campaign early without
// failing it, and the summary and the JSON say so.
func TestCampaignTimeBudget(t *testing.T) {
	campaignGC(t)
	jsonPath := filepath.Join(t.TempDir(), "c.json")
	began := time.Now()
	code, out, errOut := runCLI("campaign", "--seeds", "1000000", "--time-budget", "300ms", "--json", jsonPath, "--jobs", "2")
	require.Equal(t, 0, code, out+errOut)
	require.Less(t, time.Since(began), 20*time.Second)
	rep := mustReadCampaign(t, jsonPath)
	require.True(t, rep.TimeBudgetExhausted)
	require.False(t, rep.Interrupted)
	require.Equal(t, "300ms", rep.Params.TimeBudget)
	require.Equal(t, uint64(1000000), rep.Totals.Planned)
	require.Positive(t, rep.Totals.Runs)
	require.Less(t, rep.Totals.Runs, 1000000)
	require.Contains(t, out, fmt.Sprintf("seeds run:      %d of 1000000 (time budget of 300ms used up)", rep.Totals.Runs))
	require.Contains(t, errOut, fmt.Sprintf("progress: %d/1000000 seeds", rep.Totals.Runs), "the last progress line")

	// A budget the campaign stays within changes nothing.
	code, out, _ = runCLI("campaign", "--seeds", "5", "--time-budget", "10m", "--json", jsonPath)
	require.Equal(t, 0, code, out)
	rep = mustReadCampaign(t, jsonPath)
	require.False(t, rep.TimeBudgetExhausted)
	require.Equal(t, 5, rep.Totals.Runs)
	require.Contains(t, out, "seeds run:      5\n")
}

// TestCampaignBadFlags: bad --shard, --time-budget and output paths are
// one line and exit 2, before any seed runs, and leave no file behind.
func TestCampaignBadFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	t.Setenv("JOB_COMPLETION_INDEX", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "3/2"}, "--shard: the shard index (I) must be an integer in [0, 2)"},
		{[]string{"--shard", "2/2"}, "--shard"},
		{[]string{"--shard", "x"}, "--shard: want I/N or auto/N"},
		{[]string{"--shard", "1"}, "--shard"},
		{[]string{"--shard", "0/0"}, "--shard: the shard count (N) must be"},
		{[]string{"--shard", "-1/2"}, "--shard"},
		{[]string{"--shard", "a/2"}, "--shard"},
		{[]string{"--shard", "auto/2"}, "JOB_COMPLETION_INDEX"},
		{[]string{"--shard", "0/2", "--systematic", "1"}, "not sharded"},
		{[]string{"--time-budget", "-1s"}, "-time-budget: must be >= 0s"},
		{[]string{"--time-budget", "soon"}, "time-budget"},
		{[]string{"--json", filepath.Join(file, "sub", "c.json")}, "--json"}, // under a regular file: no directory can be made
		{[]string{"--json", dir}, "--json"},
		{[]string{"--junit", filepath.Join(file, "c.xml")}, "--junit"},
		{[]string{"--artifacts", filepath.Join(file, "sub")}, "--artifacts"},
	} {
		args := append([]string{"campaign", "--seeds", "4"}, c.args...)
		code, out, errOut := runCLI(args...)
		require.Equal(t, 2, code, "%q: %s %s", args, out, errOut)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: %q", args, errOut)
		require.Contains(t, errOut, c.want, "%q", args)
		require.NotContains(t, out, "seeds run", "%q: nothing ran", args)
	}
	for _, c := range [][]string{{"points", "--campaign", filepath.Join(dir, "none.json")}, {"points", "--campaign", file}} {
		code, _, errOut := runCLI(c...)
		require.Equal(t, 2, code)
		require.Equal(t, 1, strings.Count(errOut, "\n"), "%q", errOut)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only a-file: the checks leave nothing behind")
}

// TestPointsWithCampaign: points --campaign shows each point's hits and the
// blind spots.
func TestPointsWithCampaign(t *testing.T) {
	campaignGC(t)
	jsonPath := filepath.Join(t.TempDir(), "c.json")
	code, out, _ := runCLI("campaign", "--seeds", "10", "--json", jsonPath)
	require.Equal(t, 0, code, out)
	rep := mustReadCampaign(t, jsonPath)
	code, out, _ = runCLI("points", "--campaign", jsonPath)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^POINT\s+PROCESS\s+HITS\s+RUNS HIT\s+RUNS CRASHED$`, out)
	for _, p := range rep.Points {
		require.Regexp(t, fmt.Sprintf(`(?m)^%s\s+.*\s%d\s+%d\s+%d$`, regexp.QuoteMeta(p.Name), p.Hits, p.RunsHit, p.RunsCrashed), out)
	}
	require.Contains(t, out, "campaign: 10 runs of seeds 1..10")
	if len(rep.BlindSpots) > 0 {
		require.Contains(t, out, fmt.Sprintf("blind spots (%d of %d points never hit): %s", len(rep.BlindSpots), len(simtest.CrashPoints()), strings.Join(rep.BlindSpots, ", ")))
	} else {
		require.Contains(t, out, "blind spots: none")
	}
	// Without --campaign the table is unchanged.
	_, plain, _ := runCLI("points")
	require.NotContains(t, plain, "HITS")
}

// TestCampaignInterruptWritesResults sends Ctrl-C to a campaign process:
// it stops after the runs in flight, exits 1, and still writes its JSON
// and JUnit, marked interrupted.
func TestCampaignInterruptWritesResults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pgdst")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	jsonPath, junitPath := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.xml")
	cmd := exec.Command(bin, "campaign", "--seeds", "1000000", "--jobs", "2", "--json", jsonPath, "--junit", junitPath)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// The header comes once Ctrl-C is caught.
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan())
	require.Contains(t, lines.Text(), "campaign: seeds 1..1000000")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, rest.String())
	require.Equal(t, 1, ee.ExitCode(), rest.String())
	require.Contains(t, rest.String(), "(interrupted)")

	rep := mustReadCampaign(t, jsonPath)
	require.True(t, rep.Interrupted)
	require.Positive(t, rep.Totals.Runs)
	require.Less(t, rep.Totals.Runs, 1000000)
	j := mustReadJUnit(t, junitPath)
	sum := j.Suites[0].Cases[len(j.Suites[0].Cases)-1]
	require.NotNil(t, sum.Failure)
	require.Equal(t, fmt.Sprintf("interrupted after %d of 1000000 seeds", rep.Totals.Runs), sum.Failure.Message)
}

// TestCampaignJSONSameOnAnyWorkers: apart from wall time and workers, the
// JSON of a campaign is the same on 1 and on 2 workers, byte for byte.
func TestCampaignJSONSameOnAnyWorkers(t *testing.T) {
	campaignGC(t)
	dir := t.TempDir()
	var reps [2][]byte
	for i, jobs := range []string{"1", "2"} {
		path := filepath.Join(dir, "c"+jobs+".json")
		code, out, _ := runCLI("campaign", "--seeds", "16", "--bug", "ack-before-flush", "--jobs", jobs, "--json", path)
		require.Equal(t, 1, code, out)
		reps[i], _ = json.Marshal(machineFree(mustReadCampaign(t, path)))
	}
	require.Equal(t, string(reps[0]), string(reps[1]))
}

// A results path in a directory that does not exist yet is made, as a CI
// step that names results/shard-3.json expects.
func TestCampaignMakesResultDirectories(t *testing.T) {
	dir := t.TempDir()
	j, x := filepath.Join(dir, "new", "sub", "c.json"), filepath.Join(dir, "other", "c.xml")
	code, out, errOut := runCLI("campaign", "--seeds", "2", "--json", j, "--junit", x)
	require.Equal(t, 0, code, "%s %s", out, errOut)
	require.Equal(t, 2, mustReadCampaign(t, j).Totals.Runs)
	require.FileExists(t, x)
}
