package simtest

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
)

// The partition failover (failover.go's header says what it models and
// what the checkers make of it): the old primary is cut off from every
// standby and from the clients' host by the simulated network's
// partition (world.SimNet.Partition: segments wait, they are not lost,
// and nothing heals it), standby 1 is promoted, the redirected clients'
// old connections are reset when the address moves to the new primary,
// while the stale clients, on a host of their own on the old primary's
// side of the partition, keep its address and write to it until the old
// primary is powered off (fenced) a drawn window after the redirection.

// The failover kinds, as --failover-kind and the config string name them.
const (
	FailoverPowerOff  = "power-off"
	FailoverPartition = "partition"
)

// FailoverKinds are the values of Config.FailoverKind ("" draws one).
var FailoverKinds = []string{FailoverPowerOff, FailoverPartition}

// staleClientsNode is the host of a partition failover's stale clients:
// the application servers on the old primary's side of the partition,
// whose connection pool still has the old primary's address.
const staleClientsNode = "clients-stale"

// Bounds of the partition failover's draws: the stale window runs from
// the redirection to the fence.
const (
	staleWindowMin = 5 * time.Millisecond
	staleWindowMax = 60 * time.Millisecond
)

// drawPartition draws a partition failover's stale clients (the last
// stale of them, 1 to half of them rounded up) and window, from the
// failover's stream after its older draws, so that a power-off
// failover's draws do not move.
func drawPartition(rng *world.Rand, clients int) (stale int, window time.Duration) {
	stale = 1 + rng.Intn((clients+1)/2)
	window = staleWindowMin + time.Duration(rng.Intn(int((staleWindowMax-staleWindowMin)/time.Millisecond)+1))*time.Millisecond
	return min(stale, clients), window
}

// isPartition reports whether the failover is a partition failover.
func (f *failover) isPartition() bool { return f != nil && f.p.kind == FailoverPartition }

// isStale reports whether client c is one of a partition failover's
// stale clients.
func (f *failover) isStale(c int) bool {
	return f.isPartition() && c >= f.clients-f.p.stale
}

// route is the listener client c dials and the host it dials from: the
// old primary's (l0) until a failover redirects it to the new one. A
// partition failover's stale clients dial from their own host and keep
// the old primary's address until it is fenced.
func (w *workload) route(l0 *pgproc.Listener, c int) (*pgproc.Listener, env.Net) {
	f, from := w.fo, w.node.Clients
	if f.isStale(c) {
		from = w.node.Net.Host(staleClientsNode)
		if !f.fenced {
			return l0, from
		}
	}
	if w.redirect != nil {
		return w.redirect, from
	}
	return l0, from
}

// noteDial records that client c connected to l, after the ops begun so
// far (len(w.hist.Ops)), so that the failover checker knows which node
// acknowledged each transaction (servedByNew). Only a failover run
// records.
func (w *workload) noteDial(l *pgproc.Listener, c int) {
	f := w.fo
	if f == nil {
		return
	}
	if len(f.dials) == 0 {
		f.dials = make([][]dialRec, f.clients)
	}
	f.dials[c] = append(f.dials[c], dialRec{from: len(w.hist.Ops), fromRead: len(w.hist.KeyReads), toNew: l == f.sb.l})
}

// dialRec is one connection of a client: the first op and key read of
// the history it may serve, and whether it is to the new primary.
type dialRec struct {
	from, fromRead int
	toNew          bool
}

// splitRead reports whether key read i (w.hist.KeyReads) may miss op's
// acknowledged writes because the two were served by different primaries
// while both were up: a stale client's read on the partitioned old
// primary, which never had what the new primary acknowledged. PostgreSQL
// allows it: nothing but the fence stops the old primary serving reads.
// The other way round, a read on the new primary of what the old one
// acknowledged, is judged as ever, after the failover's loss made the
// lost commits unknown (failoverLoss).
func (w *workload) splitRead(i int, op *Op) bool {
	f := w.fo
	if !f.isPartition() || len(f.dials) == 0 {
		return false
	}
	if f.byNew == nil {
		byNew := f.servedByNew(w.hist.Ops)
		f.byNew = make(map[*Op]bool, len(byNew))
		for j, op := range w.hist.Ops {
			f.byNew[op] = byNew[j]
		}
	}
	rd := w.hist.KeyReads[i]
	if rd.Client < 0 || rd.Client >= len(f.dials) {
		return false
	}
	readByNew := false
	for _, d := range f.dials[rd.Client] {
		if d.fromRead > i {
			break
		}
		readByNew = d.toNew
	}
	return !readByNew && f.byNew[op]
}

// servedByNew says, for each op of ops (the run's w.hist.Ops), whether
// the new primary served it: the client's last connection made before
// the op began. A client's ops begin after its connect, and it makes a
// new connection only when the last one is gone, so the op's whole
// exchange was on that connection.
func (f *failover) servedByNew(ops []*Op) []bool {
	out := make([]bool, len(ops))
	if f == nil {
		return out
	}
	next := make([]int, len(f.dials)) // each client's next dial to pass
	for i, op := range ops {
		if op.Client < 0 || op.Client >= len(f.dials) {
			continue
		}
		ds := f.dials[op.Client]
		k := next[op.Client]
		for k < len(ds) && ds[k].from <= i {
			k++
		}
		next[op.Client] = k
		out[i] = k > 0 && ds[k-1].toNew
	}
	return out
}

// cut is the partition: the old primary loses every standby and the
// redirected clients' host, both ways. Nothing heals it before the run's
// final recovery (failover.final); the standbys' own link faults leave
// it alone (standbySet.partitioned).
func (f *failover) cut(sim *world.Sim) {
	net, p := f.primary.Net, f.primary.Name
	f.standbys.partitioned = true
	for _, sb := range f.standbys.nodes {
		net.Partition(p, sb.node.Name)
	}
	net.Partition(p, world.ClientsNode)
	sim.HarnessEvent(env.Event{Kind: env.EvNote, Node: p, Name: fmt.Sprintf("failover: network partition of %s from its standbys and the clients; %d of %d clients stay with it", p, f.p.stale, f.clients)})
}

// moveAddress is the redirection of a partition failover: the old
// primary's address moves to the new primary (a virtual IP, a DNS
// record a pool re-reads), so the redirected clients' connections to
// the old primary, hung in the partition, reach a host that does not
// know them and are reset. The stale clients' are not.
func (f *failover) moveAddress() {
	f.primary.Net.DropConnections(f.primary.Name, world.ClientsNode)
}

// powerOff is the old primary's power loss: the failover's moment for a
// power-off failover, the fence's for a partition failover. Its server's
// processes die, its sockets with them, and its disk keeps what it had
// synced.
func (f *failover) powerOff(sim *world.Sim, reason string) {
	if f.fenced {
		return
	}
	now := f.primary.Env.Clock.Now()
	sim.KillTree(f.pmProc)
	f.primary.Net.CrashNode(f.primary.Name)
	f.primary.Disk.Crash(f.rng.Fork(1), f.p.crash)
	f.fenced, f.fencedAt = true, now
	if f.isPartition() && f.res.Failover != nil {
		f.res.Failover.FencedAt = now
	}
	sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: f.primary.Name, Name: "failover: " + reason + " " + f.p.crash.String()})
}
