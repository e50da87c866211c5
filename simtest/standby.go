package simtest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// Standbys (issue 19, slice 1): with --standbys N the run also has N
// standby nodes, each with its own disk and clock offset on the primary's
// network. Each is made from a base backup of the running primary: a
// process on the primary's machine (pg_basebackup run there, copying
// through the primary node's disk, so that every read is a scheduling
// point and the primary's processes write between them; a copy torn by
// that is what full-page writes, forced for the backup, repair). The copy
// is the harness's rather than the BASE_BACKUP replication command's so
// that this slice's protocol is START_REPLICATION alone; the engine's
// do_pg_backup_start and do_pg_backup_stop are used as pg_basebackup uses
// them. The standby then starts in standby mode and streams from the
// primary for the rest of the workload.
//
// The checker (CheckStandby): when the workload stops, every process of
// every node is killed, and on half the seeds each standby's machine loses
// power too (unsynced writes dropped, all or a random subset, or torn);
// after the primary's final recovery, the recovered primary serves
// replication and each standby starts again from its disk, streams and
// replays; it must catch up, within standbyCatchUpMax of virtual time, to
// the primary's flushed WAL. Its data directory, started as a primary
// (standby.signal ignored, which is what promotion comes to once the WAL
// is all replayed), must then hold exactly the rows of every table the
// recovered primary holds, and pass the engine's self-check.

// CheckStandby judges the standbys (standby.go).
const CheckStandby = "standby"

// countStandbyWALWrites counts the standbys' WAL writes watchWAL judged.
const countStandbyWALWrites = CheckStandby + ": WAL writes on standbys"

// standbysMax bounds --standbys.
const standbysMax = 3

// standbyCatchUpMax bounds the virtual time a standby has to catch up
// after the primary's final recovery.
const standbyCatchUpMax = 5 * time.Second

// standbyBackupWaitMax bounds the base backup's wait for the primary to
// accept connections.
const standbyBackupWaitMax = 10 * time.Second

// standbyStream is the stream of the standbys' own draws (their clock
// offsets), so that no other draw of a seed moves.
const standbyStream = 0x73746e6462797331 // "stndbys1"

func (c Config) validateStandbys() error {
	if c.Standbys < 0 || c.Standbys > standbysMax {
		return fmt.Errorf("standbys must be in [0, %d], got %d", standbysMax, c.Standbys)
	}
	return nil
}

// resolveStandbys sets what the primary needs for standbys: WAL kept for
// them (wal_keep_size: a run's WAL is a few megabytes), and
// wal_sender_timeout scaled down from a minute to 60 ms as the run's
// other timings are (the standbys' receivers: 40 ms, status every 10 ms).
func resolveStandbys(c Config, r *resolved) {
	r.standbys = standbysOf(c)
	if r.standbys == 0 {
		return
	}
	r.engine.WALKeepSize = 1 << 30
	r.engine.WalSenderTimeout = 60 * time.Millisecond
	// Hot standby (standby_reads.go): wal_level = replica's running-xacts
	// records on the primary, read-only sessions on the standbys, with
	// the background writer's interval (15 s) and
	// max_standby_streaming_delay (30 s) scaled down (50 ms, 1 ms: a reader holds its snapshot for up to 2 ms, so that conflicts both resolve by waiting and cancel).
	r.engine.HotStandby = true
	r.engine.LogSnapshotInterval = 50 * time.Millisecond
	r.engine.MaxStandbyStreamingDelay = time.Millisecond
}

func (r resolved) stringStandbys() string {
	if r.standbys == 0 {
		return "" // the config line, and so the trace, of a run without standbys is as before
	}
	return fmt.Sprintf(" standbys=%d", r.standbys)
}

// standbyNetFault is a network fault between the primary and one
// standby during the workload, drawn from the standbys' stream: at At
// after the run starts, the connections between them are reset
// (netDrop), or for For the link is cut both ways (netPartition) or one
// way (netOneWayToStandby: the WAL stops, the standby's replies still
// arrive; netOneWayToPrimary: the replies stop, which only the WAL
// sender's timeout notices), or slowed by Latency each way (netLatency),
// and then healed. Partitions longer than wal_receiver_timeout (40 ms
// here) and wal_sender_timeout (60 ms) end the connection from the side
// that stops hearing; shorter ones only delay the stream. Two kinds act on
// the standby's machine rather than the link: for For its server is down,
// then started again from its disk: netRestart kills every process of it
// (kill -9 of the instance: the OS closes its sockets and keeps its page
// cache), netPowerLoss also drops (or tears) the unsynced writes of its
// disk. Its startup process then recovers from the last restartpoint and
// its receiver streams again from where its WAL ends. A standby a
// failover promoted is left alone.
type standbyNetFault struct {
	At, For time.Duration
	Kind    standbyNetKind
	Latency time.Duration
}

type standbyNetKind uint8

const (
	netDrop standbyNetKind = iota
	netPartition
	netOneWayToStandby
	netOneWayToPrimary
	netLatency
	netRestart
	netPowerLoss
)

// standbyNetFaultsMax bounds the faults drawn per standby.
const standbyNetFaultsMax = 3

// drawNetFaults draws a standby's faults: none on half the seeds, else
// one to three, each (in eighths) a reset, a partition (both ways on two
// eighths, one way on two), added latency of 1 to 20 ms, a restart or a
// power loss of the standby, for 5 ms to 200 ms, between 70 ms and 300 ms
// into the run (the workload's stretch).
func drawNetFaults(rng *world.Rand) []standbyNetFault {
	on := rng.Intn(2) == 0
	n := 1 + rng.Intn(standbyNetFaultsMax)
	kinds := [8]standbyNetKind{netDrop, netPartition, netPartition, netOneWayToStandby, netOneWayToPrimary, netLatency, netRestart, netPowerLoss}
	var out []standbyNetFault
	for i := 0; i < standbyNetFaultsMax; i++ {
		f := standbyNetFault{
			At:      time.Duration(70+rng.Intn(230)) * time.Millisecond,
			For:     []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}[rng.Intn(5)],
			Kind:    kinds[rng.Intn(len(kinds))],
			Latency: []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond}[rng.Intn(3)],
		}
		if on && i < n {
			out = append(out, f)
		}
	}
	return out
}

// standby is one standby node and its server.
type standby struct {
	node *world.Node
	pm   *pgproc.Postmaster
	// made says its base backup completed (it then has a data directory).
	made  bool
	start wal.LSN // the backup's start point
	// received is how far its WAL receiver had written when the workload
	// stopped (the last postmaster generation's, when it had one).
	received wal.LSN
	// faults are its network faults with the primary (drawNetFaults).
	faults []standbyNetFault
	// powerLoss says its machine loses power with the primary's when the
	// workload stops (else only its processes die), with crash losing
	// (or tearing) unsynced writes by crashRng. A page torn on a standby
	// is restored, as on the primary, by the full-page image of its first
	// change after the REDO pointer its redo starts from: the last
	// restartpoint's, or the base backup's start.
	powerLoss bool
	crash     world.CrashMode
	crashRng  *world.Rand
	// aheadReported: watchWAL reported this standby once already.
	aheadReported bool
	// l is its server's socket (startStandby); promoted says a failover
	// promoted it (failover.go): its WAL is its own from then on, and
	// watchWAL no longer compares it with the old primary's.
	l        *pgproc.Listener
	promoted bool
	// primaryNode is the node its primary_conninfo names once a failover
	// re-pointed it at the new primary ("": the run's primary;
	// timeline_follow.go).
	primaryNode string
	// pmProc is its postmaster's process, for a restart to kill
	// (restart) and a failover that powers its machine off
	// (syncrep.go); restarts counts the restarts.
	pmProc   env.Proc
	restarts int
	// futureLSN is the newest page LSN on its disk when it last
	// restarted (InvalidLSN once judged): until it has replayed that far,
	// its data directory holds pages from its future, and it must not
	// call itself consistent (checkConsistentAfterRestart).
	futureLSN wal.LSN
}

// standbySet is a run's standbys.
type standbySet struct {
	rc      resolved
	primary *world.Node
	nodes   []*standby
	backups int // base backups begun
	// follow judges the standbys re-pointed at a failover's new primary
	// (timeline_follow.go), nil otherwise.
	follow *followJudge
	notes  []string
	// partitioned: a partition failover cut the primary off for good
	// (failover_partition.go); the link faults below neither heal nor
	// add to it.
	partitioned bool
	// primaryEnd is where the primary's final recovery found its WAL
	// ended.
	primaryEnd wal.LSN
	// primaryEnds follows the record ends of the database recovered last
	// on the primary's node: the catch-up target is the last of them at
	// or before its flushed position (standby_target.go).
	primaryEnds *recordEnds
	// primaryRows are the recovered primary's rows, by table, read by
	// converge (the standby-read checker's truth, standby_reads.go).
	primaryRows map[string][]pgproc.Row
}

// newStandbys makes the run's standby nodes, n2, n3, ..., each with a
// clock offset of up to ±5ms drawn from the standbys' own stream.
func newStandbys(rc resolved, primary *world.Node) *standbySet {
	if rc.standbys == 0 {
		return nil
	}
	rng := world.NewRand(rc.Seed ^ standbyStream)
	s := &standbySet{rc: rc, primary: primary}
	for i := 0; i < rc.standbys; i++ {
		offset := time.Duration(rng.Intn(10001)-5000) * time.Microsecond
		n := primary.NewPeer(standbyNodeName(i), rng.Fork(uint64(i+1)), offset)
		n.FixedClass = fixedFileClass
		// The fault plan and the online checkers hang on the scheduler's
		// injection points, and aim at the primary: a standby's points
		// (its control file update, its redo) are not shown to them in
		// this slice. Faults on standbys are a later slice's.
		n.Env.Points = nil
		sb := &standby{node: n, faults: drawNetFaults(rng)}
		sb.powerLoss = rng.Intn(2) == 0
		sb.crash = []world.CrashMode{world.CrashDropAll, world.CrashRandomSubset, world.CrashTorn}[rng.Intn(3)]
		if sb.crash == world.CrashTorn && !rc.engine.FullPageWrites {
			// A torn page without full-page images is damage the
			// engine may only report, as on the primary; the standby
			// checker does not yet tell it from a bug.
			sb.crash = world.CrashRandomSubset
		}
		sb.crashRng = rng.Fork(uint64(100 + i))
		s.nodes = append(s.nodes, sb)
	}
	return s
}

// standbyConfig is a standby's server configuration: the primary's
// engine settings, in standby mode, streaming from the primary. It does
// not archive (archive_mode = on archives nothing during recovery).
func (s *standbySet) standbyConfig() pgproc.Config {
	cfg := s.rc.server
	cfg.DB.ArchiveRecovery = true
	cfg.DB.WAL.ArchiveMode = false
	cfg.ArchiveMode = false
	cfg.Autovacuum = s.rc.server.Autovacuum
	cfg.PrimaryConninfo = env.Addr{Node: s.primary.Name, Port: pgproc.DefaultPort}
	// A standby's own synchronous_standby_names is empty: once promoted
	// it has no standby of its own to wait for (syncrep.go).
	cfg.DB.SynchronousStandbyNames = ""
	if s.rc.failover.on && s.rc.server.ArchiveMode {
		// archive_mode = on, from the primary's configuration, in a run
		// that fails over: a standby does not archive (its WAL
		// receiver marks what it streams archived, XLogWalRcvClose),
		// and once promoted its archiver copies into the same archive
		// the old primary used, on the old primary's machine's disk
		// (pitr_failover.go says why there).
		cfg.DB.WAL.ArchiveMode = true
		cfg.ArchiveMode = true
		cfg.Archiver.WAL = cfg.DB.WAL
		cfg.Archiver.ArchiveDisk = s.primary.Disk
	}
	s.standbyRestoreConfig(&cfg.DB) // standby_archive.go
	cfg.WalReceiver = pgproc.WalReceiverConfig{RetryInterval: 10 * time.Millisecond, StatusInterval: 10 * time.Millisecond, Timeout: 40 * time.Millisecond, ConnectTimeout: 20 * time.Millisecond}
	return cfg
}

// start spawns, for each standby, the base backup of the primary
// listening at l, then the standby's postmaster, and installs the online
// check of each standby's WAL writes against pm's flushed WAL.
func (s *standbySet) start(res *Result, sim *world.Sim, l *pgproc.Listener, pm *pgproc.Postmaster) {
	for _, sb := range s.nodes {
		// The wal-before-data checker watches each standby's disk as it
		// watches the primary's: a page a standby writes must have its
		// WAL durable on the standby (the startup process replays only
		// what the receiver flushed). The base backup's own writes are
		// not judged (the copy holds pages whose WAL the standby has not
		// received yet; its redo repairs them).
		wbd := &walBeforeDataChecker{res: res, disk: sb.node.Disk, sim: sim, wal: s.rc.engine.WAL, classOf: sb.relationClass, node: sb.node.Name,
			instance: func() *db.DB { return sb.pm.Shared() }}
		sb.node.Watch = func(op world.DiskOp) {
			s.watchWAL(res, sb, pm, op)
			if sb.pm != nil {
				wbd.diskOp(op)
				s.checkConsistentAfterRestart(res, sb)
			}
		}
		sim.SpawnAs(env.RoleOther, "pg_basebackup "+sb.node.Name, func() {
			if err := s.baseBackup(sb, l); err != nil {
				s.notes = append(s.notes, fmt.Sprintf("%s: base backup: %v", sb.node.Name, err))
				return
			}
			sb.pm = s.startStandby(sim, sb)
		})
		if len(sb.faults) > 0 {
			sim.SpawnAs(env.RoleOther, "network faults "+sb.node.Name, func() { s.applyNetFaults(sim, sb) })
		}
		if slices.ContainsFunc(sb.faults, isRestart) {
			sim.SpawnAs(env.RoleOther, "restarts "+sb.node.Name, func() {
				for _, f := range sb.faults {
					if isRestart(f) {
						s.restart(sim, sb, f)
					}
				}
			})
		}
	}
}

// relationClass is what the file at path holds on sb, for the
// wal-before-data checker: what the standby's engine registered, except
// that a relation file under base/ that the standby's redo created before
// replaying the relation map record that names it (a table the primary
// created after the base backup) is taken for a relation file: its pages
// are judged, whether heap or index.
func (sb *standby) relationClass(path string) env.FileClass {
	c := sb.node.FileClass(path)
	if c != env.FileOther {
		return c
	}
	rest, ok := strings.CutPrefix(path, smgr.BaseDir+"/")
	if !ok {
		return c
	}
	rel, _, _ := strings.Cut(rest, ".")
	if _, err := strconv.ParseUint(rel, 10, 32); err != nil || rel == "" {
		return c
	}
	return env.FileHeap
}

// watchWAL is the online half of the standby checker: a standby never
// writes WAL beyond what the primary has flushed (WalSndWaitForWal's
// GetFlushRecPtr bound), judged at each write into a standby's WAL
// segment against the primary's flushed position at that moment. While
// the primary recovers from a crash-restart its flushed position is not
// known and the write is not judged; it only grows, within a lifetime and
// across crash-restarts (recovery finds every byte the kernel kept), so a
// write judged fine stays fine. It is uninstalled when the workload stops
// (converge judges the rest).
func (s *standbySet) watchWAL(res *Result, sb *standby, pm *pgproc.Postmaster, op world.DiskOp) {
	if op.Kind != world.OpWrite || !strings.HasPrefix(op.Path, wal.Dir+"/") || sb.promoted || sb.primaryNode != "" {
		return
	}
	cfg := s.rc.engine.WAL
	seg, ok := wal.ParseSegmentName(cfg, op.Path[len(wal.Dir)+1:])
	if !ok {
		return // a segment's header, written before it is renamed into place
	}
	d := pm.Shared()
	if d == nil || d.WAL == nil {
		res.Online.skipped(countStandbyWALWrites, "the primary was recovering", 1)
		return
	}
	res.Online.judged(countStandbyWALWrites, 1)
	end := wal.LSN(seg*uint64(cfg.SegmentSize) + uint64(op.Off) + uint64(op.Len))
	if flushed := d.WAL.FlushedNoLock(); end > flushed && !sb.aheadReported {
		sb.aheadReported = true
		f := s.finding(sb, Finding{Detail: fmt.Sprintf("WAL written to %s while the primary had flushed to %s", end, flushed), StandbyAhead: true})
		f.StandbyWAL, f.PrimaryWAL = uint64(end), uint64(flushed)
		res.found(f)
		res.fail(CheckStandby, "standby %s wrote WAL up to %s while the primary had flushed its WAL only to %s: a WAL sender sent WAL that was not yet durable", sb.node.Name, end, flushed)
	}
}

// applyNetFaults carries out sb's network faults with the primary, in
// time order, each healed before the next.
func (s *standbySet) applyNetFaults(sim *world.Sim, sb *standby) {
	e, net := s.primary.Env, s.primary.Net
	for _, f := range slices.SortedFunc(slices.Values(sb.faults), func(a, b standbyNetFault) int { return cmp.Compare(a.At, b.At) }) {
		if now := e.Clock.Now(); f.At > now {
			e.Clock.Sleep(f.At - now)
		}
		p, st := s.primary.Name, sb.node.Name
		if s.partitioned {
			return
		}
		switch f.Kind {
		case netDrop:
			net.DropConnections(p, st)
			continue
		case netPartition:
			net.Partition(p, st)
		case netOneWayToStandby:
			net.PartitionOneWay(p, st)
		case netOneWayToPrimary:
			net.PartitionOneWay(st, p)
		case netLatency:
			net.SetLatency(p, st, f.Latency)
			net.SetLatency(st, p, f.Latency)
		case netRestart, netPowerLoss:
			continue // restartStandby's
		}
		e.Clock.Sleep(f.For)
		if s.partitioned {
			return
		}
		if f.Kind == netLatency {
			net.SetLatency(p, st, 0)
			net.SetLatency(st, p, 0)
			continue
		}
		net.Heal(p, st)
	}
}

// isRestart says f acts on the standby's machine (restart).
func isRestart(f standbyNetFault) bool { return f.Kind == netRestart || f.Kind == netPowerLoss }

// restart takes sb's server down for f.For/4 and starts it again from
// its disk (netRestart, netPowerLoss). While it is down sb.pm is nil, so
// that a failover does not pick it; a promoted standby is left alone.
// Unlike the link's faults it is timed from the standby's own start, not
// from the run's: the workload is often over before the link's window
// ends, and a restart before the standby exists tests nothing.
func (s *standbySet) restart(sim *world.Sim, sb *standby, f standbyNetFault) {
	// A restart is aimed at a standby that runs: one not yet made (its
	// base backup still copying) is waited for, up to restartWaitMax,
	// and once it is consistent it streams and replays for a drawn
	// while, 0 to 23 ms (a tenth of At's offset into its window), before
	// it goes down, so that pages of its own may be on its disk.
	for waited := time.Duration(0); ; waited += time.Millisecond {
		if sb.promoted {
			return
		}
		if sb.pm != nil {
			if sd := sb.pm.Shared(); sd != nil && sd.Consistent() {
				break
			}
		}
		if waited >= restartWaitMax {
			return
		}
		s.primary.Env.Clock.Sleep(time.Millisecond)
	}
	s.primary.Env.Clock.Sleep((f.At - 70*time.Millisecond) / 10)
	if sb.pm == nil || sb.promoted {
		return
	}
	sim.KillTree(sb.pmProc)
	sb.pm = nil
	sb.node.Net.CrashNode(sb.node.Name)
	what := "restart"
	if f.Kind == netPowerLoss {
		sb.node.Disk.Crash(sb.crashRng.Fork(uint64(1000+sb.restarts)), sb.crash)
		what = "power-loss " + sb.crash.String()
	}
	sb.restarts++
	sb.futureLSN = sb.newestPageLSN()
	sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: sb.node.Name, Name: "standby " + what})
	s.primary.Env.Clock.Sleep(f.For / 4)
	sb.pm = s.startStandby(sim, sb)
}

// restartWaitMax bounds a restart's wait for its standby to be made and
// consistent.
const restartWaitMax = 300 * time.Millisecond

// startStandby starts a standby's postmaster on its node.
func (s *standbySet) startStandby(sim *world.Sim, sb *standby) *pgproc.Postmaster {
	l := pgproc.NewListener(sb.node.Env)
	sb.l = l
	cfg := s.standbyConfig()
	cfg.WalReceiver.ApplicationName = standbyAppName(slices.Index(s.nodes, sb)) // syncrep.go
	if sb.primaryNode != "" {
		cfg.PrimaryConninfo.Node = sb.primaryNode // timeline_follow.go
	}
	pm, err := pgproc.NewPostmaster(sb.node.Env, cfg, l)
	if err != nil {
		panic(fmt.Sprintf("simtest: standby postmaster: %v", err))
	}
	sb.pmProc = sim.SpawnAs(env.RolePostmaster, "postmaster "+sb.node.Name, pm.Main)
	return pm
}

// baseBackup is a base backup into sb's disk as PostgreSQL 15's
// low-level API makes one: a session on the primary runs
// pg_backup_start (do_pg_backup_start: full-page writes forced, a
// checkpoint, its REDO pointer the start point), every file but pg_wal's
// and the archive's is copied through the primary machine's disk with
// the control file last (basebackup.c sends global/pg_control last),
// then pg_backup_stop (do_pg_backup_stop: XLOG_BACKUP_END) gives the
// backup label, written into the copy with standby.signal, and
// everything is fsynced. A session that dies meanwhile (a crash-restart)
// aborts the backup, which then fails.
func (s *standbySet) baseBackup(sb *standby, l *pgproc.Listener) error {
	e, dst := s.primary.Env, sb.node.Env
	var c *pgproc.Conn
	for waited := time.Duration(0); ; waited += time.Millisecond {
		var err error
		if c, err = l.DialFrom(e.Net); err == nil {
			break
		}
		if waited >= standbyBackupWaitMax {
			return fmt.Errorf("could not connect: %w", err)
		}
		e.Clock.Sleep(time.Millisecond)
	}
	defer c.Close()
	s.backups++
	resp, err := c.Call(pgproc.Request{Op: pgproc.OpBackupStart})
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("pg_backup_start: %w", err)
	}
	if err := copyTree(e, dst, "", 0); err != nil {
		return err
	}
	if err := copyFile(e, dst, db.ControlPath); err != nil {
		return err
	}
	// Its directory entry too (pg_basebackup's fsync_pgdata fsyncs every
	// file and directory of the copy at the end).
	if err := dst.Disk.SyncDir(path.Dir(db.ControlPath)); err != nil {
		return err
	}
	resp, err = c.Call(pgproc.Request{Op: pgproc.OpBackupStop})
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("pg_backup_stop: %w", err)
	}
	start, _, err := db.ParseBackupLabel(resp.Val)
	if err != nil {
		return err
	}
	if err := writeDurable(dst, db.BackupLabelPath, resp.Val); err != nil {
		return err
	}
	if err := writeDurable(dst, db.StandbySignalPath, nil); err != nil {
		return err
	}
	if err := dst.Disk.MkdirAll(wal.Dir); err != nil {
		return err
	}
	for _, dir := range []string{wal.Dir, ""} {
		if err := dst.Disk.SyncDir(dir); err != nil {
			return err
		}
	}
	if s.partitioned {
		// pg_basebackup streams the copy over the network from the
		// standby's machine, which a partition failover cut off from
		// this primary (failover_partition.go): a backup that had
		// not ended by then fails, as its connection would.
		return errors.New("the failover's partition cut the backup's connection to the primary")
	}
	sb.made, sb.start = true, start
	return nil
}

// copyTree copies dir's files from src's disk to dst's, fsyncing each,
// skipping pg_wal (the standby streams it), the archive and the control
// file (copied last). A file that vanishes meanwhile is skipped, as
// basebackup.c skips it.
func copyTree(src, dst *env.Env, dir string, depth int) error {
	if depth > 8 {
		return fmt.Errorf("directory tree deeper than 8 at %q", dir)
	}
	names, err := src.Disk.List(dir)
	if err != nil {
		return err
	}
	if dir != "" {
		if err := dst.Disk.MkdirAll(dir); err != nil {
			return err
		}
	}
	for _, name := range names {
		path := name
		if dir != "" {
			path = dir + "/" + name
		}
		switch path {
		case wal.Dir, archiveDir, db.ControlPath:
			continue
		}
		if _, err := src.Disk.List(path); err == nil {
			if err := copyTree(src, dst, path, depth+1); err != nil {
				return err
			}
			continue
		} else if !errors.Is(err, env.ENOTDIR) && !errors.Is(err, env.ErrNotExist) {
			return err
		}
		if err := copyFile(src, dst, path); err != nil {
			return err
		}
	}
	return dst.Disk.SyncDir(dir)
}

// copyBlockBytes is the copy's read size: a page at a time.
const copyBlockBytes = 8192

// copyFile copies one file a page at a time.
func copyFile(src, dst *env.Env, path string) error {
	in, err := src.Disk.Open(path, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.Disk.Open(path, env.OpenCreate)
	if err != nil {
		return err
	}
	defer out.Close()
	buf := make([]byte, copyBlockBytes)
	for off := int64(0); ; off += copyBlockBytes {
		size, err := in.Size()
		if err != nil {
			return err
		}
		if off >= size {
			break
		}
		n, err := in.ReadAt(buf[:min(int64(copyBlockBytes), size-off)], off)
		if n == 0 && err != nil {
			return err
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return out.Sync()
}

// writeDurable creates path on e's disk with b, fsynced.
func writeDurable(e *env.Env, path string, b []byte) error {
	f, err := e.Disk.Open(path, env.OpenCreate)
	if err != nil {
		return err
	}
	defer f.Close()
	if len(b) > 0 {
		if _, err := f.WriteAt(b, 0); err != nil {
			return err
		}
	}
	return f.Sync()
}

// converge is the checker's second half, after the primary's final
// recovery: the recovered primary (d, standalone, on the primary node)
// serves replication, each standby starts again from its disk and must
// catch up to d's flushed WAL; then each is opened as a primary and its
// tables compared with d's.
func (s *standbySet) converge(res *Result, sim *world.Sim, d *db.DB, l *pgproc.Listener) {
	if s == nil {
		return
	}
	for _, n := range s.notes {
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Name: "standby: " + n})
	}
	var made []*standby
	for _, sb := range s.nodes {
		if sb.made {
			made = append(made, sb)
		}
	}
	res.StandbysMade = len(made)
	for _, sb := range s.nodes {
		res.StandbyRestarts += sb.restarts
	}
	if len(made) == 0 {
		return
	}
	// A partition or a slow link the workload's stop interrupted ends
	// with it, and the online check with the primary's lifetime.
	s.primary.Net.HealAll()
	for _, sb := range s.nodes {
		if slices.ContainsFunc(sb.faults, func(f standbyNetFault) bool { return f.Kind == netLatency }) {
			s.primary.Net.SetLatency(s.primary.Name, sb.node.Name, 0)
			s.primary.Net.SetLatency(sb.node.Name, s.primary.Name, 0)
		}
	}
	for _, sb := range s.nodes {
		sb.node.Watch = nil
	}
	for _, sb := range made {
		if sb.powerLoss {
			sb.node.Disk.Crash(sb.crashRng, sb.crash)
			sim.HarnessEvent(env.Event{Kind: env.EvCrash, Node: sb.node.Name, Name: "power-loss " + sb.crash.String()})
		}
	}
	// The primary's rows first, before any WAL sender waits on its WAL:
	// reading may write (a hint's full-page image, an eviction's flush).
	want := map[string][]pgproc.Row{}
	var tables []string
	var readErr error
	sim.SpawnAs(env.RoleOther, "primary rows", func() {
		for _, sb := range made {
			if sb.pm == nil {
				continue // the workload stopped while it was down
			}
			if sd := sb.pm.Shared(); sd != nil && sd.WalRcv() != nil {
				sb.received, _ = sd.WalRcv().Positions()
			}
		}
		tables = d.Tables()
		for _, name := range tables {
			rows, err := tableRows(d, name)
			if err != nil {
				readErr = err
				return
			}
			want[name] = rows
		}
	})
	if st := sim.Run(); st.Kind != world.StopAllDone || readErr != nil {
		res.found(Finding{Checker: CheckStandby, Detail: fmt.Sprint(readErr, st)})
		res.fail(CheckStandby, "reading the primary's rows failed: %v (%s)", readErr, st)
		return
	}
	s.primaryRows = want
	s.primaryEnd = res.RecoveryDB.End
	flushed := d.WAL.Flushed()
	target := s.primaryEnds.replayable(flushed, s.primaryEnd)
	targetWhy := ""
	if target != flushed {
		targetWhy = fmt.Sprintf(", inside a record: complete records end at %s", target)
	}
	pe := s.primary.Env
	sim.SpawnAs(env.RolePostmaster, "replication server", func() {
		// The recovered primary serves replication connections on the
		// primary's socket, opened again (the killed postmaster's is
		// closed first, dropping connections nobody accepted): a
		// postmaster's ServerLoop without the rest of it.
		l.Unlisten()
		if err := l.Listen(); err != nil {
			panic(fmt.Sprintf("simtest: replication server: %v", err))
		}
		for i := 0; ; i++ {
			if c, ok := l.Accept(10 * time.Millisecond); ok {
				pe.SpawnAs(env.RoleBackend, fmt.Sprintf("walsender %d", i), func() { pgproc.BackendMain(pe, d, c) })
			}
		}
	})
	for _, sb := range made {
		sb.pm = s.startStandby(sim, sb)
	}
	caught := map[*standby]wal.LSN{}
	sim.SpawnAs(env.RoleOther, "standby catch-up", func() {
		for waited := time.Duration(0); waited < standbyCatchUpMax; waited += time.Millisecond {
			all := true
			for _, sb := range made {
				sd := sb.pm.Shared()
				if s.leftOut(sb, sd) { // timeline_follow.go
					continue
				}
				if sd == nil || sd.ReplayedLSN() < target || !s.onNewTimeline(sd) {
					all = false
					continue
				}
				caught[sb] = sd.ReplayedLSN()
			}
			if all {
				break
			}
			pe.Clock.Sleep(time.Millisecond)
		}
		sim.RequestStop("standbys caught up, or gave up")
	})
	sim.Run()
	sim.KillAll()
	for _, sb := range made {
		if s.follow != nil && s.follow.left[sb] {
			continue // timeline_follow.go: it could not follow, counted
		}
		if _, ok := caught[sb]; !ok {
			replayed := wal.InvalidLSN
			if sd := sb.pm.Shared(); sd != nil {
				replayed = sd.ReplayedLSN()
			}
			why := ""
			if err := sb.pm.Fatal(); err != nil {
				why = fmt.Sprintf("; its postmaster gave up: %v", err)
			}
			res.found(s.finding(sb, Finding{Detail: fmt.Sprintf("%s replayed to %s", sb.node.Name, replayed)}))
			res.fail(CheckStandby, "standby %s did not catch up within %v: it replayed to %s, the primary's WAL is flushed to %s%s%s", sb.node.Name, standbyCatchUpMax, replayed, flushed, targetWhy, why)
			continue
		}
		s.compare(res, sim, sb, tables, want)
	}
}

// compare opens sb's data directory as a primary would after promotion
// (crash recovery over the WAL it holds, standby.signal ignored) and
// compares every table with the primary's.
func (s *standbySet) compare(res *Result, sim *world.Sim, sb *standby, tables []string, want map[string][]pgproc.Row) {
	cfg := s.standbyConfig().DB
	cfg.ArchiveRecovery = false
	var openErr error
	sim.SpawnAs(env.RoleStartup, "standby check "+sb.node.Name, func() {
		d, err := db.NewShared(sb.node.Env, cfg)
		if err == nil {
			_, err = d.StartupXLOG(db.RegisterAccessMethods, false)
		}
		if err != nil {
			openErr = err
			return
		}
		if got := d.Tables(); fmt.Sprint(tables) != fmt.Sprint(got) {
			res.found(s.finding(sb, Finding{Detail: fmt.Sprintf("tables %v, primary %v", got, tables)}))
			res.fail(CheckStandby, "standby %s holds tables %v, the primary %v", sb.node.Name, got, tables)
			return
		}
		for _, name := range tables {
			if _, err := d.CheckTable(name); err != nil {
				res.found(s.finding(sb, Finding{Table: name, Detail: err.Error()}))
				res.fail(CheckStandby, "standby %s: self-check of table %s: %v", sb.node.Name, name, err)
				return
			}
			got, err := tableRows(d, name)
			if err != nil {
				res.found(s.finding(sb, Finding{Table: name, Detail: err.Error()}))
				res.fail(CheckStandby, "standby %s: reading table %s: %v", sb.node.Name, name, err)
				return
			}
			if diff := compareRows(want[name], got); diff != "" {
				res.found(s.finding(sb, Finding{Table: name, Detail: diff}))
				res.fail(CheckStandby, "standby %s, table %s: %s", sb.node.Name, name, diff)
				return
			}
		}
		res.StandbysConverged++
	})
	st := sim.Run()
	if openErr != nil || st.Kind != world.StopAllDone {
		detail := fmt.Sprint(openErr)
		if openErr == nil {
			detail = st.String()
		}
		res.found(s.finding(sb, Finding{Detail: detail}))
		res.fail(CheckStandby, "standby %s: opening its data directory failed: %s", sb.node.Name, detail)
	}
	sim.KillAll()
}

// compareRows is "" when the primary's rows p and the standby's s are
// the same, else the first difference.
func compareRows(p, s []pgproc.Row) string {
	for i := 0; i < len(p) || i < len(s); i++ {
		switch {
		case i >= len(s):
			return fmt.Sprintf("key %d (and %d more rows) missing on the standby", p[i].Key, len(p)-i-1)
		case i >= len(p):
			return fmt.Sprintf("key %d (and %d more rows) on the standby only", s[i].Key, len(s)-i-1)
		case p[i].Key != s[i].Key:
			return fmt.Sprintf("key %d on the primary where the standby has key %d", p[i].Key, s[i].Key)
		case !bytes.Equal(p[i].Val, s[i].Val):
			return fmt.Sprintf("key %d holds %d bytes %x... on the standby, %d bytes %x... on the primary", p[i].Key, len(s[i].Val), valuePrefix(s[i].Val), len(p[i].Val), valuePrefix(p[i].Val))
		}
	}
	return ""
}

// tableRows is every visible row of table, in key order.
func tableRows(d *db.DB, table string) ([]pgproc.Row, error) {
	s, err := d.Connect()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var rows []pgproc.Row
	err = s.Scan(table, 0, ^uint64(0), func(k uint64, v []byte) bool {
		rows = append(rows, pgproc.Row{Key: k, Val: append([]byte(nil), v...)})
		return true
	})
	return rows, err
}

// valuePrefix is a value's first 16 bytes, enough to tell rows apart in a
// failure line (a row's value begins with its id).
func valuePrefix(v []byte) []byte { return v[:min(len(v), 16)] }

// finding is a standby checker's Finding about sb, with the positions
// that say whether the standby held WAL the primary lost.
func (s *standbySet) finding(sb *standby, f Finding) Finding {
	f.Checker, f.Node = CheckStandby, sb.node.Name
	f.StandbyWAL, f.PrimaryWAL = uint64(sb.received), uint64(s.primaryEnd)
	return f
}

// newestPageLSN is the newest LSN of any data page on sb's disk, as a
// restart finds it (the OS's view after a kill, what survived after a
// power loss).
func (sb *standby) newestPageLSN() wal.LSN {
	var newest wal.LSN
	snap := sb.node.Disk.Snapshot()
	for _, p := range slices.Sorted(maps.Keys(snap)) {
		if c := sb.relationClass(p); c != env.FileHeap && c != env.FileIndex {
			continue
		}
		b := snap[p]
		for off := 0; off+page.BlockSize <= len(b); off += page.BlockSize {
			newest = max(newest, page.LSN(b[off:off+page.BlockSize]))
		}
	}
	return newest
}

// checkConsistentAfterRestart is the standby checker's online half for
// restarts (minRecoveryPoint, engine/db/minrecovery.go): at each disk
// operation of a restarted standby, until it has replayed past the newest
// page LSN its disk held when it restarted, it must not be consistent —
// a consistent standby may be promoted, or (hot standby) serve reads, and
// its data directory would mix pages from its future with pages from its
// past.
func (s *standbySet) checkConsistentAfterRestart(res *Result, sb *standby) {
	if sb.futureLSN == wal.InvalidLSN || sb.promoted {
		return
	}
	sd := sb.pm.Shared()
	if sd == nil || !sd.Consistent() {
		return
	}
	future := sb.futureLSN
	sb.futureLSN = wal.InvalidLSN
	if replayed := sd.ReplayedLSN(); replayed < future {
		res.found(s.finding(sb, Finding{Detail: fmt.Sprintf("%s consistent at %s, pages up to %s", sb.node.Name, replayed, future),
			MinRecoveryPoint: true, StandbyWAL: uint64(replayed), PageLSN: uint64(future)}))
		res.fail(CheckStandby, "standby %s called itself consistent after its restart having replayed only to %s, while its disk held data pages changed up to %s: it would serve or promote a data directory that mixes pages from its future with pages from its past (minRecoveryPoint: UpdateMinRecoveryPoint, CheckRecoveryConsistency)", sb.node.Name, replayed, future)
	}
}
