package simtest

import "github.com/pgdst/pgdst/simtest/world"

// Standbys in the swarm (issue 19's swarm dimension, for issue 17's plain
// campaign): replication is code the plain campaign must reach without
// being aimed at it, so on one seed in standbySeedsPer the swarm gives the
// run standbys, one on most of those seeds, two on about a quarter of them
// and three (the most) on one in sixteen,
// drawn from a stream of its own so that every other seed runs exactly as
// before. A standby run costs about 1.4 times a run without one (the
// second node's processes, the base backup, the standby checker's catch-up),
// so the share is kept small; `--standbys N` pins the count, 0 included.

// standbySeedsPer: one seed in standbySeedsPer draws standbys.
const standbySeedsPer = 16

// standbyDrawStream keys the draw's stream ("stbyswrm").
const standbyDrawStream = 0x73746279737772d6

// standbysDraw is the seed's standby count under the swarm.
func standbysDraw(seed uint64) int {
	rng := world.NewRand(seed ^ standbyDrawStream)
	on := rng.Intn(standbySeedsPer) == 0
	two := rng.Intn(4) == 0
	three := rng.Intn(16) == 0
	switch {
	case !on:
		return 0
	case three:
		return 3
	case two:
		return 2
	}
	return 1
}

// standbysOf is the run's standby count: the one given (Standbys, or
// StandbysSet with 0), else the seed's draw under Swarm, else none.
func standbysOf(c Config) int {
	switch {
	case c.Standbys != 0 || c.StandbysSet:
		return c.Standbys
	case c.Swarm:
		return standbysDraw(c.Seed)
	}
	return 0
}

// StandbysOf reports how many standbys c's run has, as resolve decides.
func StandbysOf(c Config) int { return standbysOf(c) }
