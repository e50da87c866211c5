package world

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
// Faults on single operations (fsync EIO with the clean-but-lost page
// cache Linux leaves behind, read and write EIO, ENOSPC, torn, lost and
// misdirected writes reported as successful, bit flips) are injected
// through the hook; disk_faults.go holds their model. The model is deliberately
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
	"bytes"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/bits"
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
	// pathH is hashString(Path) when the disk knows it (an open file's),
	// else 0.
	pathH uint64
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
	cur, dur []byte       // current and durable content (see shared)
	log      []diskDataOp // unsynced data operations, in order
	logBytes int64        // bytes written by log writes
	// shared says dur is cur's first len(dur) bytes, in cur's own array
	// (dur's capacity is capped at its length, so growing it copies):
	// after a File.Sync the durable content is the current content, and
	// nothing is copied until a write or truncate is about to change a byte
	// below len(dur) (unshare). Writes past the durable end (appends: WAL,
	// relation extension) keep sharing.
	shared bool
	// diverged says cur may differ from replaying the log onto dur (a bit
	// flip hit a byte no log write holds); Sync then replays the log, as
	// the model says, instead of sharing cur.
	diverged bool
	// private says dur keeps its own array across Syncs, which replay the
	// log into it: set once a write or truncate changed a durable byte
	// (relation pages written again, the control file), after which sharing
	// would copy the whole file at every Sync's first such write.
	private bool
	// liveLo and liveHi bound the log writes whose data is still in cur
	// (data == nil): no later operation has changed their bytes. A write or
	// truncate that would change them copies their data out first
	// (prepare), so a log write costs no copy unless it is overwritten
	// before the next Sync.
	liveLo, liveHi int64
	// saved holds the data prepare copied out, back to back; it is reused
	// once the log is cleared.
	saved []byte
	mem   *diskMem // the disk's spare arrays

	// Directories.
	curEnt, durEnt map[string]*diskInode
}

// diskDataOp is an unsynced write (n bytes at off) or truncate (trunc, to
// size). A write's bytes are data; or zeros (zero); or, while data is nil
// and zero is not set, cur[off:off+n] (the write is live).
type diskDataOp struct {
	off   int64 // write offset
	n     int64 // write length
	data  []byte
	zero  bool
	trunc bool
	size  int64 // truncate target
}

// diskZeros backs the data of zero writes (never written).
var diskZeros [64 << 10]byte

func (op *diskDataOp) live() bool { return !op.trunc && !op.zero && op.data == nil }

// bytes returns the write's data (read-only).
func (op *diskDataOp) bytes(n *diskInode) []byte {
	switch {
	case op.data != nil:
		return op.data
	case op.zero:
		return diskZeros[:op.n]
	}
	return n.cur[op.off : op.off+op.n]
}

// unshare gives dur its own copy before cur changes below len(dur).
func (n *diskInode) unshare() {
	if n.shared {
		d, _ := n.mem.get(len(n.dur))
		copy(d, n.dur)
		n.dur = d
		n.shared = false
	}
}

// setCur installs a new value of cur. When it moved to a new array, the old
// one stays dur's if dur shared it, and is spare otherwise.
func (n *diskInode) setCur(b []byte) {
	if cap(b) != cap(n.cur) || !sameStart(b, n.cur) {
		if n.shared {
			n.shared = false
		} else {
			n.mem.put(n.cur)
		}
	}
	n.cur = b
}

// setDur installs a new value of a private dur, sparing its old array when
// it moved.
func (n *diskInode) setDur(b []byte) {
	if cap(b) != cap(n.dur) || !sameStart(b, n.dur) {
		n.mem.put(n.dur)
	}
	n.dur = b
}

// prepare is called before cur's bytes [lo, hi) change: dur stops sharing
// them, and log writes that still keep their data there copy it out.
func (n *diskInode) prepare(lo, hi int64) {
	if n.shared && lo < int64(len(n.dur)) {
		n.unshare()
		n.private = true
	}
	if lo >= n.liveHi || hi <= n.liveLo {
		return
	}
	n.liveLo, n.liveHi = 0, 0
	first := true
	for i := range n.log {
		op := &n.log[i]
		if !op.live() {
			continue
		}
		if op.off < hi && lo < op.off+op.n {
			if b := n.cur[op.off : op.off+op.n]; len(b) <= len(diskZeros) && bytes.Equal(b, diskZeros[:len(b)]) {
				op.zero = true // a new page, say: nothing to copy
				continue
			}
			at := len(n.saved)
			n.saved = append(n.saved, n.cur[op.off:op.off+op.n]...)
			op.data = n.saved[at:len(n.saved):len(n.saved)]
			continue
		}
		if first {
			n.liveLo, n.liveHi, first = op.off, op.off+op.n, false
		} else {
			n.liveLo, n.liveHi = min(n.liveLo, op.off), max(n.liveHi, op.off+op.n)
		}
	}
}

// clearLog empties the log (after a Sync, a crash or a failed fsync).
func (n *diskInode) clearLog() {
	clear(n.log) // drop references to saved bytes
	n.log, n.logBytes = n.log[:0], 0
	n.liveLo, n.liveHi = 0, 0
	if cap(n.saved) > 1<<20 {
		n.saved = nil
	}
	n.saved = n.saved[:0]
}

// shareDur makes cur the durable content too, without copying.
func (n *diskInode) shareDur() {
	if !n.shared {
		n.mem.put(n.dur)
	}
	n.dur = n.cur[:len(n.cur):len(n.cur)]
	n.shared = true
	n.diverged = false
}

// replayLog applies the log to a private dur, as the model defines Sync.
func (n *diskInode) replayLog() {
	if n.logBytes >= int64(len(n.cur)) {
		// Cheaper to copy the file than to replay the log.
		n.setDur(n.mem.resize(n.dur, int64(len(n.cur))))
		copy(n.dur, n.cur)
		n.diverged = false
		return
	}
	for i := range n.log {
		op := &n.log[i]
		if op.trunc {
			n.setDur(n.mem.resize(n.dur, op.size))
		} else {
			n.setDur(n.mem.write(n.dur, op.off, op.bytes(n)))
		}
	}
}

// diskMem keeps the arrays files let go of (grown out of, or no longer
// durable), by power-of-two capacity, for the next file that grows: a
// run's files grow by doubling, and fresh memory costs page faults. It
// belongs to one disk, so to one run.
type diskMem struct {
	spare      [diskMemClasses][][]byte
	spareBytes int // the capacity of every spare array
}

const (
	diskMemMin     = 12      // classes start at 4 kB
	diskMemClasses = 20      // and end at 2 GB
	diskMemKeep    = 8       // spare arrays kept per class
	diskMemMax     = 4 << 20 // spare bytes kept in all (a default run leaves about 1 MiB)
)

// diskMemClass is the class of capacity c, or -1 for a capacity that is
// not a power of two in range.
func diskMemClass(c int) int {
	if c < 1<<diskMemMin || c&(c-1) != 0 {
		return -1
	}
	k := bits.Len(uint(c)) - 1 - diskMemMin
	if k >= diskMemClasses {
		return -1
	}
	return k
}

// get returns an array of n bytes with a power-of-two capacity (or a
// plain one for small n), and whether it is fresh (all zeros); a spare one
// has any content.
func (m *diskMem) get(n int) ([]byte, bool) {
	if n < 1<<diskMemMin {
		return make([]byte, n), true
	}
	c := 1 << bits.Len(uint(n-1))
	if k := diskMemClass(c); k >= 0 {
		if l := len(m.spare[k]); l > 0 {
			b := m.spare[k][l-1]
			m.spare[k][l-1] = nil
			m.spare[k] = m.spare[k][:l-1]
			m.spareBytes -= cap(b)
			return b[:n], false
		}
	}
	return make([]byte, n, c), true
}

// put spares b's array: nothing else may refer to it.
func (m *diskMem) put(b []byte) {
	if k := diskMemClass(cap(b)); k >= 0 && len(m.spare[k]) < diskMemKeep && m.spareBytes+cap(b) <= diskMemMax {
		m.spare[k] = append(m.spare[k], b[:0])
		m.spareBytes += cap(b)
	}
}

// resize returns b resized to n bytes, zero-filling any growth. A grown or
// shrunk copy does not release b: the caller knows whether it may.
func (m *diskMem) resize(b []byte, n int64) []byte {
	old := int64(len(b))
	if n <= old {
		b = b[:n]
		if cap(b) > 1<<16 && n < int64(cap(b)/4) {
			nb, _ := m.get(int(n)) // let a big array go
			copy(nb, b)
			return nb
		}
		return b
	}
	if n <= int64(cap(b)) {
		b = b[:n]
		clear(b[old:]) // stale bytes from an earlier shrink or user
		return b
	}
	// Grow geometrically so that appends are amortized O(1).
	c := int64(cap(b))
	if c < 1<<20 {
		c *= 2
	} else {
		c += c / 4
	}
	nb, fresh := m.get(int(max(n, c)))
	nb = nb[:n]
	copy(nb, b)
	if !fresh {
		clear(nb[old:])
	}
	return nb
}

// write writes p into b at off, growing b as needed.
func (m *diskMem) write(b []byte, off int64, p []byte) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = m.resize(b, end)
	}
	copy(b[off:], p)
	return b
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
	mem     *diskMem    // spare arrays, from diskMems and back there at release
	comps   [2][]string // path components (split)
	// tornPaths are the files the last Crash tore a write of (CrashTorn
	// kept some of its sectors and dropped others), sorted.
	tornPaths []string
}

// TornByCrash lists the files the last Crash tore a write of: some of the
// write's sectors reached the medium and others did not, so the file holds
// a mix of old and new bytes there (sorted; none outside CrashTorn).
func (d *SimDisk) TornByCrash() []string { return d.tornPaths }

var _ env.Disk = (*SimDisk)(nil)

// NewSimDisk returns an empty disk. hook may be nil.
func NewSimDisk(hook DiskHook) *SimDisk {
	d := &SimDisk{hook: hook, mem: getDiskMem()}
	d.root = d.newInode(true)
	return d
}

// Release ends the disk's life: every file's arrays become spare, for the
// next disk that takes its diskMem (a run's files are written again from
// empty by the next run: fresh arrays cost a quarter of a crash cycle's
// allocation). Nothing may use the disk, or any byte slice it returned
// (Snapshot's, DurableSnapshot's), afterwards. A spare array's content is
// whatever it held, which every taker overwrites or clears (diskMem.get).
func (d *SimDisk) Release() {
	d.eachInode(func(n *diskInode) {
		if n.isDir {
			return
		}
		if !n.shared && cap(n.dur) > 0 && !sameStart(n.dur, n.cur) {
			d.mem.put(n.dur)
		}
		if cap(n.cur) > 0 {
			d.mem.put(n.cur)
		}
		n.cur, n.dur, n.log, n.saved = nil, nil, nil, nil
	})
	diskMems.put(d.mem)
	d.mem, d.root, d.nslog = nil, nil, nil
}

// SetHook replaces the hook (nil: none).
func (d *SimDisk) SetHook(h DiskHook) { d.hook = h }

// Stats returns the operation counters.
func (d *SimDisk) Stats() DiskStats { return d.stats }

func (d *SimDisk) newInode(isDir bool) *diskInode {
	d.nextIno++
	n := &diskInode{ino: d.nextIno, isDir: isDir, mem: d.mem}
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

// diskAppendPath validates p and appends its components to comps; the root
// ("", ".") has none. Paths must be relative and must not contain "..".
func diskAppendPath(comps []string, p string) ([]string, error) {
	if strings.HasPrefix(p, "/") {
		return nil, fs.ErrInvalid
	}
	for rest := p; ; {
		c, after, more := strings.Cut(rest, "/")
		switch c {
		case "", ".":
		case "..":
			return nil, fs.ErrInvalid
		default:
			comps = append(comps, c)
		}
		if !more {
			return comps, nil
		}
		rest = after
	}
}

// split is diskAppendPath into one of the disk's scratch slices (i = 0 or
// 1), valid until the next split into it.
func (d *SimDisk) split(i int, p string) ([]string, error) {
	comps, err := diskAppendPath(d.comps[i][:0], p)
	if comps != nil {
		d.comps[i] = comps
	}
	return comps, err
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
	comps, err := d.split(0, path)
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
	return &simFile{d: d, node: node, path: path, pathH: hashString(path), gen: d.gen}, nil
}

// Remove removes a file or an empty directory.
func (d *SimDisk) Remove(path string) error {
	op := DiskOp{Kind: OpRemove, Path: path}
	if err := d.call(op); err != nil {
		return err
	}
	comps, err := d.split(0, path)
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
	oc, err := d.split(0, oldPath)
	if err != nil {
		return op.wrap(err)
	}
	nc, err := d.split(1, newPath)
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
	comps, err := d.split(0, dir)
	if err != nil {
		return nil, op.wrap(err)
	}
	n, err := d.walkDir(comps)
	if err != nil {
		return nil, op.wrap(err)
	}
	// Sized once: slices.Sorted(maps.Keys(...)) grows its slice a few
	// times, and the startup's sync of the data directory lists every
	// directory and tries every file.
	names := make([]string, 0, len(n.curEnt))
	for name := range n.curEnt {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

// MkdirAll creates dir and any missing parents. Each new directory's entry
// is durable only after SyncDir of its parent.
func (d *SimDisk) MkdirAll(dir string) error {
	op := DiskOp{Kind: OpMkdir, Path: dir}
	if err := d.call(op); err != nil {
		return err
	}
	comps, err := d.split(0, dir)
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
	comps, err := d.split(0, dir)
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
	// The path a file was first reached by, for TornByCrash: only under
	// CrashTorn, the one mode that tears.
	var paths map[*diskInode]string
	if mode == CrashTorn {
		paths = map[*diskInode]string{d.root: ""}
	}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		dir.curEnt = maps.Clone(dir.durEnt)
		for name, child := range dir.durEnt {
			if seen[child] {
				continue
			}
			seen[child] = true
			if paths != nil {
				paths[child] = strings.TrimPrefix(paths[dir]+"/"+name, "/")
			}
			if child.isDir {
				stack = append(stack, child)
			} else {
				files = append(files, child)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].ino < files[j].ino })
	d.tornPaths = nil
	for _, f := range files {
		if f.crash(rng, mode) && paths != nil {
			d.tornPaths = append(d.tornPaths, paths[f])
		}
	}
	sort.Strings(d.tornPaths)
}

// crash resolves the inode's unsynced log into its post-crash content. It
// reports whether it tore a write: kept some of its sectors, not all.
func (n *diskInode) crash(rng *Rand, mode CrashMode) (tore bool) {
	if len(n.log) == 0 {
		return false // cur already equals dur
	}
	// Replaying into dur never writes into cur's array: a shared dur is
	// capped at its length, and every logged operation lies at or past it
	// (prepare unshares otherwise), so the data still in cur stays intact
	// until the replay is done.
	if mode != CrashDropAll {
		durAt := func(b []byte) {
			if n.shared {
				n.dur = b // dur's first array is cur's
				if !sameStart(b, n.cur) {
					n.shared = false
				}
			} else {
				n.setDur(b)
			}
		}
		for i := range n.log {
			op := &n.log[i]
			switch {
			case op.trunc:
				if rng.Intn(2) == 0 {
					durAt(n.mem.resize(n.dur, op.size))
				}
			case mode == CrashRandomSubset:
				if rng.Intn(2) == 0 {
					durAt(n.mem.write(n.dur, op.off, op.bytes(n)))
				}
			default: // CrashTorn: each sector piece on its own
				off, data := op.off, op.bytes(n)
				kept, dropped := false, false
				for len(data) > 0 {
					k := min(int64(len(data)), (off/DiskSectorSize+1)*DiskSectorSize-off)
					if rng.Intn(2) == 0 {
						durAt(n.mem.write(n.dur, off, data[:k]))
						kept = true
					} else {
						dropped = true
					}
					off, data = off+k, data[k:]
				}
				tore = tore || kept && dropped
			}
		}
	}
	n.clearLog()
	n.log = nil
	n.resetCur()
	return tore
}

// sameStart reports whether a and b begin at the same byte of one array.
func sameStart(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:1][0] == &b[:1][0]
}

// resetCur makes the current content the durable content (after a crash or
// a failed fsync), keeping cur's array, and its room to grow, when it is
// large enough.
func (n *diskInode) resetCur() {
	switch {
	case n.shared:
		// dur is still the start of cur's array (the replay changed
		// only bytes of both).
		n.cur = n.cur[:len(n.dur)]
	case len(n.dur) <= cap(n.cur):
		n.cur = n.cur[:len(n.dur)]
		copy(n.cur, n.dur)
		if n.private {
			n.diverged = false
			return
		}
	default:
		n.mem.put(n.cur)
		n.cur, n.shared = n.dur, true
	}
	n.shareDur()
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

// simFile is an open file handle.
type simFile struct {
	d      *SimDisk
	node   *diskInode
	path   string
	pathH  uint64 // hashString(path), for the trace
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
	op := DiskOp{Kind: OpRead, Path: f.path, Off: off, Len: len(p), pathH: f.pathH}
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
	op := DiskOp{Kind: OpWrite, Path: f.path, Off: off, Len: len(p), Data: p, pathH: f.pathH}
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
	op := DiskOp{Kind: OpSync, Path: f.path, pathH: f.pathH}
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
	switch {
	case len(n.log) == 0:
	case !n.diverged && !(n.private && !n.shared):
		// cur is the log replayed onto dur: share it.
		n.clearLog()
		n.shareDur()
	default:
		n.unshare()
		n.replayLog()
		n.clearLog()
	}
	f.d.stats.Fsyncs++
	return nil
}

func (f *simFile) Truncate(size int64) error {
	op := DiskOp{Kind: OpTruncate, Path: f.path, Off: size, pathH: f.pathH}
	if err := f.begin(op); err != nil {
		return err
	}
	if size < 0 {
		return op.wrap(fs.ErrInvalid)
	}
	if size > diskMaxFileSize {
		return op.wrap(syscall.EFBIG)
	}
	f.node.truncate(size)
	return nil
}

// truncate sets the file's size in the page cache, zero-filling growth,
// and logs it as an unsynced truncate.
func (n *diskInode) truncate(size int64) {
	if size < int64(len(n.cur)) {
		n.prepare(size, int64(len(n.cur)))
	}
	n.setCur(n.mem.resize(n.cur, size))
	n.log = append(n.log, diskDataOp{trunc: true, size: size})
}

func (f *simFile) Size() (int64, error) {
	if err := f.begin(DiskOp{Kind: OpSize, Path: f.path, pathH: f.pathH}); err != nil {
		return 0, err
	}
	return int64(len(f.node.cur)), nil
}

// Close invalidates the handle. Closing twice returns ErrClosed.
func (f *simFile) Close() error {
	if err := f.begin(DiskOp{Kind: OpClose, Path: f.path, pathH: f.pathH}); err != nil {
		return err
	}
	f.closed = true
	return nil
}

// Quiescent reports whether nothing on the disk is unsynced: no namespace
// operation awaits a SyncDir and no file has a data operation awaiting a
// Sync, so a crash of any mode would leave the disk as it is.
func (d *SimDisk) Quiescent() bool {
	if len(d.nslog) > 0 {
		return false
	}
	quiet := true
	d.eachInode(func(n *diskInode) {
		if len(n.log) > 0 || n.diverged {
			quiet = false
		}
	})
	return quiet
}

// eachInode calls fn for every inode reachable from the root, in inode
// number order (directories first reached through their parents).
func (d *SimDisk) eachInode(fn func(n *diskInode)) {
	var all []*diskInode
	seen := map[*diskInode]bool{}
	stack := []*diskInode{d.root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		all = append(all, n)
		for _, child := range n.curEnt {
			stack = append(stack, child)
		}
		for _, child := range n.durEnt {
			stack = append(stack, child)
		}
	}
	slices.SortFunc(all, func(a, b *diskInode) int { return cmp.Compare(a.ino, b.ino) })
	for _, n := range all {
		fn(n)
	}
}

// CopyQuiescent makes d, an empty disk no handle was ever opened on, a copy
// of src, a quiescent disk (every file and entry durable): the same
// namespace, contents and inode numbers, so that crash-time draws, which
// go in inode number order, are those src would make. d keeps its hooks
// and its statistics; the copy shares no array with src, which may serve
// many copies.
func (d *SimDisk) CopyQuiescent(src *SimDisk) {
	if !src.Quiescent() {
		panic("simtest: CopyQuiescent from a disk with unsynced operations")
	}
	if d.gen != 0 || d.nextIno != 1 || len(d.root.curEnt) != 0 || len(d.root.durEnt) != 0 || len(d.nslog) != 0 {
		panic("simtest: CopyQuiescent onto a disk already in use")
	}
	copies := map[*diskInode]*diskInode{src.root: d.root}
	d.root.ino = src.root.ino
	src.eachInode(func(n *diskInode) {
		c := copies[n]
		if c == nil {
			c = &diskInode{ino: n.ino, isDir: n.isDir, mem: d.mem}
			copies[n] = c
		}
		if !n.isDir {
			c.cur, _ = d.mem.get(len(n.cur))
			copy(c.cur, n.cur)
			c.dur, c.shared = c.cur[:len(c.cur):len(c.cur)], true
			return
		}
		c.curEnt = make(map[string]*diskInode, len(n.curEnt))
		c.durEnt = make(map[string]*diskInode, len(n.durEnt))
		for _, ents := range [2]struct{ from, to map[string]*diskInode }{{n.curEnt, c.curEnt}, {n.durEnt, c.durEnt}} {
			for name, child := range ents.from {
				cc := copies[child]
				if cc == nil {
					cc = &diskInode{ino: child.ino, isDir: child.isDir, mem: d.mem}
					copies[child] = cc
				}
				ents.to[name] = cc
			}
		}
	})
	d.nextIno = src.nextIno
	if !d.Quiescent() {
		panic("simtest: CopyQuiescent made a disk with unsynced operations")
	}
}
