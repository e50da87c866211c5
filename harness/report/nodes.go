package report

import (
	"cmp"
	"regexp"
	"slices"
	"strings"

	"github.com/pgdst/pgdst/simtest/world"
)

// Lanes grouped by node (issue 19): a run with standbys has several
// machines, each with its own postmaster, auxiliary processes and
// backends, and the page draws each machine's lanes together under a row
// that names it. A process's node is, in order of preference:
//   - the node its name ends in ("postmaster n2", "pg_basebackup n2": the
//     harness's processes for a node say which, even when, like
//     pg_basebackup, they read another node's disk);
//   - its parent's node (a server process runs where its postmaster does);
//   - the node of its first disk, network or engine event (env.Event.Node).
//
// Processes with none of these (the harness's own) are drawn first, under
// no title. A run on one node draws no titles at all.

// clientsNode is the node the simulated clients' network events name:
// not a machine of the database's.
const clientsNode = world.ClientsNode

// nodeSuffix is a harness process's name ending in its node's name.
var nodeSuffix = regexp.MustCompile(` (n[0-9]+)$`)

// spawnedOn records the process that spawned a lane's process.
func (m *traceModel) spawnedOn(l *lane, parent int) {
	if l.pid >= 0 {
		l.parent = parent
	}
}

// ranOn records the node of the first event pid raised that names one.
func (m *traceModel) ranOn(pid int, node string) {
	if pid == 0 {
		return // the harness acts on every node
	}
	if l := m.lane(pid); l.evNode == "" && l.pid >= 0 {
		l.evNode = node
	}
}

// nodeOf is l's node by the rules above; depth bounds the walk up the
// parents (a spawn tree is a few levels deep: harness, postmaster, a
// server process).
func (m *traceModel) nodeOf(l *lane, depth int) string {
	if l.node != "" || l.pid < 0 {
		return l.node
	}
	if s := nodeSuffix.FindStringSubmatch(l.name); s != nil {
		return s[1]
	}
	if p, ok := m.lanes[l.parent]; ok && l.parent != 0 && p != l && depth < 8 {
		if n := m.nodeOf(p, depth+1); n != "" {
			return n
		}
	}
	return l.evNode
}

// groupByNode orders the lanes by node, in the order each node's first
// lane appeared (so the primary, made first, is on top), keeps each
// node's lanes in their own order, and puts a title row before each
// node's group. It does nothing when the lanes ran on fewer than two
// nodes.
func (m *traceModel) groupByNode() {
	for _, l := range m.order {
		l.node = m.nodeOf(l, 0)
	}
	rank := map[string]int{}
	walrcv := map[string]bool{}
	for _, l := range m.order {
		if _, ok := rank[l.node]; !ok {
			rank[l.node] = len(rank)
		}
		if l.name == "walreceiver" {
			walrcv[l.node] = true
		}
	}
	machines := 0
	for n := range rank {
		if n != "" && n != clientsNode {
			machines++
		}
	}
	if machines < 2 {
		return
	}
	rank[""] = -1 // the harness's lanes first
	lanes := slices.Clone(m.order)
	slices.SortStableFunc(lanes, func(a, b *lane) int { return cmp.Compare(rank[a.node], rank[b.node]) })
	m.order = m.order[:0]
	for i, l := range lanes {
		if l.node != "" && (i == 0 || lanes[i-1].node != l.node) {
			m.order = append(m.order, &lane{pid: -1, header: true, node: l.node, name: nodeTitle(l.node, walrcv[l.node]), end: -1})
		}
		m.order = append(m.order, l)
	}
	for i, l := range m.order {
		l.idx = i
	}
}

// nodeTitle names a node's group: the clients' pseudo-node, a standby (a
// node that ran a WAL receiver), or the primary.
func nodeTitle(node string, standby bool) string {
	switch {
	case node == clientsNode:
		return "clients"
	case standby:
		return "node " + node + ": standby"
	case strings.HasPrefix(node, "n"):
		return "node " + node + ": primary"
	}
	return "node " + node
}

// processLanes counts the lanes drawn for processes (not the nodes'
// title rows).
func (m *traceModel) processLanes() int {
	n := 0
	for _, l := range m.order {
		if !l.header {
			n++
		}
	}
	return n
}
