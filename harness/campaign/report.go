package campaign

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/harness/repro"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// A campaign's results as data: `campaign --json` and `--artifacts` write
// them, `merge` combines the shards' and `points --campaign` reads them.
// Everything in a report but the wall-clock figures, the worker count and
// the build is a function of the parameters: the same campaign on any
// number of workers or shards gives the same counts and failing seeds.

// Format is the campaign JSON format's version; readers refuse
// others.
const Format = 1

// Report is one campaign JSON file.
type Report struct {
	Format int    `json:"format"`
	Build  string `json:"build"` // repro.BuildID() of the binary that ran it
	Params Params `json:"params"`
	Totals Totals `json:"totals"`
	// FailuresByChecker counts failing runs by the checker that failed
	// first; CrashesByKind counts runs by how the workload ended.
	FailuresByChecker map[string]int `json:"failures_by_checker"`
	CrashesByKind     map[string]int `json:"crashes_by_kind"`
	// OnlineCheckers counts, per kind of event, what the online checkers
	// judged and skipped (by reason) over the runs.
	OnlineCheckers simtest.CheckerCounts `json:"online_checkers"`
	// Points lists every injection point, in the order of 'pgdst points':
	// hits summed over the runs, the runs that hit it, the runs whose plan
	// crashed there. BlindSpots are the points no run hit.
	Points     []PointStat `json:"points"`
	BlindSpots []string    `json:"blind_spots"`
	// Sometimes lists every sometimes condition (env.Conditions, in
	// their order, then any this build does not know) with the runs that
	// reached it; SometimesBlindSpots are those no run reached.
	Sometimes           []SometimesStat `json:"sometimes"`
	SometimesBlindSpots []string        `json:"sometimes_blind_spots"`
	// FailingSeeds lists the failing runs, by seed (by plan under
	// --systematic).
	FailingSeeds []FailingSeed `json:"failing_seeds"`
	// Interrupted: Ctrl-C stopped the campaign. TimeBudgetExhausted: the
	// --time-budget did. Either way the runs done are a prefix of each
	// shard's seeds, and Totals.Runs < Totals.Planned.
	Interrupted         bool `json:"interrupted"`
	TimeBudgetExhausted bool `json:"time_budget_exhausted"`
	// MissingShards, in a merged report, are the shards no input covered.
	MissingShards []int `json:"missing_shards,omitempty"`
	// Guided is a --guided campaign's corpus and coverage growth.
	Guided *GuidedReport `json:"guided,omitempty"`
	// TraceHashes (--trace-hashes) are the runs' trace hashes by index
	// (seed - start, or the plan's number under --systematic): entry i is
	// run i's, "" for a run the report does not hold (another shard's, or
	// one an interruption left unrun). Two builds' lists, compared entry
	// by entry, say which runs a change to the engine changed at all.
	TraceHashes []string `json:"trace_hashes,omitempty"`
}

// Params define a campaign: shards of one campaign differ only in
// Shards, and merge refuses inputs that differ in anything else.
type Params struct {
	Start      uint64 `json:"start"`
	Seeds      uint64 `json:"seeds"` // of all the shards together
	Systematic int    `json:"systematic,omitempty"`
	TimeBudget string `json:"time_budget,omitempty"`
	// Guided: a feedback-directed campaign (--guided); its runs are
	// derived from a corpus, so a failing run's seed alone does not
	// repeat it: its repro command or file does.
	Guided bool `json:"guided,omitempty"`
	// TraceHashes: the report lists every run's trace hash
	// (--trace-hashes); merge refuses to mix shards with and without.
	TraceHashes bool `json:"trace_hashes,omitempty"`
	// GuidedAnchor is --guided-anchor: the percent of derived runs that
	// are anchored.
	GuidedAnchor int `json:"guided_anchor,omitempty"`
	// ShardCount is N of --shard I/N (1 unsharded); Shards are the shard
	// indices the report covers: one for a shard, several once merged.
	ShardCount int   `json:"shard_count"`
	Shards     []int `json:"shards"`
	// Flags are the workload flags as the reproduce commands repeat them;
	// Config is the run configuration they make (Seed 0: every seed).
	Flags  string         `json:"workload_flags"`
	Config simtest.Config `json:"config"`
}

// Totals are the campaign's sums.
type Totals struct {
	Planned       uint64  `json:"planned"` // runs the covered shards were to do
	Runs          int     `json:"runs"`
	Failed        int     `json:"failed"`
	VirtualNS     int64   `json:"virtual_ns"`
	Steps         uint64  `json:"steps"`
	FaultsApplied int     `json:"faults_applied"`
	Detected      int     `json:"detected"` // passing runs whose destructive faults were detected
	WallNS        int64   `json:"wall_ns"`  // merged: the longest shard's
	Workers       int     `json:"workers"`  // merged: summed over shards
	SeedsPerSec   float64 `json:"seeds_per_sec"`
}

// PointStat is one injection point's totals.
type PointStat struct {
	Name        string `json:"name"`
	Hits        uint64 `json:"hits"`
	RunsHit     int    `json:"runs_hit"`
	RunsCrashed int    `json:"runs_crashed"`
}

// SometimesStat is one sometimes condition's count: the runs that
// reached it at least once.
type SometimesStat struct {
	Name string `json:"name"`
	Runs int    `json:"runs"`
}

// FailingSeed is one failing run.
type FailingSeed struct {
	Seed  uint64 `json:"seed"`
	Index uint64 `json:"index"` // seed - start, or the plan's number under --systematic
	// Plan is the --systematic run's fault line.
	Plan     string   `json:"plan,omitempty"`
	Checker  string   `json:"checker"`
	Failures []string `json:"failures"` // the first few
	Trace    string   `json:"trace"`    // the run's trace hash
	Repro    string   `json:"repro_command"`
	// The artifacts written for it under --artifacts, as paths joined to
	// the directory given.
	ReproFile     string `json:"repro_file,omitempty"`
	TraceFile     string `json:"trace_file,omitempty"`
	EventsFile    string `json:"events_file,omitempty"`
	PorcupineFile string `json:"porcupine_file,omitempty"`
	// WallNS is how long the campaign had run when this run finished:
	// with --jobs 1, the wall time to this detection.
	WallNS int64 `json:"wall_ns,omitempty"`
	// CPUNS is the process's CPU time by then: on a shared machine, a
	// truer measure of the work to this detection than the wall time.
	CPUNS int64 `json:"cpu_ns,omitempty"`
	// Derived: a --guided campaign derived the run from its corpus, so
	// its config is not the campaign's flags with its seed: the repro
	// command or file repeats it.
	Derived bool `json:"derived,omitempty"`
}

func newCampaignReport(p Params, st *campaignStats) *Report {
	rep := &Report{
		Format: Format, Build: repro.BuildID(), Params: p,
		Totals: Totals{
			Planned: st.planned, Runs: st.runs, Failed: len(st.failed), VirtualNS: int64(st.virtual), Steps: st.steps,
			FaultsApplied: st.faults, Detected: st.detected, WallNS: int64(st.wall), Workers: st.jobs,
			SeedsPerSec: quotient(float64(st.runs), st.wall.Seconds()),
		},
		FailuresByChecker: st.byChecker, CrashesByKind: st.byCrash, OnlineCheckers: st.online,
		Interrupted: st.interrupted, TimeBudgetExhausted: st.budgetExhausted,
		FailingSeeds: []FailingSeed{},
	}
	if p.TraceHashes {
		rep.TraceHashes = traceHashList(st.traces, p.Seeds)
	}
	for name, a := range st.points {
		rep.Points = append(rep.Points, PointStat{Name: name, Hits: a.hits, RunsHit: a.runsHit, RunsCrashed: a.runsCrashed})
	}
	rep.settlePoints()
	for i, c := range env.Conditions {
		if i < len(st.sometimes) {
			rep.Sometimes = append(rep.Sometimes, SometimesStat{Name: c.Name, Runs: st.sometimes[i]})
		}
	}
	rep.settleSometimes()
	for _, f := range st.failed {
		rep.FailingSeeds = append(rep.FailingSeeds, FailingSeed{
			Seed: f.seed, Index: f.index, Plan: f.plan, Checker: f.checker, Failures: f.failures, Trace: f.trace, Repro: f.repro,
			ReproFile: f.artifacts.Repro, TraceFile: f.artifacts.Trace, EventsFile: f.artifacts.Events, PorcupineFile: f.artifacts.Porcupine,
			WallNS: int64(f.wall), CPUNS: int64(f.cpu), Derived: f.derived,
		})
	}
	return rep
}

// settlePoints lists every crash point (hit or not) in the order of
// 'pgdst points', then any other point hit, by name, and finds the blind
// spots.
func (rep *Report) settlePoints() {
	all := simtest.CrashPoints()
	order := map[string]int{}
	for i, name := range all {
		order[name] = i
	}
	for _, name := range all {
		if !rep.hasPoint(name) {
			rep.Points = append(rep.Points, PointStat{Name: name})
		}
	}
	sort.Slice(rep.Points, func(i, j int) bool {
		a, b := rep.Points[i].Name, rep.Points[j].Name
		oa, ka := order[a]
		ob, kb := order[b]
		switch {
		case ka && kb:
			return oa < ob
		case ka != kb:
			return ka
		}
		return a < b
	})
	rep.BlindSpots = []string{}
	for _, p := range rep.Points {
		if p.Hits == 0 {
			rep.BlindSpots = append(rep.BlindSpots, p.Name)
		}
	}
}

// settleSometimes lists every condition of env.Conditions (reached or
// not) in table order, then any other by name, and finds those no run
// reached.
func (rep *Report) settleSometimes() {
	have := map[string]int{}
	for _, s := range rep.Sometimes {
		have[s.Name] += s.Runs
	}
	out := make([]SometimesStat, 0, len(have)+len(env.Conditions))
	for _, c := range env.Conditions {
		out = append(out, SometimesStat{Name: c.Name, Runs: have[c.Name]})
		delete(have, c.Name)
	}
	others := make([]string, 0, len(have))
	for name := range have {
		others = append(others, name)
	}
	sort.Strings(others)
	for _, name := range others {
		out = append(out, SometimesStat{Name: name, Runs: have[name]})
	}
	rep.Sometimes = out
	rep.SometimesBlindSpots = []string{}
	for _, s := range rep.Sometimes {
		if s.Runs == 0 {
			rep.SometimesBlindSpots = append(rep.SometimesBlindSpots, s.Name)
		}
	}
}

func (rep *Report) hasPoint(name string) bool {
	for _, p := range rep.Points {
		if p.Name == name {
			return true
		}
	}
	return false
}

// scope says which runs the campaign was made of.
func (p Params) Scope() string {
	if p.Systematic > 0 {
		return fmt.Sprintf("%d systematic plans on seed %d", p.Seeds, p.Start)
	}
	return fmt.Sprintf("seeds %d..%d", p.Start, p.Start+p.Seeds-1)
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadReport reads a campaign JSON file; anything else is an error
// of one line.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("%s: not a campaign JSON file: %v", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a campaign JSON file: trailing data after the JSON object", path)
	}
	if rep.Format != Format {
		return nil, fmt.Errorf("%s: campaign format %d, this build reads format %d", path, rep.Format, Format)
	}
	p := rep.Params
	if p.ShardCount < 1 || len(p.Shards) == 0 {
		return nil, fmt.Errorf("%s: no shards recorded", path)
	}
	for _, s := range p.Shards {
		if s < 0 || s >= p.ShardCount {
			return nil, fmt.Errorf("%s: shard %d out of [0, %d)", path, s, p.ShardCount)
		}
	}
	if rep.FailuresByChecker == nil {
		rep.FailuresByChecker = map[string]int{}
	}
	if rep.CrashesByKind == nil {
		rep.CrashesByKind = map[string]int{}
	}
	if err := checkTraceHashes(&rep); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &rep, nil
}

// reportPath is where --artifacts puts the campaign's JSON.
func reportPath(dir string) string { return filepath.Join(dir, "campaign.json") }

// checkWritable reports whether path can be created or written ("" can).
func checkWritable(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Not there yet: make its directory (a CI step names results/x.json
	// before anything made results/), create it, and remove it again so
	// that a campaign killed before its end leaves no empty file behind.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
		return err
	}
	f.Close()
	return os.Remove(path)
}

// ArtifactPaths are the files written for one failing run ("" not written).
type ArtifactPaths struct{ Repro, Trace, Events, Porcupine string }

// List is the paths written.
func (p ArtifactPaths) List() []string {
	var out []string
	for _, s := range []string{p.Repro, p.Trace, p.Events, p.Porcupine} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// WriteArtifacts writes a failing run's artifacts to dir: NAME.repro.json
// (see repro.go), NAME.trace.txt, the readable trace, NAME.events.jsonl,
// the run's events (simtest.EventWriter; the report draws them), and when the
// registers were found not linearizable, NAME.porcupine.html, porcupine's
// visualization. The trace comes from running cfg again with the trace
// on, which is the same run (the trace hashes are compared): only failing
// runs pay for formatting a trace.
func WriteArtifacts(dir, name string, cfg simtest.Config, res *simtest.Result, command string) (ArtifactPaths, error) {
	p := ArtifactPaths{Repro: filepath.Join(dir, name+".repro.json"), Trace: filepath.Join(dir, name+".trace.txt"), Events: filepath.Join(dir, name+".events.jsonl")}
	if err := repro.Write(p.Repro, repro.New(cfg, res, command)); err != nil {
		return ArtifactPaths{}, err
	}
	f, err := os.Create(p.Trace)
	if err != nil {
		return ArtifactPaths{Repro: p.Repro}, err
	}
	ef, err := os.Create(p.Events)
	if err != nil {
		f.Close()
		return ArtifactPaths{Repro: p.Repro}, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	ew := bufio.NewWriterSize(ef, 256<<10)
	events := world.NewEventWriter(ew)
	marks := newPageMarks(events)
	cfg.TraceOut, cfg.Events = w, marks
	again := simtest.Run(cfg)
	err = errors.Join(w.Flush(), f.Close(), events.Err(), ew.Flush(), ef.Close())
	if err != nil {
		return p, err
	}
	if again.Trace != res.Trace {
		return p, fmt.Errorf("seed %d: running it again for its trace gave trace %s, not %s: the run is not deterministic", res.Seed, again.TraceString(), res.TraceString())
	}
	if l := again.Linearizability; l != nil && l.Verdict == lin.VerdictIllegal {
		p.Porcupine = filepath.Join(dir, name+".porcupine.html")
		if err := l.WriteVisualizationMarked(p.Porcupine, marks.done()); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ParseShard parses --shard: "" (the whole campaign, 0 of 1), "I/N" with
// 0 <= I < N, or "auto/N", which takes I from $JOB_COMPLETION_INDEX as a
// Kubernetes Indexed Job sets it.
func ParseShard(s string, getenv func(string) string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want I/N or auto/N, got %q", s)
	}
	n, err = strconv.Atoi(ns)
	if err != nil || n < 1 || n > 1<<20 {
		return 0, 0, fmt.Errorf("the shard count (N) must be an integer in [1, 1048576], got %q", ns)
	}
	if is == "auto" {
		is = getenv("JOB_COMPLETION_INDEX")
		if is == "" {
			return 0, 0, errors.New("auto needs $JOB_COMPLETION_INDEX, which is not set")
		}
	}
	i, err = strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("the shard index (I) must be an integer in [0, %d), got %q", n, is)
	}
	return i, n, nil
}

// shardSize is how many of the indices [0, seeds) are i mod n.
func shardSize(seeds uint64, i, n int) uint64 {
	if uint64(i) >= seeds {
		return 0
	}
	return (seeds-uint64(i)-1)/uint64(n) + 1
}

// JUnit XML. One testcase per failing seed and one summary testcase,
// rather than one per seed: a 100k-seed campaign's file stays the size of
// its failures, and CI systems still list each failing seed, its failure
// and the command that reproduces it. The summary testcase fails when the
// campaign was interrupted or merged with shards missing (it did not run
// what it was asked to) and passes otherwise, a used-up time budget
// included.

type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

const junitClass = "pgdst.campaign"

func newJUnit(rep *Report) *JUnitSuites {
	wall := fmt.Sprintf("%.3f", time.Duration(rep.Totals.WallNS).Seconds())
	p := rep.Params
	s := junitSuite{
		Name: "pgdst campaign", Time: wall,
		Properties: []junitProperty{
			{"build", rep.Build},
			{"start", fmt.Sprint(p.Start)},
			{"seeds", fmt.Sprint(p.Seeds)},
			{"shards", fmt.Sprintf("%s of %d", joinInts(p.Shards), p.ShardCount)},
			{"workload_flags", p.Flags},
			{"runs", fmt.Sprint(rep.Totals.Runs)},
			{"planned", fmt.Sprint(rep.Totals.Planned)},
		},
	}
	for _, f := range rep.FailingSeeds {
		name := fmt.Sprintf("seed %d", f.Seed)
		if f.Plan != "" {
			name = fmt.Sprintf("seed %d plan %d", f.Seed, f.Index)
		}
		first := f.Checker
		if len(f.Failures) > 0 {
			first = f.Failures[0]
		}
		if len(first) > 300 {
			first = first[:300] + "..."
		}
		var text strings.Builder
		for _, l := range f.Failures {
			fmt.Fprintf(&text, "%s\n", l)
		}
		fmt.Fprintf(&text, "reproduce: %s\n", f.Repro)
		if f.ReproFile != "" {
			fmt.Fprintf(&text, "repro file: %s (pgdst replay %s)\n", f.ReproFile, f.ReproFile)
		}
		if f.TraceFile != "" {
			fmt.Fprintf(&text, "trace: %s\n", f.TraceFile)
		}
		if f.PorcupineFile != "" {
			fmt.Fprintf(&text, "linearizability visualization: %s\n", f.PorcupineFile)
		}
		fmt.Fprintf(&text, "trace hash: %s\n", f.Trace)
		s.Cases = append(s.Cases, junitCase{
			Name: name, Classname: junitClass, Time: "0",
			Failure: &junitFailure{Message: first + " | reproduce: " + f.Repro, Type: f.Checker, Text: text.String()},
		})
	}
	var sum bytes.Buffer
	printCampaign(&sum, rep)
	summary := junitCase{
		Name: fmt.Sprintf("campaign summary: %d seeds run, %d failed", rep.Totals.Runs, rep.Totals.Failed), Classname: junitClass,
		Time: wall, SystemOut: &junitText{sum.String()},
	}
	switch {
	case rep.Interrupted:
		summary.Failure = &junitFailure{Message: fmt.Sprintf("interrupted after %d of %d seeds", rep.Totals.Runs, rep.Totals.Planned), Type: "interrupted"}
	case len(rep.MissingShards) > 0:
		summary.Failure = &junitFailure{Message: fmt.Sprintf("shards missing from the merge: %s", joinInts(rep.MissingShards)), Type: "incomplete"}
	}
	s.Cases = append(s.Cases, summary)
	s.Tests = len(s.Cases)
	for _, c := range s.Cases {
		if c.Failure != nil {
			s.Failures++
		}
	}
	return &JUnitSuites{Name: "pgdst", Tests: s.Tests, Failures: s.Failures, Time: wall, Suites: []junitSuite{s}}
}

func writeJUnit(path string, rep *Report) error {
	b, err := xml.MarshalIndent(newJUnit(rep), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644)
}
