package linearizability

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var isoLevels = []Level{ReadCommitted, RepeatableRead, Serializable, StrictSerializable}

// isoParse reads a hand-written history, one transaction a line:
//
//	T<id> ok|failed|unknown [@call-return] a(key,value) r(key)=[v,v,...] ...
//
// Without @, every transaction runs from 0 to 1000, so all overlap and
// realtime orders nothing. An Unknown transaction's return is left 0: it
// is meaningless and must not matter.
func isoParse(t testing.TB, text string) []Txn {
	t.Helper()
	var h []Txn
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		require.GreaterOrEqual(t, len(f), 2, "line %q", line)
		id, err := strconv.Atoi(strings.TrimPrefix(f[0], "T"))
		require.NoError(t, err, "line %q", line)
		tx := Txn{ID: id, Client: id, Call: 0, Return: 1000}
		switch f[1] {
		case "ok":
			tx.Outcome = OK
		case "failed":
			tx.Outcome = Failed
		case "unknown":
			tx.Outcome, tx.Return = Unknown, 0
		default:
			t.Fatalf("line %q: bad outcome %q", line, f[1])
		}
		for _, tok := range f[2:] {
			switch {
			case strings.HasPrefix(tok, "snap="):
				_, err := fmt.Sscanf(tok, "snap=%d", &tx.SnapshotBy)
				require.NoError(t, err, "token %q", tok)
			case strings.HasPrefix(tok, "commit="):
				_, err := fmt.Sscanf(tok, "commit=%d", &tx.CommitCall)
				require.NoError(t, err, "token %q", tok)
			case strings.HasPrefix(tok, "@"):
				_, err := fmt.Sscanf(tok, "@%d-%d", &tx.Call, &tx.Return)
				require.NoError(t, err, "token %q", tok)
			case strings.HasPrefix(tok, "a("):
				var k, v uint64
				_, err := fmt.Sscanf(tok, "a(%d,%d)", &k, &v)
				require.NoError(t, err, "token %q", tok)
				tx.Mops = append(tx.Mops, Mop{Kind: MopAppend, Key: k, Value: v})
			case strings.HasPrefix(tok, "r("):
				ks, list, ok := strings.Cut(strings.TrimPrefix(tok, "r("), ")=[")
				require.True(t, ok && strings.HasSuffix(list, "]"), "token %q", tok)
				k, err := strconv.ParseUint(ks, 10, 64)
				require.NoError(t, err, "token %q", tok)
				m := Mop{Kind: MopRead, Key: k}
				if list = strings.TrimSuffix(list, "]"); list != "" {
					for s := range strings.SplitSeq(list, ",") {
						v, err := strconv.ParseUint(s, 10, 64)
						require.NoError(t, err, "token %q", tok)
						m.List = append(m.List, v)
					}
				}
				tx.Mops = append(tx.Mops, m)
			default:
				t.Fatalf("line %q: bad token %q", line, tok)
			}
		}
		h = append(h, tx)
	}
	return h
}

// isoAnomalyCases are one hand-built history per anomaly, each with what
// the checker must name at StrictSerializable, the transactions of the
// first finding, and the weakest level that forbids it (0: none does).
var isoAnomalyCases = []struct {
	name    string
	history string
	want    []Anomaly
	txns    []int
	from    Level
}{
	{"G0 dirty write", `
		T0 ok a(1,1) a(2,4)
		T1 ok a(1,2) a(2,3)
		T2 ok r(1)=[1,2] r(2)=[3,4]`,
		[]Anomaly{G0}, []int{0, 1}, ReadCommitted},
	// T0 -> T1 is both ww (key 1) and rw (key 3): the cycle is named by
	// the weakest edges it needs, so it is a G0, not also a G-single.
	{"G0 over pairs also related by rw", `
		T0 ok r(3)=[] a(1,1) a(2,4)
		T1 ok a(1,2) a(2,3) a(3,5)
		T2 ok r(1)=[1,2] r(2)=[3,4] r(3)=[5]`,
		[]Anomaly{G0}, []int{0, 1}, ReadCommitted},
	{"G1a aborted read", `
		T0 failed a(1,1)
		T1 ok r(1)=[1]`,
		[]Anomaly{G1a}, []int{0, 1}, ReadCommitted},
	// An intermediate read is also a G-single: T1 saw T0's first append
	// but not its second, which (no read showing it) came later.
	{"G1b intermediate read", `
		T0 ok a(1,1) a(1,2)
		T1 ok r(1)=[1]`,
		[]Anomaly{G1b, GSingle}, []int{0, 1}, ReadCommitted},
	{"G1c circular information flow", `
		T0 ok a(1,1) r(2)=[2]
		T1 ok a(2,2) r(1)=[1]`,
		[]Anomaly{G1c}, []int{0, 1}, ReadCommitted},
	{"G-single read skew", `
		T0 ok r(1)=[] r(2)=[2]
		T1 ok a(1,1) a(2,2)
		T2 ok r(1)=[1]`,
		[]Anomaly{GSingle}, []int{0, 1}, RepeatableRead},
	{"G2-item write skew", `
		T0 ok r(1)=[] r(2)=[] a(1,1)
		T1 ok r(1)=[] r(2)=[] a(2,2)
		T2 ok r(1)=[1] r(2)=[2]`,
		[]Anomaly{G2Item}, []int{0, 1}, Serializable},
	// A lost update is also a cycle: with both appends seen, or one (the
	// unseen one follows the last seen), a G-single; with neither (each
	// follows the empty list both read), a G2-item.
	{"lost update, both appends observed", `
		T0 ok r(1)=[] a(1,1)
		T1 ok r(1)=[] a(1,2)
		T2 ok r(1)=[1,2]`,
		[]Anomaly{LostUpdate, GSingle}, []int{0, 1}, RepeatableRead},
	{"lost update, one append observed", `
		T0 ok r(1)=[] a(1,1)
		T1 ok r(1)=[] a(1,2)
		T2 ok r(1)=[1]`,
		[]Anomaly{LostUpdate, GSingle}, []int{0, 1}, RepeatableRead},
	{"lost update, no append observed", `
		T0 ok r(1)=[] a(1,1)
		T1 ok r(1)=[] a(1,2)`,
		[]Anomaly{LostUpdate, G2Item}, []int{0, 1}, RepeatableRead},
	{"internal: a read shows the txn's own later append", `
		T0 ok r(1)=[1] a(1,1)`,
		[]Anomaly{Internal}, []int{0}, ReadCommitted},
	// T2 read key 2 = [], so T0's append of 5, which nobody saw, came
	// after T2; but T0 missed T1's append, which T2 saw.
	{"G2-item through an unobserved append", `
		T0 ok r(1)=[] a(2,5)
		T1 ok a(1,1)
		T2 ok r(1)=[1] r(2)=[]`,
		[]Anomaly{G2Item}, []int{0, 1, 2}, Serializable},
	{"internal: a read misses the txn's own append", `
		T0 ok a(1,1) r(1)=[]`,
		[]Anomaly{Internal}, []int{0}, ReadCommitted},
	{"non-repeatable-read: the second read sees a later commit (also G-single); READ COMMITTED allows both", `
		T0 ok a(1,5)
		T1 ok a(1,6)
		T2 ok r(1)=[5] r(1)=[5,6]`,
		[]Anomaly{NonRepeatableRead, GSingle}, []int{2}, RepeatableRead},
	{"internal: a re-read after its own append misses the append", `
		T0 ok a(1,5)
		T1 ok r(1)=[5] a(1,9) r(1)=[5]`,
		[]Anomaly{Internal}, []int{1}, ReadCommitted},
	{"incompatible-order", `
		T0 ok a(1,1)
		T1 ok a(1,2)
		T2 ok r(1)=[1,2]
		T3 ok r(1)=[2,1]`,
		[]Anomaly{IncompatibleOrder}, []int{2, 3}, ReadCommitted},
	{"garbage-read", `
		T0 ok a(1,1)
		T1 ok r(1)=[1,7]`,
		[]Anomaly{GarbageRead}, []int{1}, ReadCommitted},
	{"duplicate-append", `
		T0 ok a(1,1)
		T1 ok a(1,1)
		T2 ok r(1)=[1]`,
		[]Anomaly{DuplicateAppend}, []int{0, 1}, ReadCommitted},
	{"duplicate-elements", `
		T0 ok a(1,1)
		T1 ok r(1)=[1,1]`,
		[]Anomaly{DuplicateElements}, []int{1}, ReadCommitted},
	{"G-single-realtime stale read", `
		T0 ok @0-10 a(1,1)
		T1 ok @20-30 r(1)=[]
		T2 ok @0-100 r(1)=[1]`,
		[]Anomaly{GSingleRealtime}, []int{0, 1}, StrictSerializable},
	{"G0-realtime", `
		T0 ok @0-10 a(1,1)
		T1 ok @20-30 a(1,2)
		T2 ok @0-100 r(1)=[2,1]`,
		[]Anomaly{G0Realtime}, []int{0, 1}, StrictSerializable},
	// Touching intervals are concurrent: T1 may precede T0.
	{"touching intervals", `
		T0 ok @0-10 a(1,1)
		T1 ok @10-20 r(1)=[]
		T2 ok @0-100 r(1)=[1]`,
		nil, nil, 0},
	{"unknown outcomes: committed when read, ignored otherwise, reads untrusted", `
		T0 unknown a(1,1)
		T1 ok r(1)=[1]
		T2 unknown a(1,9) r(1)=[42] r(2)=[]
		T3 failed a(2,3) r(1)=[77]
		T4 ok r(2)=[]`,
		nil, nil, 0},
}

// TestIsolationAnomalies shows each checker catching its planted anomaly
// by name, naming the right transactions in words, and being judged at
// each level as the rule says.
func TestIsolationAnomalies(t *testing.T) {
	for _, tc := range isoAnomalyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := isoParse(t, tc.history)
			res := CheckIsolation(h, StrictSerializable)
			require.Equal(t, tc.want, res.Anomalies(), "%s\n%v", res.Summary(), res.Findings)
			if tc.txns != nil {
				f := res.Findings[0]
				require.Equal(t, tc.txns, f.Txns, "%v", f)
			}
			for _, f := range res.Findings {
				for _, id := range f.Txns {
					require.Contains(t, f.Explanation, fmt.Sprintf("T%d", id), "%v", f)
				}
			}
			for _, l := range isoLevels {
				r := CheckIsolation(h, l)
				want := tc.from == 0 || l < tc.from
				require.Equal(t, want, r.Valid(), "at %s: %s\n%v", l, r.Summary(), r.Forbidden)
				for _, f := range r.Forbidden {
					require.True(t, l.Forbids(f.Anomaly))
				}
			}
		})
	}
}

// TestIsolationCounts checks the outcome counts, and that an Unknown
// transaction counts as committed exactly when a committed read saw it.
func TestIsolationCounts(t *testing.T) {
	h := isoParse(t, isoAnomalyCases[len(isoAnomalyCases)-1].history)
	res := CheckIsolation(h, Serializable)
	require.Equal(t, 5, res.Txns)
	require.Equal(t, 2, res.OK)
	require.Equal(t, 1, res.Failed)
	require.Equal(t, 2, res.Unknown)
	require.Equal(t, 1, res.UnknownCommitted)
	require.Equal(t, 2, res.Keys)
	require.Equal(t, 1, res.Edges) // wr T0 -> T1
	require.True(t, res.Valid(), res.Summary())
}

// TestIsolationExplanation pins one cycle's wording: each edge says who
// saw what, and the last clause closes the loop.
func TestIsolationExplanation(t *testing.T) {
	h := isoParse(t, `
		T0 ok r(1)=[] r(2)=[2]
		T1 ok a(1,1) a(2,2)
		T2 ok r(1)=[1]`)
	res := CheckIsolation(h, Serializable)
	require.Len(t, res.Findings, 1)
	require.Equal(t, "G-single cycle T0 -> T1 -> T0: "+
		"T0 read key 1 = [] without T1's append of 1, which came next (rw: T0 < T1); "+
		"T0 read key 2 = [2], ending at T1's append of 2 (wr: T1 < T0); "+
		"so T0 precedes itself", res.Findings[0].Explanation)
}

func TestIsolationParseLevel(t *testing.T) {
	for _, l := range isoLevels {
		got, err := ParseLevel(l.String())
		require.NoError(t, err)
		require.Equal(t, l, got)
	}
	_, err := ParseLevel("snapshot")
	require.EqualError(t, err, `unknown isolation level "snapshot": want read-committed, repeatable-read, serializable or strict-serializable`)
	require.Equal(t, "level(0)", Level(0).String())
	require.Panics(t, func() { CheckIsolation(nil, 0) })
}

// TestIsolationTranscripts runs the datadriven transcripts, which pin
// every explanation word for word (go test -rewrite to regenerate).
func TestIsolationTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/isolation", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "check" {
				t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
			}
			h := isoParse(t, d.Input)
			var b strings.Builder
			res := CheckIsolation(h, StrictSerializable)
			for _, f := range res.Findings {
				fmt.Fprintf(&b, "%s %v\n  %s\n", f.Anomaly, f.Txns, f.Explanation)
			}
			for _, l := range isoLevels {
				r := CheckIsolation(h, l)
				fmt.Fprintf(&b, "%s: ", l)
				if r.Valid() {
					b.WriteString("valid\n")
					continue
				}
				var names []string
				for _, f := range r.Forbidden {
					if !slices.Contains(names, string(f.Anomaly)) {
						names = append(names, string(f.Anomaly))
					}
				}
				fmt.Fprintf(&b, "invalid (%s)\n", strings.Join(names, ", "))
			}
			return b.String()
		})
	})
}

// isoDraw is where a generator gets its choices: rapid (so failures
// shrink) or a seeded PRNG (for the benchmark).
type isoDraw func(n int) int

// isoGen describes a generated history.
type isoGen struct {
	txns, clients, keys, maxMops int
	// Percentages of transactions that fail, that end Unknown having
	// committed, and that end Unknown without committing.
	failed, unknownCommitted, unknownLost int
}

// isoGenerate builds a strict-serializable list-append history: the
// transactions execute one at a time against a model of the lists, at
// commit points 10 ns apart, and each one's call and return lie at random
// on either side of its commit point, so they overlap but never contradict
// the serial order in real time. Clients take transactions round robin
// and the window is narrow enough that one client's never overlap. Reads
// share the model's backing arrays (the lists only grow, and each read is
// capped at its length), so a 100k history costs no copying.
func isoGenerate(p isoGen, draw isoDraw) []Txn {
	const spacing = 10
	window := max(spacing*p.clients/2-1, 1)
	lists := make([][]uint64, p.keys)
	next := uint64(1)
	h := make([]Txn, p.txns)
	for i := range h {
		commit := int64(1000 + i*spacing)
		t := &h[i]
		t.ID, t.Client = i, i%p.clients
		t.Call = commit - int64(draw(window))
		t.Return = commit + 1 + int64(draw(window))
		roll := draw(100)
		switch {
		case roll < p.failed:
			t.Outcome, t.Err = Failed, "could not serialize access"
		case roll < p.failed+p.unknownCommitted:
			t.Outcome, t.Err = Unknown, "connection lost after commit"
		case roll < p.failed+p.unknownCommitted+p.unknownLost:
			t.Outcome, t.Err = Unknown, "connection lost before commit"
		default:
			t.Outcome = OK
		}
		applies := roll >= p.failed && roll < p.failed+p.unknownCommitted || t.Outcome == OK
		if t.Outcome == Unknown {
			t.Return = 0
		}
		n := 1 + draw(p.maxMops)
		t.Mops = make([]Mop, n)
		for j := range t.Mops {
			k := draw(p.keys)
			m := Mop{Kind: MopRead, Key: uint64(k)}
			if draw(2) == 0 {
				m.Kind, m.Value = MopAppend, next
				next++
				if applies {
					lists[k] = append(lists[k], m.Value)
				}
			} else if t.Outcome == OK {
				l := lists[k]
				if len(l) > 0 {
					m.List = l[:len(l):len(l)]
				}
			}
			t.Mops[j] = m
		}
	}
	return h
}

func isoRapidDraw(t *rapid.T) isoDraw {
	return func(n int) int { return rapid.IntRange(0, n-1).Draw(t, "d") }
}

func isoRapidGen(t *rapid.T) isoGen {
	return isoGen{
		txns:             rapid.IntRange(0, 60).Draw(t, "txns"),
		clients:          rapid.IntRange(1, 5).Draw(t, "clients"),
		keys:             rapid.IntRange(1, 6).Draw(t, "keys"),
		maxMops:          rapid.IntRange(1, 4).Draw(t, "maxMops"),
		failed:           rapid.IntRange(0, 20).Draw(t, "failed"),
		unknownCommitted: rapid.IntRange(0, 20).Draw(t, "unknownCommitted"),
		unknownLost:      rapid.IntRange(0, 20).Draw(t, "unknownLost"),
	}
}

// TestIsolationSerialProperty: a history that executed serially, with
// failures and both kinds of unknown outcome and realtime-consistent
// overlaps, shows nothing at any level, and its counts add up.
func TestIsolationSerialProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := isoGenerate(isoRapidGen(t), isoRapidDraw(t))
		for _, l := range isoLevels {
			res := CheckIsolation(h, l)
			if len(res.Findings) != 0 {
				t.Fatalf("at %s: %s\n%v\n%s", l, res.Summary(), res.Findings, isoDump(h))
			}
			if res.OK+res.Failed+res.Unknown != len(h) || res.UnknownCommitted > res.Unknown {
				t.Fatalf("counts: %s", res.Summary())
			}
		}
	})
}

func isoDump(h []Txn) string {
	var b strings.Builder
	for i := range h {
		fmt.Fprintf(&b, "%v @%d-%d\n", &h[i], h[i].Call, h[i].Return)
	}
	return b.String()
}

// TestIsolationPlantedProperty plants one anomaly in a serial history and
// requires the checker to find it at StrictSerializable. A fixed tail makes
// sure every kind of plant has somewhere to go: W appends two values to
// key 0, F fails appending a third, then R and R2 read key 0, each called
// after the one before returned.
func TestIsolationPlantedProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := isoRapidGen(t)
		h := isoGenerate(p, isoRapidDraw(t))
		h = isoTail(h)
		mode := rapid.SampledFrom([]string{"stale", "drop-middle", "garbage", "aborted"}).Draw(t, "mode")
		victim, want := isoPlant(t, h, mode)
		res := CheckIsolation(h, StrictSerializable)
		if res.Valid() {
			t.Fatalf("%s planted in T%d, but %s\n%s", mode, victim, res.Summary(), isoDump(h))
		}
		named := false
		for _, f := range res.Findings {
			if (want == "" || f.Anomaly == want) && slices.Contains(f.Txns, victim) {
				named = true
			}
		}
		if !named {
			t.Fatalf("%s planted in T%d: no %q finding names it: %v\n%s", mode, victim, want, res.Findings, isoDump(h))
		}
	})
}

// isoTail appends the fixed tail TestIsolationPlantedProperty relies on.
func isoTail(h []Txn) []Txn {
	var top uint64
	for i := range h {
		for _, m := range h[i].Mops {
			top = max(top, m.Value)
		}
	}
	// The tail's reads show key 0 as the model has it: everything a
	// committed transaction appended to it, in order (which may be more
	// than any read showed: Unknown-committed and unread appends).
	var list []uint64
	for i := range h {
		if h[i].Outcome == Failed {
			continue
		}
		for _, m := range h[i].Mops {
			if m.Kind == MopAppend && m.Key == 0 && (h[i].Outcome == OK || isoAppliedUnknown(&h[i])) {
				list = append(list, m.Value)
			}
		}
	}
	end := int64(1000 + 10*len(h) + 1000)
	w, f := top+1, top+3
	list = append(slices.Clip(list), w, w+1)
	n := len(h)
	return append(h,
		Txn{ID: n, Client: 0, Call: end, Return: end + 10, Outcome: OK, Mops: []Mop{{Kind: MopAppend, Key: 0, Value: w}, {Kind: MopAppend, Key: 0, Value: w + 1}}},
		Txn{ID: n + 1, Client: 1, Call: end + 20, Return: end + 30, Outcome: Failed, Mops: []Mop{{Kind: MopAppend, Key: 0, Value: f}}},
		Txn{ID: n + 2, Client: 0, Call: end + 40, Return: end + 50, Outcome: OK, Mops: []Mop{{Kind: MopRead, Key: 0, List: list}}},
		Txn{ID: n + 3, Client: 1, Call: end + 60, Return: end + 70, Outcome: OK, Mops: []Mop{{Kind: MopRead, Key: 0, List: list}}},
	)
}

// isoAppliedUnknown says whether isoGenerate applied an Unknown
// transaction's appends, which it records in the transaction's Err.
func isoAppliedUnknown(t *Txn) bool {
	return t.Outcome == Unknown && t.Err == "connection lost after commit"
}

// isoPlant changes one OK read so that the history has an anomaly, and
// returns the ID of the reading transaction and the anomaly required of
// the checker ("" when several may name it).
func isoPlant(t *rapid.T, h []Txn, mode string) (int, Anomaly) {
	type at struct{ txn, mop int }
	var cands []at
	for i := range h {
		if h[i].Outcome != OK {
			continue
		}
		for j, m := range h[i].Mops {
			if m.Kind == MopRead && isoCanPlant(h, i, j, mode) {
				cands = append(cands, at{i, j})
			}
		}
	}
	if len(cands) == 0 {
		t.Fatalf("no candidate for %s: the tail should always give one", mode)
	}
	c := cands[rapid.IntRange(0, len(cands)-1).Draw(t, "victim")]
	m := &h[c.txn].Mops[c.mop]
	l := m.List
	switch mode {
	case "stale":
		// The last value's writer returned before this reader was
		// called, and another read shows the value: dropping it orders
		// the reader before the writer (rw) and after it (realtime).
		m.List = slices.Clone(l[:len(l)-1])
		return h[c.txn].ID, ""
	case "drop-middle":
		i := rapid.IntRange(0, len(l)-2).Draw(t, "drop")
		m.List = slices.Delete(slices.Clone(l), i, i+1)
		return h[c.txn].ID, IncompatibleOrder
	case "garbage":
		m.List = append(slices.Clone(l), 1<<40)
		return h[c.txn].ID, GarbageRead
	case "aborted":
		for i := range h {
			if h[i].Outcome == Failed {
				for _, a := range h[i].Mops {
					if a.Kind == MopAppend && a.Key == m.Key {
						m.List = append(slices.Clone(l), a.Value)
						return h[c.txn].ID, G1a
					}
				}
			}
		}
	}
	panic("unreachable: isoCanPlant vetted the candidate")
}

// isoCanPlant says whether read j of transaction i can take mode's plant
// so that the anomaly is certain to be observable.
func isoCanPlant(h []Txn, i, j int, mode string) bool {
	m := h[i].Mops[j]
	switch mode {
	case "garbage":
		return true
	case "aborted":
		for k := range h {
			if h[k].Outcome == Failed {
				for _, a := range h[k].Mops {
					if a.Kind == MopAppend && a.Key == m.Key {
						return true
					}
				}
			}
		}
		return false
	case "drop-middle":
		// Another read must show the dropped position, so that the
		// two cannot both be prefixes of one order.
		return len(m.List) >= 2 && isoOtherRead(h, i, j, len(m.List)-1)
	case "stale":
		if len(m.List) == 0 {
			return false
		}
		x := m.List[len(m.List)-1]
		for k := range h {
			for _, a := range h[k].Mops {
				if a.Kind == MopAppend && a.Key == m.Key && a.Value == x {
					return k != i && h[k].Outcome == OK && h[k].Return < h[i].Call && isoOtherRead(h, i, j, len(m.List))
				}
			}
		}
	}
	return false
}

// isoOtherRead says whether some OK read other than read j of
// transaction i shows at least n values of the same key.
func isoOtherRead(h []Txn, i, j, n int) bool {
	key := h[i].Mops[j].Key
	for k := range h {
		if h[k].Outcome != OK {
			continue
		}
		for q, m := range h[k].Mops {
			if (k != i || q != j) && m.Kind == MopRead && m.Key == key && len(m.List) >= n {
				return true
			}
		}
	}
	return false
}

// TestIsolationExactProperty checks the checker against brute force on
// small histories whose reads are perturbed at random (a read may show
// any prefix of its key's final list instead of what it saw). Soundness:
// if some serial order of some set of committed transactions replays
// every trusted read exactly, the checker must call the history
// serializable, and strict serializable if such an order also respects
// real time. Completeness, for this class of history (every read a prefix
// of one list per key, nothing unattributable): if there is no such
// order, the checker must flag it. Completeness is not promised in
// general (an append no read saw can hide an anomaly); a counterexample
// here is either a bug or a limit worth documenting. It also checks that
// a check is deterministic and that every nontrivial component of the
// graph yields a cycle finding.
func TestIsolationExactProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := isoGen{
			txns:             rapid.IntRange(1, 6).Draw(t, "txns"),
			clients:          rapid.IntRange(1, 6).Draw(t, "clients"),
			keys:             rapid.IntRange(1, 2).Draw(t, "keys"),
			maxMops:          3,
			failed:           10,
			unknownCommitted: 10,
			unknownLost:      10,
		}
		h := isoGenerate(p, isoRapidDraw(t))
		// Perturb: any OK read may show any prefix of its key's final
		// list instead, and occasionally a read is replaced entirely.
		final := map[uint64][]uint64{}
		for i := range h {
			if h[i].Outcome == OK || isoAppliedUnknown(&h[i]) {
				for _, m := range h[i].Mops {
					if m.Kind == MopAppend {
						final[m.Key] = append(final[m.Key], m.Value)
					}
				}
			}
		}
		for i := range h {
			for j := range h[i].Mops {
				m := &h[i].Mops[j]
				if h[i].Outcome == OK && m.Kind == MopRead && rapid.IntRange(0, 2).Draw(t, "perturb") == 0 {
					f := final[m.Key]
					m.List = slices.Clone(f[:rapid.IntRange(0, len(f)).Draw(t, "prefix")])
				}
			}
		}
		res := CheckIsolation(h, StrictSerializable)
		again := CheckIsolation(h, StrictSerializable)
		if !reflect.DeepEqual(res, again) {
			t.Fatalf("two checks of one history differ:\n%v\n%v", res.Findings, again.Findings)
		}
		cycles := 0
		for _, f := range res.Findings {
			if strings.Contains(f.Explanation, " cycle ") {
				cycles++
			}
		}
		if cycles < res.Cycles {
			t.Fatalf("%d components with a cycle but %d cycle findings", res.Cycles, cycles)
		}
		ser := CheckIsolation(h, Serializable)
		if isoBruteForce(h, false) != ser.Valid() {
			t.Fatalf("brute force finds a serial order: %v; but %s\n%v\n%s", !ser.Valid(), ser.Summary(), ser.Forbidden, isoDump(h))
		}
		if isoBruteForce(h, true) != res.Valid() {
			t.Fatalf("brute force finds a realtime serial order: %v; but %s\n%v\n%s", !res.Valid(), res.Summary(), res.Forbidden, isoDump(h))
		}
	})
}

// TestIsolationChaosProperty feeds histories of arbitrary junk: reads of
// random lists (garbage, duplicates, values of failed or unknown
// transactions, disagreeing orders), duplicate appends, returns before
// calls. Bad input must give findings, never a panic; results must be
// deterministic and self-consistent; and the checker must stay sound
// against brute force whenever the junk is still attributable.
func TestIsolationChaosProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "txns")
		h := make([]Txn, n)
		for i := range h {
			tx := &h[i]
			tx.ID = 100 + i // IDs need not be indexes
			tx.Outcome = Outcome(rapid.IntRange(0, 2).Draw(t, "outcome"))
			tx.Call = int64(rapid.IntRange(0, 50).Draw(t, "call"))
			tx.Return = int64(rapid.IntRange(0, 50).Draw(t, "return"))
			for range rapid.IntRange(0, 4).Draw(t, "mops") {
				m := Mop{Kind: MopKind(rapid.IntRange(0, 3).Draw(t, "kind")), Key: uint64(rapid.IntRange(0, 2).Draw(t, "key"))}
				if m.Kind == MopAppend {
					m.Value = uint64(rapid.IntRange(1, 8).Draw(t, "value"))
				} else {
					for range rapid.IntRange(0, 4).Draw(t, "len") {
						m.List = append(m.List, uint64(rapid.IntRange(1, 8).Draw(t, "elem")))
					}
				}
				tx.Mops = append(tx.Mops, m)
			}
		}
		ids := map[int]bool{}
		for i := range h {
			ids[h[i].ID] = true
		}
		for _, l := range isoLevels {
			res := CheckIsolation(h, l)
			if again := CheckIsolation(h, l); !reflect.DeepEqual(res, again) {
				t.Fatalf("two checks of one history differ:\n%v\n%v", res.Findings, again.Findings)
			}
			var forbidden []Finding
			for _, f := range res.Findings {
				if len(f.Txns) == 0 || f.Explanation == "" {
					t.Fatalf("empty finding %v", f)
				}
				for _, id := range f.Txns {
					if !ids[id] || !strings.Contains(f.Explanation, fmt.Sprintf("T%d", id)) {
						t.Fatalf("finding names T%d badly: %v", id, f)
					}
				}
				if l.Forbids(f.Anomaly) {
					forbidden = append(forbidden, f)
				}
			}
			if !reflect.DeepEqual(forbidden, res.Forbidden) {
				t.Fatalf("Forbidden %v is not the findings %s forbids", res.Forbidden, l)
			}
			dup := slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Anomaly == DuplicateAppend })
			if !dup && l == Serializable && isoBruteForce(h, false) && !res.Valid() {
				t.Fatalf("serial order exists, but %s\n%v\n%s", res.Summary(), res.Forbidden, isoDump(h))
			}
		}
	})
}

// isoBruteForce searches every subset of the Unknown transactions and
// every order of the committed ones for a serial replay in which every OK
// read returns exactly what it recorded (and, with realtime, in which no
// transaction precedes one that returned before it was called).
func isoBruteForce(h []Txn, realtime bool) bool {
	var unknown []int
	for i := range h {
		if h[i].Outcome == Unknown {
			unknown = append(unknown, i)
		}
	}
	for set := 0; set < 1<<len(unknown); set++ {
		var txns []int
		for i := range h {
			if h[i].Outcome == OK {
				txns = append(txns, i)
			}
		}
		for b, i := range unknown {
			if set&(1<<b) != 0 {
				txns = append(txns, i)
			}
		}
		if isoPermute(h, txns, 0, realtime) {
			return true
		}
	}
	return false
}

// isoPermute tries every order of txns[k:] after txns[:k].
func isoPermute(h []Txn, txns []int, k int, realtime bool) bool {
	if k == len(txns) {
		return isoReplay(h, txns, realtime)
	}
	for i := k; i < len(txns); i++ {
		txns[k], txns[i] = txns[i], txns[k]
		ok := isoPermute(h, txns, k+1, realtime)
		txns[k], txns[i] = txns[i], txns[k]
		if ok {
			return true
		}
	}
	return false
}

func isoReplay(h []Txn, order []int, realtime bool) bool {
	lists := map[uint64][]uint64{}
	for a, i := range order {
		if realtime {
			for _, j := range order[a+1:] {
				if h[j].Outcome == OK && h[j].Return < h[i].Call {
					return false
				}
			}
		}
		for _, m := range h[i].Mops {
			switch {
			case m.Kind == MopAppend:
				lists[m.Key] = append(lists[m.Key], m.Value)
			case m.Kind == MopRead && h[i].Outcome == OK && !slices.Equal(m.List, lists[m.Key]):
				return false
			}
		}
	}
	return true
}

// TestIsolationDeterministic checks that a large history full of
// anomalies gives the very same result every time, though the checker
// keeps maps keyed by key and value.
func TestIsolationDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	h := isoGenerate(isoGen{txns: 3000, clients: 8, keys: 20, maxMops: 4, failed: 5, unknownCommitted: 3, unknownLost: 3},
		func(n int) int { return rng.IntN(n) })
	// Break it: make every 50th OK read stale by one value.
	for i := range h {
		for j := range h[i].Mops {
			if m := &h[i].Mops[j]; h[i].Outcome == OK && m.Kind == MopRead && len(m.List) > 0 && (i*7+j)%50 == 0 {
				m.List = m.List[:len(m.List)-1]
			}
		}
	}
	first := CheckIsolation(h, StrictSerializable)
	require.False(t, first.Valid())
	for range 5 {
		require.Equal(t, first, CheckIsolation(h, StrictSerializable))
	}
	t.Log(first.Summary())
}

// TestIsolationLongChain checks that a 100k-transaction dependency cycle,
// far beyond any recursion-safe depth, is found by the iterative Tarjan
// and reported as one G0.
func TestIsolationLongChain(t *testing.T) {
	const n = 100_000
	h := make([]Txn, n+1)
	// T0..T(n-1) each append to key i and key i+1 (mod n); the reads of
	// T(n) show each key's two appends in an order that makes T(i)
	// precede T(i+1) everywhere, closing a ring of ww edges.
	reads := make([]Mop, n)
	for i := range n {
		h[i] = Txn{ID: i, Outcome: OK, Call: 0, Return: 1, Mops: []Mop{
			{Kind: MopAppend, Key: uint64(i), Value: 2*uint64(i) + 1},
			{Kind: MopAppend, Key: uint64((i + 1) % n), Value: 2*uint64((i+1)%n) + 2},
		}}
	}
	for k := range n {
		reads[k] = Mop{Kind: MopRead, Key: uint64(k), List: []uint64{2*uint64(k) + 2, 2*uint64(k) + 1}}
	}
	h[n] = Txn{ID: n, Outcome: OK, Call: 0, Return: 1, Mops: reads}
	res := CheckIsolation(h, Serializable)
	require.Equal(t, []Anomaly{G0}, res.Anomalies(), res.Summary())
	require.Equal(t, 1, res.Cycles)
	require.Len(t, res.Findings[0].Txns, n)
}

// isoGenerateSI builds a list-append history as snapshot isolation runs
// it: each transaction reads the lists as of its start (plus its own
// appends) and, first committer wins, fails at its commit when another
// transaction that committed since its start appended to a key it appends
// to. Starts and commits interleave at random, so the history shows write
// skew where it arises, but never a cycle without two adjacent rw edges.
// A final reader shows every list whole, so the version orders are known.
func isoGenerateSI(txns, keys, maxMops, overlap int, draw isoDraw) []Txn {
	h := make([]Txn, txns)
	start, commit := make([]int64, txns), make([]int64, txns)
	next := uint64(1)
	for i := range h {
		start[i] = int64(1000 + 10*i)
		commit[i] = start[i] + 5 + 10*int64(draw(overlap+1))
		// The snapshot is taken at start (its first statement returns
		// just after) and the COMMIT sent just before commit.
		h[i] = Txn{ID: i, Client: i, Call: start[i] - 1, Return: commit[i] + 1, Mops: make([]Mop, 1+draw(maxMops)),
			SnapshotBy: start[i] + 1, CommitCall: commit[i] - 2}
		for j := range h[i].Mops {
			m := Mop{Kind: MopRead, Key: uint64(draw(keys))}
			if draw(2) == 0 {
				m.Kind, m.Value = MopAppend, next
				next++
			}
			h[i].Mops[j] = m
		}
	}
	// Decide the transactions in commit order; states[i] is the lists
	// after the i-th commit, at stateAt[i].
	order := make([]int, txns)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(commit[a] - commit[b]) })
	cur := make([][]uint64, keys)
	var states [][][]uint64
	var stateAt []int64
	lastAppend := make([]int64, keys) // commit time of each key's newest append
	for _, i := range order {
		t := &h[i]
		snap := make([][]uint64, keys)
		for n, at := range stateAt {
			if at < start[i] {
				snap = states[n]
			}
		}
		own := make([][]uint64, keys)
		conflict := false
		for j := range t.Mops {
			m := &t.Mops[j]
			switch m.Kind {
			case MopAppend:
				own[m.Key] = append(own[m.Key], m.Value)
				conflict = conflict || lastAppend[m.Key] > start[i]
			case MopRead:
				if l := append(slices.Clone(snap[m.Key]), own[m.Key]...); len(l) > 0 {
					m.List = l
				}
			}
		}
		if conflict {
			t.Outcome, t.Err = Failed, "could not serialize access due to concurrent update"
			for j := range t.Mops {
				t.Mops[j].List = nil
			}
			continue
		}
		t.Outcome = OK
		state := make([][]uint64, keys)
		for k := range cur {
			cur[k] = append(slices.Clip(cur[k]), own[k]...)
			state[k] = cur[k]
			if len(own[k]) > 0 {
				lastAppend[k] = commit[i]
			}
		}
		states, stateAt = append(states, state), append(stateAt, commit[i])
	}
	final := Txn{ID: txns, Client: txns, Call: 1 << 40, Return: 1<<40 + 1, Outcome: OK}
	for k := range cur {
		m := Mop{Kind: MopRead, Key: uint64(k)}
		if len(cur[k]) > 0 {
			m.List = cur[k]
		}
		final.Mops = append(final.Mops, m)
	}
	return append(h, final)
}

// TestIsolationSnapshotProperty: a history that snapshot isolation
// produced, with its snapshot and commit times, is valid at
// repeatable-read (no G-single, no G-nonadjacent, no lost update, no
// G-SIa), whatever write skew it shows, so neither the G-nonadjacent
// search nor the interference check calls snapshot isolation's own
// behaviour an anomaly. Then a reader's snapshot is moved back before the
// COMMIT of a writer it read (a snapshot that saw its future), and G-SIa
// must name the pair. (The long fork transcript in
// testdata/isolation/anomalies shows G-nonadjacent caught.)
func TestIsolationSnapshotProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		draw := isoRapidDraw(t)
		h := isoGenerateSI(rapid.IntRange(0, 40).Draw(t, "txns"), rapid.IntRange(1, 4).Draw(t, "keys"),
			rapid.IntRange(1, 4).Draw(t, "maxMops"), rapid.IntRange(0, 4).Draw(t, "overlap"), draw)
		if res := CheckIsolation(h, RepeatableRead); !res.Valid() {
			t.Fatalf("a snapshot-isolation history judged invalid at repeatable-read: %s\n%s", res.Summary(), isoDump(h))
		}
		writer := map[uint64]int{}
		for i := range h {
			for _, m := range h[i].Mops {
				if m.Kind == MopAppend && h[i].Outcome == OK {
					writer[m.Value] = i
				}
			}
		}
		for v := range h {
			for _, m := range h[v].Mops {
				if m.Kind != MopRead || len(m.List) == 0 || h[v].Outcome != OK {
					continue
				}
				u, ok := writer[m.List[len(m.List)-1]]
				if !ok || u == v || h[u].CommitCall <= 1 {
					continue
				}
				h[v].SnapshotBy = h[u].CommitCall - 1
				res := CheckIsolation(h, RepeatableRead)
				for _, f := range res.Forbidden {
					if f.Anomaly == GSIa && slices.Contains(f.Txns, u) && slices.Contains(f.Txns, v) {
						return
					}
				}
				t.Fatalf("T%d's snapshot moved before T%d's COMMIT, which it read: no G-SIa naming them: %s\n%s", v, u, res.Summary(), isoDump(h))
			}
		}
	})
}
