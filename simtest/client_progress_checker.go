package simtest

import (
	"errors"
	"time"

	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// clientProgressMax is the longest a client may go without a reply from
// the server in a run no fault touched: issue 17's liveness rule, every
// client makes progress within a bound. A reply is a result or an error
// the server sent; a client timeout or a lost connection is not one, so a
// server that hangs a backend (a lost wakeup with no timeout, a lock or
// pin never released) leaves its client without progress while the run
// goes on, every result correct. Over seeds 1-3000 of the plain campaign
// the longest gap in the 1,192 runs judged was 172 ms (a statement that
// waited on a lock for most of the client's timeout, then its retry);
// the median run's longest 33 ms. The limit is three times the longest.
// A deadlock makes a gap of deadlock_timeout (1 s) by design, so runs
// whose deadlock check ran, or in which a backend slept on a lock for
// progressLockSleepMax (a deadlock not yet checked: seed 9888 crashed
// 1.16 s into one), are not judged; nor are runs with a fault or a
// crash-restart before the crash, which stretch any gap (the rule is for
// a fault-free stretch, and these runs have one from the start). A hang
// in a lock wait is the lock-wakeup checker's to find.
const clientProgressMax = 500 * time.Millisecond

// progressLockSleepMax is the lock sleep past which a run's client
// progress is not judged.
const progressLockSleepMax = clientProgressMax / 5

// clientProgress follows each client's progress: the replies the server
// sends it.
type clientProgress struct {
	last   []time.Duration // per client: its last reply, or its start
	done   []bool
	gapMax time.Duration
	gapAt  time.Duration // when the longest gap ended
	gapOf  int           // whose it was
}

func newClientProgress(clients int) *clientProgress {
	return &clientProgress{last: make([]time.Duration, clients), done: make([]bool, clients)}
}

func (p *clientProgress) gap(c int, now time.Duration) {
	if d := now - p.last[c]; d > p.gapMax {
		p.gapMax, p.gapAt, p.gapOf = d, now, c
	}
	p.last[c] = now
}

// started: client c begins at now.
func (p *clientProgress) started(c int, now time.Duration) { p.last[c] = now }

// replied: client c's statement ended at now with err; a reply from the
// server (a result or an error it sent) is progress, a timeout or a lost
// connection is not.
func (p *clientProgress) replied(c int, now time.Duration, err error) {
	if errors.Is(err, pgproc.ErrClientTimeout) || errors.Is(err, pgproc.ErrConnectionTerminated) {
		return
	}
	p.gap(c, now)
}

// finished: client c is done at now.
func (p *clientProgress) finished(c int, now time.Duration) {
	p.gap(c, now)
	p.done[c] = true
}

// ended: the workload ends at now; the clients still running have made no
// progress since their last reply.
func (p *clientProgress) ended(now time.Duration) {
	for c := range p.last {
		if !p.done[c] {
			p.gap(c, now)
		}
	}
}

// judge judges the run's gaps when fair, else counts it skipped for why.
func (p *clientProgress) judge(res *Result, fair bool, why string) {
	if !fair {
		res.Online.skipped(countClientProgress, why, 1)
		return
	}
	res.Online.judged(countClientProgress, 1)
	if p.gapMax > clientProgressMax {
		res.found(Finding{Checker: CheckProgress, Client: p.gapOf, Gap: p.gapMax, At: p.gapAt, Limit: clientProgressMax})
		res.fail(CheckProgress, "client %d went %v without a reply from the server, until %v, in a run no fault touched (limit %v)",
			p.gapOf, p.gapMax, p.gapAt, clientProgressMax)
	}
}
