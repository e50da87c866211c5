package simtest

import "time"

// ckptDelayWaitMax is the longest a checkpoint may wait for the commits it
// saw in their critical section (DELAY_CHKPT_START), from its REDO pointer
// to the end of that wait, in a run no fault touched. Each of those
// commits is one WAL flush and a clog update away from leaving its
// critical section: in about 3,500 such runs over the workloads and
// timings, with up to 48 clients committing back to back, the wait took
// 8.1 ms at most (1-3 ms at the median); the limit is three times that.
// Pauses, I/O faults and crash-restarts can stretch it without limit, so
// runs with any of them are not judged.
const ckptDelayWaitMax = 25 * time.Millisecond

// checkpointLivenessChecker is the checkpoint liveness check: a
// checkpoint's wait for the commits in their critical section when it took
// its REDO pointer must end within ckptDelayWaitMax. The durability and
// checkpoint checkers cannot see a checkpoint that never completes, as
// recovery then starts from an older one, correctly: a checkpointer starved
// by one backend's back-to-back commits (the wait compared backends, not
// critical sections; planted bug delay-chkpt-by-backend) was found only by
// reading a recovery's log. The rest of a checkpoint (buffer writes,
// fsyncs) takes as long as the load makes it, and is not judged.
//
// The waits are judged in batches (judge): those of the workload when it
// ends, those of the recoveries at the end of the run, each batch only
// when no fault, pause or crash-restart could have stretched it.
type checkpointLivenessChecker struct {
	res     *Result
	start   time.Duration // the checkpoint waiting took its REDO then; -1: none
	longest time.Duration // the longest wait that ended since the last judgement
	longAt  time.Duration // when that checkpoint took its REDO
	waits   uint64        // waits ended since the last judgement
}

func newCheckpointLivenessChecker(res *Result) *checkpointLivenessChecker {
	return &checkpointLivenessChecker{res: res, start: -1}
}

func (l *checkpointLivenessChecker) redoTaken(now time.Duration) { l.start = now }

// waitEnded is the end of the wait (PointAfterDelayWait). With planted
// bug redo-after-flush the REDO pointer comes after it, and there is no
// wait to time.
func (l *checkpointLivenessChecker) waitEnded(now time.Duration) {
	if l.start < 0 {
		return
	}
	l.waits++
	if now-l.start > l.longest {
		l.longest, l.longAt = now-l.start, l.start
	}
	l.start = -1
}

// completed ends the checkpoint: with planted bug redo-after-flush its
// REDO pointer came after the wait, which is over.
func (l *checkpointLivenessChecker) completed() { l.start = -1 }

// judge judges the waits since the last judgement, when fair says nothing
// could have stretched them (else they count as skipped, for why): it
// fails the run when a wait lasted, or at end has been lasting, longer
// than ckptDelayWaitMax. The batch is then over, and a wait still going
// on is dropped (the processes are about to be killed).
func (l *checkpointLivenessChecker) judge(end time.Duration, fair bool, why string) {
	n := l.waits
	if l.start >= 0 {
		n++
	}
	defer func() { l.start, l.longest, l.longAt, l.waits = -1, 0, 0, 0 }()
	if !fair {
		if n > 0 {
			l.res.Online.skipped(countCkptWaits, why, n)
		}
		return
	}
	l.res.Online.judged(countCkptWaits, n)
	if l.start >= 0 && end-l.start > ckptDelayWaitMax {
		l.res.found(Finding{Checker: CheckLiveness, RedoAt: l.start, Waited: end - l.start, StillWaiting: true})
		l.res.fail(CheckLiveness, "the checkpoint that took its REDO pointer at %v was still waiting for commits in their critical section %v later, at %v (without faults the wait ends within %v)",
			l.start, end-l.start, end, ckptDelayWaitMax)
		return
	}
	if l.longest > ckptDelayWaitMax {
		l.res.found(Finding{Checker: CheckLiveness, RedoAt: l.longAt, Waited: l.longest})
		l.res.fail(CheckLiveness, "the checkpoint that took its REDO pointer at %v waited %v for commits in their critical section (without faults the wait ends within %v)",
			l.longAt, l.longest, ckptDelayWaitMax)
	}
}
