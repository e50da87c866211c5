package simtest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// The sync-rep checker's remote_apply half (issue 19): "with
// remote_apply, a read on the standby after the ack sees it". PostgreSQL
// documents synchronous_commit = remote_apply as the level at which a
// query on the synchronous standby, begun after the commit returned,
// sees the transaction: SyncRepReleaseWaiters releases the waiter only
// once the standby reported the commit record replayed (its apply
// position, XLogWalRcvSendReply's GetXLogReplayRecPtr), and replay made
// it visible to new standby snapshots (xact_redo_commit's
// ExpireTreeKnownAssignedTransactionIds). The online half judges the
// positions at the acknowledgement; this half judges what a client sees,
// end to end, as an application that reads its own writes from a replica
// does.
//
// On a run with standby reads (standby_reads.go) whose setting makes one
// standby part of every quorum (syncRepPlan.guarantees) at remote_apply,
// each hs writer, after a COMMIT the primary acknowledged (a reply with
// no sync-rep WARNING), reads the log row on that standby in a
// single-statement transaction of its own (a second connection, kept)
// and the read must hold its token. A read is not judged when the
// standby restarted (its postmaster, or a crash-restart inside it)
// between the COMMIT's call and the read's reply: a restarted standby
// replays again from its last restartpoint and may call itself
// consistent before it reaches the commit (PostgreSQL promises no more),
// nor after a destructive fault on the primary (as the standby-read
// checker).

// countApplyReads counts the reads after a remote_apply acknowledgement
// the sync-rep checker judged.
const countApplyReads = CheckSyncRep + ": reads after remote_apply acknowledgements"

// applyRead is one read of the log row on the synchronous standby after
// the primary acknowledged the writer's commit of tok.
type applyRead struct {
	node      string
	tok       []byte
	call, ack time.Duration // the COMMIT's call and reply
	ret       time.Duration // the read's reply
	log       []byte
	restarted bool
}

// applyReadStandby is the standby every acknowledgement of rc's run
// promises a commit is replayed on (nil: none, or a level below
// remote_apply).
func applyReadStandby(rc resolved, s *standbySet) *standby {
	p := rc.syncRep
	if s == nil || p.level != db.SyncCommitRemoteApply {
		return nil
	}
	for _, sb := range p.syncCandidates(s) {
		if p.guarantees(s, sb) {
			return sb
		}
	}
	return nil
}

// standbyGen identifies a standby's server lifetime: a restart of its
// postmaster or a crash-restart inside it changes it.
type standbyGen struct {
	pm       *pgproc.Postmaster
	restarts int
	crashes  int
}

func genOf(sb *standby) standbyGen {
	g := standbyGen{pm: sb.pm, restarts: sb.restarts}
	if sb.pm != nil {
		g.crashes = len(sb.pm.CrashTimes())
	}
	return g
}

// readAfterAck is the hs writer's read on the synchronous standby after
// the primary acknowledged its commit of tok: gen is the standby's
// lifetime at the COMMIT's call, sc the writer's standby connection
// (dialled when missing). A read that fails (57P03, a conflict, a lost
// connection) is not recorded.
func (h *standbyReads) readAfterAck(sc **pgproc.Conn, tok []byte, gen standbyGen, call time.Duration) {
	sb, e := h.applySb, h.node.Env
	if sb == nil {
		return
	}
	ack := e.Clock.Now()
	if *sc != nil && (*sc).Gone() {
		(*sc).Close()
		*sc = nil
	}
	if *sc == nil {
		if sb.l == nil {
			return
		}
		c, err := sb.l.DialFrom(h.node.Clients)
		if err != nil {
			return
		}
		*sc = c
	}
	resp, err := hsCall(*sc, pgproc.Request{Op: pgproc.OpGet, Table: hsTable, Key: 0})
	if err != nil {
		return
	}
	r := applyRead{node: sb.node.Name, tok: tok, call: call, ack: ack, ret: e.Clock.Now(), restarted: genOf(sb) != gen}
	if resp.Found {
		r.log = resp.Val
	}
	h.applyReads = append(h.applyReads, r)
}

// judgeApplyReads is the remote_apply half of the sync-rep checker.
func (h *standbyReads) judgeApplyReads(res *Result, destructive bool) {
	if h == nil || len(h.applyReads) == 0 {
		return
	}
	if destructive {
		res.Online.skipped(countApplyReads, "a destructive fault on the primary", uint64(len(h.applyReads)))
		return
	}
	for _, r := range h.applyReads {
		if r.restarted {
			res.Online.skipped(countApplyReads, "the synchronous standby restarted", 1)
			continue
		}
		res.Online.judged(countApplyReads, 1)
		if hasToken(r.log, r.tok) {
			continue
		}
		detail := fmt.Sprintf("a read on %s at %v, after the primary acknowledged at %v the commit of %s with synchronous_commit=remote_apply under %q, did not see it (the log row read %s)",
			r.node, r.ret, r.ack, hsTokens(r.tok), h.rc.syncRep.names, hsTokens(r.log))
		res.found(Finding{Checker: CheckSyncRep, Node: r.node, Call: r.call, Return: r.ack, Outcome: OK, Detail: detail})
		res.fail(CheckSyncRep, "remote_apply: %s", detail)
		return
	}
}

// hasToken reports whether log holds tok at a token boundary.
func hasToken(log, tok []byte) bool {
	for i := 0; i+hsTokenBytes <= len(log); i += hsTokenBytes {
		if bytes.Equal(log[i:i+hsTokenBytes], tok) {
			return true
		}
	}
	return false
}

// applyGen is the synchronous standby's lifetime and the time now,
// before a writer's transaction (zero without such a standby: the clock
// is not read, so that runs without this half trace as before).
func (h *standbyReads) applyGen() (standbyGen, time.Duration) {
	if h.applySb == nil {
		return standbyGen{}, 0
	}
	return genOf(h.applySb), h.node.Env.Clock.Now()
}
