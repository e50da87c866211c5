package proc

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestWalSenderServesHistoricTimeline: a promoted standby (timeline 2)
// streams timeline 1 from its first record up to the switch point, read
// from timeline 1's segments and the switch segment's timeline-2 copy,
// then ends the stream with timeline 2 and the switch point
// (StartReplication's end of a historic timeline); the same connection
// then answers TIMELINE_HISTORY 2 with the history file and IDENTIFY_SYSTEM
// with timeline 2. Timeline 1 from past the switch point, and timeline 3,
// are refused: they are not in the server's history.
func TestWalSenderServesHistoricTimeline(t *testing.T) {
	node := world.NewNode(world.NewRand(5), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	var pm *Postmaster
	var setupErr, streamErr, pastErr, tli3Err error
	var streamed wal.LSN
	var end, hist, ident ReplMsg
	node.Sim.Spawn("test", func() {
		defer node.Sim.RequestStop("test done")
		cfg := unreachableStandbyConfig()
		cfg.DB.MaxWalSenders = 4
		var l *Listener
		if pm, l, setupErr = startPromotedStandby(e, cfg); setupErr != nil {
			return
		}
		c, err := DialReplication(e, l.Addr(), 0)
		if streamErr = err; err != nil {
			return
		}
		defer c.Close()
		first := wal.LSN(wal.SegHdrSize)
		if !c.sendRepl(ReplMsg{Kind: ReplStart, Start: first, Timeline: 1}) {
			streamErr = errors.New("could not send START_REPLICATION")
			return
		}
		if typ, body, err := c.readMsg(); err != nil || typ != msgCopyBoth {
			streamErr = errors.Join(err, decodeReplError(body), errors.New("no CopyBothResponse"))
			return
		}
		streamed = first
		for i := 0; i < 1000; i++ {
			typ, body, err := c.readMsg()
			if streamErr = err; err != nil {
				return
			}
			m, err := DecodeRepl(typ, body)
			if streamErr = err; err != nil {
				return
			}
			if m.Kind == ReplEndOfTimeline {
				end = m
				break
			}
			if m.Kind == ReplXLogData {
				if m.Start != streamed {
					streamErr = errors.New("XLogData not contiguous")
					return
				}
				streamed += wal.LSN(len(m.Data))
			}
		}
		if !c.sendRepl(ReplMsg{Kind: ReplHistoryReq, Timeline: 2}) {
			streamErr = errors.New("could not send TIMELINE_HISTORY")
			return
		}
		if hist, streamErr = walRcvAnswer(e, c, ReplHistory); streamErr != nil {
			return
		}
		if !c.sendRepl(ReplMsg{Kind: ReplIdentify}) {
			streamErr = errors.New("could not send IDENTIFY_SYSTEM")
			return
		}
		if ident, streamErr = walRcvAnswer(e, c, ReplIdentified); streamErr != nil {
			return
		}
		refused := func(start wal.LSN, tli uint32) error {
			c, err := DialReplication(e, l.Addr(), 0)
			if err != nil {
				return err
			}
			defer c.Close()
			c.sendRepl(ReplMsg{Kind: ReplStart, Start: start, Timeline: tli})
			typ, body, err := c.readMsg()
			if err != nil || typ != msgError {
				return errors.New("not refused")
			}
			return decodeReplError(body)
		}
		sw := pm.Recoveries()[0].End
		pastErr, tli3Err = refused(sw+8, 1), refused(sw, 3)
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.NoError(t, streamErr)
	require.Equal(t, uint32(2), pm.DB().TimeLineID())
	switchAt := pm.Recoveries()[0].End
	require.Equal(t, ReplEndOfTimeline, end.Kind)
	require.Equal(t, uint32(2), end.Timeline)
	require.Equal(t, switchAt, end.Start)
	require.Equal(t, switchAt, streamed, "timeline 1 is streamed up to the switch point, no further")
	require.Equal(t, uint32(2), hist.Timeline)
	require.Equal(t, string(readAll(t, e, db.HistoryPath(2))), string(hist.Data))
	require.Equal(t, uint32(2), ident.Timeline)
	require.ErrorContains(t, pastErr, "not in this server's history")
	require.ErrorContains(t, tli3Err, "not in this server's history")
	for _, c := range []string{"walsender-historic-timeline", "walsender-end-of-timeline"} {
		require.True(t, node.Reached.Has(c), "condition %s not reached", c)
	}
}
