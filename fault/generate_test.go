package fault

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// genPoints is a small table in the engine's shape: a backend-only point,
// one the bgwriter and the checkpointer reach too, a checkpoint point and
// the startup's redo point.
var genPoints = []PointRoles{
	{"backend-after-snapshot", env.NewRoleSet(RoleBackend)},
	{"bufmgr-before-write", env.NewRoleSet(RoleBackend, RoleBgwriter, RoleCheckpointer, RoleStartup)},
	{"checkpointer-after-redo", env.NewRoleSet(RoleCheckpointer, RoleStartup)},
	{"startup-after-redo-record", env.NewRoleSet(RoleStartup)},
}

func genConfig(intensity float64) Gen {
	return Gen{
		Points:        genPoints,
		PausePoints:   []string{"backend-after-snapshot", "bufmgr-before-write", "checkpointer-after-redo"},
		SnapshotPoint: "backend-after-snapshot",
		RedoPoint:     "startup-after-redo-record",
		StepsSoFar:    100,
		CrashSteps:    4800,
		Intensity:     intensity,
	}
}

// TestGenerateOnlyPossiblePairs: over many seeds, every role-aimed pause
// Generate draws names a role that reaches its point, and each role that
// reaches a pause point is drawn for it.
func TestGenerateOnlyPossiblePairs(t *testing.T) {
	drawn := map[string]env.RoleSet{}
	for seed := uint64(1); seed <= 3000; seed++ {
		for _, intensity := range []float64{0, 0.5, 1} {
			g := genConfig(intensity)
			g.Fork = func(label uint64) Rand { return &testRand{seed*7919 + label} }
			p := Generate(&testRand{seed}, g)
			require.Empty(t, ImpossiblePairs(p, genPoints), "seed %d:\n%s", seed, p)
			back, err := Parse(p.String())
			require.NoError(t, err)
			require.Equal(t, p, back)
			for _, f := range p.Faults {
				if f.Action.Kind == ActPause && f.Action.HasRole && f.When.Op == ExprAnd {
					pt := f.When.Args[0].Atom.Name
					drawn[pt] = drawn[pt].Add(f.Action.Role)
				}
			}
		}
	}
	require.Equal(t, map[string]env.RoleSet{
		"backend-after-snapshot":  env.NewRoleSet(RoleBackend),
		"bufmgr-before-write":     env.NewRoleSet(RoleBackend, RoleBgwriter, RoleCheckpointer),
		"checkpointer-after-redo": env.NewRoleSet(RoleCheckpointer),
	}, drawn)
}

// TestImpossiblePairs: the judge finds a role aimed at a point it never
// reaches, through the action's role and through role= in the trigger, and
// passes possible pairs and faults without a point.
func TestImpossiblePairs(t *testing.T) {
	for _, tc := range []struct {
		plan string
		bad  []string
	}{
		{"pause for=10ms role=bgwriter when point=backend-after-snapshot and prob=0.1", []string{"fault 1: bgwriter never reaches backend-after-snapshot"}},
		{"crash when role=backend and point=checkpointer-after-redo#2", []string{"fault 1: backend never reaches checkpointer-after-redo"}},
		{"kill role=walwriter when point=bufmgr-before-write", []string{"fault 1: walwriter never reaches bufmgr-before-write"}},
		{"pause for=10ms role=bgwriter when point=bufmgr-before-write", nil},
		{"crash when role=startup and point=startup-after-redo-record#3", nil},
		{"kill role=bgwriter when time>=10ms", nil},
		{"pause for=1ms when point=backend-after-snapshot", nil},
		// A disjunction is not judged: either side may fire.
		{"crash when role=bgwriter or point=backend-after-snapshot", nil},
	} {
		p, err := Parse(tc.plan)
		require.NoError(t, err)
		require.Equal(t, tc.bad, ImpossiblePairs(p, genPoints), tc.plan)
	}
}

func TestPlanPointNames(t *testing.T) {
	p, err := Parse("crash when point=a#2 and role=backend\npause for=1ms when not (point=b or time>=1ms)\nkill role=checkpointer when step>=5\n")
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, p.PointNames())
	require.Empty(t, Plan{}.PointNames())
}
