package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// TestStandbyReadJudge: the standby-read checker's rule for one read
// against the primary's log F, on reads made up for each case.
func TestStandbyReadJudge(t *testing.T) {
	tok := func(w, seq, mask byte) []byte { return []byte{w, 0, seq, mask} }
	cat := func(ts ...[]byte) []byte {
		var b []byte
		for _, t := range ts {
			b = append(b, t...)
		}
		return b
	}
	a, b, c := tok(0, 1, 0b01), tok(1, 1, 0b10), tok(0, 2, 0b11)
	F := cat(a, b, c)
	rows := func(log []byte, vals ...[]byte) []pgproc.Row {
		out := []pgproc.Row{{Key: 0, Val: log}}
		for k := 1; k <= hsKeys; k++ {
			var v []byte
			if k-1 < len(vals) {
				v = vals[k-1]
			}
			out = append(out, pgproc.Row{Key: uint64(k), Val: v})
		}
		return out
	}
	cases := []struct {
		name string
		r    hsRead
		bad  string // a substring of the verdict, "" when the read is fine
	}{
		{"nothing yet", hsRead{log: nil, rows: rows(nil)}, ""},
		{"a prefix of two", hsRead{log: cat(a, b), rows: rows(cat(a, b), a, b)}, ""},
		{"all of it", hsRead{log: F, rows: rows(F, cat(a, c), cat(b, c))}, ""},
		{"read skew: c's write without c in the log", hsRead{log: cat(a, b), rows: rows(cat(a, b), cat(a, c), b)}, "read skew"},
		{"a commit missing from a row", hsRead{log: cat(a, b), rows: rows(cat(a, b), nil, b)}, "row 1 holds"},
		{"not the primary's order", hsRead{log: cat(b, a), rows: rows(cat(b, a), a, b)}, "not a prefix"},
		{"never committed", hsRead{log: cat(a, tok(1, 9, 1)), rows: rows(cat(a, tok(1, 9, 1)), a)}, "not a prefix"},
		{"two snapshots", hsRead{log: cat(a), rows: rows(cat(a, b), a, b)}, "in the same REPEATABLE READ transaction"},
		{"a row twice", hsRead{log: cat(a), rows: append(rows(cat(a), a), pgproc.Row{Key: 1, Val: nil})}, "visible twice"},
		{"a row missing", hsRead{log: cat(a), rows: rows(cat(a), a)[:3]}, "the scan saw 3"},
	}
	for _, tc := range cases {
		got := hsJudgeRead(tc.r, F)
		if tc.bad == "" {
			require.Empty(t, got, tc.name)
			continue
		}
		require.Contains(t, got, tc.bad, tc.name)
	}
}

// TestStandbyReadsMonotonic: a connection that reads a shorter prefix
// after a longer one fails the checker; another connection may.
func TestStandbyReadsMonotonic(t *testing.T) {
	a, b := []byte{0, 0, 1, 1}, []byte{1, 0, 1, 2}
	F := append(append([]byte(nil), a...), b...)
	mk := func(conn int, log []byte) hsRead {
		var r1, r2 []byte
		for i := 0; i+4 <= len(log); i += 4 {
			if log[i+3]&1 != 0 {
				r1 = append(r1, log[i:i+4]...)
			}
			if log[i+3]&2 != 0 {
				r2 = append(r2, log[i:i+4]...)
			}
		}
		rows := []pgproc.Row{{Key: 0, Val: log}, {Key: 1, Val: r1}, {Key: 2, Val: r2}}
		for k := 3; k <= hsKeys; k++ {
			rows = append(rows, pgproc.Row{Key: uint64(k)})
		}
		return hsRead{node: "n2", conn: conn, log: log, rows: rows}
	}
	final := []pgproc.Row{{Key: 0, Val: F}}
	ok := &standbyReads{reads: []hsRead{mk(1, a), mk(1, F), mk(2, a)}}
	res := &Result{OK: true, Online: CheckerCounts{}}
	ok.judge(res, final, false)
	require.True(t, res.OK, "%v", res.Failures)
	require.Equal(t, 3, res.StandbyReads.Reads)
	back := &standbyReads{reads: []hsRead{mk(1, F), mk(1, a)}}
	res = &Result{OK: true, Online: CheckerCounts{}}
	back.judge(res, final, false)
	require.False(t, res.OK)
	require.Contains(t, res.Failures[0], "not monotonic")
}

// TestStandbyReadsSeed233: the standby-read checker found that a hot
// standby made from a base backup initialised KnownAssignedXids from the
// copied control file's nextXid, later than the backup checkpoint's: an
// xid between the two, whose first record came after the running-xacts
// record, was never known-assigned, and a REPEATABLE READ read on the
// standby saw it commit between its two statements. The standby now
// observes xids from the checkpoint record's own nextXid.
func TestStandbyReadsSeed233(t *testing.T) {
	c := DefaultConfig(233)
	c.Standbys, c.StandbyReads = 1, VarietyOn
	r := Run(c)
	require.True(t, r.OK, "%v", r.Failures)
	require.NotNil(t, r.StandbyReads)
	require.Positive(t, r.StandbyReads.Reads)
}

// TestStandbyReadsRegressionWriterAfterTimeout: on seed 547 with two
// standbys and wal_buffers = 4, a hot-standby writer's call timed out,
// which closes the connection on the client's side without terminating
// it, and the writer, redialing only on Terminated, called on it again
// ("Call on connection 84 after Close": the liveness checker's engine
// bug). The hot-standby clients now redial when the connection is Gone.
func TestStandbyReadsRegressionWriterAfterTimeout(t *testing.T) {
	c := DefaultConfig(547)
	c.Standbys, c.WALBuffers = 2, 4
	r := Run(c)
	require.True(t, r.OK, "%s: %v", r.Checker, r.Failures)
}
