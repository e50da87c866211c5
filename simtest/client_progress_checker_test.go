package simtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// TestClientProgressChecker: a client served steadily passes; one the
// server stops answering (its statements time out, which is no progress)
// fails in a run no fault touched, and is only counted as skipped in one
// a fault touched.
func TestClientProgressChecker(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	steady := func(p *clientProgress) {
		p.started(0, 0)
		for i := 1; i <= 10; i++ {
			p.replied(0, ms(10*i), nil)
		}
		p.finished(0, ms(105))
	}
	hung := func(p *clientProgress) {
		p.done[1] = false
		p.started(1, 0)
		p.replied(1, ms(10), nil)
		p.replied(1, ms(210), pgproc.ErrClientTimeout) // no reply, no progress
		p.replied(1, ms(410), pgproc.ErrClientTimeout)
		p.ended(ms(700))
	}
	for _, tc := range []struct {
		name    string
		play    []func(*clientProgress)
		fair    bool
		checker string
	}{
		{"steady", []func(*clientProgress){steady}, true, ""},
		{"hung", []func(*clientProgress){steady, hung}, true, CheckProgress},
		{"hung after a fault", []func(*clientProgress){steady, hung}, false, ""},
	} {
		res := &Result{OK: true, Online: CheckerCounts{}}
		p := newClientProgress(2)
		p.done[1] = true // client 1 plays only in the hung cases
		for _, f := range tc.play {
			f(p)
		}
		p.judge(res, tc.fair, "faults")
		require.Equal(t, tc.checker, res.Checker, "%s: %v", tc.name, res.Failures)
		if tc.fair {
			require.Equal(t, uint64(1), res.Online.of(countClientProgress).Judged, tc.name)
		} else {
			require.Equal(t, uint64(1), res.Online.of(countClientProgress).SkippedTotal(), tc.name)
		}
	}
}

// TestClientProgressQuietOnRuns: plain runs pass, and some are judged.
// Seed 9888 failed it with a deadlock left unchecked 1.16 s into it (the
// lock manager re-armed deadlock_timeout at every wakeup), and passes now
// that the check comes deadlock_timeout after the wait began (and runs
// with a long lock wait are not judged).
func TestClientProgressQuietOnRuns(t *testing.T) {
	total := CheckerCounts{}
	r := Run(DefaultConfig(9888))
	require.True(t, r.OK, "seed 9888: %v", r.Failures)
	for seed := uint64(1); seed <= 60; seed++ {
		r := Run(DefaultConfig(seed))
		require.True(t, r.OK, "seed %d: %v", seed, r.Failures)
		total.Add(r.Online)
	}
	require.NotZero(t, total.of(countClientProgress).Judged)
}
