// This file is the real implementation of Net: TCP through Go's net
// package. It needs neither os nor sync nor the wall clock (deadlines are
// the RealClock's durations turned into times from its start), so it passes
// the determinism scan like any engine file; the errors Go returns are
// mapped onto net.go's values, so that code written against the simulated
// network reads the same errors here.

package env

import (
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// DefaultConnectTimeout is Dial's timeout when the caller gives none, about
// what Linux's six SYN retries (tcp_syn_retries) amount to.
const DefaultConnectTimeout = 127 * time.Second

// RealNet is the network through the operating system's TCP.
type RealNet struct {
	clock *RealClock
	node  string
}

// NewRealNet returns the real network seen from a node named node (a host
// name or address others can dial it by; "localhost" when empty), with
// deadlines on clock's scale.
func NewRealNet(clock *RealClock, node string) *RealNet {
	if clock == nil {
		panic("env: NewRealNet without a clock")
	}
	if node == "" {
		node = "localhost"
	}
	return &RealNet{clock: clock, node: node}
}

// Node is the name this node is reached by.
func (n *RealNet) Node() string { return n.node }

// at is the wall-clock time of the clock duration d (0: no deadline).
func (n *RealNet) at(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return n.clock.start.Add(d)
}

// Listen listens on addr over TCP; an empty Node listens on every
// interface.
func (n *RealNet) Listen(addr Addr) (Listener, error) {
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, &NetError{Op: "listen", Addr: addr, Err: realErr(err)}
	}
	a := addrOf(l.Addr())
	if addr.Node != "" {
		a.Node = addr.Node
	}
	return &realListener{n: n, l: l.(*net.TCPListener), addr: a}, nil
}

// Dial connects over TCP.
func (n *RealNet) Dial(addr Addr, timeout time.Duration) (Conn, error) {
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		return nil, &NetError{Op: "dial", Addr: addr, Err: realErr(err)}
	}
	return &realConn{n: n, c: c, remote: addr, local: addrOf(c.LocalAddr())}, nil
}

// addrOf is a net.Addr as an Addr.
func addrOf(a net.Addr) Addr {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return Addr{Node: a.String()}
	}
	p, _ := strconv.Atoi(port)
	return Addr{Node: host, Port: p}
}

// realErr maps an error of Go's net package onto net.go's values: a
// deadline is ErrTimeout, a closed socket ErrNetClosed; errno errors
// (ECONNREFUSED, ECONNRESET, ...) stay as they are, since errors.Is
// already finds the errno inside them.
func realErr(err error) error {
	var ne net.Error
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, net.ErrClosed):
		return ErrNetClosed
	case errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return err
}

type realListener struct {
	n    *RealNet
	l    *net.TCPListener
	addr Addr
}

func (l *realListener) Accept() (Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, &NetError{Op: "accept", Addr: l.addr, Err: realErr(err)}
	}
	return &realConn{n: l.n, c: c, local: addrOf(c.LocalAddr()), remote: addrOf(c.RemoteAddr())}, nil
}

func (l *realListener) SetDeadline(t time.Duration) { _ = l.l.SetDeadline(l.n.at(t)) }

func (l *realListener) Close() error {
	if err := l.l.Close(); err != nil {
		return &NetError{Op: "close", Addr: l.addr, Err: realErr(err)}
	}
	return nil
}

func (l *realListener) Addr() Addr { return l.addr }

type realConn struct {
	n             *RealNet
	c             net.Conn
	local, remote Addr
}

// Read returns io.EOF bare, as io.Reader's contract wants; other failures
// as a *NetError.
func (c *realConn) Read(p []byte) (int, error) {
	k, err := c.c.Read(p)
	if err != nil && err != io.EOF {
		err = &NetError{Op: "read", Addr: c.remote, Err: realErr(err)}
	}
	return k, err
}

func (c *realConn) Write(p []byte) (int, error) {
	k, err := c.c.Write(p)
	if err != nil {
		err = &NetError{Op: "write", Addr: c.remote, Err: realErr(err)}
	}
	return k, err
}

// Close closes the socket; closing again does nothing, as Conn says
// (Go's second Close would fail with net.ErrClosed).
func (c *realConn) Close() error {
	if err := c.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return &NetError{Op: "close", Addr: c.remote, Err: realErr(err)}
	}
	return nil
}

func (c *realConn) SetReadDeadline(t time.Duration)  { _ = c.c.SetReadDeadline(c.n.at(t)) }
func (c *realConn) SetWriteDeadline(t time.Duration) { _ = c.c.SetWriteDeadline(c.n.at(t)) }
func (c *realConn) LocalAddr() Addr                  { return c.local }
func (c *realConn) RemoteAddr() Addr                 { return c.remote }
