package campaign

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// eventLog keeps a run's events up to a virtual time.
type eventLog struct {
	until time.Duration
	evs   []env.Event
}

func (l *eventLog) Observe(e env.Event) {
	// The note naming the plan differs by what the fork added to it; it
	// is text in the trace, no step.
	if e.Kind == env.EvNote && strings.HasPrefix(e.Name, "fault plan:") {
		return
	}
	if e.Time < l.until {
		l.evs = append(l.evs, e)
	}
}

// corpusConfig is the config fold keeps for a run of c that returned r.
func corpusConfig(c simtest.Config, r *simtest.Result) simtest.Config {
	c.Faults = r.Plan
	if strings.TrimSpace(c.Faults) == "" {
		c.Faults = cli.EmptyPlan
	}
	c.CrashStep, c.FaultIntensity, c.FaultIntensitySet = 0, 0, false
	return c
}

// TestAnchoredRunKeepsThePrefix: what an anchored derivation rests on. A
// corpus entry's config (the run's plan written out) replays its run
// exactly; the first-reach steps are recorded; and a run forked after
// step K (anchorPlan: a crash or kill at K+d with the plan's own crashes
// held before it, a pause or a disk fault from step K+1 on) is the
// parent's up to K: the same events, in order, before the virtual time of
// the first reach, and every condition the parent first reached by step K
// reached at the same step and time. The forks must also change the run,
// or the test would pass on a fault that never fires.
func TestAnchoredRunKeepsThePrefix(t *testing.T) {
	points := newMutator(simtest.DefaultConfig(0), nil).points
	forks, diverged := 0, 0
	for seed := uint64(1); seed <= 4; seed++ {
		fresh := simtest.DefaultConfig(seed)
		r0 := simtest.Run(fresh)
		require.True(t, r0.OK, "seed %d: %v", seed, r0.Failures)
		parent := corpusConfig(fresh, r0)
		rp := simtest.Run(parent)
		require.Equal(t, r0.Trace, rp.Trace, "seed %d: the corpus config replays the run", seed)
		require.Equal(t, r0.FirstReach, rp.FirstReach, "seed %d", seed)
		reach := entryReach(rp)
		require.NotEmpty(t, reach, "seed %d reaches some condition", seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		for try := 0; try < 3; try++ {
			// A condition reached in the middle of the run: the
			// latest first reach would leave little to fork.
			rs := reach[rng.IntN(len(reach))]
			at := rp.FirstReach[rs.cond]
			p, err := fault.Parse(parent.Faults)
			require.NoError(t, err)
			what := anchorPlan(rng, &p, rs.step, points)
			require.NoError(t, p.Validate(), what)
			child := parent
			child.Faults = p.String()
			require.NoError(t, child.Validate())
			_, err = fault.Parse(child.Faults)
			require.NoError(t, err, "the derived plan parses back")

			plog, clog := &eventLog{until: at.Time}, &eventLog{until: at.Time}
			pc := parent
			pc.Events = plog
			cc := child
			cc.Events = clog
			rpe, rc := simtest.Run(pc), simtest.Run(cc)
			require.Equal(t, rp.Trace, rpe.Trace, "observing changes nothing")
			require.NotEmpty(t, plog.evs)
			require.Equal(t, len(plog.evs), len(clog.evs), "seed %d, %s after %s at step %d: events before the fork", seed, what, env.Conditions[rs.cond].Name, rs.step)
			for i := range plog.evs {
				require.Equal(t, plog.evs[i], clog.evs[i], "seed %d, %s: event %d before the fork", seed, what, i)
			}
			for i := range env.Conditions {
				if rp.Sometimes[i/64]&(1<<(i%64)) != 0 && rp.FirstReach[i].Step <= rs.step {
					require.Equal(t, rp.FirstReach[i], rc.FirstReach[i], "seed %d, %s: %s reached before the fork", seed, what, env.Conditions[i].Name)
				}
			}
			forks++
			t.Logf("seed %d: %s after %s at step %d: %d events before the fork, diverged %v", seed, what, env.Conditions[rs.cond].Name, rs.step, len(plog.evs), rc.Trace != rp.Trace)
			if rc.Trace != rp.Trace {
				diverged++
			}
		}
	}
	require.Equal(t, 12, forks)
	require.Greater(t, diverged, forks/2, "most forks change the run after the fork")
}

// TestAnchoredDerivationsAreValid: an anchored run is its parent but for
// the plan: the same seed and knobs, the parent's faults kept (its crashes
// and kills held to the steps before the fork, with "and step<F" last),
// one fault added that cannot fire before the anchor's step, every kind
// of fork drawn; the plan prints and parses back equal and aims no role at
// a point it never reaches. A pinned plan is never anchored.
func TestAnchoredDerivationsAreValid(t *testing.T) {
	base := simtest.DefaultConfig(0)
	g := newGuided(Options{Base: base, Shards: 1})
	parent := base
	parent.Seed = 5
	parent.Faults = "crash when point=bufmgr-before-write#3\npause for=10ms role=backend when point=backend-after-snapshot and prob=0.1 times=3\nfsync-eio when file=heap and prob=0.05 times=2\n"
	require.NoError(t, parent.Validate())
	e := &corpusEntry{cfg: parent, reach: []reachStep{{cond: 0, step: 1500}, {cond: 3, step: 2500}}}
	kinds := map[string]int{}
	for i := 0; i < 400; i++ {
		c, what, ok := g.anchor(e)
		require.True(t, ok)
		kinds[what]++
		require.NoError(t, c.Validate(), what)
		require.Equal(t, parent.Seed, c.Seed, "an anchored run keeps its parent's seed")
		child := c
		child.Faults = parent.Faults
		require.Equal(t, parent, child, "%s: only the plan changes", what)
		p, err := fault.Parse(c.Faults)
		require.NoError(t, err)
		require.Equal(t, c.Faults, p.String())
		require.Empty(t, fault.ImpossiblePairs(p, g.mut.points), c.Faults)
		require.Len(t, p.Faults, 4, "the parent's three faults and one added")
		lines := strings.Split(strings.TrimSpace(c.Faults), "\n")
		require.True(t, strings.HasPrefix(lines[1], "pause for=10ms role=backend when point=backend-after-snapshot"), "the parent's pause is kept as it was")
		added := lines[3]
		m := regexp.MustCompile(`step>=(\d+)`).FindStringSubmatch(added)
		require.NotNil(t, m, added)
		n, err := strconv.ParseUint(m[1], 10, 64)
		require.NoError(t, err)
		require.True(t, (n > 1500 && n <= 1500+4097) || (n > 2500 && n <= 2500+4097), "%s: the added fault cannot fire before the anchor's step", added)
		if what == "anchor-crash" || what == "anchor-kill" {
			require.Regexp(t, `^crash when point=bufmgr-before-write#3 and step<\d+$`, lines[0], "the parent's crash is held before the fork")
		} else {
			require.Equal(t, "crash when point=bufmgr-before-write#3", lines[0], "%s keeps the parent's crash", what)
		}
	}
	for _, want := range []string{"anchor-crash", "anchor-kill", "anchor-pause", "anchor-disk"} {
		require.Positive(t, kinds[want], "fork %s never drawn: %v", want, kinds)
	}

	pinned := newGuided(Options{Base: base, Shards: 1, Pinned: []string{"faults"}})
	_, _, ok := pinned.anchor(e)
	require.False(t, ok, "a plan the command line gave is not edited")
}
