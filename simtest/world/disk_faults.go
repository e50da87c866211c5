package world

// Disk faults: what the simulated disk does when the fault hook tells it to
// misbehave on one operation. The fault plan (package fault) decides when;
// this file decides what each fault does to the bytes.
//
// # Fault model, and what the engine must do about each fault
//
//   - FaultSyncEIO: File.Sync returns EIO, and the file's unsynced data is
//     dropped and its pages marked clean: the current content reverts to the
//     durable content (the file keeps its size: lost bytes past the durable
//     end read as zeros), and a later Sync succeeds without writing the lost
//     data (Linux's behaviour behind the 2018 "fsyncgate"; a filesystem that
//     keeps the new data in the page cache until eviction is not modelled). The
//     engine must PANIC on any fsync failure (PostgreSQL's data_sync_retry =
//     off) and recover from WAL: survivable.
//   - FaultEIO on a read or write, FaultENOSPC on a write: the operation
//     fails and stores nothing. The engine must turn it into a clean error
//     (the transaction fails, nothing is acknowledged that is not durable)
//     or a PANIC (a WAL write): survivable.
//   - FaultTornWrite: the write reports success but only a random, strict,
//     non-empty subset of its 512-byte sectors reaches the file (a write that
//     covers one sector or less stores nothing). FaultLostWrite: the write
//     reports success and stores nothing. FaultMisdirectedWrite: the write
//     reports success but lands By bytes away (clamped at offset 0), leaving
//     its target untouched. All three are silent corruption of the medium:
//     the engine survives them where another copy exists (a full-page image
//     in WAL after the page's last checkpoint) and must otherwise DETECT them
//     — a checksum or CRC error, never a wrong row.
//   - FaultBitFlip: before a read, Bits random bits in the byte range it
//     covers are flipped in the medium itself (current, durable and any
//     unsynced copy of those bytes), so every later read sees them: latent
//     corruption. The engine must detect it (page checksum, WAL CRC) and
//     never return wrong data; it survives only where a good copy exists.
//
// Faults apply only to the operation they are returned for; the hook is
// consulted after the operation's own validation, and it must not yield
// (the simulator charges any latency before it).

import (
	"fmt"
	"syscall"
)

// DiskFaultKind selects what goes wrong with one disk operation.
type DiskFaultKind uint8

// The disk fault kinds; the comment at the top of this file describes them.
const (
	FaultNone DiskFaultKind = iota
	FaultSyncEIO
	FaultEIO
	FaultENOSPC
	FaultTornWrite
	FaultLostWrite
	FaultMisdirectedWrite
	FaultBitFlip
)

var diskFaultNames = [...]string{"none", "fsync-eio", "eio", "enospc", "torn-write", "lost-write", "misdirected-write", "bitflip"}

func (k DiskFaultKind) String() string {
	if int(k) < len(diskFaultNames) {
		return diskFaultNames[k]
	}
	return fmt.Sprintf("DiskFaultKind(%d)", uint8(k))
}

// DiskFault is the fault hook's verdict on one operation.
type DiskFault struct {
	Kind DiskFaultKind
	By   int64 // FaultMisdirectedWrite: displacement in bytes
	Bits int   // FaultBitFlip: bits to flip (at least 1)
}

// DiskFaultHook is consulted by reads, writes and fsyncs once they have
// passed the DiskHook and their handle checks. It must not yield.
type DiskFaultHook func(op DiskOp) DiskFault

// DiskFaultStats counts the faults the disk applied, by kind.
type DiskFaultStats [len(diskFaultNames)]uint64

// SetFaultHook installs the fault hook and the random source that decides
// which sectors a torn write keeps and which bits a flip hits (nil hook:
// none).
func (d *SimDisk) SetFaultHook(h DiskFaultHook, rng *Rand) {
	if h != nil && rng == nil {
		panic("simtest: SetFaultHook needs a Rand")
	}
	d.faultHook, d.faultRng = h, rng
}

// FaultStats returns how many faults of each kind the disk applied.
func (d *SimDisk) FaultStats() DiskFaultStats { return d.faultStats }

// fault asks the hook about op; FaultNone when there is no hook.
func (d *SimDisk) fault(op DiskOp) DiskFault {
	if d.faultHook == nil {
		return DiskFault{}
	}
	f := d.faultHook(op)
	if f.Kind >= DiskFaultKind(len(diskFaultNames)) {
		panic(fmt.Sprintf("simtest: fault hook returned unknown kind %d", f.Kind))
	}
	if f.Kind != FaultNone {
		d.faultStats[f.Kind]++
	}
	return f
}

// faultErr is the error a failing fault returns, or nil.
func (f DiskFault) err() error {
	switch f.Kind {
	case FaultEIO, FaultSyncEIO:
		return syscall.EIO
	case FaultENOSPC:
		return syscall.ENOSPC
	}
	return nil
}

// dropUnsynced is FaultSyncEIO's effect: unsynced data is gone and the
// pages are clean, but the file keeps its size. A writeback error on ext4
// or XFS loses data pages, never the inode's in-memory size (i_size), so
// lseek(SEEK_END) still counts the lost blocks, which read back as their
// durable content or, past the durable end, as zeros (the pages were
// evicted, or the blocks never allocated). Reverting the size too would
// let a process that runs between the failed fsync and the crash-restart
// extend the relation over blocks that still hold committed rows in WAL
// (smgrnblocks answering a stale, shorter length): its new page's
// XLOG_HEAP_INIT_PAGE record is replayed after theirs and wipes them. The
// size itself is metadata not yet made durable: it is logged as an
// unsynced truncate, which a later fsync makes durable and a crash may
// drop.
func (n *diskInode) dropUnsynced() {
	size := int64(len(n.cur))
	n.clearLog()
	n.resetCur()
	if size != int64(len(n.cur)) {
		n.truncate(size)
	}
}

// faultyWrite applies a silently failing write (torn, lost, misdirected)
// and returns what the caller is told: success.
func (f *simFile) faultyWrite(flt DiskFault, p []byte, off int64) {
	switch flt.Kind {
	case FaultLostWrite:
	case FaultMisdirectedWrite:
		to := max(off+flt.By, 0)
		if to+int64(len(p)) <= diskMaxFileSize {
			f.store(p, to)
		}
	case FaultTornWrite:
		// Split at absolute sector boundaries; keep a strict, non-empty
		// subset (when there are at least two pieces).
		type piece struct{ off, end int64 }
		var pieces []piece
		for o := off; o < off+int64(len(p)); {
			e := min(off+int64(len(p)), (o/DiskSectorSize+1)*DiskSectorSize)
			pieces = append(pieces, piece{o, e})
			o = e
		}
		if len(pieces) < 2 {
			return
		}
		keep := make([]bool, len(pieces))
		kept := 0
		for i := range pieces {
			keep[i] = f.d.faultRng.Intn(2) == 0
			if keep[i] {
				kept++
			}
		}
		switch kept {
		case 0:
			keep[f.d.faultRng.Intn(len(pieces))] = true
		case len(pieces):
			keep[f.d.faultRng.Intn(len(pieces))] = false
		}
		for i, pc := range pieces {
			if keep[i] {
				f.store(p[pc.off-off:pc.end-off], pc.off)
			}
		}
	default:
		panic(fmt.Sprintf("simtest: %v is not a silent write fault", flt.Kind))
	}
}

// store is the page-cache write shared by WriteAt and the write faults.
func (f *simFile) store(p []byte, off int64) {
	n := f.node
	end := off + int64(len(p))
	n.prepare(off, end)
	n.setCur(n.mem.write(n.cur, off, p))
	// The data stays in cur until something changes it (prepare).
	n.log = append(n.log, diskDataOp{off: off, n: int64(len(p))})
	if n.liveLo == n.liveHi {
		n.liveLo, n.liveHi = off, end
	} else {
		n.liveLo, n.liveHi = min(n.liveLo, off), max(n.liveHi, end)
	}
	n.logBytes += int64(len(p))
}

// flipBits corrupts the medium under [off, off+length): the same bits in
// the current content, the durable content and every unsynced write that
// covers them, so that no crash or later read brings the good bytes back.
func (f *simFile) flipBits(off int64, length, bits int) {
	n := f.node
	end := min(off+int64(length), int64(len(n.cur)))
	if off < 0 || off >= end {
		return
	}
	// A log write whose data is still in cur is flipped with cur.
	n.unshare()
	n.diverged = true
	for range max(bits, 1) {
		at := off + int64(f.d.faultRng.Intn(int(end-off)))
		mask := byte(1) << f.d.faultRng.Intn(8)
		n.cur[at] ^= mask
		if at < int64(len(n.dur)) {
			n.dur[at] ^= mask
		}
		for i := range n.log {
			op := &n.log[i]
			if op.trunc || op.live() || at < op.off || at >= op.off+op.n {
				continue
			}
			if op.zero {
				op.data, op.zero = make([]byte, op.n), false
			}
			op.data[at-op.off] ^= mask
		}
	}
}

// SetNonAtomicRename makes later crashes treat each unsynced rename as
// three separate metadata operations, as ALICE (Pillai et al., OSDI 2014)
// models a rename that a filesystem does not make atomic: unlink the
// destination, link the new name, unlink the old name. A crash between them
// leaves the destination missing, or both names present. Engines must not
// rely on rename atomicity without syncing the directory (PostgreSQL's
// durable_rename fsyncs the file, renames, then fsyncs the directory).
func (d *SimDisk) SetNonAtomicRename(on bool) { d.nonAtomicRename = on }

// splitRenames expands every rename in log into its three steps.
func splitRenames(log []diskNsOp) []diskNsOp {
	out := make([]diskNsOp, 0, len(log))
	for _, op := range log {
		if op.kind != OpRename || len(op.edits) != 2 {
			out = append(out, op)
			continue
		}
		unlinkOld, linkNew := op.edits[0], op.edits[1]
		out = append(out,
			diskNsOp{kind: OpRename, edits: []diskEdit{{dir: linkNew.dir, name: linkNew.name}}},
			diskNsOp{kind: OpRename, edits: []diskEdit{linkNew}},
			diskNsOp{kind: OpRename, edits: []diskEdit{unlinkOld}})
	}
	return out
}

// DurableAt returns the durable bytes [off, off+n) of the file currently
// named path (fewer at the durable end of file; nil if there is no such
// file), for checkers that ask what a crash would leave of a page.
func (d *SimDisk) DurableAt(path string, off int64, n int) []byte {
	comps, err := d.split(0, path)
	if err != nil || len(comps) == 0 {
		return nil
	}
	_, _, node, err := d.lookup(comps)
	if err != nil || node == nil || node.isDir || off < 0 || off >= int64(len(node.dur)) {
		return nil
	}
	return node.dur[off:min(off+int64(n), int64(len(node.dur)))]
}

// Contents returns what a read of the file currently named path returns
// (the page cache) and what is durable of it, without copying: a checker
// reads them and must neither keep nor change them. ok is false if there
// is no such file. It splits the path into its own slice, as the disk's
// scratch slices may be in use by the operation a checker is watching.
func (d *SimDisk) Contents(path string) (cur, dur []byte, ok bool) {
	comps, err := diskAppendPath(nil, path)
	if err != nil {
		return nil, nil, false
	}
	_, _, node, err := d.lookup(comps)
	if err != nil || node == nil || node.isDir {
		return nil, nil, false
	}
	return node.cur, node.dur, true
}
