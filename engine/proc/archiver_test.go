package proc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

var archWAL = wal.Config{SegmentSize: wal.SegmentSizeMin, ArchiveMode: true}

func archConfig() proc.ArchiverConfig {
	c := proc.DefaultArchiverConfig()
	c.WAL = archWAL
	c.Delay = 100 * time.Millisecond
	return c
}

func newArchNode(seed uint64) (*world.Node, *world.Rand) {
	rng := world.NewRand(seed)
	return world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency), rng
}

func segOf(l wal.LSN) uint64 { return uint64(l) / uint64(archWAL.SegmentSize) }

// writeSegments inserts records until the insert position is in segment
// upto and flushes: segments before upto are complete and durable.
func writeSegments(e *env.Env, w *wal.WAL, upto uint64, pause time.Duration) {
	for i := 0; segOf(w.InsertLSN()) < upto; i++ {
		simt.Check(i < 10000, "writeSegments does not progress")
		rec := wal.Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 4000+e.Rand.Intn(20000))}
		rec.Payload[0] = byte(i)
		_, end := w.Insert(&rec)
		if e.Rand.Intn(2) == 0 {
			w.Flush(end)
		}
		if pause > 0 {
			e.Clock.Sleep(pause)
		}
	}
	w.Flush(w.InsertLSN())
}

// checkArchived fails unless every segment in want is in snap's archive,
// byte-identical to want's content, and marked done, with no .ready left
// for it and no copy in progress left in the archive.
func checkArchived(t *testing.T, what string, snap map[string][]byte, want map[uint64][]byte) {
	t.Helper()
	for s, content := range want {
		name := wal.SegmentName(archWAL, s)
		got, ok := snap["archive/"+name]
		require.True(t, ok, "%s: segment %d is not archived", what, s)
		require.Equal(t, content, got, "%s: archived segment %d differs", what, s)
		if _, inWAL := snap[wal.SegmentPath(archWAL, s)]; inWAL {
			require.Contains(t, snap, wal.StatusDir+"/"+name+".done", "%s: segment %d archived but not done", what, s)
		}
		require.NotContains(t, snap, wal.StatusDir+"/"+name+".ready", "%s: segment %d still ready", what, s)
	}
	for p := range snap {
		require.False(t, strings.HasSuffix(p, ".tmp"), "%s: leftover %s", what, p)
	}
}

// completeSegments returns the content of every complete segment in snap's
// pg_wal (all but the newest).
func completeSegments(snap map[string][]byte) map[uint64][]byte {
	segs := simt.WALSegments(archWAL, snap)
	out := map[uint64][]byte{}
	for i, s := range segs {
		if i < len(segs)-1 {
			out[s] = snap[wal.SegmentPath(archWAL, s)]
		}
	}
	return out
}

// The archiver copies each completed segment byte-identically, marks it
// done, and leaves the segment being filled alone; with a workload running
// beside it, it keeps up.
func TestArchiverCopiesCompletedSegments(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		node, _ := newArchNode(seed)
		node.Sim.Spawn("setup", func() {
			e := node.Env
			simt.Must(wal.Create(e, archWAL))
			w, err := wal.Open(e, archWAL, wal.FirstLSN, wal.InvalidLSN)
			simt.Must(err)
			writeSegments(e, w, 3, 0)
			e.Sched.Spawn("archiver", func() { proc.ArchiverMain(e, archConfig()) })
			writeSegments(e, w, 8, 20*time.Millisecond) // while the archiver runs
		})
		node.Sim.SetTimeLimit(node.Sim.Now() + 10*time.Second)
		st := node.Sim.Run()
		require.Equal(t, world.StopTimeLimit, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
		node.Sim.KillAll()
		snap := node.Disk.Snapshot()
		want := completeSegments(snap)
		require.Len(t, want, 8)
		checkArchived(t, fmt.Sprintf("seed %d", seed), snap, want)
		require.NotContains(t, snap, "archive/"+wal.SegmentName(archWAL, 8), "the segment being filled was archived")
		// All of it is durable.
		checkArchived(t, fmt.Sprintf("seed %d durable", seed), node.Disk.DurableSnapshot(), want)
	}
}

// One archiver pass run directly: it archives in order and reports how
// many; a second pass finds nothing to do; an existing identical copy is
// only marked done, a different one is refused.
func TestArchiveReadyPass(t *testing.T) {
	cfg := archConfig()
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archWAL))
		w, err := wal.Open(e, archWAL, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		writeSegments(e, w, 3, 0)
		n, err := proc.ArchiveReady(e, cfg)
		simt.Must(err)
		simt.Check(n == 3, "archived %d segments, want 3", n)
		n, err = proc.ArchiveReady(e, cfg)
		simt.Must(err)
		simt.Check(n == 0, "archived %d segments again", n)

		// A crash after the copy's rename, before .done: .ready is back.
		st := wal.NewArchiveStatus(e, archWAL)
		simt.Must(e.Disk.Rename(wal.StatusDir+"/"+wal.SegmentName(archWAL, 1)+".done", wal.StatusDir+"/"+wal.SegmentName(archWAL, 1)+".ready"))
		n, err = proc.ArchiveReady(e, cfg)
		simt.Must(err)
		simt.Check(n == 1, "re-archived %d segments, want 1", n)
		done, err := st.IsDone(1)
		simt.Must(err)
		simt.Check(done, "segment 1 not done")

		// A different file under the segment's name is never overwritten.
		writeSegments(e, w, 4, 0)
		f, err := e.Disk.Open("archive/"+wal.SegmentName(archWAL, 3), env.OpenCreate)
		simt.Must(err)
		_, err = f.WriteAt([]byte("not this segment"), 0)
		simt.Must(err)
		simt.Must(f.Close())
		n, err = proc.ArchiveReady(e, cfg)
		simt.Check(n == 0 && err != nil, "archived over a different file: %d, %v", n, err)
		ready, err := st.ReadyList()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == "[3]", "ready list %v", ready)

		// A .ready whose segment is gone is an orphan: removed.
		simt.Must(e.Disk.Remove("archive/" + wal.SegmentName(archWAL, 3)))
		simt.Must(st.Notify(77))
		n, err = proc.ArchiveReady(e, cfg)
		simt.Must(err)
		simt.Check(n == 2, "archived %d, want segment 3 and the orphan", n)
		ready, err = st.ReadyList()
		simt.Must(err)
		simt.Check(len(ready) == 0, "ready list %v", ready)
	})
	// Three segments at once, a copy already in the archive after the
	// crash, and a different file in the way: the archiver's conditions.
	for _, c := range []string{"archiver-behind", "archiver-already-archived", "archiver-failed"} {
		require.True(t, node.Reached.Has(c), "%s not recorded: %v", c, node.Reached.Names())
	}
}

// A crash at each of the archiver's injection points (on its first,
// second or third segment, in every crash mode, with atomic and non-atomic
// renames), then a restart: in the end every completed segment is
// archived byte-identically, durably, and marked done.
func TestArchiverCrashAtEachPoint(t *testing.T) {
	points := []string{proc.PointArchiverAfterCopy, proc.PointArchiverAfterFsync}
	for _, point := range points {
		for seed := uint64(1); seed <= 12; seed++ {
			what := fmt.Sprintf("%s seed %d", point, seed)
			node, rng := newArchNode(seed)
			if seed%2 == 0 {
				node.Disk.SetNonAtomicRename(true)
			}
			hit, stopAt := 0, 1+int(seed%3)
			node.Sim.Spawn("setup", func() {
				e := node.Env
				simt.Must(wal.Create(e, archWAL))
				w, err := wal.Open(e, archWAL, wal.FirstLSN, wal.InvalidLSN)
				simt.Must(err)
				writeSegments(e, w, 5, 0)
				e.Sched.Spawn("archiver", func() { proc.ArchiverMain(e, archConfig()) })
			})
			node.Sim.SetInjectHook(func(p string) bool {
				if p == point {
					hit++
				}
				return p == point && hit == stopAt
			})
			node.Sim.SetTimeLimit(node.Sim.Now() + 10*time.Second) // if the point is never reached
			st := node.Sim.Run()
			require.Equal(t, world.StopInject, st.Kind, "%s: %s\n%s", what, st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetInjectHook(nil)
			mode := world.CrashMode(seed % 3)
			node.Disk.Crash(rng, mode)
			what += " " + mode.String()

			node.Sim.Spawn("startup", func() {
				e := node.Env
				simt.Must(simt.RecoverWAL(e, archWAL).Close())
				e.Sched.Spawn("archiver", func() { proc.ArchiverMain(e, archConfig()) })
			})
			node.Sim.SetTimeLimit(node.Sim.Now() + 3*time.Second)
			st = node.Sim.Run()
			require.Equal(t, world.StopTimeLimit, st.Kind, "%s: %s\n%s", what, st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetTimeLimit(0)
			snap := node.Disk.Snapshot()
			want := completeSegments(snap)
			require.Len(t, want, 5, what)
			checkArchived(t, what, snap, want)
			checkArchived(t, what+" durable", node.Disk.DurableSnapshot(), want)
		}
	}
}

// Crashes at random steps while a workload completes segments, the
// archiver archives them and a checkpointer removes archived ones: no
// segment ever leaves pg_wal before a durable identical copy is in the
// archive, and once the archiver has caught up every completed segment is
// archived.
func TestArchiverSurvivesRandomCrashes(t *testing.T) {
	archived := 0
	for seed := uint64(1); seed <= 25; seed++ {
		node, rng := newArchNode(seed)
		if seed%3 == 0 {
			node.Disk.SetNonAtomicRename(true)
		}
		// The content of every segment the checkpointer removes, caught
		// as the removal starts (a complete segment never changes).
		removed := map[uint64][]byte{}
		node.Watch = func(op world.DiskOp) {
			if op.Kind != world.OpRemove {
				return
			}
			name, ok := strings.CutPrefix(op.Path, wal.Dir+"/")
			if !ok {
				return
			}
			if s, ok := wal.ParseSegmentName(archWAL, name); ok {
				if b, ok := node.Disk.Snapshot()[op.Path]; ok {
					removed[s] = b
				}
			}
		}
		node.Sim.Spawn("initdb", func() { simt.Must(wal.Create(node.Env, archWAL)) })
		require.Equal(t, world.StopAllDone, node.Sim.Run().Kind)
		node.Sim.KillAll()
		for cycle := 0; cycle <= 4; cycle++ {
			last := cycle == 4
			what := fmt.Sprintf("seed %d cycle %d", seed, cycle)
			node.Sim.Spawn("startup", func() {
				e := node.Env
				w := simt.RecoverWAL(e, archWAL)
				e.Sched.Spawn("archiver", func() { proc.ArchiverMain(e, archConfig()) })
				e.Sched.Spawn("checkpointer", func() {
					for {
						e.Clock.Sleep(150 * time.Millisecond)
						if _, err := w.RemoveSegmentsBefore(w.Flushed()); err != nil {
							panic(err)
						}
					}
				})
				if !last {
					writeSegments(e, w, segOf(w.InsertLSN())+3, 10*time.Millisecond)
				}
			})
			node.Sim.SetTimeLimit(node.Sim.Now() + 3*time.Second)
			if !last {
				node.Sim.SetStepLimit(node.Sim.Steps() + 300 + uint64(rng.Intn(4000)))
			}
			st := node.Sim.Run()
			require.Contains(t, []world.StopKind{world.StopStepLimit, world.StopTimeLimit}, st.Kind, "%s: %s\n%s", what, st, st.Stack)
			node.Sim.KillAll()
			node.Sim.SetStepLimit(0)
			node.Sim.SetTimeLimit(0)
			if !last {
				node.Disk.Crash(rng, world.CrashMode(rng.Intn(3)))
			}
			// Every segment gone from pg_wal (below the oldest left) is
			// durably archived, identical to what was removed.
			durable := node.Disk.DurableSnapshot()
			segs := simt.WALSegments(archWAL, durable)
			require.NotEmpty(t, segs, what)
			gone := map[uint64][]byte{}
			for s, b := range removed {
				if s < segs[0] {
					gone[s] = b
				}
			}
			for s := uint64(0); s < segs[0]; s++ {
				require.Contains(t, gone, s, "%s: segment %d left pg_wal unseen", what, s)
			}
			for s, b := range gone {
				require.Equal(t, b, durable["archive/"+wal.SegmentName(archWAL, s)], "%s: removed segment %d not durably archived", what, s)
			}
			if last {
				all := completeSegments(durable)
				for s, b := range gone {
					all[s] = b
				}
				checkArchived(t, what, durable, all)
				archived += len(all)
			}
		}
	}
	require.Greater(t, archived, 25*6, "segments archived over all seeds")
}
