package fault

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var enginePoints = []string{
	"smgr-before-write", "smgr-after-write", "smgr-after-fsync", "walwriter-before-fsync",
	"checkpointer-after-buffers", "clog-after-fsync",
}

func TestSwarmDeterministic(t *testing.T) {
	for seed := range uint64(50) {
		a := Swarm(&testRand{seed}, 0.7, enginePoints)
		b := Swarm(&testRand{seed}, 0.7, enginePoints)
		require.Equal(t, a, b)
		require.Equal(t, a.String(), b.String())
	}
	// Different seeds give different plans (not all the same).
	seen := map[string]bool{}
	for seed := range uint64(50) {
		seen[Swarm(&testRand{seed}, 1, enginePoints).String()] = true
	}
	require.Greater(t, len(seen), 40)
}

func TestSwarmEmpty(t *testing.T) {
	r := &countingRand{}
	require.Equal(t, Plan{}, Swarm(r, 0, enginePoints))
	require.Zero(t, r.n, "intensity 0 draws nothing")
}

func TestSwarmMisuse(t *testing.T) {
	require.Panics(t, func() { Swarm(&testRand{}, -0.1, nil) })
	require.Panics(t, func() { Swarm(&testRand{}, 1.1, nil) })
	require.Panics(t, func() { Swarm(nil, 0.5, nil) })
	require.Panics(t, func() { Swarm(&testRand{}, 0.5, []string{"bad name"}) })
	require.Panics(t, func() { Swarm(&testRand{}, 0.5, []string{"a", "a"}) })
}

// TestSwarmProperties: for any seed, intensity and point list, the plan is
// valid, parses back equal, has at most one crash or kill, and aims only at
// the given points.
func TestSwarmProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		intensity := rapid.OneOf(rapid.Float64Range(0, 1), rapid.SampledFrom([]float64{0, 1, 1e-9})).Draw(t, "intensity")
		points := rapid.SliceOfNDistinct(genName, 0, 5, func(s string) string { return s }).Draw(t, "points")
		p := Swarm(&testRand{seed}, intensity, points)
		require.NoError(t, p.Validate())
		q, err := Parse(p.String())
		require.NoError(t, err, p.String())
		require.Equal(t, p, q)
		crashes := 0
		for _, f := range p.Faults {
			if f.Action.Kind == ActCrash || f.Action.Kind == ActKill {
				crashes++
			}
			walk(f.When, func(a Atom) {
				if a.Kind == AtomPoint {
					require.Contains(t, points, a.Name)
				}
			})
		}
		require.LessOrEqual(t, crashes, 1, p.String())
		if intensity == 0 {
			require.Equal(t, Plan{}, p)
		}
	})
}

// TestSwarmMix: over many seeds every kind shows up, survivable kinds more
// often than destructive ones, and the crash or kill in about half the plans.
func TestSwarmMix(t *testing.T) {
	const n = 4000
	count := map[ActionKind]int{}
	for seed := range uint64(n) {
		for _, f := range Swarm(&testRand{seed}, 0.5, enginePoints).Faults {
			count[f.Action.Kind]++
		}
	}
	for k := ActCrash; k < numActionKinds; k++ {
		if k == ActPromote {
			require.Zero(t, count[k], "the swarm draws no failover: it needs standbys")
			continue
		}
		require.NotZero(t, count[k], k.String())
	}
	for _, k := range []ActionKind{ActFsyncEIO, ActWriteEIO, ActENOSPC, ActReadEIO, ActLatency, ActPause, ActClockSkew} {
		require.InDelta(t, n/2, count[k], n/10, k.String())
	}
	for _, k := range []ActionKind{ActBitFlip, ActTornWrite, ActLostWrite, ActMisdirectedWrite} {
		require.InDelta(t, n/4, count[k], n/10, k.String())
	}
	require.InDelta(t, n/2, count[ActCrash]+count[ActKill], n/10)
}

// TestSwarmIntensity: heavier intensity means higher fault probabilities.
func TestSwarmIntensity(t *testing.T) {
	mean := func(intensity float64) float64 {
		sum, n := 0.0, 0
		for seed := range uint64(500) {
			for _, f := range Swarm(&testRand{seed}, intensity, enginePoints).Faults {
				walk(f.When, func(a Atom) {
					if a.Kind == AtomProb {
						sum += a.Prob
						n++
					}
				})
			}
		}
		return sum / float64(n)
	}
	require.Less(t, mean(0.1), mean(0.5))
	require.Less(t, mean(0.5), mean(1))
}

func TestSwarmExample(t *testing.T) {
	// One plan printed, so that a change in what Swarm draws shows up in
	// review: saved seeds would now mean other plans.
	want := `kill role=backend when time>=200ms
fsync-eio when file=index and prob=0.1 times=4
enospc when prob=0.02 times=4
read-eio when prob=0.002 times=3
bitflip bits=2 when file=index and prob=0.0002
torn-write when file=index and prob=0.002
`
	require.Equal(t, want, Swarm(&testRand{3}, 1, enginePoints).String())
}

func TestSystematic(t *testing.T) {
	plans := Systematic(enginePoints, 3)
	require.Len(t, plans, len(enginePoints)*3)
	i := 0
	for _, pt := range enginePoints {
		for h := 1; h <= 3; h++ {
			p := plans[i]
			require.Equal(t, fmt.Sprintf("crash when point=%s#%d\n", pt, h), p.String())
			q, err := Parse(p.String())
			require.NoError(t, err)
			require.Equal(t, p, q)
			i++
		}
	}
	require.Empty(t, Systematic(enginePoints, 0))
	require.Empty(t, Systematic(nil, 5))
	require.Panics(t, func() { Systematic(enginePoints, -1) })
	require.Panics(t, func() { Systematic([]string{"a b"}, 1) })
	require.Panics(t, func() { Systematic(enginePoints, maxSystematic) })

	// The plan fires exactly at that hit.
	s := NewState(plans[1], &testRand{})
	var fired []uint64
	for h := uint64(1); h <= 4; h++ {
		ev := point(enginePoints[0], h)
		s.Eval(&ev, func(int, Action) { fired = append(fired, h) })
	}
	require.Equal(t, []uint64{2}, fired)
}

// walk calls fn on every atom of e.
func walk(e *Expr, fn func(Atom)) {
	if e == nil {
		return
	}
	if e.Op == ExprAtom {
		fn(e.Atom)
	}
	for _, a := range e.Args {
		walk(a, fn)
	}
}
