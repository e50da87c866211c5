package cli

import (
	"fmt"

	"github.com/pgdst/pgdst/simtest"
)

// The flags of the workload's variety (simtest/workload_variety.go): each
// pins one dimension the swarm otherwise draws per seed.

// varietyFlag pins a dimension on or off; the shrinker tries it off (a
// failure without the dimension is the simpler one).
func varietyFlag(name, jsonName, help string, field func(*simtest.Config) *string, on func(c simtest.Config) bool) RunFlag {
	f := enumFlag(name, jsonName, simtest.VarietyValues, nil, help+" (on or off; default: drawn from the seed, off with --no-swarm)", field, nil)
	f.Shrink = func(s Shrinker) {
		c := s.Config()
		if !on(c) {
			return // already off: pinning it would only lengthen the command
		}
		*field(&c) = simtest.VarietyOff
		s.Try(c)
	}
	return f
}

func deletesOn(c simtest.Config) bool         { d, _, _, _ := simtest.VarietyOf(c); return d }
func contendedKeysOn(c simtest.Config) bool   { _, k, _, _ := simtest.VarietyOf(c); return k }
func bulkReadsOn(c simtest.Config) bool       { _, _, b, _ := simtest.VarietyOf(c); return b }
func scriptClientOn(c simtest.Config) bool    { return simtest.ScriptClientOf(c) }
func rangeStatementsOn(c simtest.Config) bool { return simtest.RangeStatementsOf(c) }
func followReadsOn(c simtest.Config) bool     { return simtest.FollowReadsOf(c) }
func registerBytesWide(c simtest.Config) bool { _, _, _, n := simtest.VarietyOf(c); return n > 8 }

// registerBytesFlag pins the register values' size; the shrinker tries 8.
var registerBytesFlag = func() RunFlag {
	f := drawnIntFlag("register-bytes", "register_bytes", 8, simtest.RowBytesMax,
		fmt.Sprintf("size of the register values clients write, in [8, %d] (default: drawn from the seed, 8 or %d; with --no-swarm, 8); wide values move most updates of a hot row to another heap page", simtest.RowBytesMax, simtest.RegWideBytes),
		func(c *simtest.Config) *int { return &c.RegisterBytes })
	f.Shrink = func(s Shrinker) {
		c := s.Config()
		if !registerBytesWide(c) {
			return
		}
		c.RegisterBytes = 8
		s.Try(c)
	}
	return f
}()

func standbyReadsOn(c simtest.Config) bool { return simtest.StandbyReadsOf(c) }
