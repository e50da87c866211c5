package simtest

import (
	"math/bits"

	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// Crashes at the WAL's boundary moments (issue 22). The drawn plan's
// crash lands on a step, a data page write or any of the engine's forty
// points, so it rarely strikes while the durable WAL ends inside a record
// that crosses a page or a segment boundary: the moments at which
// PostgreSQL 14.1's XLOG_OVERWRITE_CONTRECORD matters (StartupXLOG's
// missingContrecPtr, CreateOverwriteContrecordRecord). Those are the
// moments at the WAL's own injection points:
//
//   - wal-after-segment-create: XLogWrite has finished a segment and made
//     the next one (XLogFileInit), not yet written: the record crossing
//     into it has its head alone at the end of WAL, in a segment already
//     notified for archiving;
//   - walwriter-after-segment-fsync-mid-record: the same, seen from
//     XLogWrite's finishing_seg fsync;
//   - walwriter-after-fsync-mid-record: XLogBackgroundFlush flushed its
//     completed pages only, and the durable WAL ends at a page boundary
//     inside a record;
//   - wal-after-segment-recycle: a checkpoint renamed an old segment into
//     a future one's name (RemoveXlogFile), its stale pages intact, which
//     only xlp_pageaddr tells from WAL when recovery's end of WAL meets
//     them.
//
// On a share of the seeds the swarm puts in the drawn plan, in place of
// its workload crash, a crash at one of them, at a drawn hit so that it
// strikes at various moments of the run: most often a kill of whoever
// reaches the point (the postmaster crash-restarts and the workload goes
// on, writing WAL after the end of recovery, which the archiver archives
// and standbys stream; the run then ends as a plan without a crash does,
// in a power loss once the workload is done), else a power loss (the
// run's end, in a drawn crash mode). The two segment boundary points are
// drawn twice as often as the others: a run crosses hundreds of pages but
// few segments. The points are not aimed at any one bug: they are where
// the WAL's end is least tidy. Added beside the plan's own crash, the WAL
// crash would seldom fire, as that crash ends most workloads before their
// WAL has crossed a segment boundary (on seeds 1-1000, 14 of 80 kills at
// wal-after-segment-create fired, and none of 54 at
// walwriter-after-segment-fsync-mid-record).
//
// The fault model: one kill or power loss, at the Kth hit of one of the
// points above, K in [1, 4] at a segment boundary and in [1, 16] at the
// others (small values as often as large ones in log scale); it fires
// only if the run reaches the point K times. A kill fires in whichever
// process reaches it (a backend, the WAL writer, the checkpointer, or the
// startup process of a crash-restart's recovery). The plan's other faults
// stay, its crashes in the recovery too. wal-insert-copy is left out: a
// kill there loses only the WAL buffers (a flush waits for the insertion,
// WaitXLogInsertionsToFinish), and the scheduler switches there already.
//
// The draw has a stream of its own (the seed xor a constant, as
// swarmShape's and lockPauseDraw's), so that a seed that draws no WAL
// crash runs exactly as it did before this dimension existed. The plan,
// which the run's result, its summary and its repro file carry, records
// the crash; the configuration's text leaves it out, so that a replay of
// the plan traces exactly as the run (resolveWALCrash draws none when a
// plan is given).

// walCrashSeedsPer: one seed in walCrashSeedsPer draws a WAL crash.
const walCrashSeedsPer = 6

// walCrashPoints are the points a WAL crash is drawn at, the segment
// boundary ones twice, each with the largest hit drawn there: a run
// crosses a segment boundary a few times at most, and a page boundary
// inside a record, or a recycling, tens of times.
var walCrashPoints = [...]struct {
	name   string
	hitMax uint64 // a power of two
}{
	{"wal-after-segment-create", 4},
	{"wal-after-segment-create", 4},
	{wal.PointSegmentDurableMidRecord, 4},
	{wal.PointSegmentDurableMidRecord, 4},
	{wal.PointFlushedMidRecord, 16},
	{"wal-after-segment-recycle", 16},
}

// walCrashDraw is the seed's WAL crash under the swarm, or nil, drawn from
// a stream of its own. Every number is drawn whatever the outcome, in a
// fixed order.
func walCrashDraw(seed uint64) *fault.Fault {
	rng := world.NewRand(seed ^ 0x77616c6372736870) // "walcrshp"
	on := rng.Intn(walCrashSeedsPer) == 0
	point := walCrashPoints[rng.Intn(len(walCrashPoints))]
	// The hit, in [1, hitMax], small values as often as large ones in log
	// scale (fault.Generate's logUniform): one draw of the exponent, one
	// of the hit, whatever the point.
	exp := rng.Intn(bits.Len64(point.hitMax))
	hit := 1 + uint64(rng.Intn(1<<exp))
	kill := rng.Intn(4) != 0
	mode := [...]string{"", fault.ModeDropAll, fault.ModeRandomSubset, fault.ModeTorn}[rng.Intn(4)]
	if !on {
		return nil
	}
	a := fault.Action{Kind: fault.ActKill}
	if !kill {
		a = fault.Action{Kind: fault.ActCrash, Mode: mode}
	}
	return &fault.Fault{Action: a, When: fault.AtomExpr(fault.Atom{Kind: fault.AtomPoint, Name: point.name, Hit: hit}), Times: 1}
}

// resolveWALCrash is the run's WAL crash: the seed's draw under Swarm,
// never with a plan given (dbPlan draws none then).
func resolveWALCrash(c Config) *fault.Fault {
	if !c.Swarm || c.Faults != "" || c.CrashStep != 0 {
		return nil
	}
	return walCrashDraw(c.Seed)
}

// withWALCrash puts the run's WAL crash in a drawn plan in place of the
// plan's workload crash (fault.Generate's first fault: at a step, a
// point's hit or a data page write), so that the plan's other faults keep
// their lines and what follows them (the lock pause) stays after them.
func withWALCrash(p fault.Plan, rc resolved) fault.Plan {
	if rc.walCrash == nil {
		return p
	}
	if len(p.Faults) == 0 || p.Faults[0].Action.Kind != fault.ActCrash {
		panic("simtest: a drawn plan begins with its workload crash")
	}
	p.Faults = append([]fault.Fault{*rc.walCrash}, p.Faults[1:]...)
	return p
}
