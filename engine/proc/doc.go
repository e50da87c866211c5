// Package proc is PostgreSQL's process architecture over the storage
// engine: the postmaster, one backend per connection, and the auxiliary
// processes — startup, checkpointer, background writer, WAL writer,
// autovacuum launcher and workers, logger and archiver — each a process of
// the env Scheduler, in a file named after it, so that the simulator
// interleaves them and can crash the system between any two of their steps.
//
// It owns the processes' main loops, their timing parameters (with
// PostgreSQL's defaults), the postmaster's crash-restart, the protocol
// between clients and backends over env.Net, and the table of injection points
// (points.go). It never touches pages, tuples or WAL records itself: that is
// engine/db and below. Like all of engine/, it sees the world only through
// engine/env.
package proc
