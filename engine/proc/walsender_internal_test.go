package proc

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// onPrimary runs fn in a simulated process beside a standalone primary
// (a table of 200 rows, 64 KiB WAL segments) whose connections each get a
// backend (a postmaster's ServerLoop without the rest of it). The run
// ends when fn returns.
func onPrimary(t *testing.T, maxWalSenders int, timeout time.Duration, fn func(e *env.Env, d *db.DB, l *Listener)) {
	t.Helper()
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	e := node.Env
	var failed error
	node.Sim.Spawn("test", func() {
		cfg := db.DefaultConfig()
		cfg.WAL.SegmentSize = 64 << 10
		cfg.MaxWalSenders, cfg.WalSenderTimeout = maxWalSenders, timeout
		if failed = db.InitDB(e, cfg); failed != nil {
			return
		}
		d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
		if failed = err; err != nil {
			return
		}
		if failed = d.CreateTable("t"); failed != nil {
			return
		}
		s, err := d.Connect()
		if failed = err; err != nil {
			return
		}
		for k := uint64(0); k < 200 && failed == nil; k++ {
			failed = s.Insert("t", k, make([]byte, 500))
		}
		s.Close()
		l := NewListener(e)
		if failed = l.Listen(); failed != nil {
			return
		}
		e.Sched.Spawn("server loop", func() {
			for {
				if c, ok := l.Accept(time.Millisecond); ok {
					e.Sched.Spawn("backend", func() { BackendMain(e, d, c) })
				}
			}
		})
		fn(e, d, l)
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, failed)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
}

// startStreaming dials a replication connection and sends
// START_REPLICATION from start; it returns the connection and the
// server's answer (CopyBothResponse, or the error).
func startStreaming(e *env.Env, l *Listener, start wal.LSN) (*Conn, error) {
	c, err := DialReplication(e, l.Addr(), 0)
	if err != nil {
		return nil, err
	}
	if !c.sendRepl(ReplMsg{Kind: ReplStart, Start: start, Timeline: 1}) {
		return nil, errors.New("could not send START_REPLICATION")
	}
	typ, body, err := c.readMsg()
	switch {
	case err != nil:
		return nil, err
	case typ == msgError:
		return nil, decodeReplError(body)
	case typ != msgCopyBoth:
		return nil, errors.New("no CopyBothResponse")
	}
	return c, nil
}

// TestWalSenderStreamsFlushedWAL: START_REPLICATION from the first
// record gets the primary's WAL byte for byte as its segments hold it, up
// to the flushed position and never beyond; the standby's status update
// lands in the sender's slot.
func TestWalSenderStreamsFlushedWAL(t *testing.T) {
	onPrimary(t, 2, time.Minute, func(e *env.Env, d *db.DB, l *Listener) {
		flushed := d.WAL.Flushed()
		c, err := startStreaming(e, l, wal.FirstLSN)
		require.NoError(t, err)
		at := wal.FirstLSN
		var got []byte
		for i := 0; at < flushed; i++ {
			require.Less(t, i, 1000, "the stream did not reach the flushed WAL")
			typ, body, err := c.readMsg()
			require.NoError(t, err)
			m, err := DecodeRepl(typ, body)
			require.NoError(t, err)
			if m.Kind != ReplXLogData {
				continue
			}
			require.GreaterOrEqual(t, m.Start, at, "data goes back")
			require.LessOrEqual(t, m.Start+wal.LSN(len(m.Data)), m.End, "data beyond the sender's flushed position")
			require.LessOrEqual(t, m.End, d.WAL.Flushed(), "walEnd beyond the primary's flushed WAL")
			if m.Start == wal.FirstLSN {
				got = append([]byte(nil), m.Data...)
			}
			at = m.Start + wal.LSN(len(m.Data))
		}
		require.Equal(t, flushed, at)
		want, _, err := wal.ReadStream(e, d.Config().WAL, wal.FirstLSN, flushed, len(got), nil)
		require.NoError(t, err)
		require.Equal(t, want, got, "the stream is the segments' bytes")
		require.True(t, c.sendRepl(ReplMsg{Kind: ReplStatus, Write: at, Flush: at - 8, Apply: wal.FirstLSN}))
		for i := 0; ; i++ {
			require.Less(t, i, 100, "the status update never reached the slot")
			if ws := d.WalSenders(); ws[0].Flush == at-8 {
				require.Equal(t, at, ws[0].Write)
				break
			}
			e.Clock.Sleep(time.Millisecond)
		}
		c.Close()
	})
}

// TestWalSenderRefusals: beyond max_wal_senders a replication connection
// gets 53300; a start ahead of the flushed WAL and an unknown timeline are
// refused; a standby silent for wal_sender_timeout is disconnected.
func TestWalSenderRefusals(t *testing.T) {
	onPrimary(t, 1, 50*time.Millisecond, func(e *env.Env, d *db.DB, l *Listener) {
		c1, err := startStreaming(e, l, d.WAL.Flushed())
		require.NoError(t, err)
		_, err = startStreaming(e, l, d.WAL.Flushed())
		require.Equal(t, pgerr.TooManyConnections, pgerr.CodeOf(err), "%v", err)
		// c1 says nothing: the sender asks for a reply, then hangs up.
		for i := 0; ; i++ {
			require.Less(t, i, 1000, "the silent standby was never disconnected")
			c1.nc.SetReadDeadline(e.Clock.Now() + time.Second)
			typ, body, err := c1.readMsg()
			if err != nil {
				break
			}
			if typ == msgCopyData {
				m, err := DecodeRepl(typ, body)
				require.NoError(t, err)
				require.NotEqual(t, ReplXLogData, m.Kind, "nothing new was flushed")
			}
		}
		c1.Close()
		for i := 0; len(d.WalSenders()) > 0 && d.WalSenders()[0].InUse; i++ {
			require.Less(t, i, 100, "the timed-out sender kept its slot")
			e.Clock.Sleep(time.Millisecond)
		}
		_, err = startStreaming(e, l, d.WAL.Flushed()+4096)
		require.Equal(t, pgerr.ObjectNotInPrerequisiteState, pgerr.CodeOf(err), "%v", err)
	})
}

// TestWalSenderBeyondMaxConnections: a standby connects for replication
// when ordinary sessions fill max_connections (PostgreSQL 12's reserved
// WAL sender slots), as they do when commits wait for that standby under
// synchronous replication (simtest seed 797 with --syncrep-cancel 1s: the
// standby was refused for as long as the waiting backends lived).
func TestWalSenderBeyondMaxConnections(t *testing.T) {
	onPrimary(t, 2, time.Minute, func(e *env.Env, d *db.DB, l *Listener) {
		var sessions []*db.Session
		for i := 0; ; i++ {
			require.Less(t, i, 100000)
			s, err := d.Connect()
			if err != nil {
				require.True(t, pgerr.Is(err, pgerr.TooManyConnections), "%v", err)
				break
			}
			sessions = append(sessions, s)
		}
		c, err := startStreaming(e, l, wal.FirstLSN)
		require.NoError(t, err, "a replication connection refused with max_connections full")
		c.Close()
		for _, s := range sessions {
			s.Close()
		}
	})
}
