// Package world is the deterministic world the engine runs in: the
// simulator proper, kept apart from the harness (package simtest) that
// runs workloads and judges the engine in it.
//
// It owns the simulated environment behind env.Env: the scheduler
// (sched.go, with its coroutine workers in workers.go), whose processes
// are coroutines interleaved at yield points from one seeded random stream
// (rand.go) on a virtual clock; the disk (disk.go, with its fault model in
// disk_faults.go), an in-memory file system with Linux page-cache
// semantics and a power-loss model; the network (net.go, with its fault
// model in net_faults.go), ordered byte streams between named nodes with
// latency, slow links, partitions and dropped connections; nodes (env.go),
// each a disk, a place on the network and a clock offset on the shared
// scheduler; the fault plan's runner (faults.go), which carries out a
// fault.Plan on the scheduler's, the injection points' and the disk's
// events; and the trace (trace.go), a hash of every typed event of the run
// (env.Event), which is a run's identity, with the readable trace and the
// event file encoding (event.go).
//
// It imports only engine/env, fault and the standard library, never the
// harness (simtest), the checkers (linearizability), the CLI or an engine
// package: the engine's own tests run on the world (through InSim and the
// helpers in simt) without the harness, and the world cannot come to
// depend on what it hosts or on what judges it. layering_test.go enforces
// this. What the world needs to know of the engine (which fixed files are
// WAL, clog or control file) the harness installs (Node.FixedClass).
//
// Code here runs inside a simulation and must never reach the outside
// world: no wall clock, no OS randomness, no goroutines or locks that can
// change an outcome, no map order that reaches behaviour or output. The
// pools a campaign's concurrent runs share (shared_pool.go: idle
// coroutines, spare disk arrays) are invisible to every run, and
// simtest/determinism_scan_test.go lists each exception with its reason.
package world
