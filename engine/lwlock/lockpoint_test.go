package lwlock_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// planNode is a simulated node running plan, with fn as its first
// process (role backend), and the plan's runner after the run.
func planNode(t *testing.T, plan string, fn func(e *env.Env)) (*world.Node, *world.PlanRunner) {
	t.Helper()
	p, err := fault.Parse(plan)
	require.NoError(t, err)
	st, node, r := world.InSimPlan(1, p, env.RoleBackend, fn)
	require.Equal(t, world.StopAllDone, st.Kind, "%v", st)
	return node, r
}

// TestLockPointAtEveryAcquisition: every acquisition of a scheduler mutex
// and of an LWLock (Acquire and ConditionalAcquire) reaches
// lwlock-acquire once, before it takes the lock, carrying the lock's
// tranche; a spinlock, a release, an LWLock's inner mutex and HeldByMe
// reach nothing.
func TestLockPointAtEveryAcquisition(t *testing.T) {
	_, r := planNode(t, "pause for=1us when point=lwlock-acquire times=0\n", func(e *env.Env) {
		pa := e.Sched.NewMutex("ProcArrayLock")
		heap := e.Sched.NewMutex("heap 16384")
		spin := e.Sched.NewSpinLock("BufHdrLock")
		buf := lwlock.New(e, "BufferContent 3")
		held := 0 // what each lock guards here
		pa.Lock()
		held++
		pa.Unlock()
		spin.Lock()
		held++
		spin.Unlock()
		buf.Acquire(lwlock.Shared)
		require.True(t, buf.HeldByMe())
		buf.Release()
		require.True(t, buf.ConditionalAcquire(lwlock.Exclusive))
		buf.Release()
		heap.Lock()
		held++
		heap.Unlock()
		require.Equal(t, 3, held)
	})
	want := []string{"ProcArrayLock", "BufferContent", "BufferContent", "heap"}
	require.Equal(t, len(want), r.Fires[0], "one hit per acquisition")
	require.Equal(t, uint64(len(want)), r.LockHits)
	var got []string
	for i, a := range r.Log {
		require.Equal(t, env.PointLWLockAcquire, a.Point)
		require.Equal(t, uint64(i+1), a.Hit)
		require.Equal(t, env.RoleBackend, a.Role)
		got = append(got, a.Lock)
	}
	require.Equal(t, want, got)
	require.Equal(t, env.NewRoleSet(env.RoleBackend), r.LockRoles["ProcArrayLock"])
}

// TestLockPointPauseOvertaken: a process paused at one lock's
// acquisition by a plan that names the lock, while another process takes
// that lock, reaches the sometimes condition lwlock-pause-overtaken; a
// pause during which nobody takes it does not, and a plan naming another
// lock does not pause at all.
func TestLockPointPauseOvertaken(t *testing.T) {
	const plan = "pause for=5ms proc=test when point=lwlock-acquire and lock=ProcArrayLock\n"
	scenario := func(other bool) func(e *env.Env) {
		return func(e *env.Env) {
			pa := e.Sched.NewMutex("ProcArrayLock")
			took := false
			if other {
				e.Sched.Spawn("other", func() {
					e.Clock.Sleep(time.Millisecond)
					pa.Lock()
					took = true
					pa.Unlock()
				})
			}
			start := e.Clock.Now()
			pa.Lock()
			require.GreaterOrEqual(t, e.Clock.Now()-start, 5*time.Millisecond, "paused before taking the lock")
			require.Equal(t, other, took, "the other process took the lock during the pause")
			pa.Unlock()
		}
	}
	node, r := planNode(t, plan, scenario(true))
	require.Equal(t, 1, r.Fires[0])
	require.True(t, node.Reached.Has("lwlock-pause-overtaken"))
	node, r = planNode(t, plan, scenario(false))
	require.Equal(t, 1, r.Fires[0])
	require.False(t, node.Reached.Has("lwlock-pause-overtaken"))

	node, r = planNode(t, "pause for=5ms when point=lwlock-acquire and lock=XidGenLock\n", func(e *env.Env) {
		l := lwlock.New(e, "WALWriteLock")
		start := e.Clock.Now()
		l.Acquire(lwlock.Exclusive)
		require.Less(t, e.Clock.Now()-start, time.Millisecond)
		l.Release()
	})
	require.Zero(t, r.Fires[0])
	require.Equal(t, uint64(1), r.LockHits)
	require.False(t, node.Reached.Has("lwlock-pause-overtaken"))
}

// TestTranchesTableIsComplete: lwlock.Tranches lists exactly the
// tranches (env.LockTranche) of the names the engine's source gives its
// locks, Sched.NewMutex("...") and lwlock.New(e, "..."), literal or the
// format of a fmt.Sprintf, so that a plan can name every lock and names
// none that does not exist.
func TestTranchesTableIsComplete(t *testing.T) {
	found := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			var arg ast.Expr
			switch {
			case sel.Sel.Name == "NewMutex":
				arg = call.Args[0]
			case sel.Sel.Name == "New" && len(call.Args) == 2 && isIdent(sel.X, "lwlock"):
				arg = call.Args[1]
			default:
				return true
			}
			name := leadingLiteral(arg)
			require.NotEmpty(t, name, "%s: a lock named by no literal: its tranche cannot be checked", fset.Position(call.Pos()))
			if tr := env.LockTranche(name); tr != "" {
				found[tr] = path
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, found, "ProcArrayLock", "the scan found the engine's locks")
	simt.RequireTableMatchesSource(t, found, lwlock.TrancheNames(), "lwlock.Tranches")
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// leadingLiteral is the string a lock's name starts with: a literal, the
// left of a +, or the format of a fmt.Sprintf ("" if none).
func leadingLiteral(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(x.Value)
		if err == nil {
			return s
		}
	case *ast.BinaryExpr:
		return leadingLiteral(x.X)
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" && len(x.Args) > 0 {
			return leadingLiteral(x.Args[0])
		}
	case *ast.SelectorExpr:
		if x.Sel.Name == "LWLockMutexPrefix" {
			return env.LWLockMutexPrefix
		}
	}
	return ""
}
