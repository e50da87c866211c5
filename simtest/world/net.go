package world

// The simulated network: env.Net for every node of a run, on one
// deterministic network (SimNet). A connection is two pipes, one per
// direction; each pipe is a queue of segments (written bytes, then at most
// one FIN) stamped with the virtual time they arrive, computed when they are
// sent from the link's latency and bandwidth (net_faults.go). Nothing moves
// on its own: a reader takes the segments whose arrival time has come, and
// a process that must wait — for bytes that are still in flight, for a
// connection to Accept, for a handshake's answer, for buffer space — parks
// on the scheduler until the event that ends its wait (a writer's wakeup,
// the arrival time, the deadline, a fault's reset), never polls. Every
// blocking call (Dial, Accept, Read, Write) is a scheduling point, hashed
// into the trace; Close and SetDeadline are atomic steps, as the system
// calls are.
//
// A process killed while parked simply never comes back: its entry on the
// wait queue goes stale (the queue keeps the wait's generation, and a wakeup
// of a process that is no longer in that wait does nothing), and it never
// holds anything, so the network never needs to be unwound.
//
// The network is shared by the nodes of a run, each reaching it through
// its host (Host(name)): addresses name a node and a port, and faults act on
// the links between named nodes. Deadlines are on the calling node's clock;
// a node's clock offset (SetClockOffset) converts them to the network's
// virtual time.
//
// What is modelled, and what is not (see also net_faults.go):
//   - TCP's guarantees: bytes arrive once, in order, or the connection is
//     reset; a Write waits while BufferBytes are written and unread on its
//     direction (send plus receive buffer); a close is a FIN after the bytes
//     already written.
//   - The handshake: the SYN travels to the listener's node; if nobody
//     listens there when it arrives (or the backlog is full) the answer is
//     a refusal, else the connection is established on the server's side
//     (queued for Accept) and the answer travels back; Dial returns when it
//     arrives.
//   - Not modelled: a close with unread bytes sending RST instead of FIN,
//     a write to a peer that closed raising a reset (the bytes are dropped),
//     TCP's retransmission timeout ending a connection stuck behind a
//     partition (it waits for the heal, or for the caller's deadline).

import (
	"fmt"
	"io"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// NetConfig is how the simulated network behaves before any fault.
type NetConfig struct {
	// Latency is every link's one-way delay (a node to itself included,
	// as a Unix socket has none: 0 by default).
	Latency time.Duration
	// ConnectTimeout is Dial's timeout when the caller gives none.
	ConnectTimeout time.Duration
	// BufferBytes bounds the bytes written on one direction of a
	// connection and not yet read; a Write of more waits for the reader.
	BufferBytes int
	// Backlog bounds a listener's connections established but not yet
	// accepted (listen(2)'s backlog); a SYN beyond it is refused, as a
	// Unix-domain socket refuses with EAGAIN.
	Backlog int
}

// DefaultNetConfig is a LAN without faults.
var DefaultNetConfig = NetConfig{
	Latency:        0,
	ConnectTimeout: env.DefaultConnectTimeout,
	BufferBytes:    256 << 10,
	Backlog:        1024,
}

// The bounds of the network's queues and loops.
const (
	netHostsMax = 64 // nodes on one network
	// netWaitsMax bounds the wakeups of one blocking call: each one is an
	// event (an arrival, a heal, a write, a deadline), and a call that
	// sees this many has a bug.
	netWaitsMax   = 1 << 20
	portEphemeral = 49152 // the first port a Dial's end gets (IANA's dynamic range)
)

// SimNet is one simulated network. All of its nodes' processes run on one
// scheduler, sim.
type SimNet struct {
	sim *Sim
	cfg NetConfig
	// Hook, when set, sees every blocking call as it starts, in the
	// calling process, after its scheduling point and before it looks
	// at the network: where a fault plan's runner decides, say, to drop
	// the connection a write is about to use, or to partition the nodes
	// of a dial. It may call the fault operations (net_faults.go).
	Hook  func(op NetOp)
	hosts []*simHost // in the order they joined
	links map[[2]int]*netLink
	// conns are the connections not yet closed at both ends nor reset,
	// in the order they were dialled (faults walk them).
	conns  []*simConn
	nConns int
}

// NewSimNet makes a network whose processes run on sim.
func NewSimNet(sim *Sim, cfg NetConfig) *SimNet {
	if cfg.BufferBytes <= 0 || cfg.Backlog <= 0 || cfg.ConnectTimeout <= 0 || cfg.Latency < 0 {
		panic(fmt.Sprintf("simtest: NetConfig %+v", cfg))
	}
	return &SimNet{sim: sim, cfg: cfg, links: map[[2]int]*netLink{}}
}

// NetOpKind is a blocking network call.
type NetOpKind uint8

// The blocking calls a Hook sees.
const (
	NetDial NetOpKind = iota
	NetAccept
	NetRead
	NetWrite
)

var netOpNames = [...]string{"net-dial", "net-accept", "net-read", "net-write"}

func (k NetOpKind) String() string { return netOpNames[k] }

// NetOp is one blocking network call, as a Hook sees it.
type NetOp struct {
	Kind  NetOpKind
	Node  string // the calling process's node
	Peer  string // the node at the other end (a dial's target; a listener's own node for an accept)
	Port  int    // the local port (a dial's: the target's)
	Conn  int    // the connection (0 for a dial or an accept)
	Bytes int    // a read's buffer or a write's length
}

// watch shows op to the hook, if any, inside the simulation.
func (n *SimNet) watch(op NetOp) {
	if n.Hook != nil && n.sim.running {
		n.Hook(op)
	}
}

// Host is node name's view of the network (its env.Net), made on first use.
func (n *SimNet) Host(name string) env.Net { return n.host(name) }

func (n *SimNet) host(name string) *simHost {
	if h := n.lookup(name); h != nil {
		return h
	}
	if name == "" || len(n.hosts) >= netHostsMax {
		panic(fmt.Sprintf("simtest: host %q on a network of %d hosts", name, len(n.hosts)))
	}
	h := &simHost{net: n, name: name, nameT: newTraceName(name), idx: len(n.hosts),
		listeners: map[int]*simListener{}, nextPort: portEphemeral}
	n.hosts = append(n.hosts, h)
	return h
}

func (n *SimNet) lookup(name string) *simHost {
	for _, h := range n.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// mustHost is a fault's node, which must have joined the network.
func (n *SimNet) mustHost(name string) *simHost {
	h := n.lookup(name)
	if h == nil {
		panic(fmt.Sprintf("simtest: no node %q on the network", name))
	}
	return h
}

// SetClockOffset says node's clock reads the network's virtual time plus
// d, so that its deadlines convert.
func (n *SimNet) SetClockOffset(node string, d time.Duration) { n.mustHost(node).offset = d }

// The network's waits.
var (
	waitNetDial   = plainWait("net dial")
	waitNetAccept = plainWait("net accept")
	waitNetRead   = plainWait("net read")
	waitNetWrite  = plainWait("net write")
)

// netWaiter is one parked process and the generation of its wait.
type netWaiter struct {
	p   *proc
	gen uint64
}

// live reports whether the process is still in that wait.
func (w netWaiter) live() bool { return w.p.state == stBlocked && w.p.waitGen == w.gen }

// waitQ is the processes parked on one thing (a pipe's readers, a
// listener's acceptors). Entries whose wait ended otherwise (a deadline, a
// kill) go stale and are dropped.
type waitQ []netWaiter

// wake makes every process still in its wait runnable.
func (q *waitQ) wake(s *Sim) {
	for _, w := range *q {
		if w.live() {
			s.makeRunnable(w.p)
		}
	}
	clear(*q)
	*q = (*q)[:0]
}

// park blocks the running process on q until a wake or, when until >= 0,
// until virtual time until.
func (n *SimNet) park(q *waitQ, what waitOn, until time.Duration) {
	s := n.sim
	p := s.cur
	if !s.running || p == nil {
		panic("simtest: a blocking network call outside a simulated process")
	}
	kept := (*q)[:0]
	for _, w := range *q {
		if w.live() {
			kept = append(kept, w)
		}
	}
	clear((*q)[len(kept):])
	*q = append(kept, netWaiter{p: p, gen: p.waitGen + 1}) // block's generation
	timeout := time.Duration(-1)
	if until >= 0 {
		timeout = max(until-s.now, 0)
	}
	s.block(what, timeout)
}

// simHost is one node's view of the network.
type simHost struct {
	net       *SimNet
	name      string
	nameT     traceName
	idx       int
	offset    time.Duration // the node's clock minus virtual time
	listeners map[int]*simListener
	nextPort  int
}

func (h *simHost) Node() string { return h.name }

// world is the virtual time of a deadline on the node's clock (-1: none).
func (h *simHost) world(deadline time.Duration) time.Duration {
	if deadline == 0 {
		return -1
	}
	return max(deadline-h.offset, 0)
}

// ephemeral is a free port for a Dial's end or a Listen of port 0.
func (h *simHost) ephemeral() int {
	for i := 0; i < 65536-portEphemeral; i++ {
		p := h.nextPort
		h.nextPort++
		if h.nextPort > 65535 {
			h.nextPort = portEphemeral
		}
		if h.listeners[p] == nil {
			return p
		}
	}
	panic("simtest: no free port on " + h.name)
}

func (h *simHost) Listen(addr env.Addr) (env.Listener, error) {
	n := h.net
	if addr.Node != "" && addr.Node != h.name {
		return nil, &env.NetError{Op: "listen", Addr: addr, Err: fmt.Errorf("address of node %q, not of %q", addr.Node, h.name)}
	}
	if addr.Port < 0 || addr.Port > 65535 {
		return nil, &env.NetError{Op: "listen", Addr: addr, Err: fmt.Errorf("port %d out of range", addr.Port)}
	}
	port := addr.Port
	if port == 0 {
		port = h.ephemeral()
	}
	a := env.Addr{Node: h.name, Port: port}
	if h.listeners[port] != nil {
		return nil, &env.NetError{Op: "listen", Addr: a, Err: fmt.Errorf("address already in use")}
	}
	l := &simListener{host: h, addr: a}
	h.listeners[port] = l
	n.event(&env.Event{Kind: env.EvNetListen, A: int64(port), Node: h.name, Name: h.name, NameHash: h.nameT.h})
	return l, nil
}

// event hashes a network event that is not a scheduling point.
func (n *SimNet) event(e *env.Event) {
	n.sim.event(n.sim.cur, e)
}

// simListener is a listening socket.
type simListener struct {
	host      *simHost
	addr      env.Addr
	queue     []*simConn // established, not yet accepted, oldest first
	acceptors waitQ
	deadline  time.Duration // on the node's clock; 0: none
	closed    bool
	// timedOut is the error of every Accept that reaches the deadline,
	// made once: the postmaster's accept loop times out again and again,
	// and no caller changes an error it is handed.
	timedOut *env.NetError
}

func (l *simListener) Addr() env.Addr { return l.addr }

func (l *simListener) SetDeadline(t time.Duration) {
	l.deadline = t
	l.acceptors.wake(l.host.net.sim) // they look at the new deadline
}

func (l *simListener) Accept() (env.Conn, error) {
	n := l.host.net
	s := n.sim
	s.yieldPoint(&env.Event{Kind: env.EvNetAccept, A: int64(l.addr.Port), B: int64(len(l.queue)), Node: l.host.name, Name: l.host.name, NameHash: l.host.nameT.h})
	n.watch(NetOp{Kind: NetAccept, Node: l.host.name, Peer: l.host.name, Port: l.addr.Port})
	for i := 0; ; i++ {
		if i >= netWaitsMax {
			panic("simtest: Accept woke too often")
		}
		if l.closed {
			return nil, &env.NetError{Op: "accept", Addr: l.addr, Err: env.ErrNetClosed}
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			m := copy(l.queue, l.queue[1:])
			l.queue[m] = nil
			l.queue = l.queue[:m]
			c.queuedAt = nil
			return &c.ends[1], nil
		}
		until := l.host.world(l.deadline)
		if until >= 0 && until <= s.now {
			if l.timedOut == nil {
				l.timedOut = &env.NetError{Op: "accept", Addr: l.addr, Err: env.ErrTimeout}
			}
			return nil, l.timedOut
		}
		if s.cur.abnormalExitPending() {
			// SIGCHLD for a child that died abnormally interrupts the
			// wait (EINTR), reported as the timeout it cut short: the
			// postmaster reaps it and starts the crash-restart at once.
			return nil, &env.NetError{Op: "accept", Addr: l.addr, Err: env.ErrTimeout}
		}
		n.park(&l.acceptors, waitNetAccept, until)
	}
}

// Close stops listening; connections not yet accepted are reset.
func (l *simListener) Close() error {
	if l.closed {
		return nil
	}
	n := l.host.net
	l.closed = true
	delete(l.host.listeners, l.addr.Port)
	n.event(&env.Event{Kind: env.EvNetClose, A: int64(l.addr.Port), B: int64(len(l.queue)), Node: l.host.name, Name: l.host.name, NameHash: l.host.nameT.h})
	for i, c := range l.queue {
		c.queuedAt = nil
		n.reset(c)
		l.queue[i] = nil
	}
	l.queue = l.queue[:0]
	l.acceptors.wake(n.sim)
	return nil
}

// The stages of a connection's handshake.
type handshake uint8

const (
	hsSyn     handshake = iota // the SYN travels to the listener's node
	hsAnswer                   // the answer (accepted or refused) travels back
	hsDone                     // established at the client too
	hsRefused                  // the refusal arrived
)

// simConn is one connection: ends[0] is the dialler's, ends[1] the
// acceptor's; c2s carries what ends[0] writes.
type simConn struct {
	net      *SimNet
	id       int
	ends     [2]simEnd
	c2s, s2c pipe
	reset    bool

	hs       handshake
	refused  bool          // the answer is a refusal
	hsAt     time.Duration // when the SYN or the answer arrives
	hsHeld   bool          // the SYN or the answer waits for a partition to heal
	dialers  waitQ
	queuedAt *simListener // the listener whose queue holds it
}

// simEnd is one end of a connection: its env.Conn.
type simEnd struct {
	c             *simConn
	side          int // 0: the dialler's, 1: the acceptor's
	host          *simHost
	in, out       *pipe
	closed        bool
	local, remote env.Addr
	rdl, wdl      time.Duration // deadlines on the node's clock; 0: none
}

func (e *simEnd) peer() *simEnd                    { return &e.c.ends[1-e.side] }
func (e *simEnd) LocalAddr() env.Addr              { return e.local }
func (e *simEnd) RemoteAddr() env.Addr             { return e.remote }
func (e *simEnd) SetReadDeadline(t time.Duration)  { e.rdl = t; e.in.readers.wake(e.c.net.sim) }
func (e *simEnd) SetWriteDeadline(t time.Duration) { e.wdl = t; e.out.writers.wake(e.c.net.sim) }

// segment is bytes written in one Write, or the FIN.
type segment struct {
	data    []byte // in the pipe's bytes (or an array it had before)
	off     int    // bytes of data already read
	fin     bool
	held    bool          // behind a partition: no arrival time yet
	arrival time.Duration // when it can be read
}

// pipe is one direction of a connection.
type pipe struct {
	link *netLink
	segs []segment
	// bytes holds the segments' data, appended; it starts over when
	// every segment has been read, so that a connection's messages
	// reuse one array rather than allocate one per Write.
	bytes    []byte
	buffered int           // bytes written and not yet read
	last     time.Duration // the latest arrival so far: segments never overtake
	readers  waitQ
	writers  waitQ
}

// hold copies b into the pipe's bytes and returns the copy.
func (p *pipe) hold(b []byte, bufferBytes int) []byte {
	if len(p.segs) == 0 || len(p.bytes) > 4*bufferBytes {
		// Nothing unread refers to the array's start (or, in a long
		// stream that never drains, the unread segments keep the old
		// array and new ones go to a new one).
		p.bytes = p.bytes[:0]
		if len(p.segs) > 0 {
			p.bytes = nil
		}
	}
	start := len(p.bytes)
	p.bytes = append(p.bytes, b...)
	return p.bytes[start:len(p.bytes):len(p.bytes)]
}

// push sends a segment: it arrives after the link's delay, never before
// the one sent before it, or waits for the heal of a partition.
func (n *SimNet) push(p *pipe, seg segment) {
	first := len(p.segs) == 0
	if p.link.down || (len(p.segs) > 0 && p.segs[len(p.segs)-1].held) {
		seg.held = true
	} else {
		seg.arrival = max(n.send(p.link, len(seg.data)), p.last)
		p.last = seg.arrival
	}
	p.segs = append(p.segs, seg)
	p.buffered += len(seg.data)
	if first {
		p.readers.wake(n.sim) // a reader waits for the head: now it knows when
	}
}

// Dial connects from the host to addr (env.Net).
func (h *simHost) Dial(addr env.Addr, timeout time.Duration) (env.Conn, error) {
	n := h.net
	s := n.sim
	s.yieldPoint(&env.Event{Kind: env.EvNetDial, A: int64(addr.Port), Node: h.name, Name: h.name, NameHash: h.nameT.h})
	n.watch(NetOp{Kind: NetDial, Node: h.name, Peer: addr.Node, Port: addr.Port})
	dst := n.lookup(addr.Node)
	if dst == nil {
		return nil, &env.NetError{Op: "dial", Addr: addr, Err: env.ErrHostUnreachable}
	}
	if timeout <= 0 {
		timeout = n.cfg.ConnectTimeout
	}
	deadline := s.now + timeout
	n.nConns++
	c := &simConn{net: n, id: n.nConns}
	c.c2s.link, c.s2c.link = n.link(h, dst), n.link(dst, h)
	c.ends[0] = simEnd{c: c, side: 0, host: h, in: &c.s2c, out: &c.c2s, local: env.Addr{Node: h.name, Port: h.ephemeral()}, remote: addr}
	c.ends[1] = simEnd{c: c, side: 1, host: dst, in: &c.c2s, out: &c.s2c, local: addr, remote: c.ends[0].local}
	n.conns = append(n.conns, c)
	c.hs = hsSyn
	n.sendHandshake(c, c.c2s.link)
	for i := 0; ; i++ {
		if i >= netWaitsMax {
			panic("simtest: Dial woke too often")
		}
		if c.reset {
			n.forget(c)
			return nil, &env.NetError{Op: "dial", Addr: addr, Err: env.ErrConnReset}
		}
		if !c.hsHeld && c.hsAt <= s.now {
			switch c.hs {
			case hsSyn:
				n.synArrives(c, dst, addr.Port)
				continue
			case hsAnswer:
				if c.refused {
					c.hs = hsRefused
					n.forget(c)
					return nil, &env.NetError{Op: "dial", Addr: addr, Err: env.ErrConnRefused}
				}
				c.hs = hsDone
				return &c.ends[0], nil
			}
		}
		if deadline <= s.now {
			// The dialler gives up; a server end already queued or
			// accepted sees a reset, as the client's RST would give it.
			n.reset(c)
			n.forget(c)
			return nil, &env.NetError{Op: "dial", Addr: addr, Err: env.ErrTimeout}
		}
		until := deadline
		if !c.hsHeld {
			until = min(until, c.hsAt)
		}
		n.park(&c.dialers, waitNetDial, until)
	}
}

// sendHandshake sends the SYN or the answer over l.
func (n *SimNet) sendHandshake(c *simConn, l *netLink) {
	c.hsHeld = l.down
	if !c.hsHeld {
		c.hsAt = n.send(l, 0)
	}
}

// synArrives is the listener's node answering a SYN: it queues the
// connection for Accept, or refuses it, and the answer travels back.
func (n *SimNet) synArrives(c *simConn, dst *simHost, port int) {
	l := dst.listeners[port]
	if l == nil || l.closed || len(l.queue) >= n.cfg.Backlog {
		c.refused = true
	} else {
		l.queue = append(l.queue, c)
		c.queuedAt = l
		l.acceptors.wake(n.sim)
	}
	c.hs = hsAnswer
	n.sendHandshake(c, c.s2c.link)
	// The server's bytes follow its answer.
	c.s2c.last = max(c.s2c.last, c.hsAt)
}

// reset ends c at both ends at once: bytes in flight are lost, and every
// call on it fails with ErrConnReset (a dropped connection, a listener
// closed with it queued, a dialler that gave up).
func (n *SimNet) reset(c *simConn) {
	if c.reset {
		return
	}
	c.reset = true
	if l := c.queuedAt; l != nil {
		for i, q := range l.queue {
			if q == c {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
		c.queuedAt = nil
	}
	n.event(&env.Event{Kind: env.EvNetClose, A: int64(c.id), B: -1})
	for _, p := range [2]*pipe{&c.c2s, &c.s2c} {
		clear(p.segs)
		p.segs, p.buffered = p.segs[:0], 0
		p.readers.wake(n.sim)
		p.writers.wake(n.sim)
	}
	c.dialers.wake(n.sim)
	n.forget(c)
}

// forget drops c from the connections faults walk.
func (n *SimNet) forget(c *simConn) {
	for i, q := range n.conns {
		if q == c {
			copy(n.conns[i:], n.conns[i+1:])
			n.conns[len(n.conns)-1] = nil
			n.conns = n.conns[:len(n.conns)-1]
			return
		}
	}
}

// start is a Read's or a Write's scheduling point, and the hook's look
// at it.
func (e *simEnd) start(kind env.EventKind, op NetOpKind, bytes int) {
	c := e.c
	c.net.sim.yieldPoint(&env.Event{Kind: kind, A: int64(c.id), B: int64(bytes), Node: e.host.name, Name: e.host.name, NameHash: e.host.nameT.h})
	c.net.watch(NetOp{Kind: op, Node: e.host.name, Peer: e.peer().host.name, Port: e.local.Port, Conn: c.id, Bytes: bytes})
}

// broken is the error of a call on an end that was closed or reset, or
// nil.
func (e *simEnd) broken(op string) error {
	switch {
	case e.closed:
		return &env.NetError{Op: op, Addr: e.remote, Err: env.ErrNetClosed}
	case e.c.reset:
		return &env.NetError{Op: op, Addr: e.remote, Err: env.ErrConnReset}
	}
	return nil
}

func (e *simEnd) Read(b []byte) (int, error) {
	n := e.c.net
	s := n.sim
	e.start(env.EvNetRead, NetRead, len(b))
	p := e.in
	for i := 0; ; i++ {
		if i >= netWaitsMax {
			panic("simtest: Read woke too often")
		}
		if err := e.broken("read"); err != nil {
			return 0, err
		}
		if len(b) == 0 {
			return 0, nil
		}
		k, eof := p.take(b, s.now)
		if k > 0 {
			p.writers.wake(s) // room in the buffer
			return k, nil
		}
		if eof {
			return 0, io.EOF
		}
		until := e.host.world(e.rdl)
		if until >= 0 && until <= s.now {
			return 0, &env.NetError{Op: "read", Addr: e.remote, Err: env.ErrTimeout}
		}
		if len(p.segs) > 0 && !p.segs[0].held {
			if until < 0 {
				until = p.segs[0].arrival
			} else {
				until = min(until, p.segs[0].arrival)
			}
		}
		n.park(&p.readers, waitNetRead, until)
	}
}

// take copies into b what has arrived by now, up to a FIN; eof says the
// FIN is next.
func (p *pipe) take(b []byte, now time.Duration) (k int, eof bool) {
	done := 0
	for done < len(p.segs) && k < len(b) {
		seg := &p.segs[done]
		if seg.held || seg.arrival > now {
			break
		}
		if seg.fin {
			eof = k == 0
			break
		}
		m := copy(b[k:], seg.data[seg.off:])
		k += m
		seg.off += m
		if seg.off < len(seg.data) {
			break // b is full
		}
		done++
	}
	if done > 0 {
		m := copy(p.segs, p.segs[done:])
		clear(p.segs[m:])
		p.segs = p.segs[:m]
	}
	p.buffered -= k
	if p.buffered < 0 {
		panic("simtest: a pipe's buffered byte count went negative")
	}
	return k, eof
}

func (e *simEnd) Write(b []byte) (int, error) {
	n := e.c.net
	s := n.sim
	e.start(env.EvNetWrite, NetWrite, len(b))
	p := e.out
	for i := 0; ; i++ {
		if i >= netWaitsMax {
			panic("simtest: Write woke too often")
		}
		if err := e.broken("write"); err != nil {
			return 0, err
		}
		switch {
		case len(b) == 0:
			return 0, nil
		case e.peer().closed:
			return len(b), nil // nobody will read it (see the file comment)
		}
		// A write larger than the buffer goes when the buffer is empty.
		if p.buffered == 0 || p.buffered+len(b) <= n.cfg.BufferBytes {
			n.push(p, segment{data: p.hold(b, n.cfg.BufferBytes)})
			return len(b), nil
		}
		until := e.host.world(e.wdl)
		if until >= 0 && until <= s.now {
			return 0, &env.NetError{Op: "write", Addr: e.remote, Err: env.ErrTimeout}
		}
		n.park(&p.writers, waitNetWrite, until)
	}
}

// Close ends this end: the peer reads the FIN after the bytes already
// written; processes waiting on this end wake to ErrNetClosed.
func (e *simEnd) Close() error {
	if e.closed {
		return nil
	}
	c := e.c
	n := c.net
	e.closed = true
	n.event(&env.Event{Kind: env.EvNetClose, A: int64(c.id), B: int64(e.side), Node: e.host.name, Name: e.host.name, NameHash: e.host.nameT.h})
	// What was sent to this end will never be read.
	clear(e.in.segs)
	e.in.segs, e.in.buffered = e.in.segs[:0], 0
	e.in.readers.wake(n.sim)
	e.in.writers.wake(n.sim)
	e.out.writers.wake(n.sim)
	if c.reset {
		return nil
	}
	if c.hs != hsDone && e.side == 0 {
		n.reset(c) // a dialler closing before the handshake ends (not reached: Dial returns established)
		return nil
	}
	if e.peer().closed {
		n.forget(c) // closed at both ends
		return nil
	}
	n.push(e.out, segment{fin: true})
	return nil
}
