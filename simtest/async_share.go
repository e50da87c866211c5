package simtest

import (
	"fmt"
	"time"

	pgproc "github.com/pgdst/pgdst/engine/proc"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest/world"
)

// Asynchronous commit per transaction (issue 17): PostgreSQL lets each
// transaction SET LOCAL synchronous_commit = off, and a server whose
// commits are mostly synchronous still has some that are not. On a share
// of the seeds the swarm makes a share of the clients' insert
// transactions and bank transfers asynchronous, so that the commit paths
// of both kinds, the WAL writer that bounds the loss, and the hint-bit
// rule for commits whose record is not yet durable (SetHintBits'
// XLogNeedsFlush) are exercised by the plain campaign.
//
// Only kinds whose checker can judge a loss carry them:
//   - an insert transaction's rows are judged by checkDB, which allows
//     an acknowledged asynchronous transaction to vanish only as
//     PostgreSQL allows (asyncLossAllowed): a suffix of the commit order
//     of one server lifetime, no older than the WAL writer's bound, and
//     none older than an acknowledged synchronous commit of the same
//     lifetime (flushedByLaterSyncCommit);
//   - a bank transfer's loss is invisible to the bank checker, whose
//     invariant (every snapshot balances) holds with or without it; a
//     transfer half kept, or kept as two visible versions of one account
//     (a commit hint that outlived its commit record), unbalances it.
//
// Register operations and list appends stay synchronous: a client may
// read a value that a crash then takes back, which linearizability and
// the list-append anomalies rightly forbid of a durable commit, and
// neither checker has a notion of "acknowledged but lost".

// asyncSharesSwarm are the shares the swarm draws from on the seeds that
// commit asynchronously at all.
var asyncSharesSwarm = [...]float64{0.25, 0.5, 1}

// asyncSeedsPer: one seed in asyncSeedsPer commits asynchronously.
const asyncSeedsPer = 4

// asyncShareDraw is the seed's share, from a stream of its own so that
// every other draw of the seed is what it was before this dimension.
func asyncShareDraw(seed uint64) float64 {
	rng := world.NewRand(seed ^ 0x6173796e63636d74) // "asynccmt"
	on := rng.Intn(asyncSeedsPer) == 0
	share := asyncSharesSwarm[rng.Intn(len(asyncSharesSwarm))]
	if !on {
		return 0
	}
	return share
}

// resolveAsyncShare is the run's share: the one given, the seed's draw
// under Swarm, else none.
func resolveAsyncShare(c Config) float64 {
	switch {
	case c.AsyncShareSet || c.AsyncShare != 0:
		return c.AsyncShare
	case c.Swarm:
		return asyncShareDraw(c.Seed)
	}
	return 0
}

func (c Config) validateAsyncShare() error {
	if !(c.AsyncShare >= 0 && c.AsyncShare <= 1) {
		return fmt.Errorf("async share must be in [0, 1], got %v", c.AsyncShare)
	}
	return nil
}

func (r resolved) stringAsync() string {
	return fmt.Sprintf(" async_share=%g hint_bits_dirty=%v", r.asyncShare, r.engine.HintBitsDirty)
}

// asyncDraws decides, per eligible transaction, whether it commits
// asynchronously, from a stream of its own: the clients' streams, and so
// everything else they draw, stay as they were.
type asyncDraws struct {
	rng *world.Rand
}

// asyncTxn reports whether the next eligible transaction is to commit
// asynchronously; it draws only when the share is strictly between 0
// and 1.
func (w *workload) asyncTxn() bool {
	switch share := w.rc.asyncShare; {
	case share <= 0:
		return false
	case share >= 1:
		return true
	default:
		if w.async.rng == nil {
			w.async.rng = world.NewRand(w.rc.Seed ^ 0x6173796e63747870) // "asynctxp"
		}
		return w.async.rng.Float64() < share
	}
}

// setLocalAsync sends SET LOCAL synchronous_commit = off in the open
// block when the draw says so, and reports whether the transaction is
// now asynchronous.
func (s *session) setLocalAsync() (bool, error) {
	if !s.w.asyncTxn() {
		return false, nil
	}
	_, err := s.call(pgproc.Request{Op: pgproc.OpSetLocalAsync})
	return err == nil, err
}

// Span is an operation's call and return, in virtual time.
type Span struct {
	Call, Return time.Duration
}

// syncWrite records an acknowledged synchronous transaction that wrote.
func (w *workload) syncWrite(call, ret time.Duration) {
	w.hist.SyncWrites = append(w.hist.SyncWrites, Span{Call: call, Return: ret})
}

// flushedByLaterSyncCommit says why op, acknowledged asynchronously and
// lost, could not have been lost ("" when nothing says so): a
// transaction that began after op was acknowledged, in the same server
// lifetime (before end), and was acknowledged with synchronous_commit on,
// flushed the WAL up to its own commit record, which follows op's
// (XLogFlush writes everything before the requested LSN).
func (w *workload) flushedByLaterSyncCommit(op *Op, end time.Duration) string {
	if w.rc.AsyncCommit {
		return "" // no commit of the run is synchronous
	}
	for _, sw := range w.hist.SyncWrites {
		if sw.Call > op.Return && sw.Call < end {
			return fmt.Sprintf("yet a synchronous commit called at %v and acknowledged at %v, in the same server lifetime, flushed the WAL past it", sw.Call, sw.Return)
		}
	}
	return ""
}

// appended reports whether a list-append transaction appended (and so
// wrote, and its commit flushed the WAL).
func appended(t *lin.Txn) bool {
	for _, m := range t.Mops {
		if m.Kind == lin.MopAppend {
			return true
		}
	}
	return false
}

// quietTail keeps the server running, with no client, for twice the
// asynchronous-commit bound after the last client is done, on a run with
// asynchronous commits, before the power loss that ends a workload which
// ran to completion. Without it the crash follows the last commit at once,
// and every asynchronous commit is still within the bound: what makes
// them durable in a quiet system, the WAL writer (XLogBackgroundFlush), is
// never held to its promise. Servers also crash when idle.
func (w *workload) quietTail() {
	if w.rc.asyncShare <= 0 && !w.rc.AsyncCommit {
		return
	}
	w.node.Env.Clock.Sleep(2 * w.asyncBound())
}

// The WAL flushes, as the injection points inside wal.Flush mark them:
// the write begins under WALWriteLock, and the last fsync ends it.
const (
	pointWALFlushBegan = "walwriter-before-write"
	pointWALFlushEnded = "walwriter-after-fsync"
)

// walFlushLog records when each WAL flush of the run began and ended
// (flushes are serialised by WALWriteLock, so they never overlap). The
// asynchronous-commit bound needs it: a commit's flush may queue behind
// one flush in progress and then take one of its own, and a flush that
// crosses WAL segment boundaries (each a file fsync, an archive_status
// file and its directory, a new segment and its directory: XLogWrite's
// XLogFileInit, XLogArchiveNotify) takes several times the four fsyncs the
// bound allows for them. With hint bits that log full-page images, one
// flush may cross two 64 kB segments.
type walFlushLog struct {
	spans []Span // Call: began, Return: ended (0 while in progress)
}

func (l *walFlushLog) note(point string, now time.Duration) {
	n := len(l.spans)
	switch {
	case point == pointWALFlushBegan:
		if n > 0 && l.spans[n-1].Return == 0 {
			// The flush in progress never ended: its process died (a
			// crash-restart). It ran at most until this one began.
			l.spans[n-1].Return = now
		}
		l.spans = append(l.spans, Span{Call: now})
	case n > 0 && l.spans[n-1].Return == 0:
		l.spans[n-1].Return = now
	}
}

// queueAllowance is the time an asynchronous commit acknowledged at from
// may wait for flushes before it is durable, when the crash came at to:
// the two longest flushes that overlap [from, to] (one in progress, then
// its own; one still running at the crash counts until the crash), or min
// when they were shorter than that.
func (l *walFlushLog) queueAllowance(from, to, min time.Duration) time.Duration {
	if l == nil {
		return 0
	}
	var first, second time.Duration
	for _, s := range l.spans {
		end := s.Return
		if end == 0 || end > to {
			end = to
		}
		if end < from || s.Call > to {
			continue
		}
		switch d := end - s.Call; {
		case d > first:
			first, second = d, first
		case d > second:
			second = d
		}
	}
	if first+second <= min {
		return 0
	}
	return first + second - min
}
