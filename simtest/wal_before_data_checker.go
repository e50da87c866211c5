package simtest

import (
	"bytes"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// walBeforeDataChecker judges every data-page write as it starts: the WAL
// that describes the page (up to its pd_lsn) must already be durable
// (FlushBuffer's XLogFlush; src/backend/access/transam/README, "Write-Ahead
// Log Coding"), whichever process writes it, whenever: a backend evicting
// a buffer, the background writer during redo, the checkpointer in the
// end-of-recovery checkpoint. It never asks the code path that is supposed
// to have flushed the WAL, so a violation is caught the moment it
// happens, crash or no crash:
//
//   - once the WAL is open for writing (the end of redo on), it reads the
//     WAL's flushed pointer from the running instance;
//   - while redo runs (and in initdb, before any instance), the WAL is not
//     written through an instance and nothing flushes it: the
//     pages redo dirtied carry LSNs of records read from pg_wal, which are
//     safe to write only because that WAL is already on the medium
//     (SyncDataDirectory fsynced it, or a power loss left it there). So it
//     asks the disk whether the WAL bytes below the page's LSN are durable.
//     A page redo read but did not change may carry an LSN below the REDO
//     pointer of the durable control file, whose segment a checkpoint may
//     have removed: that WAL was durable before the checkpoint's record
//     was (the checkpoint checker judges that), so it passes.
type walBeforeDataChecker struct {
	res      *Result
	disk     *world.SimDisk
	sim      *world.Sim // for the writing process's name
	wal      wal.Config
	instance func() *db.DB
	// classOf is what the engine registered the file as (world.Node.FileClass):
	// data pages live in heap and index files, whatever their paths.
	classOf func(path string) env.FileClass
	// node, on a standby's checker, names the standby (standby.go); ""
	// on the primary's.
	node string
}

// countMinRecoveryPoints counts the standbys' control file writes
// naming a minRecoveryPoint that minRecoveryPoint judged.
const countMinRecoveryPoints = CheckWALBeforeData + ": standby minRecoveryPoint updates"

func (c *walBeforeDataChecker) diskOp(op world.DiskOp) {
	if op.Kind == world.OpWrite && op.Path == db.ControlPath && c.node != "" {
		c.minRecoveryPoint(op)
		return
	}
	if op.Kind != world.OpWrite || len(op.Data)%page.BlockSize != 0 {
		return
	}
	blocks := uint64(len(op.Data) / page.BlockSize)
	switch c.classOf(op.Path) {
	case env.FileHeap, env.FileIndex:
	case env.FileOther:
		// Whole pages written to a file the engine never classified:
		// a relation the storage manager did not register would escape
		// the check, so it is counted as skipped, and skipped must be 0.
		c.res.Online.skipped(countPageWrites, "file of no registered class: "+op.Path, blocks)
		return
	default:
		return
	}
	d := c.instance()
	c.res.Online.judged(countPageWrites, blocks)
	if d == nil {
		c.res.Online.judged(countPageWritesNoInstance, blocks)
	} else if d.WAL == nil {
		who := "?"
		if c.sim != nil {
			if p := c.sim.Self(); p != nil {
				who = p.Name()
			}
		}
		c.res.Online.judged(countPageWritesRedo+" by "+who, blocks)
	}
	for off := 0; off < len(op.Data); off += page.BlockSize {
		lsn := page.LSN(op.Data[off : off+page.BlockSize])
		if lsn == 0 {
			continue // a new page no record has changed yet
		}
		if d != nil && d.WAL != nil {
			w := d.WAL
			if flushed := w.Flushed(); lsn > flushed {
				c.res.found(Finding{Checker: CheckWALBeforeData, Path: op.Path, FileBlock: uint32((op.Off + int64(off)) / page.BlockSize), PageLSN: uint64(lsn), WALDurable: uint64(flushed)})
				c.res.fail(CheckWALBeforeData, "%s block %d written with pd_lsn %s but WAL is durable only to %s",
					op.Path, (op.Off+int64(off))/page.BlockSize, lsn, flushed)
			}
			continue
		}
		if !c.walDurableBefore(c.wal, lsn) {
			c.res.found(Finding{Checker: CheckWALBeforeData, Path: op.Path, FileBlock: uint32((op.Off + int64(off)) / page.BlockSize), PageLSN: uint64(lsn), NoInstance: true, Node: c.node})
			where := ""
			if c.node != "" {
				where = "on standby " + c.node + ": "
			}
			c.res.fail(CheckWALBeforeData, "%s%s block %d written with pd_lsn %s while no WAL is open for writing (redo, initdb), but the WAL below it is not durable on disk",
				where, op.Path, (op.Off+int64(off))/page.BlockSize, lsn)
		}
	}
}

// walDurableBefore reports whether the WAL bytes below lsn are durable:
// the segment holding the byte before lsn exists and its content up to
// that byte is durable and is what a read returns. (Earlier segments were
// fsynced before it was created, at each segment switch.)
func (c *walBeforeDataChecker) walDurableBefore(cfg wal.Config, lsn wal.LSN) bool {
	if _, ctl, ok := c.disk.Contents(db.ControlPath); ok {
		if redo, err := db.ControlRedo(ctl); err == nil && lsn <= redo {
			return true
		}
	}
	size := uint64(cfg.SegmentSize)
	seg, n := uint64(lsn-1)/size, int64(uint64(lsn-1)%size)+1
	cur, dur, ok := c.segmentContents(cfg, seg)
	if !ok || int64(len(dur)) < n || int64(len(cur)) < n {
		return false
	}
	return bytes.Equal(cur[:n], dur[:n])
}

// segmentContents is the current and durable content of segment seg:
// timeline 1's file, or, on a node that has switched timelines (a
// promoted standby: timeline 2's history file exists), the file of the
// newest timeline that holds the segment (XLogFileReadAnyTLI's choice;
// engine/wal/restore.go).
func (c *walBeforeDataChecker) segmentContents(cfg wal.Config, seg uint64) (cur, dur []byte, ok bool) {
	if _, _, switched := c.disk.Contents(db.HistoryPath(2)); !switched {
		return c.disk.Contents(wal.SegmentPath(cfg, seg))
	}
	best := uint32(0)
	for _, n := range c.disk.DurableNames(wal.Dir) {
		if tli, s, isSeg := wal.ParseSegmentNameTLI(cfg, n); isSeg && s == seg && tli > best {
			best = tli
		}
	}
	if best == 0 {
		return nil, nil, false
	}
	return c.disk.Contents(wal.SegmentPathTLI(cfg, best, seg))
}

// minRecoveryPoint judges a standby's control file write: the
// minRecoveryPoint it names must be WAL the standby holds durably. The
// startup process replays only what the WAL receiver has flushed
// (XLogPageRead's flushedUpto) or what pg_wal held when it started
// (fsynced by SyncDataDirectory), and UpdateMinRecoveryPoint moves
// minRecoveryPoint only to the end of what it replayed, so a
// minRecoveryPoint past the durable WAL means a page whose WAL a power
// loss of the standby can take back was, or is about to be, written.
func (c *walBeforeDataChecker) minRecoveryPoint(op world.DiskOp) {
	if op.Off != 0 {
		return
	}
	mrp, err := db.ControlMinRecoveryPoint(op.Data)
	if err != nil || mrp == wal.InvalidLSN {
		return
	}
	c.res.Online.judged(countMinRecoveryPoints, 1)
	if c.walDurableBefore(c.wal, mrp) {
		return
	}
	c.res.found(Finding{Checker: CheckWALBeforeData, Path: op.Path, PageLSN: uint64(mrp), NoInstance: true, Node: c.node, MinRecoveryPoint: true})
	c.res.fail(CheckWALBeforeData, "on standby %s: the control file's minRecoveryPoint moved to %s, but the standby's WAL below it is not durable on disk: its startup process replayed WAL its receiver had not flushed (XLogPageRead's flushedUpto)", c.node, mrp)
}
