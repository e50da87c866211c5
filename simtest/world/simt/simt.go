// Package simt holds what engine packages' tests share when their test
// bodies run as simulated processes. A failed require there would end only
// the process's goroutine, so bodies report failures by panicking: the run
// then stops with StopPanic and the message, and Sim or Reboot fail the
// test with it. Only tests import this package.
package simt

import (
	"fmt"
	"sort"
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// Must panics if err is not nil.
func Must(err error) {
	if err != nil {
		panic(err)
	}
}

// Check panics with the formatted message if cond is false.
func Check(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf(format, args...))
	}
}

// Sim runs fn as the first process of a fresh node and fails the test
// unless every process finishes cleanly. The node's disk survives for a
// crash and a Reboot.
func Sim(t testing.TB, seed uint64, fn func(e *env.Env)) *world.Node {
	t.Helper()
	st, node := world.InSim(seed, fn)
	if st.Kind != world.StopAllDone {
		t.Fatalf("seed %d: %s\n%s", seed, st, st.Stack)
	}
	return node
}

// Reboot runs fn on node after its processes were killed and fails the
// test unless every process finishes cleanly.
func Reboot(t testing.TB, node *world.Node, fn func(e *env.Env)) {
	t.Helper()
	if st := node.Reboot(fn); st.Kind != world.StopAllDone {
		t.Fatalf("%s\n%s", st, st.Stack)
	}
}

// RequireTableMatchesSource fails t unless a table of names (the injection
// points, the sometimes-conditions) lists exactly the names the engine's
// source uses: found maps each name used to the file using it. It names
// what the source uses and the table lacks, what the table lists and no
// source uses, and any name listed twice.
func RequireTableMatchesSource(t testing.TB, found map[string]string, listed []string, table string) {
	t.Helper()
	in := make(map[string]bool, len(listed))
	for _, name := range listed {
		if in[name] {
			t.Fatalf("%q listed twice in %s", name, table)
		}
		in[name] = true
	}
	var missing, stale []string
	for name, path := range found {
		if !in[name] {
			missing = append(missing, name+" ("+path+")")
		}
	}
	for _, name := range listed {
		if _, ok := found[name]; !ok {
			stale = append(stale, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Fatalf("used in the source but not in %s: %v", table, missing)
	}
	if len(stale) > 0 {
		t.Fatalf("in %s but used nowhere: %v", table, stale)
	}
}
