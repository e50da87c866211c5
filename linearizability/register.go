// Register linearizability.
//
// CheckRegisters decides whether a history of single-key register
// operations (reads, writes and compare-and-sets, each an autocommit
// statement) is linearizable: whether every operation can be given one
// instant inside its [Call, Return] interval such that, taken in the order of
// those instants, the operations behave like a map from key to value in which
// every key starts at 0. The decision is porcupine's; this file supplies the
// model, partitions the history by key (keys are independent registers, and
// a history is linearizable exactly when each key's sub-history is) and turns
// porcupine's partial linearizations into words.
//
// Outcomes are treated as follows:
//
//   - OK: the operation took effect once, inside its interval, and its
//     result (the value read, or whether a CAS swapped) must match the model.
//   - Failed: the engine reported an error, so the operation had no effect.
//     It is dropped from the history; a read that returns a failed write's
//     value is therefore a violation.
//   - Unknown: the client never heard back, so the operation may have taken
//     effect at any instant after its call, or never. It is given a return
//     time after every other time in the history (porcupine's way of saying
//     "still pending"), and its output is unchecked: the model accepts it in
//     any state. Placing it last is the same as "never took effect", placing
//     it earlier is "took effect then". An unknown read has no effect and
//     reveals nothing, so it is dropped outright; that shrinks the search.
//
// Unknown writes and CASes are the expensive part of the search: each one
// stays pending to the end of the history and the checker may try to place it
// at every point after its call. A timeout bounds the search; when it fires
// the verdict is "unknown", never a guess.
//
// The check is deterministic for a given history unless the timeout fires:
// partitions are built in key order, and operations keep their order within a
// key.

package linearizability

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdicts of CheckRegisters. They are strings so that a report or a repro
// file can carry them as they are.
const (
	VerdictOK      = "ok"
	VerdictIllegal = "illegal"
	VerdictUnknown = "unknown"
)

// The explanation lists a handful of keys and operations rather than all of
// them: the first few are what a reader looks at, and the visualization has
// the rest.
const (
	regMaxExplainedKeys       = 3
	regMaxExplainedOps        = 4
	regMaxListedKeys          = 10
	regMaxReportedBadOps      = 5
	regMaxExplainedPrefixTail = 3
)

// LinResult is the outcome of CheckRegisters.
type LinResult struct {
	// Verdict is VerdictOK, VerdictIllegal or VerdictUnknown. Unknown
	// means the timeout fired before every key was decided, or the history
	// was malformed (then Explanation says so); it never hides a violation
	// that was found, because a violation on any key makes the verdict
	// illegal.
	Verdict string
	// Ops is the number of operations handed to porcupine: the input less
	// the Dropped ones.
	Ops int
	// Keys is the number of distinct keys among those operations.
	Keys int
	// Dropped counts the failed operations and the unknown reads, which
	// cannot constrain the history and were left out.
	Dropped int
	// IllegalKeys lists, in increasing order, the keys whose sub-history is
	// not linearizable (empty unless Verdict is illegal). If the timeout
	// fired as well, it may include keys whose check was merely cut short;
	// the explanation then says so.
	IllegalKeys []uint64
	// Explanation says in words why the verdict is not ok: for illegal,
	// which keys and which operations cannot be placed after the longest
	// linearizable prefix found; for unknown, which keys were left
	// undecided or what was wrong with the input.
	Explanation string

	info    porcupine.LinearizationInfo
	names   Names // for the visualization's descriptions
	checked bool  // info is porcupine's (possibly empty) answer
}

// regInput is an operation's input as porcupine sees it. The key is kept
// so that partitioning and descriptions need nothing else.
type regInput struct {
	kind   RegKind
	key    uint64
	value  uint64 // write, CAS: the value written
	expect uint64 // CAS: the value compared
}

// regOutput is an operation's output. unknown marks an operation whose
// client never heard back; the model then accepts any state.
type regOutput struct {
	result  uint64 // read: the value read
	swapped bool   // CAS: whether it swapped
	unknown bool
}

// regModel is the per-key register: its state is the key's value as a
// uint64, so Equal and Hash are cheap and the cache porcupine keeps of
// (linearized set, state) pairs stays small. nm names values and clients
// in its descriptions.
func regModel(nm Names) porcupine.Model {
	return porcupine.Model{
		Partition: regPartitionByKey,
		Init:      func() any { return uint64(0) },
		Step: func(state, input, output any) (bool, any) {
			return regStep(state.(uint64), input.(regInput), output.(regOutput))
		},
		Equal: func(a, b any) bool { return a.(uint64) == b.(uint64) },
		// The state is mixed so that it does not cancel against the bits of
		// porcupine's linearized-set hash, with which it is XORed.
		Hash: func(s any) uint64 { return s.(uint64) * 0x9e3779b97f4a7c15 },
		DescribeOperation: func(input, output any) string {
			return regDescribeOp(input.(regInput), output.(regOutput), nm)
		},
		DescribeState: func(s any) string { return nm.value(s.(uint64)) },
	}
}

// regStep is the sequential specification of one register. It returns
// whether the operation, with the output it reported, is possible in state s,
// and the state after it.
func regStep(s uint64, in regInput, out regOutput) (bool, uint64) {
	switch in.kind {
	case RegRead:
		return out.unknown || out.result == s, s
	case RegWrite:
		return true, in.value
	case RegCAS:
		if s == in.expect {
			// An unknown CAS placed here must have swapped: it
			// compared and found its value. If it did not take
			// effect, the checker places it last instead.
			return out.unknown || out.swapped, in.value
		}
		return out.unknown || !out.swapped, s
	}
	return false, s
}

// regPartitionByKey splits a history into one sub-history per key, in key
// order, keeping each key's operations in history order, so that partition
// numbers and operation ids in porcupine's answer are the same on every run.
func regPartitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	// Count first, so that every partition is allocated once, at its size.
	count := make(map[uint64]int)
	for _, op := range history {
		count[op.Input.(regInput).key]++
	}
	keys := make([]uint64, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	index := make(map[uint64]int, len(keys))
	parts := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		index[k] = i
		parts[i] = make([]porcupine.Operation, 0, count[k])
	}
	for _, op := range history {
		i := index[op.Input.(regInput).key]
		parts[i] = append(parts[i], op)
	}
	return parts
}

// CheckRegisters checks that ops, a history of single-key register
// operations, is linearizable (see the file comment for what that means here
// and how each outcome is treated). Keys are checked in parallel by
// porcupine.
//
// A timeout bounds the search so that a pathological history yields
// "unknown" instead of hanging the run; zero or a negative timeout means
// none. The timeout is the only wall-clock dependence: without it, the result
// is a function of the history alone.
//
// A malformed history (an unknown kind or outcome, an acknowledged operation
// that returned before it was called) is not checked: the verdict is
// "unknown" and the explanation names the offending operations, because a
// recorder bug is not evidence about the database.
func CheckRegisters(ops []RegOp, timeout time.Duration) (res *LinResult) {
	return CheckRegistersNamed(ops, timeout, Names{})
}

// CheckRegistersNamed is CheckRegisters with the harness's names for
// values and clients in the explanation and the visualization.
func CheckRegistersNamed(ops []RegOp, timeout time.Duration, nm Names) (res *LinResult) {
	res = &LinResult{Verdict: VerdictUnknown, names: nm}
	history, dropped, problems := regBuildHistory(ops)
	res.Dropped = dropped
	if len(problems) > 0 {
		res.Explanation = "malformed history: " + strings.Join(problems, "; ")
		return res
	}
	res.Ops = len(history)
	parts := regPartitionByKey(history)
	res.Keys = len(parts)
	if timeout < 0 {
		timeout = 0
	}

	// Porcupine only panics on a malformed model, which would be a bug
	// here; it still must not take the caller's run down with it.
	defer func() {
		if p := recover(); p != nil {
			res.Verdict = VerdictUnknown
			res.Explanation = fmt.Sprintf("checker failed: %v", p)
			res.info = porcupine.LinearizationInfo{}
			res.checked = false
		}
	}()
	var start time.Time
	if timeout > 0 {
		start = time.Now()
	}
	// The partitions are built once, here, and handed to porcupine as
	// they are, so that its partition numbers are ours by construction.
	model := regModel(nm)
	model.Partition = func([]porcupine.Operation) [][]porcupine.Operation { return parts }
	verdict, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	timedOut := timeout > 0 && time.Since(start) >= timeout
	res.info, res.checked = info, true

	// A key is decided linearizable exactly when porcupine found a partial
	// linearization covering all of its operations. The others are illegal,
	// or, if the timeout fired, possibly just unfinished.
	partials := info.PartialLinearizations()
	var undecided []int
	for i, part := range parts {
		if i >= len(partials) || len(regLongestPartial(partials[i])) < len(part) {
			undecided = append(undecided, i)
		}
	}

	switch verdict {
	case porcupine.Ok:
		res.Verdict = VerdictOK
	case porcupine.Illegal:
		res.Verdict = VerdictIllegal
		res.Explanation = regExplainIllegal(parts, partials, undecided, timedOut, timeout, nm)
		for _, i := range undecided {
			res.IllegalKeys = append(res.IllegalKeys, parts[i][0].Input.(regInput).key)
		}
	default:
		res.Verdict = VerdictUnknown
		keys := make([]uint64, len(undecided))
		for j, i := range undecided {
			keys[j] = parts[i][0].Input.(regInput).key
		}
		res.Explanation = fmt.Sprintf("the check gave up after the %v timeout with %d of %d keys undecided: %s",
			timeout, len(keys), len(parts), regListKeys(keys))
	}
	return res
}

// regBuildHistory turns ops into porcupine operations, dropping those that
// cannot constrain the history, and reports malformed ones instead of
// letting porcupine misread them (an operation returning before its call
// would corrupt its event list).
func regBuildHistory(ops []RegOp) (history []porcupine.Operation, dropped int, problems []string) {
	bad := 0
	report := func(i int, format string, args ...any) {
		bad++
		if bad <= regMaxReportedBadOps {
			problems = append(problems, fmt.Sprintf("op %d: ", i)+fmt.Sprintf(format, args...))
		}
	}
	maxTime := int64(math.MinInt64)
	history = make([]porcupine.Operation, 0, len(ops))
	for i, op := range ops {
		switch op.Kind {
		case RegRead, RegWrite, RegCAS:
		default:
			report(i, "unknown kind %d", op.Kind)
			continue
		}
		switch op.Outcome {
		case Failed:
			dropped++
			continue
		case Unknown:
			if op.Kind == RegRead {
				dropped++
				continue
			}
			maxTime = max(maxTime, op.Call)
		case OK:
			if op.Return < op.Call {
				report(i, "returned at %d, before its call at %d", op.Return, op.Call)
				continue
			}
			maxTime = max(maxTime, op.Return)
		default:
			report(i, "invalid outcome %d", op.Outcome)
			continue
		}
		history = append(history, porcupine.Operation{
			ClientId: op.Client,
			Input:    regInput{kind: op.Kind, key: op.Key, value: op.Value, expect: op.Expect},
			Call:     op.Call,
			Output:   regOutput{result: op.Result, swapped: op.Swapped, unknown: op.Outcome == Unknown},
			Return:   op.Return,
		})
	}
	if bad > regMaxReportedBadOps {
		problems = append(problems, fmt.Sprintf("and %d more", bad-regMaxReportedBadOps))
	}
	// Unknown operations return after everything else, so that they may
	// be linearized at any point after their call, including "never"
	// (last). One past the latest time, rather than MaxInt64, keeps the
	// visualization's time axis readable.
	pending := maxTime
	if pending < math.MaxInt64 {
		pending++
	}
	for i := range history {
		if history[i].Output.(regOutput).unknown {
			history[i].Return = pending
			history[i].Metadata = "outcome unknown: the return time is synthetic"
		}
	}
	return history, dropped, problems
}

// regLongestPartial picks the longest of a partition's partial
// linearizations, the lexicographically smallest among equals, so that the
// explanation does not depend on map iteration inside porcupine.
func regLongestPartial(partials [][]int) []int {
	var best []int
	for _, p := range partials {
		if best == nil || len(p) > len(best) || (len(p) == len(best) && slices.Compare(p, best) < 0) {
			best = p
		}
	}
	return best
}

// regExplainIllegal describes the first few non-linearizable keys.
func regExplainIllegal(parts [][]porcupine.Operation, partials [][][]int, illegal []int, timedOut bool, timeout time.Duration, nm Names) string {
	keys := make([]uint64, len(illegal))
	for j, i := range illegal {
		keys[j] = parts[i][0].Input.(regInput).key
	}
	var b strings.Builder
	switch {
	case len(illegal) == 1 && !timedOut:
		// The key's own line says it all.
		part := parts[illegal[0]]
		fmt.Fprintf(&b, "key %d is not linearizable (%s): ", keys[0], countNoun(len(part), "operation"))
		b.WriteString(regExplainKey(part, regLongestPartial(regPartialsOf(partials, illegal[0])), nm))
		return b.String()
	case len(illegal) == 1:
		fmt.Fprintf(&b, "key %d is not linearizable", keys[0])
	default:
		fmt.Fprintf(&b, "%d of %d keys are not linearizable: %s", len(keys), len(parts), regListKeys(keys))
	}
	if timedOut {
		fmt.Fprintf(&b, " (the %v timeout fired, so some of these may merely be unfinished)", timeout)
	}
	b.WriteString(".")
	for j, i := range illegal {
		if j == regMaxExplainedKeys {
			fmt.Fprintf(&b, "\n(%d more keys not explained)", len(illegal)-j)
			break
		}
		fmt.Fprintf(&b, "\nkey %d (%s): ", keys[j], countNoun(len(parts[i]), "operation"))
		b.WriteString(regExplainKey(parts[i], regLongestPartial(regPartialsOf(partials, i)), nm))
	}
	return b.String()
}

// regPartialsOf returns partition i's partial linearizations, or none if
// porcupine returned fewer partitions than were built (it never does).
func regPartialsOf(partials [][][]int, i int) [][]int {
	if i < len(partials) {
		return partials[i]
	}
	return nil
}

// regExplainKey says why one key's operations cannot be linearized: it replays
// the longest linearizable prefix porcupine found, then names the operations
// that could come next (those called before any remaining operation
// returned) and why each is impossible in the state the prefix leaves.
func regExplainKey(part []porcupine.Operation, prefix []int, nm Names) string {
	var b strings.Builder

	state := uint64(0)
	done := make([]bool, len(part))
	for _, id := range prefix {
		if id < 0 || id >= len(part) {
			continue // cannot happen; porcupine's ids index the partition
		}
		done[id] = true
		_, state = regStep(state, part[id].Input.(regInput), part[id].Output.(regOutput))
	}
	if len(prefix) == 0 {
		fmt.Fprintf(&b, "no operation can be linearized first; the register holds %s initially. ", nm.value(state))
	} else {
		fmt.Fprintf(&b, "the longest linearizable prefix found has %s, ending with ", countNoun(len(prefix), "operation"))
		tail := prefix[max(0, len(prefix)-regMaxExplainedPrefixTail):]
		descs := make([]string, 0, len(tail))
		for _, id := range tail {
			if id >= 0 && id < len(part) {
				descs = append(descs, regDescribeFull(part[id], nm))
			}
		}
		fmt.Fprintf(&b, "%s; the register then holds %s. ", strings.Join(descs, ", then "), nm.value(state))
	}

	// The operations that could be linearized next are those whose call
	// precedes the earliest return among the remaining ones.
	earliest := int64(math.MaxInt64)
	for id, op := range part {
		if !done[id] {
			earliest = min(earliest, op.Return)
		}
	}
	var next []int
	for id, op := range part {
		if !done[id] && op.Call <= earliest {
			next = append(next, id)
		}
	}
	sort.SliceStable(next, func(a, c int) bool { return part[next[a]].Call < part[next[c]].Call })
	var impossible, explored []string
	for _, id := range next {
		in, out := part[id].Input.(regInput), part[id].Output.(regOutput)
		if ok, _ := regStep(state, in, out); ok {
			explored = append(explored, regDescribeFull(part[id], nm))
			continue
		}
		impossible = append(impossible, regDescribeFull(part[id], nm)+" ("+regWhyNot(state, in, out, nm)+")")
	}
	if len(impossible) > 0 {
		b.WriteString("None of the operations that could come next is possible: ")
		b.WriteString(regJoinFirst(impossible, regMaxExplainedOps))
		if len(explored) > 0 {
			b.WriteString("; and every continuation through ")
			b.WriteString(regJoinFirst(explored, regMaxExplainedOps))
			b.WriteString(" leads to a dead end")
		}
	} else {
		b.WriteString("Every continuation through ")
		b.WriteString(regJoinFirst(explored, regMaxExplainedOps))
		b.WriteString(" leads to a dead end")
	}
	b.WriteString(".")
	return b.String()
}

// regWhyNot says why the model rejects an operation in state s.
func regWhyNot(s uint64, in regInput, out regOutput, nm Names) string {
	switch in.kind {
	case RegRead:
		return fmt.Sprintf("read %s but the register holds %s", nm.value(out.result), nm.value(s))
	case RegCAS:
		if out.swapped {
			return fmt.Sprintf("swapped, but the register holds %s, not %s", nm.value(s), nm.value(in.expect))
		}
		return fmt.Sprintf("did not swap, but the register holds %s", nm.value(s))
	}
	return "impossible"
}

// regDescribeOp is the short form of an operation, as the visualization
// shows it.
func regDescribeOp(in regInput, out regOutput, nm Names) string {
	var s string
	switch in.kind {
	case RegRead:
		s = fmt.Sprintf("read(k%d) = %s", in.key, nm.value(out.result))
		if out.unknown {
			s = fmt.Sprintf("read(k%d) = ?", in.key)
		}
	case RegWrite:
		s = fmt.Sprintf("write(k%d, %s)", in.key, nm.value(in.value))
		if nm.deletes(in.value) {
			s = fmt.Sprintf("delete(k%d)", in.key)
		}
	case RegCAS:
		s = fmt.Sprintf("cas(k%d, %s -> %s) = %t", in.key, nm.value(in.expect), nm.value(in.value), out.swapped)
		if out.unknown {
			s = fmt.Sprintf("cas(k%d, %s -> %s) = ?", in.key, nm.value(in.expect), nm.value(in.value))
		}
	default:
		s = fmt.Sprintf("op%d(k%d)", in.kind, in.key)
	}
	if out.unknown && in.kind == RegWrite {
		s += " ?"
	}
	return s
}

// regDescribeFull adds the client and the interval to regDescribeOp, because an
// explanation is read without the visualization at hand.
func regDescribeFull(op porcupine.Operation, nm Names) string {
	in, out := op.Input.(regInput), op.Output.(regOutput)
	ret := "never returned"
	if !out.unknown {
		ret = time.Duration(op.Return).String()
	}
	return fmt.Sprintf("%s %s [%v, %s]", ClientName(op.ClientId), regDescribeOp(in, out, nm), time.Duration(op.Call), ret)
}

// regJoinFirst joins the first n strings and says how many were left out.
func regJoinFirst(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

// regListKeys lists the first few keys.
func regListKeys(keys []uint64) string {
	s := make([]string, 0, min(len(keys), regMaxListedKeys))
	for _, k := range keys[:min(len(keys), regMaxListedKeys)] {
		s = append(s, strconv.FormatUint(k, 10))
	}
	out := strings.Join(s, ", ")
	if len(keys) > regMaxListedKeys {
		out += fmt.Sprintf(" and %d more", len(keys)-regMaxListedKeys)
	}
	return out
}

// WriteVisualization writes porcupine's HTML visualization of the checked
// history to path: every key's operations on a time line, with the longest
// linearizations found, which is where one starts reading an illegal
// verdict. It is an error to call it on a result whose history was never
// checked (a malformed one). It must not be called concurrently on one
// result: porcupine sorts the partial linearizations in place.
func (r *LinResult) WriteVisualization(path string) error {
	return r.WriteVisualizationMarked(path, nil)
}
