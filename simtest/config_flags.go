package simtest

// The bounds of Config.RowBytes, for the command line's --row-bytes
// (harness/cli), which checks a value before it reaches Validate.
const (
	RowBytesMin = rowBytesMin
	RowBytesMax = rowBytesMax
)

// RegWideBytes is the size of a wide register value, which the swarm
// draws on some seeds (--register-bytes).
const RegWideBytes = regWideBytes

// VarietyOf is c's workload variety as a run resolves it (the seed's draw
// under Swarm, then the flags): whether deletes, contended keys and bulk
// reads are on, and the register values' size. The shrinker pins a
// dimension off only when it is on.
func VarietyOf(c Config) (deletes, contended, bulkReads bool, registerBytes int) {
	r := resolved{Config: c}
	if c.Swarm {
		r.bulk = swarmShape(c.Seed).bulk
	}
	resolveVariety(c, &r)
	return r.vary.deletes, r.vary.contended, r.vary.bulkReads, r.vary.regBytes
}
