package report

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestKeyEventsHoldTheCommitChain: the key events list the last commits,
// acknowledgments and WAL flushes before the crash (bounded, in time
// order with the crash after them) and every one after it; the trace
// excerpt marks network, lock-wait and injection-point lines as noise and
// keeps writes, flushes and commits in view.
func TestKeyEventsHoldTheCommitChain(t *testing.T) {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	m := newTraceModel(100)
	n := 0
	for i := 0; i < 100; i++ {
		m.add(env.Event{Kind: env.EvNetRead, Time: us(n), Pid: 5, A: 1, B: 4096})
		m.add(env.Event{Kind: env.EvLockWait, Time: us(n), Pid: 5, Xid: 3})
		m.add(env.Event{Kind: env.EvCommit, Time: us(n + 1), Pid: 5, Xid: uint64(i), LSN: uint64(0x100 + i)})
		m.add(env.Event{Kind: env.EvWALFlush, Time: us(n + 2), Pid: 4, LSN: uint64(0x100 + i)})
		m.add(env.Event{Kind: env.EvCommitAck, Time: us(n + 3), Pid: 5, Xid: uint64(i), LSN: uint64(0x100 + i)})
		n += 10
	}
	m.add(env.Event{Kind: env.EvCrash, Time: us(n), Pid: 0, Name: "power-loss"})
	m.add(env.Event{Kind: env.EvCommit, Time: us(n + 5), Pid: 9, Xid: 500, LSN: 0x900})
	m.finish()
	kinds := map[string]int{}
	for i, k := range m.keys {
		kinds[k.kind]++
		if i > 0 {
			require.LessOrEqual(t, m.keys[i-1].t, k.t, "the key events are in time order")
		}
	}
	require.Equal(t, maxChainKeys+1, kinds["commit"]+kinds["ack"]+kinds["flush"], "the last ones before the crash and the one after it")
	require.Equal(t, 300-maxChainKeys, m.chainDropped())
	last := m.keys[len(m.keys)-1]
	require.Equal(t, "commit", last.kind)
	require.Contains(t, last.text, "xid 500 committed")
	require.Equal(t, "crash", m.keys[len(m.keys)-2].kind)
	require.Equal(t, "ack", m.keys[len(m.keys)-3].kind)
	require.Contains(t, m.keys[len(m.keys)-3].text, "xid 99 acknowledged")

	shown, hidden := 0, 0
	for _, l := range m.beforeCrash {
		if l.noise {
			hidden++
			require.True(t, strings.Contains(l.text, "net.read") || strings.Contains(l.text, "lock"), l.text)
		} else {
			shown++
		}
	}
	require.Positive(t, hidden)
	require.Positive(t, shown)
	var b strings.Builder
	renderTraceExcerpt(&b, m)
	require.Contains(t, b.String(), `<span class="n">`)
	require.Contains(t, b.String(), `id="tracenoise"`)
}
