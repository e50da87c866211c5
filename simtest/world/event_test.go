package world

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// sampleEvent has every payload field set, so that each can be changed.
func sampleEvent() env.Event {
	return env.Event{Kind: env.EvDiskWrite, Time: 5 * time.Millisecond, Node: "n1", Pid: 7, Role: env.RoleCheckpointer,
		Class: env.FileHeap, Role2: env.RoleBackend, Rmgr: 3, Xid: 41, Rel: 16384, Block: 2, A: 8192, B: 512,
		LSN: 0x1_0000_0040, LSN2: 0x2_0000_0080, Name: "base/16384"}
}

// hashOf is the trace hash of the events, and their readable trace.
func hashOf(events ...env.Event) (uint64, string) {
	var buf bytes.Buffer
	t := newTrace(&buf)
	for i := range events {
		t.Emit(&events[i])
	}
	if err := t.Flush(); err != nil {
		panic(err)
	}
	return t.Hash(), buf.String()
}

// TestTraceDerivesFromEvents: the hash and the readable line are functions
// of the event. The same events give the same hash and text; changing any
// hashed field changes the hash; the fields the hash leaves out (time,
// node and role: the process, which is hashed, determines its node and
// role, and time enters through the clock-read events) change only the
// text.
func TestTraceDerivesFromEvents(t *testing.T) {
	base := sampleEvent()
	h0, line0 := hashOf(base, base)
	h1, line1 := hashOf(base, base)
	require.Equal(t, h0, h1)
	require.Equal(t, line0, line1)
	require.Equal(t, 2, strings.Count(line0, "\n"))
	require.Equal(t, FormatEvent(&base)+"\n"+FormatEvent(&base)+"\n", line0, "the readable trace is FormatEvent's lines")

	hashed := map[string]func(e *env.Event){
		"kind":  func(e *env.Event) { e.Kind = env.EvDiskRead },
		"pid":   func(e *env.Event) { e.Pid++ },
		"class": func(e *env.Event) { e.Class = env.FileIndex },
		"role2": func(e *env.Event) { e.Role2 = env.RoleStartup },
		"rmgr":  func(e *env.Event) { e.Rmgr++ },
		"xid":   func(e *env.Event) { e.Xid++ },
		"rel":   func(e *env.Event) { e.Rel++ },
		"block": func(e *env.Event) { e.Block++ },
		"a":     func(e *env.Event) { e.A++ },
		"b":     func(e *env.Event) { e.B++ },
		"lsn":   func(e *env.Event) { e.LSN++ },
		"lsn2":  func(e *env.Event) { e.LSN2++ },
		"name":  func(e *env.Event) { e.Name += "x" },
		"name2": func(e *env.Event) { e.Name2 = "global/pg_control" },
	}
	seen := map[uint64]string{h0: "base"}
	for field, change := range hashed {
		e := base
		change(&e)
		h, _ := hashOf(base, e)
		require.NotContains(t, seen, h, "changing %s must change the hash", field)
		seen[h] = field
	}
	for field, change := range map[string]func(e *env.Event){
		"time": func(e *env.Event) { e.Time++ },
		"node": func(e *env.Event) { e.Node = "n2" },
		"role": func(e *env.Event) { e.Role = env.RoleBgwriter },
	} {
		e := base
		change(&e)
		h, _ := hashOf(base, e)
		require.Equal(t, h0, h, "%s is not hashed", field)
	}

	// A cached name digest is the digest of the name: emitters that
	// cache it (a mutex, a path) hash what the others do.
	cached := base
	cached.NameHash = hashString(base.Name)
	h, line := hashOf(base, cached)
	require.Equal(t, h0, h)
	require.Equal(t, line0, line)
}

// TestEventKindNames: every kind has a distinct name that parses back,
// and recorded events read back equal through their JSON lines.
func TestEventKindNames(t *testing.T) {
	seen := map[string]bool{}
	for k := env.EventKind(0); k < env.NumEventKinds; k++ {
		s := k.String()
		require.NotContains(t, s, "EventKind(", "kind %d has no name", k)
		require.False(t, seen[s], "two kinds named %s", s)
		seen[s] = true
		back, ok := env.ParseEventKind(s)
		require.True(t, ok)
		require.Equal(t, k, back)
	}
	var buf bytes.Buffer
	w := NewEventWriter(&buf)
	in := []env.Event{sampleEvent(), {Kind: env.EvCommitAck, Pid: 9, Role: env.RoleBackend, Xid: 12, LSN: 0x3c8}, {Kind: env.EvLock, Name: "not recorded"}}
	for _, e := range in {
		w.Observe(e)
	}
	require.NoError(t, w.Err())
	var out []env.Event
	require.NoError(t, ReadEvents(&buf, func(e env.Event) { out = append(out, e) }))
	require.Equal(t, in[:2], out, "scheduler bookkeeping (locks) is not recorded")
}
