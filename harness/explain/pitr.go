package explain

import (
	"strings"

	"github.com/pgdst/pgdst/simtest"
)

// pitr is the account of a point-in-time recovery failure
// (simtest/pitr.go): the restored node did not hold exactly the effects
// of the commits before its target, did not reach it, or ended on a
// timeline that branched off somewhere else.
func (a *account) pitr(f *simtest.Finding) {
	where := ""
	if f.Table != "" {
		where = " in table " + f.Table
	}
	a.say("A base backup restored from the archive on node %s disagreed with the primary's WAL cut at its target%s: %s.", f.Node, where, f.Detail)
	// A restore to a time target that reached it but branched off
	// elsewhere, or holds other rows, stopped at the wrong record (a
	// restore across a failover included).
	if strings.Contains(f.Detail, simtest.PITRTimeTarget) && (strings.Contains(f.Detail, "history has switch points") || f.Table != "") {
		a.cause("archive recovery did not stop at the first transaction end past the recovery target time",
			"a recovery to recovery_target_time stops before the first commit or abort record, in WAL order, whose xact_time is past the target when recovery_target_inclusive is on, or at or past it when off (recoveryStopsBefore's time test): the transactions that committed in the target's very microsecond are all kept when inclusive and all cut off when not, and the new timeline branches off where that record starts")
		return
	}
	if strings.HasPrefix(f.Detail, simtest.PITRAcrossFailover) {
		a.cause("archive recovery did not follow the failover's new timeline",
			"a standby promoted with archive_mode = on archives its new timeline's history file as soon as it writes it (writeTimeLineHistory's XLogArchiveNotify; the archiver takes history files first), then the old timeline's last segment as .partial (CleanupAfterArchiveRecovery) and the new timeline's segments as they complete; a recovery from that archive with recovery_target_timeline = latest finds the newest history file there and reads past the switch point from the new timeline (XLogFileReadAnyTLI), so that it reaches a target set after the failover with exactly the commits made before it on either side")
		return
	}
	if strings.Contains(f.Detail, "history has switch points") && f.Node == "pitr2" {
		a.cause("archive recovery did not follow the timeline history",
			"a recovery that follows a newer timeline (recovery_target_timeline = latest) reads each segment from the newest timeline of the history (expectedTLEs) that begins at or before it (XLogFileReadAnyTLI), so that past the switch point it replays the new timeline's WAL, never the old one's")
		return
	}
	a.cause("point-in-time recovery did not reproduce the primary's commits before the target",
		"a base backup plus every archived WAL segment from its start point, replayed up to the recovery target (recoveryStopsBefore/recoveryStopsAfter), holds exactly the effects of the transactions whose commit records precede the target; that needs every segment in the archive, durable and equal to the one the primary completed (pgarch_archiveXlog returns only once the copy is safe)")
}
