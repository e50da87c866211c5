package world

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestAbnormalExitInterruptsAccept: a child's PANIC wakes its parent out
// of a listener's Accept at the same virtual instant, as SIGCHLD wakes
// PostgreSQL's postmaster (process_pm_child_exit), instead of letting it
// wait out its accept timeout while the other children run on; a normal
// exit does not, and an abnormal exit already pending when Accept is
// called makes it return at once.
func TestAbnormalExitInterruptsAccept(t *testing.T) {
	for _, tc := range []struct {
		name     string
		child    func(e *env.Env, s *Sim)
		pending  bool // the child dies before the parent calls Accept
		wantWake time.Duration
	}{
		{"panic", func(e *env.Env, s *Sim) { s.Sleep(time.Millisecond); e.Panicf("could not fsync file %q", "base/1") }, false, time.Millisecond},
		{"normal exit", func(e *env.Env, s *Sim) { s.Sleep(time.Millisecond) }, false, 10 * time.Millisecond},
		{"pending panic", func(e *env.Env, s *Sim) { e.Panicf("could not fsync file %q", "base/1") }, true, 2 * time.Millisecond},
	} {
		sim := NewSim(NewRand(7), newTrace(nil), SchedConfig{})
		sim.SetPanicKillsProcess(true)
		n := NewSimNet(sim, DefaultNetConfig)
		n.Host("a")
		e := &env.Env{Sched: sim, Clock: simClock{sim}, Points: sim, Log: sim}
		var woke time.Duration
		var reaped []env.Exit
		sim.Spawn("postmaster", func() {
			l, err := n.Host("a").Listen(env.Addr{Port: 5432})
			if err != nil {
				panic(err)
			}
			sim.Spawn("child", func() { tc.child(e, sim) })
			if tc.pending {
				sim.Sleep(2 * time.Millisecond)
			}
			l.SetDeadline(sim.Now() + 10*time.Millisecond)
			_, err = l.Accept()
			if !errors.Is(err, env.ErrTimeout) {
				panic(err)
			}
			woke = sim.Now()
			reaped = sim.Reap()
			sim.Sleep(20 * time.Millisecond) // a normal exit is reaped later
			reaped = append(reaped, sim.Reap()...)
			_ = l.Close()
		})
		st := sim.Run()
		sim.KillAll()
		require.Equal(t, StopAllDone, st.Kind, "%s: %s", tc.name, st)
		require.Equal(t, tc.wantWake, woke, tc.name)
		require.Len(t, reaped, 1, tc.name)
		require.Equal(t, tc.name != "normal exit", reaped[0].Abnormal, tc.name)
	}
}
