package report

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestLanesGroupedByNode: a run with a standby draws the primary's lanes,
// then the standby's, then the clients', each under a title row; a
// process takes its node from its name, else its parent's, else its first
// event's; the harness's own lanes come first, untitled.
func TestLanesGroupedByNode(t *testing.T) {
	m := newTraceModel(DefaultEvents)
	spawn := func(parent, child int, name string) {
		m.add(env.Event{Kind: env.EvSpawn, Pid: parent, A: int64(child), Name: name})
	}
	write := func(pid int, node string) {
		m.add(env.Event{Kind: env.EvDiskWrite, Pid: pid, Node: node, Class: env.FileWAL})
	}
	spawn(0, 1, "postmaster")
	spawn(0, 2, "pg_basebackup n2")
	spawn(0, 3, "client-0")
	spawn(1, 4, "checkpointer") // before its parent's first event
	spawn(0, 5, "postmaster n2")
	spawn(5, 6, "walreceiver")
	spawn(0, 7, "primary rows")
	write(1, "n1")
	write(2, "n1") // pg_basebackup reads the primary: its name says n2
	write(6, "n2")
	m.add(env.Event{Kind: env.EvNetWrite, Pid: 3, Node: "clients"})
	m.finish()
	var got []string
	for _, l := range m.order {
		if l.header {
			got = append(got, "# "+l.name)
		} else {
			got = append(got, l.name)
		}
	}
	require.Equal(t, []string{
		"primary rows",
		"# node n1: primary", "postmaster", "checkpointer",
		"# node n2: standby", "pg_basebackup n2", "postmaster n2", "walreceiver",
		"# clients", "client-0",
	}, got)
	for i, l := range m.order {
		require.Equal(t, i, l.idx)
	}
	require.Equal(t, 7, m.processLanes())
	var b strings.Builder
	renderTimeline(&b, m)
	require.Contains(t, b.String(), `class="node-name"`)
	require.NotContains(t, b.String(), "later processes share the lane")
}

// TestLanesOneNodeUntitled: a run on one node (and its clients) draws no
// title rows.
func TestLanesOneNodeUntitled(t *testing.T) {
	m := newTraceModel(DefaultEvents)
	m.add(env.Event{Kind: env.EvSpawn, Pid: 0, A: 1, Name: "postmaster"})
	m.add(env.Event{Kind: env.EvSpawn, Pid: 1, A: 2, Name: "bgwriter"})
	m.add(env.Event{Kind: env.EvSpawn, Pid: 0, A: 3, Name: "client-0"})
	m.add(env.Event{Kind: env.EvDiskWrite, Pid: 2, Node: "n1", Class: env.FileHeap})
	m.add(env.Event{Kind: env.EvNetWrite, Pid: 3, Node: "clients"})
	m.finish()
	require.Len(t, m.order, 3)
	for _, l := range m.order {
		require.False(t, l.header)
	}
}
