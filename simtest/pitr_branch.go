package simtest

import (
	"encoding/binary"
	"fmt"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// A PITR across a timeline switch (pitrPlan.twice), PostgreSQL's
// documented use of timelines: the node the first PITR restored (now on
// timeline 2, which branched off at the cut) commits a few rows of its
// own, ends its segment and archives it, with its history file, into the
// same archive (archive_command on the shared archive). The archive then
// holds two versions of the cut's segment and of the segments after it:
// timeline 1's (the primary's) and timeline 2's. A second copy of the
// same base backup is restored from that archive to its end, with
// recovery_target_timeline = latest: it must find timeline 2's history
// in the archive and read each segment from the timeline that owns it
// (XLogFileReadAnyTLI over expectedTLEs), so that it holds the primary's
// commits before the cut and timeline 2's after it, exactly what a
// reference made from the same backup and the harness's own splice of
// the two timelines' WAL holds, and its new timeline 3 branches off
// timeline 2 at timeline 2's end.

// pitrBranchRows is how many rows timeline 2 commits, and pitrBranchKey
// the first key (above any key a workload writes).
const (
	pitrBranchRows = 4
	pitrBranchKey  = uint64(1) << 40
)

// pitrBranch is a PITR across a timeline switch in progress.
type pitrBranch struct {
	p      *pitrRun
	cut    wal.LSN     // where timeline 2 branched off timeline 1
	b2, r2 *world.Node // the second restore's node and its reference's
	grown  bool        // timeline 2 committed and was archived
	end    wal.LSN     // where timeline 2's archived WAL ends
	tli    uint32      // timeline 2's ID
}

// newBranch makes the second restore's two copies of the backup, before
// the first restore changes it.
func (p *pitrRun) newBranch(cut wal.LSN) *pitrBranch {
	b := &pitrBranch{p: p, cut: cut}
	for i, name := range []string{"pitr2", "pitr2-ref"} {
		n := p.primary.NewPeer(name, world.NewRand(p.rc.Seed^pitrStream).Fork(uint64(10+i)), 0)
		n.FixedClass = fixedFileClass
		n.Env.Points = nil
		n.Disk.CopyQuiescent(p.backup.node.Disk)
		if i == 0 {
			b.b2 = n
		} else {
			b.r2 = n
		}
	}
	return b
}

// grow is timeline 2's life on the first restore's node d: a few
// commits into the first table, pg_switch_wal, and archive_command for
// its completed segments and its history file.
func (b *pitrBranch) grow(d *db.DB, tables []string) error {
	if len(tables) == 0 {
		return nil
	}
	e, pe := d.Env(), b.p.primary.Env
	s, err := d.Connect()
	if err != nil {
		return err
	}
	for i := uint64(0); i < pitrBranchRows; i++ {
		val := make([]byte, 16)
		binary.LittleEndian.PutUint64(val, pitrBranchKey+i)
		if err := s.Begin(db.ReadCommitted); err != nil {
			s.Close()
			return err
		}
		if err := s.Insert(tables[0], pitrBranchKey+i, val); err != nil {
			s.Close()
			return err
		}
		if err := s.Commit(); err != nil {
			s.Close()
			return err
		}
	}
	s.Close()
	end, _ := d.WAL.SwitchSegment()
	d.WAL.Flush(end)
	cfg := d.WAL.Config()
	tli := d.TimeLineID()
	segSize := uint64(cfg.SegmentSize)
	for seg := uint64(b.cut) / segSize; seg < uint64(end)/segSize; seg++ { // the branch's segments
		name := wal.SegmentNameTLI(cfg, tli, seg)
		if ok, err := copyAcross(e, pe, wal.Dir+"/"+name, archiveDir+"/"+name); err != nil || !ok {
			return fmt.Errorf("archiving %s: %v (found: %v)", name, err, ok)
		}
	}
	hist := fmt.Sprintf("%08X.history", tli)
	if ok, err := copyAcross(e, pe, db.HistoryPath(tli), archiveDir+"/"+hist); err != nil || !ok {
		return fmt.Errorf("archiving %s: %v (found: %v)", hist, err, ok)
	}
	if err := pe.Disk.SyncDir(archiveDir); err != nil {
		return err
	}
	b.grown, b.end, b.tli = true, end, tli
	return nil
}

// restore is the second restore and its judgement: the reference (the
// primary's WAL before the cut, timeline 2's archived WAL after it,
// spliced under timeline 1's names and opened by crash recovery) and
// the PITR to the end of the archive.
func (b *pitrBranch) restore(res *Result, sim *world.Sim, segs map[uint64][]byte, seg uint64, dbCfg db.Config) {
	p := b.p
	cfg := p.rc.engine.WAL
	segSize := uint64(cfg.SegmentSize)
	what := fmt.Sprintf("the end of the archive across timeline %d, which branched off at %s", b.tli, b.cut)
	want := map[string][]pgproc.Row{}
	var tables []string
	var refErr error
	sim.SpawnAs(env.RoleStartup, "pitr2 reference", func() {
		e := b.r2.Env
		if err := e.Disk.Remove(db.RecoverySignalPath); err != nil {
			refErr = err
			return
		}
		for s := seg; s < uint64(b.end)/segSize; s++ {
			content := segs[s]
			if s >= uint64(b.cut)/segSize {
				cur, _, ok := p.primary.Disk.Contents(archiveDir + "/" + wal.SegmentNameTLI(cfg, b.tli, s))
				if !ok {
					refErr = fmt.Errorf("timeline %d's segment %d is not in the archive", b.tli, s)
					return
				}
				content = cur
			}
			if err := writeDurable(e, wal.SegmentPath(cfg, s), content); err != nil {
				refErr = err
				return
			}
		}
		if err := e.Disk.SyncDir(wal.Dir); err != nil {
			refErr = err
			return
		}
		d, err := db.NewShared(e, dbCfg)
		if err == nil {
			_, err = d.StartupXLOG(db.RegisterAccessMethods, false)
		}
		if err != nil {
			refErr = err
			return
		}
		tables = d.Tables()
		for _, name := range tables {
			rows, err := tableRows(d, name)
			if err != nil {
				refErr = err
				return
			}
			want[name] = rows
		}
	})
	if st := sim.Run(); st.Kind != world.StopAllDone || refErr != nil {
		sim.KillAll()
		res.found(Finding{Checker: CheckPITR, Node: b.r2.Name, Detail: fmt.Sprint(refErr, " ", st)})
		res.fail(CheckPITR, "the reference recovery of the base backup to %s failed: %v (%s)", what, refErr, st)
		return
	}
	sim.KillAll()

	pe := p.primary.Env
	pcfg := dbCfg
	pcfg.PITR = &db.PITRConfig{Target: db.TargetNone, Action: db.ActionPromote,
		Restore: func(e *env.Env, file, dst string) (bool, error) { return copyAcross(pe, e, archiveDir+"/"+file, dst) }}
	var openErr error
	sim.SpawnAs(env.RoleStartup, "pitr2 startup", func() {
		e := b.b2.Env
		if err := p.copyUnarchived(e, segs, seg); err != nil {
			openErr = err
			return
		}
		d, err := db.NewShared(e, pcfg)
		if err == nil {
			_, err = d.StartupXLOG(db.RegisterAccessMethods, false)
		}
		if err != nil {
			openErr = err
			return
		}
		if why := pitrSwitchPoint(e, d.TimeLineID(), []uint32{1, b.tli}, []wal.LSN{b.cut, b.end}); why != "" {
			res.found(Finding{Checker: CheckPITR, Node: b.b2.Name, Detail: why})
			res.fail(CheckPITR, "restored to %s, the WAL should end at %s: %s", what, b.end, why)
			return
		}
		if judgeRestored(res, d, b.b2.Name, what, tables, want) {
			res.PITR += fmt.Sprintf("; then restored again to %s: equal", what)
		}
	})
	st := sim.Run()
	sim.KillAll()
	if openErr != nil || st.Kind != world.StopAllDone {
		detail := fmt.Sprint(openErr)
		if openErr == nil {
			detail = st.String()
		}
		res.found(Finding{Checker: CheckPITR, Node: b.b2.Name, Detail: detail})
		res.fail(CheckPITR, "restoring the base backup to %s failed: %s", what, detail)
	}
}
