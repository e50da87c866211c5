package proc

import "github.com/pgdst/pgdst/engine/env"

// Spawner starts a process that belongs to the postmaster's current
// generation of shared memory: a crash-restart terminates it with every
// other. Processes that start others (the autovacuum launcher its workers)
// must spawn through it, never through env.Scheduler directly. The role is
// what the process is (env.Role): the engine knows what it spawns, so the
// process carries it from its start, for fault plans and the injection
// points' table, and nothing guesses it from the name.
type Spawner interface {
	Spawn(role env.Role, name string, fn func()) env.Proc
}
