package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// These tests give each checker whose account lives in checkers.go a
// hand-made failing Result and the events of the moments it rests on (a
// real run of each is in mutants_test.go where one is cheap): the account
// must name the mechanism the events show, and a different order of the
// same events must name another or none.

func at(msec float64) time.Duration { return time.Duration(msec * float64(time.Millisecond)) }

// recorderOf feeds evs to a new Recorder, after spawning the processes
// named in procs (pid -> role).
func recorderOf(procs map[int]env.Role, evs ...env.Event) *Recorder {
	rec := NewRecorder()
	for pid := 1; pid <= 20; pid++ {
		if r, ok := procs[pid]; ok {
			rec.Observe(env.Event{Kind: env.EvSpawn, A: int64(pid), Role2: r, Name: r.String()})
		}
	}
	for _, e := range evs {
		rec.Observe(e)
	}
	return rec
}

func failed(checker string, f simtest.Finding) *simtest.Result {
	f.Checker = checker
	return &simtest.Result{Seed: 7, Checker: checker, Finding: &f, Failures: []string{checker + ": (not read by explain)"}}
}

const seg3 = "000000010000000000000003"

// archiveEvents is the archiver's life of segment 3: notified, copied,
// fsynced (unless noSync), renamed into place, marked done; then a crash.
func archiveEvents(noSync bool) []env.Event {
	evs := []env.Event{
		{Kind: env.EvDiskWrite, Time: at(1), Pid: 3, Class: env.FileWAL, Name: "pg_wal/" + seg3, A: 0, B: 8192},
		{Kind: env.EvDiskSync, Time: at(2), Pid: 3, Class: env.FileWAL, Name: "pg_wal/" + seg3},
		{Kind: env.EvDiskOpen, Time: at(3), Pid: 3, Class: env.FileArchive, Name: "pg_wal/archive_status/" + seg3 + ".ready"},
		{Kind: env.EvDiskOpen, Time: at(4), Pid: 5, Class: env.FileArchive, Name: "archive/" + seg3 + ".tmp"},
		{Kind: env.EvDiskWrite, Time: at(5), Pid: 5, Class: env.FileArchive, Name: "archive/" + seg3 + ".tmp", B: 8192},
	}
	if !noSync {
		evs = append(evs, env.Event{Kind: env.EvDiskSync, Time: at(6), Pid: 5, Class: env.FileArchive, Name: "archive/" + seg3 + ".tmp"},
			env.Event{Kind: env.EvDiskRead, Time: at(6.5), Pid: 5, Class: env.FileArchive, Name: "archive/" + seg3 + ".tmp"})
	}
	return append(evs,
		env.Event{Kind: env.EvDiskRename, Time: at(7), Pid: 5, Class: env.FileArchive, Name: "archive/" + seg3 + ".tmp", Name2: "archive/" + seg3},
		env.Event{Kind: env.EvDiskSyncDir, Time: at(8), Pid: 5, Class: env.FileOther, Name: "archive"},
		env.Event{Kind: env.EvDiskRename, Time: at(9), Pid: 5, Class: env.FileArchive, Name: "pg_wal/archive_status/" + seg3 + ".ready", Name2: "pg_wal/archive_status/" + seg3 + ".done"},
		env.Event{Kind: env.EvCrash, Time: at(12), Name: "power loss"},
	)
}

var archiveProcs = map[int]env.Role{3: env.RoleWalwriter, 5: env.RoleArchiver}

func TestExplainArchiveDoneBeforeFsync(t *testing.T) {
	res := failed(simtest.CheckArchive, simtest.Finding{Archive: simtest.ArchiveRecoveredDoneBadCopy, Segment: seg3, Copy: simtest.CopyIncomplete})
	res.CrashMode = "drop-all"
	a := Explain(res, recorderOf(archiveProcs, archiveEvents(true)...))
	t.Log(a)
	require.Equal(t, "The archiver marked segment "+seg3+" done before its copy was fsynced; the crash at 12.000 ms then lost the copy.", a.Mechanism)
	require.Contains(t, a.Text, "No fsync of the copy followed before it was marked done.")

	// The copy fsynced before the .done: not that mechanism.
	a = Explain(res, recorderOf(archiveProcs, archiveEvents(false)...))
	require.NotContains(t, a.Mechanism, "before its copy was fsynced", a.Text)
	require.Contains(t, a.Text, "It fsynced the copy at 6.000 ms.")
}

func TestExplainArchiveReadyEarlyAndRemovedUnarchived(t *testing.T) {
	evs := archiveEvents(false)
	a := Explain(failed(simtest.CheckArchive, simtest.Finding{Archive: simtest.ArchiveReadyEarly, Segment: seg3}), recorderOf(archiveProcs, evs...))
	t.Log(a)
	require.Equal(t, "Segment "+seg3+" was notified for archiving before it was complete, so the archiver copies a partial segment.", a.Mechanism)
	require.Contains(t, a.Text, "the segment's last fsync before it was at 2.000 ms")

	rm := []env.Event{{Kind: env.EvDiskRemove, Time: at(5), Pid: 4, Class: env.FileWAL, Name: "pg_wal/" + seg3}}
	a = Explain(failed(simtest.CheckArchive, simtest.Finding{Archive: simtest.ArchiveRemovedNotDone, Segment: seg3}),
		recorderOf(map[int]env.Role{4: env.RoleCheckpointer}, rm...))
	t.Log(a)
	require.Equal(t, "Segment "+seg3+" was removed from pg_wal before the archiver had archived it.", a.Mechanism)
	require.Contains(t, a.Text, "The checkpointer p4 removed "+seg3+" from pg_wal at 5.000 ms.")
}

func TestExplainLockWakeup(t *testing.T) {
	procs := map[int]env.Role{8: env.RoleBackend, 9: env.RoleBackend}
	evs := []env.Event{
		{Kind: env.EvLockWait, Time: at(10), Pid: 9, Xid: 57, A: 2, B: 1},
		{Kind: env.EvLockRelease, Time: at(11), Pid: 8, Xid: 57, A: 0},
		{Kind: env.EvLockWaitEnd, Time: at(1011), Pid: 9, Xid: 57, A: 2},
	}
	f := simtest.Finding{Pid: 9, Xid: 57, Since: at(10), Released: at(11), At: at(1011), Woke: true, Late: at(1000), Limit: at(10)}
	a := Explain(failed(simtest.CheckLockWakeup, f), recorderOf(procs, evs...))
	t.Log(a)
	require.Equal(t, "The release of transaction 57's lock did not wake the backend sleeping on it (a lost wakeup).", a.Mechanism)
	require.Contains(t, a.Text, "Backend p8 released that lock at 11.000 ms, counting 0 backends asleep on it.")
	require.Contains(t, a.Text, "woke only at 1011.000 ms: 1000.000 ms after the release")
}

func TestExplainLockRetry(t *testing.T) {
	procs := map[int]env.Role{8: env.RoleBackend, 9: env.RoleBackend}
	evs := []env.Event{
		{Kind: env.EvLockWait, Time: at(10), Pid: 9, Xid: 57, A: 2, B: 1},
		{Kind: env.EvLockRelease, Time: at(11), Pid: 8, Xid: 57, A: 1},
		{Kind: env.EvLockWaitEnd, Time: at(11.5), Pid: 9, Xid: 57, A: 2},
		{Kind: env.EvLockWait, Time: at(12), Pid: 9, Xid: 57, A: 2},
		{Kind: env.EvCommit, Time: at(13), Pid: 8, Xid: 57, LSN: 0x1A28},
	}
	f := simtest.Finding{Pid: 9, Backend: 2, Xid: 57, At: at(12), Waits: 1, Baseline: 0}
	a := Explain(failed(simtest.CheckLockRetry, f), recorderOf(procs, evs...))
	t.Log(a)
	require.Equal(t, "Transaction 57 released its lock before its commit was recorded, so its waiter saw it still in progress and waited again, in a loop.", a.Mechanism)
	require.Contains(t, a.Text, "a backend in a fault-free run never waits again for a transaction it saw end")

	// The commit before the release: the loop is the waiter's own.
	evs[1].Time, evs[4].Time = at(13), at(11)
	a = Explain(failed(simtest.CheckLockRetry, f), recorderOf(procs, evs[0], evs[4], evs[2], evs[3], evs[1]))
	require.Equal(t, "The backend kept waiting for transaction 57 after it had ended.", a.Mechanism, a.Text)
}

func TestExplainClientProgress(t *testing.T) {
	procs := map[int]env.Role{2: env.RoleClient, 8: env.RoleBackend, 9: env.RoleBackend}
	evs := []env.Event{
		{Kind: env.EvNetWrite, Time: at(1), Pid: 2, Role: env.RoleClient, A: 77},
		{Kind: env.EvNetRead, Time: at(1), Pid: 9, Role: env.RoleBackend, A: 77},
		{Kind: env.EvLockWait, Time: at(10), Pid: 9, Xid: 57, A: 2, B: 1},
		{Kind: env.EvLockRelease, Time: at(11), Pid: 8, Xid: 57, A: 1},
	}
	f := simtest.Finding{Client: 0, Gap: at(900), At: at(905), Limit: at(500)}
	a := Explain(failed(simtest.CheckProgress, f), recorderOf(procs, evs...))
	t.Log(a)
	require.Equal(t, "Client 0's backend slept on transaction 57's lock after it was released, and nothing woke it.", a.Mechanism)

	// No lock sleep in the silence: the stall has no named holder.
	a = Explain(failed(simtest.CheckProgress, f), recorderOf(procs, evs[:2]...))
	require.Equal(t, "The server left client 0 without a reply for 900.000 ms although no fault held it up.", a.Mechanism, a.Text)
}

func TestExplainHintBeforeCommit(t *testing.T) {
	procs := map[int]env.Role{2: env.RoleClient, 8: env.RoleBackend, 6: env.RoleBgwriter}
	evs := []env.Event{
		{Kind: env.EvWALFlush, Time: at(1), Pid: 8, LSN: 0x1A00},
		{Kind: env.EvCommit, Time: at(2), Pid: 8, Xid: 57, LSN: 0x1A28},
		{Kind: env.EvCommitAck, Time: at(2.1), Pid: 8, Xid: 57, LSN: 0x1A28},
		{Kind: env.EvDiskWrite, Time: at(3), Pid: 6, Class: env.FileHeap, Name: "base/16385", A: 8192, B: 8192},
	}
	f := simtest.Finding{Path: "base/16385", FileBlock: 1, PageLSN: 0x1900, WALDurable: 0x1A00, Tuple: 4, Hint: "xmin", Xid: 57, CommitLSN: 0x1A28}
	a := Explain(failed(simtest.CheckHintBeforeCommit, f), recorderOf(procs, evs...))
	t.Log(a)
	require.Equal(t, "A hint bit marked asynchronously committed xid 57 committed on a page written before its commit record was durable.", a.Mechanism)
	require.Contains(t, a.Text, "The background writer p6 at 3.000 ms wrote block 1 of base/16385 (pd_lsn 0/1900) with tuple 4's xmin marked committed by xid 57")
	require.Contains(t, a.Text, "synchronous_commit = off")
}

func TestExplainSelfCheck(t *testing.T) {
	for _, tc := range []struct {
		f         simtest.Finding
		mechanism string
	}{
		{simtest.Finding{Self: simtest.SelfBufferCoherence, Detail: "clean buffer 3 (rel 16385 blk 0) changed since it was last read or written, without MarkBufferDirty"},
			"A page in shared buffers was changed without MarkBufferDirty, so eviction or a checkpoint would drop the change."},
		{simtest.Finding{Self: simtest.SelfRootDescend, Table: "hw", Key: 300},
			"A B-tree search from the root missed a key the leaf level holds."},
		{simtest.Finding{Self: simtest.SelfIndexHeap, Table: "hw", Code: "XX002"},
			"The heap's visible rows and the index's entries disagree after recovery."},
		{simtest.Finding{Self: simtest.SelfIndexStructure, Table: "hw"},
			"The index's B-tree structure was broken after recovery."},
		{simtest.Finding{Self: simtest.SelfPageContents, Table: "hw", Code: "XX001"},
			"A page on disk carries a change whose WAL or commit recovery did not find: written before its WAL, or hinted before its commit was durable."},
	} {
		a := Explain(failed(simtest.CheckSelf, tc.f), NewRecorder())
		require.Equal(t, tc.mechanism, a.Mechanism, tc.f.Self)
	}
	// A page written ahead of durable WAL names WAL-before-data.
	evs := []env.Event{
		{Kind: env.EvWALFlush, Time: at(1), Pid: 8, LSN: 0x1A00},
		{Kind: env.EvBufferWrite, Time: at(2), Pid: 8, Rel: 16385, Block: 2, LSN: 0x1B00},
	}
	a := Explain(failed(simtest.CheckSelf, simtest.Finding{Self: simtest.SelfPageContents, Table: "hw", Code: "XX001"}), recorderOf(map[int]env.Role{8: env.RoleBackend}, evs...))
	require.Equal(t, "A data page was written before the WAL up to its LSN was durable.", a.Mechanism, a.Text)
}

func TestExplainRecoveryAndLiveness(t *testing.T) {
	evs := []env.Event{
		{Kind: env.EvCrash, Time: at(5), Name: "power loss"},
		{Kind: env.EvRecoveryBegin, Time: at(6), Pid: 11, LSN: 0x1000},
		{Kind: env.EvPanic, Time: at(7), Pid: 11, Role: env.RoleStartup, Name: "invalid record length at 0/1A28"},
	}
	a := Explain(failed(simtest.CheckRecovery, simtest.Finding{Stage: simtest.StageRecovery, Detail: "startup: invalid record length"}), recorderOf(map[int]env.Role{11: env.RoleStartup}, evs...))
	t.Log(a)
	require.Equal(t, "Recovery could not replay the WAL the crash left.", a.Mechanism)
	require.Contains(t, a.Text, "The last redo began at 6.000 ms from REDO 0/1000 in the startup process p11 and never finished. It raised a PANIC at 7.000 ms")

	a = Explain(failed(simtest.CheckLiveness, simtest.Finding{Stage: simtest.StageWorkloadStopped, Stop: "deadlock", Detail: "p3 waits for lock X"}), NewRecorder())
	require.True(t, strings.HasSuffix(a.Mechanism, "the server's processes deadlocked."), a.Mechanism)
	a = Explain(failed(simtest.CheckLiveness, simtest.Finding{Stage: simtest.StageEnginePanic, Proc: "checkpointer", Detail: "buffer: pin count underflow"}), NewRecorder())
	require.Equal(t, "An engine invariant broke: checkpointer's assertion failed.", a.Mechanism)
}

// TestEveryCheckerHasAnAccount: every checker the harness can fail a run
// with has an account of its own (a failure with its typed Finding names
// a mechanism through its own code, not the generic recovery account's).
func TestEveryCheckerHasAnAccount(t *testing.T) {
	for _, c := range simtest.CheckerNames() {
		_, ok := ownAccount[c]
		require.True(t, ok, "checker %q has no account in explain (add it to Explain and to ownAccount)", c)
	}
}

// TestExplainEngineErrorFromFinding: an engine error is told from its
// Finding's SQLSTATE, not from its words.
func TestExplainEngineErrorFromFinding(t *testing.T) {
	f := simtest.Finding{Client: 1, Stage: "update range", Table: "hw", Return: at(5), Code: "55000", Detail: "tuple concurrently gone (SQLSTATE 55000)"}
	a := Explain(failed(simtest.CheckEngineError, f), NewRecorder())
	require.Equal(t, "A statement asked heap_update or heap_delete to change a version its own command may not see.", a.Mechanism)
	require.Contains(t, a.Text, "Client 1's update range on hw at 5.000 ms received the error")
	f.Code = "XX000"
	a = Explain(failed(simtest.CheckEngineError, f), NewRecorder())
	require.Equal(t, "The engine raised an internal error (SQLSTATE XX000): one of its invariants broke.", a.Mechanism)
}
