package simtest

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/simtest/world"
)

// Hot keys at SERIALIZABLE (issue 20): the shape of client work that a
// real SSI bug needs and the plain swarm's serializable runs rarely have.
// An SSI anomaly is a cycle of rw-conflicts among transactions that
// overlap on the same few rows; the bugs that let one commit sit in
// corners of predicate.c and HeapCheckForSerializableConflictOut that
// need, besides, a row created by a transaction the reader cannot see
// (the inserter/updater distinction of PostgreSQL 12.3's bug), a pivot
// that outlives a commit's flush, or a reader whose snapshot falls
// between two commits of a long writer (the read-only anomaly). Four
// clients spreading short transactions over eight lists meet all of that
// on a few seeds in ten thousand.
//
// A hot run puts that shape in the plain campaign, as applications have
// it (a few hot rows, a report or batch job beside short OLTP
// transactions):
//
//   - every client's transactions are list-append ones (insert, register
//     and bank transactions become appends: serializable.go's
//     listInsertsKind), so that all of them crowd the lists;
//   - its list-append transactions draw from four lists, or on half of
//     the hot seeds the usual eight, half of them new lists made by their
//     first append (list inserts are on), which move on as the run goes:
//     every new list is created, appended to and read by several
//     transactions within a few commits;
//   - half of its clients (the odd ones) run long transactions: a pause
//     of up to hotPauseMax before each statement of a list-append
//     transaction, so that their snapshots span other clients' whole
//     transactions and commits, as a reporting query's does;
//   - on a level drawn by the swarm it runs at SERIALIZABLE: hot seeds
//     add to the serializable share (serializable.go), so that the
//     plain campaign holds about twice as many serializable runs.
//
// The draw comes from a stream of its own (seed ^ hotKeysStream), on
// seeds whose kinds include list-append transactions; a seed that does
// not draw it runs exactly as before, and its config line is unchanged.
// A hot run at REPEATABLE READ or READ COMMITTED (the level given) keeps
// the level: only the serializable draw above depends on the level being
// drawn, and the shape applies at SERIALIZABLE only.

// hotKeysStream is this dimension's own random stream.
const hotKeysStream = 0x686f742d6b657973 // "hot-keys"

// hotKeysPer is one swarm seed in hotKeysPer (of those with list-append
// transactions) that is hot.
const hotKeysPer = 8

// hotListKeys are how many lists a hot run's list-append transactions
// may draw from (half of them new lists on list-inserts runs): fewer
// lists crowd more transactions onto each, more of them spread the
// lists' rows over more heap and B-tree pages, so that a rw-conflict is
// less often also flagged through a page lock (and a bug that misses one
// less often hidden by another); neither width caught more than the
// other in measurements (README, SERIALIZABLE), so both are drawn.
var hotListKeys = [...]int{4, listKeys}

// hotPauseMax bounds a long client's pause before each statement of a
// list-append transaction on hot runs.
const hotPauseMax = 10 * time.Millisecond

// drawHotKeys draws whether a swarm seed is hot, before its level is
// known (a hot seed whose level is drawn runs at SERIALIZABLE), and the
// lists a hot run draws from. Both are drawn on every seed, in a fixed
// order.
func drawHotKeys(c Config, ks []string) (hot bool, keys int) {
	rng := world.NewRand(c.Seed ^ hotKeysStream)
	hot = rng.Intn(hotKeysPer) == 0
	keys = hotListKeys[rng.Intn(len(hotListKeys))]
	return hot && c.Swarm && kindsHave(ks, WorkloadAppend), keys
}

// resolveHotKeys sets r.hot and r.hotKeys on a serializable run: hot
// is the seed's draw or the flag (pinned off, a seed runs as it did
// before the dimension existed, its level included).
func resolveHotKeys(c Config, r *resolved, hot bool, keys int) {
	r.hot, r.hotKeys = hot, keys
	if r.iso != db.Serializable || !kindsHave(kinds(r.Workload), WorkloadAppend) {
		r.hot = false
	}
}

func (c Config) validateHotKeys() error {
	if err := validateOnOff("hot-keys", c.HotKeys); err != nil {
		return err
	}
	if c.HotKeys == VarietyOn && !kindsHave(kinds(c.Workload), WorkloadAppend) {
		return fmt.Errorf("hot keys are lists of list-append transactions, and the %s workload has none", c.Workload)
	}
	return nil
}

// stringHotKeys is the dimension in a serializable run's config line,
// left out when off.
func (r resolved) stringHotKeys() string {
	if !r.hot {
		return ""
	}
	return fmt.Sprintf(" hot_keys=%d", r.hotKeys)
}

// listKeysDrawn is how many lists a list-append transaction draws from.
func (r resolved) listKeysDrawn() int {
	if r.hot {
		return r.hotKeys
	}
	return listKeys
}

// hotPause is a long client's pause before a statement of a list-append
// transaction on hot runs (nothing on other runs and clients).
func (s *session) hotPause() {
	if !s.w.rc.hot || s.c%2 == 0 {
		return
	}
	if s.hotRng == nil {
		s.hotRng = world.NewRand(s.w.rc.Seed ^ hotKeysStream ^ uint64(s.c+1)*0x9e3779b97f4a7c15)
	}
	s.w.node.Env.Clock.Sleep(time.Duration(s.hotRng.Intn(int(hotPauseMax))))
}
