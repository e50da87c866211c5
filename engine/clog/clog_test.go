package clog_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// spread returns a deterministic sample of xids over pages [0, pages): the
// first and last xid of each page, the edges of some LSN groups, and a
// pseudo-random few, all at least FirstNormalXid.
func spread(pages uint64, seed uint64) []uint64 {
	rng := world.NewRand(seed)
	var out []uint64
	seen := map[uint64]bool{}
	for p := range pages {
		base := p * clog.XactsPerPage
		cand := []uint64{base, base + 1, base + 31, base + 32, base + clog.XactsPerPage - 1}
		for range 20 {
			cand = append(cand, base+uint64(rng.Intn(clog.XactsPerPage)))
		}
		for _, x := range cand {
			if x >= clog.FirstNormalXid && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	return out
}

func statusFor(xid uint64) clog.Status {
	return []clog.Status{clog.Committed, clog.Aborted, clog.Committed, clog.SubCommitted}[xid%4]
}

// Statuses over three segments survive eviction from two buffers, a
// checkpoint and a clean restart.
func TestSetGetAcrossSegmentsWithEviction(t *testing.T) {
	const pages = 2*clog.PagesPerSegment + 5
	xids := spread(pages, 7)
	want := map[uint64]clog.Status{}
	for _, x := range xids {
		want[x] = statusFor(x)
	}
	w := &fakeWAL{}
	var stats clog.Stats
	node := inSim(t, 1, func(e *env.Env) error {
		c, err := clog.Open(e, w, clog.Config{Buffers: 2})
		if err != nil {
			return err
		}
		for p := uint64(1); p < pages; p++ {
			zeroed, err := c.ExtendCLOG(p * clog.XactsPerPage)
			if err != nil {
				return err
			}
			if !zeroed {
				return fmt.Errorf("page %d not zeroed", p)
			}
			w.insert() // the CLOG_ZEROPAGE record
		}
		for _, x := range xids {
			lsn := w.insert()
			if err := c.SetStatus(x, want[x], lsn); err != nil {
				return err
			}
		}
		// Never-set xids read as in progress.
		for p := uint64(0); p < pages; p += 7 {
			x := p*clog.XactsPerPage + 1000
			if _, ok := want[x]; !ok {
				want[x] = clog.InProgress
			}
		}
		if err := expect(c, want); err != nil {
			return err
		}
		if err := c.Checkpoint(); err != nil {
			return err
		}
		stats = c.Stats()
		return nil
	})
	require.Greater(t, stats.Evictions, uint64(pages), "two buffers must evict")
	require.True(t, node.Reached.Has("clog-page-extended"), "%v", node.Reached.Names())
	require.Greater(t, stats.Reads, uint64(0))
	require.Equal(t, uint64(3), stats.Fsyncs, "three segments written")
	require.Equal(t, uint64(1), stats.DirFsyncs, "new segments need a directory fsync")
	snap := node.Disk.DurableSnapshot()
	for seg := range uint64(3) {
		_, ok := snap[clog.SegmentPath(seg)]
		require.True(t, ok, "%s is durable", clog.SegmentPath(seg))
	}
	require.Len(t, snap[clog.SegmentPath(2)], 5*clog.PageSize)
	require.Equal(t, "pg_xact/0000", clog.SegmentPath(0))
	require.Equal(t, "pg_xact/001F", clog.SegmentPath(31))
	require.Equal(t, "pg_xact/10000", clog.SegmentPath(0x10000))

	reboot(t, node, func(e *env.Env) error {
		c, err := clog.Open(e, w, clog.Config{Buffers: 3})
		if err != nil {
			return err
		}
		return expect(c, want)
	})
}

func TestSpecialXidsAndValidation(t *testing.T) {
	inSim(t, 1, func(e *env.Env) error {
		_, err := clog.Open(e, nil, clog.Config{})
		require.Error(t, err, "a WAL is needed outside recovery")
		_, err = clog.Open(e, &fakeWAL{}, clog.Config{Buffers: 1})
		require.Error(t, err)
		c, err := clog.Open(e, &fakeWAL{}, clog.Config{})
		require.NoError(t, err)
		for xid, want := range map[uint64]clog.Status{0: clog.Aborted, 1: clog.Committed, 2: clog.Committed, 3: clog.InProgress} {
			got, lsn, err := c.GetStatus(xid)
			require.NoError(t, err)
			require.Equal(t, want, got, "xid %d", xid)
			require.Equal(t, wal.InvalidLSN, lsn)
		}
		require.Panics(t, func() { _ = c.SetStatus(2, clog.Committed, 0) })
		require.Panics(t, func() { _ = c.SetStatus(5, clog.InProgress, 0) })
		require.NoError(t, c.SetStatus(5, clog.Committed, 0))
		require.NoError(t, c.SetStatus(5, clog.Committed, 0), "setting the same status again is allowed")
		require.Panics(t, func() { _ = c.SetStatus(5, clog.Aborted, 0) })
		require.NoError(t, c.SetStatus(6, clog.SubCommitted, 0))
		require.NoError(t, c.SetStatus(6, clog.Aborted, 0))
		zeroed, err := c.ExtendCLOG(clog.FirstNormalXid)
		require.NoError(t, err)
		require.False(t, zeroed, "page 0 is made by Bootstrap")
		zeroed, err = c.ExtendCLOG(clog.XactsPerPage + 1)
		require.NoError(t, err)
		require.False(t, zeroed)
		return nil
	})
}

// Group LSNs: the status read back carries the largest async commit LSN of
// its group of 32; a synchronous commit or an abort does not raise it; and
// a page is written only after the WAL is flushed up to its largest LSN.
func TestGroupLSNAndWALBeforeData(t *testing.T) {
	w := &fakeWAL{}
	type write struct {
		page    uint64
		flushed wal.LSN
	}
	var writes []write
	commitLSN := map[uint64]wal.LSN{}
	var violations []string
	spy := &spyDisk{}
	spy.onWrite = func(path string, off int64, p []byte) {
		pg := pageOfWrite(t, path, off)
		writes = append(writes, write{pg, w.flushed})
		for xid, l := range commitLSN {
			if clog.PageOf(xid) == pg && statusIn(p, xid) == clog.Committed && l > w.flushed {
				violations = append(violations, fmt.Sprintf("page %d written with xid %d committed at %d, WAL flushed to %d", pg, xid, l, w.flushed))
			}
		}
	}
	inSim(t, 3, func(e0 *env.Env) error {
		e := withDisk(e0, spy)
		c, err := clog.Open(e, w, clog.Config{Buffers: 2})
		require.NoError(t, err)
		// A synchronous commit (record already flushed) and an abort.
		w.Flush(w.insert())
		require.NoError(t, c.SetStatus(128, clog.Committed, wal.InvalidLSN))
		require.NoError(t, c.SetStatus(129, clog.Aborted, wal.InvalidLSN))
		// Async commits of xids 100 and 101 (one group) at LSNs 10 and 5.
		for w.inserted < 10 {
			w.insert()
		}
		require.NoError(t, c.SetStatus(100, clog.Committed, 10))
		commitLSN[100] = 10
		require.NoError(t, c.SetStatus(101, clog.Committed, 5))
		commitLSN[101] = 5

		st, lsn, err := c.GetStatus(101)
		require.NoError(t, err)
		require.Equal(t, clog.Committed, st)
		require.Equal(t, wal.LSN(10), lsn, "group LSN is the group's largest")
		require.True(t, w.NeedsFlush(lsn), "a hint bit must wait for the flush")
		_, lsn, err = c.GetStatus(128)
		require.NoError(t, err)
		require.Equal(t, wal.InvalidLSN, lsn)
		require.Empty(t, writes, "nothing written yet")

		// Filling two more pages evicts page 0, which forces a flush to 10.
		for p := uint64(1); p <= 2; p++ {
			_, err := c.ExtendCLOG(p * clog.XactsPerPage)
			require.NoError(t, err)
			w.insert()
			x := p*clog.XactsPerPage + 7
			l := w.insert()
			require.NoError(t, c.SetStatus(x, clog.Committed, l))
			commitLSN[x] = l
		}
		require.NotEmpty(t, writes)
		require.Equal(t, uint64(0), writes[0].page)
		require.GreaterOrEqual(t, writes[0].flushed, wal.LSN(10))
		require.Contains(t, w.flushes, wal.LSN(10), "flushed exactly to the page's max LSN")
		require.NoError(t, c.Checkpoint())
		// After a reread the group LSN is gone: the page was written, so
		// the commit is durable.
		_, lsn, err = c.GetStatus(100)
		require.NoError(t, err)
		require.False(t, w.NeedsFlush(lsn))
		return nil
	})
	require.Empty(t, violations)
}

// Several processes commit asynchronously and read old pages at once, so
// page writes race with WAL flushes that release the control lock; no page
// may reach the disk before its commits' WAL.
func TestGroupLSNConcurrent(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		w := &fakeWAL{}
		commitLSN := map[uint64]wal.LSN{}
		var violations []string
		spy := &spyDisk{}
		spy.onWrite = func(path string, off int64, p []byte) {
			pg := pageOfWrite(t, path, off)
			for xid, l := range commitLSN {
				if clog.PageOf(xid) == pg && statusIn(p, xid) == clog.Committed && l > w.flushed {
					violations = append(violations, fmt.Sprintf("seed %d: page %d has xid %d committed at %d, WAL at %d", seed, pg, xid, l, w.flushed))
				}
			}
		}
		var errs []error
		final := map[uint64]clog.Status{}
		inSim(t, seed, func(e0 *env.Env) error {
			e := withDisk(e0, spy)
			w.e = e
			c, err := clog.Open(e, w, clog.Config{Buffers: 2})
			if err != nil {
				return err
			}
			const procs, perProc = 4, 40
			next := clog.FirstNormalXid
			xidLock := e.Sched.NewMutex("XidGenLock")
			done := 0
			doneMu := e.Sched.NewMutex("done")
			cond := e.Sched.NewCond("done", doneMu)
			for p := range procs {
				e.Sched.Spawn(fmt.Sprintf("backend%d", p), func() {
					defer func() {
						doneMu.Lock()
						done++
						cond.Broadcast()
						doneMu.Unlock()
					}()
					for i := range perProc {
						// GetNewTransactionId: a big stride crosses
						// pages quickly.
						xidLock.Lock()
						xid := next
						next += 997
						for b := (xid/clog.XactsPerPage + 1) * clog.XactsPerPage; b < next; b += clog.XactsPerPage {
							if _, err := c.ExtendCLOG(b); err != nil {
								errs = append(errs, err)
							}
							w.insert()
						}
						xidLock.Unlock()
						if i%3 == 2 {
							final[xid] = clog.Aborted
							if err := c.SetStatus(xid, clog.Aborted, wal.InvalidLSN); err != nil {
								errs = append(errs, err)
							}
							continue
						}
						l := w.insert()
						commitLSN[xid] = l
						final[xid] = clog.Committed
						if err := c.SetStatus(xid, clog.Committed, l); err != nil {
							errs = append(errs, err)
						}
						// Look an old xid up, which rereads old pages.
						if _, _, err := c.GetStatus(clog.FirstNormalXid + uint64(e.Rand.Intn(int(xid)))); err != nil {
							errs = append(errs, err)
						}
					}
				})
			}
			e.Sched.Spawn("checkpointer", func() {
				for range 5 {
					e.Clock.Sleep(3 * time.Millisecond)
					if err := c.Checkpoint(); err != nil {
						errs = append(errs, err)
					}
				}
			})
			doneMu.Lock()
			for done < procs {
				cond.Wait()
			}
			doneMu.Unlock()
			if err := c.Checkpoint(); err != nil {
				return err
			}
			return expect(c, final)
		})
		require.Empty(t, errs)
		require.Empty(t, violations)
	}
}

// statusSet is one SetStatus call and its WAL record.
type statusSet struct {
	xid    uint64
	status clog.Status
	lsn    wal.LSN
	async  bool
}

// A checkpoint, more work, then power loss: everything set before the
// checkpoint is on disk before any redo; what came after may be lost, and
// replaying its records restores it.
func TestCheckpointCrashRedo(t *testing.T) {
	modes := []world.CrashMode{world.CrashDropAll, world.CrashTorn, world.CrashRandomSubset}
	for _, mode := range modes {
		for seed := uint64(1); seed <= 20; seed++ {
			t.Run(fmt.Sprintf("%v/%d", mode, seed), func(t *testing.T) {
				checkpointCrashRedo(t, mode, seed)
			})
		}
	}
}

func checkpointCrashRedo(t *testing.T, mode world.CrashMode, seed uint64) {
	rng := world.NewRand(seed)
	w := &fakeWAL{}
	before := map[uint64]clog.Status{}
	var after []statusSet
	var zeroAfter []uint64
	existingPages := uint64(0)
	setSome := func(c *clog.CLOG, xids []uint64, log bool, into map[uint64]clog.Status) error {
		for _, x := range xids {
			st := []clog.Status{clog.Committed, clog.Aborted}[rng.Intn(2)]
			async := st == clog.Committed && rng.Intn(2) == 0
			l := w.insert()
			if !async {
				w.Flush(l)
			}
			commit := wal.InvalidLSN
			if async {
				commit = l
			}
			if err := c.SetStatus(x, st, commit); err != nil {
				return err
			}
			if into != nil {
				into[x] = st
			}
			if log {
				after = append(after, statusSet{x, st, l, async})
			}
		}
		return nil
	}
	node := inSim(t, seed, func(e *env.Env) error {
		c, err := clog.Open(e, w, clog.Config{Buffers: 2})
		if err != nil {
			return err
		}
		// Before the checkpoint: pages 0..33 exist; statuses go to pages
		// 0..3 first and 32..33 last, so that segment 0 is written only by
		// evictions and the checkpoint itself writes only segment 1.
		existingPages = 34
		for p := uint64(1); p < existingPages; p++ {
			if _, err := c.ExtendCLOG(p * clog.XactsPerPage); err != nil {
				return err
			}
			w.insert()
		}
		var xs []uint64
		for _, x := range spread(existingPages, seed) {
			if pg := clog.PageOf(x); pg < 4 || pg >= 32 {
				xs = append(xs, x)
			}
		}
		if err := setSome(c, xs, false, before); err != nil {
			return err
		}
		if err := c.Checkpoint(); err != nil {
			return err
		}
		w.Flush(w.insert()) // the checkpoint record
		// After: new statuses on old pages and on new pages up to 66 (the
		// rest of segment 1 and a new segment 2), with evictions writing
		// unsynced pages.
		const pagesAfter = 67
		for p := existingPages; p < pagesAfter; p++ {
			if _, err := c.ExtendCLOG(p * clog.XactsPerPage); err != nil {
				return err
			}
			w.insert()
			zeroAfter = append(zeroAfter, p)
		}
		xs = nil
		for _, x := range spread(pagesAfter, seed+100) {
			if _, dup := before[x]; !dup {
				xs = append(xs, x)
			}
		}
		if err := setSome(c, xs, true, nil); err != nil {
			return err
		}
		if rng.Intn(2) == 0 {
			w.Flush(w.inserted) // sometimes the async commits are durable too
		}
		return nil
	})
	node.Disk.Crash(rng, mode)

	reboot(t, node, func(e *env.Env) error {
		c, err := clog.Open(e, nil, clog.Config{Buffers: 2, InRecovery: true})
		if err != nil {
			return err
		}
		// Before redo, every status from before the checkpoint is there.
		if err := expect(c, before); err != nil {
			return fmt.Errorf("before redo: %w", err)
		}
		// What came after is either there or not, per xid, on pages that
		// existed at the checkpoint.
		for _, s := range after {
			if clog.PageOf(s.xid) >= existingPages {
				continue
			}
			got, _, err := c.GetStatus(s.xid)
			if err != nil {
				return err
			}
			if got != clog.InProgress && got != s.status {
				return fmt.Errorf("xid %d: %s after crash, set to %s", s.xid, got, s.status)
			}
			if got == clog.Committed && s.async && s.lsn > w.flushed {
				return fmt.Errorf("xid %d: committed on disk but its record at %d is lost", s.xid, s.lsn)
			}
		}
		// Redo: the durable records after the checkpoint, in WAL order
		// (zero pages were logged before any status).
		for _, p := range zeroAfter {
			if err := c.RedoZeroPage(p); err != nil {
				return err
			}
		}
		nextXid := uint64(67 * clog.XactsPerPage)
		want := map[uint64]clog.Status{}
		for x, st := range before {
			want[x] = st
		}
		for _, s := range after {
			if s.lsn > w.flushed {
				want[s.xid] = clog.InProgress // record lost: never happened
				continue
			}
			if err := c.RedoSetStatus(s.xid, s.status, s.lsn); err != nil {
				return err
			}
			want[s.xid] = s.status
		}
		if err := c.EndRecovery(w, nextXid); err != nil {
			return err
		}
		if err := expect(c, want); err != nil {
			return fmt.Errorf("after redo: %w", err)
		}
		return c.Checkpoint()
	})
}

// Outside recovery a missing segment is an error; in recovery it reads as
// zeroes; a short page is an error in both.
func TestMissingSegmentAndShortRead(t *testing.T) {
	node := inSim(t, 1, func(e *env.Env) error {
		c, err := clog.Open(e, &fakeWAL{}, clog.Config{})
		require.NoError(t, err)
		_, _, err = c.GetStatus(clog.XactsPerSegment + 5)
		require.ErrorIs(t, err, env.ErrNotExist)
		_, _, err = c.GetStatus(clog.XactsPerPage + 5)
		require.Error(t, err, "page 1 is beyond the end of segment 0")
		require.Contains(t, err.Error(), "read only 0 of 8192 bytes")
		require.Error(t, c.SetStatus(clog.XactsPerPage+5, clog.Committed, 0))
		return nil
	})
	reboot(t, node, func(e *env.Env) error {
		c, err := clog.Open(e, nil, clog.Config{InRecovery: true})
		require.NoError(t, err)
		st, _, err := c.GetStatus(clog.XactsPerSegment + 5)
		require.NoError(t, err)
		require.Equal(t, clog.InProgress, st)
		require.Equal(t, uint64(1), c.Stats().ZeroReads)
		_, _, err = c.GetStatus(clog.XactsPerPage + 5)
		require.Error(t, err, "a short page is an error in recovery too")
		// RedoZeroPage makes the page; then it reads.
		require.NoError(t, c.RedoZeroPage(1))
		require.NoError(t, c.RedoSetStatus(clog.XactsPerPage+5, clog.Committed, 3))
		// The redone page of a missing segment is written (and its file
		// created) when it is evicted or checkpointed.
		require.NoError(t, c.RedoSetStatus(clog.XactsPerSegment+5, clog.Aborted, 4))
		require.NoError(t, c.EndRecovery(&fakeWAL{inserted: 10, flushed: 10}, clog.XactsPerSegment+6))
		require.NoError(t, c.Checkpoint())
		return nil
	})
	snap := node.Disk.DurableSnapshot()
	require.Len(t, snap[clog.SegmentPath(0)], 2*clog.PageSize)
	require.Len(t, snap[clog.SegmentPath(1)], clog.PageSize)
	require.Equal(t, clog.Committed, statusIn(snap[clog.SegmentPath(0)][clog.PageSize:], clog.XactsPerPage+5))
	require.Equal(t, clog.Aborted, statusIn(snap[clog.SegmentPath(1)], 5))
}

// Redo is idempotent across sub-commits, and contradictions are errors.
func TestRedoTransitions(t *testing.T) {
	inSim(t, 1, func(e *env.Env) error {
		c, err := clog.Open(e, nil, clog.Config{InRecovery: true})
		require.NoError(t, err)
		require.NoError(t, c.RedoSetStatus(10, clog.SubCommitted, 1))
		require.NoError(t, c.RedoSetStatus(10, clog.Committed, 2))
		require.NoError(t, c.RedoSetStatus(10, clog.SubCommitted, 1), "an older sub-commit leaves the final status")
		st, lsn, err := c.GetStatus(10)
		require.NoError(t, err)
		require.Equal(t, clog.Committed, st)
		require.Equal(t, wal.LSN(2), lsn)
		require.Error(t, c.RedoSetStatus(10, clog.Aborted, 3))
		require.Error(t, c.RedoSetStatus(1, clog.Aborted, 3))
		require.Error(t, c.RedoSetStatus(11, clog.InProgress, 3))
		return nil
	})
}

// EndRecovery zeroes the statuses from nextXid to the end of its page
// (TrimCLOG), which a pre-crash page write may hold for lost aborts.
func TestEndRecoveryTrims(t *testing.T) {
	w := &fakeWAL{}
	node := inSim(t, 1, func(e *env.Env) error {
		c, err := clog.Open(e, w, clog.Config{})
		require.NoError(t, err)
		for x := uint64(100); x < 110; x++ {
			require.NoError(t, c.SetStatus(x, clog.Aborted, wal.InvalidLSN))
		}
		require.NoError(t, c.SetStatus(clog.XactsPerPage-1, clog.Aborted, wal.InvalidLSN))
		require.NoError(t, c.Checkpoint())
		return nil
	})
	node.Disk.Crash(nil, world.CrashDropAll)
	reboot(t, node, func(e *env.Env) error {
		c, err := clog.Open(e, nil, clog.Config{InRecovery: true})
		require.NoError(t, err)
		require.NoError(t, c.EndRecovery(w, 105))
		for x := uint64(100); x < 110; x++ {
			st, _, err := c.GetStatus(x)
			require.NoError(t, err)
			if x < 105 {
				require.Equal(t, clog.Aborted, st, "xid %d", x)
			} else {
				require.Equal(t, clog.InProgress, st, "xid %d", x)
			}
		}
		st, _, err := c.GetStatus(clog.XactsPerPage - 1)
		require.NoError(t, err)
		require.Equal(t, clog.InProgress, st)
		return nil
	})
}

// A failed fsync is a PANIC, and the injection points are reached.
func TestFsyncFailurePanicsAndInjectionPoints(t *testing.T) {
	spy := &spyDisk{}
	st, node := world.InSim(1, func(e0 *env.Env) {
		if err := clog.Bootstrap(e0); err != nil {
			panic(err)
		}
		e := withDisk(e0, spy)
		w := &fakeWAL{}
		c, err := clog.Open(e, w, clog.Config{})
		if err != nil {
			panic(err)
		}
		if err := c.SetStatus(10, clog.Committed, w.insert()); err != nil {
			panic(err)
		}
		if err := c.Checkpoint(); err != nil {
			panic(err)
		}
		if err := c.SetStatus(11, clog.Committed, w.insert()); err != nil {
			panic(err)
		}
		spy.failSync = true
		_ = c.Checkpoint()
		panic("not reached")
	})
	require.Equal(t, world.StopPanic, st.Kind, "%v", st)
	var pe *env.PanicError
	require.True(t, errors.As(st.Value.(error), &pe), "%v", st.Value)
	require.Contains(t, pe.Msg, "could not fsync file \"pg_xact/0000\"")
	hits := map[string]uint64{}
	for _, h := range node.Sim.Hits() {
		hits[h.Point] = h.Hits
	}
	require.Equal(t, uint64(2), hits["clog-before-write"])
	require.Equal(t, uint64(2), hits["clog-after-write"])
	require.Equal(t, uint64(1), hits["clog-after-fsync"])
}

// A cluster whose first xid is just below segment 0001 (pg_resetwal -x
// after initdb): BootstrapAt zeroes that xid's page, page 31 of segment
// 0000, so TrimCLOG can read it; the first xid of page 32 is extended,
// and the checkpoint creates segment 0001 with it.
func TestBootstrapAtCrossesSegment(t *testing.T) {
	next := uint64(clog.XactsPerSegment - 2)
	st, _ := world.InSim(1, func(e *env.Env) {
		if err := clog.BootstrapAt(e, next); err != nil {
			panic(err)
		}
		f, err := e.Disk.Open(clog.SegmentPath(0), env.OpenExisting)
		if err != nil {
			panic(err)
		}
		if n, _ := f.Size(); n != clog.PagesPerSegment*clog.PageSize {
			panic(fmt.Sprintf("segment 0000 is %d bytes, want its 32 pages", n))
		}
		_ = f.Close()
		w := &fakeWAL{}
		c, err := clog.Open(e, nil, clog.Config{InRecovery: true})
		if err != nil {
			panic(err)
		}
		if err := c.EndRecovery(w, next); err != nil {
			panic(err)
		}
		for xid := next; xid < next+3; xid++ {
			created, err := c.ExtendCLOG(xid)
			if err != nil {
				panic(err)
			}
			if created != (xid == clog.XactsPerSegment) {
				panic(fmt.Sprintf("xid %d: ExtendCLOG created %v", xid, created))
			}
			if err := c.SetStatus(xid, clog.Committed, wal.InvalidLSN); err != nil {
				panic(err)
			}
		}
		if err := c.Checkpoint(); err != nil {
			panic(err)
		}
		if _, err := e.Disk.Open(clog.SegmentPath(1), env.OpenExisting); err != nil {
			panic(fmt.Sprintf("segment 0001 after the checkpoint: %v", err))
		}
	})
	checkStop(t, st)
	require.Error(t, clog.BootstrapAt(nil, 2), "nextXid 2 is below the first normal xid")
}
