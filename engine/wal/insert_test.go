package wal_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

var insertCfg = wal.Config{SegmentSize: 64 << 10}

// copyPauser passes every injection point on to the simulator and, at the
// k-th wal-insert-copy the process named "inserter" reaches, sleeps it
// for pause: its insertion has reserved its space and holds its insertion
// lock, its record not (wholly) copied.
type copyPauser struct {
	next  env.Injector
	e     *env.Env
	k     int
	pause time.Duration
	hits  int
}

func (p *copyPauser) Inject(point string) {
	p.next.Inject(point)
	if point != wal.PointInsertCopy || p.e.Sched.Self() == nil || p.e.Sched.Self().Name() != "inserter" {
		return
	}
	if p.hits++; p.hits == p.k {
		p.e.Clock.Sleep(p.pause)
	}
}

// insertRace runs, on a fresh WAL, an "inserter" that inserts a record of
// size payload bytes and is paused at its k-th wal-insert-copy for 10 ms,
// and a "committer" that inserts a small record 1 ms after (or, when
// first, before) it and flushes it. It returns when the committer's flush
// returned (virtual time), what it reported flushed, both records' LSNs,
// and the records that the WAL on disk holds after a power loss.
func insertRace(t *testing.T, set bugs.Set, payload, k int, committerFirst bool) (flushedAt time.Duration, flushed wal.LSN, a, b wal.LSN, durable []wal.LSN, endErr error) {
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.SchedConfig{StepCost: time.Microsecond}, world.DefaultLatency)
	st := node.Reboot(func(e *env.Env) { simt.Must(wal.Create(e, insertCfg)) })
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	st = node.Reboot(func(e *env.Env) {
		e.Points = &copyPauser{next: e.Points, e: e, k: k, pause: 10 * time.Millisecond}
		w := simt.RecoverWAL(e, insertCfg)
		w.PlantBugs(set)
		g := world.NewGroup(e, 2)
		e.Sched.Spawn("inserter", func() {
			defer g.Done()
			if committerFirst {
				e.Clock.Sleep(time.Millisecond)
			}
			a, _ = w.Insert(&wal.Record{Xid: 1, Rmid: 1, Payload: make([]byte, payload)})
		})
		e.Sched.Spawn("committer", func() {
			defer g.Done()
			if !committerFirst {
				e.Clock.Sleep(time.Millisecond)
			}
			var end wal.LSN
			b, end = w.Insert(&wal.Record{Xid: 2, Rmid: 1, Payload: []byte("commit")})
			if committerFirst {
				e.Clock.Sleep(2 * time.Millisecond)
			}
			w.Flush(end)
			flushedAt, flushed = e.Clock.Now(), w.Flushed()
		})
		g.Wait()
		simt.Must(w.Close())
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	node.Disk.Crash(world.NewRand(2), world.CrashDropAll)
	st = node.Reboot(func(e *env.Env) {
		r, err := wal.NewReader(e, insertCfg, wal.FirstLSN, wal.InvalidLSN)
		simt.Must(err)
		for i := 0; i < 10; i++ {
			rec, ok, err := r.Next()
			simt.Must(err)
			if !ok {
				break
			}
			durable = append(durable, rec.LSN)
		}
		endErr = r.EndErr
		simt.Must(r.Close())
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	return flushedAt, flushed, a, b, durable, endErr
}

// A flush waits for an insertion paused before it copied its record
// (WaitXLogInsertionsToFinish): the commit after it is acknowledged only
// once both are durable, and a power loss keeps both. With planted bug
// flush-no-wait-insertions the flush writes the reserved space still
// zero, reports the commit flushed at once, and the WAL on disk ends at
// the torn record: the acknowledged commit is lost.
func TestFlushWaitsForInsertionInProgress(t *testing.T) {
	at, flushed, a, b, durable, _ := insertRace(t, 0, 100, 1, false)
	require.Less(t, a, b, "the inserter reserved first")
	require.GreaterOrEqual(t, at, 10*time.Millisecond, "the flush waited for the paused insertion")
	require.Greater(t, flushed, b)
	require.Equal(t, []wal.LSN{a, b}, durable)

	at, flushed, a, b, durable, endErr := insertRace(t, bugs.Set(0).With(bugs.FlushNoWaitInsertions), 100, 1, false)
	require.Less(t, a, b)
	require.Less(t, at, 10*time.Millisecond, "with the bug the flush did not wait")
	require.Greater(t, flushed, b, "the commit is reported flushed")
	require.Empty(t, durable, "the WAL on disk ends at the torn record")
	require.True(t, errors.Is(endErr, wal.ErrBadLength) || errors.Is(endErr, wal.ErrZeroRecord), "end of WAL: %v", endErr)
}

// An insertion that crosses pages advertises how far it has copied
// before it goes on to the next page (WALInsertLockUpdateInsertingAt): a
// flush of an earlier record does not wait for it, writes the WAL up to
// that page boundary and no further, and the record is whole on disk once
// flushed.
func TestFlushStopsAtAdvertisedInsertingAt(t *testing.T) {
	at, flushed, a, b, durable, _ := insertRace(t, 0, 3*wal.PageSize, 2, true)
	require.Less(t, b, a, "the committer reserved first")
	require.Less(t, at, 10*time.Millisecond, "the flush did not wait for the insertion past its request")
	require.Equal(t, wal.LSN(0), flushed%wal.PageSize, "flushed up to the page the insertion goes on to: %s", flushed)
	require.Greater(t, flushed, a)
	require.Equal(t, []wal.LSN{b}, durable, "only the committer's record was flushed")
}

// Taking every insertion lock (WALInsertLockAcquireExclusive, as the
// checkpointer does for its REDO pointer) waits for an insertion paused in
// the middle of its copy: the position it sees is past that record, never
// inside it.
func TestExclusiveInsertLockWaitsForCopy(t *testing.T) {
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.SchedConfig{StepCost: time.Microsecond}, world.DefaultLatency)
	st := node.Reboot(func(e *env.Env) { simt.Must(wal.Create(e, insertCfg)) })
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	var end, next wal.LSN
	var at time.Duration
	st = node.Reboot(func(e *env.Env) {
		e.Points = &copyPauser{next: e.Points, e: e, k: 2, pause: 10 * time.Millisecond}
		w := simt.RecoverWAL(e, insertCfg)
		g := world.NewGroup(e, 2)
		e.Sched.Spawn("inserter", func() {
			defer g.Done()
			_, end = w.Insert(&wal.Record{Xid: 1, Rmid: 1, Payload: make([]byte, 2*wal.PageSize)})
		})
		e.Sched.Spawn("checkpointer", func() {
			defer g.Done()
			e.Clock.Sleep(time.Millisecond)
			w.WithInsertLockExclusive(func(n wal.LSN) { next, at = n, e.Clock.Now() })
		})
		g.Wait()
		simt.Must(w.Close())
	})
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	require.GreaterOrEqual(t, at, 10*time.Millisecond, "the exclusive acquisition waited for the copy")
	require.Equal(t, end, next, "the next position is the paused record's end")
}
