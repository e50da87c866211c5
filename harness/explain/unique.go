package explain

import (
	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// unique: a key inserted by two acknowledged transactions, or shown twice
// by the final scan after recovery.
func (a *account) unique(f *simtest.Finding) {
	if f.Other == nil {
		a.say("The final scan of table %s after recovery shows key %d twice: two versions of one row are visible to one snapshot.", f.Table, f.Key)
		a.recovery()
		a.cause("two versions of one row are visible at once",
			"HeapTupleSatisfiesMVCC shows at most one version of a row to a snapshot: the older version's xmax (its update or delete) must be seen as committed whenever the newer version's xmin is, and a version whose inserter aborted must never be seen")
		return
	}
	o := f.Other
	a.say("Key %d of table %s was inserted by client %d's transaction %d, acknowledged at %s, and again by client %d's transaction %d, called at %s and acknowledged at %s: the second insert should have failed with unique_violation.",
		f.Key, f.Table, f.Client, f.Txn, ms(f.Return), o.Client, o.Txn, ms(o.Call), ms(o.Return))
	m := a.m
	backends := m.backendsOf(f.Client)
	ack := m.lastBefore(f.Return, func(e *env.Event) bool {
		return e.Kind == env.EvCommitAck && e.Time >= f.Call && backends[e.Pid]
	})
	if ack != nil {
		if st := a.res.XidStatus; ack.Xid < uint64(len(st)) && clog.Status(st[ack.Xid]) != clog.Committed {
			a.say("The first committed as xid %d (commit record ending at %s); after recovery the clog says it is %s.", ack.Xid, lsn(ack.LSN), statusName(clog.Status(st[ack.Xid])))
			a.cause("the first inserter's commit status was lost from the clog, so the second insert took its row for an aborted one",
				"_bt_check_unique waits for the conflicting inserter and raises unique_violation when it committed (TransactionIdDidCommit), so every commit must stay in the clog (TransactionIdSetTreeStatus)")
			return
		}
		a.say("The first committed as xid %d (commit record ending at %s).", ack.Xid, lsn(ack.LSN))
	}
	a.cause("the second insert did not see the first, committed, inserter of its key",
		"_bt_check_unique must find every live index entry of the key and wait for its inserter (XactLockTableWait), then raise unique_violation if it committed")
}
