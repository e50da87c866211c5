package world

// The simulated network's faults, and the links they act on.
//
// A link is one direction between two named nodes (a node to itself
// included). Its state is what the faults below set; a segment (bytes, a
// FIN, a handshake's SYN or answer) takes its arrival time from the link
// when it is sent: arrival = max(now, when the link finishes sending what
// it was given before) + size/bandwidth + Latency + the link's added
// latency, and never before the segment sent before it on the same
// connection (TCP delivers in order).
//
// The fault model, operation by operation (each is hashed into the trace):
//
//   - SetLatency(from, to, d): the link from -> to adds d to every segment
//     sent from now on (in flight ones keep their arrival). Both
//     directions: call it twice.
//   - SetBandwidth(from, to, bytes per second): a slow link; segments queue
//     behind each other on it (0: unlimited).
//   - Partition(a, b): both directions between a and b go down.
//     PartitionOneWay(from, to): only from -> to does (to's segments still
//     reach from). Isolate(a) partitions a from every other node. While a
//     direction is down, what is sent on it waits (TCP retransmits, it is
//     not lost): Dials and Reads across it wait for the heal or their
//     deadline. Segments already in flight when the partition starts
//     arrive (they passed the cut). A partition of a node from itself is
//     refused: a node always reaches itself.
//   - Heal(a, b), HealOneWay(from, to), HealAll(): the direction comes back
//     up; what waited is sent then, in order.
//   - DropConnections(a, b): every connection between a and b (b == "": every
//     connection of a) is reset at both ends at once, as a middlebox or a
//     peer's RST does: bytes in flight are lost, waiting calls and every
//     later call fail with env.ErrConnReset, and a Dial in its handshake
//     fails the same way. It returns how many it reset.
//
// Nothing here draws randomness: a plan's runner decides when (and, with
// its own seeded stream, whether) to apply a fault, so a run's network
// does exactly what its plan said.

import (
	"fmt"
	"github.com/pgdst/pgdst/engine/env"
	"sort"
	"time"
)

// netLink is one direction between two nodes.
type netLink struct {
	from, to    *simHost
	extra       time.Duration // added latency
	bytesPerSec int64         // 0: unlimited
	busyUntil   time.Duration // when it has sent what it was given
	down        bool          // partitioned
}

// link is the link from a to b, made on first use.
func (n *SimNet) link(a, b *simHost) *netLink {
	k := [2]int{a.idx, b.idx}
	l := n.links[k]
	if l == nil {
		l = &netLink{from: a, to: b}
		n.links[k] = l
	}
	return l
}

// send is the arrival time of bytes sent on l now.
func (n *SimNet) send(l *netLink, bytes int) time.Duration {
	t := n.sim.now
	if l.bytesPerSec > 0 {
		start := max(t, l.busyUntil)
		l.busyUntil = start + time.Duration(int64(bytes)*int64(time.Second)/l.bytesPerSec)
		t = l.busyUntil
	}
	return t + n.cfg.Latency + l.extra
}

// faultEvent hashes a fault into the trace.
func (n *SimNet) faultEvent(kind string, a, b string, v int64) {
	n.sim.event(n.sim.cur, &env.Event{Kind: env.EvNetFault, A: v, Name: kind + " " + a + " " + b})
}

// SetLatency makes the link from -> to add d to every segment sent on it
// from now on.
func (n *SimNet) SetLatency(from, to string, d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("simtest: negative latency %v", d))
	}
	n.link(n.mustHost(from), n.mustHost(to)).extra = d
	n.faultEvent("latency", from, to, int64(d))
}

// SetBandwidth makes the link from -> to carry bytesPerSec (0: unlimited).
func (n *SimNet) SetBandwidth(from, to string, bytesPerSec int64) {
	if bytesPerSec < 0 {
		panic(fmt.Sprintf("simtest: negative bandwidth %d", bytesPerSec))
	}
	n.link(n.mustHost(from), n.mustHost(to)).bytesPerSec = bytesPerSec
	n.faultEvent("bandwidth", from, to, bytesPerSec)
}

// Partition cuts both directions between a and b.
func (n *SimNet) Partition(a, b string) {
	n.PartitionOneWay(a, b)
	n.PartitionOneWay(b, a)
}

// PartitionOneWay cuts the direction from -> to.
func (n *SimNet) PartitionOneWay(from, to string) {
	if from == to {
		panic("simtest: a node cannot be partitioned from itself: " + from)
	}
	n.link(n.mustHost(from), n.mustHost(to)).down = true
	n.faultEvent("partition", from, to, 0)
}

// Isolate partitions node from every other node on the network.
func (n *SimNet) Isolate(node string) {
	h := n.mustHost(node)
	for _, o := range n.hosts {
		if o != h {
			n.Partition(node, o.name)
		}
	}
}

// Heal restores both directions between a and b.
func (n *SimNet) Heal(a, b string) {
	n.HealOneWay(a, b)
	n.HealOneWay(b, a)
}

// HealOneWay restores the direction from -> to and sends, in order, what
// waited for it.
func (n *SimNet) HealOneWay(from, to string) {
	l := n.link(n.mustHost(from), n.mustHost(to))
	n.faultEvent("heal", from, to, 0)
	if !l.down {
		return
	}
	l.down = false
	for _, c := range n.conns {
		if c.hsHeld {
			hl := c.c2s.link
			if c.hs == hsAnswer {
				hl = c.s2c.link
			}
			if hl == l {
				c.hsHeld = false
				c.hsAt = n.send(l, 0)
				if c.hs == hsAnswer {
					c.s2c.last = max(c.s2c.last, c.hsAt)
				}
				c.dialers.wake(n.sim)
			}
		}
		for _, p := range [2]*pipe{&c.c2s, &c.s2c} {
			if p.link != l {
				continue
			}
			released := false
			for i := range p.segs {
				seg := &p.segs[i]
				if seg.held {
					seg.held = false
					seg.arrival = max(n.send(l, len(seg.data)), p.last)
					p.last = seg.arrival
					released = true
				}
			}
			if released {
				p.readers.wake(n.sim)
			}
		}
	}
}

// HealAll restores every link.
func (n *SimNet) HealAll() {
	for _, a := range n.hosts {
		for _, b := range n.hosts {
			if l := n.links[[2]int{a.idx, b.idx}]; l != nil && l.down {
				n.HealOneWay(a.name, b.name)
			}
		}
	}
}

// DropConnections resets every connection between a and b (b == "": every
// connection of a) and returns how many.
func (n *SimNet) DropConnections(a, b string) int {
	ha := n.mustHost(a)
	var hb *simHost
	if b != "" {
		hb = n.mustHost(b)
	}
	var drop []*simConn
	for _, c := range n.conns {
		x, y := c.ends[0].host, c.ends[1].host
		if (x == ha && (hb == nil || y == hb)) || (y == ha && (hb == nil || x == hb)) {
			drop = append(drop, c)
		}
	}
	for _, c := range drop {
		n.reset(c)
	}
	n.faultEvent("drop", a, b, int64(len(drop)))
	return len(drop)
}

// Conns is how many connections are open (not closed at both ends, not
// reset), for tests and reports.
func (n *SimNet) Conns() int { return len(n.conns) }

// CrashNode is node's kernel going away with its processes (a power loss,
// a reboot): its listeners close and its connections reset.
func (n *SimNet) CrashNode(node string) {
	h := n.mustHost(node)
	ports := make([]int, 0, len(h.listeners))
	for p := range h.listeners {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		_ = h.listeners[p].Close()
	}
	n.DropConnections(node, "")
}
