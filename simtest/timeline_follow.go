package simtest

import (
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// After a failover (failover.go) the other standbys are re-pointed at the
// new primary, as an operator or Patroni does: primary_conninfo names the
// promoted standby and the server is restarted. They must follow its new
// timeline (engine/db/timeline_follow.go): the WAL sender streams the old
// timeline up to the switch point and ends the stream there, the receiver
// fetches the new timeline's history, and the startup process rescans and
// streams on. At the end of the run the standby checker's catch-up and
// equality judge them against the new primary (converge, with the new
// primary's recovered data directory as the primary).
//
// A standby that replayed WAL of the old timeline past the switch point
// (the old primary sent it WAL the promoted standby never got) cannot
// follow: PostgreSQL refuses ("new timeline forked off current database
// system timeline before current recovery point"). Such a standby is left
// out of the catch-up and the comparison and counted
// (FailoverResult.LeftOut); it is not rebuilt. Its refusal is judged: a
// standby that refuses although its replay position is not past the
// switch point fails. The demoted old primary is never started again: it
// would need a rebuild (a new base backup, or pg_rewind) to become a
// standby, and the run leaves it off.

// followJudge is the catch-up's view of the re-pointed standbys.
type followJudge struct {
	newTLI   uint32
	switchAt wal.LSN // InvalidLSN: not known (failover.go's seed 3517 case)
	left     map[*standby]bool
	res      *Result
}

// repoint points every other standby at the promoted one and restarts
// its server (failover.go's run, once the promotion ended). A standby
// whose server is down (a restart in progress) starts with the new
// primary_conninfo when it comes back.
func (f *failover) repoint(sim *world.Sim) {
	for _, sb := range f.others() {
		sb.primaryNode = f.sb.node.Name
		// The WAL the standby needs next: where its received WAL ends,
		// or, when it has received none yet, its base backup's start.
		need := sb.start
		if sb.pm != nil {
			if sd := sb.pm.Shared(); sd != nil && sd.WalRcv() != nil {
				_, flushed := sd.WalRcv().Positions()
				need = max(need, flushed)
			}
		}
		if need < f.sb.start {
			// The new primary's WAL begins at its own base backup's
			// start: its receiver started there, mid-segment, where
			// PostgreSQL's starts at the segment's beginning
			// (RequestXLogStreaming). A standby that needs older WAL
			// would need a rebuild from the new primary; it is left
			// out of the checks and counted.
			f.unservable = append(f.unservable, sb)
		}
		if sb.pm == nil || !sb.made {
			continue
		}
		sim.KillTree(sb.pmProc)
		sb.node.Net.CrashNode(sb.node.Name)
		sim.HarnessEvent(env.Event{Kind: env.EvNote, Node: sb.node.Name, Name: "failover: standby re-pointed at " + f.sb.node.Name + " and restarted"})
		sb.pm = f.standbys.startStandby(sim, sb)
	}
}

// convergeFollowers is the standby checker's catch-up and equality for
// the re-pointed standbys, against the new primary d (recovered by
// final) serving on the promoted standby's socket.
func (f *failover) convergeFollowers(res *Result, sim *world.Sim, d *db.DB) {
	if !f.done || len(f.others()) == 0 || d == nil || d.WAL == nil {
		return
	}
	// A standby the new primary cannot serve is not started again: its
	// startup process would find garbage where it needs WAL.
	var nodes []*standby
	for _, sb := range f.others() {
		if !slices.Contains(f.unservable, sb) {
			nodes = append(nodes, sb)
		}
	}
	res.Failover.Unservable = len(f.unservable)
	if len(nodes) == 0 {
		return
	}
	s := &standbySet{rc: f.standbys.rc, primary: f.sb.node, nodes: nodes, primaryEnds: f.newPrimaryEnds}
	s.follow = &followJudge{newTLI: f.newTLI, switchAt: f.switchAt, left: map[*standby]bool{}, res: res}
	s.converge(res, sim, d, f.sb.l)
	for _, sb := range s.nodes {
		if sb.made && !s.follow.left[sb] {
			res.Failover.Followed++
		}
	}
	res.Failover.LeftOut = len(s.follow.left)
}

// leftOut reports whether sb refused the new timeline because its replay
// went past the switch point; such a standby is counted and left out. A
// refusal with the replay position at or before the switch point fails.
func (s *standbySet) leftOut(sb *standby, sd *db.DB) bool {
	j := s.follow
	if j == nil {
		return false
	}
	if j.left[sb] {
		return true
	}
	if sd == nil || !sd.TimelineForkRefused() {
		return false
	}
	if j.switchAt != wal.InvalidLSN && sd.ReplayedLSN() <= j.switchAt {
		j.left[sb] = true // reported once
		j.res.found(s.finding(sb, Finding{Detail: fmt.Sprintf("refused timeline %d, replayed to %s, switch point %s", j.newTLI, sd.ReplayedLSN(), j.switchAt)}))
		j.res.fail(CheckStandby, "standby %s refused to follow timeline %d although it replayed only to %s, not past the switch point %s", sb.node.Name, j.newTLI, sd.ReplayedLSN(), j.switchAt)
		return true
	}
	j.left[sb] = true
	return true
}

// onNewTimeline reports whether sd follows the new primary's timeline
// (always true outside a failover's follow check).
func (s *standbySet) onNewTimeline(sd *db.DB) bool {
	return s.follow == nil || sd.TimeLineID() == s.follow.newTLI
}
