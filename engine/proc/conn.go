package proc

// The connection "sockets" between simulated clients and backends.
//
// They belong to the kernel, not to the database: a Listener and its
// Conns outlive a crash-restart of the database processes, exactly as a
// listening socket and the client ends of TCP connections outlive the
// backends that served them. Two consequences shape this file.
//
// First, a process may be killed (env.Scheduler.Kill, or a fault plan's
// kill) at any of its scheduling points, and a killed process never runs
// again, so any env.Mutex it holds stays held for ever. For an LWLock that
// is PostgreSQL's behaviour too, and the postmaster reinitialises shared
// memory; for a socket it is not — the kernel finishes every system call
// atomically whatever happens to the caller. So the socket state is guarded
// by one spinlock per Listener, mu, held only for a few instructions and
// never across a scheduling point (under the simulator taking a free
// spinlock and releasing it are not scheduling points, so every socket
// operation is one atomic step); a process can never die holding it.
//
// Second, a process that waits must hold the mutex of its condition
// variable, and a process may be killed while it holds a mutex. So no
// waiter ever sleeps on mu: each wait makes a private mutex and
// condition variable of its own (a waiter, like a wait-queue entry or a
// PostgreSQL latch) and registers it in the socket's state; wakers take
// only mu and Signal the registered waiter without taking its mutex. A
// dead waiter's mutex is then garbage that nobody else ever locks. That
// mutex is a spinlock too: never contended, and never held across a
// scheduling point (Cond.Wait releases it), so a socket call is one
// atomic step from its start to its wait.
//
// The price of never taking the waiter's mutex is that a wakeup can be
// lost in the real environment: a waker that runs exactly between the
// waiter's last look at the state and its entering the condition
// variable's queue signals nobody. (The simulator's Cond.Wait queues,
// releases and blocks with no scheduling point in between, and mu is a
// spinlock, so there a wakeup is never lost.) Every wait is therefore a
// WaitTimeout whose timeout doubles from pollMin to pollMax, and the waiter
// looks at the state again after each one: a lost wakeup costs at most one
// poll interval, and no more than the time the waiter had already waited.
// Because every wait has a timer, a hang on a
// socket shows as a run reaching its time or step limit, never as the
// simulator's "no process runnable and no timer pending" — as in any run
// of the whole system, whose postmaster and auxiliary processes always
// have timers. A kill-safe wait primitive in env.Scheduler (a wait queue
// whose check-and-sleep is atomic) would remove the poll.

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// ListenBacklog bounds the connections queued for Accept (listen(2)'s
// backlog). A Dial beyond it fails with ErrBacklogFull, as connect(2) on a
// Unix-domain socket with a full backlog fails with EAGAIN.
const ListenBacklog = 1024

// The poll interval of every socket wait (see the file comment): it starts
// at pollMin and doubles up to pollMax.
const (
	pollMin = time.Millisecond
	pollMax = 100 * time.Millisecond
)

// The errors a client sees from the sockets, with libpq's wording.
var (
	// ErrCannotConnectNow is Dial while the postmaster is not listening,
	// and a queued connection that Unlisten dropped (57P03, as
	// PostgreSQL's postmaster answers during startup and recovery).
	ErrCannotConnectNow = pgerr.New(pgerr.CannotConnectNow, "the database system is starting up")
	// ErrBacklogFull is Dial with ListenBacklog connections already queued.
	ErrBacklogFull = pgerr.New(pgerr.UnableToConnect, "could not connect to server: Resource temporarily unavailable")
	// ErrConnectionTerminated is every Call on a connection whose backend
	// ended or was terminated, and a Dial whose connection was.
	ErrConnectionTerminated = pgerr.New(pgerr.ConnectionFailure, "server closed the connection unexpectedly")
)

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
)

var opNames = [...]string{"", "begin", "get", "insert", "update", "delete", "scan", "commit", "rollback", "vacuum", "create table", "append", "cas", "add"}

func (o Op) String() string {
	if int(o) < len(opNames) && o != 0 {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Request is one protocol message from client to backend (a statement).
// Which fields matter depends on Op: Iso for OpBegin, Table and Key for
// the row operations, Val for OpInsert, OpUpdate, OpAppend and OpCAS,
// Expect for OpCAS, Delta for OpAdd, Lo and Hi for OpScan.
type Request struct {
	Op     Op
	Iso    db.Isolation
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
// OpDelete, OpAppend, OpCAS and OpAdd, Rows for OpScan).
type Response struct {
	Err   error
	Found bool
	Val   []byte
	Done  bool
	Rows  []Row
}

// waiter is one process's wait on socket state: a private mutex and
// condition variable, made afresh for every wait (see the file comment).
// Only the waiting process ever locks mu; wakers Signal cv without it.
type waiter struct {
	mu env.Mutex
	cv env.Cond
}

// wake signals w, which may be nil (nobody waits) or stale (its process
// finished waiting, or died): both are harmless. Callers hold the
// Listener's mu, so that they see the current registration.
func (w *waiter) wake() {
	if w != nil {
		w.cv.Signal()
	}
}

// Listener is the postmaster's listening socket and every connection made
// through it.
type Listener struct {
	e *env.Env
	// mu guards every field below and every Conn's state. It is a
	// spinlock held for a few instructions, never across a scheduling
	// point: no process can die holding it.
	mu        env.Mutex
	listening bool
	backlog   []*Conn // queued by Dial, oldest first; at most ListenBacklog
	acceptor  *waiter // the postmaster's wait in Accept
	acceptorW *waiter // the postmaster's reusable waiter
	conns     int     // connections ever dialled (Conn ids)
}

// NewListener makes a socket that is not yet listening: Dial fails with
// ErrCannotConnectNow until Listen.
func NewListener(e *env.Env) *Listener {
	return &Listener{e: e, mu: e.Sched.NewSpinLock("socket")}
}

// connState is how far a connection got through its establishment.
type connState uint8

const (
	connQueued   connState = iota // in the backlog: Dial waits
	connAccepted                  // taken by Accept: neither served nor rejected yet
	connReady                     // a backend called Recv: Dial returned the Conn
	connRejected                  // Reject or Unlisten refused it: Dial returned the error
)

// Conn is one connection: its client end (Call, Close) and its backend end
// (Recv, Reply). The protocol is synchronous, like PostgreSQL's simple
// query protocol: at most one request is outstanding.
type Conn struct {
	l  *Listener
	id int

	// Guarded by l.mu.
	state      connState
	rejectErr  error // why, when connRejected
	closed     bool  // the client closed its end
	terminated bool  // the backend's end is gone (Terminate or Reject)
	req        Request
	reqSent    bool     // req waits for Recv
	inFlight   bool     // the backend received req and has not replied
	resp       Response // the reply, when respReady
	respReady  bool     // resp waits for the client's Call
	client     *waiter  // the client's wait in Dial or Call
	backend    *waiter  // the backend's wait in Recv
	clientW    *waiter  // the client's reusable waiter
	backendW   *waiter  // the backend's reusable waiter
}

// ID numbers the connection (1, 2, ... in the order of Dial), for logs.
func (c *Conn) ID() int { return c.id }

// await blocks the calling process until try, called with l.mu held,
// returns true (try completes the operation when it can), or until limit
// has passed (limit < 0: no limit). It reports whether try succeeded.
// Between tries the process sleeps on a fresh waiter registered in *slot.
//
// The waiter is made once per cache and reused: each cache belongs to one
// process (a connection's client end, its backend end, the listener's
// acceptor), so no two processes ever share a waiter's mutex.
func (l *Listener) await(what string, slot, cache **waiter, try func() bool, limit time.Duration) bool {
	w := *cache
	if w == nil {
		// Only this process ever locks the waiter's mutex, so it is never
		// contended: a spinlock, whose free Lock is not a scheduling
		// point, keeps a socket call the one atomic step a system call is.
		w = &waiter{mu: l.e.Sched.NewSpinLock("socket " + what)}
		w.cv = l.e.Sched.NewCond("socket "+what, w.mu)
		*cache = w
	}
	var deadline time.Duration
	if limit >= 0 {
		deadline = l.e.Clock.Now() + limit
	}
	poll := pollMin
	w.mu.Lock()
	for {
		l.mu.Lock()
		done := try()
		if done {
			if *slot == w {
				*slot = nil
			}
		} else {
			*slot = w
		}
		l.mu.Unlock()
		if done {
			w.mu.Unlock()
			return true
		}
		d := poll
		if limit >= 0 {
			left := deadline - l.e.Clock.Now()
			if left <= 0 {
				l.mu.Lock()
				if *slot == w {
					*slot = nil
				}
				l.mu.Unlock()
				w.mu.Unlock()
				return false
			}
			d = min(d, left)
		}
		w.cv.WaitTimeout(d)
		poll = min(2*poll, pollMax)
	}
}

// unlockAndPanic reports a programmer error found with l.mu held.
func (l *Listener) unlockAndPanic(format string, args ...any) {
	l.mu.Unlock()
	panic(fmt.Sprintf("proc: "+format, args...))
}

// Listen starts accepting connections (the postmaster opens its socket
// once the system can serve them).
func (l *Listener) Listen() {
	l.mu.Lock()
	l.listening = true
	l.mu.Unlock()
}

// Unlisten stops accepting: Dial fails with ErrCannotConnectNow, and so
// does every Dial still queued. Accepted connections are not affected.
func (l *Listener) Unlisten() {
	l.mu.Lock()
	l.listening = false
	for i, c := range l.backlog {
		if c.state != connQueued {
			l.unlockAndPanic("connection %d in the backlog in state %d", c.id, c.state)
		}
		c.state, c.rejectErr, c.terminated = connRejected, ErrCannotConnectNow, true
		c.client.wake()
		l.backlog[i] = nil
	}
	l.backlog = l.backlog[:0]
	l.mu.Unlock()
}

// Dial is the client side of connect(): it queues a connection for Accept
// and waits until a backend serves it (returns the Conn) or it is refused
// (returns the error: ErrCannotConnectNow when the postmaster is not
// listening, ErrBacklogFull, Reject's error, or ErrConnectionTerminated
// when it was terminated before a backend served it). As with libpq's
// PQconnectdb, "served" means the backend started reading requests (its
// first Recv), not merely that the postmaster accepted it.
func (l *Listener) Dial() (*Conn, error) {
	l.mu.Lock()
	if !l.listening {
		l.mu.Unlock()
		return nil, ErrCannotConnectNow
	}
	if len(l.backlog) >= ListenBacklog {
		l.mu.Unlock()
		return nil, ErrBacklogFull
	}
	l.conns++
	c := &Conn{l: l, id: l.conns}
	l.backlog = append(l.backlog, c)
	l.acceptor.wake()
	l.mu.Unlock()

	var err error
	l.await("client", &c.client, &c.clientW, func() bool {
		switch {
		case c.state == connReady:
			return true
		case c.state == connRejected:
			err = c.rejectErr
			return true
		case c.terminated:
			err = ErrConnectionTerminated
			return true
		}
		return false
	}, -1)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Accept waits for the next queued connection and takes it (the
// postmaster then starts a backend for it, or Rejects it). It returns nil,
// false when timeout passes first: the postmaster's ServerLoop also reaps
// children, so it never waits for ever.
func (l *Listener) Accept(timeout time.Duration) (*Conn, bool) {
	var c *Conn
	l.await("accept", &l.acceptor, &l.acceptorW, func() bool {
		if len(l.backlog) == 0 {
			return false
		}
		c = l.backlog[0]
		if c.state != connQueued {
			l.unlockAndPanic("connection %d in the backlog in state %d", c.id, c.state)
		}
		l.backlog[0] = nil
		l.backlog = l.backlog[1:]
		c.state = connAccepted
		return true
	}, max(timeout, 0))
	return c, c != nil
}

// Reject refuses an accepted connection: its Dial returns err (the
// postmaster's "sorry, too many clients already", say). Rejecting a
// connection that was terminated meanwhile does nothing.
func (l *Listener) Reject(c *Conn, err error) {
	if err == nil {
		panic("proc: Reject without an error")
	}
	l.mu.Lock()
	if c.l != l {
		l.unlockAndPanic("Reject of connection %d through another listener", c.id)
	}
	if c.state != connAccepted {
		l.unlockAndPanic("Reject of connection %d in state %d, not just accepted", c.id, c.state)
	}
	if !c.terminated {
		c.state, c.rejectErr, c.terminated = connRejected, err, true
		c.client.wake()
	}
	l.mu.Unlock()
}

// Call sends req and waits for the backend's reply (the client's
// PQexec). Once the connection is terminated it returns
// ErrConnectionTerminated, now and on every later Call; a reply the
// backend sent before the end is still delivered, as bytes already in a
// socket are. req's bytes are copied, as a socket copies them.
func (c *Conn) Call(req Request) (Response, error) { return c.call(req, -1) }

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

// ErrClientTimeout is CallTimeout's error when no reply came in time.
var ErrClientTimeout = errors.New("client timeout: no reply, connection abandoned")

func (c *Conn) call(req Request, limit time.Duration) (Response, error) {
	l := c.l
	req.Val = cloneBytes(req.Val)
	l.mu.Lock()
	switch {
	case c.state != connReady:
		l.unlockAndPanic("Call on connection %d that Dial did not return", c.id)
	case c.closed:
		l.unlockAndPanic("Call on connection %d after Close", c.id)
	case c.terminated:
		l.mu.Unlock()
		return Response{}, ErrConnectionTerminated
	case c.reqSent || c.inFlight || c.respReady:
		l.unlockAndPanic("Call on connection %d while another Call is in progress", c.id)
	}
	c.req, c.reqSent = req, true
	c.backend.wake()
	l.mu.Unlock()

	var resp Response
	var err error
	replied := l.await("client", &c.client, &c.clientW, func() bool {
		switch {
		case c.respReady:
			resp, c.resp, c.respReady = c.resp, Response{}, false
			return true
		case c.terminated:
			err = ErrConnectionTerminated
			return true
		}
		return false
	}, limit)
	if !replied {
		l.mu.Lock()
		c.closed = true
		c.backend.wake()
		l.mu.Unlock()
		return Response{}, ErrClientTimeout
	}
	return resp, err
}

// Close is the client closing its end: the backend's Recv returns false.
// Closing again, or after the connection was terminated, does nothing.
func (c *Conn) Close() {
	l := c.l
	l.mu.Lock()
	if c.state != connReady {
		l.unlockAndPanic("Close of connection %d that Dial did not return", c.id)
	}
	if c.closed {
		l.mu.Unlock() // abandoned by a CallTimeout, or closed already
		return
	}
	if !c.terminated && (c.reqSent || c.inFlight || c.respReady) {
		l.unlockAndPanic("Close of connection %d while a Call is in progress", c.id)
	}
	c.closed = true
	c.backend.wake()
	l.mu.Unlock()
}

// Recv is the backend waiting for the next request. It returns false when
// the client closed the connection or the connection was terminated. The
// first Recv completes the client's Dial. A backend Replies to each
// request before it Recvs again.
func (c *Conn) Recv() (Request, bool) {
	l := c.l
	l.mu.Lock()
	switch {
	case c.state == connQueued || c.state == connRejected:
		l.unlockAndPanic("Recv on connection %d that was not accepted", c.id)
	case c.inFlight && !c.terminated:
		l.unlockAndPanic("Recv on connection %d before the Reply to its request", c.id)
	}
	if c.state == connAccepted && !c.terminated {
		c.state = connReady
		c.client.wake()
	}
	l.mu.Unlock()

	var req Request
	ok := false
	l.await("backend", &c.backend, &c.backendW, func() bool {
		switch {
		case c.terminated:
			return true
		case c.reqSent:
			req, c.req, c.reqSent, c.inFlight = c.req, Request{}, false, true
			ok = true
			return true
		case c.closed:
			return true
		}
		return false
	}, -1)
	return req, ok
}

// Reply sends the response to the request the backend received last. On a
// terminated connection it is dropped, as a write to a closed socket is.
// resp's bytes are copied.
func (c *Conn) Reply(resp Response) {
	resp = cloneResponse(resp)
	l := c.l
	l.mu.Lock()
	if c.terminated {
		l.mu.Unlock()
		return
	}
	if !c.inFlight {
		l.unlockAndPanic("Reply on connection %d without a request", c.id)
	}
	c.inFlight = false
	if c.closed {
		l.mu.Unlock() // the client gave up waiting (CallTimeout)
		return
	}
	c.resp, c.respReady = resp, true
	c.client.wake()
	l.mu.Unlock()
}

// Terminate ends the connection from the server's side: the backend died,
// or a crash-restart ends every connection. A client waiting in Dial or
// Call, and a backend waiting in Recv, wake at once; every later Call
// returns ErrConnectionTerminated and Recv returns false. Terminating
// again does nothing.
func (c *Conn) Terminate() {
	l := c.l
	l.mu.Lock()
	if c.terminated {
		l.mu.Unlock()
		return
	}
	c.terminated = true
	if c.state == connQueued {
		for i, q := range l.backlog {
			if q == c {
				l.backlog = append(l.backlog[:i], l.backlog[i+1:]...)
				break
			}
		}
	}
	c.client.wake()
	c.backend.wake()
	l.mu.Unlock()
}

// Terminated reports whether Terminate (or Reject) ended the connection.
func (c *Conn) Terminated() bool {
	c.l.mu.Lock()
	t := c.terminated
	c.l.mu.Unlock()
	return t
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func cloneResponse(r Response) Response {
	r.Val = cloneBytes(r.Val)
	if r.Rows != nil {
		rows := make([]Row, len(r.Rows))
		for i, row := range r.Rows {
			rows[i] = Row{Key: row.Key, Val: cloneBytes(row.Val)}
		}
		r.Rows = rows
	}
	return r
}
