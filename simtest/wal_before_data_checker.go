package simtest

import (
	"strings"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
)

// walBeforeDataChecker judges every data-page write as it starts: the WAL
// that describes the page (up to its pd_lsn) must already be durable
// (FlushBuffer's XLogFlush; src/backend/access/transam/README, "Write-Ahead
// Log Coding"). It reads the WAL's flushed pointer from the running
// instance, not from the code path that is supposed to have flushed it, so
// a violation is caught the moment it happens, crash or no crash.
type walBeforeDataChecker struct {
	res      *Result
	disk     *SimDisk
	instance func() *db.DB
}

func (c *walBeforeDataChecker) diskOp(op DiskOp) {
	if op.Kind != OpWrite || !strings.HasPrefix(op.Path, smgr.BaseDir+"/") || len(op.Data)%page.BlockSize != 0 {
		return
	}
	blocks := uint64(len(op.Data) / page.BlockSize)
	d := c.instance()
	if d == nil {
		c.res.Online.skipped(countPageWrites, "no running instance (recovering)", blocks)
		return
	}
	c.res.Online.judged(countPageWrites, blocks)
	flushed := d.WAL.Flushed()
	for off := 0; off < len(op.Data); off += page.BlockSize {
		if lsn := page.LSN(op.Data[off : off+page.BlockSize]); lsn > flushed {
			c.res.fail(CheckWALBeforeData, "%s block %d written with pd_lsn %s but WAL is durable only to %s",
				op.Path, (op.Off+int64(off))/page.BlockSize, lsn, flushed)
		}
	}
}
