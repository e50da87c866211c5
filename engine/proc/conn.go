package proc

// The client/backend protocol over the network (env.Net).
//
// The postmaster listens on a socket (Listener); a client dials it, sends
// a startup message and waits for ReadyForQuery, which the backend sends
// when it starts serving (its first Recv), or for an ErrorResponse (the
// postmaster's Reject). Then each request is one message and its reply
// one message, synchronously, like PostgreSQL's simple query protocol.
// Messages are framed as PostgreSQL's are: a type byte, a 4-byte length,
// the payload (encoded below; this is not PostgreSQL's wire format, which
// the real server will speak through pgproto3).
//
// The sockets belong to the kernel, not to the database: a connection
// outlives the backend that served it until the postmaster closes its end
// (Terminate), exactly as a client's TCP connection outlives a killed
// backend until the kernel closes the dead process's socket. A process
// may be killed at any of its scheduling points, which are the env.Net
// calls: it never holds anything the network needs (env.Net parks waiting
// processes on the scheduler, kill-safe), and the only state here besides
// the socket is each end's own read buffer, which only its owner uses, and
// the flags below, guarded by spinlocks held for a few instructions, never
// across a scheduling point.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// DefaultPort is where the postmaster listens (PostgreSQL's 5432).
const DefaultPort = 5432

// The errors a client sees from the sockets, with libpq's wording.
var (
	// ErrCannotConnectNow is Dial while the postmaster is not listening,
	// and a connection that Unlisten dropped before a backend served it
	// (57P03, as PostgreSQL's postmaster answers during startup and
	// recovery: here it closes its socket meanwhile, and a refused or
	// reset connection attempt means the same).
	ErrCannotConnectNow = pgerr.New(pgerr.CannotConnectNow, "the database system is starting up")
	// ErrConnectionTerminated is every Call on a connection whose backend
	// ended or was terminated, and a Dial whose connection was.
	ErrConnectionTerminated = pgerr.New(pgerr.ConnectionFailure, "server closed the connection unexpectedly")
)

// ErrClientTimeout is CallTimeout's error when no reply came in time.
var ErrClientTimeout = errors.New("client timeout: no reply, connection abandoned")

// Op is the statement a Request carries.
type Op uint8

// The statements a client can send (one Session method each).
const (
	OpBegin Op = iota + 1
	OpGet
	OpInsert
	OpUpdate
	OpDelete
	OpScan
	OpCommit
	OpRollback
	OpVacuum      // VACUUM Table
	OpCreateTable // CREATE TABLE Table
	// OpAppend is UPDATE Table SET val = val || Val WHERE key = Key.
	OpAppend
	// OpCAS is UPDATE Table SET val = Val WHERE key = Key AND val = Expect.
	OpCAS
	// OpAdd is UPDATE Table SET val = val + Delta WHERE key = Key, on a
	// value that is an 8-byte little-endian integer.
	OpAdd
	// OpSetLocalAsync is SET LOCAL synchronous_commit = off, in a
	// transaction block: its COMMIT does not wait for the WAL flush.
	OpSetLocalAsync
	// OpInsertSelect is INSERT INTO Table SELECT key + Delta, val FROM
	// Table WHERE key BETWEEN Lo AND Hi RETURNING key, val: one command
	// whose scan runs while it inserts (range_statements.go in db).
	OpInsertSelect
	// OpUpdateRange is UPDATE Table SET val = val + Delta WHERE key
	// BETWEEN Lo AND Hi RETURNING key, val, on values that begin with an
	// 8-byte little-endian integer (the rest of the value is kept).
	OpUpdateRange
	// OpBackupStart is SELECT pg_backup_start(...): Val of the reply is
	// the backup's start LSN, 8 bytes little-endian.
	OpBackupStart
	// OpBackupStop is SELECT labelfile FROM pg_backup_stop(): Val of the
	// reply is the backup label.
	OpBackupStop
	// OpUpsertAppend is INSERT INTO Table VALUES (Key, Val) ON CONFLICT
	// (key) DO UPDATE SET val = val || Val (db's UpsertAppend).
	OpUpsertAppend
)

var opNames = [...]string{"", "begin", "get", "insert", "update", "delete", "scan", "commit", "rollback", "vacuum", "create table", "append", "cas", "add", "set local synchronous_commit off", "insert select", "update range", "pg_backup_start", "pg_backup_stop", "upsert append"}

func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Request is one protocol message from client to backend (a statement).
// Which fields matter depends on Op: Iso and Mode for OpBegin, Table and Key for
// the row operations, Val for OpInsert, OpUpdate, OpAppend and OpCAS,
// Expect for OpCAS, Delta for OpAdd, Lo and Hi for OpScan, Lo, Hi and
// Delta for OpInsertSelect and OpUpdateRange.
type Request struct {
	Op     Op
	Iso    db.Isolation
	Mode   db.TxnMode // READ ONLY, DEFERRABLE
	Table  string
	Key    uint64
	Val    []byte
	Expect []byte
	Delta  int64
	Lo     uint64
	Hi     uint64
}

// Row is one row of a scan's result.
type Row struct {
	Key uint64
	Val []byte
}

// Response is the backend's reply to one Request: the statement's error,
// if any, and its result (Found and Val for OpGet, Done for OpUpdate,
// OpDelete, OpAppend, OpCAS and OpAdd, Rows for OpScan and the RETURNING
// rows of OpInsertSelect and OpUpdateRange). An error crosses
// the connection as its SQLSTATE and message: the client gets a
// *pgerr.Error (XX000 for an error that had no SQLSTATE).
type Response struct {
	Err   error
	Found bool
	Val   []byte
	Done  bool
	Rows  []Row
	// Warning is a WARNING the statement raised (a NoticeResponse before
	// its result): a COMMIT whose sync-rep wait was canceled
	// (db.SyncRepCancelWarning).
	Warning string
}

// Listener is the postmaster's listening socket, at an address clients
// dial.
type Listener struct {
	e *env.Env
	// mu guards every field below. It is a spinlock held for a few
	// instructions, never across a scheduling point: no process can die
	// holding it.
	mu    env.Mutex
	addr  env.Addr
	nl    env.Listener // nil while not listening
	conns int          // connections dialled through it (client Conn ids)
	accs  int          // connections accepted (backend Conn ids)
	// connectTimeout bounds a Dial's TCP handshake (0: the network's
	// default), as libpq's connect_timeout.
	connectTimeout time.Duration
}

// NewListener makes the postmaster's socket at DefaultPort of e's node, not
// yet listening: Dial fails with ErrCannotConnectNow until Listen.
func NewListener(e *env.Env) *Listener {
	if e.Net == nil {
		panic("proc: NewListener needs an env with a Net")
	}
	return NewListenerAt(e, env.Addr{Node: e.Net.Node(), Port: DefaultPort})
}

// NewListenerAt is NewListener at addr (port 0: one the network picks at
// Listen).
func NewListenerAt(e *env.Env, addr env.Addr) *Listener {
	if e.Net == nil {
		panic("proc: NewListenerAt needs an env with a Net")
	}
	return &Listener{e: e, mu: e.Sched.NewSpinLock("socket"), addr: addr}
}

// Addr is where the postmaster listens (its port is known once it listens
// when it was 0).
func (l *Listener) Addr() env.Addr {
	l.mu.Lock()
	a := l.addr
	l.mu.Unlock()
	return a
}

// SetConnectTimeout bounds each later Dial's handshake (libpq's
// connect_timeout; 0: the network's default).
func (l *Listener) SetConnectTimeout(d time.Duration) {
	l.mu.Lock()
	l.connectTimeout = d
	l.mu.Unlock()
}

// Listen starts accepting connections (the postmaster opens its socket
// once the system can serve them). Listening again does nothing. An error
// (the address in use) is logged and returned.
func (l *Listener) Listen() error {
	l.mu.Lock()
	listening, addr := l.nl != nil, l.addr
	l.mu.Unlock()
	if listening {
		return nil
	}
	nl, err := l.e.Net.Listen(addr)
	if err != nil {
		l.e.Logf("could not create listen socket for %q: %v", addr, err)
		return err
	}
	l.mu.Lock()
	l.nl, l.addr = nl, nl.Addr()
	l.mu.Unlock()
	return nil
}

// Unlisten stops accepting: Dial fails with ErrCannotConnectNow, and so
// does every Dial whose connection was not yet accepted. Accepted
// connections are not affected.
func (l *Listener) Unlisten() {
	l.mu.Lock()
	nl := l.nl
	l.nl = nil
	l.mu.Unlock()
	if nl != nil {
		_ = nl.Close()
	}
}

// Accept waits for the next connection and takes it (the postmaster then
// starts a backend for it, or Rejects it). It returns nil, false when
// timeout passes first: the postmaster's ServerLoop also reaps children,
// so it never waits for ever.
func (l *Listener) Accept(timeout time.Duration) (*Conn, bool) {
	l.mu.Lock()
	nl := l.nl
	l.mu.Unlock()
	if nl == nil {
		if timeout > 0 {
			l.e.Clock.Sleep(timeout)
		}
		return nil, false
	}
	// A deadline of 0 means none: the earliest real one is 1 ns.
	nl.SetDeadline(max(l.e.Clock.Now()+max(timeout, 0), 1))
	nc, err := nl.Accept()
	if err != nil {
		return nil, false // the timeout, or Unlisten meanwhile
	}
	l.mu.Lock()
	l.accs++
	c := &Conn{nc: nc, e: l.e, id: l.accs, server: true, l: l, mu: l.e.Sched.NewSpinLock("socket")}
	l.mu.Unlock()
	return c, true
}

// Reject refuses an accepted connection: its Dial returns err (the
// postmaster's "sorry, too many clients already", say). Rejecting a
// connection that was terminated meanwhile does nothing.
func (l *Listener) Reject(c *Conn, err error) {
	if err == nil {
		panic("proc: Reject without an error")
	}
	switch {
	case !c.server || c.l != l:
		panic(fmt.Sprintf("proc: Reject of connection %d, not accepted through this listener", c.id))
	case c.state != srvAccepted:
		panic(fmt.Sprintf("proc: Reject of connection %d in state %d, not just accepted", c.id, c.state))
	}
	c.state = srvRejected
	if c.Terminated() {
		return
	}
	c.wbuf = appendError(c.wbuf[:0], msgError, err)
	_, _ = c.nc.Write(c.wbuf)
	c.Terminate()
}

// Dial connects to the postmaster from e's own node (see DialFrom).
func (l *Listener) Dial() (*Conn, error) { return l.DialFrom(l.e.Net) }

// DialFrom is the client side of connecting from the node whose network
// view is n: it connects, sends the startup message and waits until a
// backend serves the connection (returns the Conn) or it is refused
// (returns the error: ErrCannotConnectNow when the postmaster is not
// listening or stops before the connection is accepted, Reject's error,
// ErrConnectionTerminated when it was terminated before a backend served
// it, a 08001 error when the network fails the connection). As with
// libpq's PQconnectdb, "served" means the backend started reading
// requests (its first Recv), not merely that the postmaster accepted it.
func (l *Listener) DialFrom(n env.Net) (*Conn, error) {
	l.mu.Lock()
	addr, timeout := l.addr, l.connectTimeout
	l.conns++
	c := &Conn{e: l.e, id: l.conns, mu: l.e.Sched.NewSpinLock("socket")}
	l.mu.Unlock()
	nc, err := n.Dial(addr, timeout)
	if err != nil {
		return nil, dialError(err)
	}
	typ, err := c.startup(nc, protocolVersion, decodeError)
	if err == nil && typ != msgReady {
		panic(fmt.Sprintf("proc: connection %d: message %q while connecting", c.id, typ))
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// startup sends the startup message on the freshly dialled nc and reads
// the server's answer: the type of the first message that is not an
// error, or the refusal (decode turns an ErrorResponse's body into its
// error) or the network's error as a client sees it. On an error nc is
// closed; on an unexpected message the caller decides.
func (c *Conn) startup(nc env.Conn, payload []byte, decode func([]byte) error) (byte, error) {
	c.nc = nc
	c.wbuf = appendFrame(c.wbuf[:0], msgStartup, payload)
	if _, err := nc.Write(c.wbuf); err != nil {
		_ = nc.Close()
		return 0, dialError(err)
	}
	typ, body, err := c.readMsg()
	switch {
	case err != nil:
		_ = nc.Close()
		return 0, dialError(err)
	case typ == msgError:
		_ = nc.Close()
		return 0, decode(body)
	}
	return typ, nil
}

// dialError is what a client sees of a network error while connecting.
func dialError(err error) error {
	switch {
	case errors.Is(err, env.ErrConnRefused), errors.Is(err, env.ErrConnReset):
		return ErrCannotConnectNow
	case errors.Is(err, io.EOF):
		return ErrConnectionTerminated
	}
	return pgerr.New(pgerr.UnableToConnect, "could not connect to server: %v", err)
}

// The states of a backend's end.
type srvState uint8

const (
	srvAccepted srvState = iota // taken by Accept: neither served nor rejected yet
	srvServing                  // the backend sent ReadyForQuery
	srvRejected                 // Reject refused it
)

// Conn is one end of a connection: the client's (from Dial: Call, Close)
// or the backend's (from Accept: Recv, Reply, Terminate). The protocol is
// synchronous, like PostgreSQL's simple query protocol: at most one
// request is outstanding.
type Conn struct {
	nc     env.Conn
	e      *env.Env
	id     int
	server bool
	l      *Listener // the backend's: the listener that accepted it

	// The owner's own state: only the process using this end touches it.
	rbuf []byte // bytes read and not yet parsed: rbuf[rpos:]
	rpos int
	wbuf []byte // the message being written
	// Client side.
	closed  bool // Close, or abandoned by CallTimeout
	calling bool
	// Backend side.
	state    srvState
	inFlight bool // a request received and not yet replied to
	// replication says the startup message asked for a replication
	// connection (replication=true): the backend becomes a WAL sender.
	replication bool
	appName     string // a replication connection's application_name
	table       string // the last request's table name, reused while it repeats

	// mu guards ended: the postmaster terminates a backend's end while
	// the backend may be using it. A spinlock, as Listener.mu.
	mu    env.Mutex
	ended bool // the client saw the end; the backend's end was terminated
}

// ID numbers the connection: a client's in the order of Dial, a
// backend's in the order of Accept (1, 2, ...), for logs.
func (c *Conn) ID() int { return c.id }

// Terminated reports, at the client's end, whether it has seen the server
// end the connection (a Call found it closed or reset), and at the
// backend's, whether Terminate (or Reject) ended it.
func (c *Conn) Terminated() bool {
	c.mu.Lock()
	t := c.ended
	c.mu.Unlock()
	return t
}

// Gone reports whether the connection can carry no more calls: the
// server ended it (Terminated), or the client closed it, itself or by
// giving up on a CallTimeout. A client that redials only when Terminated
// would call again on a connection its own timeout closed.
func (c *Conn) Gone() bool { return c.closed || c.Terminated() }

// lose is the client learning that the server ended the connection: it
// closes its socket at once, as libpq's pqDropConnection does.
func (c *Conn) lose() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	_ = c.nc.Close()
}

// Call sends req and waits for the backend's reply (the client's
// PQexec). Once the connection is terminated it returns
// ErrConnectionTerminated, now and on every later Call; a reply the
// backend sent before the end is still delivered, as bytes already in a
// socket are.
func (c *Conn) Call(req Request) (Response, error) { return c.call(req, 0) }

// CallTimeout is Call with a client-side timeout, as a driver's socket
// timeout: when no reply arrives within limit, the client gives up on the
// connection and closes it (ErrClientTimeout). The statement's effect is
// then unknown: the backend finishes it, finds the socket closed and
// exits, which rolls back its open transaction (an idle or finished
// statement is not undone).
func (c *Conn) CallTimeout(req Request, limit time.Duration) (Response, error) {
	if limit <= 0 {
		panic(fmt.Sprintf("proc: CallTimeout with limit %v", limit))
	}
	return c.call(req, limit)
}

func (c *Conn) call(req Request, limit time.Duration) (Response, error) {
	switch {
	case c.server:
		panic(fmt.Sprintf("proc: Call on connection %d, a backend's end", c.id))
	case c.closed:
		panic(fmt.Sprintf("proc: Call on connection %d after Close", c.id))
	case c.calling:
		panic(fmt.Sprintf("proc: Call on connection %d while another Call is in progress", c.id))
	case c.Terminated():
		return Response{}, ErrConnectionTerminated
	}
	c.calling = true
	defer func() { c.calling = false }()
	var deadline time.Duration
	if limit > 0 {
		deadline = c.e.Clock.Now() + limit
	}
	c.nc.SetWriteDeadline(deadline)
	c.nc.SetReadDeadline(deadline)
	c.wbuf = appendRequest(appendHeader(c.wbuf[:0], msgQuery), req)
	finishFrame(c.wbuf)
	_, err := c.nc.Write(c.wbuf)
	var typ byte
	var body []byte
	if err == nil {
		typ, body, err = c.readMsg()
	}
	switch {
	case err != nil && errors.Is(err, env.ErrTimeout):
		c.closed = true
		_ = c.nc.Close()
		return Response{}, ErrClientTimeout
	case err != nil:
		c.lose()
		return Response{}, ErrConnectionTerminated
	case typ == msgResult:
		return decodeResponse(body), nil
	case typ == msgError:
		// A FATAL error: the server ends the connection after it.
		c.lose()
		return Response{Err: decodeError(body)}, nil
	}
	panic(fmt.Sprintf("proc: connection %d: message %q in reply to a request", c.id, typ))
}

// Close is the client closing its end: the backend's Recv returns false.
// Closing again, after a CallTimeout abandoned it, or after the connection
// was terminated, does nothing more.
func (c *Conn) Close() {
	switch {
	case c.server:
		panic(fmt.Sprintf("proc: Close of connection %d, a backend's end (Terminate it)", c.id))
	case c.closed:
		return
	case c.calling:
		panic(fmt.Sprintf("proc: Close of connection %d while a Call is in progress", c.id))
	}
	c.closed = true
	_ = c.nc.Close()
}

// Recv is the backend waiting for the next request. It returns false when
// the client closed the connection or the connection was terminated. The
// first Recv completes the client's Dial. A backend Replies to each
// request before it Recvs again.
func (c *Conn) Recv() (Request, bool) {
	switch {
	case !c.server:
		panic(fmt.Sprintf("proc: Recv on connection %d, a client's end", c.id))
	case c.state == srvRejected:
		panic(fmt.Sprintf("proc: Recv on connection %d that was not accepted but rejected", c.id))
	case c.inFlight && !c.Terminated():
		panic(fmt.Sprintf("proc: Recv on connection %d before the Reply to its request", c.id))
	}
	c.inFlight = false
	if c.Terminated() {
		return Request{}, false
	}
	if c.state == srvAccepted {
		// ProcessStartupPacket, then ReadyForQuery.
		typ, body, err := c.readMsg()
		if err != nil {
			return Request{}, false
		}
		if typ != msgStartup {
			panic(fmt.Sprintf("proc: connection %d: message %q before the startup message", c.id, typ))
		}
		c.replication = bytes.HasPrefix(body, replicationStartup)
		if c.replication {
			c.appName = string(body[len(replicationStartup):]) // application_name
		}
		c.state = srvServing
		c.wbuf = appendFrame(c.wbuf[:0], msgReady, nil)
		if _, err := c.nc.Write(c.wbuf); err != nil {
			return Request{}, false
		}
		if c.replication {
			return Request{}, false // the backend becomes a WAL sender
		}
	}
	typ, body, err := c.readMsg()
	if err != nil {
		return Request{}, false
	}
	if typ != msgQuery {
		panic(fmt.Sprintf("proc: connection %d: message %q, not a request", c.id, typ))
	}
	c.inFlight = true
	return decodeRequest(body, &c.table), true
}

// Reply sends the response to the request the backend received last. On a
// terminated or closed connection it is dropped, as a write to a closed
// socket is.
func (c *Conn) Reply(resp Response) {
	if !c.server || !c.inFlight {
		panic(fmt.Sprintf("proc: Reply on connection %d without a request", c.id))
	}
	c.inFlight = false
	if c.Terminated() {
		return
	}
	c.wbuf = appendResponse(appendHeader(c.wbuf[:0], msgResult), resp)
	finishFrame(c.wbuf)
	_, _ = c.nc.Write(c.wbuf)
}

// Terminate ends the connection from the server's side: the backend died,
// or a crash-restart ends every connection. A client waiting in Dial or
// Call, and a backend waiting in Recv, wake at once; every later Call
// returns ErrConnectionTerminated and Recv returns false. Terminating
// again does nothing.
func (c *Conn) Terminate() {
	if !c.server {
		panic(fmt.Sprintf("proc: Terminate of connection %d, a client's end (Close it)", c.id))
	}
	c.mu.Lock()
	was := c.ended
	c.ended = true
	c.mu.Unlock()
	if !was {
		_ = c.nc.Close()
	}
}

// The messages (type bytes as PostgreSQL's where there is one).
const (
	msgStartup = 'S' // client: the startup packet
	msgReady   = 'Z' // backend: ReadyForQuery
	msgQuery   = 'Q' // client: a Request
	msgResult  = 'D' // backend: a Response
	msgError   = 'E' // backend: a FATAL ErrorResponse, then the end
)

// protocolVersion is the startup message's payload.
var protocolVersion = []byte{0, 1, 0, 0}

// The frame: type, payload length (4 bytes, big-endian), payload.
const (
	headerBytes = 5
	// msgBytesMax bounds a message, as PostgreSQL's PQ_LARGE_MESSAGE_LIMIT.
	msgBytesMax = 1 << 30
	readChunk   = 4 << 10 // bytes asked of each Read at least
)

func appendHeader(b []byte, typ byte) []byte { return append(b, typ, 0, 0, 0, 0) }

// finishFrame writes the payload length into the frame's header.
func finishFrame(b []byte) {
	n := len(b) - headerBytes
	if n < 0 || n > msgBytesMax {
		panic(fmt.Sprintf("proc: message of %d bytes", n))
	}
	binary.BigEndian.PutUint32(b[1:headerBytes], uint32(n))
}

func appendFrame(b []byte, typ byte, payload []byte) []byte {
	b = append(appendHeader(b, typ), payload...)
	finishFrame(b)
	return b
}

// readMsg reads one message: its type and payload (valid until the next
// readMsg).
func (c *Conn) readMsg() (byte, []byte, error) {
	if err := c.fill(headerBytes); err != nil {
		return 0, nil, err
	}
	h := c.rbuf[c.rpos:]
	typ, n := h[0], int(binary.BigEndian.Uint32(h[1:headerBytes]))
	if n > msgBytesMax {
		panic(fmt.Sprintf("proc: connection %d: message of %d bytes", c.id, n))
	}
	if err := c.fill(headerBytes + n); err != nil {
		return 0, nil, err
	}
	body := c.rbuf[c.rpos+headerBytes : c.rpos+headerBytes+n]
	c.rpos += headerBytes + n
	return typ, body, nil
}

// fill reads until n unparsed bytes are buffered. A message is at most
// msgBytesMax, and each Read brings at least one byte, so it ends.
func (c *Conn) fill(n int) error {
	if c.rpos > 0 && len(c.rbuf)-c.rpos < n {
		// Move the unparsed bytes to the front (the previous message's
		// payload is no longer in use).
		m := copy(c.rbuf, c.rbuf[c.rpos:])
		c.rbuf, c.rpos = c.rbuf[:m], 0
	}
	for len(c.rbuf)-c.rpos < n {
		if cap(c.rbuf)-len(c.rbuf) < readChunk {
			grown := make([]byte, len(c.rbuf), max(2*cap(c.rbuf), len(c.rbuf)+max(n, readChunk)))
			copy(grown, c.rbuf)
			c.rbuf = grown
		}
		k, err := c.nc.Read(c.rbuf[len(c.rbuf):cap(c.rbuf)])
		c.rbuf = c.rbuf[:len(c.rbuf)+k]
		if k == 0 && err == nil {
			panic("proc: a Read returned nothing and no error")
		}
		if err != nil && len(c.rbuf)-c.rpos < n {
			return err
		}
	}
	return nil
}

// The payload codec: little-endian integers, byte strings as a 4-byte
// length (nilBytes for nil) and the bytes.
const nilBytes = 0xFFFFFFFF

func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.LittleEndian.AppendUint32(b, nilBytes)
	}
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(v))), v...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendRequest(b []byte, r Request) []byte {
	// The modes share the level's byte (its high half), so that a
	// request is as long as before they existed: message sizes, and
	// with them every run's timing, stay as they were.
	if r.Iso > 0xf || r.Mode > 0xf {
		panic(fmt.Sprintf("proc: isolation %d or modes %d do not fit half a byte", r.Iso, r.Mode))
	}
	b = append(b, byte(r.Op), byte(r.Iso)|byte(r.Mode)<<4)
	b = appendBytes(b, []byte(r.Table))
	b = appendU64(b, r.Key)
	b = appendBytes(b, r.Val)
	b = appendBytes(b, r.Expect)
	b = appendU64(b, uint64(r.Delta))
	b = appendU64(b, r.Lo)
	return appendU64(b, r.Hi)
}

// appendErr encodes an error as its SQLSTATE and message (none: an empty
// code).
func appendErr(b []byte, err error) []byte {
	if err == nil {
		return appendBytes(b, nil)
	}
	code, msg := pgerr.CodeOf(err), err.Error()
	var pe *pgerr.Error
	if errors.As(err, &pe) && pe == err {
		msg = pe.Msg
	}
	if code == "" {
		code = sqlstateOf(err)
	}
	return appendBytes(appendBytes(b, []byte(code)), []byte(msg))
}

func appendError(b []byte, typ byte, err error) []byte {
	b = appendErr(appendHeader(b, typ), err)
	finishFrame(b)
	return b
}

func appendResponse(b []byte, r Response) []byte {
	b = appendErr(b, r.Err)
	b = appendBool(b, r.Found)
	b = appendBytes(b, r.Val)
	b = appendBool(b, r.Done)
	if r.Rows == nil {
		return appendWarning(binary.LittleEndian.AppendUint32(b, nilBytes), r.Warning)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Rows)))
	for _, row := range r.Rows {
		b = appendBytes(appendU64(b, row.Key), row.Val)
	}
	return appendWarning(b, r.Warning)
}

// appendWarning appends a response's warning, only when there is one, so
// that every other response keeps its length (and a run its trace).
func appendWarning(b []byte, w string) []byte {
	if w == "" {
		return b
	}
	return appendBytes(b, []byte(w))
}

// decoder reads a payload; a malformed one is a bug of this file's
// encoder (the network never corrupts bytes), so it panics.
type decoder struct{ b []byte }

func (d *decoder) take(n int) []byte {
	if n > len(d.b) {
		panic(fmt.Sprintf("proc: malformed message: %d bytes wanted, %d left", n, len(d.b)))
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte    { return d.take(1)[0] }
func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.take(8)) }
func (d *decoder) bool() bool  { return d.u8() != 0 }

// bytes returns a copy: the payload's buffer is reused by the next read.
func (d *decoder) bytes() []byte {
	n := d.u32()
	if n == nilBytes {
		return nil
	}
	return append([]byte{}, d.take(int(n))...)
}

// str is a string (a nil one is "").
func (d *decoder) str() string {
	n := d.u32()
	if n == nilBytes {
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) done() {
	if len(d.b) != 0 {
		panic(fmt.Sprintf("proc: malformed message: %d bytes left over", len(d.b)))
	}
}

// decodeRequest decodes a request; *table is the previous request's
// table name, whose string is reused when the name repeats (the common
// case), and becomes this one's.
func decodeRequest(b []byte, table *string) Request {
	d := decoder{b}
	r := Request{Op: Op(d.u8())}
	isoMode := d.u8()
	r.Iso, r.Mode = db.Isolation(isoMode&0xf), db.TxnMode(isoMode>>4)
	if n := d.u32(); n != nilBytes {
		name := d.take(int(n))
		if string(name) != *table {
			*table = string(name)
		}
		r.Table = *table
	}
	r.Key = d.u64()
	r.Val = d.bytes()
	r.Expect = d.bytes()
	r.Delta = int64(d.u64())
	r.Lo = d.u64()
	r.Hi = d.u64()
	d.done()
	return r
}

func (d *decoder) err() error {
	code := d.bytes()
	if code == nil {
		return nil
	}
	return &pgerr.Error{Code: pgerr.Code(code), Msg: d.str()}
}

func decodeError(b []byte) error {
	d := decoder{b}
	err := d.err()
	d.done()
	if err == nil {
		panic("proc: an error message without an error")
	}
	return err
}

func decodeResponse(b []byte) Response {
	d := decoder{b}
	r := Response{Err: d.err(), Found: d.bool(), Val: d.bytes(), Done: d.bool()}
	if n := d.u32(); n != nilBytes {
		if uint64(n)*12 > uint64(len(d.b)) {
			panic(fmt.Sprintf("proc: malformed message: %d rows in %d bytes", n, len(d.b)))
		}
		r.Rows = make([]Row, n)
		for i := range r.Rows {
			r.Rows[i] = Row{Key: d.u64(), Val: d.bytes()}
		}
	}
	if len(d.b) > 0 {
		r.Warning = string(d.bytes())
	}
	d.done()
	return r
}
