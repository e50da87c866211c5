package world

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestSchedFailureAfterPanicIsPartOfTheCrash: under SetPanicKillsProcess,
// a process that fails (a Go panic: an engine assertion) after another
// process's PANIC and before the parent has reaped that PANIC dies as a
// killed process does, since the postmaster's crash-restart would
// SIGQUIT it anyway; once the PANIC is reaped, the same failure stops the
// run as an engine bug again.
func TestSchedFailureAfterPanicIsPartOfTheCrash(t *testing.T) {
	for _, reapFirst := range []bool{false, true} {
		s := newTestSim(1, 0)
		s.SetPanicKillsProcess(true)
		e := &env.Env{Sched: s, Clock: simClock{s}, Points: s, Log: s}
		var reaped []env.Exit
		s.Spawn("parent", func() {
			s.Spawn("panicker", func() { e.Panicf("could not fsync file %q", "base/1") })
			s.Spawn("asserter", func() {
				s.Sleep(time.Millisecond)
				panic("heapam: a page went back in time")
			})
			if reapFirst {
				for i := 0; i < 100 && len(reaped) == 0; i++ {
					s.Sleep(10 * time.Microsecond) // the panicker runs and PANICs
					reaped = append(reaped, s.Reap()...)
				}
				require.Len(t, reaped, 1)
			}
			s.Sleep(2 * time.Millisecond)
			reaped = append(reaped, s.Reap()...)
		})
		st := s.Run()
		if reapFirst {
			require.Equal(t, StopPanic, st.Kind, st.String())
			require.Contains(t, st.Detail, "a page went back in time")
			continue
		}
		require.Equal(t, StopAllDone, st.Kind, st.String())
		require.Len(t, reaped, 2)
		require.True(t, reaped[0].Abnormal && reaped[1].Abnormal)
		require.Contains(t, reaped[1].Reason, "failed after a PANIC, before the crash-restart: heapam: a page went back in time")
		s.KillAll()
	}
}
