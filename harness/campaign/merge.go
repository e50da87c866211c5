package campaign

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// Merge combines the JSON results of a campaign's shards, the files
// inputs, into the campaign's: counts summed, failing seeds together by
// seed, point hits added up. It refuses inputs of different campaigns
// (anything but the shard differs, the build included) or that cover a
// shard twice, prints the campaign summary, writes the merged JSON to out
// and JUnit XML to junit (either may be ""), and exits 1 when the merged
// campaign failed, was interrupted or misses shards.
func Merge(inputs []string, out, junit string, requireCoverage bool, stdout, stderr io.Writer) error {
	var err error
	for _, p := range []struct{ flag, path string }{{"o", out}, {"junit", junit}} {
		if err := checkWritable(p.path); err != nil {
			return cli.Usage("pgdst merge: -%s: %v", p.flag, err)
		}
	}
	reps := make([]*Report, len(inputs))
	for i, path := range inputs {
		if reps[i], err = ReadReport(path); err != nil {
			return cli.Usage("pgdst merge: %v", err)
		}
	}
	rep, err := mergeReports(reps, inputs)
	if err != nil {
		return cli.Usage("pgdst merge: %v", err)
	}
	wrote, werr := writeReportFiles(rep, out, junit, "")
	fmt.Fprintf(stdout, "merge: %d files, shards %s of %d of %s\n", len(inputs), joinInts(rep.Params.Shards), rep.Params.ShardCount, rep.Params.Scope())
	printCampaign(stdout, rep)
	printWrote(stdout, wrote)
	if werr != nil {
		return werr
	}
	if len(rep.MissingShards) > 0 {
		fmt.Fprintf(stderr, "pgdst merge: shards %s of %d missing: the merged campaign is incomplete\n", joinInts(rep.MissingShards), rep.Params.ShardCount)
	}
	if rep.Totals.Failed > 0 || rep.Interrupted || len(rep.MissingShards) > 0 {
		return cli.Failed("")
	}
	if requireCoverage {
		// A sharded campaign's coverage is judged here, on all its
		// shards: one shard alone may miss what another reached.
		return coverageError("pgdst merge", rep)
	}
	return nil
}

// mergeReports combines reports of shards of one campaign; names are
// their files, for the errors.
func mergeReports(reps []*Report, names []string) (*Report, error) {
	first := reps[0]
	m := &Report{
		Format: Format, Build: first.Build, Params: first.Params,
		FailuresByChecker: map[string]int{}, CrashesByKind: map[string]int{}, FailingSeeds: []FailingSeed{},
	}
	m.Params.Shards = nil
	covered := map[int]string{}
	points := map[string]*PointStat{}
	var wall int64
	for i, r := range reps {
		if r.Build != first.Build {
			return nil, fmt.Errorf("%s and %s come from different builds (%q, %q)", names[0], names[i], first.Build, r.Build)
		}
		if diff := paramsDiff(first.Params, r.Params); diff != "" {
			return nil, fmt.Errorf("%s and %s are not shards of one campaign: %s differs", names[0], names[i], diff)
		}
		for _, s := range r.Params.Shards {
			if prev, ok := covered[s]; ok {
				return nil, fmt.Errorf("%s and %s both cover shard %d of %d: their seeds overlap", prev, names[i], s, r.Params.ShardCount)
			}
			covered[s] = names[i]
			m.Params.Shards = append(m.Params.Shards, s)
		}
		t := &m.Totals
		t.Planned += r.Totals.Planned
		t.Runs += r.Totals.Runs
		t.Failed += r.Totals.Failed
		t.VirtualNS += r.Totals.VirtualNS
		t.Steps += r.Totals.Steps
		t.FaultsApplied += r.Totals.FaultsApplied
		t.Detected += r.Totals.Detected
		t.Workers += r.Totals.Workers
		wall = max(wall, r.Totals.WallNS)
		for k, v := range r.FailuresByChecker {
			m.FailuresByChecker[k] += v
		}
		if m.OnlineCheckers == nil {
			m.OnlineCheckers = simtest.CheckerCounts{}
		}
		m.OnlineCheckers.Add(r.OnlineCheckers)
		for k, v := range r.CrashesByKind {
			m.CrashesByKind[k] += v
		}
		for _, p := range r.Points {
			a := points[p.Name]
			if a == nil {
				a = &PointStat{Name: p.Name}
				points[p.Name] = a
			}
			a.Hits += p.Hits
			a.RunsHit += p.RunsHit
			a.RunsCrashed += p.RunsCrashed
		}
		m.Sometimes = append(m.Sometimes, r.Sometimes...) // settleSometimes sums them
		m.FailingSeeds = append(m.FailingSeeds, r.FailingSeeds...)
		m.Interrupted = m.Interrupted || r.Interrupted
		m.Guided = mergeGuided(m.Guided, r.Guided)
		m.TimeBudgetExhausted = m.TimeBudgetExhausted || r.TimeBudgetExhausted
	}
	// The shards ran side by side: the merged campaign took as long as
	// the longest, at the sum of their rates.
	m.Totals.WallNS = wall
	m.Totals.SeedsPerSec = quotient(float64(m.Totals.Runs), time.Duration(wall).Seconds())
	sort.Ints(m.Params.Shards)
	for s := 0; s < m.Params.ShardCount; s++ {
		if _, ok := covered[s]; !ok {
			m.MissingShards = append(m.MissingShards, s)
		}
	}
	if m.Params.TraceHashes {
		lists := make([][]string, len(reps))
		for i, r := range reps {
			lists[i] = r.TraceHashes
		}
		var err error
		if m.TraceHashes, err = mergeTraceHashes(lists); err != nil {
			return nil, err
		}
	}
	for _, p := range points {
		m.Points = append(m.Points, *p)
	}
	m.settlePoints()
	m.settleSometimes()
	sort.Slice(m.FailingSeeds, func(i, j int) bool {
		a, b := m.FailingSeeds[i], m.FailingSeeds[j]
		if a.Seed != b.Seed {
			return a.Seed < b.Seed
		}
		return a.Index < b.Index
	})
	return m, nil
}

// paramsDiff names the first parameter, besides the shards, in which two
// campaigns differ ("" when none does).
func paramsDiff(a, b Params) string {
	a.Shards, b.Shards = nil, nil
	am, bm := paramsMap(a), paramsMap(b)
	keys := make([]string, 0, len(am)+len(bm))
	for k := range am {
		keys = append(keys, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if am[k] != bm[k] {
			return fmt.Sprintf("%s (%s vs %s)", k, orNone(am[k]), orNone(bm[k]))
		}
	}
	return ""
}

// paramsMap flattens params to name -> JSON value (config fields as
// config.NAME).
func paramsMap(p Params) map[string]string {
	out := map[string]string{}
	flatten := func(prefix string, v any) {
		b, _ := json.Marshal(v)
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(b, &fields)
		for k, raw := range fields {
			if k == "config" {
				continue
			}
			out[prefix+k] = string(raw)
		}
	}
	flatten("", p)
	flatten("config.", p.Config)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
