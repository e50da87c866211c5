package proc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// simRun runs fn as the first process of a fresh node with the given
// scheduler and returns why the run stopped and its trace hash. A hang is
// a StopDeadlock (the socket waits have no timers of their own) or, when
// some process keeps a timer, a StopTimeLimit.
func simRun(seed uint64, cfg world.SchedConfig, limit time.Duration, fn func(e *env.Env)) (world.Stop, uint64) {
	st, tr, _ := simRunNode(seed, cfg, limit, func(e *env.Env, _ *world.Node) { fn(e) })
	return st, tr
}

// simRunNode is simRun for a test that needs the node (its network).
func simRunNode(seed uint64, cfg world.SchedConfig, limit time.Duration, fn func(e *env.Env, node *world.Node)) (world.Stop, uint64, *world.Node) {
	tr := world.NewTrace(nil)
	node := world.NewNode(world.NewRand(seed), tr, cfg, world.DefaultLatency)
	node.Sim.SetTimeLimit(limit)
	node.Sim.Spawn("test", func() { fn(node.Env, node) })
	st := node.Sim.Run()
	node.Sim.KillAll()
	return st, tr.Hash(), node
}

// sim runs fn as the first process of a fresh node and fails the test
// unless every process finishes within a minute of virtual time.
func sim(t *testing.T, seed uint64, fn func(e *env.Env)) {
	t.Helper()
	st, _ := simRun(seed, world.DefaultSchedConfig, time.Minute, fn)
	if st.Kind != world.StopAllDone {
		t.Fatalf("seed %d: %s\n%s", seed, st, st.Stack)
	}
}

// echo is the reply a test backend gives: it names the request, so a
// client can tell its own reply from anyone else's.
func echo(r proc.Request) string { return fmt.Sprintf("%s %d %s", r.Op, r.Key, r.Val) }

// echoBackend serves c until Recv returns false, counting the requests.
func echoBackend(c *proc.Conn, served *int) {
	for {
		req, ok := c.Recv()
		if !ok {
			return
		}
		*served++
		c.Reply(proc.Response{Val: []byte(echo(req)), Found: true})
	}
}

// panics runs fn and reports the panic it raised, or "".
func panics(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	fn()
	return ""
}

func TestConnCallReply(t *testing.T) {
	const clients, calls = 4, 6
	served := make([]int, 0, clients)
	sim(t, 1, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		all := world.NewGroup(e, 2*clients)
		e.Sched.Spawn("postmaster", func() {
			for n := 0; n < clients; {
				c, ok := l.Accept(time.Millisecond)
				if !ok {
					continue
				}
				served = append(served, 0)
				i := n
				n++
				e.Sched.Spawn(fmt.Sprintf("backend %d", i), func() {
					echoBackend(c, &served[i])
					simt.Check(!c.Terminated(), "a closed connection is not terminated")
					all.Done()
				})
			}
		})
		for i := range clients {
			e.Sched.Spawn(fmt.Sprintf("client-%d", i), func() {
				c, err := l.Dial()
				simt.Must(err)
				for j := range calls {
					e.Clock.Sleep(time.Duration(e.Rand.Intn(200)) * time.Microsecond)
					val := []byte(fmt.Sprintf("c%d", i))
					req := proc.Request{Op: proc.OpInsert, Table: "t", Key: uint64(j), Val: val}
					resp, err := c.Call(req)
					simt.Must(err)
					simt.Check(string(resp.Val) == echo(proc.Request{Op: proc.OpInsert, Key: uint64(j), Val: []byte(fmt.Sprintf("c%d", i))}),
						"client %d call %d: got %q", i, j, resp.Val)
				}
				c.Close()
				c.Close() // idempotent
				all.Done()
			})
		}
		all.Wait()
	})
	require.Equal(t, []int{calls, calls, calls, calls}, served)
}

// TestConnCopiesBytes: like a socket, a connection copies the bytes of
// requests and replies; neither side sees the other's later writes.
func TestConnCopiesBytes(t *testing.T) {
	sim(t, 10, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		g := world.NewGroup(e, 1)
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Sched.Spawn("backend", func() {
				req, ok := c.Recv()
				simt.Check(ok, "Recv")
				val := []byte("reply")
				row := []byte("row")
				c.Reply(proc.Response{Val: val, Rows: []proc.Row{{Key: 1, Val: row}}})
				val[0], row[0] = 'X', 'X'
				e.Clock.Sleep(time.Millisecond) // the client scribbles on its buffer
				simt.Check(string(req.Val) == "request", "the backend's request changed: %q", req.Val)
				_, ok = c.Recv()
				simt.Check(!ok, "Recv after the close")
				g.Done()
			})
		})
		c, err := l.Dial()
		simt.Must(err)
		buf := []byte("request")
		resp, err := c.Call(proc.Request{Op: proc.OpInsert, Val: buf})
		simt.Must(err)
		buf[0] = 'X'
		e.Clock.Sleep(2 * time.Millisecond) // the backend scribbles on its buffers
		simt.Check(string(resp.Val) == "reply" && string(resp.Rows[0].Val) == "row", "the reply changed: %q %q", resp.Val, resp.Rows[0].Val)
		c.Close()
		g.Wait()
	})
}

func TestDialNotListening(t *testing.T) {
	sim(t, 2, func(e *env.Env) {
		l := proc.NewListener(e)
		_, err := l.Dial()
		simt.Check(pgerr.Is(err, pgerr.CannotConnectNow) && errors.Is(err, proc.ErrCannotConnectNow), "Dial before Listen: %v", err)

		// A Dial queued when the postmaster stops listening is refused too.
		l.Listen()
		g := world.NewGroup(e, 1)
		var queuedErr error
		e.Sched.Spawn("client-1", func() {
			_, queuedErr = l.Dial()
			g.Done()
		})
		e.Clock.Sleep(time.Millisecond)
		simt.Check(g.Left() == 1, "Dial returned before anyone accepted it")
		l.Unlisten()
		g.Wait()
		simt.Check(pgerr.Is(queuedErr, pgerr.CannotConnectNow), "queued Dial at Unlisten: %v", queuedErr)
		_, err = l.Dial()
		simt.Check(pgerr.Is(err, pgerr.CannotConnectNow), "Dial after Unlisten: %v", err)

		// Nothing is queued any more: Accept times out, after its timeout.
		start := e.Clock.Now()
		c, ok := l.Accept(5 * time.Millisecond)
		waited := e.Clock.Now() - start
		simt.Check(c == nil && !ok, "Accept with an empty backlog returned a connection")
		simt.Check(waited >= 5*time.Millisecond && waited < 6*time.Millisecond, "Accept(5ms) waited %v", waited)
		_, ok = l.Accept(0)
		simt.Check(!ok, "Accept(0) with an empty backlog")
	})
}

func TestReject(t *testing.T) {
	sim(t, 3, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		tooMany := pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already")
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			l.Reject(c, tooMany)
			simt.Check(c.Terminated(), "a rejected connection is terminated")
			msg := panics(func() { l.Reject(c, tooMany) })
			simt.Check(strings.Contains(msg, "not just accepted"), "Reject twice: %q", msg)
			msg = panics(func() { c.Recv() })
			simt.Check(strings.Contains(msg, "not accepted"), "Recv on a rejected connection: %q", msg)
		})
		_, err := l.Dial()
		simt.Check(pgerr.Is(err, pgerr.TooManyConnections) && err.Error() == tooMany.Error(), "Dial: %v", err)
	})
}

// TestTerminateWakesCall: a client waiting for a reply learns at once that
// the connection is gone, and so does every later Call; the backend's late
// Reply is dropped and its Recv ends.
func TestTerminateWakesCall(t *testing.T) {
	sim(t, 4, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		var terminatedAt time.Duration
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Sched.Spawn("backend", func() {
				req, ok := c.Recv()
				simt.Check(ok && req.Op == proc.OpCommit, "Recv: %v %v", req, ok)
				e.Clock.Sleep(time.Second) // a long statement
				simt.Check(c.Terminated(), "the backend sees the termination")
				c.Reply(proc.Response{Done: true}) // dropped, no panic
				_, ok = c.Recv()
				simt.Check(!ok, "Recv on a terminated connection")
			})
			e.Clock.Sleep(10 * time.Millisecond)
			terminatedAt = e.Clock.Now()
			c.Terminate()
			c.Terminate() // idempotent
		})
		c, err := l.Dial()
		simt.Must(err)
		_, err = c.Call(proc.Request{Op: proc.OpCommit})
		woke := e.Clock.Now() - terminatedAt
		simt.Check(errors.Is(err, proc.ErrConnectionTerminated) && pgerr.Is(err, pgerr.ConnectionFailure), "Call: %v", err)
		simt.Check(woke < 50*time.Microsecond, "Call returned %v after Terminate", woke)
		for range 3 {
			_, err = c.Call(proc.Request{Op: proc.OpRollback})
			simt.Check(pgerr.Is(err, pgerr.ConnectionFailure), "later Call: %v", err)
		}
		simt.Check(c.Terminated(), "the client sees the termination")
		c.Close() // after the end: nothing happens
	})
}

// TestReplyThenTerminate is the backend that refuses a session after the
// connection was made (BackendMain when Connect fails): the reply sent
// before the end is delivered, the next Call sees the end.
func TestReplyThenTerminate(t *testing.T) {
	sim(t, 5, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		tooMany := pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already")
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Sched.Spawn("backend", func() {
				if _, ok := c.Recv(); ok {
					c.Reply(proc.Response{Err: tooMany})
				}
				c.Terminate()
			})
		})
		c, err := l.Dial()
		simt.Must(err)
		resp, err := c.Call(proc.Request{Op: proc.OpBegin})
		simt.Must(err)
		simt.Check(pgerr.Is(resp.Err, pgerr.TooManyConnections) && resp.Err.Error() == tooMany.Error(), "the reply before the end: %v", resp.Err)
		_, err = c.Call(proc.Request{Op: proc.OpBegin})
		simt.Check(pgerr.Is(err, pgerr.ConnectionFailure), "after the end: %v", err)
	})
}

// TestTerminateBeforeServed: a backend that dies before its first Recv
// fails the client's Dial with 08006, as libpq's connect does.
func TestTerminateBeforeServed(t *testing.T) {
	sim(t, 6, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Clock.Sleep(time.Millisecond)
			c.Terminate()
			_, ok = c.Recv()
			simt.Check(!ok, "Recv on a connection terminated before it was served")
		})
		_, err := l.Dial()
		simt.Check(errors.Is(err, proc.ErrConnectionTerminated), "Dial: %v", err)
	})
}

func TestClientClose(t *testing.T) {
	sim(t, 7, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		g := world.NewGroup(e, 1)
		served := 0
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Sched.Spawn("backend", func() {
				echoBackend(c, &served) // returns when Recv sees the close
				_, ok := c.Recv()
				simt.Check(!ok, "Recv after the close")
				g.Done()
			})
		})
		c, err := l.Dial()
		simt.Must(err)
		_, err = c.Call(proc.Request{Op: proc.OpGet, Key: 1})
		simt.Must(err)
		e.Clock.Sleep(time.Millisecond) // the backend waits in Recv
		c.Close()
		g.Wait()
		simt.Check(served == 1 && !c.Terminated(), "served %d, terminated %v", served, c.Terminated())
		msg := panics(func() { _, _ = c.Call(proc.Request{Op: proc.OpGet}) })
		simt.Check(strings.Contains(msg, "after Close"), "Call after Close: %q", msg)
	})
}

// TestCallTimeoutAbandons: a client that gives up waiting closes its end;
// the slow backend still finishes the statement, its reply is dropped, and
// its next Recv sees the close (so a real backend would exit and roll back).
func TestCallTimeoutAbandons(t *testing.T) {
	sim(t, 8, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		g := world.NewGroup(e, 1)
		finished := false
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			e.Sched.Spawn("backend", func() {
				req, ok := c.Recv()
				simt.Check(ok && req.Key == 9, "first Recv: %v %v", req, ok)
				e.Clock.Sleep(50 * time.Millisecond) // a statement slower than the client's patience
				finished = true
				c.Reply(proc.Response{Found: true})
				_, ok = c.Recv()
				simt.Check(!ok, "Recv after the client abandoned the connection")
				g.Done()
			})
		})
		c, err := l.Dial()
		simt.Must(err)
		start := e.Clock.Now()
		_, err = c.CallTimeout(proc.Request{Op: proc.OpGet, Key: 9}, 10*time.Millisecond)
		simt.Check(errors.Is(err, proc.ErrClientTimeout), "CallTimeout: %v", err)
		waited := e.Clock.Now() - start
		simt.Check(waited >= 10*time.Millisecond && waited < 11*time.Millisecond, "gave up after %v", waited)
		// Abandoned, not terminated: Gone tells a client to redial.
		simt.Check(c.Gone() && !c.Terminated(), "after a client timeout: gone %v terminated %v", c.Gone(), c.Terminated())
		c.Close() // closing an abandoned connection does nothing
		g.Wait()
		simt.Check(finished && !c.Terminated(), "finished %v terminated %v", finished, c.Terminated())
	})
}

// TestProtocolViolationsPanic: the programmer errors the sockets assert.
func TestProtocolViolationsPanic(t *testing.T) {
	sim(t, 8, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		e.Sched.Spawn("postmaster", func() {
			c, ok := l.Accept(time.Second)
			simt.Check(ok, "no connection to accept")
			msg := panics(func() { c.Reply(proc.Response{}) })
			simt.Check(strings.Contains(msg, "without a request"), "Reply before Recv: %q", msg)
			req, ok := c.Recv()
			simt.Check(ok, "Recv")
			msg = panics(func() { c.Recv() })
			simt.Check(strings.Contains(msg, "before the Reply"), "Recv twice: %q", msg)
			msg = panics(func() { l.Reject(c, errors.New("x")) })
			simt.Check(strings.Contains(msg, "not just accepted"), "Reject of a served connection: %q", msg)
			c.Reply(proc.Response{Val: []byte(echo(req))})
			_, ok = c.Recv()
			simt.Check(!ok, "Recv after the close")
		})
		c, err := l.Dial()
		simt.Must(err)
		_, err = c.Call(proc.Request{Op: proc.OpGet, Key: 9})
		simt.Must(err)
		c.Close()
	})
}

// TestBacklogBound: at most the network's backlog of connections wait for
// Accept; beyond, Dial is refused at once (57P03, as a refused connection
// attempt is).
func TestBacklogBound(t *testing.T) {
	backlog := world.DefaultNetConfig.Backlog
	sim(t, 9, func(e *env.Env) {
		l := proc.NewListener(e)
		l.Listen()
		g := world.NewGroup(e, backlog)
		refused := 0
		for i := range backlog {
			e.Sched.Spawn(fmt.Sprintf("client-%d", i), func() {
				_, err := l.Dial()
				if pgerr.Is(err, pgerr.CannotConnectNow) {
					refused++
				}
				g.Done()
			})
		}
		e.Clock.Sleep(100 * time.Millisecond) // every client is queued
		simt.Check(g.Left() == backlog, "a Dial returned with nobody accepting")
		start := e.Clock.Now()
		_, err := l.Dial()
		simt.Check(errors.Is(err, proc.ErrCannotConnectNow) && e.Clock.Now()-start < 10*time.Microsecond, "Dial beyond the backlog: %v after %v", err, e.Clock.Now()-start)
		l.Unlisten()
		g.Wait()
		simt.Check(refused == backlog, "%d of %d queued Dials refused at Unlisten", refused, backlog)
	})
}

// crashWorld is a small system of a postmaster, backends, clients and a
// killer that SIGKILLs backends at random moments and crash-restarts, as
// the postmaster does: kill, terminate the connections, stop listening for
// a while. It logs what every client saw.
type crashWorld struct {
	e        *env.Env
	l        *proc.Listener
	log      []string
	backends []crashBackend // live ones
	stop     bool
	kills    int
	restarts int
	maxLive  int
	// openConns is how many connections were still open at some end
	// when the run ended.
	openConns int
}

type crashBackend struct {
	p env.Proc
	c *proc.Conn
}

func (w *crashWorld) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%v ", w.e.Clock.Now())+fmt.Sprintf(format, args...))
}

func (w *crashWorld) postmaster() {
	e := w.e
	n := 0
	for !w.stop {
		c, ok := w.l.Accept(500 * time.Microsecond)
		if !ok {
			continue
		}
		if len(w.backends) >= w.maxLive {
			w.l.Reject(c, pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already"))
			continue
		}
		n++
		var p env.Proc
		p = e.Sched.Spawn(fmt.Sprintf("backend %d", n), func() {
			for {
				req, ok := c.Recv()
				if !ok {
					break
				}
				e.Clock.Sleep(time.Duration(e.Rand.Intn(100)) * time.Microsecond)
				e.Sched.Yield()
				c.Reply(proc.Response{Val: []byte(echo(req))})
			}
			w.forget(p)
			c.Terminate()
		})
		w.backends = append(w.backends, crashBackend{p, c})
	}
}

func (w *crashWorld) forget(p env.Proc) {
	for i, b := range w.backends {
		if b.p == p {
			w.backends = append(w.backends[:i], w.backends[i+1:]...)
			return
		}
	}
}

// killer SIGKILLs a random backend now and then; every third time it
// crash-restarts instead: kills every backend, terminates every
// connection and stops listening for a while.
func (w *crashWorld) killer() {
	e := w.e
	for i := 0; !w.stop; i++ {
		e.Clock.Sleep(time.Duration(1+e.Rand.Intn(300)) * time.Microsecond)
		if len(w.backends) == 0 {
			continue
		}
		if i%3 != 2 {
			b := w.backends[e.Rand.Intn(len(w.backends))]
			e.Sched.Kill(b.p)
			w.forget(b.p)
			b.c.Terminate()
			w.kills++
			continue
		}
		w.restarts++
		w.l.Unlisten()
		for _, b := range w.backends {
			e.Sched.Kill(b.p)
		}
		for _, b := range w.backends {
			b.c.Terminate()
		}
		w.backends = nil
		e.Clock.Sleep(time.Duration(e.Rand.Intn(200)) * time.Microsecond)
		w.l.Listen()
	}
}

// client makes calls, reconnecting whenever the connection ends or is
// refused, and checks every reply is its own.
func (w *crashWorld) client(id, calls int) {
	e := w.e
	var c *proc.Conn
	for done, attempts := 0, 0; done < calls; attempts++ {
		simt.Check(attempts < 100*calls, "client %d: %d attempts for %d calls", id, attempts, calls)
		if c == nil {
			var err error
			c, err = w.l.Dial()
			if err != nil {
				code := pgerr.CodeOf(err)
				simt.Check(code == pgerr.CannotConnectNow || code == pgerr.TooManyConnections || code == pgerr.ConnectionFailure,
					"client %d: Dial: %v", id, err)
				w.logf("client %d dial: %s", id, code)
				e.Clock.Sleep(100 * time.Microsecond)
				continue
			}
			w.logf("client %d connected: conn %d", id, c.ID())
		}
		req := proc.Request{Op: proc.OpUpdate, Key: uint64(done), Val: []byte(fmt.Sprintf("c%d", id))}
		resp, err := c.Call(req)
		if err != nil {
			simt.Check(errors.Is(err, proc.ErrConnectionTerminated), "client %d: Call: %v", id, err)
			_, again := c.Call(req)
			simt.Check(errors.Is(again, proc.ErrConnectionTerminated), "client %d: Call after the end: %v", id, again)
			w.logf("client %d call %d: %s", id, done, pgerr.CodeOf(err))
			c = nil
			continue
		}
		simt.Check(string(resp.Val) == echo(req), "client %d: sent %q, got %q", id, echo(req), resp.Val)
		w.logf("client %d call %d: ok", id, done)
		done++
		e.Clock.Sleep(time.Duration(e.Rand.Intn(50)) * time.Microsecond)
	}
	if c != nil {
		c.Close()
	}
}

func runCrashWorld(seed uint64, cfg world.SchedConfig) (world.Stop, uint64, *crashWorld) {
	const clients, calls = 5, 30
	var w *crashWorld
	st, hash, node := simRunNode(seed, cfg, 10*time.Second, func(e *env.Env, _ *world.Node) {
		w = &crashWorld{e: e, l: proc.NewListener(e), maxLive: 3}
		w.l.Listen()
		e.Sched.Spawn("postmaster", w.postmaster)
		e.Sched.Spawn("killer", w.killer)
		g := world.NewGroup(e, clients)
		for i := range clients {
			e.Sched.Spawn(fmt.Sprintf("client-%d", i), func() {
				w.client(i, calls)
				g.Done()
			})
		}
		g.Wait()
		w.stop = true
		for len(w.backends) > 0 {
			e.Clock.Sleep(time.Millisecond) // the backends see their clients' close
		}
	})
	w.openConns = node.Net.Conns()
	return st, hash, w
}

// TestConnKillSafety kills backends at random scheduling points — in
// particular while they are parked in a socket read — and
// crash-restarts, many times per seed: no client, backend, postmaster or
// killer may hang (a hang ends the run at its time limit), every reply is
// the caller's own, and every end of a connection is 08006.
func TestConnKillSafety(t *testing.T) {
	seeds := uint64(60)
	if testing.Short() {
		seeds = 10
	}
	kills, restarts := 0, 0
	for seed := uint64(1); seed <= seeds; seed++ {
		cfg := world.SchedConfig{SwitchProb: 0.2 + 0.6*float64(seed%4)/3, StepCost: time.Microsecond}
		st, _, w := runCrashWorld(seed, cfg)
		require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
		require.Zero(t, w.openConns, "seed %d: every connection is closed at both ends in the end", seed)
		kills += w.kills
		restarts += w.restarts
	}
	require.Greater(t, kills, int(seeds), "the killer must kill")
	require.Greater(t, restarts, int(seeds)/2, "the killer must crash-restart")
}

// TestConnDeterminism: one seed, one history and one trace hash; seeds
// steer the interleaving.
func TestConnDeterminism(t *testing.T) {
	cfg := world.SchedConfig{SwitchProb: 0.3, StepCost: time.Microsecond}
	hashes := map[uint64]bool{}
	for seed := uint64(1); seed <= 8; seed++ {
		st1, h1, w1 := runCrashWorld(seed, cfg)
		st2, h2, w2 := runCrashWorld(seed, cfg)
		require.Equal(t, world.StopAllDone, st1.Kind, "seed %d: %s", seed, st1)
		require.Equal(t, world.StopAllDone, st2.Kind, "seed %d: %s", seed, st2)
		require.Equal(t, w1.log, w2.log, "seed %d: the clients' histories differ", seed)
		require.Equal(t, h1, h2, "seed %d: trace hashes differ", seed)
		hashes[h1] = true
	}
	require.Greater(t, len(hashes), 6, "seeds must steer the run")
}

// TestConnRealEnv runs clients and backends as goroutines of the real
// environment over loopback TCP (run it with -race): the same protocol
// serves the real server.
func TestConnRealEnv(t *testing.T) {
	const clients, calls = 4, 200
	e, err := env.NewReal(t.TempDir(), 1)
	require.NoError(t, err)
	l := proc.NewListenerAt(e, env.Addr{Node: "127.0.0.1", Port: 0})
	require.NoError(t, l.Listen())
	require.NotZero(t, l.Addr().Port)
	served := make([]int, clients)
	errs := make([]error, clients)
	accepted := make(chan *proc.Conn, clients) // the test's goroutine is outside the engine: channels are fine here
	e.Sched.Spawn("postmaster", func() {
		for n := 0; n < clients; {
			c, ok := l.Accept(10 * time.Millisecond)
			if !ok {
				continue
			}
			i := n
			n++
			accepted <- c
			e.Sched.Spawn(fmt.Sprintf("backend %d", i), func() { echoBackend(c, &served[i]) })
		}
	})
	done := make(chan int, clients)
	for i := range clients {
		e.Sched.Spawn(fmt.Sprintf("client-%d", i), func() {
			c, err := l.Dial()
			if err != nil {
				errs[i] = err
				done <- i
				return
			}
			for j := range calls {
				req := proc.Request{Op: proc.OpGet, Key: uint64(j), Val: []byte(fmt.Sprint(i))}
				resp, err := c.Call(req)
				if err == nil && string(resp.Val) != echo(req) {
					err = fmt.Errorf("sent %q, got %q", echo(req), resp.Val)
				}
				if err != nil {
					errs[i] = err
					done <- i
					return
				}
			}
			if i > 0 {
				c.Close()
				done <- i
				return
			}
			done <- i
			// Wait in Call until the test terminates the connection.
			for {
				if _, err := c.Call(proc.Request{Op: proc.OpGet}); err != nil {
					if !errors.Is(err, proc.ErrConnectionTerminated) {
						errs[i] = err
					}
					return
				}
			}
		})
	}
	for range clients {
		<-done
	}
	// Every client but 0 has closed its connection; terminating every
	// backend's end ends client 0's Call loop.
	for range clients {
		(<-accepted).Terminate()
	}
	e.Sched.(*env.RealScheduler).Wait()
	l.Unlisten()
	for i, err := range errs {
		require.NoError(t, err, "client %d", i)
	}
	total := 0
	for _, n := range served {
		total += n
	}
	require.GreaterOrEqual(t, total, clients*calls)
	_, err = l.Dial()
	require.ErrorIs(t, err, proc.ErrCannotConnectNow, "Dial after Unlisten")
}

// TestConnAcrossTheNetwork: a client on another node reaches the
// postmaster through the simulated network's faults. With latency each
// Call takes a round trip; behind a partition a CallTimeout gives up (and
// the statement's effect is unknown); a dropped connection ends the Call
// at once with 08006; a Dial into a partition fails when its connect
// timeout passes (08001), and the same Dial succeeds once it heals.
func TestConnAcrossTheNetwork(t *testing.T) {
	st, _, _ := simRunNode(12, world.DefaultSchedConfig, time.Minute, func(e *env.Env, node *world.Node) {
		net, server, clients := node.Net, node.Name, node.Clients
		l := proc.NewListener(e)
		simt.Must(l.Listen())
		served := 0
		e.Sched.Spawn("postmaster", func() {
			for {
				c, ok := l.Accept(time.Second)
				if ok {
					e.Sched.Spawn("backend", func() { echoBackend(c, &served) })
				}
			}
		})
		const oneWay = 3 * time.Millisecond
		net.SetLatency(clients.Node(), server, oneWay)
		net.SetLatency(server, clients.Node(), oneWay)
		start := e.Clock.Now()
		c, err := l.DialFrom(clients)
		simt.Must(err)
		// The handshake's round trip, then the startup message's.
		simt.Check(e.Clock.Now()-start >= 4*oneWay, "Dial took %v", e.Clock.Now()-start)
		start = e.Clock.Now()
		req := proc.Request{Op: proc.OpGet, Key: 1}
		resp, err := c.Call(req)
		simt.Must(err)
		took := e.Clock.Now() - start
		simt.Check(string(resp.Val) == echo(req) && took >= 2*oneWay && took < 2*oneWay+time.Millisecond, "Call took %v: %q", took, resp.Val)

		net.Partition(clients.Node(), server)
		_, err = c.CallTimeout(proc.Request{Op: proc.OpGet, Key: 2}, 50*time.Millisecond)
		simt.Check(errors.Is(err, proc.ErrClientTimeout), "CallTimeout behind a partition: %v", err)
		l.SetConnectTimeout(20 * time.Millisecond)
		start = e.Clock.Now()
		_, err = l.DialFrom(clients)
		simt.Check(pgerr.Is(err, pgerr.UnableToConnect) && strings.Contains(err.Error(), "i/o timeout"), "Dial into a partition: %v", err)
		simt.Check(e.Clock.Now()-start >= 20*time.Millisecond && e.Clock.Now()-start < 21*time.Millisecond, "Dial gave up after %v", e.Clock.Now()-start)
		net.Heal(clients.Node(), server)
		c, err = l.DialFrom(clients)
		simt.Must(err)
		_, err = c.Call(req)
		simt.Must(err)

		g := world.NewGroup(e, 1)
		var callErr error
		e.Sched.Spawn("client", func() {
			// The backend's reply is 3 ms away when the drop comes.
			_, callErr = c.Call(req)
			g.Done()
		})
		e.Clock.Sleep(4 * time.Millisecond)
		simt.Check(net.DropConnections(server, "") >= 1, "no connection to drop")
		g.Wait()
		simt.Check(errors.Is(callErr, proc.ErrConnectionTerminated) && c.Terminated(), "Call on a dropped connection: %v", callErr)
		simt.Check(served >= 3, "served %d", served)
		node.Sim.RequestStop("done")
	})
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
}

// TestListenAddressInUse: a second postmaster on the same address cannot
// listen (its error is returned, and logged), and can once the first
// stops.
func TestListenAddressInUse(t *testing.T) {
	sim(t, 13, func(e *env.Env) {
		a, b := proc.NewListener(e), proc.NewListener(e)
		simt.Must(a.Listen())
		simt.Must(a.Listen()) // listening again does nothing
		err := b.Listen()
		simt.Check(err != nil && strings.Contains(err.Error(), "address already in use"), "second Listen: %v", err)
		a.Unlisten()
		simt.Must(b.Listen())
		simt.Check(b.Addr() == env.Addr{Node: world.NodeName, Port: proc.DefaultPort}, "listening at %v", b.Addr())
	})
}
