package simtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// Engine settings a user varies in postgresql.conf and that change which
// branches of the engine run: full_page_writes, shared_buffers,
// checkpoint_timeout, the WAL segment size and autovacuum's thresholds.
// Each is drawn by the swarm from a stream of its own (swarmSettings) or
// given by its flag, and written in the run's configuration line.

// The values of Config.FullPageWrites.
const (
	FullPageWritesOn  = "on"
	FullPageWritesOff = "off"
)

// FullPageWritesValues are the values --full-page-writes takes.
var FullPageWritesValues = []string{FullPageWritesOn, FullPageWritesOff}

// The bounds of the settings' flags.
const (
	SharedBuffersMin     = 16 // PostgreSQL's own minimum, 128kB of 8kB pages
	SharedBuffersMax     = 4096
	CheckpointTimeoutMin = time.Millisecond
	CheckpointTimeoutMax = time.Hour
	WALSegmentSizeMin    = wal.SegmentSizeMin
	WALSegmentSizeMax    = 16 << 20
	AutovacuumThreshMax  = 1 << 20
	// ArchiveTimeoutOff in Config.ArchiveTimeout is archive_timeout = 0,
	// PostgreSQL's default (0 there draws one from the seed).
	ArchiveTimeoutOff = -1
)

// fpwOffSeedsPer is how rarely the swarm turns full_page_writes off: one
// seed in fpwOffSeedsPer. Off, a power loss that tears a data page leaves
// it unrepairable (the run then passes only if its checksum reports it),
// so most seeds keep it on, where a torn page must be repaired.
const fpwOffSeedsPer = 4

// avEagerSeedsPer is how rarely the swarm lowers autovacuum's thresholds
// so far that its workers vacuum the workload's tables within a run: at
// PostgreSQL's defaults (50 dead tuples and a fifth of the table) a run of
// a few dozen transactions rarely gets there.
const avEagerSeedsPer = 3

// settingsDraw is what the swarm draws of the engine's settings, from a
// stream of its own.
type settingsDraw struct {
	fullPageWrites bool
	// avThreshold and avScaleFactor are autovacuum_vacuum_threshold and
	// autovacuum_vacuum_scale_factor (PostgreSQL's defaults unless the
	// seed draws eager ones).
	avThreshold   int
	avScaleFactor float64
	// archiveTimeout is archive_timeout (0: off, PostgreSQL's default).
	archiveTimeout time.Duration
	// deadlockTimeout is deadlock_timeout (0: resolveDB's, PostgreSQL's
	// 1s).
	deadlockTimeout time.Duration
}

// swarmSettings draws a seed's settings. The stream is its own, not the
// run's, so every other draw of a seed is what it was before these
// settings were drawn; each setting is drawn unconditionally, in a fixed
// order.
func swarmSettings(seed uint64) settingsDraw {
	rng := world.NewRand(seed ^ 0x73657474696e6773) // "settings"
	var s settingsDraw
	s.fullPageWrites = rng.Intn(fpwOffSeedsPer) != 0
	eager := rng.Intn(avEagerSeedsPer) == 0
	th := rng.Intn(11)
	sf := [...]float64{0, 0.01, 0.05, 0.1}[rng.Intn(4)]
	d := pgproc.DefaultAutovacuumConfig()
	s.avThreshold, s.avScaleFactor = d.VacuumThreshold, d.VacuumScaleFactor
	if eager {
		s.avThreshold, s.avScaleFactor = th, sf
	}
	base := archiveTimeoutBasesMs[rng.Intn(len(archiveTimeoutBasesMs))]
	at := time.Duration(base+rng.Intn(base)) * time.Millisecond
	if rng.Intn(archiveTimeoutSeedsPer) == 0 {
		s.archiveTimeout = at
	}
	dbase := deadlockTimeoutBasesMs[rng.Intn(len(deadlockTimeoutBasesMs))]
	dt := time.Duration(dbase+rng.Intn(dbase)) * time.Millisecond
	if rng.Intn(deadlockTimeoutSeedsPer) == 0 {
		s.deadlockTimeout = dt
	}
	return s
}

// deadlock_timeout, when the swarm lowers it (on one seed in
// deadlockTimeoutSeedsPer): 1 to 39 ms, spread over the scales. At
// PostgreSQL's 1s, longer than a whole run, a lock wait almost never
// outlasts it, and the deadlock check (CheckDeadLock) runs on 3 seeds in
// 1000; users lower it to see waits sooner, and the scaled-down run's
// waits last milliseconds.
const deadlockTimeoutSeedsPer = 3

var deadlockTimeoutBasesMs = [...]int{1, 2, 5, 10, 20}

// archive_timeout, when the swarm sets it (on one seed in
// archiveTimeoutSeedsPer): from 2 to 79 ms of virtual time, spread evenly
// over the scales (a base, then up to as much again), against runs of
// about 200 ms and checkpoint_timeouts of 2 to 61 ms. PostgreSQL's users
// set it from a few seconds to minutes against checkpoint_timeout's five:
// from a few forced segment switches a run to dozens, so that the archiver
// has segments to copy, and to fall behind on, although a run writes less
// than a segment.
const archiveTimeoutSeedsPer = 3

var archiveTimeoutBasesMs = [...]int{2, 5, 10, 20, 40}

// resolveSettings applies the seed's draws and the settings' flags to a
// resolved configuration: a flag wins over a draw, and without Swarm
// nothing is drawn (full_page_writes on, autovacuum at PostgreSQL's
// thresholds, the fixed timings of resolveDB).
func resolveSettings(c Config, r *resolved) {
	d := settingsDraw{fullPageWrites: true}
	av := pgproc.DefaultAutovacuumConfig()
	d.avThreshold, d.avScaleFactor = av.VacuumThreshold, av.VacuumScaleFactor
	if c.Swarm {
		d = swarmSettings(c.Seed)
	}
	switch c.FullPageWrites {
	case FullPageWritesOn:
		d.fullPageWrites = true
	case FullPageWritesOff:
		d.fullPageWrites = false
	}
	r.engine.FullPageWrites = d.fullPageWrites
	if c.AutovacuumThreshold != nil {
		d.avThreshold = *c.AutovacuumThreshold
	}
	if c.AutovacuumScaleFactor != nil {
		d.avScaleFactor = *c.AutovacuumScaleFactor
	}
	r.server.AutovacuumConf.VacuumThreshold = d.avThreshold
	r.server.AutovacuumConf.VacuumScaleFactor = d.avScaleFactor
	if d.deadlockTimeout != 0 {
		r.engine.DeadlockTimeout = d.deadlockTimeout
	}
	if c.DeadlockTimeout != 0 {
		r.engine.DeadlockTimeout = c.DeadlockTimeout
	}
	r.engine.ArchiveTimeout = d.archiveTimeout
	switch {
	case c.ArchiveTimeout == ArchiveTimeoutOff:
		r.engine.ArchiveTimeout = 0
	case c.ArchiveTimeout != 0:
		r.engine.ArchiveTimeout = c.ArchiveTimeout
	}
	if c.SharedBuffers != 0 {
		r.engine.SharedBuffers = c.SharedBuffers
	}
	if c.CheckpointTimeout != 0 {
		r.engine.CheckpointTimeout = c.CheckpointTimeout
	}
	if c.WALSegmentSize != 0 {
		r.engine.WAL.SegmentSize = c.WALSegmentSize
		r.engine.MaxWALSize = 4 * r.engine.WAL.SegmentSize // as resolveDB
		r.engine.MinWALSize = 2 * r.engine.WAL.SegmentSize
	}
	r.server.DB = r.engine
	r.server.Archiver.WAL = r.engine.WAL
}

// validSettings checks the settings' fields of c.
func validSettings(c Config) error {
	if c.FullPageWrites != "" && c.FullPageWrites != FullPageWritesOn && c.FullPageWrites != FullPageWritesOff {
		return fmt.Errorf("full_page_writes must be on or off, got %q", c.FullPageWrites)
	}
	if c.SharedBuffers != 0 && (c.SharedBuffers < SharedBuffersMin || c.SharedBuffers > SharedBuffersMax) {
		return fmt.Errorf("shared_buffers must be in [%d, %d] pages, got %d", SharedBuffersMin, SharedBuffersMax, c.SharedBuffers)
	}
	if c.CheckpointTimeout != 0 && (c.CheckpointTimeout < CheckpointTimeoutMin || c.CheckpointTimeout > CheckpointTimeoutMax) {
		return fmt.Errorf("checkpoint_timeout must be in [%v, %v], got %v", CheckpointTimeoutMin, CheckpointTimeoutMax, c.CheckpointTimeout)
	}
	if s := c.WALSegmentSize; s != 0 && (s < WALSegmentSizeMin || s > WALSegmentSizeMax || s&(s-1) != 0) {
		return fmt.Errorf("wal_segment_size must be a power of two in [%d, %d] bytes, got %d", WALSegmentSizeMin, WALSegmentSizeMax, s)
	}
	if c.ArchiveTimeout != 0 && c.ArchiveTimeout != ArchiveTimeoutOff && (c.ArchiveTimeout < CheckpointTimeoutMin || c.ArchiveTimeout > CheckpointTimeoutMax) {
		return fmt.Errorf("archive_timeout must be in [%v, %v], got %v", CheckpointTimeoutMin, CheckpointTimeoutMax, c.ArchiveTimeout)
	}
	if c.DeadlockTimeout != 0 && (c.DeadlockTimeout < CheckpointTimeoutMin || c.DeadlockTimeout > CheckpointTimeoutMax) {
		return fmt.Errorf("deadlock_timeout must be in [%v, %v], got %v", CheckpointTimeoutMin, CheckpointTimeoutMax, c.DeadlockTimeout)
	}
	if t := c.AutovacuumThreshold; t != nil && (*t < 0 || *t > AutovacuumThreshMax) {
		return fmt.Errorf("autovacuum_vacuum_threshold must be in [0, %d], got %d", AutovacuumThreshMax, *t)
	}
	if f := c.AutovacuumScaleFactor; f != nil && !(*f >= 0 && *f <= 100) {
		return fmt.Errorf("autovacuum_vacuum_scale_factor must be in [0, 100], got %v", *f)
	}
	return nil
}

// stringSettings is the settings' part of the configuration line.
func (r resolved) stringSettings() string {
	fpw := FullPageWritesOn
	if !r.engine.FullPageWrites {
		fpw = FullPageWritesOff
	}
	return fmt.Sprintf(" full_page_writes=%s archive_timeout=%v deadlock_timeout=%v autovacuum_vacuum_threshold=%d autovacuum_vacuum_scale_factor=%g",
		fpw, r.engine.ArchiveTimeout, r.engine.DeadlockTimeout, r.server.AutovacuumConf.VacuumThreshold, r.server.AutovacuumConf.VacuumScaleFactor)
}

// tornWithoutFPW describes the data files a power loss tore while
// full_page_writes was off ("" when it tore none, or when the setting is
// on): PostgreSQL cannot repair such a page, since no record holds an
// image of it, and promises only that its checksum reports it (the
// documentation of full_page_writes: "turning this parameter off ...
// might lead to unrecoverable data corruption"). A torn WAL segment is not
// listed: recovery ends at its first bad record, as with the setting on.
func tornWithoutFPW(engine db.Config, disk *world.SimDisk) string {
	if engine.FullPageWrites {
		return ""
	}
	var rels []string
	for _, p := range disk.TornByCrash() {
		if strings.HasPrefix(p, smgr.BaseDir+"/") {
			rels = append(rels, p)
		}
	}
	if len(rels) == 0 {
		return ""
	}
	return fmt.Sprintf("power loss tore a write of %s with full_page_writes=off", strings.Join(rels, ", "))
}

// tornPageDetected reports whether a failure is a page that failed
// verification when read (the buffer manager's "invalid page in"): what a
// torn page without an image must end in, never a wrong row.
func tornPageDetected(failure string) bool {
	return strings.Contains(failure, "invalid page in")
}

// noteTornWithoutFPW records a power loss that tore data pages while
// full_page_writes was off, for judgeBeyondLimits.
func (res *Result) noteTornWithoutFPW(engine db.Config, disk *world.SimDisk) {
	if why := tornWithoutFPW(engine, disk); why != "" {
		res.tornNoFPW = append(res.tornNoFPW, why)
	}
}
