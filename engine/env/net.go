package env

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"
)

// Net is one node's view of the network: the sockets the postmaster
// listens on and clients (and, later, standbys) dial. Every node of a run
// has its own Net, naming itself by Node, and all of them may share one
// network: a simulated one with latency, drops and partitions between
// named nodes (package simtest), or Go's net package (real.go's RealNet).
//
// The calls block the calling process the way system calls do: under the
// simulator Accept, Dial, Read and Write are scheduling points that park
// the process until something happens (data arrives, a deadline passes, a
// fault resets the connection), never a poll.
//
// Deadlines are absolute times on the node's Clock (Clock.Now's scale); 0
// means none. Errors are the values below, so that errors.Is works across
// the simulated and the real network: ErrConnRefused, ErrConnReset,
// ErrTimeout, ErrNetClosed, ErrHostUnreachable, and io.EOF from Read once
// the peer closed its end and every byte it sent has been read.
type Net interface {
	// Node is the name of the node this view belongs to: what other nodes
	// put in an Addr to reach it.
	Node() string
	// Listen opens a listening socket at addr, whose Node must be this
	// node or "" (every interface of it). Port 0 picks a free port; the
	// Listener's Addr says which.
	Listen(addr Addr) (Listener, error)
	// Dial connects to addr from this node, waiting at most timeout for
	// the connection to be established (0: the system's own connect
	// timeout). It fails with ErrConnRefused when nothing listens there,
	// ErrHostUnreachable when there is no such node, and ErrTimeout when
	// the handshake does not complete in time (a partition, say).
	Dial(addr Addr, timeout time.Duration) (Conn, error)
}

// Listener is a listening socket (listen(2) and accept(2)).
type Listener interface {
	// Accept waits for the next established connection. It fails with
	// ErrTimeout once the deadline passes, and ErrNetClosed after Close.
	Accept() (Conn, error)
	// SetDeadline bounds every Accept that is or will be waiting.
	SetDeadline(t time.Duration)
	// Close stops listening: connections established but not yet
	// accepted are reset, later Dials are refused, and a waiting Accept
	// returns ErrNetClosed.
	Close() error
	Addr() Addr
}

// Conn is one end of a connection: a reliable, ordered byte stream in
// each direction, as TCP is.
type Conn interface {
	// Read reads what has arrived, waiting until at least one byte has
	// (or the peer's end of stream: io.EOF, a reset: ErrConnReset, the
	// read deadline: ErrTimeout, or this end's Close: ErrNetClosed).
	Read(p []byte) (int, error)
	// Write queues all of p for the peer, waiting while the connection's
	// buffers are full (until the write deadline: ErrTimeout).
	Write(p []byte) (int, error)
	// Close ends this end: the peer reads io.EOF after the bytes already
	// written, and this end's waiting and later calls fail with
	// ErrNetClosed. Closing again does nothing.
	Close() error
	SetReadDeadline(t time.Duration)
	SetWriteDeadline(t time.Duration)
	LocalAddr() Addr
	RemoteAddr() Addr
}

// Addr is an endpoint: a node's name (a host name or IP address under the
// real network) and a port.
type Addr struct {
	Node string
	Port int
}

func (a Addr) String() string { return net.JoinHostPort(a.Node, strconv.Itoa(a.Port)) }

// The network's error values. The errno ones are the standard library's,
// which the real network's errors wrap, so errors.Is works on both.
var (
	// ErrConnRefused is a Dial to a port nobody listens on (ECONNREFUSED).
	ErrConnRefused error = syscall.ECONNREFUSED
	// ErrConnReset is a connection the peer or the network reset
	// (ECONNRESET): bytes in flight are lost.
	ErrConnReset error = syscall.ECONNRESET
	// ErrHostUnreachable is a Dial to a node the network does not know.
	ErrHostUnreachable error = syscall.EHOSTUNREACH
	// ErrNetClosed is a call on an end that was closed (by this process
	// or another holding the same socket), as net.ErrClosed.
	ErrNetClosed = net.ErrClosed
	// ErrTimeout is a deadline that passed. It reports Timeout() true, as
	// the standard library's deadline errors do.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// NetError is a network call's failure with where it happened, as
// net.OpError: "dial n1:5432: connection refused". errors.Is sees Err.
type NetError struct {
	Op   string // "dial", "listen", "accept", "read", "write"
	Addr Addr   // the remote address, or the listening one
	Err  error
}

func (e *NetError) Error() string { return e.Op + " " + e.Addr.String() + ": " + e.Err.Error() }
func (e *NetError) Unwrap() error { return e.Err }

// Timeout reports whether the failure is a deadline, as net.Error does.
func (e *NetError) Timeout() bool { return errors.Is(e.Err, ErrTimeout) }
