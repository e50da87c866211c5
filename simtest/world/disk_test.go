package world

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/env"
)

// ---- helpers ----

func diskOpen(t require.TestingT, d *SimDisk, p string, flag env.OpenFlag) env.File {
	f, err := d.Open(p, flag)
	require.NoError(t, err)
	return f
}

func diskWriteAll(t require.TestingT, f env.File, off int64, data []byte) {
	n, err := f.WriteAt(data, off)
	require.NoError(t, err)
	require.Equal(t, len(data), n)
}

// diskCreateDurable creates p with content, syncs its data and its directory.
func diskCreateDurable(t require.TestingT, d *SimDisk, p string, content []byte) {
	f := diskOpen(t, d, p, env.OpenCreateExcl)
	diskWriteAll(t, f, 0, content)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Close())
	dir := ""
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir = p[:i]
	}
	require.NoError(t, d.SyncDir(dir))
}

func strMap(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func diskList(t require.TestingT, d *SimDisk, dir string) []string {
	names, err := d.List(dir)
	require.NoError(t, err)
	return names
}

// ---- unit tests ----

func TestDiskCreatedFileNeedsDirSync(t *testing.T) {
	d := NewSimDisk(nil)
	f := diskOpen(t, d, "a", env.OpenCreate)
	diskWriteAll(t, f, 0, []byte("hello"))
	require.NoError(t, f.Sync()) // data durable, but not the name
	d.Crash(nil, CrashDropAll)
	require.Empty(t, d.Snapshot())
	_, err := d.Open("a", env.OpenExisting)
	require.ErrorIs(t, err, env.ErrNotExist)

	f = diskOpen(t, d, "a", env.OpenCreate)
	diskWriteAll(t, f, 0, []byte("hello"))
	require.NoError(t, f.Sync())
	require.NoError(t, d.SyncDir(""))
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"a": "hello"}, strMap(d.Snapshot()))
}

func TestDiskUnsyncedDataLostOnDropAll(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "a", []byte("durable"))
	f := diskOpen(t, d, "a", env.OpenExisting)
	diskWriteAll(t, f, 0, []byte("VOLATILE-AND-LONGER"))
	require.NoError(t, f.Truncate(3))
	require.Equal(t, map[string]string{"a": "VOL"}, strMap(d.Snapshot()))
	require.Equal(t, map[string]string{"a": "durable"}, strMap(d.DurableSnapshot()))
	d.Crash(NewRand(1), CrashDropAll)
	require.Equal(t, map[string]string{"a": "durable"}, strMap(d.Snapshot()))
	require.Equal(t, d.Snapshot(), d.DurableSnapshot())
}

func TestDiskRenameDurableOnlyAfterSyncDir(t *testing.T) {
	for _, syncDir := range []bool{false, true} {
		d := NewSimDisk(nil)
		require.NoError(t, d.MkdirAll("pg_wal"))
		require.NoError(t, d.SyncDir(""))
		diskCreateDurable(t, d, "pg_wal/tmp", []byte("new"))
		diskCreateDurable(t, d, "pg_wal/final", []byte("old"))
		require.NoError(t, d.Rename("pg_wal/tmp", "pg_wal/final"))
		require.Equal(t, []string{"final"}, diskList(t, d, "pg_wal"))
		require.Equal(t, map[string]string{"pg_wal/final": "new"}, strMap(d.Snapshot()))
		if syncDir {
			require.NoError(t, d.SyncDir("pg_wal"))
		}
		d.Crash(nil, CrashDropAll)
		if syncDir {
			require.Equal(t, map[string]string{"pg_wal/final": "new"}, strMap(d.Snapshot()))
		} else {
			require.Equal(t, map[string]string{"pg_wal/tmp": "new", "pg_wal/final": "old"}, strMap(d.Snapshot()))
		}
	}
}

func TestDiskRemoveUndoneByCrashBeforeSyncDir(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "a", []byte("x"))
	require.NoError(t, d.Remove("a"))
	require.Empty(t, d.Snapshot())
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"a": "x"}, strMap(d.Snapshot()))

	require.NoError(t, d.Remove("a"))
	require.NoError(t, d.SyncDir(""))
	d.Crash(nil, CrashDropAll)
	require.Empty(t, d.Snapshot())
}

func TestDiskDirectoryDurability(t *testing.T) {
	d := NewSimDisk(nil)
	require.NoError(t, d.MkdirAll("base/1"))
	require.NoError(t, d.MkdirAll("base/1")) // idempotent
	diskCreateDurable(t, d, "base/1/16384", []byte("rel"))
	// The file's entry is durable in base/1, but base and base/1 are not
	// linked durably: nothing survives.
	d.Crash(nil, CrashDropAll)
	require.Empty(t, diskList(t, d, ""))

	require.NoError(t, d.MkdirAll("base/1"))
	diskCreateDurable(t, d, "base/1/16384", []byte("rel"))
	require.NoError(t, d.SyncDir("base"))
	require.NoError(t, d.SyncDir(""))
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"base/1/16384": "rel"}, strMap(d.Snapshot()))
	require.Equal(t, []string{"base"}, diskList(t, d, ""))
	require.Equal(t, []string{"1"}, diskList(t, d, "base"))
}

func TestDiskCrossDirRenameSyncsDependencies(t *testing.T) {
	d := NewSimDisk(nil)
	require.NoError(t, d.MkdirAll("d1"))
	require.NoError(t, d.MkdirAll("d2"))
	require.NoError(t, d.SyncDir(""))
	f := diskOpen(t, d, "d1/x", env.OpenCreate)
	diskWriteAll(t, f, 0, []byte("x"))
	require.NoError(t, f.Sync())
	require.NoError(t, d.Rename("d1/x", "d2/y"))
	// Syncing d2 commits the rename and therefore the create it depends on;
	// d1/x must not reappear.
	require.NoError(t, d.SyncDir("d2"))
	require.Equal(t, map[string]string{"d2/y": "x"}, strMap(d.DurableSnapshot()))
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"d2/y": "x"}, strMap(d.Snapshot()))
}

func TestDiskDirRename(t *testing.T) {
	d := NewSimDisk(nil)
	require.NoError(t, d.MkdirAll("a/b"))
	diskCreateDurable(t, d, "a/b/f", []byte("f"))
	require.NoError(t, d.SyncDir("a"))
	require.NoError(t, d.SyncDir(""))
	require.ErrorIs(t, d.Rename("a", "a/b/c"), fs.ErrInvalid)
	require.NoError(t, d.Rename("a/b", "c"))
	require.Equal(t, map[string]string{"c/f": "f"}, strMap(d.Snapshot()))
	require.Equal(t, map[string]string{"a/b/f": "f"}, strMap(d.DurableSnapshot()))
	require.NoError(t, d.SyncDir(""))
	require.Equal(t, map[string]string{"c/f": "f"}, strMap(d.DurableSnapshot()))
	d.Crash(nil, CrashDropAll)
	require.Equal(t, []string{"a", "c"}, diskList(t, d, ""))
	require.Equal(t, map[string]string{"c/f": "f"}, strMap(d.Snapshot()))
}

func TestDiskErrors(t *testing.T) {
	d := NewSimDisk(nil)
	_, err := d.Open("missing", env.OpenExisting)
	require.ErrorIs(t, err, env.ErrNotExist)
	_, err = d.Open("nodir/f", env.OpenCreate)
	require.ErrorIs(t, err, env.ErrNotExist)
	require.ErrorIs(t, d.Remove("missing"), env.ErrNotExist)
	require.ErrorIs(t, d.Rename("missing", "x"), env.ErrNotExist)
	_, err = d.List("nodir")
	require.ErrorIs(t, err, env.ErrNotExist)
	require.ErrorIs(t, d.SyncDir("nodir"), env.ErrNotExist)

	f := diskOpen(t, d, "f", env.OpenCreateExcl)
	_, err = d.Open("f", env.OpenCreateExcl)
	require.ErrorIs(t, err, env.ErrExist)
	g := diskOpen(t, d, "f", env.OpenCreate) // existing file: opened
	require.Equal(t, "f", g.Path())
	_, err = d.List("f")
	require.ErrorIs(t, err, syscall.ENOTDIR)
	_, err = d.Open("f/x", env.OpenCreate)
	require.ErrorIs(t, err, syscall.ENOTDIR)

	for _, bad := range []string{"/abs", "../up", "a/../b"} {
		_, err = d.Open(bad, env.OpenCreate)
		require.ErrorIs(t, err, fs.ErrInvalid, bad)
		var pe *fs.PathError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "open", pe.Op)
		require.Equal(t, bad, pe.Path)
	}
	require.NoError(t, d.MkdirAll("dir/sub"))
	_, err = d.Open("dir", env.OpenCreate)
	require.ErrorIs(t, err, syscall.EISDIR)
	require.ErrorIs(t, d.Remove("dir"), syscall.ENOTEMPTY)
	require.NoError(t, d.Remove("dir/sub"))
	require.NoError(t, d.Remove("dir"))
	require.ErrorIs(t, d.MkdirAll("f/x"), syscall.ENOTDIR)
	require.ErrorIs(t, d.Rename("f", "nodir/f"), env.ErrNotExist)
	require.NoError(t, d.Rename("f", "./f")) // same file: no-op

	// Close, then everything on the handle fails with ErrClosed.
	require.NoError(t, f.Close())
	require.ErrorIs(t, f.Close(), env.ErrClosed)
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, env.ErrClosed)
	_, err = f.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, env.ErrClosed)
	require.ErrorIs(t, f.Sync(), env.ErrClosed)
	require.ErrorIs(t, f.Truncate(0), env.ErrClosed)
	_, err = f.Size()
	require.ErrorIs(t, err, env.ErrClosed)

	// A crash invalidates the other, still open, handle.
	d.Crash(NewRand(1), CrashTorn)
	_, err = g.Size()
	require.ErrorIs(t, err, env.ErrClosed)
	require.ErrorIs(t, g.Close(), env.ErrClosed)

	h := diskOpen(t, d, "h", env.OpenCreate)
	_, err = h.WriteAt([]byte("x"), -1)
	require.ErrorIs(t, err, fs.ErrInvalid)
	require.ErrorIs(t, h.Truncate(-1), fs.ErrInvalid)
	_, err = h.WriteAt([]byte("x"), diskMaxFileSize)
	require.ErrorIs(t, err, syscall.EFBIG)
}

func TestDiskReadPastEOF(t *testing.T) {
	d := NewSimDisk(nil)
	f := diskOpen(t, d, "f", env.OpenCreate)
	diskWriteAll(t, f, 0, []byte("0123456789"))
	buf := make([]byte, 20)
	n, err := f.ReadAt(buf, 0)
	require.Equal(t, 10, n)
	require.Equal(t, io.EOF, err) // bare io.EOF, as os.File
	require.Equal(t, "0123456789", string(buf[:n]))
	n, err = f.ReadAt(buf[:5], 5)
	require.NoError(t, err)
	require.Equal(t, "56789", string(buf[:n]))
	n, err = f.ReadAt(buf, 10)
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err)
	n, err = f.ReadAt(buf, 100)
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err)
	n, err = f.ReadAt(nil, 100)
	require.Equal(t, 0, n)
	require.NoError(t, err)

	// A write past the end zero-fills the gap.
	diskWriteAll(t, f, 15, []byte("xy"))
	size, err := f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 17, size)
	n, err = f.ReadAt(buf, 0)
	require.Equal(t, io.EOF, err)
	require.Equal(t, "0123456789\x00\x00\x00\x00\x00xy", string(buf[:n]))

	// Truncate shrinks, and growing again zero-fills (no stale bytes).
	require.NoError(t, f.Truncate(2))
	require.NoError(t, f.Truncate(6))
	n, err = f.ReadAt(buf[:6], 0)
	require.NoError(t, err)
	require.Equal(t, "01\x00\x00\x00\x00", string(buf[:n]))
}

// Sync after shrinking: the durable content must shrink too, whichever way
// Sync brings it up to date (log replay or copy).
func TestDiskSyncAfterTruncate(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "a", []byte("0123456789"))
	f := diskOpen(t, d, "a", env.OpenExisting)
	require.NoError(t, f.Truncate(0)) // nothing logged but the truncate
	require.NoError(t, f.Sync())
	require.Equal(t, map[string]string{"a": ""}, strMap(d.DurableSnapshot()))
	diskWriteAll(t, f, 0, []byte("abcdefghij"))
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(4))
	diskWriteAll(t, f, 0, []byte("wxyz")) // log bytes >= file size
	require.NoError(t, f.Sync())
	require.Equal(t, map[string]string{"a": "wxyz"}, strMap(d.DurableSnapshot()))
	require.NoError(t, f.Truncate(2))
	diskWriteAll(t, f, 8, []byte("!")) // replay path: truncate then extend
	require.NoError(t, f.Sync())
	require.Equal(t, map[string]string{"a": "wx\x00\x00\x00\x00\x00\x00!"}, strMap(d.DurableSnapshot()))
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"a": "wx\x00\x00\x00\x00\x00\x00!"}, strMap(d.Snapshot()))
}

func TestDiskRemovedOpenFileStillUsable(t *testing.T) {
	d := NewSimDisk(nil)
	diskCreateDurable(t, d, "f", []byte("abc"))
	f := diskOpen(t, d, "f", env.OpenExisting)
	require.NoError(t, d.Remove("f"))
	diskWriteAll(t, f, 3, []byte("def"))
	require.NoError(t, f.Sync())
	buf := make([]byte, 6)
	_, err := f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "abcdef", string(buf))
	// A new file under the same name is a different inode.
	g := diskOpen(t, d, "f", env.OpenCreateExcl)
	size, err := g.Size()
	require.NoError(t, err)
	require.Zero(t, size)
	// The remove was never made durable: the old inode, with the data
	// synced through the orphan handle, comes back.
	d.Crash(nil, CrashDropAll)
	require.Equal(t, map[string]string{"f": "abcdef"}, strMap(d.Snapshot()))
}

func TestDiskHookAndStats(t *testing.T) {
	var seen []string
	fail := env.EIO
	var failKind DiskOpKind = OpSync
	d := NewSimDisk(func(op DiskOp) error {
		seen = append(seen, op.String())
		if op.Kind == failKind {
			return fail
		}
		return nil
	})
	require.NoError(t, d.MkdirAll("dir"))
	f := diskOpen(t, d, "dir/f", env.OpenCreate)
	diskWriteAll(t, f, 3, []byte("abc"))
	err := f.Sync()
	require.ErrorIs(t, err, env.EIO)
	require.True(t, env.IsIOError(err))
	require.Contains(t, err.Error(), "sync dir/f")
	require.Empty(t, d.DurableSnapshot()) // the failed sync did nothing
	require.Equal(t, []string{"mkdir dir", "open dir/f", "write dir/f @3+3", "sync dir/f"}, seen)

	failKind = OpRename
	err = d.Rename("dir/f", "dir/g")
	require.ErrorIs(t, err, env.EIO)
	require.Contains(t, err.Error(), "rename dir/f dir/g")
	require.Equal(t, []string{"f"}, diskList(t, d, "dir"))

	failKind = OpWrite
	_, err = f.WriteAt([]byte("zz"), 0)
	require.ErrorIs(t, err, env.EIO)
	require.Equal(t, map[string]string{"dir/f": "\x00\x00\x00abc"}, strMap(d.Snapshot()))

	d.SetHook(nil)
	require.NoError(t, f.Sync())
	require.NoError(t, d.SyncDir("dir"))
	st := d.Stats()
	require.EqualValues(t, 1, st.Count(OpWrite))
	require.EqualValues(t, 1, st.Count(OpSync)) // the failed one is not counted
	require.EqualValues(t, 1, st.Count(OpSyncDir))
	require.EqualValues(t, 2, st.Fsyncs)
	require.EqualValues(t, 3, st.BytesWritten)
	require.Equal(t, "syncdir", OpSyncDir.String())
}

func TestDiskParseCrashMode(t *testing.T) {
	for _, m := range []CrashMode{CrashDropAll, CrashRandomSubset, CrashTorn} {
		got, err := ParseCrashMode(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	got, err := ParseCrashMode("Random_Subset")
	require.NoError(t, err)
	require.Equal(t, CrashRandomSubset, got)
	_, err = ParseCrashMode("bogus")
	require.Error(t, err)
}

// A torn write keeps or loses each sector piece as a whole, and over many
// seeds every piece is seen both kept and lost.
func TestDiskTornWriteSectors(t *testing.T) {
	const size = 4 * DiskSectorSize
	pieces := [][2]int{{100, 512}, {512, 1024}, {1024, 1536}, {1536, 1900}}
	kept := make([]int, len(pieces))
	mixed := false
	for seed := uint64(1); seed <= 64; seed++ {
		d := NewSimDisk(nil)
		diskCreateDurable(t, d, "f", make([]byte, size))
		f := diskOpen(t, d, "f", env.OpenExisting)
		diskWriteAll(t, f, 100, bytes.Repeat([]byte{0xAA}, 1800))
		d.Crash(NewRand(seed), CrashTorn)
		got := d.Snapshot()["f"]
		require.Len(t, got, size)
		n := 0
		for i, p := range pieces {
			seg := got[p[0]:p[1]]
			switch {
			case bytes.Equal(seg, bytes.Repeat([]byte{0xAA}, len(seg))):
				kept[i]++
				n++
			case bytes.Equal(seg, make([]byte, len(seg))):
			default:
				t.Fatalf("seed %d: piece %v is partially written", seed, p)
			}
		}
		require.Equal(t, make([]byte, 100), got[:100])
		require.Equal(t, make([]byte, size-1900), got[1900:])
		mixed = mixed || (n > 0 && n < len(pieces))
	}
	for i, k := range kept {
		require.True(t, k > 0 && k < 64, "piece %d kept %d/64 times", i, k)
	}
	require.True(t, mixed)
}

// CrashRandomSubset never tears a write.
func TestDiskRandomSubsetKeepsWholeWrites(t *testing.T) {
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 32; seed++ {
		d := NewSimDisk(nil)
		diskCreateDurable(t, d, "f", nil)
		f := diskOpen(t, d, "f", env.OpenExisting)
		diskWriteAll(t, f, 0, bytes.Repeat([]byte{1}, 1500))
		diskWriteAll(t, f, 1500, bytes.Repeat([]byte{2}, 1500))
		d.Crash(NewRand(seed), CrashRandomSubset)
		got := string(d.Snapshot()["f"])
		a, b := strings.Repeat("\x01", 1500), strings.Repeat("\x02", 1500)
		z := strings.Repeat("\x00", 1500)
		require.Contains(t, []string{"", a, z + b, a + b}, got)
		seen[got] = true
	}
	require.Len(t, seen, 4)
}

// Synced data survives every crash mode, even when an unsynced write
// follows it.
func TestDiskSyncedDataSurvivesEveryMode(t *testing.T) {
	for _, mode := range []CrashMode{CrashDropAll, CrashRandomSubset, CrashTorn} {
		for seed := uint64(1); seed <= 16; seed++ {
			d := NewSimDisk(nil)
			diskCreateDurable(t, d, "f", []byte("old-old-old"))
			f := diskOpen(t, d, "f", env.OpenExisting)
			diskWriteAll(t, f, 0, []byte("new"))
			require.NoError(t, f.Truncate(5))
			require.NoError(t, f.Sync())
			diskWriteAll(t, f, 2000, []byte("unsynced"))
			d.Crash(NewRand(seed), mode)
			got := d.Snapshot()["f"]
			require.Equal(t, "new-o", string(got[:5]), "%s seed %d", mode, seed)
			require.Contains(t, []int{5, 2008}, len(got))
		}
	}
}

// An unsynced truncate is kept or lost like a write.
func TestDiskUnsyncedTruncateMayBeLost(t *testing.T) {
	for _, mode := range []CrashMode{CrashRandomSubset, CrashTorn} {
		seen := map[string]bool{}
		for seed := uint64(1); seed <= 16; seed++ {
			d := NewSimDisk(nil)
			diskCreateDurable(t, d, "f", []byte("abcdef"))
			f := diskOpen(t, d, "f", env.OpenExisting)
			require.NoError(t, f.Truncate(2))
			d.Crash(NewRand(seed), mode)
			seen[string(d.Snapshot()["f"])] = true
		}
		require.Equal(t, map[string]bool{"ab": true, "abcdef": true}, seen, mode.String())
	}
}

// The metadata journal commits in order: after a non-DropAll crash the
// namespace is the durable one plus a prefix of the unsynced operations.
func TestDiskNamespacePrefix(t *testing.T) {
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 64; seed++ {
		d := NewSimDisk(nil)
		for _, name := range []string{"a", "b", "c"} {
			diskOpen(t, d, name, env.OpenCreate)
		}
		d.Crash(NewRand(seed), CrashRandomSubset)
		got := strings.Join(diskList(t, d, ""), ",")
		require.Contains(t, []string{"", "a", "a,b", "a,b,c"}, got)
		seen[got] = true
	}
	require.Len(t, seen, 4)
}

// A WAL-like workload (16 MB of small appends, an fsync every few) must be
// cheap: no per-write copy of the file.
func TestDiskWALWorkloadIsCheap(t *testing.T) {
	d := NewSimDisk(nil)
	require.NoError(t, d.MkdirAll("pg_wal"))
	f := diskOpen(t, d, "pg_wal/000000010000000000000001", env.OpenCreate)
	require.NoError(t, f.Truncate(16<<20))
	require.NoError(t, f.Sync())
	rec := bytes.Repeat([]byte{7}, 200)
	var off int64
	for i := 0; off+int64(len(rec)) <= 16<<20; i++ {
		diskWriteAll(t, f, off, rec)
		off += int64(len(rec))
		if i%8 == 7 {
			require.NoError(t, f.Sync())
		}
	}
	require.NoError(t, d.SyncDir("pg_wal"))
	require.NoError(t, d.SyncDir(""))
	d.Crash(NewRand(3), CrashTorn)
	got := d.Snapshot()["pg_wal/000000010000000000000001"]
	require.Len(t, got, 16<<20)
	// Everything synced survived, so at least the first records are there.
	require.Equal(t, rec, got[:len(rec)])
}

// ---- model-based property test ----

var (
	mDirs  = []string{"", "d1", "d2"}
	mNames = []string{"a", "b", "c"}
	mPaths = func() []string {
		var ps []string
		for _, d := range mDirs {
			for _, n := range mNames {
				ps = append(ps, mJoin(d, n))
			}
		}
		return ps
	}()
)

func mJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func mParent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// mInode is the model of a file: current and durable content and the
// unsynced data operations.
type mInode struct {
	id       int
	cur, dur []byte
	pending  []mData
}

type mData struct {
	trunc bool
	off   int
	data  []byte
	size  int
}

type mNsOp struct {
	kind      string // create, remove, rename
	path, to  string
	ino       *mInode
	parentDir [2]string
	nDirs     int
}

func (op *mNsOp) dirs() []string { return op.parentDir[:op.nDirs] }

func (op *mNsOp) apply(ns map[string]*mInode) {
	switch op.kind {
	case "create":
		ns[op.path] = op.ino
	case "remove":
		delete(ns, op.path)
	case "rename":
		delete(ns, op.path)
		ns[op.to] = op.ino
	}
}

type mHandle struct {
	f     env.File
	ino   *mInode
	valid bool // neither closed nor from before a crash
}

type diskModel struct {
	d       *SimDisk
	hooked  uint64
	nextID  int
	writes  int
	cur     map[string]*mInode
	dur     map[string]*mInode
	log     []mNsOp
	handles []*mHandle
	crashes int
	// exactLimit is the most units the crash checker enumerates exactly;
	// above it, it uses the relaxed check.
	exactLimit int
}

func newDiskModel(t *rapid.T) *diskModel {
	m := &diskModel{cur: map[string]*mInode{}, dur: map[string]*mInode{}}
	m.d = NewSimDisk(func(DiskOp) error { m.hooked++; return nil })
	require.NoError(t, m.d.MkdirAll("d1"))
	require.NoError(t, m.d.MkdirAll("d2"))
	require.NoError(t, m.d.SyncDir(""))
	return m
}

func mResize(b []byte, n int) []byte {
	if n <= len(b) {
		return b[:n:n]
	}
	return append(b[:len(b):len(b)], make([]byte, n-len(b))...)
}

func mWrite(b []byte, off int, p []byte) []byte {
	if off+len(p) > len(b) {
		b = mResize(b, off+len(p))
	}
	b = slices.Clone(b)
	copy(b[off:], p)
	return b
}

func (m *diskModel) handle(t *rapid.T) *mHandle {
	if len(m.handles) == 0 {
		t.Skip("no handles")
	}
	return rapid.SampledFrom(m.handles).Draw(t, "handle")
}

func (m *diskModel) Open(t *rapid.T) {
	p := rapid.SampledFrom(mPaths).Draw(t, "path")
	flag := rapid.SampledFrom([]env.OpenFlag{env.OpenExisting, env.OpenCreate, env.OpenCreateExcl}).Draw(t, "flag")
	f, err := m.d.Open(p, flag)
	ino := m.cur[p]
	switch {
	case ino != nil && flag == env.OpenCreateExcl:
		require.ErrorIs(t, err, env.ErrExist)
		return
	case ino == nil && flag == env.OpenExisting:
		require.ErrorIs(t, err, env.ErrNotExist)
		return
	}
	require.NoError(t, err)
	if ino == nil {
		m.nextID++
		ino = &mInode{id: m.nextID}
		m.cur[p] = ino
		m.log = append(m.log, mNsOp{kind: "create", path: p, ino: ino, parentDir: [2]string{mParent(p)}, nDirs: 1})
	}
	m.handles = append(m.handles, &mHandle{f: f, ino: ino, valid: true})
}

func (m *diskModel) write(t *rapid.T, h *mHandle, off int) {
	n := rapid.IntRange(1, 700).Draw(t, "len")
	fill := rapid.Byte().Draw(t, "fill")
	m.writes++
	data := make([]byte, n)
	for i := range data {
		data[i] = fill + byte(i*7) + byte(m.writes*101)
	}
	got, err := h.f.WriteAt(data, int64(off))
	if !h.valid {
		require.ErrorIs(t, err, env.ErrClosed)
		return
	}
	require.NoError(t, err)
	require.Equal(t, n, got)
	h.ino.cur = mWrite(h.ino.cur, off, data)
	h.ino.pending = append(h.ino.pending, mData{off: off, data: data})
}

func (m *diskModel) Write(t *rapid.T) {
	h := m.handle(t)
	m.write(t, h, rapid.OneOf(rapid.Just(0), rapid.IntRange(0, 2500), rapid.SampledFrom([]int{511, 512, 1024})).Draw(t, "off"))
}

// Append writes at the end of the file, as the WAL does.
func (m *diskModel) Append(t *rapid.T) {
	h := m.handle(t)
	m.write(t, h, len(h.ino.cur))
}

func (m *diskModel) Truncate(t *rapid.T) {
	h := m.handle(t)
	cur := len(h.ino.cur)
	size := rapid.OneOf(rapid.Just(0), rapid.IntRange(0, 3000), rapid.IntRange(max(cur-600, 0), cur+600),
		rapid.SampledFrom([]int{512, 1024, 2048})).Draw(t, "size")
	err := h.f.Truncate(int64(size))
	if !h.valid {
		require.ErrorIs(t, err, env.ErrClosed)
		return
	}
	require.NoError(t, err)
	h.ino.cur = mResize(h.ino.cur, size)
	h.ino.pending = append(h.ino.pending, mData{trunc: true, size: size})
}

func (m *diskModel) Read(t *rapid.T) {
	h := m.handle(t)
	off := rapid.IntRange(0, 3000).Draw(t, "off")
	n := rapid.IntRange(0, 1000).Draw(t, "n")
	buf := make([]byte, n)
	got, err := h.f.ReadAt(buf, int64(off))
	if !h.valid {
		require.ErrorIs(t, err, env.ErrClosed)
		return
	}
	cur := h.ino.cur
	var want []byte
	if off < len(cur) {
		want = cur[off:min(len(cur), off+n)]
	}
	require.Equal(t, len(want), got)
	require.Equal(t, string(want), string(buf[:got]), "read sees the latest writes")
	if got < n {
		require.Equal(t, io.EOF, err)
	} else {
		require.NoError(t, err)
	}
	size, err := h.f.Size()
	require.NoError(t, err)
	require.EqualValues(t, len(cur), size)
}

func (m *diskModel) Sync(t *rapid.T) {
	h := m.handle(t)
	err := h.f.Sync()
	if !h.valid {
		require.ErrorIs(t, err, env.ErrClosed)
		return
	}
	require.NoError(t, err)
	h.ino.dur = slices.Clone(h.ino.cur)
	h.ino.pending = nil
}

func (m *diskModel) Close(t *rapid.T) {
	h := m.handle(t)
	err := h.f.Close()
	if !h.valid {
		require.ErrorIs(t, err, env.ErrClosed)
		return
	}
	require.NoError(t, err)
	h.valid = false
}

func (m *diskModel) Remove(t *rapid.T) {
	p := rapid.SampledFrom(mPaths).Draw(t, "path")
	err := m.d.Remove(p)
	if m.cur[p] == nil {
		require.ErrorIs(t, err, env.ErrNotExist)
		return
	}
	require.NoError(t, err)
	delete(m.cur, p)
	m.log = append(m.log, mNsOp{kind: "remove", path: p, parentDir: [2]string{mParent(p)}, nDirs: 1})
}

func (m *diskModel) Rename(t *rapid.T) {
	from := rapid.SampledFrom(mPaths).Draw(t, "from")
	to := rapid.SampledFrom(mPaths).Draw(t, "to")
	err := m.d.Rename(from, to)
	ino := m.cur[from]
	if ino == nil {
		require.ErrorIs(t, err, env.ErrNotExist)
		return
	}
	require.NoError(t, err)
	if from == to {
		return
	}
	delete(m.cur, from)
	m.cur[to] = ino
	m.log = append(m.log, mNsOp{kind: "rename", path: from, to: to, ino: ino,
		parentDir: [2]string{mParent(from), mParent(to)}, nDirs: 2})
}

func mShareDir(a, b *mNsOp) bool {
	for _, x := range a.dirs() {
		if slices.Contains(b.dirs(), x) {
			return true
		}
	}
	return false
}

// SyncDir in the model: every op touching dir, closed under "an earlier op
// sharing a directory with a selected op" (computed as a naive fixpoint,
// independently of the implementation's backward scan).
func (m *diskModel) SyncDir(t *rapid.T) {
	dir := rapid.SampledFrom(mDirs).Draw(t, "dir")
	require.NoError(t, m.d.SyncDir(dir))
	sel := make([]bool, len(m.log))
	for i := range m.log {
		sel[i] = slices.Contains(m.log[i].dirs(), dir)
	}
	for changed := true; changed; {
		changed = false
		for j := range m.log {
			for i := 0; sel[j] && i < j; i++ {
				if !sel[i] && mShareDir(&m.log[i], &m.log[j]) {
					sel[i], changed = true, true
				}
			}
		}
	}
	var rest []mNsOp
	for i := range m.log {
		if sel[i] {
			m.log[i].apply(m.dur)
		} else {
			rest = append(rest, m.log[i])
		}
	}
	m.log = rest
}

func (m *diskModel) snapshot(ns map[string]*mInode, durable bool) map[string]string {
	out := map[string]string{}
	for p, ino := range ns {
		if durable {
			out[p] = string(ino.dur)
		} else {
			out[p] = string(ino.cur)
		}
	}
	return out
}

// diskModelCoverage counts what TestDiskModel exercised, so that the
// property cannot silently degenerate into trivial runs.
var diskModelCoverage struct {
	actions, crashes, crashesWithPending, exact, relaxed int
}

func (m *diskModel) Crash(t *rapid.T) {
	mode := rapid.SampledFrom([]CrashMode{CrashDropAll, CrashRandomSubset, CrashTorn}).Draw(t, "mode")
	seed := rapid.Uint64().Draw(t, "seed")
	diskModelCoverage.crashes++
	pending := len(m.log) > 0
	for _, ino := range m.cur {
		pending = pending || len(ino.pending) > 0
	}
	if pending && mode != CrashDropAll {
		diskModelCoverage.crashesWithPending++
	}
	m.d.Crash(NewRand(seed), mode)
	m.crashes++
	got := strMap(m.d.Snapshot())
	if mode == CrashDropAll {
		require.Equal(t, m.snapshot(m.dur, true), got, "drop-all keeps exactly the synced state")
	} else {
		m.checkCrash(t, mode, got)
	}
	// The model restarts from what survived.
	m.cur, m.dur, m.log = map[string]*mInode{}, map[string]*mInode{}, nil
	for p, content := range got {
		m.nextID++
		ino := &mInode{id: m.nextID, cur: []byte(content), dur: []byte(content)}
		m.cur[p], m.dur[p] = ino, ino
	}
	for _, h := range m.handles {
		h.valid = false
	}
}

// checkCrash asserts that got is a state the model allows: the durable
// namespace plus some prefix of the namespace log, and for each file a
// content reachable from its durable content by a subset of its unsynced
// operations (pieces, for torn writes).
func (m *diskModel) checkCrash(t *rapid.T, mode CrashMode, got map[string]string) {
	checker := map[*mInode]func(string) bool{}
	allowed := func(ino *mInode, content string) bool {
		c := checker[ino]
		if c == nil {
			c = mContentChecker(ino, mode, m.exactLimit)
			checker[ino] = c
		}
		return c(content)
	}
	var reasons []string
	for k := 0; k <= len(m.log); k++ {
		ns := map[string]*mInode{}
		for p, ino := range m.dur {
			ns[p] = ino
		}
		for i := range m.log[:k] {
			m.log[i].apply(ns)
		}
		ok := len(ns) == len(got)
		for p, ino := range ns {
			content, present := got[p]
			if !present {
				ok = false
				break
			}
			if !allowed(ino, content) {
				reasons = append(reasons, fmt.Sprintf("prefix %d: %s content (len %d) not reachable", k, p, len(content)))
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Fatalf("%s crash left a state the model does not allow: paths %v; %s", mode, slices.Sorted(maps.Keys(got)), strings.Join(reasons, "; "))
}

// mUnits splits an inode's unsynced operations into the units a crash keeps
// or loses independently.
func mUnits(ino *mInode, mode CrashMode) []mData {
	var units []mData
	for _, op := range ino.pending {
		if op.trunc || mode == CrashRandomSubset {
			units = append(units, op)
			continue
		}
		off, data := op.off, op.data
		for len(data) > 0 {
			k := min(len(data), (off/DiskSectorSize+1)*DiskSectorSize-off)
			units = append(units, mData{off: off, data: data[:k]})
			off, data = off+k, data[k:]
		}
	}
	return units
}

// mContentChecker returns a predicate for the contents a crash may leave in
// ino. With at most exactLimit units it enumerates every subset (exact); otherwise it uses
// a sound relaxation: a reachable length, every byte from the durable
// content, from some unsynced write covering it or a zero fill, and (when
// no units overlap and nothing is truncated) every unit region whole or
// absent.
func mContentChecker(ino *mInode, mode CrashMode, exactLimit int) func(string) bool {
	units := mUnits(ino, mode)
	if len(units) <= exactLimit {
		diskModelCoverage.exact++
		set := map[string]bool{}
		for mask := 0; mask < 1<<len(units); mask++ {
			b := slices.Clone(ino.dur)
			for i, u := range units {
				if mask>>i&1 == 0 {
					continue
				}
				if u.trunc {
					b = mResize(b, u.size)
				} else {
					b = mWrite(b, u.off, u.data)
				}
			}
			set[string(b)] = true
		}
		return func(s string) bool { return set[s] }
	}
	diskModelCoverage.relaxed++
	lengths := map[int]bool{len(ino.dur): true}
	minTrunc := len(ino.dur)
	hasTrunc := false
	for _, u := range units {
		var add []int
		for l := range lengths {
			if u.trunc {
				add = append(add, u.size)
			} else {
				add = append(add, max(l, u.off+len(u.data)))
			}
		}
		for _, l := range add {
			lengths[l] = true
		}
		if u.trunc {
			hasTrunc = true
			minTrunc = min(minTrunc, u.size)
		}
	}
	overlap := false
	sorted := slices.Clone(units)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	for i := 1; i < len(sorted); i++ {
		if !sorted[i].trunc && !sorted[i-1].trunc && sorted[i-1].off+len(sorted[i-1].data) > sorted[i].off {
			overlap = true
		}
	}
	base := func(p int) byte {
		if p < len(ino.dur) {
			return ino.dur[p]
		}
		return 0
	}
	return func(s string) bool {
		if !lengths[len(s)] {
			return false
		}
		for p := 0; p < len(s); p++ {
			c := s[p]
			ok := (p < len(ino.dur) && c == ino.dur[p]) || (c == 0 && (p >= len(ino.dur) || p >= minTrunc))
			for _, u := range units {
				if ok {
					break
				}
				ok = !u.trunc && p >= u.off && p < u.off+len(u.data) && u.data[p-u.off] == c
			}
			if !ok {
				return false
			}
		}
		if overlap || hasTrunc {
			return true
		}
		for _, u := range units {
			end := u.off + len(u.data)
			whole := end <= len(s) && s[u.off:end] == string(u.data)
			absent := true
			for p := u.off; p < min(end, len(s)); p++ {
				absent = absent && s[p] == base(p)
			}
			if !whole && !absent {
				return false
			}
		}
		return true
	}
}

func (m *diskModel) Check(t *rapid.T) {
	diskModelCoverage.actions++
	require.Equal(t, m.snapshot(m.cur, false), strMap(m.d.Snapshot()), "current state")
	require.Equal(t, m.snapshot(m.dur, true), strMap(m.d.DurableSnapshot()), "durable state")
	for _, dir := range mDirs {
		var want []string
		for p := range m.cur {
			if mParent(p) == dir {
				want = append(want, p[strings.LastIndexByte(p, '/')+1:])
			}
		}
		if dir == "" {
			want = append(want, "d1", "d2")
		}
		sort.Strings(want)
		if want == nil {
			want = []string{}
		}
		require.Equal(t, want, diskList(t, m.d, dir), "list %q", dir)
	}
	// White box: the durable content of every current file, linked durably
	// or not, is what its last Sync left.
	for p, ino := range m.cur {
		n := m.d.root
		for _, c := range strings.Split(p, "/") {
			n = n.curEnt[c]
		}
		require.Equal(t, string(ino.dur), string(n.dur), "durable content of %s", p)
	}
	st := m.d.Stats()
	var total uint64
	for _, n := range st.Ops {
		total += n
	}
	require.Equal(t, m.hooked, total, "every op calls the hook once")
}

func TestDiskModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newDiskModel(t)
		// Small limits exercise the relaxed checker too.
		m.exactLimit = rapid.SampledFrom([]int{12, 2}).Draw(t, "exactLimit")
		// Weight the actions (data operations dominate, as in a database)
		// and run several rounds so that crashes find unsynced state.
		actions := map[string]func(*rapid.T){
			"":         m.Check,
			"open":     m.Open,
			"open2":    m.Open,
			"write":    m.Write,
			"write2":   m.Write,
			"write3":   m.Write,
			"append":   m.Append,
			"append2":  m.Append,
			"truncate": m.Truncate,
			"read":     m.Read,
			"read2":    m.Read,
			"sync":     m.Sync,
			"close":    m.Close,
			"remove":   m.Remove,
			"rename":   m.Rename,
			"rename2":  m.Rename,
			"syncdir":  m.SyncDir,
			"syncdir2": m.SyncDir,
			"crash":    m.Crash,
		}
		for range 4 {
			t.Repeat(actions)
		}
	})
	c := diskModelCoverage
	t.Logf("coverage: %+v", c)
}

// ---- determinism ----

type diskScriptOp struct {
	Kind      int
	Path, To  string
	Off, Len  int
	Fill      byte
	Dir       string
	HandleIdx int
}

func diskScriptGen() *rapid.Generator[diskScriptOp] {
	return rapid.Custom(func(t *rapid.T) diskScriptOp {
		return diskScriptOp{
			Kind:      rapid.IntRange(0, 7).Draw(t, "kind"),
			Path:      rapid.SampledFrom(mPaths).Draw(t, "path"),
			To:        rapid.SampledFrom(mPaths).Draw(t, "to"),
			Off:       rapid.IntRange(0, 3000).Draw(t, "off"),
			Len:       rapid.IntRange(1, 1500).Draw(t, "len"),
			Fill:      rapid.Byte().Draw(t, "fill"),
			Dir:       rapid.SampledFrom(mDirs).Draw(t, "dir"),
			HandleIdx: rapid.IntRange(0, 15).Draw(t, "h"),
		}
	})
}

// runDiskScript plays ops (ignoring errors) and crashes.
func runDiskScript(ops []diskScriptOp, seed uint64, mode CrashMode) (*SimDisk, []string) {
	var trace []string
	d := NewSimDisk(func(op DiskOp) error { trace = append(trace, op.String()); return nil })
	_ = d.MkdirAll("d1")
	_ = d.MkdirAll("d2")
	var hs []env.File
	for _, op := range ops {
		var h env.File
		if len(hs) > 0 {
			h = hs[op.HandleIdx%len(hs)]
		}
		switch op.Kind {
		case 0:
			if f, err := d.Open(op.Path, env.OpenCreate); err == nil {
				hs = append(hs, f)
			}
		case 1, 2:
			if h != nil {
				data := make([]byte, op.Len)
				for i := range data {
					data[i] = op.Fill + byte(i)
				}
				_, _ = h.WriteAt(data, int64(op.Off))
			}
		case 3:
			if h != nil {
				_ = h.Truncate(int64(op.Off))
			}
		case 4:
			if h != nil {
				_ = h.Sync()
			}
		case 5:
			_ = d.SyncDir(op.Dir)
		case 6:
			_ = d.Rename(op.Path, op.To)
		case 7:
			_ = d.Remove(op.Path)
		}
	}
	d.Crash(NewRand(seed), mode)
	return d, trace
}

func TestDiskCrashDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(diskScriptGen(), 0, 60).Draw(t, "ops")
		seed := rapid.Uint64().Draw(t, "seed")
		mode := rapid.SampledFrom([]CrashMode{CrashDropAll, CrashRandomSubset, CrashTorn}).Draw(t, "mode")
		d1, tr1 := runDiskScript(ops, seed, mode)
		d2, tr2 := runDiskScript(ops, seed, mode)
		require.Equal(t, tr1, tr2)
		require.Equal(t, d1.Snapshot(), d2.Snapshot())
		require.Equal(t, d1.Snapshot(), d1.DurableSnapshot(), "after a crash everything is durable")
		for _, dir := range mDirs {
			l1, err1 := d1.List(dir)
			l2, err2 := d2.List(dir)
			require.Equal(t, l1, l2)
			require.Equal(t, errors.Is(err1, env.ErrNotExist), errors.Is(err2, env.ErrNotExist))
		}
		require.Equal(t, d1.Stats(), d2.Stats())
	})
}

// Different seeds do give different torn outcomes (the RNG is consulted).
func TestDiskCrashSeedSensitive(t *testing.T) {
	ops := []diskScriptOp{{Kind: 0, Path: "a"}, {Kind: 5, Dir: ""}}
	for i := 0; i < 8; i++ {
		ops = append(ops, diskScriptOp{Kind: 1, Off: i * 700, Len: 700, Fill: byte(i + 1)})
	}
	outcomes := map[string]bool{}
	for seed := uint64(0); seed < 16; seed++ {
		d, _ := runDiskScript(ops, seed, CrashTorn)
		outcomes[string(d.Snapshot()["a"])] = true
	}
	require.Greater(t, len(outcomes), 8)
}

// BenchmarkDiskWALAppend is the hot path: small appends with an fsync every
// eight of them.
func BenchmarkDiskWALAppend(b *testing.B) {
	d := NewSimDisk(nil)
	f, err := d.Open("wal", env.OpenCreate)
	if err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, 128)
	b.SetBytes(int64(len(rec)))
	var off int64
	for i := 0; b.Loop(); i++ {
		if off >= 16<<20 {
			off = 0
		}
		if _, err := f.WriteAt(rec, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(rec))
		if i%8 == 7 {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
