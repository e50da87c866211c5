package fault

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Generators of valid plans, covering every action and atom kind with values
// at and near their bounds.

// genName draws names, including the text form's keywords, which are
// ordinary names where a name is expected.
var genName = rapid.OneOf(
	rapid.StringMatching(`[A-Za-z0-9_.*?/\-\[\]]{1,16}`),
	rapid.SampledFrom([]string{"when", "and", "or", "not", "true", "times", "point", "-", "a-b", "x.y", "pg_wal/0001"}),
)

// genGlob draws valid path.Match patterns.
var genGlob = rapid.Custom(func(t *rapid.T) string {
	s := rapid.StringMatching(`[A-Za-z0-9_./*?\-]{0,8}(\[[a-z0-9]{1,3}\])?[A-Za-z0-9_./*?\-]{0,8}`).Draw(t, "glob")
	if checkGlob(s) != nil {
		s = "base/*"
	}
	return s
})

var genDuration = rapid.OneOf(
	rapid.Custom(func(t *rapid.T) time.Duration {
		return time.Duration(rapid.Int64Range(0, int64(maxArgDuration)).Draw(t, "ns"))
	}),
	rapid.SampledFrom([]time.Duration{0, 1, time.Microsecond, 1500 * time.Nanosecond, time.Millisecond, 30 * time.Millisecond, 1500 * time.Millisecond, time.Hour, maxArgDuration}),
)

var genPositiveDuration = rapid.Custom(func(t *rapid.T) time.Duration {
	d := genDuration.Draw(t, "d")
	if d == 0 {
		d = time.Nanosecond
	}
	return d
})

var genProb = rapid.OneOf(
	rapid.Float64Range(math.SmallestNonzeroFloat64, 1),
	rapid.SampledFrom([]float64{1, 0.5, 0.1, 0.01, 1e-9, math.SmallestNonzeroFloat64, math.Nextafter(1, 0)}),
)

var genCount = rapid.OneOf(rapid.Uint64(), rapid.Uint64Range(0, 10))

var genAtom = rapid.Custom(func(t *rapid.T) Atom {
	k := AtomKind(rapid.IntRange(int(AtomTrue), int(numAtomKinds)-1).Draw(t, "atom"))
	a := Atom{Kind: k}
	switch k {
	case AtomTimeGE, AtomTimeLT:
		a.Dur = time.Duration(rapid.OneOf(rapid.Int64Min(0), rapid.Int64Range(0, int64(time.Second))).Draw(t, "dur"))
	case AtomStepGE, AtomStepLT:
		a.N = genCount.Draw(t, "n")
	case AtomPoint:
		a.Name = genName.Draw(t, "point")
		a.Hit = genCount.Draw(t, "hit")
	case AtomOp:
		a.Op = OpKind(rapid.IntRange(0, int(numOpKinds)-1).Draw(t, "op"))
	case AtomFile:
		a.File = FileClass(rapid.IntRange(0, int(numFileClasses)-1).Draw(t, "file"))
	case AtomPath:
		a.Name = genGlob.Draw(t, "path")
	case AtomRole:
		a.Role = Role(rapid.IntRange(0, int(numRoles)-1).Draw(t, "role"))
	case AtomProc:
		a.Name = genName.Draw(t, "proc")
	case AtomLock:
		a.Name = genName.Draw(t, "lock")
	case AtomNth:
		a.N = max(genCount.Draw(t, "nth"), 1)
	case AtomProb:
		a.Prob = genProb.Draw(t, "prob")
	}
	return a
})

// genExpr draws an expression at most depth levels deep.
func genExpr(depth int) *rapid.Generator[*Expr] {
	return rapid.Custom(func(t *rapid.T) *Expr {
		if depth <= 1 || rapid.IntRange(0, 2).Draw(t, "leaf") == 0 {
			return AtomExpr(genAtom.Draw(t, "atom"))
		}
		sub := genExpr(depth - 1)
		switch rapid.IntRange(0, 2).Draw(t, "op") {
		case 0:
			return Not(sub.Draw(t, "arg"))
		case 1:
			return And(rapid.SliceOfN(sub, 2, 4).Draw(t, "args")...)
		default:
			return Or(rapid.SliceOfN(sub, 2, 4).Draw(t, "args")...)
		}
	})
}

var genAction = rapid.Custom(func(t *rapid.T) Action {
	k := ActionKind(rapid.IntRange(int(ActCrash), int(numActionKinds)-1).Draw(t, "action"))
	a := Action{Kind: k}
	switch k {
	case ActCrash:
		a.Mode = rapid.SampledFrom([]string{"", ModeDropAll, ModeRandomSubset, ModeTorn}).Draw(t, "mode")
		a.NonAtomicRename = rapid.Bool().Draw(t, "nonatomic")
	case ActKill, ActPause:
		if k == ActPause {
			a.For = genPositiveDuration.Draw(t, "for")
		}
		switch rapid.IntRange(0, 2).Draw(t, "target") {
		case 1:
			a.Proc = genName.Draw(t, "proc")
		case 2:
			a.Role, a.HasRole = Role(rapid.IntRange(0, int(numRoles)-1).Draw(t, "role")), true
		}
	case ActLatency:
		a.For = genPositiveDuration.Draw(t, "for")
	case ActClockSkew:
		a.Max = genPositiveDuration.Draw(t, "max")
	case ActBitFlip:
		a.Bits = rapid.OneOf(rapid.IntRange(1, maxFlipBits), rapid.Just(1)).Draw(t, "bits")
	case ActMisdirectedWrite:
		a.By = rapid.OneOf(rapid.Int64Range(-maxMisdirectBy, maxMisdirectBy), rapid.SampledFrom([]int64{DefaultMisdirectBy, -DefaultMisdirectBy, 1, -1})).Draw(t, "by")
		if a.By == 0 {
			a.By = 1
		}
	case ActPromote:
		if rapid.Bool().Draw(t, "hasnode") {
			a.Node = genName.Draw(t, "node")
		}
	}
	return a
})

var genFault = rapid.Custom(func(t *rapid.T) Fault {
	f := Fault{Action: genAction.Draw(t, "action")}
	if rapid.IntRange(0, 3).Draw(t, "hasWhen") > 0 {
		f.When = genExpr(4).Draw(t, "when")
	}
	f.Times = rapid.OneOf(rapid.IntRange(0, 3), rapid.IntRange(0, maxTimes)).Draw(t, "times")
	return f
})

var genPlan = rapid.Custom(func(t *rapid.T) Plan {
	var p Plan
	// Parse gives a nil slice for an empty plan, so the generator must too.
	p.Faults = append(p.Faults, rapid.SliceOfN(genFault, 0, 6).Draw(t, "faults")...)
	return p
})

// TestRoundTrip: for every valid plan, Parse(p.String()) equals p, and
// printing is a fixed point: print(parse(print(p))) == print(p).
func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genPlan.Draw(t, "plan")
		require.NoError(t, p.Validate())
		text := p.String()
		q, err := Parse(text)
		require.NoError(t, err, "text:\n%s", text)
		require.Equal(t, p, q, "text:\n%s", text)
		require.Equal(t, text, q.String())
		for _, f := range p.Faults {
			g, err := ParseFault(f.String())
			require.NoError(t, err)
			require.Equal(t, f, g)
		}
	})
}

// TestRoundTripExpr: the printer's parentheses keep every tree's shape.
func TestRoundTripExpr(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := genExpr(6).Draw(t, "expr")
		f := Fault{Action: Action{Kind: ActCrash}, When: e, Times: 1}
		g, err := ParseFault(f.String())
		require.NoError(t, err, f.String())
		require.Equal(t, f, g, f.String())
	})
}
