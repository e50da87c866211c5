package simtest

import "github.com/pgdst/pgdst/simtest/world"

// The scheduler a run interleaves its processes with: the random switches
// at yield points (world.SchedConfig.SwitchProb), or PCT of a depth d
// (world/pct.go), which runs the highest-priority runnable process and
// drops the running one's priority at d-1 steps drawn over the workload.

// schedulerSeedMix makes the scheduler's own stream: its draws consume
// none of the run's, so a seed that draws the random scheduler runs
// exactly as it did before PCT existed.
const schedulerSeedMix = 0x7363686564706374 // "schedpct"

// swarmPCTDepths are the schedulers the swarm draws from, one per seed:
// random on three seeds in four (its switch probability drawn as
// before), PCT on the others: of depth 1 (priorities alone: a process
// runs until it blocks or a higher one wakes, so schedules hold long
// stretches of one process that random switches break up), 2 (one change
// point: a depth-2 race) or 3. Random stays the majority because it is
// the better finder of a race whose window is one scheduling point and
// recurs in every run (every commit, say): each occurrence is a fresh
// chance for a random switch, while PCT has d-1 change points per run
// (README, "The scheduler": 96 of 1000 seeds against 0-4 on planted bug
// clog-status-lost-update).
var swarmPCTDepths = [...]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 3}

// resolveScheduler is the run's PCT depth (0: the random scheduler) and
// the seed of PCT's own stream of priorities and change points.
func resolveScheduler(c Config) (depth int, seed uint64) {
	rng := world.NewRand(c.Seed ^ schedulerSeedMix)
	depth = swarmPCTDepths[rng.Intn(len(swarmPCTDepths))]
	seed = rng.Uint64()
	switch {
	case c.Scheduler != "":
		depth, _ = world.ParseScheduler(c.Scheduler) // Validate has checked it
	case !c.Swarm:
		depth = 0
	}
	return depth, seed
}
