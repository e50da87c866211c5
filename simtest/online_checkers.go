package simtest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world"
)

// The online checkers judge the run as it happens, event by event, rather
// than its outcome after recovery: every data-page write
// (wal_before_data_checker.go), every control-file update
// (checkpoint_checker.go) and every checkpoint's wait for commits
// (checkpoint_liveness_checker.go). They are observers: registered on the
// node before the postmaster starts and kept across every crash-restart,
// every recovery the plan crashes and the final recovery with its
// end-of-recovery checkpoint; initdb's image is built under them too
// (initdb_image.go), and each run adds the build's counts to its own. What
// they need of the engine they take from the instance running at the
// moment of the event (the postmaster's shared memory, which exists from
// before the startup process runs) or from the disk, never from the code
// path that is supposed to have done the right thing.
//
// Each counts the events it judged and those it skipped, by reason, so a
// campaign shows what its verdicts cover.

// Online checker event kinds, the keys of CheckerCounts.
const (
	countPageWrites     = CheckWALBeforeData + ": data page writes"
	countPageWritesRedo = CheckWALBeforeData + ": of those, during redo" // + " by " + process
	// countPageWritesNoInstance counts page writes with no shared memory
	// at all (none so far: initdb writes no relation page itself).
	countPageWritesNoInstance = CheckWALBeforeData + ": of those, with no instance"
	countControlUpdates       = CheckCheckpoint + ": control file updates"
	countCkptWaits            = "checkpoint-liveness: checkpoint waits"
	countLockWakeups          = CheckLockWakeup + ": waiters asleep at their lock's release"
	countLockRetries          = CheckLockRetry + ": waits for a transaction already seen to end"
	countClientProgress       = CheckProgress + ": runs"
	countArchiveReady         = CheckArchive + ": segments notified (.ready)"
	countArchiveDone          = CheckArchive + ": segments marked archived (.done)"
	countArchiveRemoved       = CheckArchive + ": completed segments removed from pg_wal"
	countArchiveAfterRecovery = CheckArchive + ": segments checked after recovery"
)

// CheckerCount is what an online checker did with one kind of event.
type CheckerCount struct {
	Judged  uint64            `json:"judged"`
	Skipped map[string]uint64 `json:"skipped,omitempty"` // by reason
}

// SkippedTotal is the events skipped for any reason.
func (c *CheckerCount) SkippedTotal() uint64 {
	var n uint64
	for _, k := range c.Skipped {
		n += k
	}
	return n
}

// CheckerCounts are the online checkers' counts, by event kind.
type CheckerCounts map[string]*CheckerCount

func (cs CheckerCounts) of(kind string) *CheckerCount {
	c := cs[kind]
	if c == nil {
		c = &CheckerCount{}
		cs[kind] = c
	}
	return c
}

func (cs CheckerCounts) judged(kind string, n uint64) { cs.of(kind).Judged += n }

func (cs CheckerCounts) skipped(kind, reason string, n uint64) {
	c := cs.of(kind)
	if c.Skipped == nil {
		c.Skipped = map[string]uint64{}
	}
	c.Skipped[reason] += n
}

// Add adds o's counts to cs (a campaign sums its runs').
func (cs CheckerCounts) Add(o CheckerCounts) {
	for kind, c := range o {
		cs.judged(kind, c.Judged)
		for reason, n := range c.Skipped {
			cs.skipped(kind, reason, n)
		}
	}
}

// Lines are the counts for a summary, one kind a line, sorted.
func (cs CheckerCounts) Lines() []string {
	kinds := make([]string, 0, len(cs))
	for k := range cs {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []string
	for _, k := range kinds {
		c := cs[k]
		line := fmt.Sprintf("%s: %d judged, %d skipped", k, c.Judged, c.SkippedTotal())
		if len(c.Skipped) > 0 {
			reasons := make([]string, 0, len(c.Skipped))
			for r := range c.Skipped {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			for i, r := range reasons {
				reasons[i] = fmt.Sprintf("%s: %d", r, c.Skipped[r])
			}
			line += " (" + strings.Join(reasons, "; ") + ")"
		}
		out = append(out, line)
	}
	return out
}

// onlineCheckers are the run's online checkers, installed on its node.
type onlineCheckers struct {
	walBeforeData *walBeforeDataChecker
	checkpoint    *checkpointChecker
	liveness      *checkpointLivenessChecker
	walFlushes    walFlushLog // for the asynchronous-commit bound (async_share.go)
	lockWait      *lockWaitChecker
	archive       *archiveChecker // nil without archive_mode
	hints         *hintBeforeCommitChecker
}

// installOnlineCheckers registers the online checkers on node, for a
// cluster made with cfg's WAL segment and relation segment sizes; instance
// is the shared memory of the running instance, nil when none exists
// (initdb, the moment between a crash and the next startup's shared
// memory). They stay until uninstall.
func installOnlineCheckers(res *Result, node *world.Node, cfg db.Config, instance func() *db.DB) *onlineCheckers {
	if res.Online == nil {
		res.Online = CheckerCounts{}
	}
	oc := &onlineCheckers{
		walBeforeData: &walBeforeDataChecker{res: res, disk: node.Disk, sim: node.Sim, wal: cfg.WAL, instance: instance, classOf: node.FileClass},
		checkpoint:    &checkpointChecker{res: res, disk: node.Disk, segBlocks: cfg.SegBlocks, instance: instance},
		liveness:      newCheckpointLivenessChecker(res),
		lockWait:      newLockWaitChecker(res),
		hints:         newHintBeforeCommitChecker(res, node, instance),
	}
	sim := node.Sim
	node.Watch = func(op world.DiskOp) {
		oc.walBeforeData.diskOp(op)
		oc.hints.diskOp(op)
	}
	if cfg.WAL.ArchiveMode {
		oc.archive = newArchiveChecker(res, node.Disk, cfg.WAL, archiveDir)
		node.Watch = func(op world.DiskOp) {
			oc.walBeforeData.diskOp(op)
			oc.hints.diskOp(op)
			oc.archive.diskOp(op)
		}
	}
	node.WatchEvents = func(e *env.Event) {
		oc.lockWait.event(e)
		oc.hints.event(e)
	}
	sim.SetInjectHook(func(p string) bool {
		switch p {
		case db.PointAfterRedo:
			oc.liveness.redoTaken(sim.Now())
		case db.PointAfterDelayWait:
			oc.liveness.waitEnded(sim.Now())
		case db.PointAfterControl:
			oc.checkpoint.controlUpdated()
			oc.liveness.completed()
		case pointWALFlushBegan, pointWALFlushEnded:
			oc.walFlushes.note(p, sim.Now())
		}
		return false
	})
	return oc
}

// uninstall removes the checkers from node.
func (oc *onlineCheckers) uninstall(node *world.Node) {
	node.Watch = nil
	node.WatchEvents = nil
	node.Sim.SetInjectHook(nil)
}
