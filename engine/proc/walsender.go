package proc

import (
	"errors"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
)

// The WAL sender (walsender.c): a backend whose startup message asked for
// replication. It takes a WAL sender slot (InitWalSenderSlot; beyond
// max_wal_senders the standby gets 53300), waits for START_REPLICATION,
// then streams the WAL from the requested LSN as its segments hold it,
// never beyond what is flushed (WalSndWaitForWal, GetFlushRecPtr: a
// standby must never hold WAL a power loss of the primary can take back),
// takes the standby's status updates into its slot, and ends when the
// standby goes away or says nothing for wal_sender_timeout (WalSndLoop,
// WalSndCheckTimeOut).

// walSndPoll is how long the sender waits for a flush before it looks at
// the socket for status updates again (WalSndLoop's WaitLatchOrSocket,
// which wakes on either; one simulated process waits on one thing).
const walSndPoll = 5 * time.Millisecond

// walSndStartWait bounds the wait for START_REPLICATION after the startup
// message (authentication_timeout's role for a replication connection).
const walSndStartWait = time.Minute

// WalSenderMain serves a replication connection on the primary whose
// shared memory is d until the standby leaves, the timeout passes, or the
// process is killed.
func WalSenderMain(e *env.Env, d *db.DB, c *Conn) {
	defer c.Terminate()
	if d.RecoveryInProgress() {
		c.sendError(pgerr.New(pgerr.FeatureNotSupported, "cascading replication is not supported"))
		return
	}
	slot, err := d.WalSndAcquire()
	if err != nil {
		e.Sometimes("walsender-refused-max")
		c.sendError(err)
		return
	}
	defer d.WalSndRelease(slot)
	ws := d.WalSndSlot(slot)

	// A replication connection takes commands until it streams
	// (exec_replication_command): IDENTIFY_SYSTEM and TIMELINE_HISTORY
	// are answered, START_REPLICATION streams, and a stream of a historic
	// timeline ends at its switch point with the connection open for the
	// next command.
	for i := 0; i < walSndCommandsMax; i++ {
		c.nc.SetReadDeadline(e.Clock.Now() + walSndStartWait)
		typ, body, err := c.readMsg()
		if err != nil {
			return
		}
		m, err := DecodeRepl(typ, body)
		switch {
		case err == nil && m.Kind == ReplIdentify:
			// IdentifySystem: the server's timeline and flush position.
			if !c.sendRepl(ReplMsg{Kind: ReplIdentified, Timeline: max(d.TimeLineID(), 1), Start: d.WAL.Flushed()}) {
				return
			}
		case err == nil && m.Kind == ReplHistoryReq:
			// SendTimeLineHistory.
			b, err := d.TimeLineHistoryFile(m.Timeline)
			if err == nil && len(b) > replHistoryBytesMax {
				err = pgerr.New(pgerr.ProgramLimitExceeded, "history file of timeline %d too long", m.Timeline)
			}
			if err != nil {
				c.sendError(err)
				return
			}
			if !c.sendRepl(ReplMsg{Kind: ReplHistory, Timeline: m.Timeline, Data: b}) {
				return
			}
		case err == nil && m.Kind == ReplStatus:
			// A status update the standby sent before it saw a
			// historic timeline's stream end (PostgreSQL's
			// ProcessRepliesIfAny takes them until the CopyDone).
			i--
			if i < -walSndCommandsMax {
				return
			}
		case err == nil && m.Kind == ReplStart:
			if !walSndStream(e, d, c, slot, ws, m) {
				return
			}
		default:
			c.sendError(pgerr.New(pgerr.ProtocolViolation, "expected START_REPLICATION: %v", err))
			return
		}
	}
}

// walSndCommandsMax bounds the commands one replication connection takes.
const walSndCommandsMax = 64

// walSndStream is StartReplication and WalSndLoop for request m. It
// reports true when the stream ended at the end of a historic timeline
// (the connection then takes another command), false when the connection
// is done.
func walSndStream(e *env.Env, d *db.DB, c *Conn, slot int, ws *db.WalSnd, m ReplMsg) bool {
	cfg := d.Config()
	flushed := d.WAL.Flushed()
	first, err := wal.FirstSegmentStartAnyTLI(e, cfg.WAL)
	var tl *db.SendTimeLine
	if err == nil {
		tl, err = d.StartReplicationTimeLine(m.Timeline, m.Start)
	}
	switch {
	case err != nil:
		c.sendError(err)
		return false
	case m.Start > flushed:
		// StartReplication: "requested starting point is ahead of the
		// WAL flush position of this server".
		c.sendError(pgerr.New(pgerr.ObjectNotInPrerequisiteState, "requested starting point %s is ahead of the WAL flush position of this server %s", m.Start, flushed))
		return false
	case m.Start < first:
		c.sendError(pgerr.New(pgerr.UndefinedFile, "requested WAL segment %s has already been removed", wal.SegmentNameTLI(cfg.WAL, tl.FileTLI(uint64(m.Start)/uint64(cfg.WAL.SegmentSize)), uint64(m.Start)/uint64(cfg.WAL.SegmentSize))))
		return false
	}
	e.Logf("walsender: streaming from %s", m.Start)
	e.Sometimes("walsender-streaming")
	if tl.Historic {
		e.Sometimes("walsender-historic-timeline")
	}
	c.wbuf = appendFrame(c.wbuf[:0], msgCopyBoth, nil)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return false
	}
	sent := m.Start
	ws.Sent = sent
	ws.AppName, ws.Streaming = c.appName, true
	ws.LastReplyAt = e.Clock.Now()
	pingedFor := time.Duration(-1) // the LastReplyAt a keepalive asked past
	segSize := uint64(cfg.WAL.SegmentSize)
	var buf []byte
	// One pass sends one chunk or waits walSndPoll at most, so the loop's
	// bound is the connection's life; it ends with the standby.
	for {
		if !c.pollStatus(e, d, slot, ws) {
			return false
		}
		now := e.Clock.Now()
		if timeout := cfg.WalSenderTimeout; timeout > 0 {
			if now-ws.LastReplyAt >= timeout {
				// WalSndCheckTimeOut.
				e.Logf("terminating walsender process due to replication timeout")
				e.Sometimes("walsender-timeout")
				return false
			}
			if now-ws.LastReplyAt >= timeout/2 && pingedFor != ws.LastReplyAt {
				// WalSndKeepaliveIfNecessary: ask for a reply before
				// the timeout.
				pingedFor = ws.LastReplyAt
				if !c.sendRepl(ReplMsg{Kind: ReplKeepalive, End: d.WAL.Flushed(), SendTime: now, ReplyRequested: true}) {
					return false
				}
			}
		}
		flushed := d.WAL.Flushed()
		if tl.Historic {
			// XLogSendPhysical: a historic timeline's WAL ends at its
			// switch point; once it is all sent the stream ends with
			// the next timeline (WalSndDone, then StartReplication's
			// result set: next_tli, next_tli_startpos).
			flushed = min(flushed, tl.SwitchAt)
			if sent >= tl.SwitchAt {
				e.Logf("walsender: end of timeline %d at %s, next timeline %d", tl.TLI, tl.SwitchAt, tl.Next)
				e.Sometimes("walsender-end-of-timeline")
				ws.Streaming = false
				return c.sendRepl(ReplMsg{Kind: ReplEndOfTimeline, Timeline: tl.Next, Start: tl.SwitchAt})
			}
		}
		unflushed := cfg.Bugs.Has(bugs.WalSenderUnflushed)
		if unflushed {
			// Planted bug walsender-unflushed: send what the segment
			// file holds, durable or not.
			flushed = max(flushed, wal.SegmentFileEnd(e, cfg.WAL, sent))
		}
		if sent >= flushed {
			// WalSndWaitForWal: nothing durable left to send.
			d.WAL.WaitFlushed(sent, walSndPoll)
			continue
		}
		data, next, err := wal.ReadStreamTLI(e, cfg.WAL, tl.FileTLI(uint64(sent)/segSize), sent, flushed, replDataBytesMax, buf)
		if err != nil {
			e.Logf("walsender: %v", err)
			c.sendError(pgerr.New(pgerr.UndefinedFile, "%v", err))
			return false
		}
		buf = data[:0]
		if len(data) > 0 {
			if !c.sendRepl(ReplMsg{Kind: ReplXLogData, Start: sent, End: flushed, SendTime: e.Clock.Now(), Data: data}) {
				return false
			}
		}
		if next <= sent || next > flushed && !unflushed {
			panic("proc: the WAL sender's position did not advance within the flushed WAL")
		}
		sent = next
		ws.Sent = sent
	}
}

// pollStatus takes every status update that has arrived, without
// waiting (ProcessRepliesIfAny). It returns false when the standby has
// gone.
func (c *Conn) pollStatus(e *env.Env, d *db.DB, slot int, ws *db.WalSnd) bool {
	for i := 0; i < 64; i++ {
		c.nc.SetReadDeadline(max(e.Clock.Now(), 1))
		typ, body, err := c.readMsg()
		if errors.Is(err, env.ErrTimeout) {
			return true
		}
		if err != nil {
			return false // the standby closed the connection, or it broke
		}
		m, err := DecodeRepl(typ, body)
		if err != nil || m.Kind != ReplStatus {
			e.Logf("walsender: unexpected message from the standby: %v", err)
			return false
		}
		// ProcessStandbyReplyMessage: positions only move forward,
		// and a standby cannot have flushed what was not sent.
		if m.Flush > m.Write || m.Write > ws.Sent {
			e.Logf("walsender: standby reports write %s flush %s beyond what was sent %s", m.Write, m.Flush, ws.Sent)
			return false
		}
		ws.Write, ws.Flush, ws.Apply = max(ws.Write, m.Write), max(ws.Flush, m.Flush), max(ws.Apply, m.Apply)
		ws.LastReplyAt = e.Clock.Now()
		d.SyncRepReleaseWaiters(slot)
	}
	return true
}

// sendRepl writes one replication message; false when the connection
// broke.
func (c *Conn) sendRepl(m ReplMsg) bool {
	c.wbuf = AppendRepl(c.wbuf[:0], m)
	_, err := c.nc.Write(c.wbuf)
	return err == nil
}

// sendError sends a FATAL error, as the postmaster's Reject does.
func (c *Conn) sendError(err error) {
	c.wbuf = appendError(c.wbuf[:0], msgError, err)
	_, _ = c.nc.Write(c.wbuf)
}

// Replication reports whether the connection's startup message asked for
// replication (a backend then becomes a WAL sender).
func (c *Conn) Replication() bool { return c.replication }
