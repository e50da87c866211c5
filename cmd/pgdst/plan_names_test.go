package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlanNamesAreChecked: a fault that names a point, role, file class,
// disk operation or process no run has could never fire, and the run
// would pass as if it had been tested (issue 18). Each is one line, exit
// status 2, with the names that are valid.
func TestPlanNamesAreChecked(t *testing.T) {
	for _, c := range []struct {
		fault, want string
	}{
		{"crash when point=no-such-point", `unknown injection point "no-such-point" (the engine's points: backend-after-snapshot,`},
		{"crash when role=nosuchrole", `unknown role "nosuchrole" (valid: backend, bgwriter, checkpointer,`},
		{"kill role=nosuchrole", `unknown role "nosuchrole" (valid: backend,`},
		{"fsync-eio when file=nosuchclass", `unknown file class "nosuchclass" (valid: wal, heap, index,`},
		{"fsync-eio when op=nosuchop", `unknown op "nosuchop" (valid: read, write, fsync,`},
		{"crash when process=checkpointer", `unknown condition "process" (valid: true, time, step, point, op, file, path, role, proc, nth, prob)`},
		{"crash when role=backend and bogus>=3", `unknown condition "bogus" (valid: true,`},
		{"crsh when step>=10", `unknown action "crsh" (valid: crash, kill, pause,`},
		{"kill proc=nosuchproc", `unknown process "nosuchproc" (proc= names one of: postmaster, logger, startup, checkpointer, bgwriter, walwriter, archiver, client-0..client-3;`},
		{"crash when proc=backend", `unknown process "backend"`},
		{"pause for=1ms proc=client-4", `unknown process "client-4"`},
		{"crash when proc=client-01", `unknown process "client-01"`},
		{"pause for=1ms role=backend when point=lwlock-acquire and lock=ProcArrayLck", `unknown lock "ProcArrayLck" (lock= at point=lwlock-acquire names one of: ProcArrayLock, XidGenLock, CLogControlLock,`},
		{"crash when not lock=nope", `unknown lock "nope"`},
	} {
		for _, cmd := range [][]string{{"run"}, {"campaign", "--seeds", "2"}} {
			args := append(append([]string{}, cmd...), "--fault", c.fault)
			code, out, errOut := runCLI(args...)
			require.Equal(t, 2, code, "%q: %s %s", args, out, errOut)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "%q: want one line, got %q", args, errOut)
			require.Contains(t, errOut, c.want, "%q", args)
			require.NotContains(t, errOut, "simtest:", "%q", args)
			require.Empty(t, out, "%q", args)
		}
	}
	// The names the messages offer work.
	for _, f := range []string{"pause for=1ms proc=client-3 when step>=2000", "kill proc=checkpointer when step>=2000", "crash when proc=bgwriter",
		"pause for=1ms role=backend when point=lwlock-acquire and lock=ProcArrayLock times=3"} {
		code, out, errOut := runCLI("run", "--fault", f)
		require.NotEqual(t, 2, code, "%q: %s %s", f, out, errOut)
	}
}
