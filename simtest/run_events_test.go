package simtest

import (
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/stretchr/testify/require"
)

// TestRunEventsMatchTrace: a run's event sink sees exactly the events its
// trace hashes, the engine's semantic ones among them, and asking for
// events does not change the run.
func TestRunEventsMatchTrace(t *testing.T) {
	c := DefaultConfig(3)
	plain := Run(c)
	var got []env.Event
	c.Events = observerFunc(func(e env.Event) { got = append(got, e) })
	withEvents := Run(c)
	require.Equal(t, plain.Trace, withEvents.Trace)
	require.Equal(t, plain.Events, withEvents.Events)
	// The sink also sees the initdb image's build (it is re-run, as for a
	// readable trace), so it holds at least the run's events.
	require.GreaterOrEqual(t, uint64(len(got)), plain.Events)
	kinds := map[env.EventKind]int{}
	for _, e := range got {
		kinds[e.Kind]++
	}
	for _, k := range []env.EventKind{env.EvSpawn, env.EvDiskWrite, env.EvInject, env.EvWALInsert, env.EvWALFlush,
		env.EvBufferWrite, env.EvControlUpdate, env.EvCheckpointBegin, env.EvCheckpointRedo, env.EvCheckpointEnd,
		env.EvCommit, env.EvCommitAck, env.EvRecoveryBegin, env.EvRecoveryEnd, env.EvCrash, env.EvKilled} {
		require.Positive(t, kinds[k], "seed 3 has %s events", k)
	}
	// Every acknowledged commit was committed first, at the same LSN.
	committed := map[uint64]uint64{}
	for _, e := range got {
		switch e.Kind {
		case env.EvCommit:
			committed[e.Xid] = e.LSN
		case env.EvCommitAck:
			require.Equal(t, committed[e.Xid], e.LSN, "ack of xid %d", e.Xid)
			require.Equal(t, env.RoleBackend, e.Role)
		}
	}
}

type observerFunc func(env.Event)

func (f observerFunc) Observe(e env.Event) { f(e) }
