package simtest

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
)

// plantedBugCases says, for every planted bug, which campaign must catch
// it and which checker must report it: the default campaign where it
// reaches the bug's window often enough, otherwise the workload, isolation
// level or fault plan that aims at the window (as a researcher would
// choose them). A bug missing here fails TestPlantedBugsAllCovered, so
// none can be added unproven.
var plantedBugCases = map[string]struct {
	workload  string          // "" = the default (mixed)
	isolation string          // "" = drawn from the seed
	plan      string          // "" = the plans drawn from the seeds
	tweak     func(c *Config) // any other change to the default config
	seeds     int
	// seedList, when set, replaces seeds 1..seeds: the seeds a campaign
	// with the bug on failed, for a bug whose window is too rare for a
	// test's range of seeds. Without the bug they must pass too.
	seedList  []uint64
	checkers  []string
	minCaught int
	// anomalies, when set, must include one of the isolation checker's
	// forbidden findings in at least minCaught/2 of the caught runs: the
	// bug must be named for what it is, not only noticed.
	anomalies []string
}{
	// Lost acknowledged commits: the insert checker, porcupine (a final
	// read older than an acknowledged write), or the list and bank
	// checkers. The clog says committed before the commit record is
	// durable, so a reader may also set a commit hint bit and a page be
	// written with it while the WAL is short of the commit (the hint
	// checker, seed 3).
	"ack-before-flush": {seeds: 100, checkers: []string{CheckDurability, CheckSelf, CheckLinearizability, CheckIsolation, CheckBank, CheckHintBeforeCommit}, minCaught: 45},
	"write-before-wal": {seeds: 100, checkers: []string{CheckWALBeforeData}, minCaught: 10},
	// An append-only workload's pages are mostly written by checkpoints,
	// which fsync them at once, and new pages are initialised by redo,
	// never read: a torn page needs a crash between a checkpoint's page
	// writes and its last fsync (the seeded plans reach it on about 1
	// seed in 150).
	// The bug is full_page_writes off while the harness believes it on,
	// so the setting is pinned on: with the setting off, a torn page that
	// its checksum reports is allowed. Data checksums are pinned on too:
	// they are what reports the torn page at recovery; without them the
	// page is read as it is and the self-checks find its broken items.
	"full-page-writes-off": {workload: WorkloadInsert, plan: "crash mode=torn when role=checkpointer and point=smgr-after-fsync", seeds: 200,
		tweak: func(c *Config) { c.FullPageWrites, c.DataChecksums = FullPageWritesOn, DataChecksumsOn }, checkers: []string{CheckRecovery}, minCaught: 20},
	// The window: a backend stalled between marking a page clean and
	// writing it, while a checkpoint runs past.
	"early-clean": {workload: WorkloadInsert, plan: "pause for=40ms role=backend when point=bufmgr-before-write", seeds: 200,
		checkers: []string{CheckCheckpoint, CheckDurability, CheckSelf}, minCaught: 10},
	// Reads see the appends of rolled-back transactions (G1a); the final
	// read after recovery sees them too, which the list recovery check
	// (atomicity) reports first, or the final scan shows a list's
	// aborted version next to its live one (unique). An append that reads
	// the aborted version and tries to update it fails with heap_update's
	// "attempted to update invisible tuple" (engine-error).
	"aborted-read": {workload: WorkloadAppend, isolation: IsoReadCommitted, seeds: 200,
		checkers: []string{CheckIsolation, CheckAtomicity, CheckSelf, CheckUnique, CheckEngineError}, minCaught: 60, anomalies: []string{"G1a"}},
	// Two transactions append to the same list from the same snapshot:
	// PostgreSQL fails the second with 40001, the bug lets both commit.
	// When both read the list first, that is a lost update; otherwise
	// the second's snapshot missed the first's append, which it then
	// followed (G-single), and a read after its own append can even show
	// the snapshot's older version (internal).
	"rr-no-serialization-failure": {workload: WorkloadAppend, isolation: IsoRepeatableRead, seeds: 200,
		checkers: []string{CheckIsolation}, minCaught: 60, anomalies: []string{"lost-update", "G-single", "internal"}},
	// A transfer that commits while a REPEATABLE READ transaction reads
	// the accounts one statement at a time shows up halfway. A transfer
	// whose snapshot missed a running one may also update a row version
	// it cannot see, which the engine refuses with 55000 "attempted to
	// update invisible tuple" (seed 158, a sync-rep seed whose waits
	// keep the other transfer running longer).
	"snapshot-no-inprogress": {workload: WorkloadBank, isolation: IsoRepeatableRead, seeds: 200,
		checkers: []string{CheckBank, CheckEngineError}, minCaught: 20},
	// A change logged while the guts ran is neither on disk nor replayed:
	// the checkpoint checker sees the page, or a power loss after the
	// checkpoint loses acknowledged commits, or the self-check after
	// recovery finds a page of the table created mid-run that redo never
	// initialised, or redo itself fails on a later record of a page whose
	// change was lost (recovery: "invalid lp", 1 of 200 since the WAL
	// buffers became a ring).
	"redo-after-flush": {seeds: 200, checkers: []string{CheckCheckpoint, CheckDurability, CheckSelf, CheckRecovery}, minCaught: 8},
	// One client's back-to-back autocommit INSERTs (psql running a
	// script) keep its backend in a commit critical section whenever the
	// checkpointer looks, so the bug's wait never ends: the checkpoint
	// liveness check sees it outlast ckptDelayWaitMax. No fault: the
	// check judges only runs without any.
	"delay-chkpt-by-backend": {workload: WorkloadInsert, plan: "# no faults\n", seeds: 100, tweak: func(c *Config) {
		c.Autocommit, c.Clients, c.Txns, c.WritesMax, c.ThinkMax = true, 1, 200, 1, 0
	}, checkers: []string{CheckLiveness}, minCaught: 20},
	// A transfer's UPDATE stalled between its snapshot and its heap update
	// while two other transfers on the same account commit: the bug
	// evaluates the increment on no row, and the transfer loses a leg. The
	// default campaign reaches that window on about 1 seed in 2000; a
	// pause at the statement's snapshot aims at it (pauses at random
	// backend steps catch it on 27 of 200 seeds).
	"epq-next-version": {workload: WorkloadBank, isolation: IsoReadCommitted, plan: "pause for=10ms role=backend when point=backend-after-snapshot and prob=0.1", seeds: 200,
		checkers: []string{CheckBank}, minCaught: 40},
	// A checkpoint's fsync of a heap file fails and the kernel drops the
	// pages; the bug completes the checkpoint anyway, and power fails
	// after the next one. The file keeps its size, so dropped pages past
	// the durable end read back as zeros, new pages to a scan: the
	// checkpoint checker sees the missing page changes, or the
	// durability checker the missing rows (25 of these 200 seeds; 27
	// while the disk shrank the file, one of them seen by the recovery
	// checker as "could not read block 0").
	"fsync-retry": {plan: "fsync-eio when file=heap and role=checkpointer\ncrash mode=drop-all when role=checkpointer and point=checkpointer-after-control#2", seeds: 200,
		// The lost heap pages also show as an index entry pointing at
		// another row's version (self-check). On a bulk seed (seed 194)
		// vacuum's second pass may find a line pointer its first pass
		// collected no longer dead, the lost write having taken the page
		// back in time: PostgreSQL only Asserts it (lazy_vacuum_heap_page),
		// and pgdst ends the VACUUM with data_corrupted (it used to panic,
		// which the liveness checker reported). A lost row of a contended
		// key lets a second inserter of the key succeed (unique).
		checkers: []string{CheckCheckpoint, CheckDurability, CheckLinearizability, CheckIsolation, CheckBank, CheckRecovery, CheckSelf, CheckLiveness, CheckUnique}, minCaught: 10},
	// A backend preempted between a page change's WAL insert and its
	// MarkBufferDirty while a checkpoint takes its REDO pointer and scans
	// the pool: the checkpoint completes without the page. The plain
	// campaign's pauses at page-after-xloginsert catch it on about 1 seed
	// in 500 (4 of seeds 1-2000, the first 317); a pause aimed there on
	// 42 of these 200.
	// With full_page_writes off (drawn on a quarter of the seeds), redo
	// applies the changes after REDO to the page the checkpoint skipped,
	// which lacks the lost one: redo finds the page does not match its
	// record (seed 158), or the self-check finds a B-tree leaf out of
	// order (seed 90).
	"dirty-after-wal-insert": {plan: "pause for=30ms role=backend when point=page-after-xloginsert and prob=0.05 times=8", seeds: 200,
		checkers: []string{CheckCheckpoint, CheckDurability, CheckRecovery, CheckSelf}, minCaught: 20},
	// Every recovery that replayed a change ends in an end-of-recovery
	// checkpoint whose control file names a REDO pointer past buffers
	// still dirty: the checkpoint checker, which watches recovery, sees
	// it at the update itself (on 181 of 200 default seeds).
	"end-of-recovery-ckpt-early-control": {seeds: 100, checkers: []string{CheckCheckpoint}, minCaught: 70},
	// Two commits whose xids share a clog status byte: the first reads
	// the byte, gives the control lock up and takes it again, and the
	// second's status lands in between and is written over. That
	// transaction then reads as aborted once it leaves the proc array:
	// its acknowledged rows are missing after recovery (durability), or
	// a transfer loses a leg (bank), or a register read goes back
	// (linearizability). The window is one scheduling point, where the
	// random scheduler's switches find it (21 of these 200 seeds; see
	// TestPCTVersusRandomOnADepth2Race for PCT).
	// A WAL sender streams WAL written but not yet fsynced: the standby
	// checker's online half sees a standby write WAL beyond the
	// primary's flushed position (and, after a power loss of the
	// primary, its final half sees the standby diverge). The default
	// campaign with one standby.
	"walsender-unflushed": {seeds: 100, tweak: func(c *Config) { c.Standbys = 1 }, checkers: []string{CheckStandby}, minCaught: 8},
	// A standby replays WAL its receiver has written but not fsynced: its
	// background writer or checkpointer then writes a page whose WAL is
	// not durable on the standby, which the wal-before-data checker,
	// watching each standby's disk as the primary's, sees as it happens.
	"standby-applies-unflushed": {seeds: 200, tweak: func(c *Config) { c.Standbys = 1 }, checkers: []string{CheckWALBeforeData}, minCaught: 2},
	// A promoted standby keeps its parent's timeline ID: the old primary
	// acknowledged commits on timeline 1 before it lost power, and the
	// new one acknowledges commits on timeline 1 too. The failover
	// checker's split-brain half sees it on every seed that fails over
	// and whose clients commit on both sides (about a third fail over).
	"promotion-reuses-timeline": {seeds: 60, tweak: func(c *Config) { c.Standbys, c.Failover = 1, true }, checkers: []string{CheckFailover}, minCaught: 10},
	// A standby that restarts without minRecoveryPoint covering the
	// pages it wrote calls itself consistent too soon: the standby
	// checker's restart half sees it. Restarts of a standby with pages of
	// its own on disk are rare (14 of 1500 seeds with --standbys 1 fail
	// at the end of issue 22's round), so the test runs the first ten seeds
	// that campaign failed.
	"min-recovery-point-not-updated": {seedList: []uint64{93, 260, 304, 365, 420, 527, 569, 647, 895, 954}, tweak: func(c *Config) { c.Standbys = 1 }, checkers: []string{CheckStandby}, minCaught: 8},
	// The archiver marks a segment done without fsyncing its copy: the
	// archive checker sees the copy not durable at the .done rename (the
	// durable archive file is empty), on every seed with archive_mode on
	// that archives a segment. On seed 8, a partition failover's, the
	// PITR across it finds first the promoted standby's timeline history
	// file that the bug left empty in the archive after the new
	// primary's power loss.
	"archiver-done-before-durable": {seeds: 60, checkers: []string{CheckArchive, CheckPITR}, minCaught: 5},
	// Archive recovery reads a segment from the oldest timeline that has
	// it: the second restore of a PITR that branched (pitrBranch) then
	// follows the primary's timeline past the switch point, and its new
	// timeline's history (or its rows) differ from the reference's.
	"restore-wrong-timeline": {seeds: 60, tweak: func(c *Config) { c.PITR = VarietyOn }, checkers: []string{CheckPITR, CheckStandby}, minCaught: 4},
	// A standby follows a new timeline that forked off before its replay
	// position: re-pointed at the promoted standby after a failover, a
	// standby that had replayed the old primary's WAL past the switch
	// point splices the new timeline's WAL after it and never catches up
	// with (or differs from) the new primary; the standby checker's
	// catch-up sees it. About 1 seed in 120 with two standbys and a
	// failover has such a standby: the first five of 1500 with the
	// insert workload (failover runs of the mixed workload now add bank
	// transfers): 22 of 1500 at the end of issue 22's round, 30 since the
	// WAL buffers became a ring.
	"timeline-follow-past-fork": {seedList: []uint64{151, 153, 156, 190, 289, 306, 313}, tweak: func(c *Config) { c.Standbys, c.Failover, c.Workload = 2, true, WorkloadInsert }, checkers: []string{CheckStandby}, minCaught: 4},
	// A standby coming from the archive source asks for streaming from
	// the next segment boundary rather than its replay position: the
	// segment's tail is never streamed, and the standby checker sees it
	// fail to catch up (11 of seeds 1..120 aimed, 20 of 200; 4 of 2000
	// plain, first 365, since the checkpoint reads nextXid at its REDO
	// pointer: 9 of 1..60 aimed and 8 plain before).
	"standby-archive-source-skips": {seeds: 120, tweak: func(c *Config) { c.Standbys, c.StandbyArchive = 1, VarietyOn }, checkers: []string{CheckStandby}, minCaught: 8},
	"clog-status-lost-update": {seeds: 200, tweak: func(c *Config) { c.Scheduler = "random" },
		checkers: []string{CheckDurability, CheckBank, CheckLinearizability, CheckIsolation, CheckUnique}, minCaught: 9},
	// A hot standby records only observed xids: a writer of hs that
	// waits for the log row's lock with its xid assigned counts as
	// finished to standby snapshots once a later xid commits; a standby
	// read then sets its rows' abort hints (they stay invisible after it
	// commits) or sees it commit mid-snapshot. The standby-read checker
	// sees a read that is not a prefix of the primary's commit order
	// (about 1 seed in 11 with one standby and standby reads). An abort
	// hint a standby read set on a row that later commits also leaves the
	// standby's table unlike the primary's, which the standby checker
	// sees when it runs first.
	"known-assigned-no-gaps": {seeds: 200, tweak: func(c *Config) { c.Standbys, c.StandbyReads = 1, VarietyOn }, checkers: []string{CheckStandbyReads, CheckStandby}, minCaught: 8},
	// A hot standby replays VACUUM's removals under a standby snapshot
	// that still needs the removed versions: a REPEATABLE READ read
	// finds rows gone or older than its own first statement saw.
	"standby-no-snapshot-conflict": {seeds: 200, tweak: func(c *Config) { c.Standbys, c.StandbyReads = 1, VarietyOn }, checkers: []string{CheckStandbyReads}, minCaught: 6},
	// SERIALIZABLE (issue 20). The plain campaign runs about one seed in
	// five at SERIALIZABLE (one in ten drawn by the level, and the hot
	// seeds: simtest/hot_keys.go, a few lists crowded by short
	// transactions and long ones). A read without SIREAD locks lets write
	// skew between two appenders commit: a two-transaction rw cycle,
	// G2-item. 71 of 2000 plain seeds, first 12 (11 of 2000, first 79,
	// before the hot seeds and before range reads of lists stopped
	// failing their transactions: serializable.go's isListKey).
	"ssi-read-no-siread": {seeds: 200, checkers: []string{CheckIsolation}, minCaught: 4, anomalies: []string{"G2-item", "G2"}},
	// A pivot whose out-conflict is between its pre-commit check and the
	// end of its commit (the commit record's flush) is let through. The
	// plain campaign: 4 of 2000 seeds (0 before the hot seeds), first
	// 398, all at SERIALIZABLE: the seeds it failed.
	"ssi-no-t3-first-check": {seedList: []uint64{162, 431, 605, 1365, 1383, 1673},
		checkers: []string{CheckIsolation}, minCaught: 4, anomalies: []string{"G2-item", "G2"}},
	// A range read of lists locks the B-tree leaves it read; a leaf
	// splits, and a list inserted into its right half is a phantom the
	// reader never conflicts with. Aimed (3 of these 400 seeds): the
	// plain campaign fails 1 of 2000 seeds (1178; 1 before the hot
	// seeds, 562).
	"ssi-split-no-transfer": {workload: WorkloadAppend, isolation: IsoSerializable, seeds: 400, tweak: ssiAimed,
		checkers: []string{CheckIsolation}, minCaught: 2, anomalies: []string{"G2-item", "G2"}},
	// PostgreSQL 12.3's G2-item (Jepsen's Elle, fixed in 12.4): a read
	// that misses a concurrent insert of a list and a concurrent append
	// to it conflicts out to the appender only. Its window needs three
	// transactions over one new list, and the reader's other SIREAD
	// locks must all miss the inserter's writes (a page lock or another
	// list's tuple lock flags the same rw-conflict the bug drops), so it
	// is rare: the plain campaign fails 1 of seeds 1..2000 at the end of
	// the round that added the hot seeds (seed 1249, a G2-item; 0 of them
	// and 4 of 2001..8000 when the hot seeds came), hot serializable runs
	// (--isolation serializable --hot-keys on) 4 of 2000. This aimed
	// campaign fails 18 of 6000 seeds (2 of 6000 before range reads of
	// lists stopped failing their transactions: serializable.go's
	// isListKey); the seeds pinned are the first it fails since.
	"ssi-conflict-out-updater": {workload: WorkloadAppend, isolation: IsoSerializable, seedList: []uint64{198, 456, 832, 976, 1034, 1119},
		tweak: func(c *Config) { c.ListInserts = "on" }, checkers: []string{CheckIsolation}, minCaught: 3, anomalies: []string{"G2-item"}},
	// The safe-snapshot opt-out (GetSerializableTransactionSnapshotInt)
	// taken by a read-write transaction that starts while no other one
	// runs: it takes no SIREAD locks, nor does any transaction after it
	// (it is not counted as writable), and write skew commits. 115 of
	// 2000 plain seeds, first 3 (21, first 91, before the hot seeds).
	"ssi-opt-out-not-read-only": {seeds: 200, checkers: []string{CheckIsolation}, minCaught: 6, anomalies: []string{"G2-item", "G2"}},
	// SyncRepReleaseWaiters releases an 'on' commit by its standby's
	// write position: the sync-rep checker's online half sees the commit
	// acknowledged while the standby has not fsynced it (and, after a
	// failover that powers both machines off, its failover half sees it
	// lost). One synchronous standby, synchronous_commit = on.
	// 66 of 300 aimed seeds (84 before WAL pages moved every run's
	// trace).
	"syncrep-release-at-write": {seeds: 100, tweak: func(c *Config) {
		c.Standbys, c.SyncStandbyNames, c.SyncCommit = 1, "FIRST 1 (standby1)", "on"
	}, checkers: []string{CheckSyncRep}, minCaught: 15},
	// Replay of a commit on the standby leaves latestCompletedXid (and
	// so standby snapshots' xmax) behind: a remote_apply commit the
	// primary acknowledged is missing from the writer's read on the
	// synchronous standby right after (the sync-rep checker's
	// remote_apply half); the standby-read checker sometimes sees the
	// lagging snapshot split a transaction's rows too.
	"standby-latest-completed-stale": {seeds: 100, tweak: func(c *Config) {
		c.Standbys, c.SyncStandbyNames, c.SyncCommit, c.StandbyReads = 1, "FIRST 1 (standby1)", "remote_apply", VarietyOn
	}, checkers: []string{CheckSyncRep, CheckStandbyReads}, minCaught: 8},
	// A promoted standby writes its timeline history file but never
	// notifies it for archiving (writeTimeLineHistory's
	// XLogArchiveNotify): a PITR across the failover, restored from the
	// shared archive with recovery_target_timeline = latest, never finds
	// timeline 2 and cannot even read the backup's start (its segment is
	// timeline 2's, the old one's archived as .partial), or stops short
	// of its target. Plain campaign: 6 of 2000 seeds (every archiving
	// failover seed draws a PITR across it), the first five pinned
	// (7 before the partition failover: seed 1174 now draws one whose
	// plan crash ends the run before the promotion does).
	"promote-no-history-archive": {seedList: []uint64{8, 834, 1033, 1444, 1618}, checkers: []string{CheckPITR}, minCaught: 4},
	// Archive recovery to a recovery_target_time with the inclusive
	// test inverted: an inclusive restore to a commit's very microsecond
	// loses that commit (and every transaction end sharing it), an
	// exclusive one keeps them, and the new timeline branches off before
	// or after the record the PITR checker's own reading of
	// recoveryStopsBefore names. Only PITR seeds that draw a time target
	// at a commit's microsecond reach it: plain campaign 5 of 2000, all
	// pinned.
	"pitr-time-inclusive-inverted": {seedList: []uint64{479, 642, 768, 1033, 1138}, checkers: []string{CheckPITR}, minCaught: 4},
	// A process killed, or the power lost, just after a flush finished a
	// segment whose last record continues in the next one, not yet
	// written (the swarm's WAL crash, wal_crash_points.go, at
	// wal-after-segment-create or walwriter-after-segment-fsync-mid-
	// record): recovery ends in that record, inside the completed
	// segment, which archive mode has notified or archived already. With
	// the bug the end of recovery writes over the segment's tail, and the
	// archive checker sees the completed segment change, in pg_wal or in
	// its archived copy. The plain campaign: 9 of seeds 1-2000 (42 of
	// 10000), the first five pinned; before the WAL crash dimension 0 of
	// 10000, and aimed ("kill when point=wal-after-segment-create") 10 of
	// 400.
	"no-overwrite-contrecord": {seedList: []uint64{443, 1238, 1729, 1801, 1952, 2027, 2318}, checkers: []string{CheckArchive, CheckPITR}, minCaught: 4},
	// The control file written as two sectors and read without its CRC:
	// a power loss between its write and its fsync (a crash drawn at
	// control-file-before-fsync, or the run's last power loss striking
	// while a checkpoint's fsync of it waits on the disk) in torn mode
	// keeps one sector of each version, and startup follows a checkpoint
	// location whose record names another REDO pointer than the file
	// (recovery: "invalid checkpoint record"), or a standby torn so
	// never starts (standby: "did not catch up"). The plain campaign:
	// 6 of seeds 1-2000, these, since the WAL buffers became a ring of
	// wal_buffers pages (4 at the end of issue 22's round, 12 when the
	// bug was planted, before parallel WAL insertion and recycling moved
	// every run); aimed ("crash mode=torn when
	// point=control-file-before-fsync#2"), 67 of 200.
	"control-two-sectors-no-crc": {seedList: []uint64{348, 441, 845, 1770, 1868, 1880, 2981},
		checkers: []string{CheckRecovery, CheckStandby}, minCaught: 4},
	// The plain campaign: a checkpoint (or the final recovery's
	// end-of-recovery checkpoint) recycles a completed segment whose
	// .ready the archiver has not turned into .done yet; the archive
	// checker judges the rename as the segment leaving pg_wal. 39 of
	// 2000 plain seeds, first seed 38 (archive mode is on in half the
	// swarm's runs, recycling happens in about one run in five).
	"recycle-before-archived": {seeds: 200, checkers: []string{CheckArchive}, minCaught: 3},
	// A flush that does not wait for the insertions in progress writes a
	// record still being copied into the WAL buffers (paused at
	// wal-insert-copy, a scheduling point of every insertion): torn on
	// disk, it ends valid WAL, and the commits after it are lost at the
	// next power loss, or a checkpoint record past it cannot be found;
	// the plain campaign (50 of 2000 seeds, first 5, 7 of seeds 1..300,
	// since the WAL buffers became a ring and a flush waits for the
	// insertions before WALWriteLock; 81 of 2000 before).
	"flush-no-wait-insertions": {seeds: 300, checkers: []string{CheckDurability, CheckSelf, CheckRecovery, CheckLinearizability, CheckIsolation, CheckBank, CheckArchive, CheckStandby}, minCaught: 5},
	// A writer that finds the fsync request queue full neither queues
	// nor fsyncs: the checkpoint checker sees a page before REDO that
	// is not durable. Reached only on the seeds that draw a small queue
	// (fsync_queue.go, one in eight), and mostly masked there: a later
	// write of the same segment by a writer that finds room, or by the
	// checkpoint itself, which never meets the bound, registers the
	// segment again and its fsync covers the skipped write. The plain
	// campaign: 1 of 2000 seeds (1061).
	"sync-queue-full-no-fsync": {seedList: []uint64{1061}, checkers: []string{CheckCheckpoint, CheckRecovery, CheckDurability, CheckSelf}, minCaught: 1},
	// ExtendCLOG logs no CLOG_ZEROPAGE: a crash before a checkpoint
	// wrote the new page leaves redo of a commit on it reading past the
	// end of pg_xact/0000. Reached only on the seeds that start near a
	// clog page boundary (clog_start.go, one in eight); the plain
	// campaign: 38 of 2000 seeds, first 7.
	"clog-zeropage-not-logged": {seedList: []uint64{7, 75, 125, 133, 142, 171}, checkers: []string{CheckRecovery, CheckPITR}, minCaught: 5},
	// A WAL buffer slot reused before the page it held was written out
	// (AdvanceXLInsertBuffer): the next flush writes the newer page's
	// bytes at the older page's place, so recovery ends there before
	// acknowledged commits, the archive gets a segment that is not the
	// one pg_wal completed, or a data page's LSN is past the end of WAL.
	// The plain campaign (142 of 2000 seeds, first 14; the swarm's
	// wal_buffers is 8 pages, 4 on a third of its seeds).
	"wal-buffer-reuse-unwritten": {seeds: 100, checkers: []string{CheckDurability, CheckSelf, CheckRecovery, CheckLinearizability, CheckIsolation, CheckBank, CheckArchive, CheckStandby}, minCaught: 3},
}

// ssiAimed pins a serializable run's draws to lists made by their first
// append and PostgreSQL's predicate lock limits, without READ ONLY
// readers (ssi_read_only.go), which take writers away from the write
// skew these bugs let through.
func ssiAimed(c *Config) {
	c.ListInserts, c.PredLocks, c.SSIReadOnly = "on", PredLocksDefault, SSIReadOnlyOff
}

// repinSeeds is a maintenance aid, not a test: with -repin=N, a case
// whose pinned seeds no longer catch its bug (a change moved every run)
// searches seeds 1..N with the case's own configuration and fails with
// the seedList to paste, seeds that catch the bug with one of the case's
// checkers and pass without it. Without the flag the case just fails.
var repinSeeds = flag.Int("repin", 0, "search seeds 1..N for a planted-bug case whose pinned seeds moved, and print the seedList to pin")

// repinSuggestion searches seeds 1..n for ones that catch bug id with one
// of checkers and pass without it, keeping at most want.
func repinSuggestion(n, want int, id bugs.ID, checkers []string, mk func(seed uint64) Config) string {
	with := runSeeds(n, func(seed uint64) Config {
		c := mk(seed)
		c.Bugs = c.Bugs.With(id)
		return c
	})
	var found []string
	for _, r := range with {
		if len(found) == want {
			break
		}
		if r.OK || !slices.Contains(checkers, r.Checker) {
			continue
		}
		if !Run(mk(r.Seed)).OK {
			continue // fails without the bug too: not the bug's seed
		}
		found = append(found, fmt.Sprint(r.Seed))
	}
	return fmt.Sprintf("seedList: []uint64{%s} (%d found in seeds 1..%d)", strings.Join(found, ", "), len(found), n)
}

func TestPlantedBugsAllCovered(t *testing.T) {
	for _, b := range bugs.All() {
		_, ok := plantedBugCases[b.Name]
		require.True(t, ok, "planted bug %q has no test case", b.Name)
	}
}

// TestPlantedBugsAreCaught: with the bug on, the named checker must fail
// some of the seeds; with it off, the very same seeds must all pass.
func TestPlantedBugsAreCaught(t *testing.T) {
	for name, tc := range plantedBugCases {
		t.Run(name, func(t *testing.T) {
			id, err := bugs.Parse(name)
			require.NoError(t, err)
			mk := func(seed uint64) Config {
				c := DefaultConfig(seed)
				c.Faults, c.Isolation = tc.plan, tc.isolation
				if tc.workload != "" {
					c.Workload = tc.workload
				}
				if tc.tweak != nil {
					tc.tweak(&c)
				}
				return c
			}
			caught, named := 0, 0
			run := func(mk func(seed uint64) Config) []*Result {
				if len(tc.seedList) == 0 {
					return runSeeds(tc.seeds, mk)
				}
				return runSeeds(len(tc.seedList), func(i uint64) Config { return mk(tc.seedList[i-1]) })
			}
			for _, r := range run(func(seed uint64) Config {
				c := mk(seed)
				c.Bugs = c.Bugs.With(id)
				return c
			}) {
				if r.OK {
					continue
				}
				caught++
				require.Contains(t, tc.checkers, r.Checker, "seed %d: %v", r.Seed, r.Failures)
				if r.Isolation != nil {
					for _, f := range r.Isolation.Forbidden {
						if slices.Contains(tc.anomalies, string(f.Anomaly)) {
							named++
							break
						}
					}
				}
			}
			if caught < tc.minCaught && len(tc.seedList) > 0 && *repinSeeds > 0 {
				t.Fatalf("%s: caught on %d of its pinned seeds; pin instead %s", name, caught, repinSuggestion(*repinSeeds, len(tc.seedList)+2, id, tc.checkers, mk))
			}
			require.GreaterOrEqual(t, caught, tc.minCaught, "%s must be caught (a change moved every run? -repin=N searches seeds 1..N for new ones)", name)
			if len(tc.anomalies) > 0 {
				require.GreaterOrEqual(t, named, tc.minCaught/2, "%s must be named %v", name, tc.anomalies)
				t.Logf("%s: caught on %d of %d seeds, %d of them named %v", name, caught, max(tc.seeds, len(tc.seedList)), named, tc.anomalies)
			} else {
				t.Logf("%s: caught on %d of %d seeds", name, caught, max(tc.seeds, len(tc.seedList)))
			}
			for _, r := range run(mk) {
				require.True(t, r.OK, "seed %d: false alarm without the bug: %v", r.Seed, r.Failures)
			}
		})
	}
}

// TestEachHistoryCheckerCatchesABug: every history checker, alone with its
// workload, fails runs of a planted bug and passes the same runs without
// it — so none of them is wired in but unable to fail.
func TestEachHistoryCheckerCatchesABug(t *testing.T) {
	for _, tc := range []struct {
		workload, isolation, bug, checker string
		minCaught                         int
	}{
		{WorkloadRegister, "", "ack-before-flush", CheckLinearizability, 10},
		{WorkloadBank, IsoRepeatableRead, "rr-no-serialization-failure", CheckBank, 20},
		{WorkloadAppend, IsoReadCommitted, "aborted-read", CheckIsolation, 10},
	} {
		t.Run(tc.checker, func(t *testing.T) {
			id, err := bugs.Parse(tc.bug)
			require.NoError(t, err)
			mk := func(seed uint64) Config {
				c := DefaultConfig(seed)
				c.Workload, c.Isolation = tc.workload, tc.isolation
				return c
			}
			caught := 0
			for _, r := range runSeeds(100, func(seed uint64) Config {
				c := mk(seed)
				c.Bugs = c.Bugs.With(id)
				return c
			}) {
				for _, f := range r.Failures {
					if strings.HasPrefix(f, tc.checker+":") {
						caught++
						break
					}
				}
			}
			t.Logf("%s with %s: caught on %d of 100 seeds", tc.checker, tc.bug, caught)
			require.GreaterOrEqual(t, caught, tc.minCaught)
			for _, r := range runSeeds(100, mk) {
				require.True(t, r.OK, "seed %d: false alarm: %v", r.Seed, r.Failures)
			}
		})
	}
}
