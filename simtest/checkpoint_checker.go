package simtest

import (
	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// checkpointChecker judges a checkpoint at the moment its control file
// update makes it the place recovery starts: every buffer whose last
// WAL-logged change (pd_lsn) precedes the REDO pointer must be on disk,
// durably, with that same pd_lsn — recovery from REDO will never replay
// those changes again (CreateCheckPoint's guarantee, via CheckPointGuts:
// BufferSync then ProcessSyncRequests). Later changes are covered by the
// full-page image their first record carries, so only LSNs are compared.
type checkpointChecker struct {
	res       *Result
	disk      *world.SimDisk
	segBlocks uint32
	instance  func() *db.DB
}

func (c *checkpointChecker) controlUpdated() {
	c.res.Online.judged(countControlUpdates, 1)
	d := c.instance()
	if d == nil {
		return // no shared memory, no buffer to be behind the disk (initdb)
	}
	redo := d.RedoPtr()
	d.Pool.InspectValid(func(tag buffer.Tag, lsn wal.LSN, dirty bool) {
		if lsn == 0 || lsn >= redo {
			return
		}
		path := smgr.SegPath(tag.Rel, tag.Fork, uint32(tag.Block)/c.segBlocks)
		off := int64(uint32(tag.Block)%c.segBlocks) * page.BlockSize
		onDisk := c.disk.DurableAt(path, off, page.BlockSize)
		var durable wal.LSN
		if len(onDisk) == page.BlockSize {
			durable = page.LSN(onDisk)
		}
		if durable != lsn {
			c.res.found(Finding{Checker: CheckCheckpoint, Path: path, FileBlock: uint32(tag.Block) % c.segBlocks, HasRel: true, Rel: uint32(tag.Rel), Block: uint32(tag.Block),
				PageLSN: uint64(lsn), DiskLSN: uint64(durable), Redo: uint64(redo), Dirty: dirty})
			c.res.fail(CheckCheckpoint, "checkpoint with REDO %s completed, but %s (dirty=%v) has pd_lsn %s in memory and %s durably on disk",
				redo, tag, dirty, lsn, durable)
		}
	})
}
