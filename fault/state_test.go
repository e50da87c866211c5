package fault

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testRand is splitmix64: a small deterministic Rand for tests (the package
// may not import the simulator's).
type testRand struct{ x uint64 }

func (r *testRand) Uint64() uint64 {
	r.x += 0x9e3779b97f4a7c15
	return mix64(r.x)
}

func mustParse(t testing.TB, text string) Plan {
	t.Helper()
	p, err := Parse(text)
	require.NoError(t, err)
	return p
}

// firings runs events through a fresh state of plan text and returns, per
// event, the indexes of the faults that fired, as "i,j" ("" for none).
func firings(t testing.TB, text string, seed uint64, evs []Event) []string {
	t.Helper()
	s := NewState(mustParse(t, text), &testRand{seed})
	out := make([]string, len(evs))
	for k := range evs {
		var got string
		s.Eval(&evs[k], func(i int, a Action) {
			require.Equal(t, s.faults[i].action, a)
			if got != "" {
				got += ","
			}
			got += fmt.Sprint(i)
		})
		out[k] = got
	}
	return out
}

func point(name string, hit uint64) Event {
	return Event{Kind: EventPoint, Point: name, Hit: hit}
}

func disk(op OpKind, fc FileClass, path string) Event {
	return Event{Kind: EventDisk, Op: op, File: fc, Path: path}
}

func TestEvalNthShortCircuit(t *testing.T) {
	a, b := point("a", 1), point("b", 1)
	// "and" stops at the first false argument, so only events that pass
	// point=a reach nth: the second a fires, however many b came between.
	got := firings(t, "crash when point=a and nth=2 times=0", 1, []Event{a, b, b, a, b, a, a})
	require.Equal(t, []string{"", "", "", "0", "", "", ""}, got)

	// "or" stops at the first true argument, so a never reaches nth.
	got = firings(t, "crash when point=a or nth=2 times=0", 1, []Event{a, b, a, b, b, a})
	require.Equal(t, []string{"0", "", "0", "0", "", "0"}, got)

	// Two nth atoms in one fault count separately.
	got = firings(t, "crash when nth=1 or nth=2 times=0", 1, []Event{a, a, a, a})
	// Event 1: first nth is 1 -> true (second not reached). Event 2: first
	// nth false (its 2nd), second nth reached for the 1st time -> false.
	// Event 3: second nth's 2nd evaluation -> true.
	require.Equal(t, []string{"0", "", "0", ""}, got)

	// nth never fires again after its K-th evaluation, however long the run.
	s := NewState(mustParse(t, "crash when nth=3 times=0"), &testRand{})
	n := 0
	for range 1000 {
		s.Eval(&a, func(int, Action) { n++ })
	}
	require.Equal(t, 1, n)
	require.Equal(t, []uint64{4}, s.nth, "the counter stops one past K")
}

func TestEvalPointHit(t *testing.T) {
	evs := []Event{point("p", 1), point("q", 1), point("p", 2), point("p", 3), point("q", 2)}
	require.Equal(t, []string{"", "", "0", "", ""}, firings(t, "crash when point=p#2", 1, evs))
	require.Equal(t, []string{"0", "", "0", "0", ""}, firings(t, "crash when point=p times=0", 1, evs))
	// point= is false on any other kind of event.
	require.Equal(t, []string{""}, firings(t, "crash when point=p times=0", 1, []Event{{Kind: EventStep}}))
}

func TestEvalTimes(t *testing.T) {
	evs := make([]Event, 5)
	require.Equal(t, []string{"0", "", "", "", ""}, firings(t, "kill", 1, evs))
	require.Equal(t, []string{"0", "0", "0", "", ""}, firings(t, "kill times=3", 1, evs))
	require.Equal(t, []string{"0", "0", "0", "0", "0"}, firings(t, "kill times=0", 1, evs))

	// A used-up fault is no longer evaluated: its nth counter stops.
	s := NewState(mustParse(t, "kill when nth=1 or nth=3"), &testRand{})
	ev := Event{Kind: EventStep}
	for range 10 {
		s.Eval(&ev, func(int, Action) {})
	}
	require.Equal(t, 1, s.Fired(0))
	require.Equal(t, []uint64{1, 0}, s.nth)
}

func TestEvalAppliesFiltering(t *testing.T) {
	heapSync := disk(OpSync, FileHeap, "base/1/16384")
	walSync := disk(OpSync, FileWAL, "pg_wal/000000010000000000000001")
	heapWrite := disk(OpWrite, FileHeap, "base/1/16384")
	step := Event{Kind: EventStep}
	// The spec's example: the second heap fsync, whatever else happens.
	evs := []Event{heapSync, walSync, heapWrite, step, point("x", 1), walSync, heapSync, heapSync}
	require.Equal(t, []string{"", "", "", "", "", "", "0", ""},
		firings(t, "fsync-eio when file=heap and nth=2", 1, evs))
	// nth alone counts only fsyncs: the third fsync of any file.
	require.Equal(t, []string{"", "", "", "", "", "0", "", ""},
		firings(t, "fsync-eio when nth=3", 1, evs))

	// Several faults on one event fire in plan order.
	plan := "latency for=1ms times=0\nwrite-eio times=0\nkill when op=write times=0\nclock-skew max=1ms times=0\n"
	require.Equal(t, []string{"0", "0", "0,1,2", "", "", "0", "0", "0"}, firings(t, plan, 1, evs))
	require.Equal(t, []string{"3"}, firings(t, plan, 1, []Event{{Kind: EventTimer}}))
}

func TestApplies(t *testing.T) {
	evs := []Event{{Kind: EventStep}, {Kind: EventPoint}, {Kind: EventTimer}}
	for op := OpKind(0); op < numOpKinds; op++ {
		evs = append(evs, Event{Kind: EventDisk, Op: op})
	}
	name := func(ev Event) string {
		if ev.Kind == EventDisk {
			return ev.Op.String()
		}
		return ev.Kind.String()
	}
	want := map[ActionKind]string{
		ActCrash:            "step point read write fsync rename open remove truncate syncdir other",
		ActKill:             "step point read write fsync rename open remove truncate syncdir other",
		ActPromote:          "step point read write fsync rename open remove truncate syncdir other",
		ActPause:            "step point read write fsync rename open remove truncate syncdir other",
		ActFsyncEIO:         "fsync",
		ActWriteEIO:         "write",
		ActENOSPC:           "write",
		ActTornWrite:        "write",
		ActLostWrite:        "write",
		ActMisdirectedWrite: "write",
		ActReadEIO:          "read",
		ActBitFlip:          "read",
		ActLatency:          "read write fsync rename open remove truncate syncdir other",
		ActClockSkew:        "timer",
	}
	for k := ActCrash; k < numActionKinds; k++ {
		var got string
		for _, ev := range evs {
			if k.Applies(&ev) {
				if got != "" {
					got += " "
				}
				got += name(ev)
			}
		}
		require.Equal(t, want[k], got, k.String())
	}
	require.Panics(t, func() { ActionKind(0).Applies(&Event{}) })
}

func TestEvalPrecedence(t *testing.T) {
	a, b, c := point("a", 1), point("b", 1), point("c", 1)
	evs := []Event{a, b, c}
	// not binds tighter than or: (not a) or b.
	require.Equal(t, []string{"", "0", "0"}, firings(t, "crash when not point=a or point=b times=0", 1, evs))
	// ... and tighter than and: (not a) and b.
	require.Equal(t, []string{"", "0", ""}, firings(t, "crash when not point=a and point=b times=0", 1, evs))
	// and binds tighter than or: a or (b and c) is just a here.
	require.Equal(t, []string{"0", "", ""}, firings(t, "crash when point=a or point=b and point=c times=0", 1, evs))
	// Parentheses override: (a or b) and not b.
	require.Equal(t, []string{"0", "", ""}, firings(t, "crash when (point=a or point=b) and not point=b times=0", 1, evs))
	require.Equal(t, []string{"", "", "0"}, firings(t, "crash when not (point=a or point=b) times=0", 1, evs))
}

func TestEvalAtoms(t *testing.T) {
	ev := Event{
		Kind: EventDisk, Time: 30 * time.Millisecond, Step: 100, Role: RoleBgwriter, Proc: "bgwriter",
		Op: OpWrite, File: FileHeap, Path: "base/5/16384.1",
	}
	tests := []struct {
		cond string
		want bool
	}{
		{"true", true},
		{"time>=30ms", true}, {"time>=31ms", false}, {"time<30ms", false}, {"time<31ms", true},
		{"step>=100", true}, {"step>=101", false}, {"step<100", false}, {"step<101", true},
		{"op=write", true}, {"op=read", false},
		{"file=heap", true}, {"file=wal", false},
		{"path=base/*/16384.1", true}, {"path=base/*/1638[0-4]*", true}, {"path=base/*", false}, {"path=pg_wal/*", false},
		{"role=bgwriter", true}, {"role=backend", false},
		{"proc=bgwriter", true}, {"proc=client-1", false},
		{"point=x", false},
		{"prob=1", true},
		{"nth=1", true},
	}
	for _, tt := range tests {
		got := firings(t, "write-eio when "+tt.cond, 1, []Event{ev})
		require.Equal(t, tt.want, got[0] == "0", tt.cond)
	}
	// Disk conditions are false on other events, not a match on zero values.
	step := Event{Kind: EventStep, Role: RoleBackend}
	for _, cond := range []string{"op=read", "file=wal", "path=*"} {
		require.Equal(t, []string{""}, firings(t, "kill when "+cond, 1, []Event{step}), cond)
	}
	require.Equal(t, []string{"0"}, firings(t, "kill when role=backend", 1, []Event{step}))
	// lock= is the tranche an lwlock-acquire point event carries, and
	// false on every other event.
	acq := Event{Kind: EventPoint, Point: "lwlock-acquire", Hit: 1, Lock: "ProcArrayLock"}
	other := Event{Kind: EventPoint, Point: "xact-after-xid-assign", Hit: 1}
	require.Equal(t, []string{"0", "", "", ""}, firings(t, "pause for=1ms when point=lwlock-acquire and lock=ProcArrayLock times=0", 0,
		[]Event{acq, {Kind: EventPoint, Point: "lwlock-acquire", Hit: 2, Lock: "XidGenLock"}, other, step}))
	require.Equal(t, []string{"", "0"}, firings(t, "pause for=1ms when not lock=ProcArrayLock times=0", 0, []Event{acq, other}))
}

func TestEvalProb(t *testing.T) {
	evs := make([]Event, 2000)
	for i := range evs {
		evs[i] = disk(OpRead, FileHeap, "f")
	}
	plan := "read-eio when prob=0.3 times=0\nbitflip when file=heap and prob=0.1 times=0\n"
	one := firings(t, plan, 42, evs)
	// Same seed, same firings.
	require.Equal(t, one, firings(t, plan, 42, evs))
	// Another seed, other firings.
	require.NotEqual(t, one, firings(t, plan, 43, evs))

	// The rate is about right.
	s := NewState(mustParse(t, "read-eio when prob=0.3 times=0"), &testRand{7})
	ev := disk(OpRead, FileHeap, "f")
	for range 100_000 {
		s.Eval(&ev, func(int, Action) {})
	}
	require.InDelta(t, 30_000, s.Fired(0), 1_000)

	// Each fault draws from its own stream, keyed by its text: removing one
	// fault (as a shrinker does) leaves the others' firings unchanged.
	full := "read-eio when prob=0.5 times=0\nbitflip when prob=0.3 times=0\nlatency for=1ms when prob=0.2 times=0\n"
	only := "bitflip when prob=0.3 times=0\n"
	var fromFull, fromOnly []bool
	sf := NewState(mustParse(t, full), &testRand{9})
	so := NewState(mustParse(t, only), &testRand{9})
	for range 500 {
		hit := false
		sf.Eval(&ev, func(i int, _ Action) { hit = hit || i == 1 })
		fromFull = append(fromFull, hit)
		hit = false
		so.Eval(&ev, func(int, Action) { hit = true })
		fromOnly = append(fromOnly, hit)
	}
	require.Equal(t, fromFull, fromOnly)

	// Two faults with the same text still get different streams.
	twins := "read-eio when prob=0.5 times=0\nread-eio when prob=0.5 times=0\n"
	got := firings(t, twins, 5, evs[:200])
	differ := false
	for _, g := range got {
		differ = differ || g == "0" || g == "1"
	}
	require.True(t, differ, "identical faults fired in lockstep")
}

// TestNewStateDrawsOnce: the plan takes exactly one number from the
// simulator's Rand, whatever it holds and however often it is evaluated.
func TestNewStateDrawsOnce(t *testing.T) {
	for _, text := range []string{"", "read-eio when prob=0.5 times=0\n"} {
		r := &countingRand{}
		s := NewState(mustParse(t, text), r)
		ev := disk(OpRead, FileHeap, "f")
		for range 100 {
			s.Eval(&ev, func(int, Action) {})
		}
		require.Equal(t, 1, r.n)
	}
}

type countingRand struct{ n int }

func (r *countingRand) Uint64() uint64 { r.n++; return uint64(r.n) }

func TestEvalMisuse(t *testing.T) {
	require.PanicsWithValue(t, "fault: NewState on an invalid plan: fault 1: invalid action kind 0",
		func() { NewState(Plan{Faults: []Fault{{}}}, &testRand{}) })
	require.Panics(t, func() { NewState(Plan{}, nil) })

	s := NewState(mustParse(t, "kill times=0"), &testRand{})
	require.Panics(t, func() { s.Eval(&Event{Kind: 9}, func(int, Action) {}) })
	require.Panics(t, func() { s.Eval(&Event{Kind: EventDisk, Op: 99}, func(int, Action) {}) })
	ev := Event{Kind: EventStep}
	require.PanicsWithValue(t, "fault: Eval called again from inside fire", func() {
		s.Eval(&ev, func(int, Action) { s.Eval(&ev, func(int, Action) {}) })
	})
	// A fire that ends the process by panicking leaves the state usable,
	// with the firing counted.
	require.Panics(t, func() { s.Eval(&ev, func(int, Action) { panic("process ends") }) })
	n := 0
	s.Eval(&ev, func(int, Action) { n++ })
	require.Equal(t, 1, n)
	require.Equal(t, 3, s.Fired(0))
}

// benchPlan is five faults of different kinds, two of them applicable to a
// heap write.
const benchPlan = `crash mode=torn when point=checkpointer-after-buffers#3
fsync-eio when file=heap and nth=2
write-eio when file=heap and prob=0.01 times=0
latency for=5ms when (op=write or op=fsync) and path=base/* and prob=0.1 times=0
clock-skew max=2ms times=0
`

func TestEvalAllocs(t *testing.T) {
	s := NewState(mustParse(t, benchPlan), &testRand{1})
	evs := []Event{disk(OpWrite, FileHeap, "base/1/2"), {Kind: EventStep}, point("checkpointer-after-buffers", 3), {Kind: EventTimer}}
	fired := 0
	fire := func(int, Action) { fired++ }
	allocs := testing.AllocsPerRun(1000, func() {
		for i := range evs {
			s.Eval(&evs[i], fire)
		}
	})
	require.Zero(t, allocs)
	require.NotZero(t, fired)
}

// BenchmarkEvalNotApplicable: a step event under a plan of disk faults only,
// the common case at every scheduler step.
func BenchmarkEvalNotApplicable(b *testing.B) {
	s := NewState(mustParse(b, "fsync-eio when file=heap and nth=2\nwrite-eio when prob=0.01 times=0\n"), &testRand{1})
	ev := Event{Kind: EventStep, Step: 1, Proc: "client-1"}
	fire := func(int, Action) { b.Fatal("fired") }
	b.ReportAllocs()
	for b.Loop() {
		s.Eval(&ev, fire)
	}
}

// BenchmarkEvalFiveFaults: a heap write under benchPlan, which evaluates
// the write-eio and latency triggers (probability draws and a glob match).
func BenchmarkEvalFiveFaults(b *testing.B) {
	s := NewState(mustParse(b, benchPlan), &testRand{1})
	ev := disk(OpWrite, FileHeap, "base/1/16384")
	n := 0
	fire := func(int, Action) { n++ }
	b.ReportAllocs()
	for b.Loop() {
		s.Eval(&ev, fire)
	}
}

// BenchmarkEvalFiveFaultsStep: a scheduler step under benchPlan, where only
// the crash applies and its point= condition fails at once.
func BenchmarkEvalFiveFaultsStep(b *testing.B) {
	s := NewState(mustParse(b, benchPlan), &testRand{1})
	ev := Event{Kind: EventStep, Step: 1}
	fire := func(int, Action) {}
	b.ReportAllocs()
	for b.Loop() {
		s.Eval(&ev, fire)
	}
}

// TestPointLedFaultsListedForPointEventsOnly: a fault whose trigger leads
// with point= is evaluated on point events only (its trigger is false at
// once on any other event, with no prob= draw), while one whose prob=
// comes first is still evaluated, and draws, on every event it applies to.
func TestPointLedFaultsListedForPointEventsOnly(t *testing.T) {
	s := NewState(mustParse(t, "pause for=1ms when point=x and prob=0.5\npause for=1ms when prob=0.5 and point=x"), &testRand{})
	require.Equal(t, []int32{1}, s.byKind[EventStep])
	require.Equal(t, []int32{0, 1}, s.byKind[EventPoint])
	require.Equal(t, []int32{1}, s.byOp[OpWrite])
	// The second fault's draws on step events move its stream; the first's
	// stays where it was, as when it was evaluated and failed at point=.
	before0, before1 := s.faults[0].stream, s.faults[1].stream
	for i := 0; i < 10; i++ {
		s.Eval(&Event{Kind: EventStep, Step: uint64(i)}, func(int, Action) {})
	}
	require.Equal(t, before0, s.faults[0].stream)
	require.NotEqual(t, before1, s.faults[1].stream)
}

// TestAimedPointLedFaultsListedForPointEventsOnly: the role= or proc= the
// simulator folds in front of a pause's trigger (role=backend and
// (point=x and prob=...)) draws and counts nothing, so such a fault is
// still listed for point events only; a trigger whose nth= or prob= comes
// before its point= is not.
func TestAimedPointLedFaultsListedForPointEventsOnly(t *testing.T) {
	const plan = "pause for=1ms when role=backend and (point=x and prob=1)\n" +
		"pause for=1ms when proc=bgwriter and role=backend and point=x\n" +
		"pause for=1ms when role=backend and nth=2 and point=x\n" +
		"pause for=1ms when role=backend\n"
	s := NewState(mustParse(t, plan), &testRand{})
	require.Equal(t, []int32{2, 3}, s.byKind[EventStep])
	require.Equal(t, []int32{0, 1, 2, 3}, s.byKind[EventPoint])
	// On point events the role= still decides, and nth= counts only
	// what reaches it.
	got := firings(t, plan, 0, []Event{
		{Kind: EventPoint, Point: "x", Role: RoleClient},
		{Kind: EventStep, Role: RoleBackend},
		{Kind: EventPoint, Point: "x", Role: RoleBackend},
	})
	require.Equal(t, []string{"", "3", "0,2"}, got) // fault 3 fired once already (times=1)
}

// TestFaultsListedForTheirTriggersScope: a fault is listed only for the
// events its trigger's stateless prefix allows (role= and point=, op=,
// file=), never past an atom that counts or draws; and a disk-scoped
// crash evaluated on step events would have counted nothing, as its nth=
// counter shows after disk events only.
func TestFaultsListedForTheirTriggersScope(t *testing.T) {
	s := NewState(mustParse(t, "crash when role=startup and point=x#3\n"+
		"crash when op=write and file=heap and nth=2\n"+
		"crash when file=wal and prob=0.5\n"+
		"crash when prob=0.5 and op=write\n"+
		"crash when step>=5 and (op=write or point=x)\n"+
		"crash when not point=x"), &testRand{})
	require.Equal(t, []int32{3, 4, 5}, s.byKind[EventStep])
	require.Equal(t, []int32{0, 3, 4, 5}, s.byKind[EventPoint])
	require.Equal(t, []int32{1, 2, 3, 4, 5}, s.byOp[OpWrite])
	require.Equal(t, []int32{2, 3, 4, 5}, s.byOp[OpSync])
	for i := 0; i < 10; i++ {
		s.Eval(&Event{Kind: EventStep, Step: uint64(i)}, func(int, Action) {})
	}
	require.Equal(t, uint64(0), s.nth[0], "a step event reached the disk crash's nth=")
	var fired []int
	for i := 0; i < 3; i++ {
		s.Eval(&Event{Kind: EventDisk, Op: OpWrite, File: FileHeap}, func(i int, _ Action) { fired = append(fired, i) })
	}
	require.Contains(t, fired, 1)
	require.Equal(t, 1, s.Fired(1))
}

// TestListens: a plan listens to the kinds of events some fault of it is
// listed for, and to no other.
func TestListens(t *testing.T) {
	s := NewState(mustParse(t, "pause for=1ms when point=x and prob=0.5\nfsync-eio when prob=0.5"), &testRand{})
	require.True(t, s.Listens(EventPoint))
	require.True(t, s.Listens(EventDisk))
	require.False(t, s.Listens(EventStep))
	require.False(t, s.Listens(EventTimer))
	s = NewState(mustParse(t, "clock-skew max=1ms"), &testRand{})
	require.True(t, s.Listens(EventTimer))
	require.False(t, s.Listens(EventDisk))
	require.False(t, NewState(Plan{}, &testRand{}).Listens(EventStep))
}

// TestScopeAdmits: Eval skips a fault whose prefix names another point or
// role without evaluating its trigger, so its prob= stream stays where it
// was; on its own point and role the trigger is evaluated and draws.
func TestScopeAdmits(t *testing.T) {
	s := NewState(mustParse(t, "pause for=1ms when role=backend and point=x and prob=0.5"), &testRand{})
	before := s.faults[0].stream
	s.Eval(&Event{Kind: EventPoint, Point: "y", Role: RoleBackend}, func(int, Action) {})
	s.Eval(&Event{Kind: EventPoint, Point: "x", Role: RoleCheckpointer}, func(int, Action) {})
	require.Equal(t, before, s.faults[0].stream)
	s.Eval(&Event{Kind: EventPoint, Point: "x", Role: RoleBackend}, func(int, Action) {})
	require.NotEqual(t, before, s.faults[0].stream)
}
