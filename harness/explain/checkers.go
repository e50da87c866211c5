package explain

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest"
)

// This file holds the accounts of the checkers whose failures are not a
// lost or wrongly kept row: the archive, the lock waits, the clients'
// progress, hint bits written before their commit was durable, the
// engine's self-checks and recovery itself. Each reads the checker's
// typed Finding and the run's events, and ends with the PostgreSQL rule
// that broke.

// archive: the archive checker caught a segment archived wrongly, or one
// removed from pg_wal before it was archived.
func (a *account) archive(f *simtest.Finding) {
	m := a.m
	seg := f.Segment
	if f.Archive == simtest.ArchiveNoSegment {
		a.say("After recovery pg_wal durably holds no WAL segment at all.")
		a.recovery()
		a.cause("recovery left pg_wal without a segment",
			"the segment holding the last checkpoint's REDO pointer and every later one stay in pg_wal until a later checkpoint no longer needs them (RemoveOldXlogFiles keeps everything from the REDO segment on)")
		return
	}
	isSeg := func(e *env.Event, suffix string) bool {
		return strings.HasSuffix(e.Name, "/"+seg+suffix)
	}
	isStatus := func(name string) bool { return strings.Contains(name, "archive_status/") }
	// The copy: the archiver's writes and fsyncs of the archive's file
	// for seg (its temporary name or its final one), its rename into
	// place; the status files; the segment's removal from pg_wal.
	copyFile := func(e *env.Event) bool {
		return e.Class == env.FileArchive && !isStatus(e.Name) && (isSeg(e, "") || isSeg(e, ".tmp"))
	}
	ready := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvDiskOpen && isStatus(e.Name) && isSeg(e, ".ready") })
	done := m.firstAfter(0, true, func(e *env.Event) bool {
		return e.Kind == env.EvDiskRename && isStatus(e.Name2) && strings.HasSuffix(e.Name2, "/"+seg+".done")
	})
	// A segment leaves pg_wal removed, or recycled: renamed into a
	// future segment's name (RemoveXlogFile's InstallXLogFileSegment).
	removed := m.firstAfter(0, true, func(e *env.Event) bool {
		return (e.Kind == env.EvDiskRemove || e.Kind == env.EvDiskRename && strings.HasPrefix(e.Name2, wal.Dir+"/") && !isStatus(e.Name2)) &&
			e.Class == env.FileWAL && isSeg(e, "")
	})
	recycled := removed != nil && removed.Kind == env.EvDiskRename
	firstWrite := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvDiskWrite && copyFile(e) })
	placed := m.firstAfter(0, true, func(e *env.Event) bool {
		return e.Kind == env.EvDiskRename && e.Class == env.FileArchive && !isStatus(e.Name2) && strings.HasSuffix(e.Name2, "/"+seg)
	})
	var copySync *env.Event
	if firstWrite != nil {
		limit := time.Duration(1<<63 - 1)
		if done != nil {
			limit = done.Time
		}
		copySync = m.firstAfter(firstWrite.Time, true, func(e *env.Event) bool {
			return e.Kind == env.EvDiskSync && copyFile(e) && e.Time <= limit
		})
	}

	// What the checker caught, in words.
	copyWords := ""
	switch f.Copy {
	case simtest.CopyMissing:
		copyWords = "the archive durably holds no copy of it"
	case simtest.CopyIncomplete:
		copyWords = fmt.Sprintf("the archive's durable copy holds %d bytes and is not a complete segment (no switch record)", f.CopyBytes)
	case simtest.CopyTrailing:
		copyWords = fmt.Sprintf("the archive's durable copy holds %d bytes past the segment's end", f.CopyBytes-f.WantBytes)
	case simtest.CopySize:
		copyWords = fmt.Sprintf("the archive's durable copy holds %d bytes, not the completed segment's %d", f.CopyBytes, f.WantBytes)
	case simtest.CopyDiffers:
		copyWords = "the archive's durable copy has the segment's length but other bytes"
	}
	switch f.Archive {
	case simtest.ArchiveReadyEarly:
		a.say("Segment %s was notified for archiving (its archive_status .ready file created) while it was not yet complete and durable in pg_wal.", seg)
	case simtest.ArchiveDoneNeverComplete:
		a.say("Segment %s was marked archived (.done) although it was never complete and durable in pg_wal.", seg)
	case simtest.ArchiveDoneBadCopy:
		a.say("Segment %s was marked archived (.done), but at that moment %s.", seg, copyWords)
	case simtest.ArchiveRemovedNotDone:
		how := "was removed from pg_wal"
		if recycled {
			how = "left pg_wal, recycled,"
		}
		a.say("Completed segment %s %s although no .done said it was archived.", seg, how)
	case simtest.ArchiveRemovedBadCopy:
		a.say("Completed segment %s was removed from pg_wal, but %s.", seg, copyWords)
	case simtest.ArchiveRecoveredDoneBadCopy:
		a.say("After the crash and recovery segment %s is durably marked archived (.done), but %s.", seg, copyWords)
	case simtest.ArchiveRecoveredGoneBadCopy:
		a.say("After the crash and recovery segment %s is gone from pg_wal, and %s.", seg, copyWords)
	case simtest.ArchiveRecoveredRewritten:
		a.say("After the crash and recovery completed segment %s, still in pg_wal, durably holds other bytes than when it was completed and notified for archiving.", seg)
	}

	// The steps, in order.
	if ready != nil {
		a.mark(ready, seg+".ready created")
		walSync := m.lastBefore(ready.Time, func(e *env.Event) bool { return e.Kind == env.EvDiskSync && e.Class == env.FileWAL && isSeg(e, "") })
		walWrite := m.lastBefore(ready.Time, func(e *env.Event) bool { return e.Kind == env.EvDiskWrite && e.Class == env.FileWAL && isSeg(e, "") })
		last := "no fsync of the segment came before it"
		if walSync != nil {
			last = fmt.Sprintf("the segment's last fsync before it was at %s", ms(walSync.Time))
		}
		wrote := ""
		if walWrite != nil {
			wrote = fmt.Sprintf(", its last write at %s (%d bytes at offset %d)", ms(walWrite.Time), walWrite.B, walWrite.A)
		}
		a.say("%s created %s.ready at %s; %s%s.", upperFirst(m.who(ready.Pid)), seg, ms(ready.Time), last, wrote)
	}
	if firstWrite != nil {
		a.mark(firstWrite, "archive copy written")
		a.say("%s wrote the copy (%s) from %s.", upperFirst(m.who(firstWrite.Pid)), firstWrite.Name, ms(firstWrite.Time))
		if copySync != nil {
			a.mark(copySync, "archive copy fsynced")
			a.say("It fsynced the copy at %s.", ms(copySync.Time))
		} else {
			a.say("No fsync of the copy followed before it was marked done.")
		}
	}
	if placed != nil {
		a.mark(placed, "copy renamed into place")
		a.say("It renamed %s to %s at %s.", placed.Name, placed.Name2, ms(placed.Time))
	}
	if done != nil {
		a.mark(done, seg+".done")
		a.say("%s renamed %s to %s at %s: the segment counts as archived from then on.", upperFirst(m.who(done.Pid)), done.Name, done.Name2, ms(done.Time))
	}
	if recycled {
		a.mark(removed, seg+" recycled")
		a.say("%s recycled %s at %s: renamed it to %s, a future segment's name.", upperFirst(m.who(removed.Pid)), seg, ms(removed.Time), removed.Name2)
	} else if removed != nil {
		a.mark(removed, seg+" removed from pg_wal")
		a.say("%s removed %s from pg_wal at %s.", upperFirst(m.who(removed.Pid)), seg, ms(removed.Time))
	}
	crash := (*env.Event)(nil)
	if done != nil {
		crash = m.crashAfter(done.Time)
	} else if firstWrite != nil {
		crash = m.crashAfter(firstWrite.Time)
	}
	if crash == nil && ready != nil && f.Archive == simtest.ArchiveRecoveredRewritten {
		crash = m.crashAfter(ready.Time)
	}
	if crash != nil && (f.Archive == simtest.ArchiveRecoveredDoneBadCopy || f.Archive == simtest.ArchiveRecoveredGoneBadCopy || f.Archive == simtest.ArchiveRecoveredRewritten) {
		a.mark(crash, "crash")
		a.say("The crash came at %s (%s), which left unsynced writes %s.", ms(crash.Time), crash.Name, crashModeWords(a.crashMode(crash)))
	}

	// A recovery that ended inside the segment after it was completed
	// rewrote its tail (the archive's copy is the segment as completed).
	var overwritten *env.Event
	if f.Copy == simtest.CopyDiffers || f.Copy == simtest.CopySize || f.Archive == simtest.ArchiveRecoveredRewritten {
		overwritten = a.recoveryEndInside(seg)
	}

	// The mechanism, from the order of the steps.
	switch {
	case f.Archive == simtest.ArchiveReadyEarly || f.Archive == simtest.ArchiveDoneNeverComplete:
		a.cause(fmt.Sprintf("segment %s was notified for archiving before it was complete, so the archiver copies a partial segment", seg),
			"XLogWrite calls XLogArchiveNotifySeg only when it has written and fsynced a segment to its end (the segment switch); the archiver copies whatever the file holds when it runs")
	case recycled && (f.Archive == simtest.ArchiveRemovedNotDone || done == nil && f.Copy == simtest.CopyMissing):
		a.cause(fmt.Sprintf("segment %s was recycled (renamed into a future segment's name) before the archiver had archived it", seg),
			"in archive mode RemoveOldXlogFiles recycles or removes a segment only when XLogArchiveCheckDone finds its .done file; until then the segment stays in pg_wal under its own name, however old")
	case f.Archive == simtest.ArchiveRemovedNotDone || removed != nil && done == nil && f.Copy == simtest.CopyMissing:
		a.cause(fmt.Sprintf("segment %s was removed from pg_wal before the archiver had archived it", seg),
			"in archive mode RemoveOldXlogFiles removes a segment only when XLogArchiveCheckDone finds its .done file; until then the segment stays in pg_wal, however old")
	case firstWrite != nil && done != nil && (copySync == nil || !m.syncedBy(copySync, done.Time)):
		lost := "; a power loss then would lose the copy"
		if crash != nil && (f.Archive == simtest.ArchiveRecoveredDoneBadCopy || f.Archive == simtest.ArchiveRecoveredGoneBadCopy) {
			lost = fmt.Sprintf("; the crash at %s then lost the copy", ms(crash.Time))
		}
		a.cause(fmt.Sprintf("the archiver marked segment %s done before its copy was fsynced%s", seg, lost),
			"archive_command (pgarch_archiveXlog) may report success only once the copy is durable, because pgarch_archiveDone's .ready-to-.done rename lets the next checkpoint remove the segment from pg_wal (XLogArchiveCheckDone)")
	case placed != nil && done != nil && m.firstAfter(placed.Time, true, func(e *env.Event) bool {
		return e.Kind == env.EvDiskSyncDir && e.Time <= done.Time && !isStatus(e.Name) && strings.HasSuffix(placed.Name2, "/"+seg) && strings.HasPrefix(placed.Name2, e.Name+"/")
	}) == nil:
		a.cause(fmt.Sprintf("the archiver marked segment %s done before the rename of its copy into place was durable", seg),
			"a copy is archived once durable_rename has fsynced the file and then its directory; only then may the .done be written")
	case overwritten != nil:
		a.mark(overwritten, "recovery ended inside the completed segment")
		a.cause(fmt.Sprintf("recovery ended at %X/%08X, inside completed segment %s, in a record whose continuation was missing, and wrote new WAL over the segment's tail", overwritten.LSN2>>32, uint32(overwritten.LSN2), seg),
			"StartupXLOG starts new WAL at the page where the continuation is missing (missingContrecPtr), beginning with an XLOG_OVERWRITE_CONTRECORD, so that a completed segment, archived or streamed already, is never rewritten (PostgreSQL 14.1)")
	case f.Copy != "":
		a.cause(fmt.Sprintf("the archive's durable copy of segment %s is not the segment as it was completed", seg),
			"a segment may leave pg_wal only once an identical, durable copy is in the archive: archive_command's success promises exactly that")
	}
}

// lockWakeup: a backend slept on a transaction's lock long after the
// lock was released.
func (a *account) lockWakeup(f *simtest.Finding) {
	m := a.m
	a.say("%s went to sleep at %s waiting for transaction %d's lock (XactLockTableWait).", upperFirst(m.who(f.Pid)), ms(f.Since), f.Xid)
	rel := m.firstAfter(f.Released, true, func(e *env.Event) bool { return e.Kind == env.EvLockRelease && e.Xid == f.Xid && e.Time == f.Released })
	if rel != nil {
		a.mark(rel, fmt.Sprintf("xid %d's lock released", f.Xid))
		a.say("%s released that lock at %s, counting %s asleep on it.", upperFirst(m.who(rel.Pid)), ms(f.Released), plural(int(rel.A), "backend"))
	} else {
		a.say("The lock was released at %s.", ms(f.Released))
	}
	how := "was still asleep when the server stopped at"
	if f.Woke {
		how = "woke only at"
	}
	paused := ""
	if f.Paused > 0 {
		paused = fmt.Sprintf(", not counting %s the fault plan paused it", ms(f.Paused))
	}
	a.say("The waiter %s %s: %s after the release%s (a released lock wakes its waiters at once; the limit is %s).", how, ms(f.At), ms(f.Late), paused, ms(f.Limit))
	if rel != nil && rel.A == 0 {
		a.say("The release counted no sleeper although this one had been asleep on it since %s.", ms(f.Since))
	}
	a.cause(fmt.Sprintf("the release of transaction %d's lock did not wake the backend sleeping on it (a lost wakeup)", f.Xid),
		"LockRelease (and LockReleaseAll at commit) calls ProcLockWakeup, which wakes every waiter whose request no longer conflicts; ProcSleep then returns at once, with no timeout needed")
}

// lockRetry: a backend kept waiting for a transaction it had already
// seen end.
func (a *account) lockRetry(f *simtest.Finding) {
	m := a.m
	first := m.firstAfter(0, true, func(e *env.Event) bool {
		return e.Kind == env.EvLockWaitEnd && e.Pid == f.Pid && e.Xid == f.Xid && e.B == 0
	})
	seen := ""
	if first != nil {
		a.mark(first, fmt.Sprintf("wait for xid %d ends", f.Xid))
		seen = " at " + ms(first.Time)
	}
	baseline := "never waits again for a transaction it saw end"
	if f.Baseline > 0 {
		baseline = "waits again for it at most " + times(f.Baseline)
	}
	a.say("%s waited for transaction %d again at %s, %s since an earlier wait had seen it end%s; a backend in a fault-free run %s.",
		upperFirst(m.who(f.Pid)), f.Xid, ms(f.At), times(f.Waits), seen, baseline)
	rel := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvLockRelease && e.Xid == f.Xid })
	commit := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvCommit && e.Xid == f.Xid })
	if rel != nil {
		a.mark(rel, fmt.Sprintf("xid %d's lock released", f.Xid))
	}
	switch {
	case rel != nil && commit != nil && rel.Time < commit.Time:
		a.mark(commit, fmt.Sprintf("xid %d commits", f.Xid))
		a.say("Transaction %d's lock was released at %s by %s, before its commit was done at %s: in between, the waiter found the lock free but the transaction still running.",
			f.Xid, ms(rel.Time), m.who(rel.Pid), ms(commit.Time))
		a.cause(fmt.Sprintf("transaction %d released its lock before its commit was recorded, so its waiter saw it still in progress and waited again, in a loop", f.Xid),
			"CommitTransaction records the commit in the clog and leaves the proc array (ProcArrayEndTransaction) before ResourceOwnerRelease releases its locks; XactLockTableWait loops only while TransactionIdIsInProgress says the transaction still runs")
	case rel != nil && commit == nil:
		a.say("Transaction %d's lock was released at %s by %s, and no commit of it is in the events (it aborted, or its commit predates the events).", f.Xid, ms(rel.Time), m.who(rel.Pid))
		a.cause(fmt.Sprintf("the backend kept waiting for transaction %d after it had ended", f.Xid),
			"a transaction that ended never runs again: XactLockTableWait returns once the lock is free and TransactionIdIsInProgress is false, so a second wait for the same xid is a retry loop")
	default:
		a.cause(fmt.Sprintf("the backend kept waiting for transaction %d after it had ended", f.Xid),
			"a transaction that ended never runs again: XactLockTableWait returns once the lock is free and TransactionIdIsInProgress is false, so a second wait for the same xid is a retry loop")
	}
}

// progress: a client got no reply from the server for too long in a run
// no fault touched.
func (a *account) progress(f *simtest.Finding) {
	m := a.m
	from := f.At - f.Gap
	a.say("Client %d got no reply from the server from %s to %s, %s, in a run no fault, pause or crash-restart touched (the limit is %s).", f.Client, ms(from), ms(f.At), ms(f.Gap), ms(f.Limit))
	backends := m.backendsOf(f.Client)
	// What its backends waited for in the silence.
	var sleep, wake *env.Event
	waits := 0
	m.each(from, f.At, func(e *env.Event) bool { return backends[e.Pid] && e.Kind == env.EvLockWait }, func(e *env.Event) {
		waits++
		if e.B == 1 && sleep == nil {
			sleep = e
		}
	})
	if sleep != nil {
		a.mark(sleep, fmt.Sprintf("sleeps on xid %d's lock", sleep.Xid))
		wake = m.firstAfter(sleep.Time, false, func(e *env.Event) bool { return e.Kind == env.EvLockWaitEnd && e.Pid == sleep.Pid })
		rel := m.firstAfter(sleep.Time, true, func(e *env.Event) bool { return e.Kind == env.EvLockRelease && e.Xid == sleep.Xid })
		woke := "and had not woken by the end of the silence"
		if wake != nil {
			woke = "and woke at " + ms(wake.Time)
		}
		a.say("%s went to sleep on transaction %d's lock at %s %s.", upperFirst(m.who(sleep.Pid)), sleep.Xid, ms(sleep.Time), woke)
		if rel != nil && (wake == nil || rel.Time < wake.Time) {
			a.mark(rel, fmt.Sprintf("xid %d's lock released", sleep.Xid))
			a.say("The lock was released at %s by %s.", ms(rel.Time), m.who(rel.Pid))
			if wake == nil || wake.Time-rel.Time > f.Limit/2 {
				a.cause(fmt.Sprintf("client %d's backend slept on transaction %d's lock after it was released, and nothing woke it", f.Client, sleep.Xid),
					"LockRelease wakes every waiter whose request no longer conflicts (ProcLockWakeup), so a backend sleeps on a lock only while it is held")
				return
			}
		}
	}
	if waits > 1 {
		a.say("Its backends waited for a transaction's lock %s in that time.", times(waits))
		a.cause(fmt.Sprintf("client %d's backend waited for transactions' locks over and over while nothing else held it up", f.Client),
			"XactLockTableWait returns once the transaction it waits for has ended; a statement that waits in a loop makes no progress")
		return
	}
	a.cause(fmt.Sprintf("the server left client %d without a reply for %s although no fault held it up", f.Client, ms(f.Gap)),
		"with no fault, a statement finishes or fails in bounded time: a backend blocks only on a lock, a buffer pin or an I/O, and whoever releases it wakes the backend")
}

// hintBeforeCommit: a heap page reached the disk carrying a commit hint
// for a transaction whose commit record was not durable yet.
func (a *account) hintBeforeCommit(f *simtest.Finding) {
	m := a.m
	commit := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvCommit && e.Xid == f.Xid })
	ack := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvCommitAck && e.Xid == f.Xid })
	if commit != nil {
		a.mark(commit, fmt.Sprintf("xid %d commits", f.Xid))
		a.say("%s committed xid %d at %s with its commit record ending at %s.", upperFirst(m.who(commit.Pid)), f.Xid, ms(commit.Time), lsn(f.CommitLSN))
	} else {
		a.say("Xid %d's commit record ends at %s.", f.Xid, lsn(f.CommitLSN))
	}
	async := false
	if ack != nil {
		flushed, _ := m.flushedAt(ack.Time)
		if flushed < f.CommitLSN {
			async = true
			a.markStep(ack, "ack", fmt.Sprintf("xid %d acknowledged before its commit record was durable", f.Xid))
			a.say("The client was told it committed at %s while WAL was durable only to %s: an asynchronous commit (synchronous_commit = off).", ms(ack.Time), lsn(flushed))
		}
	}
	// The page write: the first write of the page's bytes after the
	// commit, made while WAL was durable short of the commit record.
	off := int64(f.FileBlock) * page.BlockSize
	var after time.Duration
	if commit != nil {
		after = commit.Time
	}
	w := m.firstAfter(after, true, func(e *env.Event) bool {
		if e.Kind != env.EvDiskWrite || e.Name != f.Path || e.A >= off+page.BlockSize || e.A+e.B <= off {
			return false
		}
		fl, _ := m.flushedAt(e.Time)
		return fl < f.CommitLSN
	})
	writer := "A process"
	if w != nil {
		a.markStep(w, "flush", fmt.Sprintf("block %d written with xid %d's commit hint", f.FileBlock, f.Xid))
		writer = upperFirst(m.who(w.Pid)) + fmt.Sprintf(" at %s", ms(w.Time))
	}
	a.say("%s wrote block %d of %s (pd_lsn %s) with tuple %d's %s marked committed by xid %d (the HEAP_%s_COMMITTED hint bit), while WAL was durable only to %s, short of the commit record's end at %s.",
		writer, f.FileBlock, f.Path, lsn(f.PageLSN), f.Tuple, f.Hint, f.Xid, strings.ToUpper(f.Hint), lsn(f.WALDurable), lsn(f.CommitLSN))
	a.say("Had the server crashed then, recovery would have found no commit record for xid %d and taken it for aborted, while the page on disk says it committed.", f.Xid)
	rule := "SetHintBits may set a commit hint only when the commit record is flushed: for a transaction whose commit LSN XLogNeedsFlush still reports unflushed (an asynchronous commit, TransactionIdGetCommitLSN) it leaves the hint unset, since the page could reach disk before the WAL that makes the commit true"
	if async {
		a.cause(fmt.Sprintf("a hint bit marked asynchronously committed xid %d committed on a page written before its commit record was durable", f.Xid), rule)
		return
	}
	a.cause(fmt.Sprintf("a hint bit marked xid %d committed on a page written before its commit record was durable", f.Xid), rule)
}

// self: the engine's own consistency checks failed.
func (a *account) self(f *simtest.Finding) {
	quote := ""
	if f.Detail != "" {
		quote = fmt.Sprintf(" (%q)", f.Detail)
	}
	switch f.Self {
	case simtest.SelfBufferCoherence:
		a.say("When the workload ended, before the crash, the buffer pool's coherence check found a clean buffer whose page had changed since it was last read or written%s.", quote)
		a.cause("a page in shared buffers was changed without MarkBufferDirty, so eviction or a checkpoint would drop the change",
			"every change to a shared buffer marks it dirty (MarkBufferDirty, MarkBufferDirtyHint for a hint bit) while the buffer is locked; a clean buffer is evicted without being written")
		return
	case simtest.SelfRootDescend:
		a.say("After recovery key %d of table %s is in a full scan of its index's leaf level, yet a search for it from the root finds no row.", f.Key, f.Table)
		a.recovery()
		a.cause("a B-tree search from the root missed a key the leaf level holds",
			"a search descends by the downlinks and moves right (_bt_moveright) while the key is above a page's high key, so a page split (_bt_split, its parent's downlink and high key) can never hide a key from it (amcheck's rootdescend)")
		return
	case simtest.SelfIndexStructure:
		a.say("After recovery the structure of table %s's index is broken%s.", f.Table, quote)
		a.recovery()
		a.cause("the index's B-tree structure was broken after recovery",
			"every B-tree level stays ordered and linked, through page splits and their redo alike (bt_index_check checks the keys' order, the high keys and that every page is reachable)")
		return
	case simtest.SelfIndexHeap:
		a.say("After recovery table %s's heap and index disagree%s.", f.Table, quote)
		a.recovery()
		a.cause("the heap's visible rows and the index's entries disagree after recovery",
			"every row the heap shows is reachable through the index at its own TID and points back at its key (amcheck's heapallindexed): an insert logs its heap and index changes alike, and redo replays both")
		return
	case simtest.SelfPageContents:
		a.say("After recovery a page of table %s holds a change recovery cannot account for%s.", f.Table, quote)
		a.recovery()
		if a.Mechanism != "" || a.writeBeforeWAL() != nil {
			return
		}
		a.cause("a page on disk carries a change whose WAL or commit recovery did not find: written before its WAL, or hinted before its commit was durable",
			"WAL before data (XLogFlush up to the page's LSN before the write, in FlushBuffer) and SetHintBits' XLogNeedsFlush test keep every page on disk explained by durable WAL")
		return
	case simtest.SelfScan, simtest.SelfSearch:
		what := "A full scan of table " + f.Table
		if f.Self == simtest.SelfSearch {
			what = fmt.Sprintf("A search of table %s for key %d", f.Table, f.Key)
		}
		code := ""
		if f.Code != "" {
			code = " with SQLSTATE " + f.Code
		}
		a.say("%s after recovery failed%s%s.", what, code, quote)
	default:
		a.say("After recovery the check of table %s failed%s.", f.Table, quote)
	}
	a.recovery()
	if a.Mechanism == "" {
		a.cause("after recovery the engine could not read its own table back",
			"recovery must leave every page it did not rewrite intact and every page it read consistent, so that any scan or search of a table succeeds")
	}
}

// writeBeforeWAL finds a buffer write whose page LSN was beyond the WAL
// durable at the write, says it and names the mechanism (nil: none).
func (a *account) writeBeforeWAL() *env.Event {
	m := a.m
	for i := range m.evs {
		e := &m.evs[i]
		if e.Kind != env.EvBufferWrite || e.LSN == 0 {
			continue
		}
		fl, flush := m.flushedAt(e.Time)
		if flush == nil || e.LSN <= fl {
			continue
		}
		a.mark(e, fmt.Sprintf("page written, pd_lsn %s", lsn(e.LSN)))
		a.say("%s wrote block %d of relation %d at %s with pd_lsn %s while WAL was durable only to %s.", upperFirst(m.who(e.Pid)), e.Block, e.Rel, ms(e.Time), lsn(e.LSN), lsn(fl))
		a.cause("a data page was written before the WAL up to its LSN was durable",
			"FlushBuffer calls XLogFlush(BufferGetLSN) before it writes a page, so no page on disk is ahead of durable WAL")
		return e
	}
	return nil
}

// recoveryFailed: starting the server, or reading it after recovery,
// failed.
func (a *account) recoveryFailed(f *simtest.Finding) {
	m := a.m
	quote := ""
	if f.Detail != "" {
		quote = fmt.Sprintf(": %q", f.Detail)
	}
	switch f.Stage {
	case simtest.StageConfig:
		a.say("The run's configuration is invalid%s; nothing ran.", quote)
		a.cause("the run's configuration is invalid", "a run starts only from a configuration Config.Validate accepts")
		return
	case simtest.StageBoot:
		a.say("The server did not start from initdb's image%s.", quote)
	case simtest.StageStartup:
		a.say("A startup process failed in a stretch no fault touched, and the postmaster gave up%s.", quote)
	case simtest.StageRecovery:
		a.say("The final recovery failed%s.", quote)
	case simtest.StageConnect:
		a.say("Recovery finished, but a connection to the recovered server failed%s.", quote)
	case simtest.StageScan:
		a.say("Recovery finished, but a scan of the recovered server failed%s.", quote)
	}
	// Where redo stopped: the last recovery that began and did not end.
	rb := m.lastBefore(time.Duration(1<<63-1), func(e *env.Event) bool { return e.Kind == env.EvRecoveryBegin })
	if rb != nil {
		if re := m.firstAfter(rb.Time, true, func(e *env.Event) bool { return e.Kind == env.EvRecoveryEnd && e.Pid == rb.Pid }); re == nil {
			a.mark(rb, "redo begins")
			a.say("The last redo began at %s from REDO %s in %s and never finished.", ms(rb.Time), lsn(rb.LSN), m.who(rb.Pid))
			if p := m.firstAfter(rb.Time, true, func(e *env.Event) bool { return e.Kind == env.EvPanic && e.Pid == rb.Pid }); p != nil {
				a.mark(p, "startup PANIC")
				a.say("It raised a PANIC at %s: %s.", ms(p.Time), p.Name)
			}
		}
	}
	a.recovery()
	if a.Mechanism != "" {
		return
	}
	switch f.Stage {
	case simtest.StageBoot:
		a.cause("the server could not start from a freshly initialized cluster",
			"initdb's cluster starts with no recovery to do; a failure there is the engine's own")
	case simtest.StageConnect, simtest.StageScan:
		a.cause("recovery ended but left the server unable to serve",
			"once StartupXLOG's redo reaches the end of WAL the server is consistent and must accept connections and read every table")
	default:
		a.cause("recovery could not replay the WAL the crash left",
			"redo from the last checkpoint's REDO pointer must reach the end of valid WAL after any crash: every record it needs is durable (XLogFlush before a commit or a data write) and every page it reads is intact or restored by a full-page image")
	}
}

// liveness: a process hit an engine assertion, or the simulation stopped
// with processes that could not go on.
func (a *account) liveness(f *simtest.Finding) {
	m := a.m
	where := "the workload"
	if f.Stage == simtest.StageRecoveryStopped {
		where = "the final recovery"
	}
	if f.Stage == simtest.StageEnginePanic {
		a.say("Process %s hit a Go panic, an engine assertion: %q.", f.Proc, f.Detail)
		if p := m.lastBefore(time.Duration(1<<63-1), func(e *env.Event) bool { return e.Kind == env.EvPanic }); p != nil {
			a.mark(p, "panic")
			a.say("It came at %s in %s.", ms(p.Time), m.who(p.Pid))
		}
		a.cause(fmt.Sprintf("an engine invariant broke: %s's assertion failed", f.Proc),
			"an assertion states what the code may rely on (PostgreSQL's Assert and elog(PANIC) on an impossible state); reaching one is a bug in whatever produced the state")
		return
	}
	proc := ""
	if f.Proc != "" {
		proc = " in " + f.Proc
	}
	detail := ""
	if f.Detail != "" {
		detail = fmt.Sprintf(": %q", f.Detail)
	}
	a.say("The simulation of %s stopped (%s)%s%s.", where, f.Stop, proc, detail)
	switch f.Stop {
	case "deadlock":
		a.cause(fmt.Sprintf("every process left in %s waited, with no timer to wake any of them: the server's processes deadlocked", where),
			"lightweight locks are taken in a fixed order and never held across a wait, and a heavyweight lock cycle is broken by the deadlock detector after deadlock_timeout (CheckDeadLock), so some process can always go on")
	case "time-limit", "step-limit":
		a.cause(fmt.Sprintf("%s did not finish within the run's bound: a process kept running or waiting without end", where),
			"with the clients' work bounded, every process finishes or sleeps on a timer; one that spins or waits for what never comes stops the server making progress")
	default:
		a.cause(fmt.Sprintf("%s stopped before every process finished", where),
			"a run ends when its processes finish; a stop for any other reason means a process could not go on")
	}
}

// recoveryEndInside is the last end of recovery that fell inside segment
// seg (a file name), past its start, or nil.
func (a *account) recoveryEndInside(seg string) *env.Event {
	size := segmentSizeOf(a.res.Config)
	if size == 0 || len(seg) != 24 {
		return nil
	}
	hi, err1 := strconv.ParseUint(seg[8:16], 16, 32)
	lo, err2 := strconv.ParseUint(seg[16:24], 16, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	start := (hi*(1<<32/size) + lo) * size
	var out *env.Event
	for i := range a.m.evs {
		e := &a.m.evs[i]
		if e.Kind == env.EvRecoveryEnd && e.LSN2 > start && e.LSN2 < start+size {
			out = e
		}
	}
	return out
}

// segmentSizeOf reads wal_segment_size from a run's resolved config.
func segmentSizeOf(config string) uint64 {
	for _, f := range strings.Fields(config) {
		v, ok := strings.CutPrefix(f, "wal_segment_size=")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(v, "kB"), 10, 64)
		if err != nil || !strings.HasSuffix(v, "kB") {
			return 0
		}
		return n << 10
	}
	return 0
}
