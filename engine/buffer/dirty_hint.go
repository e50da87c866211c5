package buffer

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/wal"
)

// HintNeedsDirtying is MarkBufferDirtyHint's first test: a hint changes
// nothing about the buffer's state when it is dirty and no write of it is
// in progress (BM_DIRTY and BM_JUST_DIRTIED both set), so the caller need
// neither log a full-page image nor dirty it again. The caller holds a pin
// and the content lock (shared suffices).
func (p *Pool) HintNeedsDirtying(b Buffer) bool {
	d := p.desc(b)
	p.assertPinned(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	return !(d.dirty && d.justDirtied)
}

// MarkBufferDirtyHint marks a buffer dirty after a hint-only change
// (MarkBufferDirtyHint), under a shared content lock: no WAL describes a
// hint, so the page LSN stays as it is, unless the caller logged a
// full-page image for it (XLogSaveBufferForHint, whose end is fpiLSN) and
// the buffer was clean, in which case the page now carries that image's
// LSN so that its next write flushes the image first. A dirty buffer keeps
// its LSN: its last WAL-logged change, or the image it was dirtied with,
// already precedes any write. BM_JUST_DIRTIED is set as MarkBufferDirty
// sets it, so that a write in progress, which copied the page before the
// hint, leaves the buffer dirty (TerminateBufferIO) and the hint reaches
// disk with a later write.
func (p *Pool) MarkBufferDirtyHint(b Buffer, fpiLSN wal.LSN) {
	d := p.desc(b)
	p.assertPinned(d)
	if !d.content.HeldByMe() {
		panic(fmt.Sprintf("buffer: MarkBufferDirtyHint of buffer %d without its content lock", b))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !d.valid {
		panic(fmt.Sprintf("buffer: MarkBufferDirtyHint of invalid buffer %d", b))
	}
	if !d.dirty {
		if fpiLSN != wal.InvalidLSN {
			PageSetLSN(p.page(d.id), fpiLSN)
		}
		d.hintOnly = true
	}
	if d.ioInProgress {
		p.e.Sometimes("hint-during-write")
	}
	d.dirty = true
	d.justDirtied = true
}

// HintedWithoutDirtying records that hint bits changed a buffer's page
// without dirtying it, as PostgreSQL allows where no WAL may be written
// (MarkBufferDirtyHint's early return during recovery) and as pgdst does
// when hints do not dirty pages: the page may then differ from its block
// on disk while the buffer is clean, so the coherence check
// (coherence.go) must not judge it until the next read or write.
func (p *Pool) HintedWithoutDirtying(b Buffer) {
	d := p.desc(b)
	p.assertPinned(d)
	p.mu.Lock()
	d.cleanKnown, d.hintedClean = false, true
	p.mu.Unlock()
}
