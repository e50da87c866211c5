// Isolation checking of list-append histories, after Jepsen's Elle
// (Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from
// Experimental Observations", VLDB 2020).
//
// What it infers. Every append writes a value unique to its key and every
// read returns the key's whole list, so a read reveals the order of all
// the appends before it. The longest read of a key gives that key's
// version order (every other read must be a prefix of it). From the
// orders and the reads the checker derives dependencies between committed
// transactions: ww (Tj appended the value right after Ti's), wr (Tj read
// a list ending in Ti's append) and rw (Ti read a list that Tj's append
// extended next), plus realtime edges (Ti returned before Tj was called)
// when the level is StrictSerializable. Beyond Elle, it also places the
// appends no read shows: each must follow the longest read of its key, so
// its writer follows that read's last writer (ww) and every transaction
// that read that whole list (rw). A cycle of dependencies is an
// anomaly named by the edges it needs: G0 (ww only), G1c (ww and wr),
// G-single (exactly one rw), G-nonadjacent (two or more rw, no two of them
// next to each other), G2-item (more rw, two of them adjacent), each
// but G-nonadjacent with a "-realtime" variant when the cycle needs a
// realtime edge. Other anomalies need no
// cycle: G1a (a read saw a failed transaction's append), G1b (a read saw
// a value its writer later extended), lost update (two transactions read
// the same version of a key and both appended to it) and internal
// inconsistency (a transaction's reads disagree with its own appends, or
// show one it makes only later), and, for transactions that say when
// their snapshot was taken and when their COMMIT was sent, G-SIa (Adya's
// interference: a transaction read or overwrote the append of one that
// began to commit only after its snapshot was taken).
// Malformed histories are findings too, never panics: an appended value
// repeated (duplicate-append), a read listing a value twice
// (duplicate-elements), two reads of a key that no one order explains
// (incompatible-order) and a read of a value nobody appended
// (garbage-read).
//
// Its limits. It knows only what reads reveal: appends no read shows are
// ordered only after the longest read, not among themselves; a key whose
// reads disagree (incompatible-order, duplicate-elements) yields no ww or
// rw edge at all, though its wr edges stay; a key no committed
// transaction read yields nothing. An Unknown transaction counts as
// committed only when a committed read saw one of its appends, and an
// Unknown transaction's own reads are never trusted. Clients' process
// order is not used. Findings that many reads repeat (an aborted,
// garbage or intermediate value) are reported once per value, naming the
// first reader and counting the rest. Cycle searches are budgeted per
// strongly connected component: each component yields at least one cycle
// and at most one per anomaly name, so a huge component is summarised
// rather than enumerated, and a G-single hidden in it may be reported only
// as G2-item.
package linearizability

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Level is an isolation level a list-append history is judged against.
// The zero Level is not a level, so a forgotten field is caught rather
// than silently judged as read committed.
type Level uint8

const (
	// ReadCommitted forbids G0, G1a, G1b and G1c.
	ReadCommitted Level = iota + 1
	// RepeatableRead is snapshot isolation, which PostgreSQL's
	// REPEATABLE READ provides: it also forbids lost update and every
	// cycle without two adjacent rw edges (G-single, G-nonadjacent), since
	// under snapshot isolation every cycle has two rw edges in a row
	// (Fekete et al., "Making Snapshot Isolation Serializable", TODS 2005;
	// Cerone and Gotsman, "Analysing Snapshot Isolation", JACM 2018). It
	// allows G2-item (write skew).
	RepeatableRead
	// Serializable forbids every dependency cycle.
	Serializable
	// StrictSerializable also orders transactions by real time: a
	// transaction that returned before another was called precedes it.
	StrictSerializable
)

var isoLevelNames = [...]string{
	ReadCommitted:      "read-committed",
	RepeatableRead:     "repeatable-read",
	Serializable:       "serializable",
	StrictSerializable: "strict-serializable",
}

// ParseLevel reads a level as written on a command line.
func ParseLevel(s string) (Level, error) {
	for l := ReadCommitted; l <= StrictSerializable; l++ {
		if isoLevelNames[l] == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown isolation level %q: want read-committed, repeatable-read, serializable or strict-serializable", s)
}

func (l Level) String() string {
	if l.valid() {
		return isoLevelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

func (l Level) valid() bool { return l >= ReadCommitted && l <= StrictSerializable }

// Anomaly names one kind of finding, with Elle's names where Elle has one.
type Anomaly string

const (
	// DuplicateAppend: two appends wrote the same value to one key, so
	// reads of it cannot be attributed.
	DuplicateAppend Anomaly = "duplicate-append"
	// DuplicateElements: a read listed one value twice.
	DuplicateElements Anomaly = "duplicate-elements"
	// GarbageRead: a read listed a value nobody appended.
	GarbageRead Anomaly = "garbage-read"
	// IncompatibleOrder: two reads of a key are not prefixes of one
	// another, so no single order of appends explains both.
	IncompatibleOrder Anomaly = "incompatible-order"
	// Internal: a transaction's read disagrees with its own earlier read
	// and appends of that key.
	Internal Anomaly = "internal"
	// NonRepeatableRead: a transaction read a key twice and the second
	// read shows other transactions' appends, committed in between, ahead
	// of its own (Adya's P2, fuzzy read). READ COMMITTED takes a snapshot
	// per statement, so it allows this; every stronger level forbids it.
	NonRepeatableRead Anomaly = "non-repeatable-read"
	// G1a: aborted read, a committed read saw a failed transaction's
	// append.
	G1a Anomaly = "G1a"
	// G1b: intermediate read, a committed read ended at a value its
	// writer went on to extend.
	G1b Anomaly = "G1b"
	// LostUpdate: two committed transactions read the same version of a
	// key and both appended to it.
	LostUpdate Anomaly = "lost-update"
	// GSIa: interference (Adya's G-SIa), a transaction that runs on one
	// snapshot read or overwrote an append of a transaction whose COMMIT
	// was sent only after that snapshot was certainly taken
	// (Txn.SnapshotBy, Txn.CommitCall): a snapshot saw the future.
	GSIa Anomaly = "G-SIa"
	// G0: a cycle of ww edges (dirty write).
	G0 Anomaly = "G0"
	// G1c: a cycle of ww and wr edges, at least one wr (circular
	// information flow).
	G1c Anomaly = "G1c"
	// GSingle: a cycle with exactly one rw edge (read skew).
	GSingle Anomaly = "G-single"
	// GNonadjacent: a cycle with two or more rw edges, no two of them
	// adjacent (Elle's G-nonadjacent; e.g. the long fork: two readers each
	// see a different one of two independent writes). Snapshot isolation
	// forbids it.
	GNonadjacent Anomaly = "G-nonadjacent"
	// G2Item: a cycle with two or more rw edges, two of them adjacent
	// (write skew).
	G2Item Anomaly = "G2-item"
	// The realtime variants: the cycle needs a realtime edge, so only
	// StrictSerializable forbids it.
	G0Realtime      Anomaly = "G0-realtime"
	G1cRealtime     Anomaly = "G1c-realtime"
	GSingleRealtime Anomaly = "G-single-realtime"
	G2ItemRealtime  Anomaly = "G2-item-realtime"
)

// isoAnomalyOrder is the order findings are reported in: malformed
// histories first, then the anomalies needing no cycle, then cycles from
// the strongest to the weakest.
var isoAnomalyOrder = []Anomaly{
	DuplicateAppend, DuplicateElements, GarbageRead, IncompatibleOrder, Internal, NonRepeatableRead,
	G1a, G1b, LostUpdate, GSIa,
	G0, G1c, GSingle, GNonadjacent, G2Item,
	G0Realtime, G1cRealtime, GSingleRealtime, G2ItemRealtime,
}

func isoAnomalyRank(a Anomaly) int {
	if i := slices.Index(isoAnomalyOrder, a); i >= 0 {
		return i
	}
	return len(isoAnomalyOrder)
}

// Forbids says whether a history showing a is invalid at level l. A
// malformed history is invalid at every level, because nothing inferred
// from it can be trusted; an anomaly name the checker does not know is
// forbidden too, so that a new name fails loudly rather than passing.
func (l Level) Forbids(a Anomaly) bool {
	switch a {
	case G0, G1a, G1b, G1c:
		return l >= ReadCommitted
	case GSingle, GNonadjacent, LostUpdate, NonRepeatableRead, GSIa:
		return l >= RepeatableRead
	case G2Item:
		return l >= Serializable
	case G0Realtime, G1cRealtime, GSingleRealtime, G2ItemRealtime:
		return l >= StrictSerializable
	}
	return true
}

// Finding is one anomaly and the transactions that show it.
type Finding struct {
	Anomaly Anomaly
	// Txns are the IDs of the transactions involved; for a cycle, in
	// cycle order starting from the one first in the history.
	Txns []int
	// Explanation says in words which transaction observed what and why
	// that contradicts the level.
	Explanation string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %v: %s", f.Anomaly, f.Txns, f.Explanation)
}

// IsolationResult is the judgement of one list-append history.
type IsolationResult struct {
	Level Level
	// Findings are all the anomalies found, whatever the level, in a
	// deterministic order: malformed history first, then anomalies without
	// a cycle, then cycles from G0 to G2-item and their realtime variants;
	// within an anomaly, by key or by the cycle's first transaction.
	Findings []Finding
	// Forbidden are the findings the level forbids.
	Forbidden []Finding
	// Txns counts the history's transactions by outcome; UnknownCommitted
	// counts the Unknown ones known to have committed because a committed
	// read saw one of their appends.
	Txns, OK, Failed, Unknown, UnknownCommitted int
	// Keys counts the keys touched; Edges the distinct dependency edges
	// (pairs of transactions) inferred; Cycles the strongly connected
	// components with a cycle.
	Keys, Edges, Cycles int
}

// Valid says whether the history is allowed at the level it was checked
// against.
func (r *IsolationResult) Valid() bool { return r != nil && len(r.Forbidden) == 0 }

// Anomalies lists the distinct anomalies found, in report order.
func (r *IsolationResult) Anomalies() []Anomaly {
	var out []Anomaly
	for _, f := range r.Findings {
		if len(out) == 0 || out[len(out)-1] != f.Anomaly {
			out = append(out, f.Anomaly)
		}
	}
	return out
}

// Summary is a one-line account of the result.
func (r *IsolationResult) Summary() string {
	verdict := "valid"
	if !r.Valid() {
		verdict = "invalid"
	}
	names := make([]string, 0, 4)
	for _, a := range r.Anomalies() {
		n := 0
		for _, f := range r.Findings {
			if f.Anomaly == a {
				n++
			}
		}
		names = append(names, fmt.Sprintf("%s (%d)", a, n))
	}
	s := fmt.Sprintf("%s at %s: %d txns (%d ok, %d failed, %d unknown of which %d committed), %d keys, %d edges",
		verdict, r.Level, r.Txns, r.OK, r.Failed, r.Unknown, r.UnknownCommitted, r.Keys, r.Edges)
	if len(names) > 0 {
		s += "; found " + strings.Join(names, ", ")
	}
	return s
}

// Edge kinds, as bits: one pair of transactions may be related several
// ways at once.
const (
	isoWW uint8 = 1 << iota
	isoWR
	isoRW
	isoRT
)

// isoSearchBudget bounds the edges one cycle search may examine in one
// component. The first breadth-first search always completes, and
// candidates whose cycle is certain go first, so a search that has such a
// candidate always finds a cycle; the budget only cuts short the hunt for
// shorter cycles (and for uncertain ones), so that a history with a huge
// component (a badly broken engine) still finishes in seconds.
const isoSearchBudget = 1 << 20

// isoListShown is how many values of a list an explanation shows in full.
const isoListShown = 8

type isoKV struct{ key, val uint64 }

// isoAppend is where one appended value came from.
type isoAppend struct {
	txn int32 // index in the history; -1 when several mops appended this value
	mop int32
	pos int32 // index in the key's version order; -1 when not in it
}

type isoRead struct{ txn, mop int32 }

type isoKey struct {
	key   uint64
	reads []isoRead // reads by OK transactions, in history order
	// order is the version order, the longest read, when ordered.
	order   []uint64
	ordered bool
	// appends index refs: every append to the key, in history order.
	appends []int32
}

type isoEdge struct {
	from, to int32
	kind     uint8
}

// isoChecker holds one check's state; it is used once.
type isoChecker struct {
	txns      []Txn
	findings  []Finding
	committed []bool
	refIdx    map[isoKV]int32
	refs      []isoAppend
	keys      map[uint64]*isoKey
	sorted    []*isoKey // keys in ascending order
	raw       []isoEdge
	lost      []isoLost
	g1b       []isoBadRead
	// The dependency graph in compressed sparse rows: node v's edges are
	// dst[off[v]:off[v+1]], sorted by target, with kinds OR'd together.
	off  []int32
	dst  []int32
	kind []uint8
	// Strongly connected components: comp[v] for every node.
	comp []int32
	// Scratch for Tarjan and breadth-first search, indexed by node.
	tIndex, tLow, sub []int32
	tOn               []bool
	seen              []uint32
	epoch             uint32
	prevNode, prevEdg []int32
	// searchNonadjacent's states: 2*node, and 2*node+1 when the edge
	// into the node was rw.
	naSeen         []uint32
	naEpoch        uint32
	naPrev, naEdge []int32
	naPathEdges    []int32
	hasRT          bool
}

// CheckIsolation infers the dependency graph of a list-append history
// and reports its anomalies, marking those level forbids. It never panics
// on a malformed history (that is a finding), only on a Level that is not
// one of the four, which is a caller's bug, or on a broken invariant of
// its own.
func CheckIsolation(txns []Txn, level Level) *IsolationResult {
	if !level.valid() {
		panic(fmt.Sprintf("linearizability: CheckIsolation with invalid level %d", uint8(level)))
	}
	if len(txns) >= math.MaxInt32 {
		panic("linearizability: CheckIsolation history too long for int32 indexes")
	}
	c := &isoChecker{
		txns:      txns,
		committed: make([]bool, len(txns)),
		refIdx:    make(map[isoKV]int32),
		keys:      make(map[uint64]*isoKey),
	}
	res := &IsolationResult{Level: level, Txns: len(txns)}
	for i := range txns {
		switch txns[i].Outcome {
		case OK:
			res.OK++
			c.committed[i] = true
		case Failed:
			res.Failed++
		default:
			res.Unknown++
		}
	}
	c.indexAppends()
	c.scanTxns()
	c.orderKeys()
	for i := range txns {
		if txns[i].Outcome != OK && txns[i].Outcome != Failed && c.committed[i] {
			res.UnknownCommitted++
		}
	}
	c.inferEdges()
	c.reportGroupedReads()
	if level == StrictSerializable {
		c.realtimeEdges()
	}
	res.Edges = c.buildGraph()
	c.interference()
	res.Cycles = c.findCycles()
	res.Keys = len(c.keys)

	slices.SortStableFunc(c.findings, func(a, b Finding) int {
		return isoAnomalyRank(a.Anomaly) - isoAnomalyRank(b.Anomaly)
	})
	res.Findings = c.findings
	for _, f := range c.findings {
		if level.Forbids(f.Anomaly) {
			res.Forbidden = append(res.Forbidden, f)
		}
	}
	return res
}

func (c *isoChecker) add(a Anomaly, txns []int32, format string, args ...any) {
	ids := make([]int, len(txns))
	for i, t := range txns {
		ids[i] = c.txns[t].ID
	}
	c.findings = append(c.findings, Finding{Anomaly: a, Txns: ids, Explanation: fmt.Sprintf(format, args...)})
}

// name is how explanations call transaction i.
func (c *isoChecker) name(i int32) string { return fmt.Sprintf("T%d", c.txns[i].ID) }

func (c *isoChecker) key(k uint64) *isoKey {
	ks := c.keys[k]
	if ks == nil {
		ks = &isoKey{key: k}
		c.keys[k] = ks
	}
	return ks
}

// ref finds who appended v to k, or nil when nobody did.
func (c *isoChecker) ref(k, v uint64) *isoAppend {
	if i, ok := c.refIdx[isoKV{k, v}]; ok {
		return &c.refs[i]
	}
	return nil
}

// writer is the committed transaction that appended v to k, or -1 when
// nobody did, several did, or the writer did not commit.
func (c *isoChecker) writer(k, v uint64) int32 {
	r := c.ref(k, v)
	if r == nil || r.txn < 0 || !c.committed[r.txn] {
		return -1
	}
	return r.txn
}

func (c *isoChecker) list(r isoRead) []uint64 { return c.txns[r.txn].Mops[r.mop].List }

// indexAppends records who appended each value, and reports values
// appended more than once, whose readers could not be told apart.
func (c *isoChecker) indexAppends() {
	dups := map[isoKV][]int32{}
	var dupKeys []isoKV
	for i := range c.txns {
		for j, m := range c.txns[i].Mops {
			if m.Kind != MopAppend {
				continue
			}
			ks := c.key(m.Key)
			kv := isoKV{m.Key, m.Value}
			if r, ok := c.refIdx[kv]; ok {
				if dups[kv] == nil {
					dups[kv] = []int32{c.refs[r].txn}
					dupKeys = append(dupKeys, kv)
				}
				dups[kv] = append(dups[kv], int32(i))
				c.refs[r].txn = -1
				continue
			}
			c.refIdx[kv] = int32(len(c.refs))
			ks.appends = append(ks.appends, int32(len(c.refs)))
			c.refs = append(c.refs, isoAppend{txn: int32(i), mop: int32(j), pos: -1})
		}
	}
	slices.SortFunc(dupKeys, isoCmpKV)
	for _, kv := range dupKeys {
		ts := slices.Compact(dups[kv]) // in history order, so a txn's repeats are adjacent
		if len(ts) == 1 {
			c.add(DuplicateAppend, ts, "%s appended %d to key %d more than once; appended values must be unique",
				c.name(ts[0]), kv.val, kv.key)
			continue
		}
		all := "all"
		if len(ts) == 2 {
			all = "both"
		}
		c.add(DuplicateAppend, ts, "%s %s appended %d to key %d; appended values must be unique, so reads of it cannot be attributed",
			c.names(ts), all, kv.val, kv.key)
	}
}

func isoCmpKV(a, b isoKV) int {
	if d := cmp.Compare(a.key, b.key); d != 0 {
		return d
	}
	return cmp.Compare(a.val, b.val)
}

// names lists transactions in words: "T1 and T2", "T1, T2 and T3".
func (c *isoChecker) names(ts []int32) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = c.name(t)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// isoTxnKey is one key's state while scanning one transaction's mops.
type isoTxnKey struct {
	key      uint64
	known    bool     // a read has fixed the whole list
	base     []uint64 // that read's list
	own      []uint64 // own appends since that read (or since the start)
	firstMop int32    // first read before any own append of the key, or -1
	// lastAppend is the transaction's last append to the key, or -1.
	lastAppend int32
	appended   bool
	reported   bool
}

// isoLost is an external read of a key by a transaction that then
// appended to it: two of them at one version are a lost update.
type isoLost struct {
	key   uint64
	empty bool
	last  uint64
	read  isoRead
}

// scanTxns checks each committed transaction's reads against its own
// appends (internal consistency), registers its reads with their keys,
// and notes the reads that lost updates are made of. Only OK
// transactions' reads are trusted.
func (c *isoChecker) scanTxns() {
	idx := map[uint64]int{}
	var st []isoTxnKey
	for i := range c.txns {
		t := &c.txns[i]
		if t.Outcome != OK {
			continue
		}
		clear(idx)
		st = st[:0]
		for j, m := range t.Mops {
			if m.Kind != MopRead && m.Kind != MopAppend {
				continue
			}
			n, ok := idx[m.Key]
			if !ok {
				n = len(st)
				idx[m.Key] = n
				// Reuse the own-appends slice an earlier transaction left
				// at this index; no two indexes ever share one.
				var own []uint64
				if n < cap(st) {
					own = st[:n+1][n].own[:0]
				}
				st = append(st, isoTxnKey{key: m.Key, firstMop: -1, lastAppend: -1, own: own})
			}
			if m.Kind == MopAppend {
				st[n].lastAppend = int32(j)
			}
		}
		for j, m := range t.Mops {
			if m.Kind != MopRead && m.Kind != MopAppend {
				continue
			}
			s := &st[idx[m.Key]]
			if m.Kind == MopAppend {
				s.own = append(s.own, m.Value)
				s.appended = true
				continue
			}
			ks := c.key(m.Key)
			ks.reads = append(ks.reads, isoRead{int32(i), int32(j)})
			if !s.appended && s.firstMop < 0 {
				s.firstMop = int32(j)
			}
			if s.lastAppend > int32(j) {
				c.checkFutureRead(int32(i), int32(j), s)
			}
			c.checkInternal(int32(i), s, m.List)
			s.known, s.base, s.own = true, m.List, s.own[:0]
		}
		for k := range st {
			if s := &st[k]; s.appended && s.firstMop >= 0 {
				l := t.Mops[s.firstMop].List
				lu := isoLost{key: s.key, empty: len(l) == 0, read: isoRead{int32(i), s.firstMop}}
				if len(l) > 0 {
					lu.last = l[len(l)-1]
				}
				c.lost = append(c.lost, lu)
			}
		}
	}
}

// checkFutureRead reports a read that lists a value its own transaction
// appends only later, which no order of the transaction's steps explains.
func (c *isoChecker) checkFutureRead(t, j int32, s *isoTxnKey) {
	if s.reported {
		return
	}
	mops := c.txns[t].Mops
	l := mops[j].List
	for _, m := range mops[j+1 : s.lastAppend+1] {
		if m.Kind == MopAppend && m.Key == s.key && slices.Contains(l, m.Value) {
			s.reported = true
			c.add(Internal, []int32{t}, "%s read key %d = %s, which includes %d, though %s appended %d only afterwards",
				c.name(t), s.key, isoFmtList(l), m.Value, c.name(t), m.Value)
			return
		}
	}
}

// checkInternal compares one read of a key with what the transaction
// itself already knows of it: the exact list when it read the key before
// (plus its appends since), or else that the list ends with its appends.
func (c *isoChecker) checkInternal(t int32, s *isoTxnKey, l []uint64) {
	if s.reported {
		return
	}
	if s.known {
		nb := len(s.base)
		if len(l) == nb+len(s.own) && slices.Equal(l[:nb], s.base) && slices.Equal(l[nb:], s.own) {
			return
		}
		s.reported = true
		want := append(slices.Clip(s.base), s.own...)
		if len(l) > nb+len(s.own) && slices.Equal(l[:nb], s.base) && slices.Equal(l[len(l)-len(s.own):], s.own) {
			// The list grew by others' appends between the reads, and
			// its own are still last: a newer snapshot, not a broken
			// transaction.
			c.add(NonRepeatableRead, []int32{t}, "%s read key %d = %s and later = %s: appends committed in between by others are visible to its second read (its own appends in between: %s)",
				c.name(t), s.key, isoFmtList(s.base), isoFmtList(l), isoFmtList(s.own))
			return
		}
		c.add(Internal, []int32{t}, "%s read key %d = %s and later = %s with only its own appends %s in between; it should have read %s",
			c.name(t), s.key, isoFmtList(s.base), isoFmtList(l), isoFmtList(s.own), isoFmtList(want))
		return
	}
	if len(l) >= len(s.own) && slices.Equal(l[len(l)-len(s.own):], s.own) {
		return
	}
	s.reported = true
	c.add(Internal, []int32{t}, "%s appended %s to key %d and then read key %d = %s, which does not end with its own appends",
		c.name(t), isoFmtList(s.own), s.key, s.key, isoFmtList(l))
}

// orderKeys picks each key's version order, reports reads it cannot
// explain, and resolves what every read value says: a failed writer (G1a),
// no writer (garbage-read), or an Unknown writer, who thereby committed.
func (c *isoChecker) orderKeys() {
	c.sorted = make([]*isoKey, 0, len(c.keys))
	for _, ks := range c.keys {
		c.sorted = append(c.sorted, ks)
	}
	slices.SortFunc(c.sorted, func(a, b *isoKey) int { return cmp.Compare(a.key, b.key) })
	var bad []isoBadRead
	for _, ks := range c.sorted {
		bad = c.orderKey(ks, bad[:0])
		c.reportBad(ks, bad)
	}
}

// isoBadRead is a value some read showed that it should not have: its
// first reader in history order and how many reads showed it.
type isoBadRead struct {
	val    uint64
	writer int32 // -1: nobody appended it
	first  isoRead
	count  int
	key    uint64
}

// orderKey takes the key's longest read as its version order, unless
// some read is not a prefix of it (incompatible-order) or it lists a
// value twice (duplicate-elements); then the key has no order. It appends
// the key's bad read values to bad.
func (c *isoChecker) orderKey(ks *isoKey, bad []isoBadRead) []isoBadRead {
	if len(ks.reads) == 0 {
		return bad
	}
	longest := ks.reads[0]
	for _, r := range ks.reads[1:] {
		if len(c.list(r)) > len(c.list(longest)) {
			longest = r
		}
	}
	ks.order, ks.ordered = c.list(longest), true
	var odd isoRead
	nodd := 0
	for _, r := range ks.reads {
		if l := c.list(r); !slices.Equal(l, ks.order[:len(l)]) {
			if nodd == 0 {
				odd = r
			}
			nodd++
		}
	}
	if nodd > 0 {
		ks.ordered = false
		more := ""
		if nodd > 1 {
			more = fmt.Sprintf(" (%d reads of key %d disagree with the longest)", nodd, ks.key)
		}
		c.add(IncompatibleOrder, isoPair(longest.txn, odd.txn),
			"%s read key %d = %s and %s read key %d = %s; neither is a prefix of the other, so no one order of appends explains both%s",
			c.name(longest.txn), ks.key, isoFmtList(ks.order), c.name(odd.txn), ks.key, isoFmtList(c.list(odd)), more)
	}
	if ks.ordered {
		for i, v := range ks.order {
			r := c.ref(ks.key, v)
			if r == nil {
				continue
			}
			if r.pos >= 0 {
				ks.ordered = false
				c.add(DuplicateElements, []int32{longest.txn}, "%s read key %d = %s, which lists %d twice (positions %d and %d)",
					c.name(longest.txn), ks.key, isoFmtList(ks.order), v, r.pos, i)
				for _, u := range ks.order[:i] {
					if r := c.ref(ks.key, u); r != nil {
						r.pos = -1
					}
				}
				break
			}
			r.pos = int32(i)
		}
	}
	if !ks.ordered {
		ks.order = nil
		return c.badUnordered(ks, bad)
	}
	return c.badOrdered(ks, bad)
}

func isoPair(a, b int32) []int32 {
	if a == b {
		return []int32{a}
	}
	return []int32{min(a, b), max(a, b)}
}

// judge says what one read value implies: whether it is bad (failed or
// missing writer) and who wrote it; an Unknown writer committed.
func (c *isoChecker) judge(k, v uint64) (bad bool, writer int32) {
	r := c.ref(k, v)
	if r == nil {
		return true, -1
	}
	if r.txn < 0 {
		return false, -1 // a duplicate append, already reported
	}
	switch c.txns[r.txn].Outcome {
	case Failed:
		return true, r.txn
	case OK:
	default:
		c.committed[r.txn] = true
	}
	return false, r.txn
}

// badOrdered judges an ordered key's values once each, in its order,
// since every read is a prefix of it: the reads that saw position i are
// those longer than i.
func (c *isoChecker) badOrdered(ks *isoKey, bad []isoBadRead) []isoBadRead {
	var prefMax, lens []int
	for i, v := range ks.order {
		isBad, w := c.judge(ks.key, v)
		if !isBad {
			continue
		}
		if prefMax == nil {
			prefMax = make([]int, len(ks.reads))
			lens = make([]int, len(ks.reads))
			m := 0
			for j, r := range ks.reads {
				lens[j] = len(c.list(r))
				m = max(m, lens[j])
				prefMax[j] = m
			}
			slices.Sort(lens)
		}
		first := sort.Search(len(prefMax), func(j int) bool { return prefMax[j] > i })
		count := len(lens) - sort.Search(len(lens), func(j int) bool { return lens[j] > i })
		bad = append(bad, isoBadRead{key: ks.key, val: v, writer: w, first: ks.reads[first], count: count})
	}
	return bad
}

// badUnordered judges every value of every read of a key with no order,
// counting each read once per bad value it shows.
func (c *isoChecker) badUnordered(ks *isoKey, bad []isoBadRead) []isoBadRead {
	at := map[uint64]int{}      // bad value -> index in bad
	lastReader := map[int]int{} // index in bad -> index in ks.reads of the last read counted
	start := len(bad)
	for ri, r := range ks.reads {
		for _, v := range c.list(r) {
			if i, ok := at[v]; ok {
				if lastReader[i] != ri {
					lastReader[i] = ri
					bad[i].count++
				}
				continue
			}
			if isBad, w := c.judge(ks.key, v); isBad {
				at[v] = len(bad)
				lastReader[len(bad)] = ri
				bad = append(bad, isoBadRead{key: ks.key, val: v, writer: w, first: r, count: 1})
			}
		}
	}
	slices.SortStableFunc(bad[start:], func(a, b isoBadRead) int { return cmp.Compare(a.val, b.val) })
	return bad
}

func (c *isoChecker) reportBad(ks *isoKey, bad []isoBadRead) {
	for _, b := range bad {
		others := ""
		if b.count > 1 {
			others = fmt.Sprintf("; %d reads in all saw it", b.count)
		}
		l := c.list(b.first)
		if b.writer < 0 {
			c.add(GarbageRead, []int32{b.first.txn}, "%s read key %d = %s, but no transaction appended %d to key %d%s",
				c.name(b.first.txn), ks.key, isoFmtList(l), b.val, ks.key, others)
			continue
		}
		c.add(G1a, []int32{b.writer, b.first.txn}, "%s read key %d = %s, which includes %d, appended by %s, which failed (aborted read)%s",
			c.name(b.first.txn), ks.key, isoFmtList(l), b.val, c.name(b.writer), others)
	}
}

// inferEdges derives ww, wr and rw edges, key by key, and notes
// intermediate reads. explain must use the same rules to justify an edge.
func (c *isoChecker) inferEdges() {
	for _, ks := range c.sorted {
		if ks.ordered {
			prev := int32(-1)
			for i, v := range ks.order {
				w := c.writer(ks.key, v)
				if i > 0 && prev >= 0 && w >= 0 && prev != w {
					c.raw = append(c.raw, isoEdge{prev, w, isoWW})
				}
				prev = w
			}
			c.unobservedEdges(ks, prev)
		}
		for _, r := range ks.reads {
			l := c.list(r)
			if len(l) > 0 {
				x := l[len(l)-1]
				if w := c.writer(ks.key, x); w >= 0 && w != r.txn {
					c.raw = append(c.raw, isoEdge{w, r.txn, isoWR})
					if later := c.laterAppend(w, ks.key, x); later != nil {
						c.g1b = append(c.g1b, isoBadRead{key: ks.key, val: x, writer: w, first: r, count: 1})
					}
				}
			}
			if ks.ordered && len(l) < len(ks.order) {
				if w := c.writer(ks.key, ks.order[len(l)]); w >= 0 && w != r.txn {
					c.raw = append(c.raw, isoEdge{r.txn, w, isoRW})
				}
			}
		}
	}
}

// unobservedEdges orders the committed appends to an ordered key that no
// read shows. Each must lie beyond the longest read, since every read is
// a prefix of the final list, so its writer follows the writer of that
// read's last value (ww) and every transaction that read the whole of it
// (rw). Elle leaves such appends out; the edges are sound, and they catch
// a transaction that read a key and then appended to it unseen, after
// another had read its append's predecessor. Appenders among themselves
// stay unordered, and transactions that read less are ordered before
// them through the chain of ww edges. A key where reads of the longest
// version and unseen appenders are both many would make this quadratic,
// so it stops at isoUnobservedCap edges a key: fewer edges can only hide
// anomalies, never invent them.
func (c *isoChecker) unobservedEdges(ks *isoKey, last int32) {
	budget := isoUnobservedCap
	for _, ri := range ks.appends {
		r := &c.refs[ri]
		if r.pos >= 0 || r.txn < 0 || !c.committed[r.txn] {
			continue
		}
		if last >= 0 && last != r.txn {
			c.raw = append(c.raw, isoEdge{last, r.txn, isoWW})
		}
		for _, rd := range ks.reads {
			if budget--; budget < 0 {
				return
			}
			if rd.txn != r.txn && len(c.list(rd)) == len(ks.order) {
				c.raw = append(c.raw, isoEdge{rd.txn, r.txn, isoRW})
			}
		}
	}
}

// isoUnobservedCap bounds the reads examined per key for unobserved
// appends (see unobservedEdges).
const isoUnobservedCap = 1 << 20

// laterAppend finds an append to k by transaction w after its append of x.
func (c *isoChecker) laterAppend(w int32, k, x uint64) *Mop {
	r := c.ref(k, x)
	mops := c.txns[w].Mops
	for j := r.mop + 1; j < int32(len(mops)); j++ {
		if mops[j].Kind == MopAppend && mops[j].Key == k {
			return &mops[j]
		}
	}
	return nil
}

// reportGroupedReads reports intermediate reads (one finding per value
// read, naming its first reader) and lost updates (one per version that
// several transactions read and then appended after).
func (c *isoChecker) reportGroupedReads() {
	slices.SortStableFunc(c.g1b, func(a, b isoBadRead) int { return isoCmpKV(isoKV{a.key, a.val}, isoKV{b.key, b.val}) })
	for i := 0; i < len(c.g1b); {
		j := i + 1
		for j < len(c.g1b) && c.g1b[j].key == c.g1b[i].key && c.g1b[j].val == c.g1b[i].val {
			j++
		}
		b := c.g1b[i]
		others := ""
		if j-i > 1 {
			others = fmt.Sprintf("; %d reads in all ended there", j-i)
		}
		later := c.laterAppend(b.writer, b.key, b.val)
		c.add(G1b, []int32{b.writer, b.first.txn}, "%s read key %d = %s, ending at %s's append of %d, but %s went on to append %d to key %d (intermediate read)%s",
			c.name(b.first.txn), b.key, isoFmtList(c.list(b.first)), c.name(b.writer), b.val, c.name(b.writer), later.Value, b.key, others)
		i = j
	}

	slices.SortStableFunc(c.lost, func(a, b isoLost) int {
		if d := isoCmpKV(isoKV{a.key, a.last}, isoKV{b.key, b.last}); d != 0 {
			return d
		}
		if a.empty != b.empty {
			if a.empty {
				return -1
			}
			return 1
		}
		return int(a.read.txn - b.read.txn)
	})
	for i := 0; i < len(c.lost); {
		j := i + 1
		for j < len(c.lost) && c.lost[j].key == c.lost[i].key && c.lost[j].empty == c.lost[i].empty && c.lost[j].last == c.lost[i].last {
			j++
		}
		if j-i > 1 {
			ts := make([]int32, 0, j-i)
			for _, lu := range c.lost[i:j] {
				ts = append(ts, lu.read.txn)
			}
			lu := c.lost[i]
			version := "[]"
			if !lu.empty {
				version = fmt.Sprintf("a list ending in %d", lu.last)
			}
			all, others := "all", "each appended without seeing the others' appends"
			if len(ts) == 2 {
				all, others = "both", "neither saw the other's append"
			}
			c.add(LostUpdate, ts, "%s %s read key %d = %s and then appended to it, so %s (lost update)",
				c.names(ts), all, lu.key, version, others)
		}
		i = j
	}
}

// realtimeEdges adds an edge Ti -> Tj for Ti returning before Tj was
// called, but only the edges not implied by others, found with Elle's
// frontier: the committed transactions that have returned and are not
// yet known to precede another that has returned. Each call takes an edge
// from every frontier member; each return retires the members its call
// saw, since it now stands for them. The frontier is an antichain of
// overlapping intervals, so it is as wide as the concurrency, and the
// edges number about n times that.
func (c *isoChecker) realtimeEdges() {
	type event struct {
		at  int64
		ret bool
		txn int32
	}
	ev := make([]event, 0, 2*len(c.txns))
	for i := range c.txns {
		t := &c.txns[i]
		if !c.committed[i] {
			continue
		}
		ev = append(ev, event{t.Call, false, int32(i)})
		if t.Outcome == OK {
			// An Unknown transaction never returned, so it precedes
			// nothing; a return before the call is read as at the call.
			ev = append(ev, event{max(t.Return, t.Call), true, int32(i)})
		}
	}
	// At equal times calls go first: a return at the very instant of a
	// call does not order the two.
	slices.SortFunc(ev, func(a, b event) int {
		switch {
		case a.at != b.at:
			if a.at < b.at {
				return -1
			}
			return 1
		case a.ret != b.ret:
			if !a.ret {
				return -1
			}
			return 1
		}
		return int(a.txn - b.txn)
	})
	var frontier []int32
	inFrontier := make([]bool, len(c.txns))
	seenLo := make([]int32, len(c.txns))
	seenHi := make([]int32, len(c.txns))
	var seen []int32
	for _, e := range ev {
		if !e.ret {
			seenLo[e.txn] = int32(len(seen))
			seen = append(seen, frontier...)
			seenHi[e.txn] = int32(len(seen))
			for _, f := range frontier {
				c.raw = append(c.raw, isoEdge{f, e.txn, isoRT})
			}
			continue
		}
		for _, f := range seen[seenLo[e.txn]:seenHi[e.txn]] {
			inFrontier[f] = false
		}
		frontier = slices.DeleteFunc(frontier, func(f int32) bool { return !inFrontier[f] })
		frontier = append(frontier, e.txn)
		inFrontier[e.txn] = true
	}
	c.hasRT = true
}

// buildGraph turns the raw edges into compressed sparse rows, merging the
// kinds of parallel edges, and returns the number of distinct edges.
func (c *isoChecker) buildGraph() int {
	n := len(c.txns)
	c.off = make([]int32, n+1)
	for _, e := range c.raw {
		if e.from == e.to || !c.committed[e.from] || !c.committed[e.to] {
			panic(fmt.Sprintf("linearizability: bad edge %d -> %d", e.from, e.to))
		}
		c.off[e.from+1]++
	}
	for v := range n {
		c.off[v+1] += c.off[v]
	}
	c.dst = make([]int32, len(c.raw))
	c.kind = make([]uint8, len(c.raw))
	fill := slices.Clone(c.off[:n])
	for _, e := range c.raw {
		c.dst[fill[e.from]], c.kind[fill[e.from]] = e.to, e.kind
		fill[e.from]++
	}
	c.raw = nil
	// Sort each row by target and merge duplicates, compacting in place.
	out := int32(0)
	type half struct {
		to   int32
		kind uint8
	}
	var row []half
	for v := range n {
		lo, hi := c.off[v], c.off[v+1]
		c.off[v] = out
		row = row[:0]
		for e := lo; e < hi; e++ {
			row = append(row, half{c.dst[e], c.kind[e]})
		}
		slices.SortFunc(row, func(a, b half) int { return int(a.to - b.to) })
		for i, h := range row {
			if i > 0 && row[i-1].to == h.to {
				c.kind[out-1] |= h.kind
				continue
			}
			c.dst[out], c.kind[out] = h.to, h.kind
			out++
		}
	}
	c.off[n] = out
	c.dst, c.kind = c.dst[:out], c.kind[:out]
	return int(out)
}

// tarjan labels nodes with their strongly connected components in the
// subgraph of edges of a kind in mask whose target w satisfies scope[w]
// == scopeID (or any target, when scope is nil). It is iterative, since
// a history of 100k transactions can chain them all. Components are
// numbered as Tarjan completes them, a reverse topological order: an edge
// between two components always goes from the higher number to the
// lower. It returns the number of components.
func (c *isoChecker) tarjan(nodes []int32, mask uint8, scope []int32, scopeID int32, out []int32) int32 {
	for _, v := range nodes {
		c.tIndex[v] = -1
		c.tOn[v] = false
	}
	type frame struct{ v, e int32 }
	var frames []frame
	var stack []int32
	counter, ncomp := int32(0), int32(0)
	for _, root := range nodes {
		if c.tIndex[root] >= 0 {
			continue
		}
		c.tIndex[root], c.tLow[root] = counter, counter
		counter++
		stack = append(stack, root)
		c.tOn[root] = true
		frames = append(frames[:0], frame{root, c.off[root]})
		for len(frames) > 0 {
			f := &frames[len(frames)-1]
			v := f.v
			if f.e < c.off[v+1] {
				e := f.e
				f.e++
				w := c.dst[e]
				if c.kind[e]&mask == 0 || (scope != nil && scope[w] != scopeID) {
					continue
				}
				if c.tIndex[w] < 0 {
					c.tIndex[w], c.tLow[w] = counter, counter
					counter++
					stack = append(stack, w)
					c.tOn[w] = true
					frames = append(frames, frame{w, c.off[w]})
				} else if c.tOn[w] {
					c.tLow[v] = min(c.tLow[v], c.tIndex[w])
				}
				continue
			}
			if c.tLow[v] == c.tIndex[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					c.tOn[w] = false
					out[w] = ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
			frames = frames[:len(frames)-1]
			if len(frames) > 0 {
				u := frames[len(frames)-1].v
				c.tLow[u] = min(c.tLow[u], c.tLow[v])
			}
		}
	}
	if len(stack) != 0 {
		panic("linearizability: tarjan left nodes on its stack")
	}
	return ncomp
}

// maxInterference bounds the G-SIa findings kept in words; the first
// says how many pairs there were in all.
const maxInterference = 8

// interference reports G-SIa: a wr or ww edge u -> v between committed
// transactions where u's COMMIT was sent after v's snapshot was certainly
// taken. Under snapshot isolation v could then neither read u's append
// (u committed after v's snapshot) nor append after it (first committer
// wins: v would fail with a serialization error).
func (c *isoChecker) interference() {
	var pairs [][2]int32
	var kinds []uint8
	for u := range int32(len(c.txns)) {
		cu := c.txns[u].CommitCall
		if !c.committed[u] || cu <= 0 {
			continue
		}
		for e := c.off[u]; e < c.off[u+1]; e++ {
			v := c.dst[e]
			k := c.kind[e] & (isoWW | isoWR)
			if sv := c.txns[v].SnapshotBy; k == 0 || sv <= 0 || cu <= sv {
				continue
			}
			pairs, kinds = append(pairs, [2]int32{u, v}), append(kinds, isoPick(k))
		}
	}
	for i, p := range pairs {
		if i == maxInterference {
			break
		}
		u, v := p[0], p[1]
		all := ""
		if i == 0 && len(pairs) > 1 {
			all = fmt.Sprintf(" (%d such pairs in all)", len(pairs))
		}
		c.add(GSIa, []int32{u, v}, "%s; but %s's COMMIT was sent at %v, after %s's snapshot was taken (its first statement returned at %v): %s saw a transaction that committed after its snapshot (interference)%s",
			c.explain(u, v, kinds[i]), c.name(u), time.Duration(c.txns[u].CommitCall), c.name(v), time.Duration(c.txns[v].SnapshotBy), c.name(v), all)
	}
}

// isoSpec is one cycle search: cycles through a special edge of one kind,
// closed by a path of edges whose kinds are in path.
type isoSpec struct{ special, path uint8 }

// isoSpecs are the searches, in the order Elle tries them: the strongest
// anomaly first, and realtime only after every data-only search. Each
// found cycle is named by the edges it actually uses, so a search may
// find a cycle of a stronger name than it looked for.
var isoSpecs = []isoSpec{
	{isoWW, isoWW},                         // G0
	{isoWR, isoWW | isoWR},                 // G1c
	{isoRW, isoWW | isoWR},                 // G-single
	isoSpecNonadjacent,                     // G-nonadjacent: searchNonadjacent
	{isoRW, isoWW | isoWR | isoRW},         // G2-item
	{isoRT, isoWW | isoRT},                 // G0-realtime
	{isoRT, isoWW | isoWR | isoRT},         // G1c-realtime
	{isoRW, isoWW | isoWR | isoRT},         // G-single-realtime
	{isoRT, isoWW | isoWR | isoRW | isoRT}, // G2-item-realtime
}

// isoSpecNonadjacent stands in isoSpecs for the search of a cycle whose
// rw edges are never adjacent, which needs more than a path mask: it is
// searchNonadjacent's, and no other spec has a zero special kind.
var isoSpecNonadjacent = isoSpec{0, isoWW | isoWR | isoRW}

type isoCycle struct {
	nodes []int32 // nodes[i] -> nodes[i+1 mod len] by kinds[i]
	kinds []uint8
}

// findCycles reports, for every strongly connected component of the
// dependency graph with more than one node, the shortest cycle each
// search finds within its budget, one per anomaly name. It returns the
// number of such components.
func (c *isoChecker) findCycles() int {
	n := len(c.txns)
	c.comp = make([]int32, n)
	c.tIndex = make([]int32, n)
	c.tLow = make([]int32, n)
	c.tOn = make([]bool, n)
	var nodes []int32
	for v := range n {
		if c.committed[v] {
			nodes = append(nodes, int32(v))
		}
	}
	ncomp := c.tarjan(nodes, 0xff, nil, 0, c.comp)
	size := make([]int32, ncomp)
	for _, v := range nodes {
		size[c.comp[v]]++
	}
	// Group the members of each nontrivial component, in history order,
	// and take the components in the order of their first member.
	members := map[int32][]int32{}
	var order []int32
	for _, v := range nodes {
		cv := c.comp[v]
		if size[cv] < 2 {
			continue
		}
		if members[cv] == nil {
			order = append(order, cv)
		}
		members[cv] = append(members[cv], v)
	}
	if len(order) == 0 {
		return 0
	}
	c.sub = make([]int32, n)
	c.seen = make([]uint32, n)
	c.prevNode = make([]int32, n)
	c.prevEdg = make([]int32, n)
	for _, cv := range order {
		c.componentCycles(cv, members[cv])
	}
	return len(order)
}

func (c *isoChecker) componentCycles(cv int32, members []int32) {
	found := map[Anomaly]bool{}
	for _, sp := range isoSpecs {
		if sp.special == isoRT && !c.hasRT {
			continue
		}
		var cyc isoCycle
		var ok bool
		if sp == isoSpecNonadjacent {
			cyc, ok = c.searchNonadjacent(cv, members)
		} else {
			cyc, ok = c.search(cv, members, sp)
		}
		if ok {
			a := c.classify(cyc)
			if !found[a] {
				found[a] = true
				c.reportCycle(a, cyc)
			}
		}
	}
	if len(found) == 0 {
		// Every edge inside a component lies on a cycle of it, so a search
		// through any one edge with every kind allowed must succeed.
		cyc, ok := c.search(cv, members, isoSpec{0xff, 0xff})
		if !ok {
			panic("linearizability: a strongly connected component without a cycle")
		}
		c.reportCycle(c.classify(cyc), cyc)
	}
}

// search finds the shortest cycle through a special edge a -> b of the
// component: a breadth-first search from b back to a along path edges,
// for one candidate edge after another until the budget runs out. The
// path's components under the path kinds prune it: b can reach a only if
// a's number is not above b's, and only through nodes numbered between.
// Candidates whose ends share a path component (where a cycle is certain)
// go first.
func (c *isoChecker) search(cv int32, members []int32, sp isoSpec) (isoCycle, bool) {
	c.tarjan(members, sp.path, c.comp, cv, c.sub)
	var best isoCycle
	budget := isoSearchBudget
	for pass := range 2 {
		for _, a := range members {
			for e := c.off[a]; e < c.off[a+1]; e++ {
				b := c.dst[e]
				if c.kind[e]&sp.special == 0 || c.comp[b] != cv {
					continue
				}
				same := c.sub[a] == c.sub[b]
				if (pass == 0) != same || c.sub[a] > c.sub[b] {
					continue
				}
				if budget <= 0 {
					return best, best.nodes != nil
				}
				path, ok := c.bfs(b, a, cv, sp.path, c.sub[a], c.sub[b], &budget)
				if same && !ok {
					panic("linearizability: no path within a strongly connected component")
				}
				if !ok || (best.nodes != nil && len(path)+1 >= len(best.nodes)) {
					continue
				}
				best = isoCycle{nodes: append([]int32{a}, path[:len(path)-1]...)}
				best.kinds = append(best.kinds, isoPick(c.kind[e]&(sp.special|sp.path)))
				for i := 1; i < len(path); i++ {
					best.kinds = append(best.kinds, isoPick(c.kind[c.prevEdg[path[i]]]&sp.path))
				}
				if len(best.nodes) == 2 {
					return best, true
				}
			}
		}
	}
	return best, best.nodes != nil
}

// searchNonadjacent finds a short simple cycle of the component whose rw
// edges are never adjacent, through an rw edge a -> b: a breadth-first
// search from b back to a over states (node, whether the edge into it
// was rw), where an rw edge may not follow an rw edge and the edge back
// into a may not be rw; a walk that repeats a node is not taken (so a
// cycle may be missed, never invented). Edges are then named as isoPick names them, which can
// only remove rw edges, so the cycle found may be named by a stronger
// anomaly (G1c, G-single), never by G2-item. Realtime edges are left
// out: snapshot isolation says nothing of real time. It charges every
// examined edge to one budget, as search does.
func (c *isoChecker) searchNonadjacent(cv int32, members []int32) (isoCycle, bool) {
	n := len(c.txns)
	if len(c.naSeen) != 2*n {
		c.naSeen = make([]uint32, 2*n)
		c.naPrev = make([]int32, 2*n)
		c.naEdge = make([]int32, 2*n)
	}
	const mask = isoWW | isoWR | isoRW
	budget := isoSearchBudget
	var best isoCycle
	for _, a := range members {
		for e := c.off[a]; e < c.off[a+1]; e++ {
			b := c.dst[e]
			if c.kind[e]&isoRW == 0 || c.comp[b] != cv {
				continue
			}
			if budget <= 0 {
				return best, best.nodes != nil
			}
			path, ok := c.bfsNonadjacent(b, a, cv, &budget)
			if !ok || (best.nodes != nil && len(path) >= len(best.nodes)) || repeatsNode(path) {
				continue
			}
			// path runs from b to a; the cycle is a, b, ..., and the
			// edge back into a.
			best = isoCycle{nodes: append([]int32{a}, path[:len(path)-1]...)}
			best.kinds = append(best.kinds, isoPick(c.kind[e]&mask))
			for i := 1; i < len(path); i++ {
				best.kinds = append(best.kinds, isoPick(c.kind[c.naPathEdges[i]]&mask))
			}
			if len(best.nodes) != len(best.kinds) {
				panic("linearizability: a nonadjacent cycle with as many edges as nodes expected")
			}
		}
	}
	return best, best.nodes != nil
}

// repeatsNode reports whether a path visits a node twice. The state
// search may return such a walk (a node entered once by an rw edge and
// once by another), and a closed walk without adjacent rw edges can split
// at its repeated node into cycles that each have them: only a simple
// cycle shows the anomaly.
func repeatsNode(path []int32) bool {
	seen := make(map[int32]bool, len(path))
	for _, v := range path {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// bfsNonadjacent is searchNonadjacent's breadth-first search from state
// (src, after rw) to state (dst, not after rw). It returns the path's
// nodes from src to dst, with naPathEdges[i] the edge into the i-th.
func (c *isoChecker) bfsNonadjacent(src, dst, cv int32, budget *int) ([]int32, bool) {
	c.naEpoch++
	if c.naEpoch == 0 {
		panic("linearizability: nonadjacent search epochs wrapped")
	}
	start, goal := 2*src+1, 2*dst
	c.naSeen[start] = c.naEpoch
	queue := []int32{start}
	for qi := 0; qi < len(queue); qi++ {
		st := queue[qi]
		v, afterRW := st/2, st%2 == 1
		for e := c.off[v]; e < c.off[v+1]; e++ {
			*budget--
			w := c.dst[e]
			if c.comp[w] != cv {
				continue
			}
			var next [2]int32
			nn := 0
			if c.kind[e]&(isoWW|isoWR) != 0 {
				next[nn] = 2 * w
				nn++
			}
			if c.kind[e]&isoRW != 0 && !afterRW {
				next[nn] = 2*w + 1
				nn++
			}
			for _, ns := range next[:nn] {
				if c.naSeen[ns] == c.naEpoch {
					continue
				}
				c.naSeen[ns] = c.naEpoch
				c.naPrev[ns], c.naEdge[ns] = st, e
				if ns == goal {
					states := chainBack(start, goal, c.naPrev, len(queue)+1)
					path := make([]int32, len(states))
					c.naPathEdges = c.naPathEdges[:0]
					for i, x := range states {
						path[i] = x / 2
						c.naPathEdges = append(c.naPathEdges, c.naEdge[x])
					}
					return path, true
				}
				queue = append(queue, ns)
			}
		}
	}
	return nil, false
}

// chainBack follows a breadth-first search's parent links back from
// goal to start and returns the chain from start to goal. A chain longer
// than bound (the states the search queued) means the links are broken.
func chainBack(start, goal int32, prev []int32, bound int) []int32 {
	var chain []int32
	for x := goal; ; x = prev[x] {
		chain = append(chain, x)
		if x == start {
			break
		}
		if len(chain) > bound {
			panic("linearizability: a search's parent chain is longer than the search")
		}
	}
	slices.Reverse(chain)
	return chain
}

// isoPick names an edge by its weakest-needed kind, so that a cycle is
// called by the strongest anomaly it shows: ww before wr before rw before
// realtime.
func isoPick(k uint8) uint8 {
	for _, b := range []uint8{isoWW, isoWR, isoRW, isoRT} {
		if k&b != 0 {
			return b
		}
	}
	panic("linearizability: an edge of no kind on a cycle")
}

// bfs finds a shortest path from src to dst within component cv, along
// edges of a kind in mask, through nodes whose path component lies in
// [lo, hi]. It returns the path's nodes from src to dst; prevEdg[v] is
// the edge that reached v. It charges each examined edge to budget.
func (c *isoChecker) bfs(src, dst, cv int32, mask uint8, lo, hi int32, budget *int) ([]int32, bool) {
	c.epoch++
	if c.epoch == 0 {
		panic("linearizability: search epochs wrapped")
	}
	c.seen[src] = c.epoch
	queue := []int32{src}
	for qi := 0; qi < len(queue); qi++ {
		v := queue[qi]
		for e := c.off[v]; e < c.off[v+1]; e++ {
			*budget--
			w := c.dst[e]
			if c.kind[e]&mask == 0 || c.comp[w] != cv || c.seen[w] == c.epoch || c.sub[w] < lo || c.sub[w] > hi {
				continue
			}
			c.seen[w] = c.epoch
			c.prevNode[w], c.prevEdg[w] = v, e
			if w == dst {
				path := chainBack(src, dst, c.prevNode, len(queue))
				return path, true
			}
			queue = append(queue, w)
		}
	}
	return nil, false
}

// rwAdjacent reports whether two rw edges follow each other anywhere on
// the cycle, the last edge being followed by the first.
func rwAdjacent(kinds []uint8) bool {
	for i, k := range kinds {
		if k == isoRW && kinds[(i+1)%len(kinds)] == isoRW {
			return true
		}
	}
	return false
}

// classify names a cycle by the edges it uses.
func (c *isoChecker) classify(cyc isoCycle) Anomaly {
	var wr, rw, rt int
	for _, k := range cyc.kinds {
		switch k {
		case isoWR:
			wr++
		case isoRW:
			rw++
		case isoRT:
			rt++
		}
	}
	var a Anomaly
	switch {
	case rw == 0 && wr == 0:
		a = G0
	case rw == 0:
		a = G1c
	case rw == 1:
		a = GSingle
	case rt == 0 && !rwAdjacent(cyc.kinds):
		a = GNonadjacent
	default:
		a = G2Item
	}
	if rt > 0 {
		a += "-realtime"
	}
	return a
}

// reportCycle explains a cycle edge by edge, starting from the member
// first in the history.
func (c *isoChecker) reportCycle(a Anomaly, cyc isoCycle) {
	start := 0
	for i, v := range cyc.nodes {
		if v < cyc.nodes[start] {
			start = i
		}
	}
	n := len(cyc.nodes)
	ts := make([]int32, n)
	steps := make([]string, n)
	arrow := make([]string, n+1)
	for i := range n {
		u, v := cyc.nodes[(start+i)%n], cyc.nodes[(start+i+1)%n]
		ts[i] = u
		arrow[i] = c.name(u)
		steps[i] = c.explain(u, v, cyc.kinds[(start+i)%n])
	}
	arrow[n] = c.name(ts[0])
	c.add(a, ts, "%s cycle %s: %s; so %s precedes itself",
		a, strings.Join(arrow, " -> "), strings.Join(steps, "; "), c.name(ts[0]))
}

// explain says why u precedes v by an edge of kind k, re-deriving the
// reason with the rules inferEdges used.
func (c *isoChecker) explain(u, v int32, k uint8) string {
	U, V := c.name(u), c.name(v)
	switch k {
	case isoWW:
		for _, m := range c.txns[v].Mops {
			if m.Kind != MopAppend {
				continue
			}
			r, ks := c.ref(m.Key, m.Value), c.keys[m.Key]
			if r == nil || r.txn != v || !ks.ordered || r.pos == 0 {
				continue
			}
			if r.pos < 0 {
				if n := len(ks.order); n > 0 && c.writer(m.Key, ks.order[n-1]) == u {
					return fmt.Sprintf("%s appended %d to key %d, which no read shows, so after %s's %d, the last any read shows (ww: %s < %s)",
						V, m.Value, m.Key, U, ks.order[n-1], U, V)
				}
				continue
			}
			prev := ks.order[r.pos-1]
			if c.writer(m.Key, prev) == u {
				return fmt.Sprintf("%s appended %d to key %d right after %s's %d (ww: %s < %s)", V, m.Value, m.Key, U, prev, U, V)
			}
		}
	case isoWR:
		for _, m := range c.txns[v].Mops {
			if c.txns[v].Outcome != OK || m.Kind != MopRead || len(m.List) == 0 {
				continue
			}
			x := m.List[len(m.List)-1]
			if c.writer(m.Key, x) == u {
				return fmt.Sprintf("%s read key %d = %s, ending at %s's append of %d (wr: %s < %s)", V, m.Key, isoFmtList(m.List), U, x, U, V)
			}
		}
	case isoRW:
		for _, m := range c.txns[u].Mops {
			if c.txns[u].Outcome != OK || m.Kind != MopRead {
				continue
			}
			ks := c.keys[m.Key]
			if !ks.ordered || len(m.List) > len(ks.order) {
				continue
			}
			if len(m.List) == len(ks.order) {
				for _, a := range c.txns[v].Mops {
					if r := c.ref(a.Key, a.Value); a.Kind == MopAppend && a.Key == m.Key && r != nil && r.pos < 0 && r.txn == v {
						return fmt.Sprintf("%s read key %d = %s without %s's append of %d, which no read shows, so came later (rw: %s < %s)",
							U, m.Key, isoFmtList(m.List), V, a.Value, U, V)
					}
				}
				continue
			}
			y := ks.order[len(m.List)]
			if c.writer(m.Key, y) == v {
				return fmt.Sprintf("%s read key %d = %s without %s's append of %d, which came next (rw: %s < %s)", U, m.Key, isoFmtList(m.List), V, y, U, V)
			}
		}
	case isoRT:
		tu, tv := &c.txns[u], &c.txns[v]
		return fmt.Sprintf("%s returned at %d before %s was called at %d (realtime: %s < %s)", U, tu.Return, V, tv.Call, U, V)
	}
	panic(fmt.Sprintf("linearizability: no reason for edge %d -> %d of kind %d", u, v, k))
}

// isoFmtList shows a read list, eliding the middle of a long one.
func isoFmtList(l []uint64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range l {
		if len(l) > isoListShown && i == isoListShown/2 {
			fmt.Fprintf(&b, " ...")
		}
		if len(l) > isoListShown && i >= isoListShown/2 && i < len(l)-isoListShown/2 {
			continue
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, v)
	}
	b.WriteByte(']')
	if len(l) > isoListShown {
		fmt.Fprintf(&b, " (%d values)", len(l))
	}
	return b.String()
}
