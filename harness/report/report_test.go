package report

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTraceModelIsBounded: a lane draws at most its bound of marks,
// thinned over the whole run.
func TestTraceModelIsBounded(t *testing.T) {
	tm := newTraceModel(100)
	for i := 0; i < 100000; i++ {
		tm.Write([]byte(fmt.Sprintf("%12d p%-3d %-14s %d %d %s\n", i, 3, "disk.write", 0, 8192, "base/16385")))
	}
	tm.finish()
	l := tm.lanes[3]
	require.LessOrEqual(t, l.drawn, 100)
	require.Greater(t, l.drawn, 40)
	require.Equal(t, 100000, l.counts[tickDataWrite])
	ticks := l.ticks[tickDataWrite]
	require.Greater(t, ticks[len(ticks)-1], int64(90000), "the marks cover the whole run")
}

func TestParseTraceLine(t *testing.T) {
	for _, c := range []struct {
		line       string
		t          int64
		pid        int
		note       bool
		kind, rest string
		a          int64
	}{
		{"       98231 p17  disk.write     64 48 pg_wal/000000010000000000000000", 98231, 17, false, "disk.write", "pg_wal/000000010000000000000000", 64},
		{"       48472 p0   spawn          2 0 postmaster", 48472, 0, false, "spawn", "postmaster", 2},
		{"       48472 p2   spawn          14 0 backend 1", 48472, 2, false, "spawn", "backend 1", 14},
		{"       48472 p1   exit           0 0 ", 48472, 1, false, "exit", "", 0},
		{"       12345 p99  rand           -5 7 ", 12345, 99, false, "rand", "", -5},
		{"       75081 p0   | crash: power-loss fault 1: crash on write", 75081, 0, true, "", "crash: power-loss fault 1: crash on write", 0},
		{"           0 p0   | ", 0, 0, true, "", "", 0},
	} {
		tm, pid, note, kind, a, rest, ok := parseTraceLine(c.line)
		require.True(t, ok, c.line)
		require.Equal(t, []any{c.t, c.pid, c.note, c.kind, c.a, c.rest}, []any{tm, pid, note, kind, a, rest}, c.line)
	}
	for _, bad := range []string{"", "crash when op=write", "  12 q3 x 1 2", "12 p3", "12 p3 kind x y", "12 p3 kind 1 2x"} {
		_, _, _, _, _, _, ok := parseTraceLine(bad)
		require.False(t, ok, bad)
	}
}
