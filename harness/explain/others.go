package explain

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/fault"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// fsyncFailures: a failed fsync the server survived without a PANIC. It
// joins whatever account the checker's failure gave: the lost page or row
// is the failed fsync's consequence.
func (a *account) fsyncFailures() {
	m := a.m
	e := m.survivedFsyncFailure(time.Duration(math.MaxInt64))
	if e != nil {
		end := m.crashAfter(e.Time)
		limit := time.Duration(math.MaxInt64)
		if end != nil {
			limit = end.Time
		}
		a.mark(e, "fsync failed (EIO)")
		a.say("At %s an fsync of a %s file failed with EIO in %s (fault %d), and no process raised a PANIC afterwards.", ms(e.Time), e.Class, m.who(e.Pid), e.A)
		if cp := m.firstAfter(e.Time, false, func(x *env.Event) bool { return x.Kind == env.EvControlUpdate && x.Time <= limit }); cp != nil {
			a.say("A checkpoint completed anyway: its control file update at %s named REDO %s.", ms(cp.Time), lsn(cp.LSN2))
			a.mark(cp, "checkpoint completes after the failed fsync")
		}
		// A failed fsync the server survived is the root cause of
		// whatever was lost after it: it overrides the mechanism the
		// checker's own account found.
		mechanism := "the fsync failed and was retried instead of raising a PANIC, and the retry succeeded over pages the kernel had already dropped"
		rule := "since 2018 (data_sync_retry = off) PostgreSQL PANICs when an fsync of a data file fails, because the kernel may have discarded the dirty pages; recovery then redoes the changes from WAL"
		if a.Mechanism == "" {
			a.cause(mechanism, rule)
		} else {
			a.Mechanism = upperFirst(mechanism) + "."
			a.say("The root cause: %s: %s.", mechanism, rule)
		}
	}
}

// survivedFsyncFailure is the first fsync that failed (a fault) before t
// and that no PANIC followed before the next crash: the server went on
// as if the data had been written.
func (m *model) survivedFsyncFailure(t time.Duration) *env.Event {
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time >= t {
			break
		}
		if e.Kind != env.EvFault || fault.ActionKind(e.B) != fault.ActFsyncEIO {
			continue
		}
		limit := time.Duration(math.MaxInt64)
		if end := m.crashAfter(e.Time); end != nil {
			limit = end.Time
		}
		if m.firstAfter(e.Time, true, func(x *env.Event) bool { return x.Kind == env.EvPanic && x.Time <= limit }) == nil {
			return e
		}
	}
	return nil
}

// atomicity: a failed transaction's writes, or part of an unknown one's,
// are present after recovery.
func (a *account) atomicity(f *simtest.Finding) {
	unit := "row"
	what := fmt.Sprintf("client %d's transaction %d", f.Client, f.Txn)
	if f.List {
		unit, what = "append", fmt.Sprintf("list-append T%d (client %d)", f.Txn, f.Client)
	}
	switch f.Outcome {
	case lin.Failed:
		a.say("%s failed (it was rolled back and the client was told so at %s), yet %d of its %s survived recovery.", upperFirst(what), ms(f.Return), f.Present, plural(f.Writes, unit))
	default:
		a.say("%s never heard back (called at %s, its outcome unknown), and recovery kept %s of its %s: a transaction must survive whole or not at all.", upperFirst(what), ms(f.Call), plural(f.Present, unit), plural(f.Writes, unit))
	}
	if f.List && a.abortedAppendsCopied(f) {
		return
	}
	crash := a.m.crashAfter(f.Call)
	end := f.Return
	if f.Outcome == lin.Unknown && crash != nil {
		end = crash.Time
	}
	if crash != nil {
		a.say("The crash came at %s (%s).", ms(crash.Time), crash.Name)
		a.mark(crash, "crash")
	}
	backends := a.m.backendsOf(f.Client)
	// A commit shows as its commit event, or, when a crash struck between
	// the commit record's insert and the end of the commit, as the
	// injection point that follows the insert.
	commit := a.m.firstAfter(f.Call, true, func(e *env.Event) bool {
		return backends[e.Pid] && e.Time <= end && (e.Kind == env.EvCommit || e.Kind == env.EvInject && e.Name == xact.PointAfterCommitInsert)
	})
	notReplayed := false
	if commit != nil && crash != nil {
		commitEnd := commit.LSN
		if commit.Kind == env.EvInject {
			if ins := a.m.lastBefore(commit.Time, func(e *env.Event) bool { return e.Kind == env.EvWALInsert && e.Pid == commit.Pid }); ins != nil {
				commitEnd = ins.LSN2
			}
		}
		redoEnd := a.m.firstAfter(crash.Time, true, func(e *env.Event) bool { return e.Kind == env.EvRecoveryEnd })
		if commitEnd != 0 && redoEnd != nil && redoEnd.LSN2 < commitEnd {
			notReplayed = true
			a.say("Its commit record, ending at %s, was not in the WAL recovery replayed (up to %s): after recovery the transaction is aborted, and what recovery shows of it are row versions of an aborted transaction.", lsn(commitEnd), lsn(redoEnd.LSN2))
		}
	}
	if commit == nil && len(backends) > 0 {
		a.say("No backend of client %d committed anything from the transaction's start at %s to %s: it never committed, so what recovery shows of it are row versions of an aborted transaction.", f.Client, ms(f.Call), ms(end))
	}
	if notReplayed || commit == nil && len(backends) > 0 {
		a.cause("a read returned a row version of an aborted transaction",
			"HeapTupleSatisfiesMVCC shows a row version only if its inserting transaction committed (TransactionIdDidCommit on xmin); an aborted transaction's versions stay invisible forever, after recovery too")
		return
	}
	if commit != nil && commit.Kind == env.EvCommit {
		a.say("Its backend, %s, committed xid %d at %s (commit record ending at %s).", a.m.who(commit.Pid), commit.Xid, ms(commit.Time), lsn(commit.LSN))
		a.mark(commit, "commit")
	} else if commit != nil {
		a.say("Its backend, %s, inserted a commit record at %s.", a.m.who(commit.Pid), ms(commit.Time))
		a.mark(commit, "commit record inserted")
	}
	if f.Outcome == lin.Failed {
		a.cause("a rolled-back transaction's writes became visible after recovery",
			"an aborted transaction's row versions stay invisible forever: its xid is never marked committed in clog, and HeapTupleSatisfiesMVCC ignores them")
	} else {
		a.cause("recovery kept part of a transaction",
			"a transaction's changes become visible together when its commit record is replayed; without it none do")
	}
}

// abortedAppendsCopied: the failed list-append's values sit in a list
// after recovery followed by values committed transactions appended: the
// committed ones read the aborted row version and wrote it back.
func (a *account) abortedAppendsCopied(f *simtest.Finding) bool {
	h := a.res.History
	if f.Outcome != lin.Failed || h == nil || f.Txn < 0 || f.Txn >= len(h.Lists) || len(h.Lists) == 0 {
		return false
	}
	final := h.Lists[len(h.Lists)-1]
	if final.Client != lin.FinalReader {
		return false
	}
	by := map[[2]uint64]*lin.Txn{}
	for i := range h.Lists[:len(h.Lists)-1] {
		t := &h.Lists[i]
		for _, mop := range t.Mops {
			if mop.Kind == lin.MopAppend {
				by[[2]uint64{mop.Key, mop.Value}] = t
			}
		}
	}
	txn := &h.Lists[f.Txn]
	for _, mop := range txn.Mops {
		if mop.Kind != lin.MopAppend {
			continue
		}
		for _, rd := range final.Mops {
			if rd.Kind != lin.MopRead || rd.Key != mop.Key {
				continue
			}
			for i, v := range rd.List {
				if v != mop.Value {
					continue
				}
				for _, w := range rd.List[i+1:] {
					t := by[[2]uint64{mop.Key, w}]
					if t == nil || t.Outcome == lin.Failed {
						continue
					}
					committed := "which committed at " + ms(time.Duration(t.Return))
					if t.Outcome == lin.Unknown {
						committed = "whose outcome its client never learned but which recovery kept, so it committed"
					}
					a.say("After recovery key %d holds %d, appended by the failed T%d, followed by %d, appended by T%d (client %d), %s: T%d's append rewrote the list on top of T%d's row version.",
						mop.Key, v, txn.ID, w, t.ID, t.Client, committed, t.ID, txn.ID)
					a.cause("a committed transaction read a row version of an aborted transaction and wrote on top of it",
						"HeapTupleSatisfiesMVCC shows a row version only if its inserting transaction committed (TransactionIdDidCommit on xmin); a read of an aborted one is Adya's G1a, and an update built on it makes the aborted write durable")
					return true
				}
			}
		}
	}
	return false
}

// checkpointWait: a checkpoint waited too long for commits in their
// critical section (DELAY_CHKPT_START).
func (a *account) checkpointWait(f *simtest.Finding) {
	m := a.m
	end := f.RedoAt + f.Waited
	redo := m.lastBefore(f.RedoAt, func(e *env.Event) bool { return e.Kind == env.EvCheckpointRedo })
	if redo != nil {
		a.mark(redo, "REDO taken; the wait begins")
	}
	still := ""
	if f.StillWaiting {
		still = ", and was still waiting at the end"
	}
	a.say("The checkpoint that took its REDO pointer at %s waited %s for the commits it saw in their critical section%s; without faults such a wait ends within a few milliseconds.",
		ms(f.RedoAt), ms(f.Waited), still)
	commits := map[int][]uint64{}
	m.each(f.RedoAt, end, func(e *env.Event) bool { return e.Kind == env.EvCommit }, func(e *env.Event) { commits[e.Pid] = append(commits[e.Pid], e.Xid) })
	pids := make([]int, 0, len(commits))
	for p := range commits {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	for _, p := range pids {
		x := commits[p]
		a.say("Meanwhile %s committed %s (xids %d..%d), each leaving its commit critical section.", m.who(p), plural(len(x), "transaction"), x[0], x[len(x)-1])
	}
	if len(pids) > 0 {
		a.cause("the checkpoint kept waiting after every critical section it saw had ended: it waited for the backends, not for those critical sections",
			"CreateCheckPoint waits only for the virtual transactions that were in a commit critical section when it took REDO (GetVirtualXIDsDelayingChkpt, then HaveVirtualXIDsDelayingChkpt on those VXIDs)")
		return
	}
	a.cause("the checkpoint's wait for commits in their critical section did not end", "a commit's critical section is one WAL flush and a clog update long")
}

// linearizability: porcupine found no order of the register history; the
// account names the acknowledged write the final read contradicts, and
// tells its commit's story.
func (a *account) linearizability() {
	r := a.res.Linearizability
	if r == nil {
		a.recovery()
		return
	}
	a.say("The register history is not linearizable: %s", r.Explanation)
	lost := a.lostRegisterWrite()
	if lost == nil {
		return
	}
	a.say("Client %d's write of key %d, acknowledged at %s, is missing from what the read after recovery returned.", lost.Client, lost.Key, ms(time.Duration(lost.Return)))
	a.lostCommit(lost.Client, time.Duration(lost.Call), time.Duration(lost.Return))
}

// lostRegisterWrite finds an acknowledged write that the read after
// recovery contradicts: it returned a value written (or there before)
// wholly before the write was called. Of those, the last acknowledged.
func (a *account) lostRegisterWrite() *lin.RegOp {
	h := a.res.History
	if h == nil {
		return nil
	}
	ops := h.Registers
	var lost *lin.RegOp
	for i := range ops {
		fin := &ops[i]
		if fin.Client != lin.FinalReader || fin.Kind != lin.RegRead {
			continue
		}
		// When the value read was written (0: the opening value or no
		// row): an acknowledged write called after that write began is
		// a candidate; one called after it returned must follow it.
		var writtenCall, writtenEnd int64
		for j := range ops {
			w := &ops[j]
			if w.Key == fin.Key && w.Outcome == lin.OK && (w.Kind == lin.RegWrite || w.Kind == lin.RegCAS && w.Swapped) && w.Value == fin.Result {
				writtenCall, writtenEnd = w.Call, w.Return
			}
		}
		var strict, loose *lin.RegOp
		for j := range ops {
			w := &ops[j]
			if w.Key != fin.Key || w.Outcome != lin.OK || !(w.Kind == lin.RegWrite || w.Kind == lin.RegCAS && w.Swapped) || w.Value == fin.Result {
				continue
			}
			if w.Call > writtenEnd && (strict == nil || w.Return > strict.Return) {
				strict = w
			}
			if w.Call > writtenCall && (loose == nil || w.Return > loose.Return) {
				loose = w
			}
		}
		switch {
		case strict != nil && (lost == nil || strict.Return > lost.Return):
			lost = strict
		case strict == nil && loose != nil && lost == nil:
			lost = loose
		}
	}
	return lost
}

// isolation: the list-append history shows an anomaly the level forbids.
func (a *account) isolation() {
	r := a.res.Isolation
	if r == nil || len(r.Forbidden) == 0 {
		a.recovery()
		return
	}
	f := r.Forbidden[0]
	a.say("At %s the list-append history shows %s: %s.", r.Level, f.Anomaly, f.Explanation)
	if len(r.Forbidden) > 1 {
		a.say("(%d more forbidden anomalies.)", len(r.Forbidden)-1)
	}
	switch f.Anomaly {
	case lin.G1a:
		a.cause("a transaction read a row version of an aborted transaction (an aborted read, G1a)",
			"HeapTupleSatisfiesMVCC shows a row version only if its inserting transaction committed (TransactionIdDidCommit on xmin)")
	case lin.G1b:
		a.cause("a transaction read an intermediate row version another transaction later overwrote (G1b)",
			"a snapshot sees only committed transactions' final row versions")
	case lin.LostUpdate:
		a.cause("two transactions updated the same row from the same snapshot and both committed (a lost update) where the second should have failed with 'could not serialize access due to concurrent update'",
			"at REPEATABLE READ, an UPDATE of a row that a concurrent transaction updated and committed fails with 'could not serialize access due to concurrent update' (40001)")
	case lin.GSingle, lin.GSingleRealtime, lin.Internal, lin.NonRepeatableRead:
		a.cause("a REPEATABLE READ transaction read or updated a row version newer than its snapshot instead of failing with 'could not serialize access due to concurrent update'",
			"at REPEATABLE READ every statement reads the transaction's one snapshot, and an UPDATE of a row that a concurrent transaction changed and committed fails with 'could not serialize access due to concurrent update' (40001)")
	case lin.GSIa:
		a.cause("a REPEATABLE READ transaction saw a transaction that began to commit only after its snapshot was taken (G-SIa, interference)",
			"a REPEATABLE READ transaction's snapshot, taken by its first statement (GetTransactionSnapshot), lists every transaction then running as in progress (GetSnapshotData's xip), and a transaction in progress stays invisible to it")
	case lin.GNonadjacent:
		a.cause("transactions' snapshots disagreed about which of several concurrent commits happened first (G-nonadjacent, e.g. a long fork: each of two readers saw a different one of two independent writes)",
			"every snapshot (GetSnapshotData) is one point in the commit order: it sees every transaction that committed before it and none after")
	case lin.G0, lin.G0Realtime:
		a.cause("two transactions' writes interleaved in a cycle (G0, dirty write)", "a row lock held to commit orders writers")
	case lin.G1c, lin.G1cRealtime:
		a.cause("transactions saw each other's writes in a cycle (G1c)", "each snapshot sees only transactions committed before it was taken")
	case lin.IncompatibleOrder:
		a.cause("two reads of one list saw orders of its appends that no single history explains: one of them saw an append that was later undone or never committed",
			"a snapshot sees only committed row versions, and a committed list only grows")
	default:
		a.cause(fmt.Sprintf("the history shows %s, which %s forbids", f.Anomaly, r.Level), "the anomaly's explanation above says which transactions saw what")
	}
}

// bank: a snapshot read of the accounts does not add up.
func (a *account) bank() {
	h := a.res.History
	if h == nil {
		a.recovery()
		return
	}
	var first, final *lin.BankRead
	sum := func(r *lin.BankRead) int64 {
		var s int64
		for _, b := range r.Balances {
			s += b
		}
		return s
	}
	want := int64(simtest.BankTotal)
	for i := range h.BankReads {
		r := &h.BankReads[i]
		if r.Client == lin.FinalReader {
			final = r
		}
	}
	for i := range h.BankReads {
		if r := &h.BankReads[i]; sum(r) != want && first == nil {
			first = r
		}
	}
	if first == nil {
		a.recovery()
		return
	}
	if first.Client == lin.FinalReader {
		a.say("The read of every account after recovery, at %s, added up to %d, not %d.", ms(time.Duration(first.Call)), sum(first), want)
	} else {
		a.say("Client %d's read of every account at %s added up to %d, not %d.", first.Client, ms(time.Duration(first.Call)), sum(first), want)
	}
	if final != nil && sum(final) != want {
		a.say("The accounts after recovery add up to %d: the imbalance was committed.", sum(final))
		if a.res.Finding != nil && a.res.Finding.Isolation == simtest.IsoRepeatableRead {
			a.cause("a committed transfer's update was lost at REPEATABLE READ: one of its UPDATEs worked from a row version its snapshot must not show (one of a transaction still in progress when its snapshot was taken, or of an aborted one), or overwrote a concurrent update instead of failing with a serialization failure (a lost update)",
				"a snapshot shows only the transactions committed before it was taken (GetSnapshotData's xip, XidInMVCCSnapshot; TransactionIdDidCommit), and an UPDATE of a row a concurrent transaction changed and committed fails with 'could not serialize access due to concurrent update' (40001)")
			return
		}
		a.cause("a committed transfer's update was lost: one of its UPDATEs did not apply to the newest version of its row although its transaction committed, or worked from a row version of an aborted transaction (a lost update)",
			"a READ COMMITTED UPDATE whose row was updated concurrently waits for that transaction and then updates the newest version of the row (EvalPlanQual, table_tuple_lock with TUPLE_LOCK_FLAG_FIND_LAST_VERSION), and no snapshot shows an aborted transaction's row versions")
		return
	}
	a.say("The accounts after recovery add up to %d: every committed transfer is whole, and the read alone saw a state that never existed.", want)
	a.cause("a snapshot saw part of a concurrent transfer: a transaction that was still in progress when the snapshot was taken became visible to it (read skew)",
		"a snapshot lists the transactions running when it was taken (GetSnapshotData's xip) and XidInMVCCSnapshot keeps their changes invisible even after they commit")
}

// recovery: recovery failed, or the self-check after it did, or another
// checker without a typed finding. The account is the crash and what
// recovery found; for a page that failed verification, who wrote it last
// and whether the write was durable at the crash.
func (a *account) recovery() {
	m := a.m
	for i := range m.evs {
		e := &m.evs[i]
		if e.Kind == env.EvPanic && e.Role != env.RoleStartup {
			a.say("%s raised a PANIC at %s: %s.", upperFirst(m.who(e.Pid)), ms(e.Time), e.Name)
			break
		}
	}
	inv := m.firstAfter(0, true, func(e *env.Event) bool { return e.Kind == env.EvPageInvalid })
	if inv == nil {
		if crash := m.crashAfter(0); crash != nil {
			a.say("The crash came at %s (%s).", ms(crash.Time), crash.Name)
			a.mark(crash, "crash")
			if end := m.firstAfter(crash.Time, true, func(e *env.Event) bool { return e.Kind == env.EvRecoveryEnd }); end != nil {
				a.say("Recovery replayed %s from %s to %s.", plural(int(end.A), "WAL record"), lsn(end.LSN), lsn(end.LSN2))
			}
		}
		a.controlFileUnsynced()
		return
	}
	a.mark(inv, "invalid page read")
	a.say("%s read block %d of relation %d at %s and found it invalid (its checksum or header did not verify).", upperFirst(m.who(inv.Pid)), inv.Block, inv.Rel, ms(inv.Time))
	at := inv.Time
	if rb := m.lastBefore(inv.Time, func(e *env.Event) bool { return e.Kind == env.EvRecoveryBegin }); rb != nil {
		at = rb.Time
	}
	// The crashes before the reading recovery, latest first.
	var crashes []*env.Event
	m.each(0, at, func(e *env.Event) bool { return e.Kind == env.EvCrash || e.Kind == env.EvRecoveryCrash }, func(e *env.Event) {
		crashes = append([]*env.Event{e}, crashes...)
	})
	if len(crashes) == 0 {
		return
	}
	// The page's writes as the disk saw them (a buffer write, a relation
	// extension: whatever covered its bytes), and its file's fsyncs. An
	// fsync at a crash's very instant is the operation the crash struck:
	// it did not complete.
	path := smgr.SegPath(smgr.RelFileNumber(inv.Rel), smgr.MainForkNum, inv.Block/smgr.DefaultSegBlocks)
	off := int64(inv.Block%smgr.DefaultSegBlocks) * page.BlockSize
	lastWrite := func(before time.Duration) *env.Event {
		return m.lastBefore(before, func(e *env.Event) bool {
			return e.Kind == env.EvDiskWrite && e.Name == path && e.A < off+page.BlockSize && e.A+e.B > off && e.Time < before
		})
	}
	syncAfter := func(w, crash *env.Event) *env.Event {
		return m.firstAfter(w.Time, true, func(e *env.Event) bool { return e.Kind == env.EvDiskSync && e.Name == path && e.Time <= crash.Time })
	}
	// The crash that caught the page's last write unsynced: the latest
	// such, going back while the page was not rewritten and made durable
	// since (a later fsync, SyncDataDirectory's at startup, only makes
	// what a crash left durable).
	var crash, w, sync *env.Event
	for i, c := range crashes {
		cw := lastWrite(c.Time)
		if cw == nil {
			break
		}
		cs := syncAfter(cw, c)
		if cs == nil || !m.syncedBy(cs, c.Time) {
			crash, w, sync = c, cw, cs
			break
		}
		if i+1 < len(crashes) && cw.Time > crashes[i+1].Time {
			a.say("%s last wrote it at %s, and %s was fsynced before the crash at %s (%s).", upperFirst(m.who(cw.Pid)), ms(cw.Time), path, ms(c.Time), c.Name)
			return
		}
	}
	if crash == nil {
		a.say("No crash caught a write of that page unsynced.")
		return
	}
	a.mark(crash, "crash")
	pageLSN := ""
	if bw := m.firstAfter(w.Time, true, func(e *env.Event) bool {
		return e.Kind == env.EvBufferWrite && e.Pid == w.Pid && e.Rel == inv.Rel && e.Block == inv.Block
	}); bw != nil && bw.Time <= crash.Time {
		pageLSN = fmt.Sprintf(" (pd_lsn %s)", lsn(bw.LSN))
	}
	a.mark(w, "page written, not fsynced")
	fsynced := "no fsync of the file followed before the crash"
	if sync != nil {
		fsynced = "the crash struck while " + m.who(sync.Pid) + " was fsyncing the file"
	}
	mode := a.crashMode(crash)
	a.say("%s had written it to %s at %s%s, and %s at %s (%s), which left that unsynced write %s.",
		upperFirst(m.who(w.Pid)), path, ms(w.Time), pageLSN, fsynced, ms(crash.Time), crash.Name, crashModeWords(mode))
	if mode != fault.ModeTorn {
		return
	}
	// Where the reading recovery's redo started, and whether the read
	// was redo's own or came after redo ended (the self-check).
	rb := m.lastBefore(inv.Time, func(e *env.Event) bool { return e.Kind == env.EvRecoveryBegin && e.Pid == inv.Pid })
	if rb == nil {
		return
	}
	re := m.firstAfter(rb.Time, true, func(e *env.Event) bool { return e.Kind == env.EvRecoveryEnd && e.Pid == inv.Pid && e.Time <= inv.Time })
	if re == nil {
		a.say("Redo (from REDO %s) read the page from disk rather than restoring it whole from a full-page image: the WAL record it was replaying carried none for it.", lsn(rb.LSN))
		a.cause("a page torn by the crash could not be repaired, because its first change after the checkpoint logged no full-page image",
			"with full_page_writes = on, the first change of a page after a checkpoint logs the whole page (XLogInsert's backup block), and redo overwrites a torn page with it")
		return
	}
	a.say("Redo (from REDO %s to %s, done at %s) never rewrote the page: no WAL record from REDO on restored it whole.", lsn(re.LSN), lsn(re.LSN2), ms(re.Time))
	a.cause("a page torn by the crash was never repaired, because the change written to it after the checkpoint logged no full-page image",
		"every change that reaches a page after a checkpoint must be restorable by redo: the first WAL-logged change logs the whole page (full_page_writes), and with data checksums so does the first hint-bit change (MarkBufferDirtyHint, XLogSaveBufferForHint)")
}

// controlFileUnsynced tells of the first crash that struck between a
// control file write and the end of its fsync (update_controlfile), and
// what the crash kept of that write: one sector is kept or lost whole, a
// write of two can come back half old, half new.
func (a *account) controlFileUnsynced() {
	m := a.m
	for i := range m.evs {
		crash := &m.evs[i]
		if crash.Kind != env.EvCrash && crash.Kind != env.EvRecoveryCrash {
			continue
		}
		w := m.lastBefore(crash.Time, func(e *env.Event) bool { return e.Kind == env.EvDiskWrite && e.Name == db.ControlPath })
		if w == nil {
			continue
		}
		if s := m.firstAfter(w.Time, true, func(e *env.Event) bool {
			return e.Kind == env.EvDiskSync && e.Name == db.ControlPath && e.Time <= crash.Time
		}); s != nil && m.syncedBy(s, crash.Time) {
			continue
		}
		mode := a.crashMode(crash)
		a.mark(w, "control file written, not fsynced")
		a.say("%s had written the control file (%d bytes at offset %d) at %s, and the crash at %s (%s) struck before its fsync completed, which left that unsynced write %s.",
			upperFirst(m.who(w.Pid)), w.B, w.A, ms(w.Time), ms(crash.Time), crash.Name, crashModeWords(mode))
		if mode == fault.ModeTorn && w.B > world.DiskSectorSize {
			a.cause("a power loss tore the control file between its sectors, and the startup process believed the mix of two versions (a checkpoint location from one, its REDO pointer from the other)",
				"ControlFileData must fit one 512-byte sector (PG_CONTROL_MAX_SAFE_SIZE) so that its update is atomic, and ReadControlFile must refuse a control file whose CRC does not match (\"incorrect checksum in control file\")")
		}
		return
	}
}

// crashMode is what crash kept of unsynced writes: the mode of the
// plan's crash fault that caused it (the fault event at the crash's
// instant names its number in the plan, which the run's config holds),
// else the run's own crash mode.
func (a *account) crashMode(crash *env.Event) string {
	f := a.m.lastBefore(crash.Time, func(e *env.Event) bool {
		return e.Kind == env.EvFault && e.Time == crash.Time && fault.ActionKind(e.B) == fault.ActCrash
	})
	if f != nil {
		if p, err := fault.Parse(a.res.Plan); err == nil && f.A >= 1 && int(f.A) <= len(p.Faults) {
			if mode := p.Faults[f.A-1].Action.Mode; mode != "" {
				return mode
			}
		}
	}
	return a.res.CrashMode
}

// crashModeWords says what a crash mode did to unsynced writes.
func crashModeWords(mode string) string {
	switch mode {
	case fault.ModeTorn:
		return "torn (each 512-byte sector kept or lost on its own, so the page can be half old, half new)"
	case fault.ModeDropAll:
		return "lost"
	case fault.ModeRandomSubset:
		return "kept or lost as a whole"
	}
	return "to the crash mode " + mode
}
