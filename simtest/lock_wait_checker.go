package simtest

import (
	"slices"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// The lock-wait checkers judge work, not results: a bug that makes the
// engine wait when it need not, or retry a wait that cannot succeed, leaves
// every history correct and every row in place, so no checker of results
// can see it. They watch the lock manager's typed events (engine/lmgr:
// lock.wait, lock.wait-end, lock.release) as they happen.
//
//   - Missed wakeup (CheckLockWakeup): when a transaction's lock is
//     released while backends sleep on it, each of them must wake at once
//     (LockRelease's ProcLockWakeup). A forgotten wakeup leaves the waiter
//     asleep until its deadlock_timeout fires (a second of virtual time),
//     which only slows the run down.
//   - Busy retry (CheckLockRetry): XactLockTableWait returns only once the
//     transaction waited for has ended, and a transaction that has ended
//     never runs again, so a backend whose wait for xid X ended never
//     waits for X again. A second wait is a retry loop: the waiter found X
//     still running after its lock was gone (the lock released before the
//     transaction left the procarray), and spins until it has.
//
// Why no baseline run: the issue asks for steps and virtual time per
// committed transaction judged against a fault-free run of the same
// configuration. A second run per seed doubles the campaign's cost, and
// its verdict would need a margin wide enough for the schedule's own
// variance (the swarm draws the switch probability; a fault-free run takes
// a different schedule altogether). These two measures are intrinsic
// instead, and need no baseline: a repeated wait never happens on the
// unmutated engine, and a woken waiter runs within microseconds of virtual
// time (nothing advances the clock while a process is runnable), while
// the bugs they catch cost a retry loop or most of a deadlock_timeout.

// lockWakeMax is the longest a sleeping waiter may stay asleep after the
// lock it waits for was released. The simulator advances virtual time only
// when no process can run, and a woken waiter can run, so the delay is the
// time the processes that run first spend blocked on I/O before it gets
// its turn: the longest was 76 us over seeds 1-3000 of the plain campaign
// and 67 us over seeds 1-2000 at fault intensity 1.
// The limit is a hundredth of deadlock_timeout (1 s), far above any
// scheduling delay and far below the sleep a missed wakeup costs.
const lockWakeMax = 10 * time.Millisecond

// lockRetryMax is how many times a backend may wait again for a
// transaction whose end its earlier wait already saw: none, on the
// unmutated engine over the same seeds.
const lockRetryMax = 0

// lockWaiter is one backend sleeping on a transaction's lock.
type lockWaiter struct {
	xid      uint64
	since    time.Duration // when it began to sleep
	released time.Duration // when the lock was released while it slept; -1: not yet
	// pausedAtRelease is how long the fault plan had paused the waiter
	// in all when the lock was released (lockWaitChecker.paused).
	pausedAtRelease time.Duration
}

// lockWaitKey names the waits of one process for one transaction.
type lockWaitKey struct {
	pid int
	xid uint64
}

// lockWaitChecker is both checkers: it follows every wait of the run.
type lockWaitChecker struct {
	res *Result
	// sleeping holds, per process, the wait it sleeps in (bounded by the
	// processes alive: one wait each).
	sleeping map[int]*lockWaiter
	// ended holds the waits that ended because the transaction did
	// (bounded by the waits of a run, a few hundred).
	ended map[lockWaitKey]int
	// wakeMax is the longest delay from a release to its waiter's wake
	// seen so far (for the bound's measurement).
	wakeMax time.Duration
	// sleepMax is the longest any backend slept on a lock, up to the end
	// of its wait or of the workload (the client-progress checker does not
	// judge runs with a long one: a deadlock holds its clients until
	// deadlock_timeout).
	sleepMax time.Duration
	// crashes, when set, are the postmaster's crash-restarts so far: a
	// crash-restart kills every backend, sleepers included, and the next
	// lifetime may hand out the xid they slept on again (an xid that left
	// no WAL is not remembered by recovery), so a release after a
	// crash-restart is never the one a sleeper from before it waits for.
	crashes func() []time.Duration
	// paused, when set, says how long the fault plan has paused a
	// process in all (world.PlanRunner.PausedFor). A woken waiter retakes
	// the lock manager's lock before it runs on (ProcSleep's
	// LWLockAcquire of the partition lock), and a plan may pause it
	// there (point=lwlock-acquire) or at any step on the way: that time
	// is the plan's, not a late wakeup, and is not counted against it.
	paused func(pid int) time.Duration
}

// pausedOf is how long the plan has paused pid in all (0 without one).
func (c *lockWaitChecker) pausedOf(pid int) time.Duration {
	if c.paused == nil {
		return 0
	}
	return c.paused(pid)
}

func newLockWaitChecker(res *Result) *lockWaitChecker {
	return &lockWaitChecker{res: res, sleeping: map[int]*lockWaiter{}, ended: map[lockWaitKey]int{}}
}

// event judges one engine event (world.Node.WatchEvents).
func (c *lockWaitChecker) event(e *env.Event) {
	switch e.Kind {
	case env.EvLockWait:
		k := lockWaitKey{e.Pid, e.Xid}
		if n, ok := c.ended[k]; ok {
			c.res.Online.judged(countLockRetries, 1)
			c.ended[k] = n + 1
			if n+1 > lockRetryMax {
				c.res.found(Finding{Checker: CheckLockRetry, Pid: e.Pid, Backend: int(e.A), Xid: e.Xid, At: e.Time, Waits: n + 1, Baseline: lockRetryMax})
				c.res.fail(CheckLockRetry, "backend %d (pid %d) waits for transaction %d again at %v, after an earlier wait saw it end (%d waits since): a transaction that ended never runs again, so the backend is retrying in a loop",
					e.A, e.Pid, e.Xid, e.Time, n+1)
			}
		}
		if e.B == 1 {
			c.sleeping[e.Pid] = &lockWaiter{xid: e.Xid, since: e.Time, released: -1}
		}
	case env.EvLockRelease:
		for pid, w := range c.sleeping { // each entry on its own: the order does not matter
			if w.xid != e.Xid || w.released >= 0 {
				continue
			}
			if c.killedSince(w.since) {
				delete(c.sleeping, pid)
				continue
			}
			w.released = e.Time
			w.pausedAtRelease = c.pausedOf(pid)
		}
	case env.EvLockWaitEnd:
		if w := c.sleeping[e.Pid]; w != nil {
			delete(c.sleeping, e.Pid)
			c.sleepMax = max(c.sleepMax, e.Time-w.since)
			if w.released >= 0 {
				c.judgeWake(e.Pid, w, e.Time, "woke")
			}
		}
		if e.B == 0 {
			k := lockWaitKey{e.Pid, e.Xid}
			if _, ok := c.ended[k]; !ok {
				c.ended[k] = 0
			}
		}
	}
}

// killedSince reports whether a crash-restart came at or after since.
func (c *lockWaitChecker) killedSince(since time.Duration) bool {
	if c.crashes == nil {
		return false
	}
	for _, t := range c.crashes() {
		if t >= since {
			return true
		}
	}
	return false
}

// judgeWake judges one waiter that was still asleep at `at`, after its
// lock's release.
func (c *lockWaitChecker) judgeWake(pid int, w *lockWaiter, at time.Duration, how string) {
	c.res.Online.judged(countLockWakeups, 1)
	paused := c.pausedOf(pid) - w.pausedAtRelease
	d := at - w.released - paused
	c.wakeMax = max(c.wakeMax, d)
	if d > lockWakeMax {
		c.res.found(Finding{Checker: CheckLockWakeup, Pid: pid, Xid: w.xid, Since: w.since, Released: w.released, At: at, Woke: how == "woke", Late: d, Paused: paused, Limit: lockWakeMax})
		c.res.fail(CheckLockWakeup, "pid %d, asleep since %v on transaction %d's lock, %s at %v, %v after the lock was released at %v, not counting %v the fault plan paused it (a released lock wakes its waiters at once; limit %v)",
			pid, w.since, w.xid, how, at, d, w.released, paused, lockWakeMax)
	}
}

// judgeSleepers judges the waiters still asleep when the server's
// processes end: at end (the workload's crash), or at the first
// crash-restart after their release, which killed them.
func (c *lockWaitChecker) judgeSleepers(end time.Duration, crashes []time.Duration) {
	pids := make([]int, 0, len(c.sleeping))
	for pid := range c.sleeping {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		w := c.sleeping[pid]
		at := end
		for _, t := range crashes {
			if t >= w.since {
				at = min(at, t)
			}
		}
		c.sleepMax = max(c.sleepMax, at-w.since)
		if w.released < 0 {
			continue
		}
		at = end
		for _, t := range crashes {
			if t >= w.released {
				at = min(at, t)
			}
		}
		c.judgeWake(pid, w, at, "was still asleep")
	}
	clear(c.sleeping)
}
