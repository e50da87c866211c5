package env_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

var _ env.Net = (*env.RealNet)(nil)

// TestRealNetLoopback: the real network over loopback TCP gives the
// errors the simulated one does — bytes both ways, a read deadline's
// ErrTimeout (Timeout() true), io.EOF after the peer's close, ErrNetClosed
// on a closed end, ErrConnRefused for a port nobody listens on, and an
// Accept deadline.
func TestRealNetLoopback(t *testing.T) {
	e, err := env.NewReal(t.TempDir(), 1)
	require.NoError(t, err)
	n := e.Net
	require.Equal(t, "localhost", n.Node())
	l, err := n.Listen(env.Addr{Node: "127.0.0.1", Port: 0})
	require.NoError(t, err)
	addr := l.Addr()
	require.NotZero(t, addr.Port)

	accepted := make(chan env.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := n.Dial(addr, time.Second)
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	require.Equal(t, addr.Port, c.RemoteAddr().Port)

	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	b := make([]byte, 16)
	k, err := io.ReadAtLeast(s, b, 5)
	require.NoError(t, err)
	require.Equal(t, "hello", string(b[:k]))

	s.SetReadDeadline(e.Clock.Now() + 20*time.Millisecond)
	_, err = s.Read(b)
	require.ErrorIs(t, err, env.ErrTimeout)
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a deadline error reports Timeout: %v", err)
	s.SetReadDeadline(0)

	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "closing again does nothing")
	_, err = s.Read(b)
	require.Equal(t, io.EOF, err)
	_, err = c.Read(b)
	require.ErrorIs(t, err, env.ErrNetClosed)
	require.NoError(t, s.Close())

	l.SetDeadline(e.Clock.Now() + 20*time.Millisecond)
	_, err = l.Accept()
	require.ErrorIs(t, err, env.ErrTimeout)
	require.NoError(t, l.Close())
	_, err = l.Accept()
	require.ErrorIs(t, err, env.ErrNetClosed)

	_, err = n.Dial(addr, time.Second)
	require.ErrorIs(t, err, env.ErrConnRefused, "nobody listens at %v any more", addr)
	require.Contains(t, err.Error(), "dial "+addr.String())
}
