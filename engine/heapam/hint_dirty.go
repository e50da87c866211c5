package heapam

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// markDirtyHint is MarkBufferDirtyHint for a heap buffer whose page just
// had hint bits set, under the caller's content lock (shared is enough).
// With data checksums XLogHintBitIsNeeded is true: a hint that is the
// page's first change since the checkpoint's REDO pointer logs a
// full-page image first (XLogSaveBufferForHint), because the hint-only
// write that follows could be torn, failing the checksum, and no other
// record after REDO would restore the page. Later hints only dirty the
// buffer. Without data checksums (and pgdst has no wal_log_hints)
// XLogHintBitIsNeeded is false and a hint only dirties the buffer, page
// LSN untouched: a torn hint-only write mixes sectors that differ in hint
// bits alone, which no check can notice and nothing needs to repair.
//
// PostgreSQL keeps a checkpoint from starting between the image's
// insertion and the marking (DELAY_CHKPT_START): otherwise a checkpoint
// could take its REDO after the image, skip the still-clean buffer, and
// leave a later torn write with no image after REDO. Here both the
// decision (the page LSN against the REDO pointer) and the marking happen
// under the WAL insert lock, under which the checkpointer takes REDO, which
// closes the same window.
func (r *Relation) markDirtyHint(buf buffer.Buffer, p []byte) {
	pool := r.cfg.Pool
	if !r.cfg.HintBitsDirty {
		pool.HintedWithoutDirtying(buf)
		return
	}
	if !pool.HintNeedsDirtying(buf) {
		return // dirty, and no write in progress: nothing to do
	}
	if !xlogHintBitIsNeeded(pool) {
		// The page's first change since the REDO pointer, which with
		// data checksums would log an image. NeedsFPI is asked outside
		// the insert lock: only the sometimes condition rides on it.
		if r.e.Collecting() && r.cfg.NeedsFPI(pageLSN(p)) {
			r.e.Sometimes("hint-first-change-unlogged")
		}
		pool.MarkBufferDirtyHint(buf, wal.InvalidLSN)
		return
	}
	needImage := false
	r.cfg.WAL.WithInsertLock(func(wal.LSN) {
		needImage = r.cfg.NeedsFPI(pageLSN(p))
		if !needImage {
			pool.MarkBufferDirtyHint(buf, wal.InvalidLSN)
		}
	})
	if !needImage {
		return
	}
	blk := pool.BufferGetBlockNumber(buf)
	r.cfg.WAL.InsertWith(func() *wal.Record {
		ref := wal.BlockRef{ID: 0, Rel: uint32(r.cfg.Rel), Fork: uint8(smgr.MainForkNum), Block: uint32(blk)}
		ref.Image, ref.HoleOffset, ref.HoleLength = fullPageImage(p)
		body := wal.Body{Blocks: []wal.BlockRef{ref}}
		return &wal.Record{Rmid: RMHeap2, Info: XLogHeap2FPIForHint, Payload: body.Encode(nil)}
	}, func(_, end wal.LSN) {
		pool.MarkBufferDirtyHint(buf, end)
	})
	r.count(func(s *Stats) { s.FPIs++ })
	r.e.Sometimes("hint-fpi-logged")
}

// xlogHintBitIsNeeded is XLogHintBitIsNeeded(): DataChecksumsEnabled() ||
// wal_log_hints. pgdst has no wal_log_hints, so it is the cluster's data
// checksums, which the buffer pool writes.
func xlogHintBitIsNeeded(pool *buffer.Pool) bool { return pool.DataChecksums() }

// redoFPIForHint replays XLogHeap2FPIForHint (xlog_redo's
// XLOG_FPI_FOR_HINT): the image is restored, unless the block is gone.
func redoFPIForHint(body *wal.Body, end wal.LSN, pool *buffer.Pool, sm *smgr.SMgr) error {
	if len(body.Blocks) != 1 || body.Blocks[0].Image == nil {
		return fmt.Errorf("%w: hint image record without exactly one image", ErrBadRecord)
	}
	rb, err := readBufferForRedo(&body.Blocks[0], end, pool, sm)
	if err != nil {
		return err
	}
	rb.finish(pool, end)
	return nil
}

// deferredHint records that SetHintBits left a commit hint unset because
// the asynchronous commit's record may still be lost.
func deferredHint(h HintTarget) {
	if s, ok := h.(interface{ Sometimes(string) }); ok {
		s.Sometimes("hint-deferred-async-commit")
	}
}
