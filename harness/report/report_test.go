package report

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// TestTraceModelIsBounded: a lane draws at most its bound of marks,
// thinned over the whole run.
func TestTraceModelIsBounded(t *testing.T) {
	tm := newTraceModel(100)
	for i := 0; i < 100000; i++ {
		tm.add(env.Event{Kind: env.EvDiskWrite, Time: time.Duration(i) * time.Microsecond, Pid: 3, Class: env.FileHeap, B: 8192, Name: "base/16385"})
	}
	tm.finish()
	l := tm.lanes[3]
	require.LessOrEqual(t, l.drawn, 100)
	require.Greater(t, l.drawn, 40)
	require.Equal(t, 100000, l.counts[tickDataWrite])
	ticks := l.ticks[tickDataWrite]
	require.Greater(t, ticks[len(ticks)-1], int64(90000), "the marks cover the whole run")
	require.LessOrEqual(t, len(tm.tail), crashTailLines)
}

// TestTimelineFromEvents: the model builds lanes, I/O marks, checkpoint
// and redo spans, faults and crashes from typed events alone. The names
// and paths are chosen so that no text could have told the model what it
// drew: a heap file under pg_wal/'s name is a data write because its class
// says so, a checkpoint is one because its events say so, and a log line
// that reads like "redo starts" draws nothing.
func TestTimelineFromEvents(t *testing.T) {
	us := func(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
	events := []env.Event{
		{Kind: env.EvSpawn, Time: us(1), Pid: 0, A: 2, Role2: env.RolePostmaster, Name: "pm"},
		{Kind: env.EvSpawn, Time: us(2), Pid: 2, A: 7, Role2: env.RoleCheckpointer, Name: "x"},
		{Kind: env.EvSpawn, Time: us(2), Pid: 2, A: 8, Role2: env.RoleStartup, Name: "y"},
		{Kind: env.EvRecoveryBegin, Time: us(3), Pid: 8, LSN: 0x40},
		{Kind: env.EvLog, Time: us(4), Pid: 8, Name: "redo starts at 0/99; checkpoint complete"},
		{Kind: env.EvRecoveryEnd, Time: us(5), Pid: 8, LSN: 0x40, LSN2: 0x1_0000_0070, A: 3},
		{Kind: env.EvExit, Time: us(6), Pid: 8},
		{Kind: env.EvCheckpointBegin, Time: us(10), Pid: 7, A: 1},
		{Kind: env.EvDiskWrite, Time: us(11), Pid: 7, Class: env.FileHeap, Name: "pg_wal/not-wal"},
		{Kind: env.EvDiskWrite, Time: us(12), Pid: 7, Class: env.FileWAL, Name: "base/not-data"},
		{Kind: env.EvDiskSync, Time: us(13), Pid: 7, Class: env.FileWAL},
		{Kind: env.EvControlUpdate, Time: us(14), Pid: 7, LSN: 0x80, LSN2: 0x70},
		{Kind: env.EvCheckpointEnd, Time: us(15), Pid: 7, LSN: 0x80, LSN2: 0x70},
		{Kind: env.EvFault, Time: us(20), Pid: 7, A: 2, B: int64(fault.ActPause), Name: "(pause) on point x#1"},
		{Kind: env.EvCrash, Time: us(30), Pid: 0, Name: "power-loss"},
		{Kind: env.EvKilled, Time: us(30), Pid: 7, Name: "x"},
	}
	m := newTraceModel(100)
	for _, e := range events {
		m.add(e)
	}
	m.finish()
	require.EqualValues(t, len(events), m.events)
	cp := m.lanes[7]
	require.Equal(t, "x", cp.name)
	require.Equal(t, 1, cp.counts[tickDataWrite], "the class, not the path, makes a data write")
	require.Equal(t, 1, cp.counts[tickWALWrite])
	require.Equal(t, 1, cp.counts[tickFsync])
	require.Len(t, cp.spans, 1)
	require.Equal(t, span{10, 15, "cp", "checkpoint at 0/80, REDO 0/70, began 10us"}, cp.spans[0])
	require.Equal(t, int64(30), cp.end)
	st := m.lanes[8]
	require.Len(t, st.spans, 1, "one redo span, from the recovery events only")
	require.Equal(t, int64(3), st.spans[0].from)
	require.Equal(t, int64(5), st.spans[0].to)
	require.Contains(t, st.spans[0].title, "0/40 .. 1/70, 3 records")
	require.Equal(t, int64(6), st.end)
	kinds := map[string]int{}
	for _, k := range m.keys {
		kinds[k.kind]++
	}
	require.Equal(t, map[string]int{"redo": 2, "log": 1, "checkpoint": 1, "fault": 1, "crash": 1}, kinds)
	for _, k := range m.keys {
		if k.kind == "fault" {
			require.Same(t, cp, k.ln, "a fault is drawn in the lane of the process it fired in")
			require.Equal(t, "pause", k.label, "the marker names the action, from its kind")
		}
	}
	require.Len(t, m.crashes, 1)
	require.NotEmpty(t, m.beforeCrash)
}
