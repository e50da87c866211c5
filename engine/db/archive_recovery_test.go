package db

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// TestRecoveryStops walks a short stream through recoveryStopsBefore and
// recoveryStopsAfter for each target kind and inclusivity, and checks
// where redo stops: LSN targets stop at the first record at or past the
// LSN, whatever it is; xid targets stop only at that transaction's
// commit or abort record; inclusive stops after the record, exclusive
// before it. Time targets always stop before the first commit or abort
// record stamped past the target (inclusive) or at or past it (not),
// in WAL order; the planted bug pitr-time-inclusive-inverted swaps the
// two tests.
func TestRecoveryStops(t *testing.T) {
	e := &env.Env{}
	end := func(lsn wal.LSN, xid xact.XID, info uint8, us int64) wal.Record {
		return wal.Record{LSN: lsn, Xid: uint64(xid), Rmid: xact.RMXact, Info: info, Payload: xact.XactRecord{TimeUS: us, Xid: xid}.Encode()}
	}
	recs := []wal.Record{
		{LSN: 0x100, Xid: 7, Rmid: 10},        // a data record of xid 7
		end(0x140, 8, xact.InfoCommit, 1000),  // xid 8 commits at 1000µs
		{LSN: 0x180, Xid: 7, Rmid: 10},        // another data record of xid 7
		end(0x1c0, 7, xact.InfoAbort, 2000),   // xid 7 aborts at 2000µs
		end(0x200, 9, xact.InfoCommit, 2000),  // xid 9 commits in the same microsecond
		end(0x240, 11, xact.InfoCommit, 1500), // xid 11 commits, stamped by a clock behind
	}
	// stop returns the index of the record redo stops at and whether it
	// stops after replaying it (else before), or -1 if it never stops.
	stop := func(cfg PITRConfig, b bugs.Set) (int, bool) {
		p := &pitrState{cfg: &cfg}
		for i, r := range recs {
			if p.stopsBefore(e, r, b) {
				require.True(t, p.reached)
				return i, false
			}
			if p.stopsAfter(e, r) {
				require.True(t, p.reached)
				return i, true
			}
		}
		require.False(t, p.reached)
		return -1, false
	}
	inverted := bugs.Set(0).With(bugs.PITRTimeInclusiveInverted)
	for _, tc := range []struct {
		cfg   PITRConfig
		bugs  bugs.Set
		at    int
		after bool
	}{
		{PITRConfig{Target: TargetLSN, LSN: 0x140, Inclusive: true}, 0, 1, true},
		{PITRConfig{Target: TargetLSN, LSN: 0x140}, 0, 1, false},
		{PITRConfig{Target: TargetLSN, LSN: 0x141, Inclusive: true}, 0, 2, true}, // not a commit: LSN targets stop anywhere
		{PITRConfig{Target: TargetLSN, LSN: 0x141}, 0, 2, false},
		{PITRConfig{Target: TargetXid, Xid: 7, Inclusive: true}, 0, 3, true}, // its abort, not its data records
		{PITRConfig{Target: TargetXid, Xid: 7}, 0, 3, false},
		{PITRConfig{Target: TargetXid, Xid: 9, Inclusive: true}, 0, 4, true},
		{PITRConfig{Target: TargetXid, Xid: 9}, 0, 4, false},
		{PITRConfig{Target: TargetXid, Xid: 10, Inclusive: true}, 0, -1, false}, // never reached
		{PITRConfig{Target: TargetLSN, LSN: 0x241}, 0, -1, false},
		{PITRConfig{Target: TargetNone}, 0, -1, false},
		// Time: the abort at 2000µs is the first record past 1999µs.
		{PITRConfig{Target: TargetTime, TimeUS: 1999, Inclusive: true}, 0, 3, false},
		{PITRConfig{Target: TargetTime, TimeUS: 1999}, 0, 3, false},
		// Inclusive keeps both transactions of 2000µs, and stops before
		// xid 11's commit although it is stamped earlier: the stop is at
		// the first record in WAL order, never at a later one.
		{PITRConfig{Target: TargetTime, TimeUS: 2000, Inclusive: true}, 0, -1, false},
		{PITRConfig{Target: TargetTime, TimeUS: 1500, Inclusive: true}, 0, 3, false},
		{PITRConfig{Target: TargetTime, TimeUS: 2000}, 0, 3, false},
		{PITRConfig{Target: TargetTime, TimeUS: 1000, Inclusive: true}, 0, 3, false},
		{PITRConfig{Target: TargetTime, TimeUS: 1000}, 0, 1, false},
		{PITRConfig{Target: TargetTime, TimeUS: 0}, 0, 1, false},
		// The planted bug: inclusive cuts off the target's microsecond,
		// exclusive keeps it.
		{PITRConfig{Target: TargetTime, TimeUS: 1000, Inclusive: true}, inverted, 1, false},
		{PITRConfig{Target: TargetTime, TimeUS: 2000}, inverted, -1, false},
		{PITRConfig{Target: TargetTime, TimeUS: 1999}, inverted, 3, false},
	} {
		at, after := stop(tc.cfg, tc.bugs)
		require.Equal(t, tc.at, at, "%+v %v", tc.cfg, tc.bugs.Names())
		require.Equal(t, tc.after, after, "%+v %v", tc.cfg, tc.bugs.Names())
	}
}

// TestXLogFileReadAnyTLIOrder: a segment is read from the newest timeline
// of expectedTLEs that begins at or before it; the planted bug
// restore-wrong-timeline turns the order round.
func TestXLogFileReadAnyTLIOrder(t *testing.T) {
	const segSize = 64 << 10
	d := &DB{cfg: Config{WAL: wal.Config{SegmentSize: segSize}}}
	// Timeline 3 began in segment 5, timeline 2 in segment 2.
	d.tles = []timeLineEntry{{3, 5*segSize + 0x100}, {2, 2*segSize + 0x40}, {1, wal.InvalidLSN}}
	require.Equal(t, []uint32{1}, d.tlisFor(1))
	require.Equal(t, []uint32{2, 1}, d.tlisFor(2))
	require.Equal(t, []uint32{2, 1}, d.tlisFor(4))
	require.Equal(t, []uint32{3, 2, 1}, d.tlisFor(5))
	require.Equal(t, []uint32{3, 2, 1}, d.tlisFor(9))
	d.cfg.Bugs = d.cfg.Bugs.With(bugs.RestoreWrongTimeline)
	require.Equal(t, []uint32{1, 2, 3}, d.tlisFor(5))
}
