package campaign

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// TestGuidedCorpusGrowsOnNewCoverage: a run joins the corpus exactly when
// it reaches a feature no earlier run reached — a sometimes condition, a
// point by a role, a point crashed at, a new hit bucket — and a failing
// run never does.
func TestGuidedCorpusGrowsOnNewCoverage(t *testing.T) {
	g := newGuided(Options{Base: simtest.DefaultConfig(0), Shards: 1})
	j := job{cfg: simtest.DefaultConfig(1)}
	res := func(mod func(r *simtest.Result)) *simtest.Result {
		r := &simtest.Result{OK: true, Steps: 100, Plan: "crash when step>=50\n",
			PointHits: map[string]uint64{"bufmgr-before-write": 3}, PointRoles: map[string]env.RoleSet{"bufmgr-before-write": env.NewRoleSet(env.RoleBgwriter)}}
		r.Sometimes.Add(env.Conditions[0].Name)
		if mod != nil {
			mod(r)
		}
		return r
	}
	g.fold(j, res(nil))
	require.Len(t, g.corpus, 1, "the first run reaches everything first")
	require.Equal(t, "crash when step>=50\n", g.corpus[0].cfg.Faults, "the entry keeps the plan it ran, to mutate it")
	g.fold(j, res(nil))
	require.Len(t, g.corpus, 1, "the same coverage again adds nothing")
	g.fold(j, res(func(r *simtest.Result) { r.PointHits["bufmgr-before-write"] = 2 }))
	require.Len(t, g.corpus, 2, "a new hit bucket")
	g.fold(j, res(func(r *simtest.Result) { r.PointHits["bufmgr-before-write"] = 3 }))
	require.Len(t, g.corpus, 2, "3 hits: a bucket reached before")
	g.fold(j, res(func(r *simtest.Result) { r.Sometimes.Add(env.Conditions[1].Name) }))
	require.Len(t, g.corpus, 3, "a new sometimes condition")
	g.fold(j, res(func(r *simtest.Result) { r.PointRoles["bufmgr-before-write"] = env.NewRoleSet(env.RoleBackend) }))
	require.Len(t, g.corpus, 4, "a point reached by a new role")
	g.fold(j, res(func(r *simtest.Result) { r.CrashedAt = []string{"bufmgr-before-write"} }))
	require.Len(t, g.corpus, 5, "a new point crashed at")
	g.fold(j, res(func(r *simtest.Result) { r.OK = false; r.Sometimes.Add(env.Conditions[2].Name) }))
	require.Len(t, g.corpus, 5, "a failing run is reported, not bred from")
	g.fold(j, res(func(r *simtest.Result) { r.Sometimes.Add(env.Conditions[2].Name) }))
	require.Len(t, g.corpus, 5, "what a failing run reached is no longer new")
	require.Equal(t, 9, g.runs)

	// Energy: the entry holding the rarest features is chosen most.
	g.energize()
	picks := map[*corpusEntry]int{}
	for i := 0; i < 2000; i++ {
		picks[g.pick()]++
	}
	rarest := g.corpus[0]
	for _, e := range g.corpus {
		require.Positive(t, picks[e], "every entry has some energy")
		if picks[e] > picks[rarest] {
			rarest = e
		}
	}
	require.NotSame(t, g.corpus[0], rarest, "the first entry holds only the commonest features")
}

// TestGuidedKnobsCoverRunFlags: every run flag is a knob the guided
// campaign mutates (a row of guidedKnobs, or a bool flag) or one it keeps
// fixed on purpose, and every knob value is one the flag accepts. A new
// run flag fails here until it gets a row.
func TestGuidedKnobsCoverRunFlags(t *testing.T) {
	for _, f := range cli.RunFlags {
		if f.Bool && f.Apply != nil {
			continue
		}
		listed := slices.Contains(guidedFixed, f.Name) || slices.ContainsFunc(guidedKnobs, func(k knob) bool { return k.flag == f.Name })
		require.True(t, listed, "run flag --%s: add a row to guidedKnobs (its values to try) or its name to guidedFixed", f.Name)
	}
	for _, k := range guidedKnobs {
		f := cli.Lookup(k.flag)
		require.NotNil(t, f, k.flag)
		require.NotNil(t, f.Apply, k.flag)
		require.GreaterOrEqual(t, len(k.values), 2, k.flag)
		for _, v := range k.values {
			if v != "" {
				require.NoError(t, f.Check(v), "--%s %s", k.flag, v)
			}
		}
	}
}

// TestGuidedDerivedRunsAreValid: derived configs are valid runs whose
// plans print and parse back equal and aim no role at a point it never
// reaches; every kind of mutation happens; a derivation depends only on
// the random stream.
func TestGuidedDerivedRunsAreValid(t *testing.T) {
	base := simtest.DefaultConfig(0)
	m := newMutator(base, nil)
	parent := base
	parent.Seed = 5
	parent.Faults = "crash when point=bufmgr-before-write#3\npause for=10ms role=backend when point=backend-after-snapshot and prob=0.1 times=3\nfsync-eio when file=heap and prob=0.05 times=2\n"
	require.NoError(t, parent.Validate())
	corpus := []*corpusEntry{{cfg: parent}}
	kinds := map[string]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	var first []simtest.Config
	for i := 0; i < 600; i++ {
		c, muts := m.derive(rng, parent, nil, 1000+uint64(i), corpus)
		first = append(first, c)
		require.NoError(t, c.Validate(), "%v", muts)
		require.NotEqual(t, parent, c, "%v", muts)
		require.Contains(t, []uint64{parent.Seed, 1000 + uint64(i)}, c.Seed)
		if c.Faults != "" {
			p, err := fault.Parse(c.Faults)
			require.NoError(t, err)
			require.Empty(t, fault.ImpossiblePairs(p, m.points), c.Faults)
			if len(p.Faults) > 0 {
				require.Equal(t, c.Faults, p.String())
			}
		}
		for _, k := range muts {
			kinds[k]++
		}
		// Corpus entries keep explicit plans; let some derive from a
		// child, as the campaign does.
		if c.Faults != "" && i%10 == 0 {
			corpus = append(corpus, &corpusEntry{cfg: c})
		}
	}
	for _, want := range []string{"knob:workload", "knob:clients", "plan-alter:hit", "plan-alter:prob", "plan-add", "plan-splice", "plan-drop", "plan-redraw"} {
		require.Positive(t, kinds[want], "mutation %s never happened: %v", want, kinds)
	}
	rng = rand.New(rand.NewPCG(1, 2))
	corpus = []*corpusEntry{{cfg: parent}}
	for i := 0; i < 50; i++ {
		c, _ := m.derive(rng, parent, nil, 1000+uint64(i), corpus)
		require.Equal(t, first[i], c, "derivation %d", i)
		if c.Faults != "" && i%10 == 0 {
			corpus = append(corpus, &corpusEntry{cfg: c})
		}
	}
}

// TestGuidedKeepsPinnedFlags: what the command line gave stays: a pinned
// knob is never mutated, and a pinned plan never edited.
func TestGuidedKeepsPinnedFlags(t *testing.T) {
	base := simtest.DefaultConfig(0)
	base.Workload, base.Clients = simtest.WorkloadBank, 2
	base.Faults = "crash when point=bufmgr-before-write#3\n"
	m := newMutator(base, []string{"workload", "clients", "fault"})
	rng := rand.New(rand.NewPCG(3, 4))
	parent := base
	parent.Seed = 9
	changed := 0
	for i := 0; i < 300; i++ {
		c, muts := m.derive(rng, parent, nil, 100+uint64(i), []*corpusEntry{{cfg: parent}})
		require.NoError(t, c.Validate())
		require.Equal(t, simtest.WorkloadBank, c.Workload, "%v", muts)
		require.Equal(t, 2, c.Clients, "%v", muts)
		require.Equal(t, base.Faults, c.Faults, "%v", muts)
		if c.Seed == parent.Seed {
			changed++ // kept its seed, so some knob changed
		}
	}
	require.Positive(t, changed, "the knobs left free are still mutated")
}

// TestGuidedPairFeatures: a run that reaches only conditions reached
// before is still new when it reaches them together, under a setting not
// seen with them, or with a crash at a point not seen with them; and a
// run reaching nothing new adds nothing.
func TestGuidedPairFeatures(t *testing.T) {
	g := newGuided(Options{Base: simtest.DefaultConfig(0), Shards: 1})
	j := job{cfg: simtest.DefaultConfig(1)}
	a, b := env.Conditions[0].Name, env.Conditions[1].Name
	res := func(config string, conds ...string) *simtest.Result {
		r := &simtest.Result{OK: true, Steps: 100, Config: config}
		for _, c := range conds {
			r.Sometimes.Add(c)
		}
		return r
	}
	g.fold(j, res("isolation=read-committed", a))
	g.fold(j, res("isolation=read-committed", b))
	require.Len(t, g.corpus, 2)
	g.fold(j, res("isolation=read-committed", a, b))
	require.Len(t, g.corpus, 3, "a and b in one run")
	g.fold(j, res("isolation=read-committed", a, b))
	require.Len(t, g.corpus, 3, "the same pair again")
	g.fold(j, res("isolation=repeatable-read", a))
	require.Len(t, g.corpus, 4, "a under another setting")
	g.fold(j, res("isolation=repeatable-read client_timeout=103ms switch=0.422", a))
	require.Len(t, g.corpus, 4, "settings drawn from a continuum are no features")
	r := res("isolation=repeatable-read", a)
	r.CrashedAt = []string{"bufmgr-before-write"}
	g.fold(j, r)
	require.Len(t, g.corpus, 5, "a crash point")
	r = res("isolation=repeatable-read", a, b)
	r.CrashedAt = []string{"bufmgr-before-write"}
	g.fold(j, r)
	require.Len(t, g.corpus, 6, "the crash point with b")
	r = res("isolation=repeatable-read", a, b)
	r.CrashedAt = []string{"bufmgr-before-write"}
	r.Unknown = 5
	g.fold(j, r)
	require.Len(t, g.corpus, 7, "commits in flight at the crash: a new bucket")
	r.Unknown = 6
	g.fold(j, r)
	require.Len(t, g.corpus, 7, "the same bucket")
	for id := range g.keys {
		require.Equal(t, g.count[id] > 0, true)
	}
}

// TestGuidedFavorsCheapestEntry: of two entries holding the same feature,
// the cheaper is its best, and takes the energy for it.
func TestGuidedFavorsCheapestEntry(t *testing.T) {
	g := newGuided(Options{Base: simtest.DefaultConfig(0), Shards: 1})
	j := job{cfg: simtest.DefaultConfig(1)}
	mk := func(steps uint64, conds ...string) *simtest.Result {
		r := &simtest.Result{OK: true, Steps: steps}
		for _, c := range conds {
			r.Sometimes.Add(c)
		}
		return r
	}
	a, b := env.Conditions[0].Name, env.Conditions[1].Name
	g.fold(j, mk(1000, a))    // entry 0: a, dear
	g.fold(j, mk(100, a, b))  // entry 1: a and b, cheap: best for both
	g.fold(j, mk(5000, a, b)) // nothing new
	require.Len(t, g.corpus, 2)
	for _, id := range g.corpus[1].features {
		require.Same(t, g.corpus[1], g.best[id])
	}
	require.Zero(t, g.corpus[0].top, "the dear entry is best for nothing")
	g.energize()
	require.Greater(t, g.corpus[1].energy, 10*g.corpus[0].energy)
}

// TestGuidedCrossTakesFromBothParents: a crossover's knobs come from both
// parents, its plan is a prefix of one's and a suffix of the other's, and
// every crossed config is valid.
func TestGuidedCrossTakesFromBothParents(t *testing.T) {
	base := simtest.DefaultConfig(0)
	m := newMutator(base, nil)
	a, b := base, base
	a.Seed, b.Seed = 5, 6
	a.Workload, a.Clients, a.Isolation = simtest.WorkloadBank, 2, simtest.IsoReadCommitted
	b.Workload, b.Clients, b.Isolation = simtest.WorkloadInsert, 6, simtest.IsoRepeatableRead
	a.Faults = "crash when point=bufmgr-before-write#3\n"
	b.Faults = "fsync-eio when file=heap and prob=0.05 times=2\n"
	require.NoError(t, a.Validate())
	require.NoError(t, b.Validate())
	rng := rand.New(rand.NewPCG(7, 8))
	fromA, fromB, plans := 0, 0, map[string]bool{}
	for i := 0; i < 200; i++ {
		c, muts := m.derive(rng, a, &b, 100+uint64(i), nil)
		require.NoError(t, c.Validate(), "%v", muts)
		require.Contains(t, []string{"cross-knobs", "cross-plan", "cross-plan(rejected)"}, muts[0])
		if c.Clients == 2 && c.Workload == a.Workload {
			fromA++
		}
		if c.Clients == 6 || c.Workload == b.Workload {
			fromB++
		}
		plans[c.Faults] = true
	}
	require.Positive(t, fromA)
	require.Positive(t, fromB)
	require.True(t, plans[a.Faults+b.Faults], "a's crash then b's fsync error: %v", plans)
}
