package simtest

import (
	pgproc "github.com/pgdst/pgdst/engine/proc"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest/world"
)

// Follow reads (issue 17): applications constantly read rows another
// session committed a moment ago (a queue consumer takes the job a
// producer just inserted, a dashboard polls the counter a writer just
// changed), while pgdst's clients mostly read their own keys or keys at
// random. On a follow-reads seed a client's read picks, with
// followShareDen odds, the key(s) most recently committed by ANOTHER
// client, and reads them as soon as its turn comes: the row is then read
// while its commit may still be in flight to disk (synchronous_commit =
// off), on a page nobody else has touched, which is where visibility
// checks set hint bits from a commit record the WAL has not yet flushed.
//
// Each workload keeps its model: a follow read is a read the workload
// already makes, of a key of its own key space, recorded in its own
// history and judged by its own checker.
//
//   - register: an autocommit read of the key another client last wrote
//     (porcupine judges it as any read).
//   - append: a list read inside a transaction, at the run's isolation
//     level, of the list another client last appended to (Elle).
//   - insert: instead of an insert transaction, an autocommit read of the
//     keys of the transaction another client last committed, by key or by
//     range, recorded as a KeyRead: every key of a transaction
//     acknowledged before the read began must be found (judgeKeyReads).
//   - bank: unchanged; its reads already read every account, so every one
//     follows the last transfer.

// The draw: on one seed in followSeedsPer; a read follows with odds
// 1/followShareDen; an insert transaction of a follow seed is a follow
// read instead with odds 1/followInsertDen (reads cost less than the
// writes they replace, which keeps the campaign's cost flat).
const (
	followSeedsPer  = 4
	followShareDen  = 2
	followInsertDen = 3
	// followRingLen bounds the commits remembered: the newest one of
	// another client is what is read, and followRingLen clients would
	// all have to commit in a row to push every other client's out.
	followRingLen = 8
)

const kindFollowRead = "follow-read"

// followCommit is one acknowledged commit: its client, its workload kind
// and the keys it wrote.
type followCommit struct {
	client int
	kind   string
	keys   []uint64
}

// followState is the workload's memory of recent commits: a ring written
// by every client (the clients run one at a time under the simulator), and
// the draws of follow reads, from a stream of their own so that the
// clients' streams stay as they were.
type followState struct {
	ring [followRingLen]followCommit
	n    int // commits noted so far
	rng  *world.Rand
}

// swarmFollowReads draws the seed's follow reads from a stream of its own,
// so that every other draw of the seed is what it was.
func swarmFollowReads(seed uint64) bool {
	rng := world.NewRand(seed ^ 0x666f6c6c6f777264) // "followrd"
	return rng.Intn(followSeedsPer) == 0
}

// resolveFollowReads sets r's follow reads: the seed's draw under Swarm,
// then Config.FollowReads. With one client there is nobody to follow.
func resolveFollowReads(c Config, r *resolved) {
	on := c.Swarm && swarmFollowReads(c.Seed)
	switch c.FollowReads {
	case VarietyOn:
		on = true
	case VarietyOff:
		on = false
	}
	r.follow = on && c.Clients >= 2
}

func (c Config) validateFollowReads() error {
	return validateOnOff("follow reads", c.FollowReads)
}

// FollowReadsOf reports whether c's run has follow reads, as resolve
// decides it (the shrinker tries them off only when on).
func FollowReadsOf(c Config) bool {
	var r resolved
	resolveFollowReads(c, &r)
	return r.follow
}

func (r resolved) stringFollow() string {
	if !r.follow {
		return "" // seeds without them print, and hash, as before
	}
	return " follow_reads=on"
}

func (w *workload) followRand() *world.Rand {
	if w.follow.rng == nil {
		w.follow.rng = world.NewRand(w.rc.Seed ^ 0x666f6c6c6f776f70) // "followop"
	}
	return w.follow.rng
}

// noteCommit remembers an acknowledged commit of client c. It draws
// nothing and does nothing off follow seeds.
func (w *workload) noteCommit(c int, kind string, keys ...uint64) {
	if !w.rc.follow || len(keys) == 0 {
		return
	}
	w.follow.ring[w.follow.n%followRingLen] = followCommit{client: c, kind: kind, keys: append([]uint64(nil), keys...)}
	w.follow.n++
}

// lastCommitOfOther is the newest remembered commit of kind by a client
// other than c.
func (w *workload) lastCommitOfOther(c int, kind string) (followCommit, bool) {
	for i := 1; i <= followRingLen && i <= w.follow.n; i++ {
		fc := w.follow.ring[(w.follow.n-i)%followRingLen]
		if fc.client != c && fc.kind == kind {
			return fc, true
		}
	}
	return followCommit{}, false
}

// followKey is the key a read of kind reads: on follow seeds, with
// 1/followShareDen odds, a key of another client's last commit of kind;
// otherwise key, the one the client drew.
func (s *session) followKey(kind string, key uint64) uint64 {
	w := s.w
	if !w.rc.follow {
		return key
	}
	rng := w.followRand()
	if rng.Intn(followShareDen) != 0 {
		return key
	}
	fc, ok := w.lastCommitOfOther(s.c, kind)
	if !ok {
		return key
	}
	return fc.keys[rng.Intn(len(fc.keys))]
}

// followInsertNow says whether an insert transaction of client c is a
// follow read instead: on follow seeds, with 1/followInsertDen odds, when
// another client has committed insert keys to read.
func (w *workload) followInsertNow(c int) bool {
	if !w.rc.follow || w.followRand().Intn(followInsertDen) != 0 {
		return false
	}
	_, ok := w.lastCommitOfOther(c, WorkloadInsert)
	return ok
}

// followInsertRead reads the keys of another client's last committed
// insert transaction in one autocommit statement: one key by key, or the
// range of its own keys (not its contended key, far above them), and
// records what it returned for judgeKeyReads.
func (s *session) followInsertRead() bool {
	w := s.w
	if !s.connect() {
		return false
	}
	fc, ok := w.lastCommitOfOther(s.c, WorkloadInsert)
	if !ok {
		return true // followInsertNow found one; nothing since can remove it
	}
	rng := w.followRand()
	lo := fc.keys[rng.Intn(len(fc.keys))]
	hi := lo
	if rng.Intn(2) == 0 {
		lo, hi = ^uint64(0), 0
		for _, k := range fc.keys {
			if !isContended(k) {
				lo, hi = min(lo, k), max(hi, k)
			}
		}
		if lo > hi { // only contended keys: read the one drawn
			lo = fc.keys[0]
			hi = lo
		}
	}
	rd := KeyRead{Client: s.c, Call: w.node.Env.Clock.Now(), Lo: lo, Hi: hi}
	var resp pgproc.Response
	var err error
	if lo == hi {
		if resp, err = s.call(pgproc.Request{Op: pgproc.OpGet, Table: table, Key: lo}); err == nil && resp.Found {
			rd.Rows = append(rd.Rows, [2]uint64{lo, rowID(resp.Val)})
		}
	} else if resp, err = s.call(pgproc.Request{Op: pgproc.OpScan, Table: table, Lo: lo, Hi: hi}); err == nil {
		for _, r := range resp.Rows {
			rd.Rows = append(rd.Rows, [2]uint64{r.Key, rowID(r.Val)})
		}
	}
	if err != nil {
		return true // an error or a lost connection: nothing was read
	}
	rd.Return = w.node.Env.Clock.Now()
	w.hist.KeyReads = append(w.hist.KeyReads, rd)
	return true
}

// appendedKeys are the lists a list-append transaction appended to.
func appendedKeys(t *lin.Txn) []uint64 {
	var keys []uint64
	for _, m := range t.Mops {
		if m.Kind == lin.MopAppend {
			keys = append(keys, m.Key)
		}
	}
	return keys
}
