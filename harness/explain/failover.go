package explain

import (
	"strings"

	"github.com/pgdst/pgdst/simtest"
)

// failover is the account of a failover checker failure (simtest's
// failover.go): after the primary lost power and a standby was promoted,
// two nodes accepted writes on one timeline (split brain), the promoted
// standby's timeline history did not name its parent, or the commits it
// lacks were not a suffix of the old primary's commit order.
func (a *account) failover(f *simtest.Finding) {
	switch {
	case f.Writes > 0:
		a.say("After the failover the promoted standby %s held a transaction the old primary acknowledged after one it lost: %s.", f.Node, f.Detail)
		a.cause("the promoted standby's WAL is not a prefix of the old primary's",
			"a standby replays the primary's WAL in LSN order and is promoted at the end of what it flushed, so what it lacks of the old primary's commits is a suffix of their commit order, never a hole")
	case strings.Contains(f.Detail, "split brain") || strings.Contains(f.Detail, "history"):
		a.say("Failover to standby %s: %s.", f.Node, f.Detail)
		a.cause("promotion reused the old timeline ID, or wrote no timeline history",
			"a promoted standby picks a timeline no server has used (findNewestTimeLine + 1) and writes its history file (writeTimeLineHistory) before it accepts writes, so that the old primary's WAL and the new one's are on different timelines and never taken for one another")
	default:
		a.say("Failover to standby %s: %s.", f.Node, f.Detail)
		a.cause("the standby's promotion did not end",
			"a standby's startup process ends recovery on a promote request once it has replayed what its WAL receiver flushed (CheckForStandbyTrigger), then accepts writes")
	}
}
