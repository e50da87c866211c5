package proc

import "github.com/pgdst/pgdst/engine/env"

// Spawner starts a process that belongs to the postmaster's current
// generation of shared memory: a crash-restart terminates it with every
// other. Processes that start others (the autovacuum launcher its workers)
// must spawn through it, never through env.Scheduler directly.
type Spawner interface {
	Spawn(name string, fn func()) env.Proc
}
