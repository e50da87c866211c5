// Package fault holds fault plans as data: which faults a simulated run
// injects, and when.
//
// A plan is a list of faults, each an action (crash, kill, pause, fsync EIO,
// a torn write, a bit flip, added latency, clock skew, ...; see actions.go for
// the full list and for the fault model: what the engine must survive and
// what it must only detect) with a trigger expression over the simulator's
// events (virtual time, scheduler step, injection points and their hit
// counts, disk operations, file classes, paths, process roles and names, a
// stateful nth counter and a seeded probability) and a bound on how many
// times it may fire.
//
// A plan is data so that it can be printed, saved in a repro file, parsed
// back, replayed and shrunk: Plan.String prints one fault per line in a
// canonical text form and Parse reads it back, so that Parse(p.String())
// equals p for every valid plan. Swarm draws a random plan for a seed (swarm
// testing: each run turns a different subset of fault kinds on) and
// Systematic enumerates one crash plan per injection point and hit.
//
// What the package owns: the plan types, the text form, trigger evaluation
// (State.Eval, called by the simulator at every event) and plan generation.
// What it must never touch: the world. It imports nothing from this module
// and nothing that reaches the operating system, the wall clock or a global
// random source, and starts no goroutine, because a seed must mean the same
// run every time; the only randomness comes in through the Rand interface,
// which the simulator seeds. The database engine never imports this package:
// the simulator evaluates the plan and performs the actions, and the engine
// only sees their effects (an error from a disk call, a process that stops, a
// clock that jumps).
package fault
