package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/pgdst/pgdst/simtest"
)

// The run flags of the engine's settings (simtest/settings.go): each
// replaces the swarm's draw, or the fixed value without it, and the
// reproduce command writes it when the configuration carries it.

// fullPageWritesFlag is --full-page-writes on|off.
func fullPageWritesFlag() RunFlag {
	return RunFlag{
		Name: "full-page-writes", JSON: []string{"full_page_writes"},
		Help:  "full_page_writes: on, or off (a data page torn by a power loss must then be reported by its checksum; default: drawn from the seed, off on one seed in four; with --no-swarm, on)",
		Check: func(v string) error { return oneOf(v, simtest.FullPageWritesValues) },
		Apply: func(c *simtest.Config, vals []string) { c.FullPageWrites = last(vals) },
		Words: func(c simtest.Config) []string {
			return wordsIf(c.FullPageWrites != "", "--full-page-writes", c.FullPageWrites)
		},
		Shrink: func(s Shrinker) {
			// Only an explicit off: "" is the seed's draw, which a
			// flag would only add words to.
			if c := s.Config(); c.FullPageWrites == simtest.FullPageWritesOff {
				c.FullPageWrites = simtest.FullPageWritesOn
				s.Try(c)
			}
		},
	}
}

// sharedBuffersFlag is --shared-buffers N (pages).
func sharedBuffersFlag() RunFlag {
	return drawnIntFlag("shared-buffers", "shared_buffers", simtest.SharedBuffersMin, simtest.SharedBuffersMax,
		fmt.Sprintf("shared_buffers in 8kB pages, in [%d, %d] (default: drawn from the seed, 16 or 32; with --no-swarm, 32)", simtest.SharedBuffersMin, simtest.SharedBuffersMax),
		func(c *simtest.Config) *int { return &c.SharedBuffers })
}

// walBuffersFlag is --wal-buffers N (pages).
func walBuffersFlag() RunFlag {
	return drawnIntFlag("wal-buffers", "wal_buffers", simtest.WALBuffersMin, simtest.WALBuffersMax,
		fmt.Sprintf("wal_buffers in 8kB pages, in [%d, %d] (default: -1, 1/32 of shared_buffers and at least 8; the swarm draws 4 on one seed in three)", simtest.WALBuffersMin, simtest.WALBuffersMax),
		func(c *simtest.Config) *int { return &c.WALBuffers })
}

// checkpointTimeoutFlag is --checkpoint-timeout D.
func checkpointTimeoutFlag() RunFlag {
	f := durationFlag("checkpoint-timeout", "checkpoint_timeout_ns", simtest.CheckpointTimeoutMin, simtest.CheckpointTimeoutMax,
		"checkpoint_timeout, in virtual time (default: drawn from the seed, 2ms to 61ms; with --no-swarm, 20ms)",
		func(c *simtest.Config) *time.Duration { return &c.CheckpointTimeout })
	return f
}

// walSegmentSizeFlag is --wal-segment-size N (kB).
func walSegmentSizeFlag() RunFlag {
	lo, hi := int(simtest.WALSegmentSizeMin>>10), int(simtest.WALSegmentSizeMax>>10)
	return RunFlag{
		Name: "wal-segment-size", JSON: []string{"wal_segment_size"},
		Help: fmt.Sprintf("WAL segment size in kB, a power of two in [%d, %d] (default: drawn from the seed, 64 to 512; with --no-swarm, 256)", lo, hi),
		Check: func(v string) error {
			n, err := parseInt(v, lo, hi)
			if err == nil && n&(n-1) != 0 {
				err = fmt.Errorf("must be a power of two")
			}
			return err
		},
		Apply: func(c *simtest.Config, vals []string) {
			n, _ := parseInt(last(vals), lo, hi)
			c.WALSegmentSize = int64(n) << 10
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.WALSegmentSize != 0, "--wal-segment-size", strconv.FormatInt(c.WALSegmentSize>>10, 10))
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			c.WALSegmentSize = 0
			s.Try(c)
		},
	}
}

// autovacuumThresholdFlag is --autovacuum-vacuum-threshold N.
func autovacuumThresholdFlag() RunFlag {
	return RunFlag{
		Name: "autovacuum-vacuum-threshold", JSON: []string{"autovacuum_vacuum_threshold"},
		Help:  fmt.Sprintf("autovacuum_vacuum_threshold: dead tuples a table always tolerates, in [0, %d] (default: drawn from the seed, 0 to 10 on a third of the seeds, else 50)", simtest.AutovacuumThreshMax),
		Check: func(v string) error { _, err := parseInt(v, 0, simtest.AutovacuumThreshMax); return err },
		Apply: func(c *simtest.Config, vals []string) {
			n, _ := parseInt(last(vals), 0, simtest.AutovacuumThreshMax)
			c.AutovacuumThreshold = &n
		},
		Words: func(c simtest.Config) []string {
			if c.AutovacuumThreshold == nil {
				return nil
			}
			return []string{"--autovacuum-vacuum-threshold", strconv.Itoa(*c.AutovacuumThreshold)}
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			c.AutovacuumThreshold = nil
			s.Try(c)
		},
	}
}

// autovacuumScaleFactorFlag is --autovacuum-vacuum-scale-factor F.
func autovacuumScaleFactorFlag() RunFlag {
	parse := func(v string) (float64, error) {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("not a number")
		}
		if !(x >= 0 && x <= 100) { // NaN too
			return 0, fmt.Errorf("must be in [0, 100]")
		}
		return x, nil
	}
	return RunFlag{
		Name: "autovacuum-vacuum-scale-factor", JSON: []string{"autovacuum_vacuum_scale_factor"},
		Help:  "autovacuum_vacuum_scale_factor: and this fraction of the table's rows, in [0, 100] (default: drawn from the seed, 0 to 0.1 on a third of the seeds, else 0.2)",
		Check: func(v string) error { _, err := parse(v); return err },
		Apply: func(c *simtest.Config, vals []string) {
			x, _ := parse(last(vals))
			c.AutovacuumScaleFactor = &x
		},
		Words: func(c simtest.Config) []string {
			if c.AutovacuumScaleFactor == nil {
				return nil
			}
			return []string{"--autovacuum-vacuum-scale-factor", strconv.FormatFloat(*c.AutovacuumScaleFactor, 'g', -1, 64)}
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			c.AutovacuumScaleFactor = nil
			s.Try(c)
		},
	}
}

// archiveTimeoutFlag is --archive-timeout D|off: "off" is PostgreSQL's
// default, archive_timeout = 0 (the config holds simtest.ArchiveTimeoutOff,
// as 0 there means "draw one from the seed").
func archiveTimeoutFlag() RunFlag {
	f := durationFlag("archive-timeout", "archive_timeout_ns", simtest.CheckpointTimeoutMin, simtest.CheckpointTimeoutMax,
		"archive_timeout, in virtual time, or off: the checkpointer ends a WAL segment holding records this long after the last forced switch (default: drawn from the seed, 2ms to 79ms on a third of the seeds, else off; with --no-swarm, off)",
		func(c *simtest.Config) *time.Duration { return &c.ArchiveTimeout })
	check, apply, words := f.Check, f.Apply, f.Words
	f.Check = func(v string) error {
		if v == "off" {
			return nil
		}
		return check(v)
	}
	f.Apply = func(c *simtest.Config, vals []string) {
		if last(vals) == "off" {
			c.ArchiveTimeout = simtest.ArchiveTimeoutOff
			return
		}
		apply(c, vals)
	}
	f.Words = func(c simtest.Config) []string {
		if c.ArchiveTimeout == simtest.ArchiveTimeoutOff {
			return []string{"--archive-timeout", "off"}
		}
		return words(c)
	}
	return f
}

// deadlockTimeoutFlag is --deadlock-timeout D.
func deadlockTimeoutFlag() RunFlag {
	return durationFlag("deadlock-timeout", "deadlock_timeout_ns", simtest.CheckpointTimeoutMin, simtest.CheckpointTimeoutMax,
		"deadlock_timeout, in virtual time: a lock wait this long runs the deadlock check (default: drawn from the seed, 1ms to 39ms on a third of the seeds, else PostgreSQL's 1s)",
		func(c *simtest.Config) *time.Duration { return &c.DeadlockTimeout })
}
