package simtest

import (
	"time"

	"github.com/pgdst/pgdst/simtest/world"
)

// swarmArchiveTimeouts are the archive_timeout values the swarm draws,
// off on three seeds in four. A run lasts about 200 ms of virtual time
// and fills a WAL segment on about 1 seed in 100, so without a timeout the
// archiver almost never has a segment to copy (archive_mode is on in half
// the runs): with one, a run in archive mode switches a few to a few dozen
// segments and the archiver copies them while the workload runs, falls
// behind, and is cut by the crash mid-copy. Each switched segment costs a
// segment creation, a copy and its checks: on more seeds, the campaign's
// CPU time would grow past the few percent this may cost.
var swarmArchiveTimeouts = [...]time.Duration{0, 0, 0, 0, 0, 0, 5 * time.Millisecond, 20 * time.Millisecond}

// swarmArchiveTimeout draws the seed's archive_timeout from a stream of
// its own (so every other draw of the seed is what it was), used only
// when archive_mode is on.
func swarmArchiveTimeout(seed uint64) time.Duration {
	rng := world.NewRand(seed ^ 0x6172636874696d65) // "archtime"
	return swarmArchiveTimeouts[rng.Intn(len(swarmArchiveTimeouts))]
}

// ArchiveTimeoutOf is the archive_timeout a run of c has when archive_mode
// is on: Config's when given (negative: off, 0), else under Swarm the
// seed's draw, else off.
func ArchiveTimeoutOf(c Config) time.Duration {
	t := c.ArchiveTimeout
	switch {
	case t < 0:
		t = 0
	case t == 0 && c.Swarm:
		t = swarmArchiveTimeout(c.Seed)
	}
	return t
}

// resolveArchiveTimeout sets the run's archive_timeout (ArchiveTimeoutOf).
func resolveArchiveTimeout(c Config, r *resolved) {
	t := ArchiveTimeoutOf(c)
	r.engine.WAL.ArchiveTimeout = t
	r.server.DB.WAL.ArchiveTimeout = t
	r.server.Archiver.WAL.ArchiveTimeout = t
}

// archiveTimeoutMax bounds Config.ArchiveTimeout.
const archiveTimeoutMax = time.Hour
