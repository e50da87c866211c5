package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// Point-in-time recovery across a failover (issue 19): on a seed that
// draws both (resolvePITR), the base backup of the old primary taken
// during the workload is restored, after the new primary's final
// recovery, from the archive both primaries archived into, with
// recovery_target_timeline = latest, to a target drawn on the new
// timeline (a commit after the switch point when there is one). The
// restore must find the new timeline's history file in the archive
// (writeTimeLineHistory archived it at the promotion), follow it past the
// switch point (XLogFileReadAnyTLI: the switch segment from the new
// timeline's copy, never the old one's, which the promoted node archived
// as .partial, nor the complete one the old primary may have archived
// with WAL the new timeline never had) and stop at the target.
//
// The shared archive. PostgreSQL's archive is storage both servers'
// archive_command reach (a third machine, an object store, NFS). Here it
// stays where every run keeps it, the archive directory on the disk of
// the old primary's machine, n1, which the promoted standby's archiver
// writes into as into a mounted share (pgproc.ArchiverConfig.ArchiveDisk):
// n1's power loss at the failover drops what n1 had not fsynced there, as
// ever, but the disk stays reachable, and the new primary's power loss at
// the end drops what it had not fsynced there (an NFS client's unflushed
// writes). The shortcut: a real shared archive does not lose power with
// the old primary; keeping it on n1's disk leaves every run, and every
// failover run up to its failover, archiving exactly as before.
//
// What the harness does as the DBA: the new primary's archiver gets one
// pass after its final recovery (failover.final: the restarted server
// archives what is .ready), and the segments the archive still lacks are
// copied into the restored node's pg_wal (its last, unfinished segment;
// old-timeline segments the old primary never archived), never a
// history file: the new timeline must come from the archive.
//
// The checker is CheckPITR's (pitr.go): the reference is the same backup
// with the WAL of the primaries' commit order across the failover, the
// old primary's WAL (its pg_wal, else the archive, else the promoted
// node's copy) before the switch segment and the new primary's timeline
// after it (its pg_wal, else the archive), laid out under timeline 1's
// names, cut at the target and opened by crash recovery; the restored
// node must hold exactly its tables and rows, and its new timeline's
// history must name the old timeline with the failover's switch point and
// the new one with the cut.

// restoreAcrossFailover is the PITR of a run that failed over.
func (p *pitrRun) restoreAcrossFailover(res *Result, sim *world.Sim, f *failover) {
	if p == nil {
		return
	}
	for _, n := range p.notes {
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "pitr: " + n})
	}
	switch {
	case !p.ready:
		res.PITR = "no base backup was made"
		return
	case !f.done || !f.recovered || f.switchAt == wal.InvalidLSN || f.newTLI <= f.oldTLI:
		res.PITR = "the failover did not end with a known switch point and a recovered new primary: no PITR across it"
		return
	}
	if f.archived != "" {
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "pitr: the new primary's archiver: " + f.archived})
	}
	cfg := p.rc.engine.WAL
	segSize := uint64(cfg.SegmentSize)
	seg := uint64(p.backup.start) / segSize
	switchSeg := uint64(f.switchAt) / segSize
	if seg > switchSeg {
		res.PITR = fmt.Sprintf("the base backup starts at %s, after the failover's switch point %s: nothing to restore across it", p.backup.start, f.switchAt)
		return
	}
	segs, tliOf := p.failoverWAL(f, seg, switchSeg)
	first := res.Finding == nil
	p.restoreFrom(res, sim, pitrSource{segs: segs, seg: seg, tlis: []uint32{f.oldTLI, f.newTLI}, switches: []wal.LSN{f.switchAt}, prefer: f.switchAt,
		copyIn: func(e *env.Env) error {
			for s := seg; segs[s] != nil; s++ { // bounded by the segments read
				name := wal.SegmentNameTLI(cfg, tliOf[s], s)
				if _, _, archived := p.primary.Disk.Contents(archiveDir + "/" + name); archived {
					continue
				}
				if err := writeDurable(e, wal.Dir+"/"+name, segs[s]); err != nil {
					return err
				}
			}
			return e.Disk.SyncDir(wal.Dir)
		}})
	if res.PITR != "" {
		res.PITR = fmt.Sprintf("across the failover (timeline %d from %s): %s", f.newTLI, f.switchAt, res.PITR)
	}
	if first && res.Finding != nil && res.Finding.Checker == CheckPITR {
		// explain tells a restore across a failover by this prefix.
		res.Finding.Detail = fmt.Sprintf("%s timeline %d from %s: %s", PITRAcrossFailover, f.newTLI, f.switchAt, res.Finding.Detail)
	}
}

// PITRAcrossFailover starts the Detail of a CheckPITR finding of a
// restore across a failover.
const PITRAcrossFailover = "across the failover to"

// failoverWAL is the commit order's WAL across the failover, segment by
// segment from seg on: before the switch segment the old timeline's (the
// old primary's pg_wal, else the archive, else the promoted node's
// pg_wal), from it on the new timeline's (the new primary's pg_wal, else
// the archive). It stops at the first segment none has, and says which
// timeline each segment is of.
func (p *pitrRun) failoverWAL(f *failover, seg, switchSeg uint64) (map[uint64][]byte, map[uint64]uint32) {
	cfg := p.rc.engine.WAL
	out, tliOf := map[uint64][]byte{}, map[uint64]uint32{}
	for s := seg; ; s++ { // bounded by the segments the primaries wrote
		tli := f.newTLI
		disks := []*world.SimDisk{f.sb.node.Disk}
		if s < switchSeg {
			tli = f.oldTLI
			disks = []*world.SimDisk{f.primary.Disk, nil, f.sb.node.Disk}
		}
		name := wal.SegmentNameTLI(cfg, tli, s)
		var cur []byte
		ok := false
		for _, d := range append(disks, nil) {
			if d == nil {
				cur, _, ok = f.primary.Disk.Contents(archiveDir + "/" + name)
			} else {
				cur, _, ok = d.Contents(wal.Dir + "/" + name)
			}
			if ok {
				break
			}
		}
		if !ok {
			return out, tliOf
		}
		out[s], tliOf[s] = append([]byte(nil), cur...), tli
	}
}
