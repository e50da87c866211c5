package explain

import "github.com/pgdst/pgdst/simtest"

// syncRep is the account of a sync-rep durability failure (simtest's
// syncrep.go): a commit acknowledged before its synchronous standbys
// held it at the level synchronous_commit asks for, or lost by a
// failover to a standby that every quorum includes.
func (a *account) syncRep(f *simtest.Finding) {
	if f.Writes > 0 {
		a.say("After the failover, the promoted standby lacked a commit the old primary acknowledged under synchronous replication: %s.", f.Detail)
	} else {
		a.say("The primary acknowledged a commit its synchronous standbys did not yet hold at the level asked for: %s.", f.Detail)
	}
	a.cause("a sync-rep waiter was released before its standbys confirmed its commit",
		"SyncRepReleaseWaiters moves each wait mode's released position to what the synchronous standbys reported for that mode (write for remote_write, flush for on, apply for remote_apply; SyncRepGetSyncRecPtr), and SyncRepWakeQueue wakes only the waiters of that mode the position passes, so an acknowledged commit is on n synchronous standbys at that level")
}
