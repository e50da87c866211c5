package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// A cluster that starts near a clog page boundary (the clog's swarm
// dimension). initdb hands out xids from 3, and a run assigns a few
// hundred, so every run's xids live on clog page 0 of segment 0000: the
// code that runs when the xid counter enters a new page never ran in a
// plain campaign. That is ExtendCLOG zeroing the page and WAL-logging it
// (ZeroCLOGPage, CLOG_ZEROPAGE), its redo (clog_redo, which writes the
// page at once), the checkpoint's flush of two pages (CheckPointCLOG), a
// new segment file and pg_xact's directory entry when the page starts a
// segment, and visibility, hint bits and TrimCLOG over xids on two pages.
//
// Users get there by age, and also at once: pg_upgrade copies the old
// cluster's pg_xact and runs pg_resetwal -x with its nextXid, so a new
// cluster starts wherever the old one was. On one seed in
// clogStartSeedsPer the swarm starts the cluster so: the initdb image is
// made with nextXid a few xids below the start of clog page 1 or of
// segment 0001 (page 32), its page zeroed in pg_xact
// (db.Config.InitNextXid, clog.BootstrapAt). The image's initial rows
// take an xid each (createWorkloadTables' autocommit INSERTs), so the
// start is moved down by their count: the run's first xid is then the
// drawn distance below the boundary. The distance is drawn from a few
// values, fewer than most runs assign (many crash within a few dozen
// transactions), so the counter crosses the boundary at once or after a
// few transactions; the values are few because each is an initdb image
// of its own (initdb_image.go's cache). Config.NextXid pins the image's
// start (3, initdb's own, pins it off).
//
// The draw has a stream of its own, so that a seed that does not draw
// the start runs exactly as before this dimension existed, and the
// configuration line names next_xid only when it is not initdb's.

// clogStartSeedsPer: one seed in clogStartSeedsPer starts near a boundary.
const clogStartSeedsPer = 8

// clogStartBoundaries are the first xids of clog page 1 and of segment
// 0001's first page: crossing the second also creates a segment file.
var clogStartBoundaries = [...]uint64{clog.XactsPerPage, clog.XactsPerSegment}

// clogStartBelow are the distances below the boundary of the run's first
// xid that the swarm draws: a run assigns from a few to hundreds.
var clogStartBelow = [...]uint64{1, 4, 16}

// NextXidMax bounds Config.NextXid (--next-xid).
const NextXidMax = db.InitNextXidMax

// clogStartDraw is the seed's initdb nextXid under the swarm for the
// workload's image, 0 for initdb's own, drawn from a stream of its own;
// every number is drawn whatever the outcome.
func clogStartDraw(seed uint64, workload string) uint64 {
	rng := world.NewRand(seed ^ 0x636c6f6773747274) // "clogstrt"
	on := rng.Intn(clogStartSeedsPer) == 0
	b := clogStartBoundaries[rng.Intn(len(clogStartBoundaries))]
	d := clogStartBelow[rng.Intn(len(clogStartBelow))]
	if !on {
		return 0
	}
	return b - d - imageXids(workload)
}

// imageXids is how many xids the initdb image's initial rows take, one per
// row (createWorkloadTables).
func imageXids(workload string) uint64 {
	n := 0
	for _, name := range tablesFor(workload) {
		keys, _ := initialRows(name)
		n += len(keys)
	}
	return uint64(n)
}

func (c Config) validateNextXid() error {
	if c.NextXid != 0 && (c.NextXid < uint64(xact.FirstNormalXID) || c.NextXid > NextXidMax) {
		return fmt.Errorf("next xid must be in [%d, %d], got %d", xact.FirstNormalXID, uint64(NextXidMax), c.NextXid)
	}
	return nil
}

// resolveNextXid sets the initdb image's nextXid: the one given, else the
// seed's draw under Swarm, else initdb's own. initdb's own is kept as 0,
// so that the image key, and the image, of such a run are as before.
func resolveNextXid(c Config, r *resolved) {
	x := c.NextXid
	if x == 0 && c.Swarm {
		x = clogStartDraw(c.Seed, c.Workload)
	}
	if x == uint64(xact.FirstNormalXID) {
		x = 0
	}
	r.engine.InitNextXid = x
}

func (r resolved) stringNextXid() string {
	if r.engine.InitNextXid == 0 {
		return "" // initdb's own start: the line, and the trace, as before
	}
	return fmt.Sprintf(" next_xid=%d", r.engine.InitNextXid)
}
