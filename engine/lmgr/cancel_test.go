package lmgr_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lmgr"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// A cancel ends a wait in progress with 57014, long before its holder
// ends; a cancel that arrives before the wait begins still ends it (the
// flag stays until ClearCancel); after ClearCancel waits are waits again.
func TestCancelEndsWait(t *testing.T) {
	var waited time.Duration
	var errs [3]error
	st, _ := world.InSim(1, func(e *env.Env) {
		m := lmgr.New(e, time.Second)
		m.Hold(1, 100)
		e.Sched.Spawn("canceler", func() {
			e.Clock.Sleep(2 * time.Second)
			m.Cancel(2)
		})
		start := e.Clock.Now()
		errs[0] = m.Wait(2, 100)
		waited = e.Clock.Now() - start
		errs[1] = m.Wait(2, 100) // the cancel is still pending
		m.ClearCancel(2)
		e.Sched.Spawn("holder", func() {
			e.Clock.Sleep(time.Second)
			m.Release(100)
		})
		errs[2] = m.Wait(2, 100)
	})
	require.Equal(t, world.StopAllDone, st.Kind, st.String())
	require.True(t, pgerr.Is(errs[0], pgerr.QueryCanceled), "%v", errs[0])
	require.True(t, pgerr.Is(errs[1], pgerr.QueryCanceled), "%v", errs[1])
	require.NoError(t, errs[2])
	require.Less(t, waited, 3*time.Second)
}
