package simtest

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/stretchr/testify/require"
)

// An image is a pure function of its key: a fresh build, a build with a
// readable trace and the cached image hold the same disk and end at the
// same point, and a run copies that disk exactly.
func TestInitdbImageIsPure(t *testing.T) {
	// An empty cache, whatever earlier tests left in it.
	images.Lock()
	saved := images.m
	images.m = nil
	images.Unlock()
	defer func() {
		images.Lock()
		images.m = saved
		images.Unlock()
	}()
	rc := resolve(DefaultConfig(3), world.NewRand(3))
	cached := imageFor(rc, nil)
	require.NoError(t, cached.err)
	require.Same(t, cached, imageFor(rc, nil), "the second run must hit the cache")
	var buf bytes.Buffer
	readable := world.NewTrace(&buf)
	for _, img := range []*initdbImage{buildImage(imageKeyOf(rc), world.NewTrace(nil)), imageFor(rc, readable)} {
		require.NotSame(t, cached, img)
		require.Equal(t, cached.disk.Snapshot(), img.disk.Snapshot())
		require.Equal(t, cached.trace, img.trace)
		require.Equal(t, [3]uint64{cached.events, cached.steps, uint64(cached.lastID)}, [3]uint64{img.events, img.steps, uint64(img.lastID)})
		require.Equal(t, cached.now, img.now)
	}
	require.NoError(t, readable.Flush())
	require.Contains(t, buf.String(), "initdb", "the readable build shows initdb's events")

	node := world.NewNode(world.NewRand(9), world.NewTrace(nil), rc.sched, rc.lat)
	cached.startFrom(node, world.NewTrace(nil))
	require.Equal(t, cached.disk.Snapshot(), node.Disk.Snapshot())
	require.Equal(t, cached.disk.DurableSnapshot(), node.Disk.DurableSnapshot())
	require.Equal(t, cached.now, node.Sim.Now())
	require.Equal(t, cached.steps, node.Sim.Steps())
}

// The key holds what initdb's result depends on and nothing a server
// takes at start: runs that differ only in runtime settings share an
// image, and a different WAL segment size, archive mode, planted bug or
// workload gets its own.
func TestInitdbImageKey(t *testing.T) {
	base := resolve(DefaultConfig(1), world.NewRand(1))
	same := base
	same.engine.SharedBuffers, same.engine.CheckpointTimeout, same.engine.SynchronousCommit = 77, 1, !base.engine.SynchronousCommit
	same.Clients, same.Txns, same.Seed = 9, 99, 12345
	require.Equal(t, imageKeyOf(base), imageKeyOf(same))

	seg, arch, bug, wl := base, base, base, base
	seg.engine.WAL.SegmentSize *= 2
	arch.engine.WAL.ArchiveMode = !base.engine.WAL.ArchiveMode
	bug.engine.Bugs = bugs.Set(0).With(bugs.FullPageWritesOff)
	wl.Workload = WorkloadRegister
	for name, rc := range map[string]resolved{"segment size": seg, "archive mode": arch, "bug": bug, "workload": wl} {
		require.NotEqual(t, imageKeyOf(base), imageKeyOf(rc), name)
	}
	for name, rc := range map[string]resolved{"segment size": seg, "workload": wl} {
		require.False(t, reflect.DeepEqual(imageFor(base, nil).disk.Snapshot(), imageFor(rc, nil).disk.Snapshot()), "%s: the same image", name)
	}
	// archive_mode adds pg_wal/archive_status, an empty directory.
	walDir := func(rc resolved) []string {
		names, err := imageFor(rc, nil).disk.List(wal.Dir)
		require.NoError(t, err)
		return names
	}
	require.NotEqual(t, walDir(base), walDir(arch))
}

// A copy shares nothing with its image: writing the copy, crashing it and
// writing again leave the image as it was.
func TestCopyQuiescentIsIndependent(t *testing.T) {
	img := imageFor(resolve(insertConfig(1), world.NewRand(1)), nil)
	require.NoError(t, img.err)
	before := img.disk.Snapshot()
	d := world.NewSimDisk(nil)
	d.CopyQuiescent(img.disk)
	paths := make([]string, 0, len(before))
	for p := range before {
		paths = append(paths, p)
	}
	for _, p := range paths {
		f, err := d.Open(p, env.OpenExisting)
		require.NoError(t, err)
		_, err = f.WriteAt(bytes.Repeat([]byte{0xee}, 100), 0)
		require.NoError(t, err)
	}
	d.Crash(world.NewRand(1), world.CrashRandomSubset)
	require.NoError(t, d.Remove(paths[0]))
	require.Equal(t, before, img.disk.Snapshot())
	require.True(t, img.disk.Quiescent())
}

// CopyQuiescent refuses a source with anything unsynced, and a target
// already in use: either would make the copy mean something else.
func TestCopyQuiescentPreconditions(t *testing.T) {
	src := world.NewSimDisk(nil)
	f, err := src.Open("a", env.OpenCreate)
	require.NoError(t, err)
	require.Panics(t, func() { world.NewSimDisk(nil).CopyQuiescent(src) }, "unsynced create")
	require.NoError(t, src.SyncDir(""))
	_, err = f.WriteAt([]byte("x"), 0)
	require.NoError(t, err)
	require.Panics(t, func() { world.NewSimDisk(nil).CopyQuiescent(src) }, "unsynced write")
	require.NoError(t, f.Sync())
	require.True(t, src.Quiescent())
	used := world.NewSimDisk(nil)
	require.NoError(t, used.MkdirAll("x"))
	require.Panics(t, func() { used.CopyQuiescent(src) })
	d := world.NewSimDisk(nil)
	d.CopyQuiescent(src)
	require.Equal(t, map[string][]byte{"a": []byte("x")}, d.DurableSnapshot())
}
