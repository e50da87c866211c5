package explain

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/harness/shrink"
	"github.com/pgdst/pgdst/simtest"
)

// bugCase is how the test finds a failing run of one planted bug and
// what explain must say about it: a small config (aimed as a researcher
// would aim it, as simtest/bugs_test.go does), the seeds known to fail
// with it when this was written (tried first, so the test stays fast),
// and the phrases of which the account's mechanism must contain one:
// the mechanism in a PostgreSQL user's words.
type bugCase struct {
	config func(seed uint64) simtest.Config
	hints  []uint64
	says   []string
}

// scanSeeds is how many seeds after the hints the test tries before it
// gives up on finding a failing run: the hints may stop failing when the
// engine changes, and another seed must then be found.
const scanSeeds = 60

func small(workload string, tweak func(c *simtest.Config)) func(uint64) simtest.Config {
	return func(seed uint64) simtest.Config {
		c := simtest.DefaultConfig(seed)
		// The hints were found before follow reads were drawn; off,
		// each seed runs as it did then.
		c.FollowReads = simtest.VarietyOff
		if workload != "" {
			c.Workload = workload
		}
		if tweak != nil {
			tweak(&c)
		}
		return c
	}
}

// bugCases has an entry for every planted bug; a bug without one fails
// TestExplainNamesEachPlantedBug with its name.
var bugCases = map[string]bugCase{
	// SERIALIZABLE's planted bugs: each lets a two-transaction rw cycle
	// commit. The plain campaign catches three of them (its hot
	// serializable seeds, simtest/hot_keys.go): the first seeds it
	// failed.
	"ssi-read-no-siread":    {config: plain, hints: []uint64{12}, says: []string{"G2-item"}},
	"ssi-no-t3-first-check": {config: plain, hints: []uint64{162}, says: []string{"G2-item"}},
	// The list-append workload at serializable with lists made by their
	// first append and PostgreSQL's predicate lock limits.
	"ssi-split-no-transfer": {config: ssiAimed, hints: []uint64{133, 327}, says: []string{"G2-item"}},
	// PostgreSQL 12.3's bug: a read that missed a concurrent insert and
	// a concurrent update of it conflicts out to the updater only.
	"ssi-conflict-out-updater": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Workload, c.Isolation, c.ListInserts = simtest.WorkloadAppend, simtest.IsoSerializable, "on"
			return c
		},
		hints: []uint64{456, 588},
		says:  []string{"G2-item"},
	},
	// A read-write transaction that starts alone opts out of SSI as
	// only a READ ONLY one may: write skew commits.
	"ssi-opt-out-not-read-only": {config: plain, hints: []uint64{3}, says: []string{"G2-item"}},
	// The default campaign's config with one standby (follow reads as the
	// seed draws them): its seed 93 fails.
	"standby-applies-unflushed": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys = 1
			return c
		},
		hints: []uint64{93},
		says:  []string{"standby replayed WAL before its WAL receiver had flushed it"},
	},
	// A standby coming from the archive source streams from the next
	// segment boundary: it never catches up. The account names the
	// failure (the standby's replay did not reproduce the primary), not
	// yet the skipped segment tail.
	"standby-archive-source-skips": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.StandbyArchive = 1, simtest.VarietyOn
			return c
		},
		hints: []uint64{26},
		says:  []string{"did not catch up", "did not reproduce the primary's committed state"},
	},
	// A standby holds WAL the primary's power loss took back: slow WAL
	// fsyncs widen the window between a write and its fsync, in which
	// the bug streams the written WAL.
	// A promoted standby keeps the old timeline: the old primary and the
	// new one both acknowledge commits on timeline 1.
	"promotion-reuses-timeline": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.Failover = 1, true
			return c
		},
		hints: []uint64{3},
		says:  []string{"reused the old timeline ID"},
	},
	// An 'on' commit released by the standby's write position: the
	// sync-rep checker sees it acknowledged before the standby fsynced it.
	"syncrep-release-at-write": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.SyncStandbyNames, c.SyncCommit = 1, "FIRST 1 (standby1)", "on"
			return c
		},
		hints: []uint64{3},
		says:  []string{"released before its standbys confirmed"},
	},
	// Replay of a commit leaves latestCompletedXid behind: the writer's
	// read on the remote_apply standby after its ack misses the commit.
	"standby-latest-completed-stale": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.SyncStandbyNames, c.SyncCommit, c.StandbyReads = 1, "FIRST 1 (standby1)", "remote_apply", simtest.VarietyOn
			return c
		},
		hints: []uint64{8},
		says:  []string{"not visible to a read on the standby begun after the remote_apply acknowledgement"},
	},
	// The archiver marks a segment done before its copy is fsynced; the
	// archive checker sees the copy not durable at the .done rename. The
	// mutant 39-archive-done-before-fsync makes the same slip.
	"archiver-done-before-durable": {
		config: small("", nil),
		hints:  []uint64{14},
		says:   []string{"done before its copy was fsynced"},
	},
	// Archive recovery reads the old timeline's segment: the second
	// restore across the PITR's timeline switch diverges.
	"restore-wrong-timeline": {
		config: small("", func(c *simtest.Config) { c.PITR = simtest.VarietyOn }),
		hints:  []uint64{3},
		says:   []string{"did not follow the timeline history"},
	},
	// A promoted standby never archives its timeline history file: the
	// PITR across the failover finds no timeline 2 in the archive.
	"promote-no-history-archive": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.StandbysSet, c.Failover, c.PITR = 1, true, true, simtest.VarietyOn
			return c
		},
		hints: []uint64{4, 9},
		says:  []string{"did not follow the failover's new timeline"},
	},
	// An inclusive restore to a time target loses the commits of the
	// target's microsecond (plain campaign seeds).
	"pitr-time-inclusive-inverted": {
		config: simtest.DefaultConfig,
		hints:  []uint64{479, 642},
		says:   []string{"did not stop at the first transaction end past the recovery target time"},
	},
	"walsender-unflushed": {
		config: small("", func(c *simtest.Config) {
			c.Standbys = 1
			c.Faults = "latency for=5ms when op=fsync and file=wal times=0\ncrash mode=drop-all when time>=250ms"
		}),
		hints: []uint64{6},
		says:  []string{"WAL was streamed to the standby before it was durable on the primary"},
	},
	"known-assigned-no-gaps": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.StandbyReads = 1, simtest.VarietyOn
			return c
		},
		hints: []uint64{3, 7},
		says:  []string{"KnownAssignedXids"},
	},
	// A restarted standby calls itself consistent with pages from its
	// future on disk: the standby checker's restart half.
	"min-recovery-point-not-updated": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys = 1
			return c
		},
		hints: []uint64{93, 105},
		says:  []string{"consistent before it had replayed past the pages on its disk"},
	},
	// A standby re-pointed at the promoted standby follows its new
	// timeline although it forked before the standby's replay position:
	// the standby checker finds it short of, or unlike, the new primary.
	// The account names the broken rule (replay reproduces the primary's
	// state), not yet the fork: the checker does not see timelines.
	"timeline-follow-past-fork": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			// The insert workload the hints were found with.
			c.Standbys, c.Failover, c.Workload = 2, true, simtest.WorkloadInsert
			return c
		},
		hints: []uint64{151, 156},
		says:  []string{"did not reproduce the primary's committed state"},
	},
	"standby-no-snapshot-conflict": {
		config: func(seed uint64) simtest.Config {
			c := simtest.DefaultConfig(seed)
			c.Standbys, c.StandbyReads = 1, simtest.VarietyOn
			return c
		},
		hints: []uint64{61},
		says:  []string{"ResolveRecoveryConflictWithSnapshot"},
	},
	"ack-before-flush": {
		config: small(simtest.WorkloadInsert, func(c *simtest.Config) { c.Clients, c.Txns = 2, 4 }),
		hints:  []uint64{3},
		says:   []string{"acknowledged before its commit record was durable"},
	},
	"write-before-wal": {
		config: small("", func(c *simtest.Config) { c.Clients, c.Txns = 2, 6 }),
		hints:  []uint64{3},
		says:   []string{"page was written before the WAL up to its LSN was flushed"},
	},
	"full-page-writes-off": {
		config: small(simtest.WorkloadInsert, func(c *simtest.Config) {
			c.Faults = "crash mode=torn when role=checkpointer and point=smgr-after-fsync"
		}),
		hints: []uint64{1},
		says:  []string{"torn by the crash could not be repaired, because its first change after the checkpoint logged no full-page image"},
	},
	"early-clean": {
		config: small(simtest.WorkloadInsert, func(c *simtest.Config) {
			c.Faults = "pause for=40ms role=backend when point=bufmgr-before-write"
		}),
		hints: []uint64{10},
		says:  []string{"the buffer was marked clean when the write started, not when it ended"},
	},
	"snapshot-no-inprogress": {
		config: small(simtest.WorkloadBank, func(c *simtest.Config) { c.Isolation = simtest.IsoRepeatableRead }),
		hints:  []uint64{32},
		says:   []string{"in progress when its snapshot was taken", "in progress when it was taken", "in progress when the snapshot was taken"},
	},
	"rr-no-serialization-failure": {
		config: small(simtest.WorkloadAppend, func(c *simtest.Config) {
			c.Isolation, c.Clients, c.Txns = simtest.IsoRepeatableRead, 3, 6
		}),
		hints: []uint64{1},
		says:  []string{"could not serialize access due to concurrent update"},
	},
	"aborted-read": {
		config: small(simtest.WorkloadAppend, func(c *simtest.Config) {
			c.Isolation, c.Clients, c.Txns = simtest.IsoReadCommitted, 3, 6
		}),
		hints: []uint64{4},
		says:  []string{"row version of an aborted transaction"},
	},
	"redo-after-flush": {
		config: small("", nil),
		hints:  []uint64{10},
		says:   []string{"took its REDO pointer after writing the buffers"},
	},
	"fsync-retry": {
		config: small("", func(c *simtest.Config) {
			c.Faults = "fsync-eio when file=heap and role=checkpointer\ncrash mode=drop-all when role=checkpointer and point=checkpointer-after-control#2"
		}),
		hints: []uint64{10},
		says:  []string{"fsync failed and was retried instead of raising a PANIC"},
	},
	"epq-next-version": {
		config: small(simtest.WorkloadBank, func(c *simtest.Config) {
			c.Isolation = simtest.IsoReadCommitted
			c.Faults = "pause for=10ms role=backend when point=backend-after-snapshot and prob=0.1"
		}),
		hints: []uint64{1},
		says:  []string{"did not apply to the newest version of its row"},
	},
	"delay-chkpt-by-backend": {
		config: small(simtest.WorkloadInsert, func(c *simtest.Config) {
			c.Faults = "# no faults\n"
			c.Autocommit, c.Clients, c.Txns, c.WritesMax, c.ThinkMax = true, 1, 200, 1, 0
		}),
		hints: []uint64{2},
		says:  []string{"it waited for the backends, not for those critical sections"},
	},
	"dirty-after-wal-insert": {
		config: small("", func(c *simtest.Config) {
			c.Faults = "pause for=30ms role=backend when point=page-after-xloginsert and prob=0.05 times=8"
		}),
		hints: []uint64{14},
		says:  []string{"its page was not dirty when the checkpoint scanned the buffers"},
	},
	"clog-status-lost-update": {
		config: small("", func(c *simtest.Config) { c.Scheduler = "random" }),
		hints:  []uint64{52},
		says:   []string{"clog lost the transaction's commit status", "the clog says committed are not visible"},
	},
	// The plain campaign's seed 443: the swarm's WAL crash kills a
	// backend as it fsyncs a segment whose last record continues in the
	// next one (walwriter-after-segment-fsync-mid-record); the recovery
	// ends inside the completed, notified segment, and the bug writes over
	// its tail.
	"no-overwrite-contrecord": {
		config: simtest.DefaultConfig,
		hints:  []uint64{443},
		says:   []string{"inside completed segment"},
	},
	// The plain campaign's seed 441: the run's last power loss strikes
	// while the checkpointer waits on its fsync of the two-sector control
	// file, and keeps one sector of each version.
	"control-two-sectors-no-crc": {
		config: simtest.DefaultConfig,
		hints:  []uint64{441},
		says:   []string{"tore the control file between its sectors"},
	},
	// The plain campaign's seeds: a completed segment recycled before its
	// .done exists.
	"recycle-before-archived": {
		config: simtest.DefaultConfig,
		hints:  []uint64{38, 127},
		says:   []string{"recycled (renamed into a future segment's name) before the archiver had archived it"},
	},
	// The plain campaign: a flush wrote a record still being copied,
	// torn, and recovery stopped there before an acknowledged commit.
	"flush-no-wait-insertions": {
		config: simtest.DefaultConfig,
		hints:  []uint64{209},
		says:   []string{"was still copying into the WAL buffers"},
	},
	// The plain campaign, on a seed that draws a small fsync request
	// queue: a write neither queued nor fsynced is below a checkpoint's
	// REDO and not on disk. explain's mechanism names the change's record
	// before REDO rightly, but blames the dirty-marking rule: it does not
	// yet tell a page written and never fsynced from one never written.
	"sync-queue-full-no-fsync": {
		config: simtest.DefaultConfig,
		hints:  []uint64{1061},
		says:   []string{"inserted before the checkpoint's REDO pointer"},
	},
	// The plain campaign, on a seed that starts near a clog page
	// boundary: redo of a commit on the new page reads past the end of
	// its segment. explain's account quotes that error ("could not
	// access status of transaction 32768 ... pg_xact/0000 at offset
	// 8192"); its mechanism names only the failed redo, not the missing
	// CLOG_ZEROPAGE record.
	"clog-zeropage-not-logged": {
		config: simtest.DefaultConfig,
		hints:  []uint64{7},
		says:   []string{"could not replay the WAL the crash left"},
	},
	// The plain campaign: a WAL buffer slot reused before its page was
	// written out, and recovery stopped at the page before an
	// acknowledged commit.
	"wal-buffer-reuse-unwritten": {
		config: simtest.DefaultConfig,
		hints:  []uint64{25},
		says:   []string{"reused for a newer page before the page it held was written out"},
	},
	"end-of-recovery-ckpt-early-control": {
		config: small("", nil),
		hints:  []uint64{1},
		says:   []string{"end-of-recovery checkpoint updated the control file before it wrote the buffers"},
	},
}

// TestExplainNamesEachPlantedBug: for every planted bug, the first failing
// run found with its case's config, and the same run shrunk, are
// explained, and each account names the bug's mechanism in the case's
// words. A new bug without a case fails here, by name.
func TestExplainNamesEachPlantedBug(t *testing.T) {
	for _, b := range bugs.All() {
		t.Run(b.Name, func(t *testing.T) {
			tc, ok := bugCases[b.Name]
			if !ok {
				t.Fatalf("planted bug %q has no case in bugCases (harness/explain/bugs_test.go): add the config that makes it fail and the words explain must say about it", b.Name)
			}
			id, err := bugs.Parse(b.Name)
			if err != nil {
				t.Fatal(err)
			}
			cfg, res := firstFailing(tc, id)
			if res == nil {
				t.Fatalf("%s: no failing run among the hints %v and seeds 1..%d%s", b.Name, tc.hints, scanSeeds, repinHints(tc, id))
			}
			// The run as the campaign found it, then shrunk as `pgdst
			// shrink` would (bounded: a test must stay fast).
			sh := shrink.New(cfg, shrinkAttempts, time.Now().Add(shrinkBudget), func(string) {})
			sh.Shrink()
			for _, c := range []struct {
				what string
				cfg  simtest.Config
			}{{"found", cfg}, {"shrunk", sh.Config()}} {
				rec := NewRecorder()
				c.cfg.Events = rec
				res = simtest.Run(c.cfg)
				if res.OK {
					t.Fatalf("%s seed %d: failed without an observer, passed with one", c.what, c.cfg.Seed)
				}
				acc := Explain(res, rec)
				t.Logf("%s seed %d:\n%s", c.what, c.cfg.Seed, acc)
				if acc.Mechanism == "" {
					t.Fatalf("%s seed %d (%s): the account names no mechanism:\n%s", c.what, c.cfg.Seed, res.Checker, acc)
				}
				if !saysOneOf(acc.Mechanism, tc.says) {
					t.Fatalf("%s seed %d (%s): the mechanism %q says none of %q%s", c.what, c.cfg.Seed, res.Checker, acc.Mechanism, tc.says, repinHints(tc, id))
				}
			}
		})
	}
}

// The shrink's bounds in the test.
const (
	shrinkAttempts = 80
	shrinkBudget   = 5 * time.Second
)

func saysOneOf(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// firstFailing runs the case's hints, then seeds 1..scanSeeds, with bug
// id on, and returns the first failing run's config and result.
// repinSeeds is a maintenance aid, not a test: with -repin=N, a case whose
// hints no longer fail as the case says (a change moved every run) names
// the seeds of 1..N whose failing run explain accounts for in the case's
// words, to paste as its hints.
var repinSeeds = flag.Int("repin", 0, "search seeds 1..N for a bug case whose hints moved, and print the hints to pin")

// repinHints is the hint for a failed case: under -repin, the seeds to
// pin (the first few of 1..N whose failing run says the case's words);
// otherwise how to find them.
func repinHints(tc bugCase, id bugs.ID) string {
	if *repinSeeds <= 0 {
		return " (a change moved every run? -repin=N searches seeds 1..N for new hints)"
	}
	var found []string
	for s := uint64(1); s <= uint64(*repinSeeds) && len(found) < 3; s++ {
		c := tc.config(s)
		c.Bugs = c.Bugs.With(id)
		rec := NewRecorder()
		c.Events = rec
		if r := simtest.Run(c); !r.OK && saysOneOf(Explain(r, rec).Mechanism, tc.says) {
			found = append(found, fmt.Sprint(s))
		}
	}
	return fmt.Sprintf("; pin instead hints: []uint64{%s} (%d found in seeds 1..%d)", strings.Join(found, ", "), len(found), *repinSeeds)
}

func firstFailing(tc bugCase, id bugs.ID) (simtest.Config, *simtest.Result) {
	seeds := append([]uint64(nil), tc.hints...)
	for s := uint64(1); s <= scanSeeds; s++ {
		seeds = append(seeds, s)
	}
	for _, s := range seeds {
		c := tc.config(s)
		c.Bugs = c.Bugs.With(id)
		if r := simtest.Run(c); !r.OK {
			return c, r
		}
	}
	return simtest.Config{}, nil
}

// TestExplainSurvey (PGDST_EXPLAIN_SURVEY=N) explains every failing run
// among seeds 1..N of each case and counts the mechanisms: how often the
// words of the case are what explain says, beyond the seed the
// acceptance test checks. PGDST_EXPLAIN_PLAIN=1 uses the plain
// campaign's config instead of the case's; PGDST_EXPLAIN_BUG=NAME surveys
// one bug; PGDST_EXPLAIN_SHOW=1 prints each mechanism's first account, =all every account.
func TestExplainSurvey(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PGDST_EXPLAIN_SURVEY"))
	if n <= 0 {
		t.Skip("set PGDST_EXPLAIN_SURVEY=N to survey N seeds per planted bug")
	}
	only := os.Getenv("PGDST_EXPLAIN_BUG")
	for _, b := range bugs.All() {
		if only != "" && b.Name != only {
			continue
		}
		tc := bugCases[b.Name]
		if os.Getenv("PGDST_EXPLAIN_PLAIN") != "" {
			tc.config = small("", nil) // the plain campaign's config
		}
		if tc.config == nil {
			continue
		}
		id, _ := bugs.Parse(b.Name)
		count := map[string]int{}
		failed := 0
		start := time.Now()
		for s := uint64(1); s <= uint64(n); s++ {
			c := tc.config(s)
			c.Bugs = c.Bugs.With(id)
			rec := NewRecorder()
			c.Events = rec
			res := simtest.Run(c)
			if res.OK {
				continue
			}
			failed++
			acc := Explain(res, rec)
			key := res.Checker + ": " + acc.Mechanism
			if show := os.Getenv("PGDST_EXPLAIN_SHOW"); show == "all" || count[key] == 0 && show != "" {
				t.Logf("seed %d:\n%s", s, acc)
			}
			count[key]++
		}
		var keys []string
		for k := range count {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return count[keys[i]] > count[keys[j]] })
		var b2 strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b2, "\n  %3d  %s", count[k], k)
		}
		t.Logf("%s: %d of %d seeds failed (%v)%s", b.Name, failed, n, time.Since(start).Round(time.Millisecond), b2.String())
	}
}

// ssiAimed is the list-append workload at SERIALIZABLE with lists made by
// their first append and PostgreSQL's predicate lock limits.
// plain is the plain campaign's config.
func plain(seed uint64) simtest.Config { return simtest.DefaultConfig(seed) }

func ssiAimed(seed uint64) simtest.Config {
	c := simtest.DefaultConfig(seed)
	c.Workload, c.Isolation = simtest.WorkloadAppend, simtest.IsoSerializable
	c.ListInserts, c.PredLocks = "on", simtest.PredLocksDefault
	return c
}
