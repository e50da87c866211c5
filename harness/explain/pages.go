package explain

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// pageName is "block 3 of base/16385".
func pageName(f *simtest.Finding) string {
	return fmt.Sprintf("block %d of %s", f.FileBlock, f.Path)
}

// change says which WAL record set a page's LSN, and when.
func (a *account) change(pageLSN uint64, before time.Duration) *env.Event {
	rec := a.m.recordEnding(pageLSN, before)
	if rec == nil {
		a.say("No WAL record ending at %s is in the events (it predates the run's initdb image).", lsn(pageLSN))
		return nil
	}
	xid := ""
	if rec.Xid != 0 {
		xid = fmt.Sprintf(" for xid %d", rec.Xid)
	}
	earlier := ""
	if rec.Time < a.m.lifetimeStart(before) {
		earlier = ", in an earlier server lifetime (redo replayed it since)"
	}
	a.say("That LSN is the end of the WAL record %s inserted at %s%s (%s..%s)%s.", a.m.who(rec.Pid), ms(rec.Time), xid, lsn(rec.LSN), lsn(rec.LSN2), earlier)
	a.mark(rec, "WAL record ending at "+lsn(pageLSN))
	return rec
}

// walBeforeData: a data page reached the disk before the WAL up to its LSN.
func (a *account) walBeforeData(f *simtest.Finding) {
	if f.Node != "" {
		a.standbyWALBeforeData(f)
		return
	}
	m := a.m
	w := m.firstAfter(0, true, func(e *env.Event) bool {
		return e.Kind == env.EvBufferWrite && e.LSN == f.PageLSN && e.Block == f.FileBlock
	})
	if w == nil {
		w = m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvBufferWrite && e.LSN == f.PageLSN })
	}
	if w == nil {
		a.say("%s was written with pd_lsn %s, but no buffer write of it is in the events.", upperFirst(pageName(f)), lsn(f.PageLSN))
		return
	}
	a.mark(w, fmt.Sprintf("page written, pd_lsn %s", lsn(f.PageLSN)))
	if f.NoInstance {
		a.say("%s wrote %s at %s with pd_lsn %s while no WAL was open for writing (during redo or initdb), and the WAL below that LSN was not durable on disk.",
			upperFirst(m.who(w.Pid)), pageName(f), ms(w.Time), lsn(f.PageLSN))
	} else {
		_, fl := m.flushedAt(w.Time)
		if fl != nil {
			a.markStep(fl, "flush-before-write", fmt.Sprintf("WAL flushed to %s, the last flush before the page write", lsn(fl.LSN)))
		}
		a.say("%s wrote %s at %s with pd_lsn %s, while WAL was durable only to %s (flushed%s).",
			upperFirst(m.who(w.Pid)), pageName(f), ms(w.Time), lsn(f.PageLSN), lsn(f.WALDurable), flushedBy(m, fl))
	}
	a.change(f.PageLSN, w.Time)
	crash := m.crashAfter(w.Time)
	end := time.Duration(1<<63 - 1)
	if crash != nil {
		end = crash.Time
	}
	reached := m.firstAfter(w.Time, true, func(e *env.Event) bool {
		return e.Kind == env.EvWALFlush && e.LSN >= f.PageLSN && e.Time <= end
	})
	switch {
	case reached != nil:
		a.markStep(reached, "flush", fmt.Sprintf("WAL flushed to %s, past the page's LSN, after the write", lsn(reached.LSN)))
		a.say("WAL reached %s only at %s (flushed by %s): a crash in between would have left on disk a change whose WAL record was lost.", lsn(f.PageLSN), ms(reached.Time), m.who(reached.Pid))
	case crash != nil:
		a.mark(crash, "crash")
		a.say("No flush reached %s before the crash at %s (%s): the disk may keep a change whose WAL record is lost.", lsn(f.PageLSN), ms(crash.Time), crash.Name)
	}
	a.cause("the page was written before the WAL up to its LSN was flushed",
		"FlushBuffer calls XLogFlush(pd_lsn) before it writes a dirty page, the write-ahead rule; otherwise a crash leaves on disk a change that recovery cannot undo or complete")
}

// checkpoint: a checkpoint's control file update made recovery start at a
// REDO pointer past a change that was not on disk.
func (a *account) checkpoint(f *simtest.Finding) {
	m := a.m
	ctl := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvControlUpdate && e.LSN2 == f.Redo })
	if ctl == nil {
		a.say("A checkpoint named REDO %s, but its control file update is not in the events.", lsn(f.Redo))
		return
	}
	cpPid := ctl.Pid
	begin := m.lastBefore(ctl.Time, func(e *env.Event) bool { return e.Kind == env.EvCheckpointBegin && e.Pid == cpPid })
	var from time.Duration
	endOfRecovery := false
	if begin != nil {
		from = begin.Time
		endOfRecovery = begin.A&int64(db.CheckpointEndOfRecovery) != 0
	}
	redo := m.firstAfter(from, true, func(e *env.Event) bool { return e.Kind == env.EvCheckpointRedo && e.Pid == cpPid && e.LSN == f.Redo })
	kind := "A checkpoint"
	if endOfRecovery {
		kind = "The end-of-recovery checkpoint"
	}
	a.mark(ctl, "control file: REDO "+lsn(f.Redo))
	redoAt := ""
	if redo != nil {
		redoAt = fmt.Sprintf(" took its REDO pointer %s at %s and", lsn(f.Redo), ms(redo.Time))
		a.mark(redo, "REDO "+lsn(f.Redo))
	}
	a.say("%s by %s (begun at %s)%s had the control file name it at %s, so a crash from then on starts redo at %s.",
		kind, m.who(cpPid), ms(from), redoAt, ms(ctl.Time), lsn(f.Redo))
	dirty := "clean"
	if f.Dirty {
		dirty = "dirty"
	}
	disk := "no copy of it on disk"
	if f.DiskLSN != 0 {
		disk = "only the older version " + lsn(f.DiskLSN) + " durably on disk"
	}
	a.say("But %s had pd_lsn %s in memory (%s), below REDO, and %s: redo would never replay that change, and no disk held it.",
		pageName(f), lsn(f.PageLSN), dirty, disk)
	rec := a.change(f.PageLSN, ctl.Time)

	// Who wrote the page, and when, around the checkpoint.
	samePage := func(e *env.Event) bool {
		return e.Kind == env.EvBufferWrite && f.HasRel && e.Rel == f.Rel && e.Block == f.Block
	}
	var inCkpt []*env.Event
	m.each(from, ctl.Time, samePage, func(e *env.Event) { inCkpt = append(inCkpt, e) })
	later := m.firstAfter(ctl.Time, false, func(e *env.Event) bool { return samePage(e) && e.LSN == f.PageLSN })
	for _, w := range inCkpt {
		a.say("%s wrote the page at %s with pd_lsn %s.", upperFirst(m.who(w.Pid)), ms(w.Time), lsn(w.LSN))
	}
	if later != nil {
		a.say("It reached the kernel with pd_lsn %s only at %s, written by %s, after the control file update.", lsn(later.LSN), ms(later.Time), m.who(later.Pid))
		a.mark(later, "page written after the checkpoint")
	}
	ckptWrites := 0
	var firstCkptWrite *env.Event
	m.each(from, ctl.Time, func(e *env.Event) bool { return e.Kind == env.EvBufferWrite && e.Pid == cpPid }, func(e *env.Event) {
		ckptWrites++
		if firstCkptWrite == nil {
			firstCkptWrite = e
		}
	})
	a.faultsNear(from, ctl.Time, rec)

	switch {
	case a.fsyncFailedBefore(ctl.Time):
		// fsyncFailures says it.
	case endOfRecovery && (later != nil && later.Pid == cpPid || ckptWrites == 0 && rec != nil && rec.Time < m.lifetimeStart(ctl.Time)):
		if later == nil {
			a.say("The checkpoint had written no buffer when the control file named its REDO pointer, although redo had dirtied this one.")
		}
		a.cause("the end-of-recovery checkpoint updated the control file before it wrote the buffers redo had dirtied",
			"CreateCheckPoint writes and fsyncs every dirty buffer (CheckPointGuts) before the control file names the new REDO pointer")
	case redo != nil && firstCkptWrite != nil && firstCkptWrite.Time < redo.Time:
		a.say("The checkpoint had written %s between its start and its REDO pointer, from %s on.", plural(ckptWrites, "buffer"), ms(firstCkptWrite.Time))
		a.cause("the checkpoint took its REDO pointer after writing the buffers, so a change logged meanwhile is before REDO but its page was not written",
			"CreateCheckPoint takes REDO (the WAL insert position) before CheckPointGuts writes the buffers")
	case later != nil && later.Pid != cpPid && a.writeBegan(later, ctl.Time):
		a.cause("the checkpoint skipped a page whose write was still in progress: the buffer was marked clean when the write started, not when it ended",
			"FlushBuffer clears BM_DIRTY only when the write is done (BM_IO_IN_PROGRESS, BM_JUST_DIRTIED), so a checkpoint waits for a write in progress or writes the page itself")
	case rec != nil && redo != nil && rec.Time < redo.Time && rec.Time >= m.lifetimeStart(ctl.Time) && len(inCkpt) == 0:
		if !f.Dirty {
			a.say("The buffer was still clean at the control file update although it carried the change's LSN: the change was made, but its buffer not yet marked dirty.")
		}
		a.cause("the change's WAL record was inserted before the checkpoint's REDO pointer, but its page was not dirty when the checkpoint scanned the buffers, so the page was not written",
			"the transam README's rule: MarkBufferDirty before XLogInsert, so that a checkpoint whose REDO is past a record sees its page dirty (SyncOneBuffer)")
	default:
		a.cause("the checkpoint's REDO pointer passed a change whose page was not written",
			"CreateCheckPoint's guarantee: every change before REDO is on disk, fsynced, before the control file names it")
	}
}

// writeBegan reports whether the process that finished write w had begun
// it before t: it reached bufmgr-before-write (where FlushBuffer has
// claimed the buffer) at or before t.
func (a *account) writeBegan(w *env.Event, t time.Duration) bool {
	p := a.m.lastBefore(w.Time, func(e *env.Event) bool {
		return e.Kind == env.EvInject && e.Pid == w.Pid && e.Name == buffer.PointBeforeWrite
	})
	if p == nil || p.Time > t {
		return false
	}
	a.say("%s had begun that write at %s (bufmgr-before-write), before the control file update.", upperFirst(a.m.who(w.Pid)), ms(p.Time))
	return true
}

// faultsNear lists the faults that fired between from and to, and those
// that fired in the process that inserted rec between its insert and to.
func (a *account) faultsNear(from, to time.Duration, rec *env.Event) {
	fs := a.m.faultsBetween(from, to, 0)
	if rec != nil && rec.Time < from {
		fs = append(a.m.faultsBetween(rec.Time, from, rec.Pid), fs...)
	}
	const shown = 4
	for i, s := range fs {
		if i == shown {
			a.say("(%d more faults.)", len(fs)-shown)
			break
		}
		a.say("Meanwhile %s.", s)
	}
}

// fsyncFailedBefore reports whether an fsync failed (a fault) before t
// and no PANIC followed: fsyncFailures then names the cause.
func (a *account) fsyncFailedBefore(t time.Duration) bool {
	return a.m.survivedFsyncFailure(t) != nil
}
