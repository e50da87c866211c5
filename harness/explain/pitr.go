package explain

import "github.com/pgdst/pgdst/simtest"

// pitr is the account of a point-in-time recovery failure
// (simtest/pitr.go): the restored node did not hold exactly the effects
// of the commits before its target, or did not reach it.
func (a *account) pitr(f *simtest.Finding) {
	where := ""
	if f.Table != "" {
		where = " in table " + f.Table
	}
	a.say("A base backup restored from the archive to a recovery target on node %s disagreed with the primary's WAL cut at that target%s: %s.", f.Node, where, f.Detail)
	a.cause("point-in-time recovery did not reproduce the primary's commits before the target",
		"a base backup plus every archived WAL segment from its start point, replayed up to the recovery target (recoveryStopsBefore/recoveryStopsAfter), holds exactly the effects of the transactions whose commit records precede the target; that needs every segment in the archive, durable and equal to the one the primary completed (pgarch_archiveXlog returns only once the copy is safe)")
}
