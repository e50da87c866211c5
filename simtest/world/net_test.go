package world

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
)

// TestNetTranscripts runs the transcripts in testdata/net. Each "run"
// block is a fresh network (arguments: seed, latency, buffer, backlog)
// whose lines are "node/proc op args": every proc is a simulated process
// on its node running its lines in order, and "net" lines are faults,
// applied in order by a process of their own. The output is every
// operation's result with the virtual time it returned at. Rewrite the
// expected output with -rewrite after a deliberate change.
//
// Ops: listen PORT as L; accept L as C [deadline=D]; dial NODE:PORT as C
// [timeout=D]; write C TEXT [deadline=D]; read C [max=N] [deadline=D];
// close C|L; sleep D. Faults: partition A B; oneway FROM TO; heal A B;
// healoneway FROM TO; healall; latency FROM TO D; bandwidth FROM TO BPS;
// drop A [B]; isolate A; crash A. Deadlines are relative to the call.
func TestNetTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/net", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "run" {
				d.Fatalf(t, "unknown directive %q (want run)", d.Cmd)
			}
			cfg := DefaultNetConfig
			seed := uint64(1)
			for _, a := range d.CmdArgs {
				v := ""
				if len(a.Vals) > 0 {
					v = a.Vals[0]
				}
				switch a.Key {
				case "seed":
					seed = mustUint(t, v)
				case "latency":
					cfg.Latency = mustDur(t, v)
				case "buffer":
					cfg.BufferBytes = int(mustUint(t, v))
				case "backlog":
					cfg.Backlog = int(mustUint(t, v))
				default:
					d.Fatalf(t, "unknown argument %q", a.Key)
				}
			}
			return runNetScript(t, seed, cfg, d.Input)
		})
	})
}

func mustUint(t *testing.T, s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err)
	return v
}

func mustDur(t *testing.T, s string) time.Duration {
	v, err := time.ParseDuration(s)
	require.NoError(t, err)
	return v
}

// netErr names a network error briefly.
func netErr(err error) string {
	switch {
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, env.ErrConnRefused):
		return "refused"
	case errors.Is(err, env.ErrConnReset):
		return "reset"
	case errors.Is(err, env.ErrTimeout):
		return "timeout"
	case errors.Is(err, env.ErrNetClosed):
		return "closed"
	case errors.Is(err, env.ErrHostUnreachable):
		return "unreachable"
	}
	return err.Error()
}

// runNetScript runs one transcript block and returns its output.
func runNetScript(t *testing.T, seed uint64, cfg NetConfig, script string) string {
	tr := newTrace(nil)
	sim := NewSim(NewRand(seed), tr, SchedConfig{SwitchProb: 0.5})
	net := NewSimNet(sim, cfg)
	type line struct{ node, op string }
	procs := map[string][]line{}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(script), "\n") {
		who, op, ok := strings.Cut(strings.TrimSpace(l), " ")
		if !ok {
			t.Fatalf("want \"node/proc op\", got %q", l)
		}
		if _, seen := procs[who]; !seen {
			order = append(order, who)
		}
		node, _, _ := strings.Cut(who, "/")
		procs[who] = append(procs[who], line{node, op})
		if who != "net" {
			net.Host(node)
		}
	}
	conns := map[string]env.Conn{}
	listeners := map[string]env.Listener{}
	var out strings.Builder
	for _, who := range order {
		lines := procs[who]
		sim.Spawn(who, func() {
			for _, l := range lines {
				res := netOp(t, net, sim, l.node, l.op, conns, listeners)
				fmt.Fprintf(&out, "%v %s: %s -> %s\n", sim.Now(), who, l.op, res)
			}
		})
	}
	st := sim.Run()
	if st.Kind != StopAllDone {
		fmt.Fprintf(&out, "%v stop: %s\n", sim.Now(), st)
	}
	sim.KillAll()
	return out.String()
}

// opts splits "k=v" options off args.
func opts(args []string) ([]string, map[string]string) {
	o := map[string]string{}
	var rest []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			o[k] = v
		} else {
			rest = append(rest, a)
		}
	}
	return rest, o
}

func netOp(t *testing.T, n *SimNet, sim *Sim, node, op string, conns map[string]env.Conn, listeners map[string]env.Listener) string {
	f := strings.Fields(op)
	args, o := opts(f[1:])
	h := n.Host(node)
	deadline := func() time.Duration {
		if v, ok := o["deadline"]; ok {
			return sim.Now() + mustDur(t, v)
		}
		return 0
	}
	if f[0] == "read" || f[0] == "write" {
		if conns[args[0]] == nil {
			return "no connection " + args[0]
		}
	}
	switch f[0] {
	case "listen":
		port, _ := strconv.Atoi(args[0])
		l, err := h.Listen(env.Addr{Port: port})
		if err != nil {
			return netErr(err)
		}
		listeners[args[2]] = l
		return "ok " + l.Addr().String()
	case "accept":
		l := listeners[args[0]]
		l.SetDeadline(deadline())
		c, err := l.Accept()
		if err != nil {
			return netErr(err)
		}
		conns[args[2]] = c
		return "ok from " + c.RemoteAddr().String()
	case "dial":
		host, port, _ := strings.Cut(args[0], ":")
		p, _ := strconv.Atoi(port)
		var timeout time.Duration
		if v, ok := o["timeout"]; ok {
			timeout = mustDur(t, v)
		}
		c, err := h.Dial(env.Addr{Node: host, Port: p}, timeout)
		if err != nil {
			return netErr(err)
		}
		conns[args[2]] = c
		return "ok " + c.LocalAddr().String()
	case "write":
		c := conns[args[0]]
		c.SetWriteDeadline(deadline())
		k, err := c.Write([]byte(strings.Join(args[1:], " ")))
		if err != nil {
			return fmt.Sprintf("%d %s", k, netErr(err))
		}
		return strconv.Itoa(k)
	case "read":
		c := conns[args[0]]
		c.SetReadDeadline(deadline())
		size := 64
		if v, ok := o["max"]; ok {
			size, _ = strconv.Atoi(v)
		}
		b := make([]byte, size)
		k, err := c.Read(b)
		if err != nil {
			return netErr(err)
		}
		return strconv.Quote(string(b[:k]))
	case "close":
		if c, ok := conns[args[0]]; ok {
			require.NoError(t, c.Close())
		} else {
			require.NoError(t, listeners[args[0]].Close())
		}
		return "ok"
	case "sleep":
		sim.Sleep(mustDur(t, args[0]))
		return "ok"
	case "partition":
		n.Partition(args[0], args[1])
	case "oneway":
		n.PartitionOneWay(args[0], args[1])
	case "heal":
		n.Heal(args[0], args[1])
	case "healoneway":
		n.HealOneWay(args[0], args[1])
	case "healall":
		n.HealAll()
	case "latency":
		n.SetLatency(args[0], args[1], mustDur(t, args[2]))
	case "bandwidth":
		bps, _ := strconv.ParseInt(args[2], 10, 64)
		n.SetBandwidth(args[0], args[1], bps)
	case "drop":
		b := ""
		if len(args) > 1 {
			b = args[1]
		}
		return strconv.Itoa(n.DropConnections(args[0], b))
	case "isolate":
		n.Isolate(args[0])
	case "crash":
		n.CrashNode(args[0])
	default:
		t.Fatalf("unknown op %q", op)
	}
	return "ok"
}

// netPair dials from node a to a listener on node b and returns both ends.
func netPair(n *SimNet, a, b string) (client, server env.Conn) {
	l, err := n.Host(b).Listen(env.Addr{Port: 0})
	if err != nil {
		panic(err)
	}
	client, err = n.Host(a).Dial(l.Addr(), 0)
	if err != nil {
		panic(err)
	}
	server, err = l.Accept()
	if err != nil {
		panic(err)
	}
	_ = l.Close()
	return client, server
}

// netStream is a writer sending random chunks, with latency changes and a
// partition on the way, and a reader reading with random buffer sizes; it
// returns what was sent, what arrived and the trace hash.
func netStream(seed uint64) (sent, got []byte, hash uint64, st Stop) {
	tr := newTrace(nil)
	rng := NewRand(seed)
	sim := NewSim(rng.Fork(1), tr, SchedConfig{SwitchProb: 0.2 + 0.6*float64(seed%3)/2, StepCost: time.Microsecond})
	n := NewSimNet(sim, NetConfig{Latency: time.Millisecond, ConnectTimeout: time.Second, BufferBytes: 512, Backlog: 4})
	n.Host("a")
	n.Host("b")
	wr := rng.Fork(2)
	sim.Spawn("test", func() {
		c, s := netPair(n, "a", "b")
		done := false
		sim.Spawn("writer", func() {
			for i := 0; i < 100; i++ {
				chunk := make([]byte, 1+wr.Intn(300))
				for j := range chunk {
					chunk[j] = byte(wr.Uint64())
				}
				if _, err := c.Write(chunk); err != nil {
					panic(err)
				}
				sent = append(sent, chunk...)
			}
			_ = c.Close()
			done = true
		})
		sim.Spawn("faults", func() {
			fr := rng.Fork(4)
			for !done {
				sim.Sleep(time.Duration(fr.Intn(3000)) * time.Microsecond)
				switch fr.Intn(4) {
				case 0:
					n.SetLatency("a", "b", time.Duration(fr.Intn(5000))*time.Microsecond)
				case 1:
					n.PartitionOneWay("a", "b")
				case 2:
					n.HealAll()
				case 3:
					n.SetBandwidth("a", "b", int64(fr.Intn(2))*100_000)
				}
			}
			n.HealAll()
		})
		sim.Spawn("reader", func() {
			rr := rng.Fork(3)
			for {
				b := make([]byte, 1+rr.Intn(400))
				k, err := s.Read(b)
				got = append(got, b[:k]...)
				if err == io.EOF {
					return
				}
				if err != nil {
					panic(err)
				}
			}
		})
	})
	st = sim.Run()
	sim.KillAll()
	return sent, got, tr.Hash(), st
}

// TestNetStreamIsOrdered: whatever the latency changes, partitions, slow
// links and interleavings, the reader gets exactly the bytes written, in
// order, then EOF; the writer's Writes wait for buffer space (the buffer
// is smaller than the stream).
func TestNetStreamIsOrdered(t *testing.T) {
	hashes := map[uint64]bool{}
	for seed := uint64(1); seed <= 40; seed++ {
		sent, got, h, st := netStream(seed)
		require.Equal(t, StopAllDone, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
		require.True(t, bytes.Equal(sent, got), "seed %d: %d bytes sent, %d read, differing", seed, len(sent), len(got))
		_, _, h2, _ := netStream(seed)
		require.Equal(t, h, h2, "seed %d: the trace hash differs between two runs", seed)
		hashes[h] = true
	}
	require.Greater(t, len(hashes), 35, "seeds must steer the runs")
}

// TestNetKillWhileParked: a process killed while parked in Read leaves no
// trace on the connection: a later write is read by another process, and
// the dead one's stale wait entry is never woken.
func TestNetKillWhileParked(t *testing.T) {
	tr := newTrace(nil)
	sim := NewSim(NewRand(3), tr, DefaultSchedConfig)
	n := NewSimNet(sim, DefaultNetConfig)
	n.Host("a")
	n.Host("b")
	var got string
	sim.Spawn("test", func() {
		c, s := netPair(n, "a", "b")
		victim := sim.Spawn("victim", func() {
			_, _ = s.Read(make([]byte, 8))
			panic("the victim read")
		})
		sim.Sleep(time.Millisecond) // the victim parks
		sim.Kill(victim)
		sim.Sleep(time.Millisecond)
		sim.Spawn("heir", func() {
			b := make([]byte, 8)
			k, err := s.Read(b)
			if err != nil {
				panic(err)
			}
			got = string(b[:k])
		})
		sim.Sleep(time.Millisecond)
		_, _ = c.Write([]byte("hi"))
	})
	st := sim.Run()
	sim.KillAll()
	require.Equal(t, StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
	require.Equal(t, "hi", got)
}

// TestNetCrashNode: a node's crash closes its listeners (later Dials are
// refused) and resets its connections, at both ends.
func TestNetCrashNode(t *testing.T) {
	_, node := InSim(4, func(e *env.Env) {})
	n := node.Net
	var readErr, dialErr error
	st := node.Reboot(func(e *env.Env) {
		c, _ := netPair(n, ClientsNode, node.Name)
		l, err := e.Net.Listen(env.Addr{Port: 7})
		if err != nil {
			panic(err)
		}
		n.CrashNode(node.Name)
		_, readErr = c.Read(make([]byte, 1))
		_, dialErr = node.Clients.Dial(l.Addr(), 0)
	})
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	require.ErrorIs(t, readErr, env.ErrConnReset)
	require.ErrorIs(t, dialErr, env.ErrConnRefused)
	require.Zero(t, n.Conns())
}

// TestNetClockOffset: a deadline is on the calling node's clock; an
// offset node's deadline lands at the network time its clock means.
func TestNetClockOffset(t *testing.T) {
	sim := NewSim(NewRand(5), newTrace(nil), SchedConfig{})
	n := NewSimNet(sim, DefaultNetConfig)
	n.Host("a")
	n.Host("b")
	n.SetClockOffset("b", 10*time.Millisecond) // b's clock is 10 ms ahead
	var woke time.Duration
	sim.Spawn("test", func() {
		_, s := netPair(n, "a", "b")
		s.SetReadDeadline(sim.Now() + 10*time.Millisecond + 3*time.Millisecond) // b's clock: 3 ms from now
		_, err := s.Read(make([]byte, 1))
		if !errors.Is(err, env.ErrTimeout) {
			panic(err)
		}
		woke = sim.Now()
	})
	st := sim.Run()
	sim.KillAll()
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	require.Equal(t, 3*time.Millisecond, woke)
}

// TestNetNoPolling: a process waiting on the network has no timer unless
// it has a deadline or bytes in flight, so a wait that nothing can end is
// the scheduler's deadlock report, naming the wait, not a run that polls
// to its time limit.
func TestNetNoPolling(t *testing.T) {
	sim := NewSim(NewRand(6), newTrace(nil), DefaultSchedConfig)
	n := NewSimNet(sim, DefaultNetConfig)
	n.Host("a")
	n.Host("b")
	sim.Spawn("test", func() {
		_, s := netPair(n, "a", "b")
		_, _ = s.Read(make([]byte, 1))
	})
	st := sim.Run()
	sim.KillAll()
	require.Equal(t, StopDeadlock, st.Kind, "%s", st)
	require.Contains(t, st.Detail, "net read")
	require.Less(t, sim.Steps(), uint64(20), "the wait must not spin")
}

// TestNetHook: the hook sees every blocking call in its process before
// the call looks at the network, so a fault it applies there decides the
// call's fate: here a reset of the connection the second write is about
// to use.
func TestNetHook(t *testing.T) {
	sim := NewSim(NewRand(7), newTrace(nil), DefaultSchedConfig)
	n := NewSimNet(sim, DefaultNetConfig)
	n.Host("a")
	n.Host("b")
	var seen []string
	writes := 0
	n.Hook = func(op NetOp) {
		seen = append(seen, fmt.Sprintf("%s %s->%s", op.Kind, op.Node, op.Peer))
		if op.Kind == NetWrite {
			writes++
			if writes == 2 {
				n.DropConnections(op.Node, op.Peer)
			}
		}
	}
	var errs []error
	sim.Spawn("test", func() {
		c, _ := netPair(n, "a", "b")
		for range 3 {
			_, err := c.Write([]byte("x"))
			errs = append(errs, err)
		}
	})
	st := sim.Run()
	sim.KillAll()
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	require.Equal(t, []string{"net-dial a->b", "net-accept b->b", "net-write a->b", "net-write a->b", "net-write a->b"}, seen)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], env.ErrConnReset)
	require.ErrorIs(t, errs[2], env.ErrConnReset)
}

// TestNetPeers: two nodes on one scheduler and network, each with its own
// disk and clock (the peer's 1 s ahead): the peer serves, the first node
// dials it, and a read deadline taken from the peer's clock fires at the
// virtual time it means.
func TestNetPeers(t *testing.T) {
	_, n1 := InSim(8, func(e *env.Env) {})
	n2 := n1.NewPeer("n2", NewRand(9), time.Second)
	require.NotSame(t, n1.Disk, n2.Disk)
	var got string
	var timedOutAt time.Duration
	st := n1.Reboot(func(e *env.Env) {
		l, err := n2.Env.Net.Listen(env.Addr{Port: 5433})
		if err != nil {
			panic(err)
		}
		n1.Sim.Spawn("peer", func() {
			c, err := l.Accept()
			if err != nil {
				panic(err)
			}
			b := make([]byte, 8)
			k, _ := c.Read(b)
			got = string(b[:k])
			start := n1.Sim.Now()
			c.SetReadDeadline(n2.Env.Clock.Now() + 5*time.Millisecond)
			if _, err := c.Read(b); !errors.Is(err, env.ErrTimeout) {
				panic(err)
			}
			timedOutAt = n1.Sim.Now() - start
		})
		c, err := e.Net.Dial(env.Addr{Node: "n2", Port: 5433}, 0)
		if err != nil {
			panic(err)
		}
		_, _ = c.Write([]byte("standby"))
	})
	require.Equal(t, StopAllDone, st.Kind, "%s", st)
	require.Equal(t, "standby", got)
	require.Equal(t, 5*time.Millisecond, timedOutAt)
	require.Greater(t, n2.Env.Clock.Now()-n1.Env.Clock.Now(), 999*time.Millisecond)
}
