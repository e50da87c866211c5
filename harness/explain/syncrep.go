package explain

import "github.com/pgdst/pgdst/simtest"

// syncRep is the account of a sync-rep durability failure (simtest's
// syncrep.go): a commit acknowledged before its synchronous standbys
// held it at the level synchronous_commit asks for, or lost by a
// failover to a standby that every quorum includes.
func (a *account) syncRep(f *simtest.Finding) {
	if f.Node != "" {
		// The remote_apply half (simtest's syncrep_apply_read.go): only
		// its findings name the standby read.
		a.say("A client read its own acknowledged commit back on the synchronous standby and did not find it: %s.", f.Detail)
		a.cause("a commit the standby had applied was not visible to a read on the standby begun after the remote_apply acknowledgement",
			"with synchronous_commit = remote_apply the waiter is released only once the standby reported the commit record replayed (its apply position, GetXLogReplayRecPtr), and replay makes the commit visible to every later standby snapshot before that position moves: xact_redo_commit's ExpireTreeKnownAssignedTransactionIds removes the xid from KnownAssignedXids and advances latestCompletedXid (MaintainLatestCompletedXidRecovery), the snapshot's xmax")
		return
	}
	if f.Writes > 0 {
		a.say("After the failover, the promoted standby lacked a commit the old primary acknowledged under synchronous replication: %s.", f.Detail)
	} else {
		a.say("The primary acknowledged a commit its synchronous standbys did not yet hold at the level asked for: %s.", f.Detail)
	}
	a.cause("a sync-rep waiter was released before its standbys confirmed its commit",
		"SyncRepReleaseWaiters moves each wait mode's released position to what the synchronous standbys reported for that mode (write for remote_write, flush for on, apply for remote_apply; SyncRepGetSyncRecPtr), and SyncRepWakeQueue wakes only the waiters of that mode the position passes, so an acknowledged commit is on n synchronous standbys at that level")
}
