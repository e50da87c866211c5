package explain

import (
	"strings"

	"github.com/pgdst/pgdst/simtest"
)

// standbyReads is the account of a standby-read checker failure
// (simtest's standby_reads.go): a read-only transaction on a hot standby
// saw something other than the effects of a prefix of the primary's
// commit order, or a write succeeded there.
func (a *account) standbyReads(f *simtest.Finding) {
	a.say("A read on hot standby %s between %v and %v: %s.", f.Node, f.Call, f.Return, f.Detail)
	switch {
	case strings.Contains(f.Detail, "25006"):
		a.cause("a write succeeded on a hot standby",
			"every transaction that begins during recovery is read-only (StartTransaction's XactReadOnly), and a write in it fails with 25006 (PreventCommandIfReadOnly)")
	case strings.Contains(f.Detail, "visible twice") || strings.Contains(f.Detail, "the scan saw"):
		a.cause("a standby snapshot counted a running transaction as finished (KnownAssignedXids), or row versions it needed were removed under it (ResolveRecoveryConflictWithSnapshot)",
			"a hot standby counts running every xid the primary may still run: each replayed record's xid and every xid between the last one observed and it (RecordKnownAssignedTransactionIds into KnownAssignedXids); a reader's abort hint on a running transaction's rows hides them for good. And a removal of row versions waits for, or cancels, the standby snapshots that may still need them (ResolveRecoveryConflictWithSnapshot)")
	default:
		a.cause("a standby read is not a prefix of the primary's commit order: its snapshot missed a running xid (KnownAssignedXids), or row versions it needed were removed under it (ResolveRecoveryConflictWithSnapshot)",
			"a standby snapshot is xmax = latestCompletedXid + 1 with every known-assigned xid below it in progress (GetSnapshotData in recovery, KnownAssignedXids): a transaction whose first record comes after a later xid's must count as running, and no row version a snapshot needs may be removed under it (ResolveRecoveryConflictWithSnapshot)")
	}
}
