package explain

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// overwrittenInBuffers finds why valid WAL ended at stop when the WAL
// page holding stop was overwritten in the WAL buffers before it was
// written (planted bug wal-buffer-reuse-unwritten): the first flush past
// stop before t, and an insertion before it, in its server lifetime, into
// a page nbuf (wal_buffers) or more pages past stop's, which the ring
// could hold only after stop's page was written out; and no insertion of
// that lifetime wrote a full buffer out before it
// (PointBuffersFullWrite).
func (m *model) overwrittenInBuffers(stop uint64, t time.Duration, nbuf int) (over, flush *env.Event) {
	if nbuf <= 0 {
		return nil, nil
	}
	page := stop &^ (wal.PageSize - 1)
	reuse := page + uint64(nbuf)*wal.PageSize
	f := m.firstAfter(0, true, func(e *env.Event) bool {
		return e.Kind == env.EvWALFlush && e.LSN > stop && e.Time <= t
	})
	if f == nil {
		return nil, nil
	}
	start := m.lifetimeStart(f.Time)
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time >= f.Time {
			break
		}
		if e.Time < start {
			continue
		}
		if e.Kind == env.EvInject && e.Name == wal.PointBuffersFullWrite {
			return nil, nil
		}
		if e.Kind == env.EvWALInsert && e.LSN2 > reuse {
			return e, f
		}
	}
	return nil, nil
}

// overwrittenPageCause names a page overwritten in the WAL buffers, found
// by overwrittenInBuffers, as the cause of what happened (what), and
// reports whether it found one.
func (a *account) overwrittenPageCause(stop uint64, t time.Duration, what string) bool {
	over, fl := a.m.overwrittenInBuffers(stop, t, a.res.WALBuffers)
	if over == nil {
		return false
	}
	a.markStep(over, "insert", fmt.Sprintf("a record inserted at %s, %d WAL buffers past the unwritten page at %s", lsn(over.LSN), a.res.WALBuffers, lsn(stop&^(wal.PageSize-1))))
	a.say("Before any write covered the WAL page holding %s, %s inserted a record at %s..%s at %s: with wal_buffers = %d pages, the ring slot of that page had to be reused for a newer page by then, and the first flush past it (to %s by %s at %s) wrote the newer page's bytes in its place.",
		lsn(stop), a.m.who(over.Pid), lsn(over.LSN), lsn(over.LSN2), ms(over.Time), a.res.WALBuffers, lsn(fl.LSN), a.m.who(fl.Pid), ms(fl.Time))
	a.cause("a WAL buffer page was reused for a newer page before the page it held was written out, and "+what,
		"AdvanceXLInsertBuffer must write the WAL out up to the end of the page a buffer holds (WaitXLogInsertionsToFinish, then XLogWrite under WALWriteLock) before it initializes a new page there")
	return true
}
