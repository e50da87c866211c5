package proc

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
)

// The WAL receiver (walreceiver.c): an auxiliary process of a standby.
// The startup process asks for streaming from where its WAL ends
// (RequestXLogStreaming); the postmaster then starts the receiver, which
// connects to primary_conninfo with a replication startup message, sends
// START_REPLICATION, writes each XLogData into its pg_wal segments
// (XLogWalRcvWrite), fsyncs them (XLogWalRcvFlush), and only then
// publishes the flushed position to the startup process and reports it to
// the primary (XLogWalRcvSendReply: write, flush and apply). A failed
// connection is retried after wal_retrieve_retry_interval from where the
// flushed WAL ends.

// WalReceiverConfig is the standby's receiver settings, each with
// PostgreSQL's default.
type WalReceiverConfig struct {
	// RetryInterval is wal_retrieve_retry_interval: the wait before
	// connecting again after a failure.
	RetryInterval time.Duration
	// StatusInterval is wal_receiver_status_interval: a status update
	// at least this often, even with nothing received.
	StatusInterval time.Duration
	// Timeout is wal_receiver_timeout: a primary silent this long is
	// taken for gone, and the connection is dropped.
	Timeout time.Duration
	// ConnectTimeout is primary_conninfo's connect_timeout (0: the
	// network's own).
	ConnectTimeout time.Duration
	// ApplicationName is primary_conninfo's application_name, the name
	// synchronous_standby_names knows the standby by; "" is the
	// standby's node name.
	ApplicationName string
}

// DefaultWalReceiverConfig is PostgreSQL's defaults.
func DefaultWalReceiverConfig() WalReceiverConfig {
	return WalReceiverConfig{RetryInterval: 5 * time.Second, StatusInterval: 10 * time.Second, Timeout: time.Minute}
}

// Validate rejects settings the receiver cannot run with.
func (c WalReceiverConfig) Validate() error {
	if c.RetryInterval <= 0 || c.StatusInterval <= 0 || c.Timeout <= 0 || c.ConnectTimeout < 0 {
		return errors.New("wal_retrieve_retry_interval, wal_receiver_status_interval and wal_receiver_timeout must be positive")
	}
	return nil
}

// walRcvMsgsMax bounds the messages one connection takes before the
// receiver looks at the startup process's request again: a bound on the
// inner loop, not on the stream (the outer loop reconnects).
const walRcvMsgsMax = 1 << 20

// walRcvUnflushedMax bounds the XLogData messages the receiver writes
// before it fsyncs them.
const walRcvUnflushedMax = 16

// WalReceiverMain is the WAL receiver on the standby whose shared memory
// is d, streaming from the primary at primary. It runs until it is
// killed; each pass of its loop waits, connects or streams, all bounded.
func WalReceiverMain(e *env.Env, d *db.DB, primary env.Addr, cfg WalReceiverConfig) {
	rcv := d.WalRcv()
	if rcv == nil {
		panic("proc: a WAL receiver on a node without WAL receiver shared memory")
	}
	served, from := -1, wal.InvalidLSN
	// continuation: the primary refused the record's start (its segment
	// removed), so the next try asks for the first page of the record
	// this node lacks (wal.ReceiveStart).
	continuation := false
	for {
		start, gen, ok := rcv.Wanted()
		if !ok || rcv.Ended(gen) {
			// No request, or the stream reached the end of its
			// timeline: wait for new orders (WalRcvWaitForStartPosition).
			rcv.WaitWanted(served, cfg.RetryInterval)
			continue
		}
		if gen != served {
			served, from, continuation = gen, start, false
		}
		var err error
		from, err = walRcvStream(e, d, rcv, primary, cfg, gen, from, continuation)
		continuation = pgerr.Is(err, pgerr.UndefinedFile)
		if err != nil {
			e.Logf("walreceiver: %v", err)
			e.Sometimes("walreceiver-retry")
			e.Clock.Sleep(cfg.RetryInterval)
		}
	}
}

// walRcvStream connects and streams from from for request gen, until
// the connection fails (the error) or the startup process asks for
// another start (nil). It returns where the flushed WAL ends.
func walRcvStream(e *env.Env, d *db.DB, rcv *db.WalRcv, primary env.Addr, cfg WalReceiverConfig, gen int, from wal.LSN, continuation bool) (wal.LSN, error) {
	if !rcv.Begin(gen) {
		return from, nil // stopped or asked again meanwhile
	}
	defer rcv.End()
	name := cfg.ApplicationName
	if name == "" {
		name = e.Net.Node()
	}
	c, err := DialReplicationAs(e, primary, cfg.ConnectTimeout, name)
	if err != nil {
		return from, fmt.Errorf("could not connect to the primary server: %w", err)
	}
	defer c.Close()
	tli := rcv.WantedTimeline()
	if rcv.Refused() {
		// After a refused START_REPLICATION, IDENTIFY_SYSTEM and the
		// history files of the primary's newer timelines
		// (WalRcvFetchTimeLineHistoryFiles), so that the startup
		// process can rescan. PostgreSQL asks on every connection;
		// asking only after a refusal keeps the message sequence of a
		// standby whose primary never switched timelines.
		if err := walRcvFetchHistories(e, d, rcv, c, tli); err != nil {
			return from, err
		}
	}
	// Where this node has no copy of from's page, streaming starts at
	// the page's start, so that its header comes along
	// (RequestXLogStreaming starts at the segment's start for that
	// reason); the positions reported stay at from until the stream
	// passes it. The new timeline's copy is made up to from itself.
	begin := wal.ReceiveStart(e, d.Config().WAL, tli, from, continuation)
	if !c.sendRepl(ReplMsg{Kind: ReplStart, Start: begin, Timeline: tli}) {
		return from, errors.New("could not send START_REPLICATION")
	}
	c.nc.SetReadDeadline(e.Clock.Now() + cfg.Timeout)
	typ, body, err := c.readMsg()
	switch {
	case err != nil:
		return from, fmt.Errorf("could not start WAL streaming: %w", err)
	case typ == msgError:
		rcv.SetRefused(true)
		return from, fmt.Errorf("could not start WAL streaming: %w", decodeReplError(body))
	case typ != msgCopyBoth:
		return from, fmt.Errorf("unexpected message %q after START_REPLICATION", typ)
	}
	rcv.SetRefused(false)
	d.PrepareTimelineSegment(tli, from) // the new timeline's copy of from's segment
	w, err := wal.NewReceiver(e, d.Config().WAL, begin)
	if err != nil {
		return from, err
	}
	w.Holds(from)
	w.TLI = tli
	defer w.Close()
	e.Logf("walreceiver: started streaming WAL from primary at %s", from)
	e.Sometimes("walreceiver-streaming")
	rcv.Report(gen, w.Written(), w.Flushed(), true)
	defer func() { rcv.Report(gen, w.Written(), w.Flushed(), false) }()
	lastRecv := e.Clock.Now()
	// unflushed counts the XLogData messages written since the last
	// fsync: WalReceiverMain writes every message the socket holds
	// (XLogWalRcvProcessMsg in its inner loop), reporting the written
	// position after each, and fsyncs once the socket has nothing more
	// (XLogWalRcvFlush), so the startup process, which reads only what
	// is flushed, may lag the written WAL by several messages.
	unflushed := 0
	for i := 0; i < walRcvMsgsMax; i++ {
		if _, g, _ := rcv.Wanted(); g != gen {
			return walRcvDie(rcv, gen, w), nil
		}
		deadline := e.Clock.Now() + cfg.StatusInterval
		if unflushed > 0 {
			deadline = max(e.Clock.Now(), 1) // only what has arrived
		}
		c.nc.SetReadDeadline(deadline)
		typ, body, err := c.readMsg()
		now := e.Clock.Now()
		if errors.Is(err, env.ErrTimeout) && (unflushed > 0) {
			// The socket is drained: XLogWalRcvFlush, then publish
			// the flushed position to the startup process and
			// report it to the primary.
			unflushed = 0
			w.Flush()
			rcv.Report(gen, w.Written(), w.Flushed(), true)
			if !c.sendStatus(e, d, w) {
				return walRcvDie(rcv, gen, w), errors.New("could not send a status update")
			}
			continue
		}
		if errors.Is(err, env.ErrTimeout) {
			if now-lastRecv >= cfg.Timeout {
				return walRcvDie(rcv, gen, w), errors.New("terminating walreceiver due to timeout")
			}
			if !c.sendStatus(e, d, w) {
				return walRcvDie(rcv, gen, w), errors.New("could not send a status update")
			}
			continue
		}
		if err != nil {
			return walRcvDie(rcv, gen, w), fmt.Errorf("replication terminated by primary server: %w", err)
		}
		if typ == msgError {
			return walRcvDie(rcv, gen, w), fmt.Errorf("replication terminated by primary server: %w", decodeReplError(body))
		}
		m, err := DecodeRepl(typ, body)
		if err != nil {
			return walRcvDie(rcv, gen, w), err
		}
		lastRecv = now
		switch m.Kind {
		case ReplXLogData:
			if rcv.Stopped(gen) {
				// Asked to stop while it read (ShutdownWalRcv): a
				// promoted standby's WAL is its own from now on.
				return walRcvDie(rcv, gen, w), nil
			}
			if m.Start+wal.LSN(len(m.Data)) > m.End {
				return walRcvDie(rcv, gen, w), fmt.Errorf("primary sent WAL to %s beyond its flush position %s", m.Start+wal.LSN(len(m.Data)), m.End)
			}
			if err := w.Write(m.Start, m.Data); err != nil {
				return walRcvDie(rcv, gen, w), err
			}
			rcv.Report(gen, w.Written(), w.Flushed(), true)
			// WalReceiverMain's XLogWalRcvSendReply after the write
			// ("let the primary know that we received some data"):
			// the written position reaches the primary before the
			// fsync, which is what remote_write waits for.
			if !c.sendStatus(e, d, w) {
				return walRcvDie(rcv, gen, w), errors.New("could not send a status update")
			}
			unflushed++
			if unflushed >= walRcvUnflushedMax {
				// A bound on the messages written before an fsync,
				// however fast they come (the loop above flushes
				// once the socket is drained).
				unflushed = 0
				w.Flush()
				rcv.Report(gen, w.Written(), w.Flushed(), true)
				if !c.sendStatus(e, d, w) {
					return walRcvDie(rcv, gen, w), errors.New("could not send a status update")
				}
			}
		case ReplEndOfTimeline:
			// The primary has no more WAL on this timeline
			// (walrcv_endstreaming): fetch the next timeline's history
			// and wait for the startup process's new orders.
			if m.Timeline <= tli || m.Start < w.Written() {
				return walRcvDie(rcv, gen, w), fmt.Errorf("invalid end of timeline %d: next timeline %d at %s", tli, m.Timeline, m.Start)
			}
			end := walRcvDie(rcv, gen, w)
			e.Logf("walreceiver: end of WAL reached on timeline %d at %s", tli, m.Start)
			e.Sometimes("walreceiver-end-of-timeline")
			// WalRcvFetchTimeLineHistoryFiles(startpointTLI,
			// primaryTLI): every history the primary has that pg_wal
			// lacks, not only the next timeline's. A promotion that
			// crashed after writing its history file leaves a gap
			// (the next one picks findNewestTimeLine + 1), and the
			// startup process's findNewestTimeLine stops at the first
			// timeline without a history.
			if err := walRcvFetchMissingHistories(e, d, c, tli, m.Timeline); err != nil {
				return end, err
			}
			rcv.HistoryFetched()
			rcv.EndOfTimeline(gen)
			return end, nil
		case ReplKeepalive:
			if m.ReplyRequested && !c.sendStatus(e, d, w) {
				return walRcvDie(rcv, gen, w), errors.New("could not send a status update")
			}
		default:
			return walRcvDie(rcv, gen, w), fmt.Errorf("unexpected replication message %q", m.Kind)
		}
	}
	return walRcvDie(rcv, gen, w), nil
}

// walRcvFetchHistories is IDENTIFY_SYSTEM and
// WalRcvFetchTimeLineHistoryFiles: the history files of the primary's
// timelines after tli that pg_wal lacks.
func walRcvFetchHistories(e *env.Env, d *db.DB, rcv *db.WalRcv, c *Conn, tli uint32) error {
	if !c.sendRepl(ReplMsg{Kind: ReplIdentify}) {
		return errors.New("could not send IDENTIFY_SYSTEM")
	}
	m, err := walRcvAnswer(e, c, ReplIdentified)
	if err != nil {
		return err
	}
	if m.Timeline < tli {
		return fmt.Errorf("highest timeline %d of the primary is behind recovery timeline %d", m.Timeline, tli)
	}
	if err := walRcvFetchMissingHistories(e, d, c, tli, m.Timeline); err != nil {
		return err
	}
	if m.Timeline > tli {
		// The primary is on a newer timeline: the startup process
		// rescans (rescanLatestTimeLine after a failed stream).
		rcv.HistoryFetched()
	}
	return nil
}

// walRcvFetchMissingHistories is WalRcvFetchTimeLineHistoryFiles: the
// history files of the timelines after tli up to last that pg_wal lacks,
// fetched from the primary (at most 64 timelines ahead).
func walRcvFetchMissingHistories(e *env.Env, d *db.DB, c *Conn, tli, last uint32) error {
	for t := tli + 1; t <= last && t <= tli+64; t++ {
		if d.HasTimeLineHistory(t) {
			continue
		}
		if err := walRcvFetchHistory(e, d, c, t); err != nil {
			return err
		}
	}
	return nil
}

// walRcvFetchHistory fetches timeline tli's history file with
// TIMELINE_HISTORY and writes it into pg_wal (writeTimeLineHistoryFile).
func walRcvFetchHistory(e *env.Env, d *db.DB, c *Conn, tli uint32) error {
	if !c.sendRepl(ReplMsg{Kind: ReplHistoryReq, Timeline: tli}) {
		return errors.New("could not send TIMELINE_HISTORY")
	}
	m, err := walRcvAnswer(e, c, ReplHistory)
	if err != nil {
		return err
	}
	if m.Timeline != tli {
		return fmt.Errorf("primary sent the history of timeline %d, asked for %d", m.Timeline, tli)
	}
	e.Logf("walreceiver: fetching timeline history file for timeline %d from primary server", tli)
	return d.WriteTimeLineHistoryFile(tli, m.Data)
}

// walRcvAnswer reads the answer of kind want to a command.
func walRcvAnswer(e *env.Env, c *Conn, want ReplKind) (ReplMsg, error) {
	c.nc.SetReadDeadline(e.Clock.Now() + walSndStartWait)
	typ, body, err := c.readMsg()
	if err != nil {
		return ReplMsg{}, fmt.Errorf("could not receive a reply from the primary: %w", err)
	}
	if typ == msgError {
		return ReplMsg{}, fmt.Errorf("the primary refused: %w", decodeReplError(body))
	}
	m, err := DecodeRepl(typ, body)
	if err != nil {
		return ReplMsg{}, err
	}
	if m.Kind != want {
		return ReplMsg{}, fmt.Errorf("unexpected replication message %q, want %q", m.Kind, want)
	}
	m.Data = append([]byte(nil), m.Data...) // it aliased the connection's buffer
	return m, nil
}

// walRcvDie is WalRcvDie's XLogWalRcvFlush(true): however a stream
// ends (an error, the connection's loss, a stop request), what was
// received and written is fsynced and published before the receiver
// leaves it, so the startup process, and a promotion, replay it. (A kill
// or a power loss runs nothing, as on_shmem_exit does not.) It returns
// where the flushed WAL ends.
func walRcvDie(rcv *db.WalRcv, gen int, w *wal.Receiver) wal.LSN {
	w.Flush()
	rcv.Report(gen, w.Written(), w.Flushed(), true)
	return w.Flushed()
}

// sendStatus is XLogWalRcvSendReply: write, flush and apply positions.
func (c *Conn) sendStatus(e *env.Env, d *db.DB, w *wal.Receiver) bool {
	return c.sendRepl(ReplMsg{Kind: ReplStatus, Write: w.Written(), Flush: w.Flushed(), Apply: d.ReplayedLSN(), SendTime: e.Clock.Now()})
}

// decodeReplError decodes an ErrorResponse from the primary without
// trusting it to be well formed.
func decodeReplError(b []byte) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("malformed error message")
		}
	}()
	return decodeError(b)
}

// DialReplication connects to the server at addr from e's node with a
// replication startup message (replication=true) and waits for it to be
// served (ReadyForQuery) or refused (its error, 53300 beyond
// max_wal_senders).
func DialReplication(e *env.Env, addr env.Addr, timeout time.Duration) (*Conn, error) {
	if e.Net == nil {
		panic("proc: DialReplication needs an env with a Net")
	}
	return DialReplicationAs(e, addr, timeout, e.Net.Node())
}

// DialReplicationAs is DialReplication with application_name name in the
// startup message (the standby's name for synchronous_standby_names).
func DialReplicationAs(e *env.Env, addr env.Addr, timeout time.Duration, name string) (*Conn, error) {
	if e.Net == nil {
		panic("proc: DialReplication needs an env with a Net")
	}
	c := &Conn{e: e, mu: e.Sched.NewSpinLock("socket")}
	nc, err := e.Net.Dial(addr, timeout)
	if err != nil {
		return nil, dialError(err)
	}
	if timeout > 0 {
		nc.SetReadDeadline(e.Clock.Now() + timeout)
	}
	typ, err := c.startup(nc, append(append([]byte(nil), replicationStartup...), name...), decodeReplError)
	switch {
	case err != nil:
		return nil, err
	case typ != msgReady:
		_ = nc.Close()
		return nil, fmt.Errorf("unexpected message %q while connecting", typ)
	}
	nc.SetReadDeadline(0)
	return c, nil
}
