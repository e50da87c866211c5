package wal_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

var archCfg = wal.Config{SegmentSize: wal.SegmentSizeMin, ArchiveMode: true}

func segOf(c wal.Config, l wal.LSN) uint64 { return uint64(l) / uint64(c.SegmentSize) }

func statusPath(c wal.Config, seg uint64, suffix string) string {
	return wal.StatusDir + "/" + wal.SegmentName(c, seg) + suffix
}

// fillSegments inserts records of about a third of a segment until the
// insert position is in segment upto, flushing every other record, and
// flushes the rest: segments [0, upto) are complete.
func fillSegments(w *wal.WAL, upto uint64) {
	c := w.Config()
	for i := 0; segOf(c, w.InsertLSN()) < upto; i++ {
		simt.Check(i < 10000, "fillSegments does not progress")
		rec := wal.Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 20000)}
		_, end := w.Insert(&rec)
		if i%2 == 1 {
			w.Flush(end)
		}
	}
	w.Flush(w.InsertLSN())
}

// statusIn lists snap's archive status files as "<seg>.ready"/"<seg>.done"
// keyed by segment number.
func statusIn(c wal.Config, snap map[string][]byte) map[uint64][]string {
	out := map[uint64][]string{}
	for p := range snap {
		name, ok := strings.CutPrefix(p, wal.StatusDir+"/")
		if !ok {
			continue
		}
		base, suffix, _ := strings.Cut(name, ".")
		seg, ok := wal.ParseSegmentName(c, base)
		if !ok {
			panic("unexpected file " + p)
		}
		out[seg] = append(out[seg], suffix)
		sort.Strings(out[seg])
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s < to; s++ {
		out = append(out, s)
	}
	return out
}

// Every segment a workload completes gets a durable .ready; the one being
// filled does not.
func TestArchiveNotifyCompletedSegments(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		node := simt.Sim(t, seed, func(e *env.Env) {
			simt.Must(wal.Create(e, archCfg))
			w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
			simt.Must(err)
			fillSegments(w, 4)
			ready, err := wal.NewArchiveStatus(e, archCfg).ReadyList()
			simt.Must(err)
			simt.Check(fmt.Sprint(ready) == fmt.Sprint(seq(0, 4)), "ready list %v", ready)
			simt.Must(w.Close())
		})
		durable := node.Disk.DurableSnapshot()
		st := statusIn(archCfg, durable)
		require.Len(t, st, 4, "seed %d: %v", seed, st)
		for s := uint64(0); s < 4; s++ {
			require.Equal(t, []string{"ready"}, st[s], "segment %d", s)
			require.Contains(t, durable, statusPath(archCfg, s, ".ready"))
		}
	}
}

// A switch record completes a segment too: the WAL that ends right after
// one has its segment notified when the switch is flushed.
func TestArchiveNotifyAtSwitch(t *testing.T) {
	simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archCfg))
		w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		// A record, then a switch record (pg_switch_wal) ends segment 0.
		rec := wal.Record{Xid: 1, Rmid: 1, Payload: make([]byte, 4096)}
		_, end := w.Insert(&rec)
		w.Flush(end)
		ready, err := wal.NewArchiveStatus(e, archCfg).ReadyList()
		simt.Must(err)
		simt.Check(len(ready) == 0, "segment 0 notified before it is complete: %v", ready)
		end, switched := w.SwitchSegment()
		simt.Check(switched, "no switch")
		w.Flush(end)
		ready, err = wal.NewArchiveStatus(e, archCfg).ReadyList()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == "[0]", "ready list %v", ready)
	})
}

// With archive mode off nothing of the above exists, and segments are
// removed as before.
func TestArchiveModeOffChangesNothing(t *testing.T) {
	c := wal.Config{SegmentSize: wal.SegmentSizeMin}
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, c))
		w, err := wal.Open(e, c, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		fillSegments(w, 4)
		n, err := w.RemoveSegmentsBefore(w.InsertLSN())
		simt.Must(err)
		simt.Check(n == 4, "removed %d segments, want 4", n)
		simt.Must(w.Close())
		w = simt.RecoverWAL(e, c)
		simt.Must(w.Close())
		simt.Must(wal.RenotifyArchive(e, c))
		_, err = e.Disk.List(wal.StatusDir)
		simt.Check(errors.Is(err, env.ErrNotExist), "archive_status exists: %v", err)
	})
	for p := range node.Disk.Snapshot() {
		require.False(t, strings.HasPrefix(p, wal.StatusDir), p)
	}
	require.Equal(t, []uint64{4}, simt.WALSegments(c, node.Disk.Snapshot()))
}

// RemoveSegmentsBefore removes only archived segments, oldest first, never
// past one that is not archived, and removes their .done files.
func TestRemoveSegmentsBeforeKeepsUnarchived(t *testing.T) {
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archCfg))
		w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		fillSegments(w, 5)
		st := wal.NewArchiveStatus(e, archCfg)
		n, err := w.RemoveSegmentsBefore(w.InsertLSN())
		simt.Must(err)
		simt.Check(n == 0, "removed %d unarchived segments", n)
		for _, s := range []uint64{0, 1, 3} {
			simt.Must(st.MarkDone(s))
		}
		n, err = w.RemoveSegmentsBefore(w.InsertLSN())
		simt.Must(err)
		simt.Check(n == 2, "removed %d segments, want 0 and 1", n)
		for _, s := range []uint64{0, 1} {
			done, err := st.IsDone(s)
			simt.Must(err)
			simt.Check(!done, "segment %d removed but its .done is left", s)
		}
		done, err := st.IsDone(3)
		simt.Must(err)
		simt.Check(done, "segment 3 lost its .done")
		// The keep position still bounds removal.
		simt.Must(st.MarkDone(2))
		simt.Must(st.MarkDone(4))
		n, err = w.RemoveSegmentsBefore(wal.LSN(3*archCfg.SegmentSize + wal.SegHdrSize))
		simt.Must(err)
		simt.Check(n == 1, "removed %d segments, want 2 only", n)
		n, err = w.RemoveSegmentsBefore(w.InsertLSN())
		simt.Must(err)
		simt.Check(n == 2, "removed %d segments, want 3 and 4", n)
		simt.Must(w.Close())
	})
	snap := node.Disk.Snapshot()
	require.Equal(t, []uint64{5}, simt.WALSegments(archCfg, snap))
	require.Empty(t, statusIn(archCfg, snap))
}

// XLogArchiveCheckDone: a complete segment with neither .ready nor .done
// is kept and gets its .ready back.
func TestRemoveSegmentsBeforeRenotifiesMissingReady(t *testing.T) {
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archCfg))
		w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		fillSegments(w, 3)
		st := wal.NewArchiveStatus(e, archCfg)
		simt.Must(st.MarkDone(0))
		simt.Must(e.Disk.Remove(statusPath(archCfg, 1, ".ready")))
		simt.Must(e.Disk.SyncDir(wal.StatusDir))
		n, err := w.RemoveSegmentsBefore(w.InsertLSN())
		simt.Must(err)
		simt.Check(n == 1, "removed %d segments, want 1", n)
		simt.Must(w.Close())
	})
	durable := node.Disk.DurableSnapshot()
	require.Equal(t, []uint64{1, 2, 3}, simt.WALSegments(archCfg, durable))
	require.Equal(t, map[uint64][]string{1: {"ready"}, 2: {"ready"}}, statusIn(archCfg, durable))
}

// The status helpers: Notify and MarkDone are idempotent, ReadyList is
// oldest first, and RenotifyArchive repairs what a crash can leave.
func TestArchiveStatusHelpers(t *testing.T) {
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archCfg))
		w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		fillSegments(w, 6)
		simt.Must(w.Close())
		st := wal.NewArchiveStatus(e, archCfg)
		simt.Must(st.Notify(2)) // already .ready
		simt.Must(st.MarkDone(0))
		simt.Must(st.MarkDone(0)) // idempotent
		done, err := st.IsDone(0)
		simt.Must(err)
		simt.Check(done, "segment 0 not done")
		done, err = st.IsDone(1)
		simt.Must(err)
		simt.Check(!done, "segment 1 done")
		simt.Check(st.MarkDone(9) != nil, "MarkDone of a segment with no status file succeeded")

		// What crashes can leave: segment 1 lost its .ready; segment 2 has
		// both .ready and .done (a non-atomic rename); segment 3 has
		// neither; a .done for segment 8, which is gone; a .ready for
		// segment 6, which is being filled.
		simt.Must(e.Disk.Remove(statusPath(archCfg, 1, ".ready")))
		simt.Must(e.Disk.Remove(statusPath(archCfg, 3, ".ready")))
		for _, p := range []string{statusPath(archCfg, 2, ".done"), statusPath(archCfg, 8, ".done"), statusPath(archCfg, 6, ".ready")} {
			f, err := e.Disk.Open(p, env.OpenCreate)
			simt.Must(err)
			simt.Must(f.Close())
		}
		ready, err := st.ReadyList()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == "[2 4 5 6]", "ready list %v", ready)
		simt.Must(wal.RenotifyArchive(e, archCfg))
		ready, err = st.ReadyList()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == "[1 3 4 5]", "ready list after repair %v", ready)
	})
	require.Equal(t, map[uint64][]string{0: {"done"}, 1: {"ready"}, 2: {"done"}, 3: {"ready"}, 4: {"ready"}, 5: {"ready"}},
		statusIn(archCfg, node.Disk.DurableSnapshot()))
}

// Crashes anywhere in a workload that completes segments, "archives" them
// (MarkDone) and removes archived ones: after recovery (Open) every
// complete segment has exactly one of .ready and .done, the segment being
// filled has none, pg_wal has no hole, and every segment gone from pg_wal
// had been marked done.
func TestArchiveStatusAcrossCrashes(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := world.NewRand(seed)
		node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
		if seed%4 == 0 {
			node.Disk.SetNonAtomicRename(true)
		}
		marked := map[uint64]bool{} // MarkDone returned: .done is durable
		tried := map[uint64]bool{}  // MarkDone was called: .done may exist
		st := node.Reboot(func(e *env.Env) {
			simt.Must(wal.Create(e, archCfg))
		})
		require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
		for cycle := 0; cycle < 4; cycle++ {
			node.Sim.SetStepLimit(node.Sim.Steps() + 200 + uint64(rng.Intn(3000)))
			st := node.Reboot(func(e *env.Env) {
				w := simt.RecoverWAL(e, archCfg)
				a := wal.NewArchiveStatus(e, archCfg)
				for i := 0; i < 60; i++ {
					rec := wal.Record{Xid: uint64(i + 1), Rmid: 1, Payload: make([]byte, 5000+e.Rand.Intn(20000))}
					_, end := w.Insert(&rec)
					if e.Rand.Intn(3) == 0 {
						w.Flush(end)
					}
					if e.Rand.Intn(8) == 0 {
						ready, err := a.ReadyList()
						simt.Must(err)
						for _, s := range ready[:e.Rand.Intn(len(ready)+1)] {
							tried[s] = true
							simt.Must(a.MarkDone(s))
							marked[s] = true
						}
						// As the checkpoint does, with a REDO pointer
						// that is flushed.
						_, err = w.RemoveSegmentsBefore(w.Flushed())
						simt.Must(err)
					}
				}
			})
			require.Contains(t, []world.StopKind{world.StopStepLimit, world.StopAllDone}, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
			node.Sim.SetStepLimit(0)
			node.Disk.Crash(rng, world.CrashMode(rng.Intn(3)))

			st = node.Reboot(func(e *env.Env) { simt.Must(simt.RecoverWAL(e, archCfg).Close()) })
			require.Equal(t, world.StopAllDone, st.Kind, "seed %d: %s\n%s", seed, st, st.Stack)
			durable := node.Disk.DurableSnapshot()
			require.Equal(t, node.Disk.Snapshot(), durable, "seed %d: recovery left undurable state", seed)
			segs := simt.WALSegments(archCfg, durable)
			require.NotEmpty(t, segs)
			require.Equal(t, seq(segs[0], segs[len(segs)-1]+1), segs, "seed %d: hole in pg_wal", seed)
			status := statusIn(archCfg, durable)
			for _, s := range segs[:len(segs)-1] {
				require.Len(t, status[s], 1, "seed %d cycle %d: segment %d has status %v", seed, cycle, s, status[s])
				if marked[s] {
					require.Equal(t, []string{"done"}, status[s], "seed %d: segment %d lost its durable .done", seed, s)
				}
			}
			for s := range status {
				require.True(t, s >= segs[0] && s < segs[len(segs)-1], "seed %d cycle %d: status file for segment %d (%v) outside %v", seed, cycle, s, status[s], segs)
			}
			for s := uint64(0); s < segs[0]; s++ {
				require.True(t, tried[s], "seed %d: segment %d removed but never archived", seed, s)
			}
		}
	}
}

// Archive status on a timeline after 1 (a promoted standby, the end of a
// PITR): the new timeline's segments are notified under their own names
// as they complete, the old timeline's last segment is notified as
// .partial, a history file is archived before any segment
// (pgarch_readyXlog's order), the checkpoint removes a segment of either
// timeline only once it is done, and a lost .ready of the new timeline
// is re-created when the WAL is opened again.
func TestArchiveStatusOnTimeline2(t *testing.T) {
	tl2 := func(seg uint64) string { return wal.SegmentNameTLI(archCfg, 2, seg) }
	node := simt.Sim(t, 1, func(e *env.Env) {
		simt.Must(wal.Create(e, archCfg))
		w, err := wal.Open(e, archCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		fillSegments(w, 2)
		rec := wal.Record{Xid: 99, Rmid: 1, Payload: make([]byte, 100)}
		last, end := w.Insert(&rec)
		w.Flush(end)
		simt.Must(w.Close())
		st := wal.NewArchiveStatus(e, archCfg)
		simt.Must(st.MarkDone(0))
		simt.Must(st.MarkDone(1))

		// The switch to timeline 2 at end, in segment 2.
		simt.Must(wal.InitNewTimeline(e, archCfg, 1, 2, end))
		w, err = wal.OpenOnTimeline(e, archCfg, 2, end, last)
		simt.Must(err)
		partial, err := wal.MarkPartial(e, archCfg, 1, end)
		simt.Must(err)
		simt.Check(partial == wal.SegmentName(archCfg, 2)+".partial", "partial %q", partial)
		simt.Must(writeFile(e, wal.Dir+"/"+wal.HistoryFileName(2), []byte("1\t0/0\tno recovery target specified\n")))
		simt.Must(st.NotifyFile(wal.HistoryFileName(2)))
		fillSegments(w, 5)
		ready, err := st.ReadyFiles()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == fmt.Sprint([]string{"00000002.history", partial, tl2(2), tl2(3), tl2(4)}), "ready files %v", ready)

		// Timeline 1's archived segments go; timeline 2's wait.
		n, err := w.RemoveSegmentsBefore(w.Flushed())
		simt.Must(err)
		simt.Check(n == 2, "removed %d segments, want timeline 1's two", n)
		simt.Must(st.MarkDoneFile(tl2(2)))
		simt.Must(st.MarkDoneFile(tl2(3)))
		n, err = w.RemoveSegmentsBefore(w.Flushed())
		simt.Must(err)
		simt.Check(n == 2, "removed %d segments, want timeline 2's two done", n)
		for _, name := range []string{tl2(2), tl2(3)} {
			done, err := st.IsDoneFile(name)
			simt.Must(err)
			simt.Check(!done, "%s's status outlived it", name)
		}
		end = w.Flushed()
		simt.Must(w.Close())

		// A crash lost segment 4's .ready: opening the WAL again on
		// timeline 2 re-creates it (a .partial's status is left alone).
		simt.Must(e.Disk.Remove(wal.StatusDir + "/" + tl2(4) + ".ready"))
		w, err = wal.OpenOnTimeline(e, archCfg, 2, end, wal.InvalidLSN)
		simt.Must(err)
		simt.Must(w.Close())
		ready, err = st.ReadyFiles()
		simt.Must(err)
		simt.Check(fmt.Sprint(ready) == fmt.Sprint([]string{"00000002.history", partial, tl2(4)}), "ready files after reopening %v", ready)
	})
	require.NotNil(t, node)
}

func writeFile(e *env.Env, path string, b []byte) error {
	f, err := e.Disk.Open(path, env.OpenCreate)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Sync()
}
