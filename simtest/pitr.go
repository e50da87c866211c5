package simtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// Point-in-time recovery (issue 19): on a seed that draws it, a base
// backup of the running primary is taken into a node of its own ("pitr")
// while the workload runs, with recovery.signal in place of
// standby.signal. After the run (the primary's final recovery), a
// recovery target is drawn among the commits the primary's WAL holds
// after the backup's end (recovery_target_lsn, recovery_target_xid or
// recovery_target_time, inclusive or not, action pause or promote), and
// the backup is
// restored to it: the engine's startup process restores the primary's
// archived segments with restore_command (a simulated command that
// copies archive/<file> from the primary's disk, where the archiver
// keeps the archive) and reads the unarchived tail from its own pg_wal,
// into which the harness copied the primary's unarchived segments, as a
// DBA does before a PITR.
//
// The checker (CheckPITR) judges the restored node against a reference
// made without any of the machinery under test: a second copy of the same
// backup whose pg_wal the harness fills with the primary's own WAL (its
// pg_wal's segments, else the archive's) cut exactly where the target
// says (after the target's record if inclusive, before it if not), and
// opened by plain crash recovery. Crash recovery over a WAL that ends at
// the cut holds exactly the effects of the transactions whose commit
// records lie before the cut: that is the commit order of the primary's
// WAL, exact whatever the clients learned (a transaction of unknown
// outcome is in or out by its commit record). The restored node must
// reach its target, hold exactly the reference's tables and rows, and
// pass the engine's self-check.
//
// A time target is drawn from the commit times the primary stamped in
// its commit records (xact_time): a commit after the backup's end is
// picked, and the target is its very microsecond, the microsecond
// before it, or halfway back to the transaction end before it. The cut
// is then worked out here, apart from the engine's recoveryStopsBefore:
// before the first commit or abort record from the backup's start on
// whose xact_time is past the target (inclusive) or at or past it (not
// inclusive), in WAL order. The restored node must hold exactly the
// commits before that record, so a restore to a time target yields
// exactly the transactions stamped before it (up to the first one
// stamped past it). Under the simulator many transactions share a
// microsecond (virtual time stands still while processes run), so the
// inclusive boundary is met often. A target whose cut would fall before
// the backup's end (recovery would refuse it as before the consistent
// point) is passed over for the next commit's.
//
// A shortfall of the archive (a segment
// missing or emptied) shows as a restore that ends before its target or
// holds fewer rows.
//
// A run that also fails over restores across the failover instead
// (pitr_failover.go).
//
// Deviations: the target is drawn after the run, not before the restore
// is configured by an operator who knows it; the shutdown action is not
// modelled (archive_recovery.go).

// CheckPITR judges point-in-time recovery (pitr.go).
const CheckPITR = "pitr"

// pitrSeedsPer: one archive_mode seed in pitrSeedsPer draws a PITR under
// the swarm (about one seed in 32: a PITR run costs a base backup and two
// recoveries more).
const pitrSeedsPer = 16

// pitrFailoverSeedsPer: of the archive_mode seeds that fail over, one in
// pitrFailoverSeedsPer draws a PITR across the failover, so that the
// plain campaign's few failover seeds reach it.
const pitrFailoverSeedsPer = 1

// pitrDrawStream keys the swarm's PITR draw ("pitrdraw"), pitrStream the
// PITR's own draws ("pitrplan").
const (
	pitrDrawStream = 0x7069747264726177
	pitrStream     = 0x70697472706c616e
)

// pitrBackupAtMax bounds when the base backup starts, after the
// workload does (a crash of the primary ends the workload, and a backup
// it interrupts is not made).
const pitrBackupAtMax = 10 * time.Millisecond

// pitrBackupAttempts bounds the base backup's attempts, and
// pitrBackupRetryWait is the pause between two.
const (
	pitrBackupAttempts  = 4
	pitrBackupRetryWait = 5 * time.Millisecond
)

// wipeTree removes every file under dir on e's disk (directories stay,
// empty) and fsyncs each directory, so that a failed backup leaves
// nothing a new attempt could mistake for its own.
func wipeTree(e *env.Env, dir string, depth int) error {
	if depth > 8 {
		return fmt.Errorf("directory tree deeper than 8 at %q", dir)
	}
	names, err := e.Disk.List(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		path := name
		if dir != "" {
			path = dir + "/" + name
		}
		if _, err := e.Disk.List(path); err == nil {
			if err := wipeTree(e, path, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := e.Disk.Remove(path); err != nil && !errors.Is(err, env.ErrNotExist) {
			return err
		}
	}
	return e.Disk.SyncDir(dir)
}

// pitrPlan is a run's PITR (resolvePITR).
type pitrPlan struct {
	on        bool
	backupAt  time.Duration // when the base backup starts
	kind      int           // db.TargetLSN, db.TargetXid, db.TargetTime or db.TargetNone
	inclusive bool
	action    int    // db.ActionPause or db.ActionPromote
	pick      uint32 // which commit after the backup's end (modulo their count)
	mid       bool   // an LSN target just after the start of the record before the commit
	// timeAt is a time target's place: the picked commit's xact_time
	// (0), the microsecond before it (1), or halfway back to the
	// transaction end before it in the WAL (2).
	timeAt int
	// twice: the restored node then commits a few rows on its new
	// timeline and archives it, and a second copy of the backup is
	// restored to the end of the archive, across the timeline switch
	// (pitrBranch).
	twice bool
}

func (c Config) validatePITR() error {
	switch c.PITR {
	case "", VarietyOn, VarietyOff:
	default:
		return fmt.Errorf("pitr must be on or off, got %q", c.PITR)
	}
	return nil
}

// resolvePITR draws the PITR: pinned by PITR, else on one archive_mode
// seed in pitrSeedsPer under Swarm, and on one in pitrFailoverSeedsPer of
// those that fail over (a PITR across the failover, pitr_failover.go). A
// PITR run has archive_mode on (the archive is what it restores from).
func resolvePITR(c Config, r *resolved) {
	on := false
	switch c.PITR {
	case VarietyOn:
		on = true
	case VarietyOff:
	default:
		per := pitrSeedsPer
		if r.failover.on {
			per = pitrFailoverSeedsPer
		}
		on = c.Swarm && r.server.ArchiveMode && world.NewRand(c.Seed^pitrDrawStream).Intn(per) == 0
	}
	if !on {
		return
	}
	rng := world.NewRand(c.Seed ^ pitrStream)
	r.pitr = pitrPlan{on: true, backupAt: time.Duration(rng.Intn(int(pitrBackupAtMax/time.Millisecond))) * time.Millisecond,
		kind: []int{db.TargetLSN, db.TargetLSN, db.TargetXid, db.TargetXid, db.TargetTime, db.TargetTime, db.TargetTime, db.TargetNone}[rng.Intn(8)], inclusive: rng.Intn(3) != 0,
		action: []int{db.ActionPause, db.ActionPromote}[rng.Intn(2)], pick: uint32(rng.Intn(1 << 30)), mid: rng.Intn(2) == 0}
	r.pitr.twice = rng.Intn(2) == 0 && !r.failover.on
	// Half of the time targets are a commit's very microsecond, where
	// inclusive and exclusive part.
	r.pitr.timeAt = max(rng.Intn(4)-1, 0)
	r.engine.WAL.ArchiveMode = true
	r.server.ArchiveMode = true
	r.server.Archiver.WAL = r.engine.WAL
}

// PITROf reports whether c's run restores a base backup to a point in
// time, as resolve decides.
func PITROf(c Config) bool { return resolve(c, world.NewRand(c.Seed).Fork(3)).pitr.on }

// pitrKindName names a target kind in the run's config line.
var pitrKindName = map[int]string{db.TargetLSN: "lsn", db.TargetXid: "xid", db.TargetTime: "time", db.TargetNone: "end"}

func (r resolved) stringPITR() string {
	if !r.pitr.on {
		return "" // runs without it print, and hash, as before
	}
	kind := pitrKindName[r.pitr.kind]
	if r.pitr.kind == db.TargetTime {
		kind += []string{"@commit", "@commit-1us", "@halfway"}[r.pitr.timeAt]
	}
	return fmt.Sprintf(" pitr=%v/%s/%v/%d/twice=%v", r.pitr.backupAt, kind, map[bool]string{true: "inclusive", false: "exclusive"}[r.pitr.inclusive], r.pitr.action, r.pitr.twice)
}

// pitrRun is a run's PITR in progress.
type pitrRun struct {
	rc      resolved
	primary *world.Node
	backup  *standby // the backup's node (a standby that never starts)
	// ready says the backup was made and its signal file is
	// recovery.signal, durably.
	ready bool
	notes []string
}

// startPITR spawns the base backup, which starts at the plan's moment.
func startPITR(rc resolved, sim *world.Sim, primary *world.Node, l *pgproc.Listener) *pitrRun {
	if !rc.pitr.on {
		return nil
	}
	n := primary.NewPeer("pitr", world.NewRand(rc.Seed^pitrStream).Fork(1), 0)
	n.FixedClass = fixedFileClass
	n.Env.Points = nil // the fault plan and the online checkers aim at the primary
	p := &pitrRun{rc: rc, primary: primary, backup: &standby{node: n}}
	sim.SpawnAs(env.RoleOther, "pg_basebackup pitr", func() {
		e := primary.Env
		if rc.pitr.backupAt > 0 {
			e.Clock.Sleep(rc.pitr.backupAt)
		}
		s := &standbySet{rc: rc, primary: primary}
		// A backup that fails (the primary's crash-restart ends its
		// session) is taken again, as an operator would, onto a wiped
		// directory.
		for attempt := 1; ; attempt++ {
			err := s.baseBackup(p.backup, l)
			if err == nil {
				break
			}
			p.notes = append(p.notes, fmt.Sprintf("base backup, attempt %d: %v", attempt, err))
			if attempt == pitrBackupAttempts {
				return
			}
			if err := wipeTree(n.Env, "", 0); err != nil {
				p.notes = append(p.notes, fmt.Sprintf("wiping the failed backup: %v", err))
				return
			}
			e.Clock.Sleep(pitrBackupRetryWait)
		}
		// A targeted recovery, not a standby: recovery.signal.
		d := n.Env
		if err := d.Disk.Remove(db.StandbySignalPath); err != nil {
			panic(fmt.Sprintf("simtest: pitr: %v", err))
		}
		if err := writeDurable(d, db.RecoverySignalPath, nil); err != nil {
			panic(fmt.Sprintf("simtest: pitr: %v", err))
		}
		if err := d.Disk.SyncDir(""); err != nil {
			panic(fmt.Sprintf("simtest: pitr: %v", err))
		}
		p.ready = true
	})
	return p
}

// pitrRecord is a commit or abort record of the primary's WAL, which a
// target may name or a time target stop before.
type pitrRecord struct {
	lsn, end, prev wal.LSN
	xid            uint64
	commit         bool
	timeUS         int64 // xact_time, as the primary stamped it
	// afterEnd: the record follows the backup's XLOG_BACKUP_END, so
	// recovery is consistent when it reaches it.
	afterEnd bool
}

// primaryWAL is the primary's WAL after its final recovery, segment by
// segment from seg on: pg_wal's copy where it still has the segment,
// else the archive's. It stops at the first segment neither has.
func (p *pitrRun) primaryWAL(seg uint64) map[uint64][]byte {
	cfg := p.rc.engine.WAL
	out := map[uint64][]byte{}
	for s := seg; ; s++ { // bounded by the segments the primary wrote
		cur, _, ok := p.primary.Disk.Contents(wal.SegmentPath(cfg, s))
		if !ok {
			cur, _, ok = p.primary.Disk.Contents(archiveDir + "/" + wal.SegmentName(cfg, s))
		}
		if !ok {
			return out
		}
		out[s] = append([]byte(nil), cur...)
	}
}

// xactEndsAfterBackup reads the segments' records from seg on and returns
// the commit and abort records from start (the backup's start, where its
// recovery begins) on, those after the XLOG_BACKUP_END of the backup
// that started at start marked afterEnd, and where the WAL ends
// (InvalidLSN if it ends before that record).
func (p *pitrRun) xactEndsAfterBackup(segs map[uint64][]byte, seg uint64, start wal.LSN) (out []pitrRecord, walEnd wal.LSN) {
	cfg := p.rc.engine.WAL
	ended := false
	defer func() {
		if !ended {
			walEnd = wal.InvalidLSN
		}
	}()
	if segs[seg] == nil {
		return nil, wal.InvalidLSN
	}
	first, ok := wal.FirstRecordInSegment(cfg, seg, segs[seg])
	if !ok {
		return nil, first
	}
	// Read as recovery reads (page headers, continuation records, CRCs),
	// from the first record that starts in seg.
	r, err := wal.NewMemReader(cfg, func(s uint64) []byte { return segs[s] }, first, wal.InvalidLSN)
	if err != nil {
		return nil, first
	}
	defer r.Close()
	for i := 0; ; i++ { // bounded by the segments' bytes
		if i > len(segs)*int(cfg.SegmentSize) {
			panic("simtest: pitr: the WAL does not end")
		}
		rec, ok, err := r.Next()
		if err != nil || !ok {
			// The WAL ends after the last record read: at the start of
			// a segment after a switch record that ended the last one
			// read (wal.Reader.Next), or where the records stop.
			return out, r.End()
		}
		switch {
		case rec.Rmid == wal.RMXLog && rec.Info == db.InfoBackupEnd && len(rec.Payload) == 8 && wal.LSN(binary.LittleEndian.Uint64(rec.Payload)) == start:
			ended = true
		case rec.LSN >= start && rec.Rmid == xact.RMXact && (rec.Info == xact.InfoCommit || rec.Info == xact.InfoAbort):
			x, err := xact.DecodeXactRecord(rec.Payload)
			if err != nil {
				panic(fmt.Sprintf("simtest: pitr: the primary's xact record at %s: %v", rec.LSN, err))
			}
			out = append(out, pitrRecord{lsn: rec.LSN, end: r.End(), prev: rec.Prev, xid: uint64(x.Xid),
				commit: rec.Info == xact.InfoCommit, timeUS: x.TimeUS, afterEnd: ended})
		}
	}
}

// restore is the PITR and its checker, after the primary's final
// recovery.
func (p *pitrRun) restore(res *Result, sim *world.Sim) {
	if p == nil {
		return
	}
	for _, n := range p.notes {
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "pitr: " + n})
	}
	if !p.ready {
		res.PITR = "no base backup was made"
		return
	}
	cfg := p.rc.engine.WAL
	seg := uint64(p.backup.start) / uint64(cfg.SegmentSize)
	segs := p.primaryWAL(seg)
	p.restoreFrom(res, sim, pitrSource{segs: segs, seg: seg, tlis: []uint32{1}, prefer: wal.InvalidLSN, branch: true,
		copyIn: func(e *env.Env) error { return p.copyUnarchived(e, segs, seg) }})
}

// pitrSource is the WAL a PITR restores and is judged against: segs, the
// reference's WAL from segment seg on under timeline 1's names (the
// primary's, or, across a failover, the old timeline's spliced with the
// new one's at the switch point); copyIn, the DBA's copy of what the
// archive lacks into the restored node's pg_wal; tlis and switches, the
// history the restored node's new timeline must name before the timeline
// it stopped on (whose switch point is the cut); prefer, when valid, the
// LSN past which the target is drawn if any commit lies there; branch,
// whether the plan's second restore across a timeline switch may run.
type pitrSource struct {
	segs     map[uint64][]byte
	seg      uint64
	copyIn   func(e *env.Env) error
	tlis     []uint32
	switches []wal.LSN
	prefer   wal.LSN
	branch   bool
}

// restoreFrom is the PITR of the base backup and its judgement, from src.
func (p *pitrRun) restoreFrom(res *Result, sim *world.Sim, src pitrSource) {
	cfg := p.rc.engine.WAL
	segs, seg := src.segs, src.seg
	ends, walEnd := p.xactEndsAfterBackup(segs, seg, p.backup.start)
	var commits []pitrRecord
	for _, r := range ends {
		if r.commit && r.afterEnd {
			commits = append(commits, r)
		}
	}
	if walEnd == wal.InvalidLSN || len(commits) == 0 && p.rc.pitr.kind != db.TargetNone {
		res.PITR = "no commit after the base backup's end to restore to"
		return
	}
	if src.prefer != wal.InvalidLSN {
		var later []pitrRecord
		for _, c := range commits {
			if c.lsn >= src.prefer {
				later = append(later, c)
			}
		}
		if len(later) > 0 {
			commits = later
		}
	}
	if !p.backup.node.Disk.Quiescent() {
		panic("simtest: pitr: the backup's disk has unsynced operations")
	}
	plan := p.rc.pitr
	target := &db.PITRConfig{Target: plan.kind, Inclusive: plan.inclusive, Action: plan.action}
	var c pitrRecord
	cut, what := walEnd, "the end of the archived WAL"
	switch plan.kind {
	case db.TargetTime:
		at, stop, ok := pitrTimeTarget(ends, commits, plan)
		if !ok {
			res.PITR = "no time target after the base backup's end to restore to"
			return
		}
		target.TimeUS, cut = at, stop.lsn
		what = fmt.Sprintf("%s time %s (the first transaction end past it: %s of transaction %d at %s, %s)", map[bool]string{true: "inclusive", false: "exclusive"}[plan.inclusive],
			xact.FormatTimestamp(at), map[bool]string{true: "commit", false: "abort"}[stop.commit], stop.xid, stop.lsn, xact.FormatTimestamp(stop.timeUS))
	case db.TargetLSN, db.TargetXid:
		c = commits[int(plan.pick%uint32(len(commits)))]
		target.Xid, target.LSN = xact.XID(c.xid), c.lsn
		if plan.kind == db.TargetLSN && plan.mid && c.prev != wal.InvalidLSN {
			target.LSN = c.prev + 1 // the first record at or past it is the commit
		}
		cut = c.lsn
		if plan.inclusive {
			cut = c.end
		}
		what = fmt.Sprintf("%s %s", map[bool]string{true: "after", false: "before"}[plan.inclusive], map[int]string{db.TargetLSN: "LSN " + target.LSN.String(), db.TargetXid: fmt.Sprintf("transaction %d", c.xid)}[plan.kind])
	}
	if src.prefer != wal.InvalidLSN && cut > src.prefer {
		what += " on the new timeline"
	}
	if plan.kind == db.TargetTime {
		// explain tells a restore to a time target by this prefix
		// (after PITRAcrossFailover's, when both apply).
		first := res.Finding == nil
		defer func() {
			if first && res.Finding != nil && res.Finding.Checker == CheckPITR {
				res.Finding.Detail = fmt.Sprintf("%s %s (%s): %s", PITRTimeTarget, xact.FormatTimestamp(target.TimeUS), map[bool]string{true: "inclusive", false: "exclusive"}[plan.inclusive], res.Finding.Detail)
			}
		}()
	}

	// The reference: the same backup, the primary's WAL cut at the
	// target, crash recovery.
	ref := p.primary.NewPeer("pitr-ref", world.NewRand(p.rc.Seed^pitrStream).Fork(2), 0)
	ref.FixedClass = fixedFileClass
	ref.Env.Points = nil
	ref.Disk.CopyQuiescent(p.backup.node.Disk)
	dbCfg := p.rc.server.DB
	dbCfg.ArchiveRecovery, dbCfg.WAL.ArchiveMode = true, false
	want := map[string][]pgproc.Row{}
	var tables []string
	var refErr error
	sim.SpawnAs(env.RoleStartup, "pitr reference", func() {
		e := ref.Env
		if err := e.Disk.Remove(db.RecoverySignalPath); err != nil {
			refErr = err
			return
		}
		last := uint64(cut) / uint64(cfg.SegmentSize)
		for s := seg; s <= last && segs[s] != nil; s++ {
			b := segs[s]
			if s == last {
				b = b[:min(len(b), int(uint64(cut)%uint64(cfg.SegmentSize)))]
			}
			if err := writeDurable(e, wal.SegmentPath(cfg, s), b); err != nil {
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
		res.found(Finding{Checker: CheckPITR, Node: ref.Name, Detail: fmt.Sprint(refErr, " ", st)})
		res.fail(CheckPITR, "the reference recovery of the base backup to %s failed: %v (%s)", what, refErr, st)
		return
	}
	sim.KillAll()

	// The PITR: restore_command reads the primary's archive.
	pe := p.primary.Env
	restore := func(e *env.Env, file, dst string) (bool, error) {
		return copyAcross(pe, e, archiveDir+"/"+file, dst)
	}
	target.Restore = restore
	pcfg := dbCfg
	pcfg.PITR = target
	n := p.backup.node
	var br *pitrBranch
	if plan.twice && src.branch {
		br = p.newBranch(cut)
	}
	var openErr error
	sim.SpawnAs(env.RoleStartup, "pitr startup", func() {
		e := n.Env
		if err := src.copyIn(e); err != nil {
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
		// The new timeline branches off exactly at the cut
		// (writeTimeLineHistory's switch point is where redo stopped).
		if why := pitrSwitchPoint(e, d.TimeLineID(), src.tlis, append(slices.Clone(src.switches), cut)); why != "" {
			res.found(Finding{Checker: CheckPITR, Node: n.Name, Detail: why})
			res.fail(CheckPITR, "restored to %s, the WAL should end at %s: %s", what, cut, why)
			return
		}
		if !judgeRestored(res, d, n.Name, what, tables, want) {
			return
		}
		res.PITR = fmt.Sprintf("restored to %s (%d commits after the backup; WAL cut at %s): %d tables equal to the primary's WAL cut there", what, len(commits), cut, len(tables))
		if br != nil {
			if err := br.grow(d, tables); err != nil {
				openErr = fmt.Errorf("the new timeline's workload: %w", err)
			}
		}
	})
	st := sim.Run()
	sim.KillAll()
	if openErr != nil || st.Kind != world.StopAllDone {
		detail := fmt.Sprint(openErr)
		if openErr == nil {
			detail = st.String()
		}
		res.found(Finding{Checker: CheckPITR, Node: n.Name, Detail: detail})
		res.fail(CheckPITR, "restoring the base backup to %s failed: %s", what, detail)
		return
	}
	if br != nil && br.grown {
		br.restore(res, sim, segs, seg, dbCfg)
	}
}

// copyUnarchived is the DBA's step before a PITR: the primary's pg_wal
// segments from seg on that the archive does not hold are copied into
// e's pg_wal.
func (p *pitrRun) copyUnarchived(e *env.Env, segs map[uint64][]byte, seg uint64) error {
	cfg := p.rc.engine.WAL
	for s := seg; segs[s] != nil; s++ { // bounded by the segments read
		name := wal.SegmentName(cfg, s)
		if _, _, archived := p.primary.Disk.Contents(archiveDir + "/" + name); archived {
			continue
		}
		if _, err := copyAcross(p.primary.Env, e, wal.SegmentPath(cfg, s), wal.SegmentPath(cfg, s)); err != nil {
			return err
		}
	}
	return e.Disk.SyncDir(wal.Dir)
}

// judgeRestored compares the restored node d's tables with the
// reference's, each table's rows and self-check, and fails the run on
// the first difference.
func judgeRestored(res *Result, d *db.DB, node, what string, tables []string, want map[string][]pgproc.Row) bool {
	if got := d.Tables(); fmt.Sprint(tables) != fmt.Sprint(got) {
		res.found(Finding{Checker: CheckPITR, Node: node, Detail: fmt.Sprintf("tables %v, reference %v", got, tables)})
		res.fail(CheckPITR, "restored to %s, the node holds tables %v, the primary's WAL cut there %v", what, got, tables)
		return false
	}
	for _, name := range tables {
		if _, err := d.CheckTable(name); err != nil {
			res.found(Finding{Checker: CheckPITR, Node: node, Table: name, Detail: err.Error()})
			res.fail(CheckPITR, "restored to %s: self-check of table %s: %v", what, name, err)
			return false
		}
		got, err := tableRows(d, name)
		if err != nil {
			res.found(Finding{Checker: CheckPITR, Node: node, Table: name, Detail: err.Error()})
			res.fail(CheckPITR, "restored to %s: reading table %s: %v", what, name, err)
			return false
		}
		if diff := compareRows(want[name], got); diff != "" {
			res.found(Finding{Checker: CheckPITR, Node: node, Table: name, Detail: diff})
			res.fail(CheckPITR, "restored to %s, table %s differs from the primary's commits before the target (\"standby\" below is the restored node, \"primary\" the reference): %s", what, name, diff)
			return false
		}
	}
	return true
}

// pitrSwitchPoint says what is wrong ("" if nothing) with the history
// file of tli, the timeline a PITR ended on: it must exist and name the
// parents wantTLIs with their switch points wantSwitches.
func pitrSwitchPoint(e *env.Env, tli uint32, wantTLIs []uint32, wantSwitches []wal.LSN) string {
	if tli < 2 {
		return fmt.Sprintf("the restored node is on timeline %d, not a new one", tli)
	}
	f, err := e.Disk.Open(db.HistoryPath(tli), env.OpenExisting)
	if err != nil {
		return fmt.Sprintf("the new timeline's history file: %v", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 1<<16 {
		return fmt.Sprintf("the new timeline's history file: size %d: %v", size, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) != size {
		return fmt.Sprintf("reading the new timeline's history file: %v", err)
	}
	tlis, switches, err := db.ParseHistory(b)
	switch {
	case err != nil:
		return err.Error()
	case fmt.Sprint(tlis) != fmt.Sprint(wantTLIs):
		return fmt.Sprintf("the new timeline %d's history names timelines %v, not %v", tli, tlis, wantTLIs)
	case fmt.Sprint(switches) != fmt.Sprint(wantSwitches):
		return fmt.Sprintf("timeline %d's history has switch points %v, not %v", tli, switches, wantSwitches)
	}
	return ""
}

// copyAcross copies src's file at from into dst's disk at to, fsynced, a
// page at a time (restore_command's cp, and the DBA's). It reports false
// when there is no such file.
func copyAcross(src, dst *env.Env, from, to string) (bool, error) {
	in, err := src.Disk.Open(from, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer in.Close()
	size, err := in.Size()
	if err != nil {
		return false, err
	}
	out, err := dst.Disk.Open(to, env.OpenCreate)
	if err != nil {
		return false, err
	}
	defer out.Close()
	if err := out.Truncate(0); err != nil {
		return false, err
	}
	buf := make([]byte, copyBlockBytes)
	for off := int64(0); off < size; off += copyBlockBytes { // size/page steps
		n, err := in.ReadAt(buf[:min(int64(copyBlockBytes), size-off)], off)
		if n == 0 && err != nil {
			return false, err
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return false, err
		}
	}
	if err := out.Sync(); err != nil {
		return false, err
	}
	return true, nil
}

// PITRTimeTarget starts the Detail of a CheckPITR finding of a restore
// to a recovery_target_time.
const PITRTimeTarget = "recovery_target_time"

// pitrTimeTarget draws a recovery_target_time (pitrPlan.timeAt) from the
// commit picked among commits, and returns it with the transaction end
// recovery must stop before: the first of ends, in WAL order, stamped
// past the target (inclusive) or at or past it (not inclusive). This is
// the checker's own reading of recoveryStopsBefore's time test, written
// apart from the engine's. A target whose stop falls before the backup's
// end (recovery would end before its consistent point), or that no
// record passes (the target is never reached), is passed over for the
// next commit's; ok is false when none is left.
func pitrTimeTarget(ends, commits []pitrRecord, plan pitrPlan) (at int64, stop pitrRecord, ok bool) {
	for k := range commits { // bounded by the commits
		c := commits[(int(plan.pick%uint32(len(commits)))+k)%len(commits)]
		at = c.timeUS
		switch plan.timeAt {
		case 1:
			at = c.timeUS - 1
		case 2:
			// Halfway back to the transaction end just before c.
			before := c.timeUS - 2
			for _, r := range ends {
				if r.lsn >= c.lsn {
					break
				}
				before = r.timeUS
			}
			if before < c.timeUS {
				at = c.timeUS - (c.timeUS-before+1)/2
			}
		}
		for _, r := range ends {
			past := r.timeUS > at || !plan.inclusive && r.timeUS == at
			if !past {
				continue
			}
			if r.afterEnd {
				return at, r, true
			}
			break
		}
	}
	return 0, pitrRecord{}, false
}
