package campaign

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// The guided campaign (`pgdst campaign --guided`): feedback-directed
// exploration, as AFL does for inputs and FoundationDB's and Antithesis'
// simulators do for runs. It keeps a corpus of runs that reached coverage
// no earlier run had reached (guided_features.go: a sometimes condition,
// an injection point by a role, a point crashed at, a fault action that
// fired, a point's hit count in a new power-of-two bucket, and pairs of
// these with each other and with the run's settings, and its outcomes in
// buckets) and derives most new runs from the corpus by mutating a
// parent's knobs and fault plan, or crossing two parents
// (guided_mutate.go), choosing parents by energy: entries that hold rarely
// reached coverage, and are the cheapest to reach it, are chosen more
// often.
//
// Every run is still a complete, deterministic Config: a failing derived
// run writes its repro file and prints its reproduce command exactly as a
// plain campaign's failing seed does. The campaign itself is deterministic
// for its flags whatever --jobs: runs are made in generations of
// guidedGeneration, each generation's configs are derived from the corpus
// as it stood when the generation began, and the generation's results are
// folded into the corpus in run order once all of them have come. Run i
// has seed start+i unless it keeps its parent's seed (a mutation that
// stays close to the parent's schedule), so reports, artifacts and 'pgdst
// report --seed' name runs as in the plain campaign.

// guidedGeneration is how many runs a generation holds: small enough that
// feedback comes soon, large enough that a few workers stay busy.
const guidedGeneration = 16

// guidedFreshShare is the share of runs after the first generations that
// are fresh (the plain campaign's run of that index) rather than derived:
// the swarm's own variety keeps coming in, and a guided campaign never
// sees less of the plain campaign's distribution than that share of it.
// Early on, while the corpus is a few runs and its counts say little about
// rarity, the share is higher (guidedFreshWarmup): half the runs of the
// second generation are fresh, a third of the fourth's, a quarter from the
// sixth on.
const guidedFreshShare = 0.25

// guidedFreshWarmup is the fresh share of generation gen (gen >= 1).
func guidedFreshWarmup(gen uint64) float64 {
	return max(guidedFreshShare, 1/(1+float64(gen)/2))
}

// guidedGrowthPoints bounds the coverage growth samples kept for the report.
const guidedGrowthPoints = 32

// guidedSeedSalt separates the guided campaign's own random stream (parent
// choice, mutations) from every run's streams.
const guidedSeedSalt = 0x6775696465646361 // "guidedca"

// GuidedReport is what a guided campaign adds to its report.
type GuidedReport struct {
	Generation int `json:"generation_runs"` // runs per generation
	// Corpus is how many runs reached new coverage and were kept;
	// Derived how many runs were derived from the corpus (the others are
	// the plain campaign's runs of their index), DerivedFailed how many
	// of those failed.
	Corpus        int `json:"corpus"`
	Derived       int `json:"derived"`
	DerivedFailed int `json:"derived_failed"`
	// Coverage counts the distinct coverage features reached, by kind
	// (featureKinds: sometimes, point-role, crashed-at, fault-fired,
	// hit-bucket, and the pairs and outcomes of guided_features.go).
	Coverage map[string]int `json:"coverage"`
	// Growth samples the features reached and the corpus size as runs
	// went by.
	Growth []GrowthPoint `json:"growth"`
	// Mutations counts the mutations applied to derived runs, by kind.
	Mutations map[string]int `json:"mutations"`
}

// GrowthPoint is the coverage after Runs runs.
type GrowthPoint struct {
	Runs     int `json:"runs"`
	Features int `json:"features"`
	Corpus   int `json:"corpus"`
}

// corpusEntry is a run that reached new coverage: its config with the plan
// it carried written out, so that mutations edit the plan itself.
type corpusEntry struct {
	cfg      simtest.Config
	features []int32 // ids in guided.keys
	steps    uint64
	picked   int // times chosen as a parent
	// top counts the features for which this entry is the cheapest in
	// the corpus (AFL's top_rated): an entry that is cheapest for none
	// is covered more cheaply by others, and chosen far less.
	top int
	// energy is the entry's energy as the generation began (energize),
	// before the damping for the times it was picked.
	energy float64
	// reach lists the conditions the run reached with the steps of their
	// first reach: where anchored runs fork (guided_anchor.go).
	reach []reachStep
}

// guided is a guided campaign's state between generations.
type guided struct {
	rng    *rand.Rand
	base   simtest.Config
	corpus []*corpusEntry
	ids    map[uint64]int32 // feature key -> id
	keys   []uint64         // id -> feature key
	count  []int            // id -> runs that reached it
	best   []*corpusEntry   // id -> the cheapest corpus entry holding it
	runs   int
	steps  uint64
	rep    GuidedReport
	mut    *mutator
	buf    []uint64 // runFeatures' storage, reused
	idBuf  []int32  // fold's storage, reused
	newBuf []uint64 // fold's storage, reused
	seen   []int    // id -> the last run that counted it
	// weights is pick's scratch space.
	weights []float64
	// anchorShare is the share of derived runs that are anchored
	// (Options.GuidedAnchor).
	anchorShare float64
}

func newGuided(o Options) *guided {
	return &guided{
		rng:  rand.New(rand.NewPCG(o.Start^guidedSeedSalt, uint64(o.Shard)<<32|uint64(o.Shards))),
		base: o.Base,
		ids:  map[uint64]int32{},
		rep:  GuidedReport{Generation: guidedGeneration, Coverage: map[string]int{}, Mutations: map[string]int{}},
		mut:  newMutator(o.Base, o.Pinned),

		anchorShare: float64(o.GuidedAnchor) / 100,
	}
}

// runGuided runs a guided campaign of count runs; mk makes the plain
// campaign's job of an index, which fresh runs are.
func runGuided(o Options, count uint64, mk func(i uint64) job, opts campaignOpts) (*campaignStats, *GuidedReport) {
	g := newGuided(o)
	began := time.Now()
	opts.epoch, opts.cpu0 = began, cpuTime()
	total := &campaignStats{planned: count, byChecker: map[string]int{}, byCrash: map[string]int{}, points: map[string]*pointAgg{},
		online: simtest.CheckerCounts{}, jobs: o.Jobs, sometimes: make([]int, len(env.Conditions))}
	progress := opts.progress
	maxGenerations := count/guidedGeneration + 2
	for done, gen := uint64(0), uint64(0); done < count; gen++ {
		if gen >= maxGenerations {
			panic("campaign: guided campaign ran past its generations")
		}
		n := min(guidedGeneration, count-done)
		jobs := make([]job, n)
		g.energize()
		for i := range jobs {
			jobs[i] = g.makeJob(done+uint64(i), gen, mk)
		}
		results := make([]*simtest.Result, n)
		opts.observe = func(idx uint64, _ job, r *simtest.Result) { results[idx] = r }
		if progress != nil {
			offRuns, offFailed := total.runs, len(total.failed)
			opts.progress = func(d, f int) { progress(offRuns+d, offFailed+f) }
		}
		if o.Budget > 0 {
			opts.budget = o.Budget - time.Since(began)
			if opts.budget <= 0 {
				total.budgetExhausted = true
				break
			}
		}
		st := runCampaign(n, o.Jobs, func(i uint64) job { return jobs[i] }, opts)
		for i := 0; i < st.runs; i++ {
			g.fold(jobs[i], results[i])
		}
		total.add(st, done)
		done += uint64(st.runs)
		g.sample(done == count || st.interrupted || st.budgetExhausted, count)
		if st.interrupted || st.budgetExhausted {
			break
		}
	}
	total.wall = time.Since(began)
	for _, f := range total.failed {
		if f.derived {
			g.rep.DerivedFailed++
		}
	}
	g.rep.Corpus = len(g.corpus)
	for _, k := range g.keys {
		g.rep.Coverage[featureKinds[featureKindOf(k)]]++
	}
	return total, &g.rep
}

// makeJob makes run i of the campaign: fresh (the plain campaign's run of
// its index) in the first generation and for a share of the others, else
// derived from a parent of the corpus, and on some derived runs from a
// second parent too (a crossover of their knobs and plans).
func (g *guided) makeJob(i, gen uint64, mk func(i uint64) job) job {
	j := mk(i)
	if gen == 0 || len(g.corpus) == 0 || g.rng.Float64() < guidedFreshWarmup(gen) {
		return j
	}
	parent := g.pick()
	parent.picked++
	// With no anchored runs, nothing is drawn for them: the campaign is
	// the one it was before they existed.
	if g.anchorShare > 0 && g.rng.Float64() < g.anchorShare {
		if c, what, ok := g.anchor(parent); ok {
			g.rep.Mutations[what]++
			g.rep.Derived++
			return job{cfg: c, repro: cli.Command(c), index: j.index, name: fmt.Sprintf("seed-%d-run-%d", c.Seed, j.index), derived: true}
		}
	}
	var mate *simtest.Config
	if len(g.corpus) > 1 && g.rng.Float64() < guidedCrossShare {
		if e := g.pick(); e != parent {
			mate = &e.cfg
		}
	}
	c, muts := g.mut.derive(g.rng, parent.cfg, mate, j.cfg.Seed, g.corpus)
	for _, m := range muts {
		g.rep.Mutations[m]++
	}
	g.rep.Derived++
	name := fmt.Sprintf("seed-%d", c.Seed)
	if c.Seed != j.cfg.Seed {
		// The parent's seed, kept: the run's own index names it apart.
		name = fmt.Sprintf("seed-%d-run-%d", c.Seed, j.index)
	}
	return job{cfg: c, repro: cli.Command(c), index: j.index, name: name, derived: true}
}

// guidedCrossShare is the share of derived runs that cross their parent
// with a second one.
const guidedCrossShare = 0.2

// Energy (AFL's calculate_score and AFLFast's power schedules, for runs):
// an entry's energy is the rarity of what it covers, the sum over its
// features of weight / runs that reached it, counted in full for the
// features it is the cheapest entry for (AFL's favored entries) and at a
// tenth for the rest; times a cost factor, the mean steps of a run over
// the entry's, within [1/10, 3] as AFL scales by execution time; damped by
// the square root of the times it was chosen already (AFLFast's "fast"
// schedule: the neighbourhood of an entry chosen often has been tried).
const (
	guidedUnfavoredShare = 0.1
	guidedCostMin        = 0.1
	guidedCostMax        = 3
)

// energize computes every entry's energy as a generation begins: the
// corpus and the counts change only between generations.
func (g *guided) energize() {
	meanSteps := float64(g.steps) / float64(max(g.runs, 1))
	for _, e := range g.corpus {
		all, favored := 0.0, 0.0
		for _, f := range e.features {
			r := featureWeights[featureKindOf(g.keys[f])] / float64(g.count[f])
			all += r
			if g.best[f] == e {
				favored += r
			}
		}
		if e.top < 0 || e.top > len(e.features) || (e.top > 0) != (favored > 0) {
			panic("campaign: a corpus entry's favored features are miscounted")
		}
		w := favored + guidedUnfavoredShare*all
		if meanSteps > 0 && e.steps > 0 {
			w *= min(guidedCostMax, max(guidedCostMin, meanSteps/float64(e.steps)))
		}
		e.energy = w
	}
}

// pick chooses a parent by energy, damped for the times each was chosen.
func (g *guided) pick() *corpusEntry {
	if cap(g.weights) < len(g.corpus) {
		g.weights = make([]float64, len(g.corpus), 2*len(g.corpus))
	}
	weights := g.weights[:len(g.corpus)]
	sum := 0.0
	for i, e := range g.corpus {
		w := e.energy / math.Sqrt(float64(1+e.picked))
		weights[i] = w
		sum += w
	}
	x := g.rng.Float64() * sum
	for i, w := range weights {
		if x < w {
			return g.corpus[i]
		}
		x -= w
	}
	return g.corpus[len(g.corpus)-1]
}

// fold adds one run's coverage, in run order; a run that reached a
// feature no earlier run had joins the corpus.
func (g *guided) fold(j job, r *simtest.Result) {
	if r == nil {
		panic("campaign: a guided run's result is missing")
	}
	g.runs++
	g.steps += r.Steps
	g.buf = runFeatures(r, g.buf)
	// The features come in map order, some twice: a feature known
	// already is counted once per run (seen), and new ones get their
	// ids in key order, so that ids, and every sum over them, are the
	// same in every campaign with these flags.
	ids := g.idBuf[:0]
	fresh := g.newBuf[:0]
	for _, k := range g.buf {
		id, ok := g.ids[k]
		if !ok {
			fresh = append(fresh, k)
			continue
		}
		if g.seen[id] != g.runs {
			g.seen[id] = g.runs
			g.count[id]++
			ids = append(ids, id)
		}
	}
	slices.Sort(fresh)
	fresh = slices.Compact(fresh)
	for _, k := range fresh {
		id := int32(len(g.keys))
		g.ids[k] = id
		g.keys = append(g.keys, k)
		g.count = append(g.count, 1)
		g.best = append(g.best, nil)
		g.seen = append(g.seen, g.runs)
		ids = append(ids, id)
	}
	g.idBuf, g.newBuf = ids, fresh
	if len(g.count) != len(g.keys) || len(g.best) != len(g.keys) || len(g.seen) != len(g.keys) || len(g.ids) != len(g.keys) {
		panic("campaign: the guided campaign's feature tables disagree")
	}
	if len(fresh) == 0 || !r.OK {
		// A failing run is reported, not bred from: its descendants
		// would mostly find the same failure again.
		return
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	c := j.cfg
	c.Faults = r.Plan
	if strings.TrimSpace(c.Faults) == "" {
		c.Faults = cli.EmptyPlan
	}
	c.CrashStep = 0 // the plan holds its crash
	c.FaultIntensity, c.FaultIntensitySet = 0, false
	e := &corpusEntry{cfg: c, features: ids, steps: max(r.Steps, 1), reach: entryReach(r)}
	for _, id := range ids {
		if b := g.best[id]; b == nil || e.steps < b.steps {
			if b != nil {
				b.top--
			}
			g.best[id] = e
			e.top++
		}
	}
	g.corpus = append(g.corpus, e)
}

// sample records the coverage growth after a generation, keeping at most
// guidedGrowthPoints evenly spread samples (and always the last).
func (g *guided) sample(last bool, count uint64) {
	every := max(int(count)/guidedGrowthPoints, guidedGeneration)
	n := len(g.rep.Growth)
	if !last && n > 0 && g.runs-g.rep.Growth[n-1].Runs < every {
		return
	}
	g.rep.Growth = append(g.rep.Growth, GrowthPoint{Runs: g.runs, Features: len(g.keys), Corpus: len(g.corpus)})
}

// hitBucket is AFL's bucket of a hit count: 1, 2, 3, 4-7, 8-15, 16-31,
// 32-127, 128 and more, as 1..8.
func hitBucket(h uint64) int {
	switch {
	case h <= 3:
		return int(h)
	case h < 8:
		return 4
	case h < 16:
		return 5
	case h < 32:
		return 6
	case h < 128:
		return 7
	}
	return 8
}

// add adds a generation's stats to the campaign's; the generation's jobs
// are the campaign's from off on.
func (st *campaignStats) add(g *campaignStats, off uint64) {
	st.runs += g.runs
	for _, f := range g.failed {
		f.idx += off
		st.failed = append(st.failed, f)
	}
	st.detected += g.detected
	st.faults += g.faults
	for k, v := range g.byChecker {
		st.byChecker[k] += v
	}
	for k, v := range g.byCrash {
		st.byCrash[k] += v
	}
	st.online.Add(g.online)
	for name, a := range g.points {
		t := st.point(name)
		t.hits += a.hits
		t.runsHit += a.runsHit
		t.runsCrashed += a.runsCrashed
	}
	for i, v := range g.sometimes {
		st.sometimes[i] += v
	}
	st.virtual += g.virtual
	st.steps += g.steps
	if g.traces != nil && st.traces == nil {
		st.traces = map[uint64]uint64{}
	}
	for i, h := range g.traces {
		st.traces[i] = h
	}
	st.interrupted = st.interrupted || g.interrupted
	st.budgetExhausted = st.budgetExhausted || g.budgetExhausted
	if st.artifactErr == nil {
		st.artifactErr = g.artifactErr
	}
}

// printGuided prints a guided campaign's corpus and coverage growth.
func printGuided(out io.Writer, gr *GuidedReport) {
	if gr == nil {
		return
	}
	kinds := make([]string, 0, len(gr.Coverage))
	total := 0
	for k, v := range gr.Coverage {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
		total += v
	}
	sort.Strings(kinds)
	fmt.Fprintf(out, "guided:         corpus %d runs; %d derived runs (%d failed); coverage %d features (%s)\n",
		gr.Corpus, gr.Derived, gr.DerivedFailed, total, strings.Join(kinds, ", "))
	if len(gr.Growth) > 0 {
		var b strings.Builder
		step := max(len(gr.Growth)/8, 1)
		for i, p := range gr.Growth {
			if i%step == 0 || i == len(gr.Growth)-1 {
				fmt.Fprintf(&b, " %d:%d", p.Runs, p.Features)
			}
		}
		fmt.Fprintf(out, "coverage growth (runs:features):%s\n", b.String())
	}
}

// mergeGuided combines the guided reports of shards: each shard keeps a
// corpus of its own, so the corpus sizes and the counts add up (coverage
// by kind is then a sum over shards, not a union), and the growth curves
// are the shards' own, left out.
func mergeGuided(a, b *GuidedReport) *GuidedReport {
	if b == nil {
		return a
	}
	if a == nil {
		a = &GuidedReport{Generation: b.Generation, Coverage: map[string]int{}, Mutations: map[string]int{}}
	}
	a.Corpus += b.Corpus
	a.Derived += b.Derived
	a.DerivedFailed += b.DerivedFailed
	for k, v := range b.Coverage {
		a.Coverage[k] += v
	}
	for k, v := range b.Mutations {
		a.Mutations[k] += v
	}
	return a
}
