package simtest

// SimDisk is the simulated disk: an in-memory file system with Linux
// page-cache semantics and a power-loss model.
//
// # Model
//
// Files are inodes. Every file inode holds its durable content (as of its
// last successful File.Sync) and its current content (what reads see), plus
// the ordered log of data operations since that Sync: writes (offset and the
// written bytes only, never a copy of the file) and truncates (new size).
// File.Sync makes the inode's current content durable and clears its log. A
// file's data durability is independent of its name: syncing a file does not
// make its directory entry durable.
//
// Directories are inodes too. Each directory holds its current entries
// (name -> inode, what lookups see) and its durable entries. Create (Open
// with OpenCreate/OpenCreateExcl of a missing file), Remove, Rename and
// MkdirAll change current entries at once and append an operation to one
// ordered namespace log; each logged operation touches the directories whose
// entries it edits (a rename touches both parents). SyncDir(dir) makes
// durable every logged operation that touches dir, together with every
// earlier operation that touches a directory touched by an operation so
// selected (transitively): a directory's durable entries are therefore always
// the result of a prefix of the operations on it, and after SyncDir(dir) its
// durable entries equal its current ones. A directory's own entry in its
// parent is durable only after SyncDir of the parent (the root, "" or ".",
// always exists). So a new or renamed file survives a crash only when both
// its data has been synced and the directory entries on its whole path have
// been made durable; a removed file comes back after a crash unless its
// directory was synced after the Remove.
//
// Open handles refer to inodes: a removed (or renamed) file stays readable
// and writable through a handle opened earlier, as in POSIX.
//
// # Crashes
//
// Crash simulates power loss. Every open handle becomes invalid (later calls
// return env.ErrClosed). The surviving namespace is built from the durable
// entries and the unsynced namespace log, then every file still reachable
// from the root gets its content from its durable content and its unsynced
// data log, depending on the mode:
//
//   - CrashDropAll: nothing unsynced survives. Namespace and data are exactly
//     the durable state (what DurableSnapshot returns).
//   - CrashRandomSubset: the metadata journal commits in order, so a random
//     length prefix of the unsynced namespace log survives. Each unsynced
//     data operation (write or truncate) of each file independently survives
//     with probability 1/2, and the survivors are applied in order on top of
//     the durable content (writes beyond the end leave zero-filled gaps).
//   - CrashTorn: as CrashRandomSubset, but each write is further split at
//     the file's 512-byte sector boundaries (absolute offsets that are
//     multiples of DiskSectorSize), and each piece independently survives:
//     a torn write. A sector is never itself partially written.
//
// Afterwards the durable state equals the current state and all logs are
// empty. Inodes no longer reachable from the root are discarded. Random
// draws happen in a fixed order (the namespace prefix, then files in inode
// number order), so the same disk history and the same RNG state give the
// same post-crash disk.
//
// Not modelled yet (to come as faults injected through the hook): fsync
// failing with EIO (and the clean-but-lost page cache Linux leaves behind),
// bit flips and latent sector errors, ENOSPC, misdirected or lost writes
// reported as successful, and read errors. The model is deliberately
// stricter than ext4 in places: File.Sync never persists the file's own
// directory entry, and there is no implicit flush on rename-over-replace
// (ext4's auto_da_alloc). A file's size is not tracked apart from its data:
// a lost extending write also loses the size change. The disk has no
// capacity limit except a per-file cap (diskMaxFileSize, EFBIG) that stops
// a runaway offset from exhausting memory.
//
// # Hook
//
// Every operation first calls the DiskHook (if set) with a DiskOp describing
// it, before anything else happens, so that the simulator can charge latency,
// yield, feed its trace and inject faults. If the hook returns an error the
// operation does nothing and returns that error wrapped with the operation
// and path. Because the hook may yield to other processes, all validation
// (including whether a handle is still open) happens after it returns.
//
// The disk is for single-threaded use (one simulated process runs at a
// time); it has no locks.

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/pgdst/pgdst/engine/env"
)

// DiskSectorSize is the unit of atomicity of a write under CrashTorn.
const DiskSectorSize = 512

// diskMaxFileSize caps file size so that a runaway offset fails with EFBIG
// instead of exhausting memory.
const diskMaxFileSize = 1 << 32

// DiskOpKind is the kind of a disk operation, as reported to the DiskHook.
type DiskOpKind uint8

// The disk operation kinds.
const (
	OpOpen DiskOpKind = iota
	OpRead
	OpWrite
	OpSync
	OpTruncate
	OpSize
	OpClose
	OpRemove
	OpRename
	OpList
	OpMkdir
	OpSyncDir
	diskOpKinds // number of kinds
)

var diskOpNames = [diskOpKinds]string{
	"open", "read", "write", "sync", "truncate", "size", "close",
	"remove", "rename", "list", "mkdir", "syncdir",
}

func (k DiskOpKind) String() string {
	if k < diskOpKinds {
		return diskOpNames[k]
	}
	return fmt.Sprintf("DiskOpKind(%d)", uint8(k))
}

// DiskOp describes one disk operation for the DiskHook. Path is the path
// the operation names (for file-handle operations, the path the file was
// opened by); Path2 is the target of a rename. Off and Len are the offset
// and length of a read or write; for a truncate, Off is the new size.
type DiskOp struct {
	Kind  DiskOpKind
	Path  string
	Path2 string
	Off   int64
	Len   int
	// Data is what a write is about to store, for observers that judge
	// the I/O history; hooks must not modify or keep it.
	Data []byte
}

func (op DiskOp) String() string {
	switch op.Kind {
	case OpRename:
		return fmt.Sprintf("rename %s %s", op.Path, op.Path2)
	case OpRead, OpWrite:
		return fmt.Sprintf("%s %s @%d+%d", op.Kind, op.Path, op.Off, op.Len)
	case OpTruncate:
		return fmt.Sprintf("truncate %s %d", op.Path, op.Off)
	}
	return fmt.Sprintf("%s %s", op.Kind, op.Path)
}

// wrap attaches the operation and its path to err (errors.Is still sees
// err).
func (op DiskOp) wrap(err error) error {
	if op.Kind == OpRename {
		return fmt.Errorf("rename %s %s: %w", op.Path, op.Path2, err)
	}
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

// DiskHook is called at the start of every disk operation. A non-nil error
// fails the operation with that error, before it has any effect.
type DiskHook func(op DiskOp) error

// DiskStats counts what the disk has been asked to do. Operations are
// counted once their hook has let them through, whether or not they then
// succeed.
type DiskStats struct {
	Ops          [diskOpKinds]uint64 // by DiskOpKind
	BytesWritten uint64              // by successful WriteAt calls
	BytesRead    uint64              // by ReadAt calls
	Fsyncs       uint64              // successful File.Sync and SyncDir calls
	Crashes      uint64
}

// Count returns the number of operations of kind k.
func (s DiskStats) Count(k DiskOpKind) uint64 {
	if k >= diskOpKinds {
		return 0
	}
	return s.Ops[k]
}

// CrashMode selects what unsynced state survives a Crash.
type CrashMode uint8

// The crash modes; the comment at the top of this file describes them.
const (
	CrashDropAll CrashMode = iota
	CrashRandomSubset
	CrashTorn
)

var crashModeNames = [...]string{"drop-all", "random-subset", "torn"}

func (m CrashMode) String() string {
	if int(m) < len(crashModeNames) {
		return crashModeNames[m]
	}
	return fmt.Sprintf("CrashMode(%d)", uint8(m))
}

// ParseCrashMode parses a CrashMode's String form. Case, '-' and '_' are
// ignored, and "subset" and "random" mean CrashRandomSubset.
func ParseCrashMode(s string) (CrashMode, error) {
	k := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
	switch k {
	case "dropall", "drop":
		return CrashDropAll, nil
	case "randomsubset", "subset", "random":
		return CrashRandomSubset, nil
	case "torn":
		return CrashTorn, nil
	}
	return 0, fmt.Errorf("simtest: unknown crash mode %q (want drop-all, random-subset or torn)", s)
}

// diskInode is a file or a directory.
type diskInode struct {
	ino   uint64 // creation order; orders crash-time random draws
	isDir bool

	// Files.
	cur, dur []byte       // current and durable content; never aliased
	log      []diskDataOp // unsynced data operations, in order
	logBytes int64        // bytes held by log writes

	// Directories.
	curEnt, durEnt map[string]*diskInode
}

// diskDataOp is an unsynced write (data at off) or truncate (trunc, to size).
type diskDataOp struct {
	off   int64 // write offset
	data  []byte
	trunc bool
	size  int64 // truncate target
}

// diskEdit sets dir's entry name to target, or removes it if target is nil.
type diskEdit struct {
	dir    *diskInode
	name   string
	target *diskInode
}

// diskNsOp is one unsynced namespace operation: one edit, or two for a
// rename (unlink the old name, link the new one), applied atomically.
type diskNsOp struct {
	kind  DiskOpKind
	edits []diskEdit
}

func (op *diskNsOp) touches(set map[*diskInode]bool) bool {
	for _, e := range op.edits {
		if set[e.dir] {
			return true
		}
	}
	return false
}

func (op *diskNsOp) applyDurable() {
	for _, e := range op.edits {
		if e.target == nil {
			delete(e.dir.durEnt, e.name)
		} else {
			e.dir.durEnt[e.name] = e.target
		}
	}
}

// SimDisk is the simulated disk; the comment at the top of this file
// describes its semantics and fault model. It implements env.Disk.
type SimDisk struct {
	hook DiskHook
	// Faults (disk_faults.go).
	faultHook       DiskFaultHook
	faultRng        *Rand
	faultStats      DiskFaultStats
	nonAtomicRename bool

	gen     uint64 // bumped by Crash; handles from older generations are dead
	nextIno uint64
	root    *diskInode
	nslog   []diskNsOp
	stats   DiskStats
}

var _ env.Disk = (*SimDisk)(nil)

// NewSimDisk returns an empty disk. hook may be nil.
func NewSimDisk(hook DiskHook) *SimDisk {
	d := &SimDisk{hook: hook}
	d.root = d.newInode(true)
	return d
}

// SetHook replaces the hook (nil: none).
func (d *SimDisk) SetHook(h DiskHook) { d.hook = h }

// Stats returns the operation counters.
func (d *SimDisk) Stats() DiskStats { return d.stats }

func (d *SimDisk) newInode(isDir bool) *diskInode {
	d.nextIno++
	n := &diskInode{ino: d.nextIno, isDir: isDir}
	if isDir {
		n.curEnt = make(map[string]*diskInode)
		n.durEnt = make(map[string]*diskInode)
	}
	return n
}

// call runs the hook for op and counts it.
func (d *SimDisk) call(op DiskOp) error {
	if d.hook != nil {
		if err := d.hook(op); err != nil {
			return op.wrap(err)
		}
	}
	d.stats.Ops[op.Kind]++
	return nil
}

func (d *SimDisk) logNs(kind DiskOpKind, edits ...diskEdit) {
	d.nslog = append(d.nslog, diskNsOp{kind: kind, edits: edits})
}

// diskSplitPath validates p and returns its components; the root ("", ".")
// has none. Paths must be relative and must not contain "..".
func diskSplitPath(p string) ([]string, error) {
	if strings.HasPrefix(p, "/") {
		return nil, fs.ErrInvalid
	}
	var comps []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return nil, fs.ErrInvalid
		}
		comps = append(comps, c)
	}
	return comps, nil
}

// walkDir returns the directory at comps in the current namespace.
func (d *SimDisk) walkDir(comps []string) (*diskInode, error) {
	n := d.root
	for _, c := range comps {
		child := n.curEnt[c]
		if child == nil {
			return nil, env.ErrNotExist
		}
		if !child.isDir {
			return nil, syscall.ENOTDIR
		}
		n = child
	}
	return n, nil
}

// lookup resolves comps in the current namespace to its parent directory,
// its name and its inode (nil if missing). For the root, parent is nil. It
// fails if the parent directory does not exist.
func (d *SimDisk) lookup(comps []string) (parent *diskInode, name string, node *diskInode, err error) {
	if len(comps) == 0 {
		return nil, "", d.root, nil
	}
	parent, err = d.walkDir(comps[:len(comps)-1])
	if err != nil {
		return nil, "", nil, err
	}
	name = comps[len(comps)-1]
	return parent, name, parent.curEnt[name], nil
}

// Open opens (and with OpenCreate or OpenCreateExcl, creates) a file.
func (d *SimDisk) Open(path string, flag env.OpenFlag) (env.File, error) {
	op := DiskOp{Kind: OpOpen, Path: path}
	if err := d.call(op); err != nil {
		return nil, err
	}
	comps, err := diskSplitPath(path)
	if err != nil {
		return nil, op.wrap(err)
	}
	parent, name, node, err := d.lookup(comps)
	if err != nil {
		return nil, op.wrap(err)
	}
	switch {
	case flag != env.OpenExisting && flag != env.OpenCreate && flag != env.OpenCreateExcl:
		return nil, op.wrap(fs.ErrInvalid)
	case node != nil && node.isDir:
		return nil, op.wrap(syscall.EISDIR)
	case node != nil && flag == env.OpenCreateExcl:
		return nil, op.wrap(env.ErrExist)
	case node == nil && flag == env.OpenExisting:
		return nil, op.wrap(env.ErrNotExist)
	case node == nil:
		node = d.newInode(false)
		parent.curEnt[name] = node
		d.logNs(OpOpen, diskEdit{dir: parent, name: name, target: node})
	}
	return &simFile{d: d, node: node, path: path, gen: d.gen}, nil
}

// Remove removes a file or an empty directory.
func (d *SimDisk) Remove(path string) error {
	op := DiskOp{Kind: OpRemove, Path: path}
	if err := d.call(op); err != nil {
		return err
	}
	comps, err := diskSplitPath(path)
	if err != nil {
		return op.wrap(err)
	}
	parent, name, node, err := d.lookup(comps)
	switch {
	case err != nil:
		return op.wrap(err)
	case parent == nil:
		return op.wrap(fs.ErrInvalid) // the root
	case node == nil:
		return op.wrap(env.ErrNotExist)
	case node.isDir && len(node.curEnt) > 0:
		return op.wrap(syscall.ENOTEMPTY)
	}
	delete(parent.curEnt, name)
	d.logNs(OpRemove, diskEdit{dir: parent, name: name})
	return nil
}

// Rename atomically moves oldPath to newPath, replacing newPath if it
// exists (a file by a file, an empty directory by a directory).
func (d *SimDisk) Rename(oldPath, newPath string) error {
	op := DiskOp{Kind: OpRename, Path: oldPath, Path2: newPath}
	if err := d.call(op); err != nil {
		return err
	}
	oc, err := diskSplitPath(oldPath)
	if err != nil {
		return op.wrap(err)
	}
	nc, err := diskSplitPath(newPath)
	if err != nil {
		return op.wrap(err)
	}
	oparent, oname, src, err := d.lookup(oc)
	if err != nil {
		return op.wrap(err)
	}
	if oparent == nil {
		return op.wrap(fs.ErrInvalid)
	}
	if src == nil {
		return op.wrap(env.ErrNotExist)
	}
	nparent, nname, dst, err := d.lookup(nc)
	if err != nil {
		return op.wrap(err)
	}
	if nparent == nil {
		return op.wrap(fs.ErrInvalid)
	}
	if src == dst {
		return nil // POSIX: same file, nothing to do
	}
	if src.isDir {
		if len(nc) > len(oc) && slices.Equal(nc[:len(oc)], oc) {
			return op.wrap(fs.ErrInvalid) // into its own subtree
		}
		if dst != nil && !dst.isDir {
			return op.wrap(syscall.ENOTDIR)
		}
		if dst != nil && len(dst.curEnt) > 0 {
			return op.wrap(syscall.ENOTEMPTY)
		}
	} else if dst != nil && dst.isDir {
		return op.wrap(syscall.EISDIR)
	}
	delete(oparent.curEnt, oname)
	nparent.curEnt[nname] = src
	d.logNs(OpRename,
		diskEdit{dir: oparent, name: oname},
		diskEdit{dir: nparent, name: nname, target: src})
	return nil
}

// List returns the sorted names in dir (files and subdirectories).
func (d *SimDisk) List(dir string) ([]string, error) {
	op := DiskOp{Kind: OpList, Path: dir}
	if err := d.call(op); err != nil {
		return nil, err
	}
	comps, err := diskSplitPath(dir)
	if err != nil {
		return nil, op.wrap(err)
	}
	n, err := d.walkDir(comps)
	if err != nil {
		return nil, op.wrap(err)
	}
	names := slices.Sorted(maps.Keys(n.curEnt))
	if names == nil {
		names = []string{}
	}
	return names, nil
}

// MkdirAll creates dir and any missing parents. Each new directory's entry
// is durable only after SyncDir of its parent.
func (d *SimDisk) MkdirAll(dir string) error {
	op := DiskOp{Kind: OpMkdir, Path: dir}
	if err := d.call(op); err != nil {
		return err
	}
	comps, err := diskSplitPath(dir)
	if err != nil {
		return op.wrap(err)
	}
	n := d.root
	for _, c := range comps {
		child := n.curEnt[c]
		if child == nil {
			child = d.newInode(true)
			n.curEnt[c] = child
			d.logNs(OpMkdir, diskEdit{dir: n, name: c, target: child})
		} else if !child.isDir {
			return op.wrap(syscall.ENOTDIR)
		}
		n = child
	}
	return nil
}

// SyncDir makes dir's entries durable (see the model above).
func (d *SimDisk) SyncDir(dir string) error {
	op := DiskOp{Kind: OpSyncDir, Path: dir}
	if err := d.call(op); err != nil {
		return err
	}
	comps, err := diskSplitPath(dir)
	if err != nil {
		return op.wrap(err)
	}
	n, err := d.walkDir(comps)
	if err != nil {
		return op.wrap(err)
	}
	d.syncDir(n)
	d.stats.Fsyncs++
	return nil
}

func (d *SimDisk) syncDir(dir *diskInode) {
	if len(d.nslog) == 0 {
		return
	}
	// Walk the log backwards selecting every operation that touches a
	// directory touched by dir or by a later selected operation, so that
	// each directory's durable entries stay a prefix of its history. The map
	// is only probed, never iterated.
	touched := map[*diskInode]bool{dir: true}
	sel := make([]bool, len(d.nslog))
	for i := len(d.nslog) - 1; i >= 0; i-- {
		op := &d.nslog[i]
		if !op.touches(touched) {
			continue
		}
		sel[i] = true
		for _, e := range op.edits {
			touched[e.dir] = true
		}
	}
	keep := d.nslog[:0]
	for i := range d.nslog {
		if sel[i] {
			d.nslog[i].applyDurable()
		} else {
			keep = append(keep, d.nslog[i])
		}
	}
	clear(d.nslog[len(keep):])
	d.nslog = keep
}

// Crash simulates power loss (see the model above). rng may be nil for
// CrashDropAll, which draws nothing.
func (d *SimDisk) Crash(rng *Rand, mode CrashMode) {
	if mode > CrashTorn {
		panic(fmt.Sprintf("simtest: Crash with unknown mode %d", mode))
	}
	d.gen++
	d.stats.Crashes++

	// The metadata journal: a prefix of the unsynced namespace operations.
	if d.nonAtomicRename {
		d.nslog = splitRenames(d.nslog)
	}
	keep := 0
	if mode != CrashDropAll && len(d.nslog) > 0 {
		keep = rng.Intn(len(d.nslog) + 1)
	}
	for i := range d.nslog[:keep] {
		d.nslog[i].applyDurable()
	}
	d.nslog = nil

	// Everything reachable from the root through durable entries survives.
	var files []*diskInode
	seen := map[*diskInode]bool{d.root: true}
	stack := []*diskInode{d.root}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		dir.curEnt = maps.Clone(dir.durEnt)
		for _, child := range dir.durEnt {
			if seen[child] {
				continue
			}
			seen[child] = true
			if child.isDir {
				stack = append(stack, child)
			} else {
				files = append(files, child)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].ino < files[j].ino })
	for _, f := range files {
		f.crash(rng, mode)
	}
}

// crash resolves the inode's unsynced log into its post-crash content.
func (n *diskInode) crash(rng *Rand, mode CrashMode) {
	if len(n.log) == 0 {
		return // cur already equals dur
	}
	if mode != CrashDropAll {
		for _, op := range n.log {
			switch {
			case op.trunc:
				if rng.Intn(2) == 0 {
					n.dur = diskResize(n.dur, op.size)
				}
			case mode == CrashRandomSubset:
				if rng.Intn(2) == 0 {
					n.dur = diskWrite(n.dur, op.off, op.data)
				}
			default: // CrashTorn: each sector piece on its own
				off, data := op.off, op.data
				for len(data) > 0 {
					k := min(int64(len(data)), (off/DiskSectorSize+1)*DiskSectorSize-off)
					if rng.Intn(2) == 0 {
						n.dur = diskWrite(n.dur, off, data[:k])
					}
					off, data = off+k, data[k:]
				}
			}
		}
	}
	n.log, n.logBytes = nil, 0
	n.cur = slices.Clone(n.dur)
}

// Snapshot returns the current content of every file, by path.
func (d *SimDisk) Snapshot() map[string][]byte {
	out := make(map[string][]byte)
	d.walkFiles(d.root, "", false, out)
	return out
}

// DurableSnapshot returns the durable content of every durably linked file,
// by path: exactly what a CrashDropAll crash would leave.
func (d *SimDisk) DurableSnapshot() map[string][]byte {
	out := make(map[string][]byte)
	d.walkFiles(d.root, "", true, out)
	return out
}

func (d *SimDisk) walkFiles(dir *diskInode, prefix string, durable bool, out map[string][]byte) {
	ents := dir.curEnt
	if durable {
		ents = dir.durEnt
	}
	for name, child := range ents {
		p := prefix + name
		switch {
		case child.isDir:
			d.walkFiles(child, p+"/", durable, out)
		case durable:
			out[p] = bytesOrEmpty(child.dur)
		default:
			out[p] = bytesOrEmpty(child.cur)
		}
	}
}

func bytesOrEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return slices.Clone(b)
}

// diskResize returns b resized to n bytes, zero-filling any growth.
func diskResize(b []byte, n int64) []byte {
	old := int64(len(b))
	if n <= old {
		b = b[:n]
		if cap(b) > 1<<16 && n < int64(cap(b)/4) {
			b = append([]byte(nil), b...) // let a big buffer go
		}
		return b
	}
	if n <= int64(cap(b)) {
		b = b[:n]
		clear(b[old:]) // stale bytes from an earlier shrink
		return b
	}
	// Grow geometrically (like append) so that appends are amortized O(1);
	// fresh memory is already zero.
	c := int64(cap(b))
	if c < 1<<20 {
		c *= 2
	} else {
		c += c / 4
	}
	nb := make([]byte, n, max(n, c))
	copy(nb, b)
	return nb
}

// diskWrite writes p into b at off, growing b as needed.
func diskWrite(b []byte, off int64, p []byte) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = diskResize(b, end)
	}
	copy(b[off:], p)
	return b
}

// simFile is an open file handle.
type simFile struct {
	d      *SimDisk
	node   *diskInode
	path   string
	gen    uint64
	closed bool
}

var _ env.File = (*simFile)(nil)

// begin runs the hook and then checks that the handle is still usable (the
// hook may have yielded to a process that crashed the disk).
func (f *simFile) begin(op DiskOp) error {
	if err := f.d.call(op); err != nil {
		return err
	}
	if f.closed || f.gen != f.d.gen {
		return op.wrap(env.ErrClosed)
	}
	return nil
}

func (f *simFile) Path() string { return f.path }

// ReadAt reads as os.File.ReadAt does: a short read returns io.EOF.
func (f *simFile) ReadAt(p []byte, off int64) (int, error) {
	op := DiskOp{Kind: OpRead, Path: f.path, Off: off, Len: len(p)}
	if err := f.begin(op); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, op.wrap(fs.ErrInvalid)
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch flt := f.d.fault(op); flt.Kind {
	case FaultNone:
	case FaultBitFlip:
		f.flipBits(off, len(p), flt.Bits)
	default:
		if err := flt.err(); err != nil {
			return 0, op.wrap(err)
		}
		panic(fmt.Sprintf("simtest: fault %v on a read", flt.Kind))
	}
	cur := f.node.cur
	if off >= int64(len(cur)) {
		return 0, io.EOF
	}
	n := copy(p, cur[off:])
	f.d.stats.BytesRead += uint64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes into the page cache; a write past the end zero-fills the
// gap.
func (f *simFile) WriteAt(p []byte, off int64) (int, error) {
	op := DiskOp{Kind: OpWrite, Path: f.path, Off: off, Len: len(p), Data: p}
	if err := f.begin(op); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, op.wrap(fs.ErrInvalid)
	}
	if off+int64(len(p)) > diskMaxFileSize {
		return 0, op.wrap(syscall.EFBIG)
	}
	if len(p) == 0 {
		return 0, nil
	}
	switch flt := f.d.fault(op); flt.Kind {
	case FaultNone:
		f.store(p, off)
	case FaultTornWrite, FaultLostWrite, FaultMisdirectedWrite:
		f.faultyWrite(flt, p, off)
	default:
		if err := flt.err(); err != nil {
			return 0, op.wrap(err)
		}
		panic(fmt.Sprintf("simtest: fault %v on a write", flt.Kind))
	}
	f.d.stats.BytesWritten += uint64(len(p))
	return len(p), nil
}

// Sync makes the file's data durable (not its directory entry).
func (f *simFile) Sync() error {
	op := DiskOp{Kind: OpSync, Path: f.path}
	if err := f.begin(op); err != nil {
		return err
	}
	n := f.node
	switch flt := f.d.fault(op); flt.Kind {
	case FaultNone:
	case FaultSyncEIO:
		n.dropUnsynced()
		return op.wrap(flt.err())
	default:
		panic(fmt.Sprintf("simtest: fault %v on an fsync", flt.Kind))
	}
	if len(n.log) > 0 {
		if n.logBytes >= int64(len(n.cur)) {
			// Cheaper to copy the file than to replay the log.
			n.dur = diskResize(n.dur, int64(len(n.cur)))
			copy(n.dur, n.cur)
		} else {
			for _, op := range n.log {
				if op.trunc {
					n.dur = diskResize(n.dur, op.size)
				} else {
					n.dur = diskWrite(n.dur, op.off, op.data)
				}
			}
		}
		clear(n.log) // drop references to the written bytes
		n.log, n.logBytes = n.log[:0], 0
	}
	f.d.stats.Fsyncs++
	return nil
}

func (f *simFile) Truncate(size int64) error {
	op := DiskOp{Kind: OpTruncate, Path: f.path, Off: size}
	if err := f.begin(op); err != nil {
		return err
	}
	if size < 0 {
		return op.wrap(fs.ErrInvalid)
	}
	if size > diskMaxFileSize {
		return op.wrap(syscall.EFBIG)
	}
	n := f.node
	n.cur = diskResize(n.cur, size)
	n.log = append(n.log, diskDataOp{trunc: true, size: size})
	return nil
}

func (f *simFile) Size() (int64, error) {
	if err := f.begin(DiskOp{Kind: OpSize, Path: f.path}); err != nil {
		return 0, err
	}
	return int64(len(f.node.cur)), nil
}

// Close invalidates the handle. Closing twice returns ErrClosed.
func (f *simFile) Close() error {
	if err := f.begin(DiskOp{Kind: OpClose, Path: f.path}); err != nil {
		return err
	}
	f.closed = true
	return nil
}
