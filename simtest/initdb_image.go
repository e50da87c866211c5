package simtest

// An initdb image is the data directory initdb and the workload's CREATE
// TABLEs leave, built once per image key and copied into every run that
// needs it, as pg_crash_cycle.sh runs initdb once and crashes the same
// cluster over and over. Nothing can fail during initdb (the fault plan is
// installed after the boot), so a run that copies the image goes on
// exactly as one that ran initdb itself would, from the same disk, the
// same virtual time, the same step count and the same process IDs.
//
// The image is a pure function of its key: it is built by a simulation of
// its own, seeded with a constant, so the build never draws from the run's
// seed, and the key holds every setting initdb's result depends on. The
// settings PostgreSQL takes at server start (shared_buffers,
// synchronous_commit, the background processes' timings) are runtime
// settings there and are PostgreSQL's defaults in the build; the ones
// initdb fixes for the cluster's life (wal_segment_size, the relation
// segment size, data checksums) are in the key, with archive_mode (pgdst's initdb makes
// pg_wal/archive_status only with it), the planted bugs (their code runs
// in initdb too), the workload (its tables) and the disk latencies (the
// virtual time initdb ends at).
//
// The run's trace hashes the build's trace hash as one word, so a change
// in what initdb does changes every run's trace, and a run writing a
// readable trace rebuilds its image into it, so the trace still shows
// every event of initdb. Images are kept in a bounded process-wide cache
// shared by a campaign's workers; a cache miss only costs the build.

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// imageKey is everything an initdb image depends on.
type imageKey struct {
	wal       wal.Config
	segBlocks uint32
	bugs      bugs.Set
	workload  string
	lat       world.Latency
	// dataChecksums: initdb records them in the control file.
	dataChecksums bool
	// nextXid is pg_resetwal -x's after initdb (clog_start.go), 0 for
	// initdb's own.
	nextXid uint64
}

// initdbImage is a built image: the quiescent disk and where the build's
// simulation ended.
type initdbImage struct {
	disk   *world.SimDisk // never written after the build
	trace  uint64         // the build's trace hash: every event of initdb
	events uint64
	now    time.Duration
	steps  uint64
	lastID int   // the highest process ID the build used
	err    error // initdb failed: every run with this key fails so
	// checker is the online checker that failed initdb ("" when initdb
	// itself failed): the run fails with it.
	checker string
	finding *Finding // that checker's Finding, for explain
	// online is what the online checkers judged of initdb's events;
	// each run that copies the image adds it to its own counts.
	online CheckerCounts
}

// imageSeed seeds every image build; it is not any run's seed.
const imageSeed = 0x1417db

// imageCacheMax bounds the cache: a swarm campaign draws 4 WAL segment
// sizes and 2 archive modes for each workload and bug set, and on one
// seed in eight one of a few xid starts (clog_start.go); past the bound an
// image is built again, which costs time, never a different run.
const imageCacheMax = 64

var images struct {
	sync.Mutex
	m map[imageKey]*initdbImage
}

func imageKeyOf(rc resolved) imageKey {
	return imageKey{wal: rc.engine.WAL, segBlocks: rc.engine.SegBlocks, bugs: rc.engine.Bugs, workload: rc.Workload, lat: rc.lat, dataChecksums: rc.engine.DataChecksums, nextXid: rc.engine.InitNextXid}
}

// imageFor returns the image for rc, from the cache or built now (into
// readable, when a readable trace or an event sink is asked for: never
// cached then, as the cache's image was built without one).
func imageFor(rc resolved, readable *world.Trace) *initdbImage {
	k := imageKeyOf(rc)
	if readable != nil && readable.Readable() {
		return buildImage(k, readable.Fresh())
	}
	images.Lock()
	defer images.Unlock()
	if img := images.m[k]; img != nil {
		return img
	}
	img := buildImage(k, world.NewTrace(nil))
	if images.m == nil {
		images.m = make(map[imageKey]*initdbImage)
	}
	if len(images.m) < imageCacheMax {
		images.m[k] = img
	}
	return img
}

// buildImage runs initdb and the workload's CREATE TABLEs, then a
// checkpoint, on a fresh simulation, and checks that they left nothing
// unsynced (PostgreSQL's initdb ends with fsync_pgdata).
func buildImage(k imageKey, trace *world.Trace) *initdbImage {
	cfg := db.DefaultConfig()
	cfg.WAL, cfg.SegBlocks, cfg.Bugs = k.wal, k.segBlocks, k.bugs
	cfg.DataChecksums = k.dataChecksums
	cfg.InitNextXid = k.nextXid
	node := newNode(world.NewRand(imageSeed), trace, world.DefaultSchedConfig, k.lat)
	img := &initdbImage{disk: node.Disk}
	var initErr error
	// The online checkers watch initdb as they watch a run, from before
	// its first write.
	var d *db.DB
	res := &Result{OK: true}
	checkers := installOnlineCheckers(res, node, cfg, func() *db.DB { return d })
	node.Sim.Spawn("initdb", func() {
		if initErr = db.InitDB(node.Env, cfg); initErr != nil {
			return
		}
		// db.Open's steps, so the checkers see the shared memory from
		// its creation.
		if d, initErr = db.NewShared(node.Env, cfg); initErr != nil {
			return
		}
		if _, initErr = d.StartupXLOG(db.RegisterAccessMethods, false); initErr != nil {
			return
		}
		if initErr = d.CreateTable(table); initErr != nil {
			return
		}
		if initErr = createWorkloadTables(d, k.workload); initErr != nil {
			return
		}
		initErr = d.Checkpoint()
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	checkers.uninstall(node)
	img.online = res.Online
	switch {
	case st.Kind != world.StopAllDone || initErr != nil:
		img.err = fmt.Errorf("initdb: %v %v", st, initErr)
	case !res.OK:
		img.err = fmt.Errorf("initdb: %s", strings.Join(res.Failures, "; "))
		img.checker, img.finding = res.Checker, res.Finding
	case !node.Disk.Quiescent():
		img.err = fmt.Errorf("initdb: left unsynced writes or directory entries (initdb must end with every file durable)")
	}
	node.Disk.SetHook(nil)
	img.trace, img.events = trace.Hash(), trace.Events()
	img.now, img.steps, img.lastID = node.Sim.Now(), node.Sim.Steps(), node.Sim.LastID()
	return img
}

// startFrom puts the image into a fresh node: its disk, and its
// simulation at the point where the build's ended. The trace hashes the
// build's hash as one word.
func (img *initdbImage) startFrom(node *world.Node, trace *world.Trace) {
	node.Disk.CopyQuiescent(img.disk)
	node.Sim.ResumeAt(img.now, img.steps, img.lastID)
	trace.Emit(&env.Event{Kind: env.EvImage, Time: img.now, Role: env.RoleOther, A: int64(img.trace), B: int64(img.events)})
}

// DropCaches empties the process-wide caches runs share: the world's spare
// disk arrays and the initdb images. Both are bounded and hold nothing of
// any run's outcome; a test that measures what a campaign retains per run
// drops them first.
func DropCaches() {
	world.DropDiskArrays()
	images.Lock()
	images.m = nil
	images.Unlock()
}
