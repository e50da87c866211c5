// Package report is `pgdst report`: it turns a failing run's artifacts
// (the repro file, and the readable trace when there is one) into one self-contained HTML page: the
// verdict and failures, a timeline with a lane per process showing its
// I/O, checkpoints, faults, the crash and recovery, the key events, the
// config and the fault plan. The page has no external resources (inline
// CSS, SVG and a few lines of script); the only link out is the relative
// one to porcupine's visualization, when the campaign wrote it.
//
// The page is bounded whatever the trace's size: at most --max-events I/O
// marks per lane (the rest are counted, and the page says so), a bounded
// number of lanes and key events.
package report

import (
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/explain"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// DefaultEvents is how many I/O marks a lane draws unless --max-events
// says otherwise.
const DefaultEvents = 4000

const (
	maxReportLanes   = 400
	maxLanesPerClass = 64 // backends, autovacuum workers: the later ones share a lane
	maxKeyEvents     = 2000
	maxTraceLine     = 64 << 10
	crashTailLines   = 400 // trace lines kept before the crash; the noise among them is hidden until asked for
)

// Run writes the report page of each repro file arg names (a file, or an
// artifacts directory's *.repro.json; with seedSet only seed's): to out, or
// beside the repro as report-NAME.html. maxEvents bounds the I/O marks
// drawn per process lane.
func Run(arg, out string, seed uint64, seedSet bool, maxEvents int, stdout, stderr io.Writer) error {
	paths, err := reproFiles(arg)
	if err != nil {
		return cli.Usage("pgdst report: %s", err)
	}
	type item struct {
		path string
		r    *repro.File
	}
	var items []item
	var bad []string
	for _, p := range paths {
		r, err := repro.Read(p)
		if err != nil {
			bad = append(bad, cli.OneLine(err.Error()))
			continue
		}
		if seedSet && r.Seed != seed {
			continue
		}
		items = append(items, item{p, r})
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].r.Seed < items[j].r.Seed })
	for _, b := range bad {
		fmt.Fprintf(stderr, "pgdst report: skipped %s\n", b)
	}
	switch {
	case len(items) == 0 && seedSet:
		return cli.Usage("pgdst report: no repro file for seed %d in %s", seed, arg)
	case len(items) == 0 && len(bad) > 0:
		return cli.Usage("pgdst report: no readable repro file in %s", arg)
	case len(items) == 0:
		return cli.Usage("pgdst report: no repro files (*.repro.json) in %s", arg)
	case len(items) > 1 && out != "":
		return cli.Usage("pgdst report: -o names one page but %s holds %d repro files; pick one with --seed N", arg, len(items))
	}
	cli.UseCores(1)
	for _, it := range items {
		dir, name := artifactName(it.path)
		dst := out
		if dst == "" {
			dst = filepath.Join(dir, "report-"+name+".html")
		}
		info, err := writeReport(dst, dir, name, it.path, it.r, maxEvents)
		if err != nil {
			return fmt.Errorf("report for %s: %w", it.path, err)
		}
		fmt.Fprintf(stdout, "wrote %s (%s)\n", dst, info)
	}
	if len(bad) > 0 {
		return cli.Usage("pgdst report: %d repro files could not be read", len(bad))
	}
	return nil
}

// reproFiles lists the repro files arg names: the file itself, or a
// directory's *.repro.json.
func reproFiles(arg string) ([]string, error) {
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{arg}, nil
	}
	return filepath.Glob(filepath.Join(arg, "*.repro.json"))
}

// artifactName splits DIR/NAME.repro.json into DIR and NAME, the base of the
// run's other artifacts (NAME.trace.txt, NAME.porcupine.html).
func artifactName(path string) (dir, name string) {
	base := filepath.Base(path)
	name = strings.TrimSuffix(base, ".json")
	name = strings.TrimSuffix(name, ".repro")
	return filepath.Dir(path), name
}

// writeReport builds one run's page and writes it to dst; it returns a
// short description of where the events came from.
func writeReport(dst, dir, name, reproPath string, r *repro.File, maxEvents int) (string, error) {
	m := newTraceModel(maxEvents)
	src := ""
	tracePath := filepath.Join(dir, name+".trace.txt")
	eventsPath := filepath.Join(dir, name+".events.jsonl")
	if f, err := os.Open(eventsPath); err == nil {
		err = world.ReadEvents(f, m.add)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", eventsPath, err)
		}
		src = "events from " + eventsPath
		m.source = fmt.Sprintf("the recorded events %s", filepath.Base(eventsPath))
	} else {
		// No recorded events: run the repro again and take its events.
		cfg := r.Config
		cfg.Events = m
		res := simtest.Run(cfg)
		src = "events from re-running the repro"
		m.source = "re-running the repro with this build"
		if res.TraceString() == r.Failure.Trace && res.Checker == r.Failure.Checker {
			m.source += fmt.Sprintf(" (identical: trace %s)", res.TraceString())
		} else {
			m.rerunDiffers = fmt.Sprintf("re-running the repro gave verdict %s, checker %q, trace %s; the recording says %s, trace %s: the timeline shows the re-run, not the recorded run",
				res.Verdict(), res.Checker, res.TraceString(), r.Failure.Checker, r.Failure.Trace)
		}
	}
	m.finish()
	m.explain(explainRun(r))
	porcupine := ""
	if p := filepath.Join(dir, name+".porcupine.html"); fileExists(p) {
		porcupine = relLink(filepath.Dir(dst), p)
	}
	page := renderReport(r, m, reportLinks{
		Repro: relLink(filepath.Dir(dst), reproPath), Trace: ifExists(filepath.Dir(dst), tracePath), Porcupine: porcupine,
	})
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(dst, []byte(page), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; %d lanes, %d events", src, m.processLanes(), m.events), nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func ifExists(fromDir, p string) string {
	if fileExists(p) {
		return relLink(fromDir, p)
	}
	return ""
}

// relLink is the relative URL of target from a page in fromDir.
func relLink(fromDir, target string) string {
	a, err1 := filepath.Abs(fromDir)
	b, err2 := filepath.Abs(target)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(a, b); err == nil {
			return filepath.ToSlash(rel)
		}
	}
	return filepath.ToSlash(filepath.Base(target))
}

// The trace model: what the page draws, gathered from the run's events
// (env.Event) one at a time. Nothing here reads text: a process's lane, a
// write's file class, a checkpoint's or redo's span all come from typed
// fields.

// Tick kinds: the I/O marks drawn in a lane.
const (
	tickWALWrite = iota
	tickDataWrite
	tickOtherWrite
	tickFsync
	tickSyncDir
	tickRead
	tickPoint
	numTicks
)

var tickNames = [numTicks]string{"WAL write", "data write", "other write", "fsync", "directory fsync", "read", "injection point"}
var tickClass = [numTicks]string{"tw", "td", "to", "tf", "tsd", "tr", "tp"}

type lane struct {
	pid        int // < 0: a lane shared by processes beyond the caps
	idx        int // its place, from the top
	name       string
	role       env.Role
	merged     int   // processes drawn in this shared lane
	start, end int64 // µs; end < 0: alive at the end of the trace
	endHow     string
	ticks      [numTicks][]int64
	counts     [numTicks]int
	drawn      int // marks kept
	seen       int // I/O events
	stride     int // keep every stride-th event (0, 1: all)
	spans      []span
	redoFrom   int64 // -1: no redo in progress
	cpFrom     int64 // -1: no checkpoint in progress
	// node is the machine the process ran on (nodes.go), parent the
	// process that spawned it, evNode the node of its first event that
	// names one; header marks the row that titles a node's group.
	node, evNode string
	parent       int
	header       bool
}

type span struct {
	from, to int64
	class    string
	title    string
}

type keyEvent struct {
	t     int64
	pid   int
	kind  string // fault, crash, recovery-crash, kill, panic, checkpoint, redo, spawn, exit, stop, log
	text  string
	draw  bool // drawn on the timeline as a marker
	label string
	ln    *lane // where the marker is drawn
}

type traceModel struct {
	maxTicks    int
	lanes       map[int]*lane    // by pid; processes in a shared lane map to it
	order       []*lane          // top to bottom
	perClass    map[string]int   // lanes of each role
	roles       map[int]env.Role // every process's role, by pid
	shared      map[string]*lane
	names       map[int]string // every process's name, by pid (from its spawn)
	tmax        int64
	events      int64 // events seen
	keys        []keyEvent
	keysDropped int
	crashes     []keyEvent
	tail        []traceLine // the last events' readable lines, a ring
	tailAt      int
	beforeCrash []traceLine
	// chainRing holds the last commits, acknowledgments and WAL flushes
	// before the first crash (chain.go); after it, they go to keys.
	chainRing    []keyEvent
	chainAt      int
	chainSeen    int // commits, acknowledgments and flushes before the first crash
	source       string
	rerunDiffers string
	// account is explain's paragraph for the failure, drawn at the top,
	// and its moments marked on the timeline (explain.go).
	account *explain.Account
}

func newTraceModel(maxTicks int) *traceModel {
	return &traceModel{maxTicks: maxTicks, lanes: map[int]*lane{}, perClass: map[string]int{}, shared: map[string]*lane{}, names: map[int]string{}, roles: map[int]env.Role{}}
}

func (m *traceModel) finish() {
	m.finishChain()
	m.groupByNode()
	for _, l := range m.lanes {
		if l.redoFrom >= 0 {
			l.spans = append(l.spans, span{l.redoFrom, m.tmax, "redo", "redo (unfinished at the end of the run)"})
		}
		if l.cpFrom >= 0 {
			l.spans = append(l.spans, span{l.cpFrom, m.tmax, "cp", "checkpoint (unfinished at the end of the run)"})
		}
	}
}

// remember keeps e's readable line (simtest.FormatEvent: rendered from
// the event, for the reader) in the ring of the last events.
func (m *traceModel) remember(e *env.Event) {
	s := traceLine{world.FormatEvent(e), traceNoise(e.Kind)}
	if len(m.tail) < crashTailLines {
		m.tail = append(m.tail, s)
		return
	}
	m.tail[m.tailAt] = s
	m.tailAt = (m.tailAt + 1) % crashTailLines
}

// tailLines is the ring in order.
func (m *traceModel) tailLines() []traceLine {
	return append(append([]traceLine{}, m.tail[m.tailAt:]...), m.tail[:m.tailAt]...)
}

// lane returns pid's lane, making it if needed.
func (m *traceModel) lane(pid int) *lane {
	if l, ok := m.lanes[pid]; ok {
		return l
	}
	return m.newLane(pid, "")
}

// newLane makes the lane of a process, or, beyond maxLanesPerClass
// processes of its class or maxReportLanes in all, maps it to a lane shared
// by the later ones (the backends of a long run with many connections, the
// autovacuum workers): the page stays bounded, and the processes that
// matter most (the startup process, the auxiliary ones) keep a lane.
func (m *traceModel) newLane(pid int, name string) *lane {
	if name == "" {
		name = fmt.Sprintf("p%d", pid)
		if pid == 0 {
			name = "harness"
		}
	}
	role := m.roles[pid]
	class := role.String()
	if m.perClass[class] >= maxLanesPerClass || len(m.order) >= maxReportLanes {
		if len(m.order) >= maxReportLanes {
			class = "other processes"
		}
		l, ok := m.shared[class]
		if !ok {
			l = m.addLane(-1-len(m.shared), class, role)
			m.shared[class] = l
		}
		l.merged++
		m.lanes[pid] = l
		return l
	}
	m.perClass[class]++
	return m.addLane(pid, name, role)
}

func (m *traceModel) addLane(pid int, name string, role env.Role) *lane {
	l := &lane{pid: pid, idx: len(m.order), name: name, role: role, end: -1, redoFrom: -1, cpFrom: -1}
	m.lanes[pid] = l
	m.order = append(m.order, l)
	return l
}

func (m *traceModel) key(e keyEvent) *keyEvent {
	if e.draw {
		e.ln = m.lane(e.pid)
	}
	if len(m.keys) >= maxKeyEvents {
		m.keysDropped++
		return nil
	}
	m.keys = append(m.keys, e)
	return &m.keys[len(m.keys)-1]
}

// tick records an I/O mark. A lane keeps at most maxTicks of them, thinned
// evenly over time: when it is full, every other mark goes and from then
// on only every stride-th event is kept, so a long run's lane still shows
// its whole length, not only its beginning.
func (m *traceModel) tick(l *lane, kind int, t int64) {
	l.counts[kind]++
	l.seen++
	if l.stride > 1 && l.seen%l.stride != 0 {
		return
	}
	for l.drawn >= m.maxTicks {
		l.drawn = 0
		for k := range l.ticks {
			kept := l.ticks[k][:0]
			for i, v := range l.ticks[k] {
				if i%2 == 0 {
					kept = append(kept, v)
				}
			}
			l.ticks[k] = kept
			l.drawn += len(kept)
		}
		l.stride = max(l.stride, 1) * 2
	}
	l.drawn++
	l.ticks[kind] = append(l.ticks[kind], t)
}

// Observe is env.Observer: a re-run hands its events to the model.
func (m *traceModel) Observe(e env.Event) { m.add(e) }

// add takes one event of the run. Its cost is bounded: a lane keeps at
// most maxTicks marks, the model at most maxKeyEvents key events and
// crashTailLines lines of context.
func (m *traceModel) add(e env.Event) {
	m.events++
	t, pid := e.Time.Microseconds(), e.Pid
	m.tmax = max(m.tmax, t)
	if !world.Recorded(e.Kind) {
		return // the scheduler's bookkeeping: not drawn, and too many to keep as context
	}
	m.remember(&e)
	if _, ok := m.roles[pid]; !ok {
		m.roles[pid] = e.Role
	}
	if e.Node != "" {
		m.ranOn(pid, e.Node)
	}
	switch e.Kind {
	case env.EvSpawn:
		child := int(e.A)
		m.names[child], m.roles[child] = e.Name, e.Role2
		if l, ok := m.lanes[child]; ok {
			l.name = e.Name // it had events before its spawn
			m.spawnedOn(l, pid)
			return
		}
		l := m.newLane(child, e.Name)
		if l.pid >= 0 {
			l.start = t
		} else if l.merged == 1 {
			l.start = t
		}
		m.spawnedOn(l, pid)
	case env.EvExit, env.EvKilled, env.EvPanic:
		m.ended(t, pid, e.Kind, e.Name)
	case env.EvStop, env.EvFaultStop:
		m.key(keyEvent{t: t, pid: pid, kind: "stop", text: e.Kind.String() + ": " + e.Name})
	case env.EvDiskWrite:
		k := tickOtherWrite
		switch e.Class {
		case env.FileWAL:
			k = tickWALWrite
		case env.FileHeap, env.FileIndex, env.FileClog, env.FileCatalog:
			k = tickDataWrite
		}
		m.tick(m.lane(pid), k, t)
	case env.EvDiskSync:
		m.tick(m.lane(pid), tickFsync, t)
	case env.EvDiskSyncDir:
		m.tick(m.lane(pid), tickSyncDir, t)
	case env.EvDiskRead:
		m.tick(m.lane(pid), tickRead, t)
	case env.EvInject:
		m.tick(m.lane(pid), tickPoint, t)
	case env.EvCheckpointBegin:
		m.lane(pid).cpFrom = t
	case env.EvCheckpointEnd:
		l := m.lane(pid)
		from := l.cpFrom
		if from < 0 {
			from = t
		}
		text := fmt.Sprintf("checkpoint at %s, REDO %s, began %s", lsnString(e.LSN), lsnString(e.LSN2), fmtUS(from))
		l.spans = append(l.spans, span{from, t, "cp", text})
		m.key(keyEvent{t: t, pid: pid, kind: "checkpoint", text: text})
		l.cpFrom = -1
	case env.EvRecoveryBegin:
		m.lane(pid).redoFrom = t
		m.key(keyEvent{t: t, pid: pid, kind: "redo", text: "redo starts at " + lsnString(e.LSN)})
	case env.EvRecoveryEnd:
		l := m.lane(pid)
		text := fmt.Sprintf("redo done: %s .. %s, %d records", lsnString(e.LSN), lsnString(e.LSN2), e.A)
		if l.redoFrom >= 0 {
			l.spans = append(l.spans, span{l.redoFrom, t, "redo", "redo " + fmtUS(l.redoFrom) + " .. " + fmtUS(t) + ": " + text})
			l.redoFrom = -1
		}
		m.key(keyEvent{t: t, pid: pid, kind: "redo", text: text})
	case env.EvFault:
		// The event is stamped with the process the fault fired in.
		m.key(keyEvent{t: t, pid: pid, kind: "fault", text: fmt.Sprintf("fault %d %s", e.A, e.Name), draw: true, label: fault.ActionKind(e.B).String()})
	case env.EvCrash, env.EvRecoveryCrash:
		ke := keyEvent{t: t, pid: pid, kind: "crash", text: e.Name, label: "crash"}
		if e.Kind == env.EvRecoveryCrash {
			ke.kind, ke.label = "recovery-crash", "crash in recovery"
		} else if len(m.crashes) == 0 {
			m.beforeCrash = m.tailLines()
			m.flushChain()
		}
		m.crashes = append(m.crashes, ke)
		m.key(ke)
	case env.EvCommit, env.EvCommitAck, env.EvWALFlush:
		m.chainEvent(&e)
	case env.EvLog:
		// A server log line: shown as written, in the lane of the
		// process that wrote it (the logger), never interpreted.
		m.lane(pid)
		m.key(keyEvent{t: t, pid: pid, kind: "log", text: e.Name})
	}
}

// ended closes the lane of a process that exited, was killed or
// panicked.
func (m *traceModel) ended(t int64, pid int, kind env.EventKind, why string) {
	l := m.lane(pid)
	if l.pid < 0 {
		// A shared lane stays drawn as alive; its processes' ends are in
		// the key events.
		if kind == env.EvPanic {
			m.key(keyEvent{t: t, pid: pid, kind: "panic", text: why, draw: true, label: "PANIC"})
		}
		return
	}
	how := kind.String()
	if l.end < 0 {
		l.end, l.endHow = t, how
		if kind == env.EvKilled && why != "" && why != l.name {
			l.endHow += " (" + why + ")"
		}
	}
	if l.redoFrom >= 0 {
		l.spans = append(l.spans, span{l.redoFrom, t, "redo", "redo, cut short by " + how})
		l.redoFrom = -1
	}
	if l.cpFrom >= 0 {
		l.spans = append(l.spans, span{l.cpFrom, t, "cp", "checkpoint, cut short by " + how})
		l.cpFrom = -1
	}
	switch kind {
	case env.EvPanic:
		m.key(keyEvent{t: t, pid: pid, kind: "panic", text: why, draw: true, label: "PANIC"})
	case env.EvKilled:
		// KillAll at a crash kills everything: the crash says it, a
		// marker per process would only clutter the lanes.
		if len(m.crashes) == 0 || m.crashes[len(m.crashes)-1].t != t {
			m.key(keyEvent{t: t, pid: pid, kind: "kill", text: l.endHow, draw: true, label: "killed"})
		}
	}
}

// lsnString prints an LSN as PostgreSQL does (%X/%X).
func lsnString(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, uint32(lsn)) }

// fmtUS prints microseconds of virtual time as a duration.
func fmtUS(us int64) string {
	return cli.Duration(time.Duration(us) * time.Microsecond)
}

// Rendering.

type reportLinks struct{ Repro, Trace, Porcupine string }

const (
	tlWidth   = 1600.0 // timeline width at zoom 1, in px
	laneH     = 18
	laneGap   = 2
	labelW    = 230
	tickLimit = 12
)

var esc = html.EscapeString

func renderReport(r *repro.File, m *traceModel, links reportLinks) string {
	var b strings.Builder
	verdict := "FAIL " + r.Failure.Checker
	title := fmt.Sprintf("pgdst seed %d: %s", r.Seed, verdict)
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>\n<style>%s%s</style></head><body>\n", esc(title), reportCSS, chainCSS)

	// The verdict and failures first.
	fmt.Fprintf(&b, "<header><h1><span class=\"verdict fail\">%s</span> seed %d</h1>\n", esc(verdict), r.Seed)
	for _, c := range m.crashes {
		fmt.Fprintf(&b, "<p class=\"crashline\"><b>%s</b> at %s: %s</p>\n", esc(c.label), esc(fmtUS(c.t)), esc(c.text))
	}
	fmt.Fprintf(&b, "<p class=\"small\">reproduce: <code>%s</code></p>\n", esc(r.Command))
	renderAccount(&b, m)
	b.WriteString("</header>\n")

	// The timeline right after the explanation, so that a laptop's first
	// view has both; the checker's own messages and the files follow.
	renderTimeline(&b, m)
	b.WriteString("<section><h2>The checker's findings</h2>\n")
	b.WriteString("<ul class=\"failures\">")
	for _, f := range r.Failure.Failures {
		fmt.Fprintf(&b, "<li><pre>%s</pre></li>", esc(f))
	}
	b.WriteString("</ul>\n<table class=\"facts\">")
	row := func(k, v string) { fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>", esc(k), v) }
	row("trace hash", "<code>"+esc(r.Failure.Trace)+"</code> (recorded)")
	row("build", esc(r.Build))
	row("reproduce", "<code>"+esc(r.Command)+"</code>")
	row("replay", "<code>pgdst replay "+esc(links.Repro)+"</code>")
	files := "<a href=\"" + esc(links.Repro) + "\">repro file</a>"
	if links.Trace != "" {
		files += " · <a href=\"" + esc(links.Trace) + "\">trace</a>"
	}
	if links.Porcupine != "" {
		files += " · <a class=\"porcupine\" href=\"" + esc(links.Porcupine) + "\">porcupine visualization of the register history</a>"
	}
	row("files", files)
	row("timeline from", esc(m.source))
	b.WriteString("</table>\n")
	if m.rerunDiffers != "" {
		fmt.Fprintf(&b, "<p class=\"warn\">%s</p>\n", esc(m.rerunDiffers))
	}
	b.WriteString("</section>\n")
	renderKeyEvents(&b, m)
	renderTraceExcerpt(&b, m)

	b.WriteString("<section><h2>Config and fault plan</h2>\n")
	fmt.Fprintf(&b, "<h3>Resolved config</h3><pre class=\"wrap\">%s</pre>\n", esc(r.ResolvedConfig))
	b.WriteString("<h3>Fault plan</h3><pre>")
	lines := cli.PlanLines(r.Config.Faults)
	if len(lines) == 0 {
		b.WriteString("(no faults: the run ends in a power loss after the workload)")
	}
	for i, l := range lines {
		fmt.Fprintf(&b, "%d  %s\n", i+1, esc(l))
	}
	b.WriteString("</pre>\n")
	fmt.Fprintf(&b, "<h3>Config</h3><table class=\"facts\">")
	// The run flags' table says how each field reads on the command
	// line; the plan is shown above.
	row("seed", fmt.Sprint(r.Config.Seed))
	for _, f := range cli.RunFlags {
		if len(f.JSON) == 0 || f.Words == nil || f.Name == "fault" {
			continue
		}
		row("--"+f.Name, esc(flagValue(f, r.Config)))
	}
	b.WriteString("</table></section>\n")

	fmt.Fprintf(&b, "<footer>written by pgdst report, build %s</footer>\n<script>%s%s</script>\n</body></html>\n", esc(repro.BuildID()), chainJS, reportJS)
	return b.String()
}

// xOf maps a time to the timeline's x coordinate at zoom 1.
func xOf(t, tmax int64) string {
	if tmax <= 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(t)*tlWidth/float64(tmax), 'f', 1, 64)
}

func renderTimeline(b *strings.Builder, m *traceModel) {
	tmax := max(m.tmax, 1)
	n := len(m.order)
	h := n*(laneH+laneGap) + laneGap
	b.WriteString("<section><h2>Timeline</h2>\n<div class=\"controls\">zoom <select id=\"zoom\">")
	for _, z := range []int{1, 2, 4, 8, 16, 32, 64} {
		fmt.Fprintf(b, "<option value=\"%d\">%dx</option>", z, z)
	}
	b.WriteString("</select>")
	if len(m.crashes) > 0 {
		b.WriteString(" <button id=\"tocrash\">go to the crash</button>")
	}
	b.WriteString(" <span class=\"legend\">")
	for k := 0; k < numTicks; k++ {
		fmt.Fprintf(b, "<span class=\"sw %s\"></span>%s ", tickClass[k], tickNames[k])
	}
	b.WriteString("<span class=\"sw cpk\"></span>checkpoint <span class=\"sw redok\"></span>redo <span class=\"sw faultk\"></span>fault <span class=\"sw crashk\"></span>crash <span class=\"sw panick\"></span>panic/kill <span class=\"sw whyk\"></span>the explanation's steps</span></div>\n")
	var notes []string
	for _, l := range m.order {
		if l.drawn < l.seen {
			notes = append(notes, fmt.Sprintf("%s: %d of %d", laneLabel(l), l.drawn, l.seen))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "<p class=\"warn\">At most %d I/O events are drawn per lane, thinned evenly over the run (--max-events); drawn of all: %s. The lane's tooltip counts them all.</p>\n", m.maxTicks, esc(strings.Join(notes, "; ")))
	}
	for _, l := range m.order {
		if l.pid < 0 && !l.header {
			fmt.Fprintf(b, "<p class=\"warn\">%d later processes share the lane %q (at most %d lanes per kind of process, %d in all).</p>\n", l.merged, laneLabel(l), maxLanesPerClass, maxReportLanes)
		}
	}

	b.WriteString("<div class=\"tl\"><div class=\"labels\">")
	b.WriteString("<div class=\"axisgap\"></div>")
	if m.account != nil && len(m.account.Marks) > 0 {
		b.WriteString("<div class=\"chaingap\">the explanation's steps</div>")
	}
	fmt.Fprintf(b, "<svg width=\"%d\" height=\"%d\">", labelW, h)
	for i, l := range m.order {
		y := laneGap + i*(laneH+laneGap)
		if l.header {
			fmt.Fprintf(b, "<text class=\"node-name\" x=\"4\" y=\"%d\">%s</text>", y+13, esc(l.name))
			continue
		}
		fmt.Fprintf(b, "<text class=\"lane-name\" x=\"4\" y=\"%d\">%s<title>%s</title></text>", y+13, esc(laneLabel(l)), esc(laneSummary(l, m.tmax)))
	}
	b.WriteString("</svg></div>\n<div class=\"scroll\" id=\"scroll\"><div class=\"inner\" id=\"inner\">")

	// The axis, in HTML so that zooming does not stretch its labels.
	b.WriteString("<div class=\"axis\">")
	grid := gridLines(tmax)
	for _, g := range grid {
		fmt.Fprintf(b, "<span class=\"g%d\" style=\"left:%.3f%%\">%s</span>", g.level, 100*float64(g.t)/float64(tmax), esc(fmtUS(g.t)))
	}
	for i, c := range m.crashes {
		cls := "crash"
		if c.kind == "recovery-crash" {
			cls = "crash rcrash"
		}
		fmt.Fprintf(b, "<span class=\"%s\" id=\"crash-%d\" style=\"left:%.3f%%\" title=\"%s\">%s</span>", cls, i+1, 100*float64(c.t)/float64(tmax), esc(c.text), esc(c.label))
	}
	b.WriteString("</div>")
	renderChainRow(b, m, tmax)

	fmt.Fprintf(b, "<svg id=\"tl\" class=\"timeline\" width=\"100%%\" height=\"%d\" viewBox=\"0 0 %.0f %d\" preserveAspectRatio=\"none\">", h, tlWidth, h)
	for _, g := range grid {
		x := xOf(g.t, tmax)
		fmt.Fprintf(b, "<line class=\"grid g%d\" x1=\"%s\" x2=\"%s\" y1=\"0\" y2=\"%d\"/>", g.level, x, x, h)
	}
	for i, l := range m.order {
		y := laneGap + i*(laneH+laneGap)
		if l.header {
			fmt.Fprintf(b, "<rect class=\"nodehdr\" x=\"0\" y=\"%d\" width=\"%.0f\" height=\"%d\"><title>%s</title></rect>", y-1, tlWidth, laneH+laneGap, esc(l.name))
			continue
		}
		if i%2 == 1 {
			fmt.Fprintf(b, "<rect class=\"band\" x=\"0\" y=\"%d\" width=\"%.0f\" height=\"%d\"/>", y-1, tlWidth, laneH+laneGap)
		}
		end := l.end
		if end < 0 {
			end = m.tmax
		}
		fmt.Fprintf(b, "<rect class=\"life\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"2\"><title>%s</title></rect>",
			xOf(l.start, tmax), y+laneH/2-1, xOf(end-l.start, tmax), esc(laneSummary(l, m.tmax)))
		if l.role == env.RoleStartup {
			fmt.Fprintf(b, "<rect class=\"recovery\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"%d\"><title>%s</title></rect>",
				xOf(l.start, tmax), y, xOf(end-l.start, tmax), laneH, esc(fmt.Sprintf("%s: recovery, %s .. %s", laneLabel(l), fmtUS(l.start), fmtUS(end))))
		}
		for _, s := range l.spans {
			fmt.Fprintf(b, "<rect class=\"%s\" x=\"%s\" y=\"%d\" width=\"%s\" height=\"%d\"><title>%s</title></rect>",
				s.class, xOf(s.from, tmax), y+1, xOf(max(s.to-s.from, 0), tmax), laneH-2, esc(laneLabel(l)+": "+s.title))
		}
		for k := 0; k < numTicks; k++ {
			if len(l.ticks[k]) == 0 {
				continue
			}
			y0, y1 := tickSpan(k)
			var d strings.Builder
			for _, t := range l.ticks[k] {
				fmt.Fprintf(&d, "M%s %dv%d", xOf(t, tmax), y+y0, y1-y0)
			}
			fmt.Fprintf(b, "<path class=\"tick %s\" d=\"%s\"><title>%s: %d %ss</title></path>", tickClass[k], d.String(), esc(laneLabel(l)), l.counts[k], esc(tickNames[k]))
		}
	}
	// Markers: faults, panics, kills on their lanes; crashes across all.
	for _, e := range m.keys {
		if !e.draw || e.ln == nil {
			continue
		}
		y := laneGap + e.ln.idx*(laneH+laneGap)
		x := xOf(e.t, tmax)
		fmt.Fprintf(b, "<line class=\"mk %s\" x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%d\"><title>%s at %s: %s</title></line>",
			e.kind, x, x, y-1, y+laneH+1, esc(e.label), esc(fmtUS(e.t)), esc(e.text))
	}
	for _, c := range m.crashes {
		x := xOf(c.t, tmax)
		fmt.Fprintf(b, "<line class=\"mk %s\" x1=\"%s\" x2=\"%s\" y1=\"0\" y2=\"%d\"><title>%s at %s: %s</title></line>",
			c.kind, x, x, h, esc(c.label), esc(fmtUS(c.t)), esc(c.text))
	}
	b.WriteString("</svg></div></div></div>\n")
	fmt.Fprintf(b, "<p class=\"small\">%d trace events over %s of virtual time; hover a mark, a lane or a name for details. Locks, scheduler switches and clock reads are in the trace but not drawn.", m.events, esc(fmtUS(m.tmax)))
	b.WriteString("</p></section>\n")
}

// tickSpan is where in its lane a tick kind is drawn (from, to, in px).
func tickSpan(k int) (int, int) {
	switch k {
	case tickWALWrite, tickDataWrite, tickOtherWrite:
		return 1, 9
	case tickFsync, tickSyncDir:
		return 0, laneH
	case tickRead:
		return 10, 16
	}
	return 13, laneH
}

func laneLabel(l *lane) string {
	if l.pid < 0 {
		return fmt.Sprintf("%s (%d more)", l.name, l.merged)
	}
	return fmt.Sprintf("p%d %s", l.pid, l.name)
}

func laneSummary(l *lane, tmax int64) string {
	end, how := l.end, l.endHow
	if end < 0 {
		end, how = tmax, "alive at the end"
	}
	var io []string
	for k := 0; k < numTicks; k++ {
		if l.counts[k] > 0 {
			io = append(io, fmt.Sprintf("%d %ss", l.counts[k], tickNames[k]))
		}
	}
	s := fmt.Sprintf("%s: %s .. %s (%s)", laneLabel(l), fmtUS(l.start), fmtUS(end), how)
	if len(io) > 0 {
		s += "; " + strings.Join(io, ", ")
	}
	return s
}

// zoomLevels are the zooms at which finer grid lines appear.
var zoomLevels = []int{1, 4, 16, 64}

type gridLine struct {
	t     int64
	level int // the least zoom that shows it
}

// gridLines are the time axis's lines for every zoom level: each level
// adds the lines of a step zoom times finer, so that a zoomed-in view
// still has labels within sight.
func gridLines(tmax int64) []gridLine {
	have := map[int64]bool{}
	var out []gridLine
	for _, z := range zoomLevels {
		step := niceStep(max(tmax/int64(z), 1))
		for t := int64(0); t <= tmax; t += step {
			if !have[t] {
				have[t] = true
				out = append(out, gridLine{t, z})
			}
		}
	}
	return out
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten giving at most
// tickLimit lines.
func niceStep(tmax int64) int64 {
	step := int64(1)
	for {
		for _, f := range []int64{1, 2, 5} {
			if tmax/(step*f) <= tickLimit {
				return step * f
			}
		}
		step *= 10
	}
}

func renderKeyEvents(b *strings.Builder, m *traceModel) {
	b.WriteString("<section><h2>Key events</h2>\n")
	renderKeyFilter(b, m)
	if m.keysDropped > 0 {
		fmt.Fprintf(b, "<p class=\"warn\">The first %d key events; %d more are not listed.</p>\n", maxKeyEvents, m.keysDropped)
	}
	b.WriteString("<table class=\"events\"><tr><th>virtual time</th><th>process</th><th>kind</th><th>what</th></tr>\n")
	for _, e := range m.keys {
		proc := fmt.Sprintf("p%d", e.pid)
		if n, ok := m.names[e.pid]; ok {
			proc += " " + n
		} else if e.pid == 0 {
			proc += " harness"
		}
		fmt.Fprintf(b, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td><pre>%s</pre></td></tr>\n", esc(e.kind), esc(fmtUS(e.t)), esc(proc), esc(e.kind), esc(e.text))
	}
	b.WriteString("</table></section>\n")
}

// Kept short: the page must stay self-contained, so no fonts or scripts
// from elsewhere.
const reportCSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:20px 0 8px;border-bottom:1px solid #ddd} h3{font-size:14px}
.verdict{padding:2px 8px;border-radius:4px;color:#fff} .verdict.fail{background:#c0262d}
.failures pre,.events pre,pre.wrap{white-space:pre-wrap;margin:0}
.failures{padding-left:18px} .failures li{margin:4px 0;color:#8a1116}
table.facts th{text-align:left;padding-right:12px;vertical-align:top;font-weight:600}
table.events{border-collapse:collapse;font-size:12px} table.events td{border-top:1px solid #eee;padding:2px 8px;vertical-align:top}
tr.fault td,tr.crash td,tr.recovery-crash td{background:#fde8e8} tr.panic td,tr.kill td{background:#f6e6f9} tr.checkpoint td{background:#e8f0fd} tr.redo td{background:#e6f6e6}
.warn{background:#fff4d6;padding:4px 8px;border-left:3px solid #e0a800}
.crashline{color:#a00}
.controls{margin:6px 0;font-size:12px}
.legend .sw{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;vertical-align:middle}
.sw.tw{background:#7b3fb5}.sw.td{background:#e07b00}.sw.to{background:#888}.sw.tf{background:#1f4fbf}.sw.tsd{background:#1a9a9a}.sw.tr{background:#bbb}.sw.tp{background:#ddd}
.sw.whyk{background:#0a8f5a}.sw.cpk{background:#bcd3f7}.sw.redok{background:#9fd89f}.sw.faultk{background:#e3001b}.sw.crashk{background:#a00}.sw.panick{background:#a0f}
.tl{display:flex;border:1px solid #ccc}
.labels{flex:none;background:#fafafa;border-right:1px solid #ccc} .axisgap{height:20px}
.lane-name{font-size:11px;font-family:ui-monospace,monospace}
.scroll{overflow-x:auto;flex:1} .inner{width:1600px;position:relative}
.axis{position:relative;height:20px;font-size:10px;color:#555;border-bottom:1px solid #ddd}
.axis span{position:absolute;top:3px;white-space:nowrap;padding-left:2px;border-left:1px solid #bbb}
.axis span.crash{top:0;background:#a00;color:#fff;padding:1px 4px;border:none;font-weight:600}
.axis span.rcrash{background:#e67e00}
svg.timeline{display:block}
.g4,.g16,.g64{display:none}
.inner.z4 .g4,.inner.z16 .g4,.inner.z16 .g16,.inner.z64 .g4,.inner.z64 .g16,.inner.z64 .g64{display:inline}
.timeline *{vector-effect:non-scaling-stroke}
.grid{stroke:#eee;stroke-width:1} .band{fill:#f7f7f7} .nodehdr{fill:#e8e4f4}
.node-name{font-size:11px;font-weight:bold;font-family:system-ui,sans-serif}
.life{fill:#999} .recovery{fill:#e6f6e6} .redo{fill:#9fd89f} .cp{fill:#bcd3f7}
.tick{stroke-width:1;fill:none}
.tick.tw{stroke:#7b3fb5}.tick.td{stroke:#e07b00}.tick.to{stroke:#888}.tick.tf{stroke:#1f4fbf}.tick.tsd{stroke:#1a9a9a}.tick.tr{stroke:#bbb}.tick.tp{stroke:#ccc}
.mk{stroke-width:3} .mk.fault{stroke:#e3001b} .mk.panic,.mk.kill{stroke:#a0f} .mk.why{stroke:#0a8f5a;stroke-width:4}
.why{background:#e9f7ef;border-left:3px solid #0a8f5a;padding:6px 10px;max-width:70em} .why b{color:#0a6b45} tr.why td{background:#e9f7ef}
.mk.crash{stroke:#a00;stroke-width:2;stroke-dasharray:6 3} .mk.recovery-crash{stroke:#e67e00;stroke-width:2;stroke-dasharray:6 3}
pre.trace{font-size:11px;background:#f7f7f7;padding:6px;overflow-x:auto}
.small,footer{font-size:11px;color:#666}
`

const reportJS = `
(function(){
  var z=document.getElementById('zoom'),inner=document.getElementById('inner'),sc=document.getElementById('scroll');
  if(z)z.onchange=function(){
    var c=(sc.scrollLeft+sc.clientWidth/2)/inner.offsetWidth,v=+z.value,l=1;
    [4,16,64].forEach(function(x){if(v>=x)l=x;});
    inner.style.width=(1600*v)+'px';inner.className='inner z'+l;
    sc.scrollLeft=c*inner.offsetWidth-sc.clientWidth/2;
  };
  var b=document.getElementById('tocrash');
  if(b)b.onclick=function(){var c=document.getElementById('crash-1');if(c)sc.scrollLeft=c.offsetLeft-sc.clientWidth/2;};
  // The crash in the first view (a shrunk run ends with it, past a narrow window's edge),
  // and with it as many of the explanation's steps before it as fit.
  var c1=document.getElementById('crash-1');
  if(c1&&sc&&c1.offsetLeft>sc.clientWidth-40){
    var from=c1.offsetLeft;
    document.querySelectorAll('.chain-mark').forEach(function(m){if(m.offsetLeft<from&&c1.offsetLeft-m.offsetLeft<sc.clientWidth*0.8)from=m.offsetLeft;});
    sc.scrollLeft=Math.max(0,Math.min(from-sc.clientWidth*0.1,c1.offsetLeft-sc.clientWidth*0.75));
  }
})();
`

// flagValue is how c's fields read as the flag f: its value when c sets
// them, "(default X)" or "(default)" when not.
func flagValue(f cli.RunFlag, c simtest.Config) string {
	w := f.Words(c)
	switch {
	case len(w) > 0 && f.Bool:
		return "given" // --no-swarm
	case len(w) > 0:
		var vals []string // --bug a --bug b: a, b
		for i := 1; i < len(w); i += 2 {
			vals = append(vals, w[i])
		}
		return strings.Join(vals, ", ")
	case f.Default != "":
		return "(default " + f.Default + ")"
	}
	return "(default)"
}
