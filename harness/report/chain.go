package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
)

// What a person debugging a lost commit wants first (issue 18): the
// explanation's steps on the timeline, the commits, acknowledgments and
// WAL flushes before the crash in the key events, and a trace excerpt
// without the noise. All of it is drawn from typed events.

// maxChainKeys bounds the commits, acknowledgments and WAL flushes before
// the first crash that the key events list: the last ones, which are the
// ones the crash cut short.
const maxChainKeys = 60

// traceLine is one readable trace line of the excerpt; noise lines are
// hidden until asked for.
type traceLine struct {
	text  string
	noise bool
}

// traceNoise reports whether an event of kind k is noise in the excerpt
// before the crash: network chatter, reads, file opens and sizes,
// injection points and heavyweight-lock waits say little about what was
// durable when the power went. Writes, fsyncs, WAL inserts and flushes,
// commits, checkpoints, faults and the crash are what a reader follows.
func traceNoise(k env.EventKind) bool {
	switch k {
	case env.EvInject, env.EvDiskOpen, env.EvDiskRead, env.EvDiskSize, env.EvDiskClose, env.EvDiskList,
		env.EvNetListen, env.EvNetAccept, env.EvNetDial, env.EvNetRead, env.EvNetWrite, env.EvNetClose,
		env.EvLockWait, env.EvLockWaitEnd, env.EvLockRelease:
		return true
	}
	return false
}

// chainEvent takes a commit, an acknowledgment or a WAL flush: before
// the first crash into a ring of the last maxChainKeys, after it straight
// into the key events.
func (m *traceModel) chainEvent(e *env.Event) {
	ke := keyEvent{t: e.Time.Microseconds(), pid: e.Pid}
	switch e.Kind {
	case env.EvCommit:
		ke.kind, ke.text = "commit", fmt.Sprintf("xid %d committed; its commit record ends at %s", e.Xid, lsnString(e.LSN))
	case env.EvCommitAck:
		ke.kind, ke.text = "ack", fmt.Sprintf("xid %d acknowledged to the client; its commit record ends at %s", e.Xid, lsnString(e.LSN))
	default:
		ke.kind, ke.text = "flush", "WAL flushed (durable) to "+lsnString(e.LSN)
	}
	if len(m.crashes) > 0 {
		m.key(ke)
		return
	}
	m.chainSeen++
	if len(m.chainRing) < maxChainKeys {
		m.chainRing = append(m.chainRing, ke)
		return
	}
	m.chainRing[m.chainAt] = ke
	m.chainAt = (m.chainAt + 1) % maxChainKeys
}

// flushChain moves the ring into the key events, in order: at the first
// crash, or at the end of a run without one.
func (m *traceModel) flushChain() {
	for _, ke := range append(append([]keyEvent{}, m.chainRing[m.chainAt:]...), m.chainRing[:m.chainAt]...) {
		m.key(ke)
	}
	m.chainRing, m.chainAt = nil, 0
}

// chainDropped is how many commits, acknowledgments and flushes before
// the first crash the key events leave out.
func (m *traceModel) chainDropped() int { return max(m.chainSeen-maxChainKeys, 0) }

// finishChain ends the model's chain bookkeeping: the ring of a run that
// never crashed, and the key events in time order.
func (m *traceModel) finishChain() {
	if len(m.crashes) == 0 {
		m.flushChain()
	}
	sort.SliceStable(m.keys, func(i, j int) bool { return m.keys[i].t < m.keys[j].t })
}

// procName is "p17 backend 4".
func (m *traceModel) procName(pid int) string {
	if n, ok := m.names[pid]; ok {
		return fmt.Sprintf("p%d %s", pid, n)
	}
	if pid == 0 {
		return "p0 harness"
	}
	return fmt.Sprintf("p%d", pid)
}

// renderChainRow draws the explanation's steps as numbered badges in a
// row of their own under the time axis, where they are seen before any
// lane: the lost commit's record, the flushes, the acknowledgment, the
// crash and what recovery found.
func renderChainRow(b *strings.Builder, m *traceModel, tmax int64) {
	if m.account == nil || len(m.account.Marks) == 0 {
		return
	}
	b.WriteString("<div class=\"chain\" id=\"chain\">")
	for i, mk := range m.account.Marks {
		t := mk.Time.Microseconds()
		fmt.Fprintf(b, "<span class=\"chain-mark\" data-step=\"%s\" style=\"left:%.3f%%;top:%dpx\" title=\"%s\">%d</span>",
			esc(mk.Step), 100*float64(t)/float64(tmax), 2+(i%3)*13, esc(fmt.Sprintf("%d. %s, %s: %s", i+1, fmtUS(t), m.procName(mk.Pid), mk.Label)), i+1)
	}
	b.WriteString("</div>")
}

// renderChainList lists the explanation's steps under its paragraph, with
// the numbers of their badges.
func renderChainList(b *strings.Builder, m *traceModel) {
	if m.account == nil || len(m.account.Marks) == 0 {
		return
	}
	b.WriteString("<ol class=\"steps\">")
	for _, mk := range m.account.Marks {
		fmt.Fprintf(b, "<li><b>%s</b> %s: %s</li>", esc(fmtUS(mk.Time.Microseconds())), esc(m.procName(mk.Pid)), esc(mk.Label))
	}
	b.WriteString("</ol>")
}

// keyKinds are the key events' kinds in the order of their filter
// checkboxes, with their names.
var keyKinds = []struct{ kind, name string }{
	{"why", "the explanation's steps"}, {"crash", "crashes"}, {"recovery-crash", "crashes in recovery"}, {"fault", "faults"},
	{"commit", "commits"}, {"ack", "acknowledgments"}, {"flush", "WAL flushes"}, {"checkpoint", "checkpoints"}, {"redo", "redo"},
	{"panic", "panics"}, {"kill", "kills"}, {"stop", "stops"}, {"log", "server log"},
}

// renderKeyFilter writes a checkbox per kind of key event present, each
// hiding or showing its rows.
func renderKeyFilter(b *strings.Builder, m *traceModel) {
	count := map[string]int{}
	for _, k := range m.keys {
		count[k.kind]++
	}
	b.WriteString("<div class=\"controls\">show:")
	for _, k := range keyKinds {
		if count[k.kind] > 0 {
			fmt.Fprintf(b, " <label><input type=\"checkbox\" data-kind=\"%s\" checked> %s (%d)</label>", k.kind, esc(k.name), count[k.kind])
		}
	}
	b.WriteString("</div>\n")
	if d := m.chainDropped(); d > 0 {
		fmt.Fprintf(b, "<p class=\"small\">Commits, acknowledgments and WAL flushes: the last %d before the crash are listed; %d earlier ones are in the trace.</p>\n", maxChainKeys, d)
	}
}

// renderTraceExcerpt writes the trace lines before the first crash: the
// noise (traceNoise) hidden until its checkbox shows it.
func renderTraceExcerpt(b *strings.Builder, m *traceModel) {
	if len(m.beforeCrash) == 0 {
		return
	}
	noise := 0
	for _, l := range m.beforeCrash {
		if l.noise {
			noise++
		}
	}
	fmt.Fprintf(b, "<section><h2>The trace before the crash</h2>\n<div class=\"controls\"><label><input type=\"checkbox\" id=\"tracenoise\"> show all %d lines</label> (%d network, read, open, lock-wait and injection-point lines are hidden; columns: docs/trace.md)</div><pre class=\"trace\" id=\"trace\">",
		len(m.beforeCrash), noise)
	for _, l := range m.beforeCrash {
		if l.noise {
			b.WriteString("<span class=\"n\">")
		} else {
			b.WriteString("<span>")
		}
		b.WriteString(esc(l.text))
		b.WriteString("\n</span>")
	}
	b.WriteString("</pre></section>\n")
}

const chainCSS = `
.chain{position:relative;height:42px;border-bottom:1px solid #ddd;background:#f4fbf7}
.chaingap{height:42px;font-size:11px;color:#0a6b45;padding:3px 4px;box-sizing:border-box;border-bottom:1px solid #ddd;background:#f4fbf7}
.chain-mark{position:absolute;transform:translateX(-50%);background:#0a8f5a;color:#fff;font-size:10px;font-weight:600;border-radius:7px;padding:0 5px;line-height:13px;cursor:default}
.chain-mark[data-step=crash]{background:#a00}
ol.steps{margin:6px 0 0;padding-left:24px;font-size:13px} ol.steps li{margin:1px 0}
pre.trace .n{display:none} pre.trace.all .n{display:inline}
tr.commit td,tr.ack td,tr.flush td{background:#f3f0fa}
`

const chainJS = `
(function(){
  var t=document.getElementById('tracenoise'),p=document.getElementById('trace');
  if(t&&p)t.onchange=function(){p.className=t.checked?'trace all':'trace';};
  document.querySelectorAll('input[data-kind]').forEach(function(c){c.onchange=function(){
    document.querySelectorAll('table.events tr.'+c.getAttribute('data-kind')).forEach(function(r){r.style.display=c.checked?'':'none';});};});
})();
`
