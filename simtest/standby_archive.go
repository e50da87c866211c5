package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// The archive as the standbys' WAL source (engine/db/standby_archive.go):
// on seeds whose primary archives (archive_mode on) and that have
// standbys and no failover, the standbys are given restore_command,
// reading the primary's archive as the PITR's restore does, and on some
// of them the primary's wal_keep_size is small (none, or one or two
// segments) instead of 1 GiB, so that a standby a partition or a restart
// left behind finds its segment removed ("requested WAL segment ... has
// already been removed"), restores it from the archive, and then streams
// again. The standby checker judges the result: every standby catches up
// and holds the primary's rows.

// standbyArchiveStream is the stream of these draws, so that no other
// draw of a seed moves.
const standbyArchiveStream = 0x7362617263687372 // "sbarchsr"

// standbyArchivePlan is the run's draw: restore_command on the standbys,
// and wal_keep_size in segments when small (-1: left at 1 GiB).
type standbyArchivePlan struct {
	on           bool
	keepSegments int
}

func (c Config) validateStandbyArchive() error {
	return validateOnOff("standby archive", c.StandbyArchive)
}

// resolveStandbyArchive draws the plan: pinned by StandbyArchive (on
// needs standbys and archive_mode, which it turns on), else on three
// seeds in four of those that archive, with standbys and no failover,
// under Swarm. Half of them get a small wal_keep_size.
func resolveStandbyArchive(c Config, r *resolved) {
	if r.standbys == 0 || r.failover.on {
		return
	}
	rng := world.NewRand(c.Seed ^ standbyArchiveStream)
	on := c.Swarm && r.server.ArchiveMode && rng.Intn(4) != 0
	switch c.StandbyArchive {
	case VarietyOn:
		on = true
	case VarietyOff:
		on = false
	}
	if !on {
		return
	}
	r.standbyArchive = standbyArchivePlan{on: true, keepSegments: -1}
	if rng.Intn(2) == 0 {
		r.standbyArchive.keepSegments = rng.Intn(3)
		r.engine.WALKeepSize = int64(r.standbyArchive.keepSegments) * r.engine.WAL.SegmentSize
	}
	r.engine.WAL.ArchiveMode = true
	r.server.ArchiveMode = true
	r.server.Archiver.WAL = r.engine.WAL
}

// StandbyArchiveOf reports whether c's run gives its standbys
// restore_command, as resolve decides.
func StandbyArchiveOf(c Config) bool {
	return resolve(c, world.NewRand(c.Seed).Fork(3)).standbyArchive.on
}

func (r resolved) stringStandbyArchive() string {
	if !r.standbyArchive.on {
		return ""
	}
	return fmt.Sprintf(" standby_restore=on wal_keep_segments=%d", r.standbyArchive.keepSegments)
}

// standbyRestoreConfig gives a standby restore_command: a copy from the
// primary's archive, as the PITR's restore reads it.
func (s *standbySet) standbyRestoreConfig(cfg *db.Config) {
	if !s.rc.standbyArchive.on {
		return
	}
	pe := s.primary.Env
	cfg.PITR = &db.PITRConfig{Restore: func(e *env.Env, file, dst string) (bool, error) {
		return copyAcross(pe, e, archiveDir+"/"+file, dst)
	}}
}
