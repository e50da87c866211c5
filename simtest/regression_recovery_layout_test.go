package simtest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegressionRecoveryLayoutSeed54 keeps the seed on which the aimed plan
// of the planted bug fsync-retry failed without the bug (issue 16, after
// the WAL-order fix and PostgreSQL 15's recovery layout were merged):
//
//	pgdst run --seed 54 --fault 'fsync-eio when file=heap and role=checkpointer' \
//	  --fault 'crash mode=drop-all when role=checkpointer and point=checkpointer-after-control#2'
//
// The checkpointer's fsync of base/16385 failed at 126.2 ms and the
// simulated kernel dropped the file's unsynced pages, all of them: the
// file was empty on the medium. The disk model also shrank the file to
// that durable length. Before the postmaster's crash-restart killed it
// (126.7 ms), backend 1 needed a new page: smgrnblocks said 0, so it
// extended the table at block 0 and logged its insert with
// XLOG_HEAP_INIT_PAGE at 0/16C58. Block 0 still held the rows committed at
// 95 ms in WAL; redo replayed them and then that record, which
// reinitialised the page and wiped them. The end-of-recovery checkpoint
// made the wiped page durable and moved REDO past the rows' records, so
// the power loss only revealed a loss that redo had already made (the plan
// without its second fault failed the same way). Linux keeps a file's size
// (i_size) across a writeback error on ext4 and XFS; the disk now does too.
func TestRegressionRecoveryLayoutSeed54(t *testing.T) {
	c := DefaultConfig(54)
	pinVarietyOff(&c) // the seed's shape when the bug was found
	c.Faults = "fsync-eio when file=heap and role=checkpointer\n" +
		"crash mode=drop-all when role=checkpointer and point=checkpointer-after-control#2"
	r := Run(c)
	require.True(t, r.OK, "%v\n%s", r.Failures, r.Summary())
	// The run still goes through the story above: the failed fsync's
	// PANIC and crash-restart, then the power loss after the
	// end-of-recovery checkpoint's control file update.
	require.Equal(t, 2, r.FaultsApplied, "%s", r.Summary())
	require.Len(t, r.CrashRestarts, 1)
	require.Contains(t, r.CrashRestarts[0], `could not fsync file "base/16385"`)
	require.Equal(t, "power-loss", r.CrashKind)
	require.True(t, strings.Contains(r.CrashDetail, "checkpointer-after-control#2"), r.CrashDetail)
}
