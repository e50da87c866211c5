package linearizability

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Shorthands for hand-built histories: each takes the client, the call and
// return times, and what the operation did.

func regR(client int, call, ret int64, key, result uint64) RegOp {
	return RegOp{Client: client, Call: call, Return: ret, Kind: RegRead, Key: key, Result: result, Outcome: OK}
}

func regW(client int, call, ret int64, key, value uint64) RegOp {
	return RegOp{Client: client, Call: call, Return: ret, Kind: RegWrite, Key: key, Value: value, Outcome: OK}
}

func regCAS(client int, call, ret int64, key, expect, value uint64, swapped bool) RegOp {
	return RegOp{Client: client, Call: call, Return: ret, Kind: RegCAS, Key: key, Expect: expect, Value: value, Swapped: swapped, Outcome: OK}
}

func regWith(op RegOp, o Outcome) RegOp {
	op.Outcome = o
	if o == Unknown {
		op.Return = 0 // meaningless for an unknown outcome; must not matter
	}
	return op
}

// TestRegisterLinearizable checks hand-built histories that do have a
// linearization, including the ones that need unknown outcomes to be placed
// anywhere or nowhere.
func TestRegisterLinearizable(t *testing.T) {
	cases := []struct {
		name string
		ops  []RegOp
	}{
		{"empty", nil},
		{"initial value is zero", []RegOp{regR(0, 0, 10, 1, 0)}},
		{"sequential", []RegOp{
			regW(0, 0, 10, 1, 5), regR(1, 20, 30, 1, 5), regW(1, 40, 50, 1, 6), regR(0, 60, 70, 1, 6),
		}},
		{"read concurrent with a write sees either value", []RegOp{
			regW(0, 0, 100, 1, 5), regR(1, 10, 20, 1, 0), regR(2, 30, 40, 1, 5), regR(1, 50, 60, 1, 5),
		}},
		{"overlapping writes in either order", []RegOp{
			// The reads show 2 was written before 1, though 1 was
			// called first.
			regW(0, 0, 100, 1, 1), regW(1, 10, 90, 1, 2),
			regR(2, 20, 50, 1, 2), regR(3, 60, 200, 1, 1), regR(2, 150, 160, 1, 1),
		}},
		{"closed intervals: touching operations are concurrent", []RegOp{
			regW(0, 0, 10, 1, 5), regR(1, 10, 20, 1, 0),
		}},
		{"keys are independent", []RegOp{
			regW(0, 0, 10, 1, 5), regW(1, 0, 10, 2, 7), regR(0, 20, 30, 2, 7), regR(1, 20, 30, 1, 5),
		}},
		{"CAS race with one winner", []RegOp{
			regCAS(0, 0, 100, 1, 0, 1, true), regCAS(1, 0, 100, 1, 0, 2, false), regCAS(2, 0, 100, 1, 0, 3, false),
			regR(0, 200, 210, 1, 1),
		}},
		{"CAS chain", []RegOp{
			regCAS(0, 0, 10, 1, 0, 1, true), regCAS(1, 20, 30, 1, 1, 2, true), regCAS(0, 40, 50, 1, 1, 3, false), regR(1, 60, 70, 1, 2),
		}},
		{"unknown write observed", []RegOp{
			regW(0, 0, 10, 1, 1), regWith(regW(1, 20, 0, 1, 2), Unknown), regR(0, 30, 40, 1, 2),
		}},
		{"unknown write never observed", []RegOp{
			regW(0, 0, 10, 1, 1), regWith(regW(1, 20, 0, 1, 2), Unknown), regR(0, 30, 40, 1, 1), regR(0, 50, 60, 1, 1),
		}},
		{"unknown write observed long after its client gave up", []RegOp{
			regWith(regW(1, 20, 0, 1, 2), Unknown), regR(0, 30, 40, 1, 0), regR(0, 1000, 1010, 1, 2),
		}},
		{"unknown CAS that swapped", []RegOp{
			regWith(regCAS(1, 0, 0, 1, 0, 9, false), Unknown), regR(0, 30, 40, 1, 9),
		}},
		{"unknown read is ignored", []RegOp{
			regWith(regR(1, 0, 0, 1, 42), Unknown), regR(0, 30, 40, 1, 0),
		}},
		{"failed write is ignored", []RegOp{
			regWith(regW(1, 0, 10, 1, 3), Failed), regR(0, 30, 40, 1, 0),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckRegisters(tc.ops, 0)
			if res.Verdict != VerdictOK {
				t.Fatalf("verdict %q, want ok: %s", res.Verdict, res.Explanation)
			}
			if res.Explanation != "" || len(res.IllegalKeys) != 0 {
				t.Errorf("ok result explains itself: %q %v", res.Explanation, res.IllegalKeys)
			}
		})
	}
}

// TestRegisterCounts checks that Ops, Keys and Dropped count what the
// checker saw: failed operations and unknown reads are dropped.
func TestRegisterCounts(t *testing.T) {
	res := CheckRegisters([]RegOp{
		regW(0, 0, 10, 1, 1), regWith(regW(1, 0, 10, 2, 1), Failed), regWith(regR(2, 0, 0, 3, 0), Unknown),
		regWith(regW(2, 20, 0, 4, 5), Unknown), regR(0, 20, 30, 1, 1),
	}, 0)
	if res.Verdict != VerdictOK || res.Ops != 3 || res.Keys != 2 || res.Dropped != 2 {
		t.Fatalf("got verdict %q ops %d keys %d dropped %d, want ok 3 2 2", res.Verdict, res.Ops, res.Keys, res.Dropped)
	}
}

// TestRegisterIllegal checks hand-built histories that have no
// linearization, and that the explanation names the key and the operation
// that cannot be placed.
func TestRegisterIllegal(t *testing.T) {
	cases := []struct {
		name string
		ops  []RegOp
		key  uint64
		want []string // substrings of the explanation
	}{
		{"stale read after a write returned", []RegOp{
			regW(0, 0, 10, 7, 1), regR(1, 20, 30, 7, 0),
		}, 7, []string{"key 7", "client 1 read(k7) = 0 [20ns, 30ns]", "read 0 but the register holds 1"}},
		{"stale read among other keys", []RegOp{
			regW(0, 0, 10, 1, 1), regW(0, 0, 10, 3, 1), regR(1, 20, 30, 1, 1),
			regW(2, 40, 50, 3, 2), regR(1, 60, 70, 3, 1), regR(1, 60, 70, 1, 1),
		}, 3, []string{"key 3", "read 1 but the register holds 2", "write(k3, 2)"}},
		{"two CAS swap from the same value", []RegOp{
			regCAS(0, 0, 100, 4, 0, 1, true), regCAS(1, 0, 100, 4, 0, 2, true),
		}, 4, []string{"key 4", "swapped, but the register holds", "not 0"}},
		{"CAS claims no swap but it must have", []RegOp{
			regCAS(0, 0, 10, 4, 0, 1, false), regR(1, 20, 30, 4, 0),
		}, 4, []string{"key 4", "did not swap, but the register holds 0"}},
		{"read of a value never written", []RegOp{
			regW(0, 0, 10, 2, 1), regR(1, 5, 30, 2, 99),
		}, 2, []string{"key 2", "read 99"}},
		{"read of a failed write's value", []RegOp{
			regWith(regW(0, 0, 10, 5, 3), Failed), regR(1, 20, 30, 5, 3),
		}, 5, []string{"key 5", "no operation can be linearized first", "read 3 but the register holds 0"}},
		{"unknown write cannot be observed before its call", []RegOp{
			regR(0, 0, 10, 6, 2), regWith(regW(1, 20, 0, 6, 2), Unknown),
		}, 6, []string{"key 6", "read 2 but the register holds 0"}},
		{"value reverts after an unknown write was seen", []RegOp{
			regW(0, 0, 10, 8, 1), regWith(regW(1, 20, 0, 8, 2), Unknown), regR(0, 30, 40, 8, 2), regR(0, 50, 60, 8, 1),
		}, 8, []string{"key 8", "read 1 but the register holds 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckRegisters(tc.ops, 0)
			if res.Verdict != VerdictIllegal {
				t.Fatalf("verdict %q, want illegal", res.Verdict)
			}
			if !slices.Equal(res.IllegalKeys, []uint64{tc.key}) {
				t.Errorf("illegal keys %v, want [%d]", res.IllegalKeys, tc.key)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Explanation, w) {
					t.Errorf("explanation lacks %q:\n%s", w, res.Explanation)
				}
			}
			// The explanation is a function of the history.
			if again := CheckRegisters(tc.ops, 0); again.Explanation != res.Explanation {
				t.Errorf("explanation differs between runs:\n%s\n%s", res.Explanation, again.Explanation)
			}
		})
	}
}

// TestRegisterSeveralIllegalKeys checks that every bad key is found, in
// key order, and the explanation says how many.
func TestRegisterSeveralIllegalKeys(t *testing.T) {
	var ops []RegOp
	for k := uint64(10); k > 0; k-- {
		ops = append(ops, regW(0, 0, 10, k, 1))
		if k%2 == 0 {
			ops = append(ops, regR(1, 20, 30, k, 0)) // stale
		} else {
			ops = append(ops, regR(1, 20, 30, k, 1))
		}
	}
	res := CheckRegisters(ops, 0)
	if res.Verdict != VerdictIllegal {
		t.Fatalf("verdict %q, want illegal", res.Verdict)
	}
	if want := []uint64{2, 4, 6, 8, 10}; !slices.Equal(res.IllegalKeys, want) {
		t.Errorf("illegal keys %v, want %v", res.IllegalKeys, want)
	}
	if !strings.HasPrefix(res.Explanation, "5 of 10 keys are not linearizable: 2, 4, 6, 8, 10.") ||
		!strings.Contains(res.Explanation, "(2 more keys not explained)") {
		t.Errorf("explanation:\n%s", res.Explanation)
	}
}

// TestRegisterMalformed checks that a history the checker cannot read is
// reported, not checked and not a panic.
func TestRegisterMalformed(t *testing.T) {
	bad := []RegOp{
		regW(0, 10, 5, 1, 1),                   // returns before its call
		{Kind: 9, Outcome: OK},                 // no such kind
		{Kind: RegRead, Outcome: 7},            // no such outcome
		regWith(regW(1, 0, 0, 1, 1), Unknown),  // unknown: fine
		{Kind: 0, Outcome: Unknown},            // zero kind
		regW(0, 100, 99, 1, 1),                 // and another
		regW(0, 100, 98, 1, 1),                 // beyond the reported few
		regWith(regW(0, 100, 1, 1, 1), Failed), // failed: return does not matter
	}
	res := CheckRegisters(bad, 0)
	if res.Verdict != VerdictUnknown {
		t.Fatalf("verdict %q, want unknown", res.Verdict)
	}
	for _, w := range []string{"malformed history", "op 0: returned at 5, before its call at 10", "op 1: unknown kind 9", "op 2: invalid outcome 7", "and 1 more"} {
		if !strings.Contains(res.Explanation, w) {
			t.Errorf("explanation lacks %q: %s", w, res.Explanation)
		}
	}
	if strings.Contains(res.Explanation, "op 3") || strings.Contains(res.Explanation, "op 7") {
		t.Errorf("explanation blames a good operation: %s", res.Explanation)
	}
	if err := res.WriteVisualization(filepath.Join(t.TempDir(), "x.html")); err == nil {
		t.Error("visualizing an unchecked history succeeded")
	}
	var nilRes *LinResult
	if err := nilRes.WriteVisualization(filepath.Join(t.TempDir(), "x.html")); err == nil {
		t.Error("visualizing a nil result succeeded")
	}
}

// regAdversarialHistory is hard to refute: n writes of distinct values, all
// concurrent, then a read of a value none of them wrote. Refuting it means
// trying every subset of the writes with every last writer, about n*2^n
// states.
func regAdversarialHistory(n int) []RegOp {
	var ops []RegOp
	for i := range n {
		ops = append(ops, regW(i, 0, 100, 1, uint64(i+1)))
	}
	return append(ops, regR(n, 200, 300, 1, 1000), regW(0, 0, 10, 2, 1), regR(1, 20, 30, 2, 1))
}

// TestRegisterTimeout checks that a search the timeout cuts short yields
// unknown, promptly, and names the undecided key but not the decided one.
func TestRegisterTimeout(t *testing.T) {
	start := time.Now()
	res := CheckRegisters(regAdversarialHistory(24), time.Nanosecond)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v despite the timeout", elapsed)
	}
	if res.Verdict != VerdictUnknown {
		t.Fatalf("verdict %q, want unknown: %s", res.Verdict, res.Explanation)
	}
	if !strings.Contains(res.Explanation, "timeout") || !strings.Contains(res.Explanation, ": 1") {
		t.Errorf("explanation: %s", res.Explanation)
	}
	// The small version is decided without a timeout.
	if res := CheckRegisters(regAdversarialHistory(4), 0); res.Verdict != VerdictIllegal {
		t.Errorf("small adversarial history: verdict %q, want illegal", res.Verdict)
	}
}

// TestRegisterVisualization checks that the visualization is written, for
// an illegal history (its main use) and an ok one.
func TestRegisterVisualization(t *testing.T) {
	dir := t.TempDir()
	for name, ops := range map[string][]RegOp{
		"illegal": {regW(0, 0, 10, 7, 1), regWith(regW(2, 5, 0, 7, 3), Unknown), regR(1, 20, 30, 7, 0)},
		"ok":      {regW(0, 0, 10, 7, 1), regR(1, 20, 30, 7, 1)},
	} {
		res := CheckRegisters(ops, 0)
		path := filepath.Join(dir, name+".html")
		if err := res.WriteVisualization(path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.ToLower(string(b)), "<html") || !strings.Contains(string(b), "write(k7, 1)") {
			t.Errorf("%s: %d bytes without <html or the operations", name, len(b))
		}
	}
	res := CheckRegisters([]RegOp{regR(0, 0, 1, 1, 0)}, 0)
	if err := res.WriteVisualization(filepath.Join(dir, "no", "such", "dir.html")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// regGenParams shapes a generated history.
type regGenParams struct {
	clients, keys, ops int
	values             int // values written are 1..values
	// Percentages of operations whose outcome is unknown or failed.
	unknownPct, failedPct int
	// Longest gap between a client's operations, and longest stretch
	// from call to linearization point and from there to return.
	gap, span int64
}

// regGenHistory builds a linearizable history by running a model: each
// operation gets a linearization point inside its [call, return] interval,
// and the results are what the operations would see, taken in the order of
// those points. An unknown operation takes effect at its point or not at
// all; a failed one takes no effect and reports garbage. Clients overlap one
// another freely; a client whose operation's outcome is unknown moves on
// without waiting, as a client whose connection died does.
//
// draw(n) returns a choice in [0, n), from rapid or from a seeded generator.
func regGenHistory(p regGenParams, draw func(n int) int) []RegOp {
	type pending struct {
		op     RegOp
		point  int64
		effect bool
	}
	free := make([]int64, p.clients)
	ops := make([]pending, 0, p.ops)
	for range p.ops {
		c := draw(p.clients)
		call := free[c] + int64(draw(int(p.gap)))
		point := call + int64(draw(int(p.span)))
		ret := point + int64(draw(int(p.span)))
		op := RegOp{Client: c, Call: call, Return: ret, Key: uint64(draw(p.keys)), Outcome: OK}
		switch k := draw(10); {
		case k < 5:
			op.Kind = RegRead
		case k < 8:
			op.Kind = RegWrite
			op.Value = uint64(1 + draw(p.values))
		default:
			op.Kind = RegCAS
			op.Expect = uint64(draw(p.values + 1))
			op.Value = uint64(1 + draw(p.values))
		}
		effect := true
		switch o := draw(100); {
		case o < p.unknownPct:
			op.Outcome = Unknown
			effect = draw(2) == 0
			ret = call + int64(draw(int(p.span))) // the client gives up
		case o < p.unknownPct+p.failedPct:
			op.Outcome = Failed
			effect = false
		}
		free[c] = ret + 1
		ops = append(ops, pending{op, point, effect})
	}
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(ops[a].point - ops[b].point) })
	state := map[uint64]uint64{}
	for _, i := range order {
		o := &ops[i]
		if !o.effect {
			o.op.Result = uint64(draw(p.values + 1)) // garbage
			o.op.Swapped = draw(2) == 0
			continue
		}
		s := state[o.op.Key]
		switch o.op.Kind {
		case RegRead:
			o.op.Result = s
		case RegWrite:
			state[o.op.Key] = o.op.Value
		case RegCAS:
			o.op.Swapped = s == o.op.Expect
			if o.op.Swapped {
				state[o.op.Key] = o.op.Value
			}
		}
	}
	out := make([]RegOp, len(ops))
	for i, o := range ops {
		out[i] = o.op
	}
	return out
}

// TestRegisterGeneratedProperty checks, on random histories generated from
// a model execution, that the checker accepts every one, and rejects it once
// a single acknowledged read is made to return a value nothing wrote.
func TestRegisterGeneratedProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := regGenParams{
			clients:    rapid.IntRange(1, 6).Draw(t, "clients"),
			keys:       rapid.IntRange(1, 4).Draw(t, "keys"),
			ops:        rapid.IntRange(1, 60).Draw(t, "ops"),
			values:     rapid.IntRange(1, 5).Draw(t, "values"),
			unknownPct: rapid.IntRange(0, 20).Draw(t, "unknownPct"),
			failedPct:  rapid.IntRange(0, 20).Draw(t, "failedPct"),
			gap:        30,
			span:       int64(rapid.IntRange(1, 100).Draw(t, "span")),
		}
		draw := func(k int) int {
			return rapid.IntRange(0, k-1).Draw(t, "choice")
		}
		ops := regGenHistory(p, draw)
		res := CheckRegisters(ops, 0)
		if res.Verdict != VerdictOK {
			t.Fatalf("generated history is %s: %s", res.Verdict, res.Explanation)
		}

		var reads []int
		for i, op := range ops {
			if op.Kind == RegRead && op.Outcome == OK {
				reads = append(reads, i)
			}
		}
		if len(reads) == 0 {
			return
		}
		i := rapid.SampledFrom(reads).Draw(t, "mutated")
		bad := slices.Clone(ops)
		bad[i].Result = 1 << 40 // no write ever writes this
		res = CheckRegisters(bad, 0)
		if res.Verdict != VerdictIllegal {
			t.Fatalf("history with op %d reading an unwritten value is %s", i, res.Verdict)
		}
		if !slices.Equal(res.IllegalKeys, []uint64{bad[i].Key}) {
			t.Fatalf("illegal keys %v, want [%d]", res.IllegalKeys, bad[i].Key)
		}
	})
}

// TestRegisterGeneratedLarge checks one bigger generated history with many
// concurrent clients and unknown outcomes, the shape a long simulated run
// produces.
func TestRegisterGeneratedLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := regGenHistory(regGenParams{
		clients: 10, keys: 20, ops: 5000, values: 50,
		unknownPct: 1, failedPct: 2, gap: 1000, span: 2000,
	}, rng.IntN)
	res := CheckRegisters(ops, 10*time.Second)
	if res.Verdict != VerdictOK {
		t.Fatalf("verdict %q: %s", res.Verdict, res.Explanation)
	}
}

// TestRegisterNamedExplanation: with the harness's names, the explanation
// says what each value and client is, and the final reader is named as
// such rather than by its id.
func TestRegisterNamedExplanation(t *testing.T) {
	nm := Names{Value: func(v uint64) string {
		if v == 0 {
			return "nothing"
		}
		return "value#" + strconv.FormatUint(v, 10)
	}}
	ops := []RegOp{regW(0, 0, 10, 7, 1), regR(FinalReader, 20, 30, 7, 0)}
	r := CheckRegistersNamed(ops, time.Second, nm)
	if r.Verdict != VerdictIllegal {
		t.Fatalf("verdict %q, want illegal", r.Verdict)
	}
	for _, want := range []string{
		"client 0 write(k7, value#1)",
		"the reader after recovery read(k7) = nothing",
		"read nothing but the register holds value#1",
	} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, r.Explanation)
		}
	}
	if strings.Contains(r.Explanation, "client -1") {
		t.Errorf("the final reader named by its id: %s", r.Explanation)
	}
	// Without names the numbers print as they are.
	plain := CheckRegisters(ops, time.Second)
	if !strings.Contains(plain.Explanation, "read 0 but the register holds 1") || !strings.Contains(plain.Explanation, "the reader after recovery") {
		t.Errorf("plain explanation: %s", plain.Explanation)
	}
}
