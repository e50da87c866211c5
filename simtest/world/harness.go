package world

import (
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
)

// InSim runs fn as the first process of a fresh simulated node with the
// given seed and returns why the simulation stopped, and the node (its disk
// survives for inspection or a Crash). Engine package tests use it to
// exercise their code under the deterministic scheduler; fn may spawn more
// processes through e.Sched. The world imports no engine package, so an
// engine package's internal tests may use it too.
func InSim(seed uint64, fn func(e *env.Env)) (Stop, *Node) {
	node := NewNode(NewRand(seed), newTrace(nil), DefaultSchedConfig, DefaultLatency)
	node.Sim.Spawn("test", func() { fn(node.Env) })
	st := node.Sim.Run()
	node.Sim.KillAll()
	return st, node
}

// InSimPlan is InSim with a fault plan installed from the start, fn's
// process having the given role: engine package tests use it to pause a
// process at a point (a pause at point=lwlock-acquire, say). It returns
// the plan's runner too, to read what fired.
func InSimPlan(seed uint64, plan fault.Plan, role env.Role, fn func(e *env.Env)) (Stop, *Node, *PlanRunner) {
	rng := NewRand(seed)
	node := NewNode(rng, newTrace(nil), DefaultSchedConfig, DefaultLatency)
	r := NewPlanRunner(node, plan, rng.Fork(9))
	r.Install()
	node.Sim.SpawnAs(role, "test", func() { fn(node.Env) })
	st := node.Sim.Run()
	node.Sim.KillAll()
	r.Uninstall()
	return st, node, r
}

// Reboot runs fn as the first process on the same node after its previous
// processes were killed, as after a crash (call node.Disk.Crash first for a
// power loss).
func (n *Node) Reboot(fn func(e *env.Env)) Stop {
	n.Net.CrashNode(n.Name) // its sockets died with its processes
	n.Sim.Spawn("test", func() { fn(n.Env) })
	st := n.Sim.Run()
	n.Sim.KillAll()
	return st
}

// Group waits for simulated processes to finish, as sync.WaitGroup does
// for goroutines (tests spawn workers and wait for them).
type Group struct {
	mu   env.Mutex
	cond env.Cond
	left int
}

// NewGroup makes a group that waits for n calls to Done.
func NewGroup(e *env.Env, n int) *Group {
	g := &Group{mu: e.Sched.NewMutex("group"), left: n}
	g.cond = e.Sched.NewCond("group", g.mu)
	return g
}

// Done marks one member finished.
func (g *Group) Done() {
	g.mu.Lock()
	g.left--
	g.cond.Broadcast()
	g.mu.Unlock()
}

// Wait blocks until every member is done.
func (g *Group) Wait() {
	g.mu.Lock()
	for g.left > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}

// Left is how many members have not finished yet.
func (g *Group) Left() int {
	g.mu.Lock()
	n := g.left
	g.mu.Unlock()
	return n
}
