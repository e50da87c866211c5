// Package simtest is the deterministic simulator and the run harness.
//
// It owns the simulated environment the engine runs on (env.Env's clock,
// disk, network and scheduler): the scheduler (sched.go), whose processes
// are coroutines interleaved at yield points from one seeded random stream;
// the disk (disk.go, with its fault model in disk_faults.go), an
// in-memory file system with Linux page-cache semantics and a power-loss
// model; the network (net.go, with its fault model in net_faults.go),
// ordered byte streams between named nodes with latency, slow links,
// partitions and dropped connections; and the trace (trace.go), a hash of
// every event of the run (env.Event: scheduling decisions, env calls,
// injection points, the harness's crashes and faults, the engine's WAL,
// buffer, checkpoint, commit and recovery events), which is a run's
// identity; the readable trace (event.go) and the report are rendered from
// the same events.
//
// It also owns a run (run.go, run_db.go): the configuration and what the
// seed draws of it (the swarm), the initdb image a run starts from
// (initdb_image.go), the boot of a postmaster with every server process,
// the simulated clients and the histories they record (workload.go,
// workload_kinds.go, history.go), the fault plan's runner (faults.go), the
// power loss, recovery, and the checks that judge what recovery kept and
// what the clients saw (check.go, with the pure checkers of package
// linearizability).
//
// It must never reach the world from code that runs inside a simulation:
// no wall clock, no OS randomness, no goroutines or locks that can change
// an outcome, no map order that reaches behaviour or output. The few
// process-wide pieces shared by a campaign's concurrent runs (idle
// coroutines, spare disk arrays, initdb images) are invisible to every run,
// and determinism_scan_test.go lists each exception with its reason. It
// never changes the engine's behaviour except through env and the planted
// bugs a configuration names, and it judges the engine only through the
// engine's exported API (sessions, the self-checks, the buffer pool's
// state for the online I/O checkers) and what the disk holds.
package simtest
