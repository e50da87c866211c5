package explain

import (
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest"
)

// standby is the account of a standby checker failure (simtest's
// standby.go): a standby made from a base backup of the primary did not
// catch up with the recovered primary's WAL, or, caught up and opened,
// did not hold the primary's rows. The events of the standby nodes are in
// the trace beside the primary's; this slice's account says what the
// checker found and which rule it judged, not yet which record diverged.
func (a *account) standby(f *simtest.Finding) {
	where := ""
	if f.Table != "" {
		where = " in table " + f.Table
	}
	if f.MinRecoveryPoint {
		a.say("Standby %s restarted mid-workload (killed, or its machine lost power) and, starting again from its disk, called itself consistent having replayed only to %s, while its disk held data pages changed up to %s.", f.Node, wal.LSN(f.StandbyWAL), wal.LSN(f.PageLSN))
		a.cause("a restarted standby was consistent before it had replayed past the pages on its disk",
			"during archive recovery XLogFlush moves minRecoveryPoint in the control file past a page's LSN before the page is written (UpdateMinRecoveryPoint), and a restarted standby is consistent, may serve reads or be promoted, only once it has replayed to minRecoveryPoint (CheckRecoveryConsistency)")
		return
	}
	a.say("Standby %s, made from a base backup of the primary, disagreed with the primary%s: %s.", f.Node, where, f.Detail)
	if f.StandbyAhead {
		a.say("During the workload the standby wrote WAL up to %s into its pg_wal while the primary had flushed its WAL only to %s.", wal.LSN(f.StandbyWAL), wal.LSN(f.PrimaryWAL))
		a.cause("WAL was streamed to the standby before it was durable on the primary",
			"a WAL sender sends only WAL the primary has flushed (WalSndWaitForWal's GetFlushRecPtr), so that no standby ever holds WAL a crash of the primary can take back")
		return
	}
	if f.StandbyWAL > f.PrimaryWAL && f.PrimaryWAL != 0 {
		a.say("When the workload stopped, the standby's WAL receiver had written WAL up to %s, but the primary's recovery found its WAL ended at %s: the standby held WAL the primary's power loss took back.",
			wal.LSN(f.StandbyWAL), wal.LSN(f.PrimaryWAL))
		a.cause("WAL was streamed to the standby before it was durable on the primary",
			"a WAL sender sends only WAL the primary has flushed (WalSndWaitForWal's GetFlushRecPtr), so that no standby ever holds WAL a crash of the primary can take back")
		return
	}
	a.cause("a standby's replay of the primary's streamed WAL did not reproduce the primary's committed state",
		"a standby's data directory is the base backup plus the redo of every WAL record from the backup's start point, and the primary streams only WAL it has flushed (WalSndWaitForWal), so once the standby has replayed up to the primary's flushed WAL it holds exactly the primary's committed rows")
}

// standbyWALBeforeData is the wal-before-data account of a page a standby
// wrote (the Finding names the standby): the standby's own events are
// stamped with its own clock, so the account does not weave them into the
// primary's timeline; it says what the checker saw and the rule.
func (a *account) standbyWALBeforeData(f *simtest.Finding) {
	if f.MinRecoveryPoint {
		a.say("Standby %s moved minRecoveryPoint in its control file to %s while its WAL below that LSN was not durable on its disk: its startup process had replayed that far.", f.Node, wal.LSN(f.PageLSN))
		a.cause("the standby replayed WAL before its WAL receiver had flushed it",
			"a standby's startup process replays only WAL its receiver has fsynced (XLogPageRead reads up to flushedUpto), and minRecoveryPoint moves only to the end of what it replayed, so a page written under it has its WAL durable on the standby first, the write-ahead rule on a standby")
		return
	}
	a.say("Standby %s wrote %s with pd_lsn %s during redo, while the standby's WAL below that LSN was not durable on its disk.", f.Node, pageName(f), wal.LSN(f.PageLSN))
	a.cause("the standby replayed WAL before its WAL receiver had flushed it",
		"a standby's startup process replays only WAL its receiver has fsynced (XLogPageRead reads up to flushedUpto), so that every page its background writer, checkpointer or startup process writes has its WAL durable on the standby first, the write-ahead rule on a standby")
}
