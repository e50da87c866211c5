package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgdst/pgdst/harness/explain"
	"github.com/pgdst/pgdst/harness/repro"
)

// explainRun replays the repro with explain's observer: the account
// needs the run's Result (the checker's typed finding, the histories),
// which recorded events alone do not hold. A replay is one run, a few
// tens of milliseconds. It returns nil when the replay passes.
func explainRun(r *repro.File) *explain.Account {
	acc, res := explain.Replay(r)
	if res.OK {
		return nil
	}
	if res.TraceString() != r.Failure.Trace || res.Checker != r.Failure.Checker {
		acc.Text = fmt.Sprintf("(Explained from a replay with this build, which fails %s with trace %s; the recording failed %s with trace %s.) ",
			res.Checker, res.TraceString(), r.Failure.Checker, r.Failure.Trace) + acc.Text
	}
	return acc
}

// explain keeps the account and marks its moments on the timeline: the
// acknowledgment of a lost commit, the page write, the control file
// update, each on the lane of the process it happened in.
func (m *traceModel) explain(acc *explain.Account) {
	m.account = acc
	if acc == nil {
		return
	}
	for _, mk := range acc.Marks {
		m.key(keyEvent{t: mk.Time.Microseconds(), pid: mk.Pid, kind: "why", text: mk.Label, draw: true, label: "explain"})
	}
	// The key events table reads in time order.
	sort.SliceStable(m.keys, func(i, j int) bool { return m.keys[i].t < m.keys[j].t })
}

// renderAccount writes the explanation at the top of the page.
func renderAccount(b *strings.Builder, m *traceModel) {
	acc := m.account
	if acc == nil {
		b.WriteString("<p class=\"why\"><b>Why:</b> the replay with this build passes; there is nothing to explain.</p>\n")
		return
	}
	b.WriteString("<div class=\"why\" id=\"why\"><p>")
	if acc.Mechanism != "" {
		fmt.Fprintf(b, "<b>Why: %s</b> ", esc(acc.Mechanism))
	}
	b.WriteString(esc(acc.Text))
	b.WriteString("</p>")
	renderChainList(b, m)
	b.WriteString("<p class=\"small\">From <code>pgdst explain</code>: derived from the run's events; the numbered badges under the timeline's axis are these steps, and green lines mark them in their processes' lanes.</p></div>\n")
}
