package clog_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// The real WAL is what the transaction manager will hand the clog.
var _ clog.WALFlusher = (*wal.WAL)(nil)

// fakeWAL stands in for the WAL: records get increasing LSNs (1, 2, ...),
// Flush makes exactly the records up to its argument durable, and every
// flush request is recorded. It needs no lock: one simulated process runs
// at a time and control passes through channels.
type fakeWAL struct {
	e        *env.Env // when set, Flush sleeps as an fsync would, so others run
	inserted wal.LSN
	flushed  wal.LSN
	flushes  []wal.LSN
}

// insert reserves the next record's LSN (XLogInsert).
func (w *fakeWAL) insert() wal.LSN {
	w.inserted++
	return w.inserted
}

func (w *fakeWAL) Flush(upto wal.LSN) {
	if upto > w.inserted {
		panic(fmt.Sprintf("fakeWAL: flush to %d beyond insert position %d", upto, w.inserted))
	}
	w.flushes = append(w.flushes, upto)
	if w.e != nil {
		w.e.Clock.Sleep(time.Millisecond) // an fsync; others run meanwhile
	}
	if upto > w.flushed {
		w.flushed = upto
	}
}

func (w *fakeWAL) NeedsFlush(lsn wal.LSN) bool { return lsn > w.flushed }

// crash drops every record that was not flushed.
func (w *fakeWAL) crash() {
	w.inserted = w.flushed
	w.e = nil
}

// spyDisk wraps the simulated disk to watch page writes and fail fsyncs.
type spyDisk struct {
	env.Disk
	onWrite  func(path string, off int64, p []byte)
	failSync bool
}

func (d *spyDisk) Open(path string, flag env.OpenFlag) (env.File, error) {
	f, err := d.Disk.Open(path, flag)
	if err != nil {
		return nil, err
	}
	return &spyFile{File: f, d: d}, nil
}

type spyFile struct {
	env.File
	d *spyDisk
}

func (f *spyFile) WriteAt(p []byte, off int64) (int, error) {
	if f.d.onWrite != nil {
		f.d.onWrite(f.Path(), off, p)
	}
	return f.File.WriteAt(p, off)
}

func (f *spyFile) Sync() error {
	if f.d.failSync {
		return fmt.Errorf("spy: fsync %s: %w", f.Path(), env.EIO)
	}
	return f.File.Sync()
}

// withDisk returns a copy of e whose disk is d wrapping e's.
func withDisk(e *env.Env, d *spyDisk) *env.Env {
	d.Disk = e.Disk
	e2 := *e
	e2.Disk = d
	return &e2
}

// pageOfWrite decodes which clog page a write to path at off is.
func pageOfWrite(t require.TestingT, path string, off int64) uint64 {
	var seg uint64
	_, err := fmt.Sscanf(path, clog.Dir+"/%X", &seg)
	require.NoError(t, err, path)
	return seg*clog.PagesPerSegment + uint64(off)/clog.PageSize
}

// statusIn reads xid's bits from a raw page.
func statusIn(page []byte, xid uint64) clog.Status {
	idx := xid % clog.XactsPerPage
	return clog.Status(page[idx/4]>>((idx%4)*2)) & 3
}

// checkStop fails unless the simulation ran to completion.
func checkStop(t testing.TB, st world.Stop) {
	t.Helper()
	if st.Kind != world.StopAllDone {
		t.Fatalf("simulation stopped: %v\n%s", st, st.Stack)
	}
}

// inSim runs fn in a fresh simulated node after initdb's Bootstrap and
// fails the test on an error or an abnormal stop.
func inSim(t testing.TB, seed uint64, fn func(e *env.Env) error) *world.Node {
	t.Helper()
	var err error
	st, node := world.InSim(seed, func(e *env.Env) {
		if err = clog.Bootstrap(e); err == nil {
			err = fn(e)
		}
	})
	checkStop(t, st)
	require.NoError(t, err)
	return node
}

// reboot runs fn on node after its processes were killed.
func reboot(t testing.TB, node *world.Node, fn func(e *env.Env) error) {
	t.Helper()
	var err error
	st := node.Reboot(func(e *env.Env) { err = fn(e) })
	checkStop(t, st)
	require.NoError(t, err)
}

// expect compares GetStatus with want for every xid, in increasing order.
func expect(c *clog.CLOG, want map[uint64]clog.Status) error {
	for _, xid := range sortedXids(want) {
		got, _, err := c.GetStatus(xid)
		if err != nil {
			return err
		}
		if got != want[xid] {
			return fmt.Errorf("xid %d: status %s, want %s", xid, got, want[xid])
		}
	}
	return nil
}

func sortedXids[V any](m map[uint64]V) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
