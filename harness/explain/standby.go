package explain

import "github.com/pgdst/pgdst/simtest"

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
	a.say("A standby made from a base backup of the primary disagreed with the primary%s: %s.", where, f.Detail)
	a.cause("a standby's replay of the primary's streamed WAL did not reproduce the primary's committed state",
		"a standby's data directory is the base backup plus the redo of every WAL record from the backup's start point, and the primary streams only WAL it has flushed (WalSndWaitForWal), so once the standby has replayed up to the primary's flushed WAL it holds exactly the primary's committed rows")
}
