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
// before it.
func TestRecoveryStops(t *testing.T) {
	e := &env.Env{}
	recs := []wal.Record{
		{LSN: 0x100, Xid: 7, Rmid: 10},                                 // a data record of xid 7
		{LSN: 0x140, Xid: 8, Rmid: xact.RMXact, Info: xact.InfoCommit}, // xid 8 commits
		{LSN: 0x180, Xid: 7, Rmid: 10},                                 // another data record of xid 7
		{LSN: 0x1c0, Xid: 7, Rmid: xact.RMXact, Info: xact.InfoAbort},  // xid 7 aborts
		{LSN: 0x200, Xid: 9, Rmid: xact.RMXact, Info: xact.InfoCommit}, // xid 9 commits
	}
	// stop returns the index of the record redo stops at and whether it
	// stops after replaying it (else before), or -1 if it never stops.
	stop := func(cfg PITRConfig) (int, bool) {
		p := &pitrState{cfg: &cfg}
		for i, r := range recs {
			if p.stopsBefore(e, r) {
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
	for _, tc := range []struct {
		cfg   PITRConfig
		at    int
		after bool
	}{
		{PITRConfig{Target: TargetLSN, LSN: 0x140, Inclusive: true}, 1, true},
		{PITRConfig{Target: TargetLSN, LSN: 0x140}, 1, false},
		{PITRConfig{Target: TargetLSN, LSN: 0x141, Inclusive: true}, 2, true}, // not a commit: LSN targets stop anywhere
		{PITRConfig{Target: TargetLSN, LSN: 0x141}, 2, false},
		{PITRConfig{Target: TargetXid, Xid: 7, Inclusive: true}, 3, true}, // its abort, not its data records
		{PITRConfig{Target: TargetXid, Xid: 7}, 3, false},
		{PITRConfig{Target: TargetXid, Xid: 9, Inclusive: true}, 4, true},
		{PITRConfig{Target: TargetXid, Xid: 9}, 4, false},
		{PITRConfig{Target: TargetXid, Xid: 10, Inclusive: true}, -1, false}, // never reached
		{PITRConfig{Target: TargetLSN, LSN: 0x201}, -1, false},
		{PITRConfig{Target: TargetNone}, -1, false},
	} {
		at, after := stop(tc.cfg)
		require.Equal(t, tc.at, at, "%+v", tc.cfg)
		require.Equal(t, tc.after, after, "%+v", tc.cfg)
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
