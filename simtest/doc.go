// Package simtest is the run harness on the deterministic world.
//
// The world itself, the simulator proper (scheduler and virtual clock,
// disk, network, nodes, the fault plan's runner, rand, the trace and its
// typed events), is package simtest/world; it imports only engine/env and
// fault, and the engine's own tests use it (with simtest/world/simt)
// without this package.
//
// This package owns a run (run.go, run_db.go): the configuration and what
// the seed draws of it (the swarm), the initdb image a run starts from
// (initdb_image.go), the nodes it builds (node.go, which tells the world
// the engine's fixed files), the boot of a postmaster with every server
// process, the simulated clients and the histories they record
// (workload.go, workload_kinds.go, history.go), the power loss, recovery,
// and the checks that judge what recovery kept and what the clients saw
// (check.go, with the pure checkers of package linearizability), and the
// online checkers that watch the run's disk and events, one per file
// (*_checker.go).
//
// Nothing here may run inside a simulation in a way that reaches the
// outside world: no wall clock, no OS randomness, no goroutines or locks
// that can change an outcome, no map order that reaches behaviour or
// output. The initdb image cache a campaign's concurrent runs share is
// invisible to every run, and determinism_scan_test.go lists each
// exception with its reason. It never changes the engine's behaviour
// except through env and the planted bugs a configuration names, and it
// judges the engine only through the engine's exported API (sessions, the
// self-checks, the buffer pool's state for the online I/O checkers) and
// what the disk holds.
package simtest
