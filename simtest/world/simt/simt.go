// Package simt holds what engine packages' tests share when their test
// bodies run as simulated processes. A failed require there would end only
// the process's goroutine, so bodies report failures by panicking: the run
// then stops with StopPanic and the message, and Sim or Reboot fail the
// test with it. Only tests import this package.
package simt

import (
	"fmt"
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
