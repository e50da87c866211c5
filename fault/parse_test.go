package fault

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// examplePlan is the text form's showcase; it seeds the fuzzer too.
const examplePlan = `# comment lines and blank lines are ignored; trailing "# ..." comments too
crash mode=torn when point=checkpointer-after-buffers#3
fsync-eio when file=heap and nth=2
bitflip bits=2 when file=wal and prob=0.01 times=3
pause for=10ms role=bgwriter when point=bufmgr-before-write#1
kill role=checkpointer when time>=30ms

latency for=5ms when op=fsync and prob=0.1 times=0   # slow fsyncs, forever
clock-skew max=2ms times=0
misdirected-write by=-8192 when file=heap and role=bgwriter
`

func atom(a Atom) *Expr { return AtomExpr(a) }

func TestParseExample(t *testing.T) {
	p, err := Parse(examplePlan)
	require.NoError(t, err)
	want := Plan{Faults: []Fault{
		{Action: Action{Kind: ActCrash, Mode: ModeTorn}, When: atom(Atom{Kind: AtomPoint, Name: "checkpointer-after-buffers", Hit: 3}), Times: 1},
		{Action: Action{Kind: ActFsyncEIO}, When: And(atom(Atom{Kind: AtomFile, File: FileHeap}), atom(Atom{Kind: AtomNth, N: 2})), Times: 1},
		{Action: Action{Kind: ActBitFlip, Bits: 2}, When: And(atom(Atom{Kind: AtomFile, File: FileWAL}), atom(Atom{Kind: AtomProb, Prob: 0.01})), Times: 3},
		{Action: Action{Kind: ActPause, For: 10 * time.Millisecond, Role: RoleBgwriter, HasRole: true}, When: atom(Atom{Kind: AtomPoint, Name: "bufmgr-before-write", Hit: 1}), Times: 1},
		{Action: Action{Kind: ActKill, Role: RoleCheckpointer, HasRole: true}, When: atom(Atom{Kind: AtomTimeGE, Dur: 30 * time.Millisecond}), Times: 1},
		{Action: Action{Kind: ActLatency, For: 5 * time.Millisecond}, When: And(atom(Atom{Kind: AtomOp, Op: OpSync}), atom(Atom{Kind: AtomProb, Prob: 0.1})), Times: 0},
		{Action: Action{Kind: ActClockSkew, Max: 2 * time.Millisecond}, Times: 0},
		{Action: Action{Kind: ActMisdirectedWrite, By: -8192}, When: And(atom(Atom{Kind: AtomFile, File: FileHeap}), atom(Atom{Kind: AtomRole, Role: RoleBgwriter})), Times: 1},
	}}
	require.Equal(t, want, p)
	// The canonical form drops the comments and the blank line and keeps
	// everything else as written: the example is already canonical.
	var lines []string
	for _, l := range strings.Split(examplePlan, "\n") {
		l, _, _ = strings.Cut(l, "   #")
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	require.Equal(t, strings.Join(lines, "\n")+"\n", p.String())
}

// TestParseValid checks single lines: what they parse to, and the canonical
// form they print as.
func TestParseValid(t *testing.T) {
	pt := func(name string, hit uint64) *Expr { return atom(Atom{Kind: AtomPoint, Name: name, Hit: hit}) }
	tests := []struct {
		in    string
		want  Fault
		canon string // "" means in is already canonical
	}{
		{in: "crash", want: Fault{Action: Action{Kind: ActCrash}, Times: 1}},
		{in: "crash times=0", want: Fault{Action: Action{Kind: ActCrash}, Times: 0}},
		{in: "crash times=1", want: Fault{Action: Action{Kind: ActCrash}, Times: 1}, canon: "crash"},
		{in: "crash times=2 when true", want: Fault{Action: Action{Kind: ActCrash}, When: atom(Atom{Kind: AtomTrue}), Times: 2}, canon: "crash when true times=2"},
		{in: "crash mode=drop-all rename=non-atomic", want: Fault{Action: Action{Kind: ActCrash, Mode: ModeDropAll, NonAtomicRename: true}, Times: 1}},
		{in: "crash rename=non-atomic mode=random-subset", want: Fault{Action: Action{Kind: ActCrash, Mode: ModeRandomSubset, NonAtomicRename: true}, Times: 1}, canon: "crash mode=random-subset rename=non-atomic"},
		{in: "crash rename=atomic", want: Fault{Action: Action{Kind: ActCrash}, Times: 1}, canon: "crash"},
		{in: "kill", want: Fault{Action: Action{Kind: ActKill}, Times: 1}},
		{in: "kill proc=client-3", want: Fault{Action: Action{Kind: ActKill, Proc: "client-3"}, Times: 1}},
		{in: "kill role=backend", want: Fault{Action: Action{Kind: ActKill, Role: RoleBackend, HasRole: true}, Times: 1}},
		{in: "pause role=walwriter for=1.5s", want: Fault{Action: Action{Kind: ActPause, For: 1500 * time.Millisecond, Role: RoleWalwriter, HasRole: true}, Times: 1}, canon: "pause for=1.5s role=walwriter"},
		{in: "pause for=1500us", want: Fault{Action: Action{Kind: ActPause, For: 1500 * time.Microsecond}, Times: 1}, canon: "pause for=1.5ms"},
		{in: "pause for=3µs", want: Fault{Action: Action{Kind: ActPause, For: 3 * time.Microsecond}, Times: 1}, canon: "pause for=3us"},
		{in: "read-eio", want: Fault{Action: Action{Kind: ActReadEIO}, Times: 1}},
		{in: "promote when time>=90ms", want: Fault{Action: Action{Kind: ActPromote}, When: atom(Atom{Kind: AtomTimeGE, Dur: 90 * time.Millisecond}), Times: 1}},
		{in: "promote node=n3 when time>=90ms", want: Fault{Action: Action{Kind: ActPromote, Node: "n3"}, When: atom(Atom{Kind: AtomTimeGE, Dur: 90 * time.Millisecond}), Times: 1}},
		{in: "write-eio\t when\top=write", want: Fault{Action: Action{Kind: ActWriteEIO}, When: atom(Atom{Kind: AtomOp, Op: OpWrite}), Times: 1}, canon: "write-eio when op=write"},
		{in: "enospc when path=base/*/1[0-9]*", want: Fault{Action: Action{Kind: ActENOSPC}, When: atom(Atom{Kind: AtomPath, Name: "base/*/1[0-9]*"}), Times: 1}},
		{in: "torn-write when proc=bgwriter", want: Fault{Action: Action{Kind: ActTornWrite}, When: atom(Atom{Kind: AtomProc, Name: "bgwriter"}), Times: 1}},
		{in: "pause for=2ms role=backend when point=lwlock-acquire and lock=ProcArrayLock", want: Fault{Action: Action{Kind: ActPause, For: 2 * time.Millisecond, Role: RoleBackend, HasRole: true},
			When: And(atom(Atom{Kind: AtomPoint, Name: "lwlock-acquire"}), atom(Atom{Kind: AtomLock, Name: "ProcArrayLock"})), Times: 1}},
		{in: "lost-write when step>=100 and step<200", want: Fault{Action: Action{Kind: ActLostWrite}, When: And(atom(Atom{Kind: AtomStepGE, N: 100}), atom(Atom{Kind: AtomStepLT, N: 200})), Times: 1}},
		{in: "misdirected-write by=8192", want: Fault{Action: Action{Kind: ActMisdirectedWrite, By: 8192}, Times: 1}, canon: "misdirected-write"},
		{in: "misdirected-write", want: Fault{Action: Action{Kind: ActMisdirectedWrite, By: 8192}, Times: 1}},
		{in: "bitflip bits=1", want: Fault{Action: Action{Kind: ActBitFlip, Bits: 1}, Times: 1}, canon: "bitflip"},
		{in: "latency for=1h", want: Fault{Action: Action{Kind: ActLatency, For: time.Hour}, Times: 1}, canon: "latency for=1h0m0s"},
		{in: "clock-skew max=1ms when time<0s", want: Fault{Action: Action{Kind: ActClockSkew, Max: time.Millisecond}, When: atom(Atom{Kind: AtomTimeLT}), Times: 1}},
		{in: "crash when point=x", want: Fault{Action: Action{Kind: ActCrash}, When: pt("x", 0), Times: 1}},
		{in: "crash when prob=1", want: Fault{Action: Action{Kind: ActCrash}, When: atom(Atom{Kind: AtomProb, Prob: 1}), Times: 1}},
		{in: "crash when prob=1e-5", want: Fault{Action: Action{Kind: ActCrash}, When: atom(Atom{Kind: AtomProb, Prob: 1e-5}), Times: 1}, canon: "crash when prob=1e-05"},
		// Precedence: not > and > or; the tree keeps the written shape.
		{in: "crash when point=a or point=b and not point=c", want: Fault{Action: Action{Kind: ActCrash},
			When: Or(pt("a", 0), And(pt("b", 0), Not(pt("c", 0)))), Times: 1}},
		{in: "crash when (point=a or point=b) and point=c", want: Fault{Action: Action{Kind: ActCrash},
			When: And(Or(pt("a", 0), pt("b", 0)), pt("c", 0)), Times: 1}},
		{in: "crash when (point=a and point=b) and point=c", want: Fault{Action: Action{Kind: ActCrash},
			When: And(And(pt("a", 0), pt("b", 0)), pt("c", 0)), Times: 1}},
		{in: "crash when ((point=a)) or (point=b and point=c)", want: Fault{Action: Action{Kind: ActCrash},
			When: Or(pt("a", 0), And(pt("b", 0), pt("c", 0))), Times: 1}, canon: "crash when point=a or point=b and point=c"},
		{in: "crash when not not (point=a or point=b)", want: Fault{Action: Action{Kind: ActCrash},
			When: Not(Not(Or(pt("a", 0), pt("b", 0)))), Times: 1}},
		{in: "crash when not (point=a and point=b)", want: Fault{Action: Action{Kind: ActCrash},
			When: Not(And(pt("a", 0), pt("b", 0))), Times: 1}},
		// Keywords are ordinary names where a name is expected.
		{in: "kill proc=when when proc=and", want: Fault{Action: Action{Kind: ActKill, Proc: "when"}, When: atom(Atom{Kind: AtomProc, Name: "and"}), Times: 1}},
		{in: "crash when point=a#1 # the first hit", want: Fault{Action: Action{Kind: ActCrash}, When: pt("a", 1), Times: 1}, canon: "crash when point=a#1"},
		{in: "  crash  \r", want: Fault{Action: Action{Kind: ActCrash}, Times: 1}, canon: "crash"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := Parse(tt.in)
			require.NoError(t, err)
			require.Equal(t, Plan{Faults: []Fault{tt.want}}, p)
			canon := tt.canon
			if canon == "" {
				canon = tt.in
			}
			require.Equal(t, canon+"\n", p.String())
			f, err := ParseFault(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, f)
			require.Equal(t, canon, f.String())
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n\n   \t\n", "#x"} {
		p, err := Parse(in)
		require.NoError(t, err)
		require.Equal(t, Plan{}, p, "%q", in)
		require.Equal(t, "", p.String())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"crsh", `line 1: unknown action "crsh" (valid: crash, kill, pause, fsync-eio, write-eio, read-eio, enospc, torn-write, lost-write, misdirected-write, bitflip, latency, clock-skew, promote)`},
		{"crash\nfsync-eio for=1ms", `line 2: fsync-eio: unknown argument "for"`},
		{"\n\n\n\ncrash when (point=a or point=b", `line 5: expected ")" after expression, found end of line`},
		{"pause", `line 1: pause needs for=DURATION`},
		{"promote node=", `line 1: node=: missing value`},
		{"crash node=n2", `line 1: crash: unknown argument "node"`},
		{"pause role=bgwriter", `line 1: pause needs for=DURATION`},
		{"latency", `line 1: latency needs for=DURATION`},
		{"clock-skew", `line 1: clock-skew needs max=DURATION`},
		{"pause for=0s", `line 1: pause: for must be in (0, 24h0m0s], got 0s`},
		{"pause for=-1ms", `line 1: pause: for must be in (0, 24h0m0s], got -1ms`},
		{"pause for=25h", `line 1: pause: for must be in (0, 24h0m0s], got 25h0m0s`},
		{"pause for=10", `line 1: pause: for=: bad duration "10" (want e.g. 10ms, 1.5s)`},
		{"kill proc=a role=backend", `line 1: kill: proc= and role= exclude each other`},
		{"kill role=king", `line 1: kill: role=: unknown role "king" (valid: backend, bgwriter, checkpointer, walwriter, autovacuum-launcher, autovacuum-worker, archiver, startup, postmaster, logger, client, other, walreceiver)`},
		// One role per process kind: the launcher and its workers differ.
		{"pause role=autovacuum", `line 1: pause: role=: unknown role "autovacuum" (valid: backend, bgwriter, checkpointer, walwriter, autovacuum-launcher, autovacuum-worker, archiver, startup, postmaster, logger, client, other, walreceiver)`},
		{"kill proc=a,b", `line 1: kill: proc=: bad character ',' in name "a,b"`},
		{"crash when lock>=ProcArrayLock", `line 1: lock takes =`},
		{"crash when lock=a,b", `line 1: lock=: bad character ',' in name "a,b"`},
		{"crash mode=gentle", `line 1: crash: unknown mode "gentle" (want drop-all, random-subset or torn)`},
		{"crash rename=sometimes", `line 1: crash: unknown rename "sometimes" (want atomic or non-atomic)`},
		{"crash mode=torn mode=torn", `line 1: crash: argument "mode" given twice`},
		{"crash mode=", `line 1: mode=: missing value`},
		{"crash mode", `line 1: expected "=" after "mode", found end of line`},
		{"crash times=1 times=2", `line 1: times= given twice`},
		{"crash times=1 when true times=2", `line 1: times= given twice`},
		{"crash times=-1", `line 1: times=: want a count in 0..1000000000 (0: unlimited), got "-1"`},
		{"crash times=x", `line 1: times=: want a count in 0..1000000000 (0: unlimited), got "x"`},
		{"bitflip bits=0", `line 1: bitflip: bits must be in 1..65536, got 0`},
		{"bitflip bits=two", `line 1: bitflip: bits=: not a number: "two"`},
		{"misdirected-write by=0", `line 1: misdirected-write: by must be non-zero and within ±1073741824, got 0`},
		{"crash when", `line 1: expected a condition, found end of line`},
		{"crash when point=a and", `line 1: expected a condition, found end of line`},
		{"crash when point=a and )", `line 1: expected a condition, found ")"`},
		{"crash when point=a)", `line 1: expected "and", "or", times=N or end of line after expression, found ")"`},
		{"crash when point=a role=backend", `line 1: expected "and", "or", times=N or end of line after expression, found "role"`},
		{"crash (", `line 1: expected ARG=VALUE, when, or end of line, found "("`},
		{"crash when point", `line 1: expected a comparison after "point", found end of line`},
		{"crash when speed=1", `line 1: unknown condition "speed" (valid: true, time, step, point, op, file, path, role, proc, nth, prob)`},
		{"crash when times=1", `line 1: unknown condition "times" (valid: true, time, step, point, op, file, path, role, proc, nth, prob)`},
		{"crash when time=1ms", `line 1: time takes >= or <, not =`},
		{"crash when step>=x", `line 1: step: not a count: "x"`},
		{"crash when point>=a", `line 1: point takes =`},
		{"crash when time>=-1ms", `line 1: time: negative duration -1ms`},
		{"crash when time<soon", `line 1: time: bad duration "soon" (want e.g. 10ms, 1.5s)`},
		{"crash when point=a#0", `line 1: point=a: hit must be a count from 1, got "0"`},
		{"crash when point=a#", `line 1: point=a: hit must be a count from 1, got ""`},
		{"crash when point=#3", `line 1: point=: empty name`},
		{"crash when point=a#b#3", `line 1: point=a: hit must be a count from 1, got "b#3"`},
		{"crash when op=sync", `line 1: unknown op "sync" (valid: read, write, fsync, rename, open, remove, truncate, syncdir, other)`},
		{"crash when file=toast", `line 1: unknown file class "toast" (valid: wal, heap, index, clog, control, catalog, archive, other)`},
		{"crash when role=king", `line 1: unknown role "king" (valid: backend, bgwriter, checkpointer, walwriter, autovacuum-launcher, autovacuum-worker, archiver, startup, postmaster, logger, client, other, walreceiver)`},
		{"crash when path=a[", `line 1: path=: bad pattern "a["`},
		{"crash when nth=0", `line 1: nth= must be at least 1`},
		{"crash when prob=0", `line 1: prob= must be in (0, 1], got 0`},
		{"crash when prob=1.5", `line 1: prob= must be in (0, 1], got 1.5`},
		{"crash when prob=NaN", `line 1: prob= must be in (0, 1], got NaN`},
		{"crash when prob=half", `line 1: prob: not a number: "half"`},
		{"crash when proc=é", `line 1: proc=: bad character 'é' in name "é"`},
		{"crash when point>a", `line 1: unexpected ">" (only >= compares)`},
		{"crash\x00", `line 1: unexpected character '\x00'`},
		{"crash when point=a\nbogus", `line 2: unknown action "bogus" (valid: crash, kill, pause, fsync-eio, write-eio, read-eio, enospc, torn-write, lost-write, misdirected-write, bitflip, latency, clock-skew, promote)`},
		{"= crash", `line 1: expected an action, found "="`},
		{strings.Repeat("(", 5), `line 1: expected an action, found "("`},
		{"crash when " + strings.Repeat("(", 70) + "true" + strings.Repeat(")", 70), `line 1: expression nested deeper than 64`},
		{"crash when " + strings.Repeat("not ", 70) + "true", `line 1: expression nested deeper than 64`},
		{"crash " + strings.Repeat("x", maxLineLen), `line 1: line longer than 4096 bytes`},
		{strings.Repeat("\n", maxLines) + "crash", `line 10001: more than 10000 lines`},
		// Fits as written, but not in canonical form: 1h prints as 1h0m0s.
		{"crash when time>=1h" + strings.Repeat(" and time>=1h", 300), `line 1: crash: prints as 5123 bytes, more than 4096`},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tt.in)
			require.EqualError(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
		})
	}
}

// TestParseDepthLimit checks the boundary: 64 levels of not parse, 65 do not.
func TestParseDepthLimit(t *testing.T) {
	// "not" x63 over an atom is a tree 64 deep.
	ok := "crash when " + strings.Repeat("not ", maxExprDepth-1) + "true"
	p, err := Parse(ok)
	require.NoError(t, err)
	require.Equal(t, maxExprDepth, p.Faults[0].When.depth())
	again, err := Parse(p.String())
	require.NoError(t, err)
	require.Equal(t, p, again)

	_, err = Parse("crash when " + strings.Repeat("not ", maxExprDepth) + "true")
	require.EqualError(t, err, "line 1: expression nested deeper than 64")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		f    Fault
		want string
	}{
		{"zero action", Fault{}, "invalid action kind 0"},
		{"promote node with a space", Fault{Action: Action{Kind: ActPromote, Node: "n 2"}}, `promote: node=: bad character ' ' in name "n 2"`},
		{"node on kill", Fault{Action: Action{Kind: ActKill, Node: "n2"}}, "kill: fields set that kill does not take"},
		{"unused field", Fault{Action: Action{Kind: ActFsyncEIO, Bits: 3}}, "fsync-eio: fields set that fsync-eio does not take"},
		{"role without HasRole", Fault{Action: Action{Kind: ActKill, Role: RoleBgwriter}}, "kill: fields set that kill does not take"},
		{"bitflip zero bits", Fault{Action: Action{Kind: ActBitFlip}}, "bitflip: bits must be in 1..65536, got 0"},
		{"negative times", Fault{Action: Action{Kind: ActCrash}, Times: -1}, "crash: times must be in 0..1000000000, got -1"},
		{"nil arg", Fault{Action: Action{Kind: ActCrash}, When: &Expr{Op: ExprNot, Args: []*Expr{nil}}}, "crash: nil expression"},
		{"one-armed and", Fault{Action: Action{Kind: ActCrash}, When: &Expr{Op: ExprAnd, Args: []*Expr{atom(Atom{Kind: AtomTrue})}}}, "crash: and takes at least two arguments, has 1"},
		{"zero op", Fault{Action: Action{Kind: ActCrash}, When: &Expr{}}, "crash: invalid expression operator 0"},
		{"zero atom", Fault{Action: Action{Kind: ActCrash}, When: atom(Atom{})}, "crash: invalid atom kind 0"},
		{"atom with stray field", Fault{Action: Action{Kind: ActCrash}, When: atom(Atom{Kind: AtomNth, N: 1, Name: "x"})}, "crash: nth atom has fields set that it does not use"},
		{"atom with empty args", Fault{Action: Action{Kind: ActCrash}, When: &Expr{Op: ExprAtom, Args: []*Expr{}, Atom: Atom{Kind: AtomTrue}}}, "crash: atom true has arguments"},
		{"and with atom", Fault{Action: Action{Kind: ActCrash}, When: &Expr{Op: ExprAnd, Args: []*Expr{atom(Atom{Kind: AtomTrue}), atom(Atom{Kind: AtomTrue})}, Atom: Atom{Kind: AtomTrue}}}, "crash: and node has an atom set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.f.Validate(), tt.want)
			require.EqualError(t, Plan{Faults: []Fault{{Action: Action{Kind: ActCrash}}, tt.f}}.Validate(), "fault 2: "+tt.want)
		})
	}
	deep := atom(Atom{Kind: AtomTrue})
	for range maxExprDepth {
		deep = Not(deep)
	}
	require.EqualError(t, Fault{Action: Action{Kind: ActCrash}, When: deep}.Validate(), "crash: expression nested deeper than 64")
}

func TestEnumNames(t *testing.T) {
	for k := EventKind(0); k < numEventKinds; k++ {
		got, err := ParseEventKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	for k := OpKind(0); k < numOpKinds; k++ {
		got, err := ParseOpKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	for k := FileClass(0); k < numFileClasses; k++ {
		got, err := ParseFileClass(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	for k := Role(0); k < numRoles; k++ {
		got, err := ParseRole(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	for k := ActCrash; k < numActionKinds; k++ {
		got, err := ParseActionKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	require.Equal(t, "fsync", OpSync.String())
	require.Equal(t, "Role(200)", Role(200).String())
	require.Equal(t, "ActionKind(0)", ActionKind(0).String())
	_, err := ParseActionKind("")
	require.EqualError(t, err, `unknown action ""`)
	_, err = ParseEventKind("tick")
	require.EqualError(t, err, `unknown event kind "tick" (valid: step, point, disk, timer)`)
}
