package linearizability

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/anishathalye/porcupine"
)

// PageMark is a moment of the run drawn on porcupine's page in a row of
// its own below the clients: the crash, what recovery did. Start and End
// are in the history's unit (virtual nanoseconds, as RegOp.Call); End <
// Start draws a point.
type PageMark struct {
	Start, End int64
	Label      string // drawn in the box
	Details    string // its tooltip
	Crash      bool   // drawn red
}

// pageMarkTag is the row the marks are drawn in. It is at least as wide
// as the reader row's name, readerRowName, so that porcupine, which sizes
// the row names' column from the tags, leaves room for both.
const (
	pageMarkTag   = "crash, recovery"
	readerRowName = "after recovery"
)

// renderCall is where porcupine's page (v1.3.1's index.html) calls its
// renderer; pageScript goes around it.
const crashColor = "#a00" // the report page's crash red

const renderCall = "\n      render(data)\n"

// pageScript adapts porcupine's page to a run that crashed (issue 18):
// porcupine draws client N in row N, so the reader after recovery
// (FinalReader, -1) was drawn above the canvas, and the linearization
// lines pointed at empty space. Before rendering, the reader moves to the
// row below the clients; after, that row is named, the operations that
// cannot come next after the longest linearizable prefix of each illegal
// key are outlined in red (the first one gets id pgdst-failing), and the
// first is scrolled into view, so the page opens on the failure. The
// failing keys' layers are drawn last: the reader after recovery reads
// every key at one moment, and its reads would hide each other.
const pageScript = `
      // pgdst: the reader after recovery gets a row of its own; the failing operations are outlined and in view.
      var pgdstReader = (function () {
        var top = -1, has = false
        data.Partitions.forEach(function (p) { p.History.forEach(function (e) { top = Math.max(top, e.ClientId); has = has || e.ClientId === -1 }) })
        if (!has) return -1
        data.Partitions.forEach(function (p) { p.History.forEach(function (e) { if (e.ClientId === -1) e.ClientId = top + 1 }) })
        return top + 1
      })()
      render(data)
      ;(function () {
        var svg = document.querySelector('#canvas svg')
        if (!svg) return
        if (pgdstReader >= 0) {
          svg.children[0].querySelectorAll('text').forEach(function (t) { if (t.textContent === String(pgdstReader)) t.textContent = '` + readerRowName + `' })
        }
        var failing = []
        data.Partitions.forEach(function (p, pi) {
          var longest = []
          p.PartialLinearizations.forEach(function (l) { if (l.length > longest.length) longest = l })
          if (longest.length >= p.History.length) return
          var done = {}
          longest.forEach(function (s) { done[s.Index] = true })
          var earliest = Infinity
          p.History.forEach(function (e, i) { if (!done[i]) earliest = Math.min(earliest, e.End) })
          p.History.forEach(function (e, i) { if (!done[i] && e.Start <= earliest) failing.push([pi, i, e.Start]) })
        })
        failing.sort(function (a, b) { return a[2] - b[2] })
        var marks = svg.children[1 + data.Partitions.length], raise = []
        failing.forEach(function (f, n) {
          var layer = svg.children[1 + f[0]], g = layer && layer.children[f[1]], r = g && g.querySelector('rect')
          if (!r) return
          r.classList.add('pgdst-failing')
          if (n === 0) r.id = 'pgdst-failing'
          if (raise.indexOf(layer) < 0) raise.push(layer)
        })
        // The reader after recovery reads every key at one moment, so its
        // reads are drawn on top of each other: the failing keys' layers go
        // last, their operations on top.
        raise.forEach(function (layer) { if (marks) svg.insertBefore(layer, marks.nextSibling) })
        data.Annotations.forEach(function (a, i) {
          var r = marks && marks.children[i] && marks.children[i].querySelector('rect')
          if (r && a.BackgroundColor === '` + crashColor + `') r.classList.add('pgdst-crash')
        })
        var first = document.getElementById('pgdst-failing')
        if (first) first.scrollIntoView({block: 'nearest', inline: 'nearest'})
      })()
`

// pageCSS outlines the failing operations.
const pageCSS = `<style>.pgdst-failing{stroke:#e3001b;stroke-width:4}</style>`

// WriteVisualizationMarked writes porcupine's page of the checked
// history, like WriteVisualization, with marks (the crash, recovery)
// drawn in a row of their own, the reader after recovery in the row below
// the clients, and the failing operations outlined and scrolled into view.
func (r *LinResult) WriteVisualizationMarked(path string, marks []PageMark) (err error) {
	if r == nil || !r.checked {
		return errors.New("linearizability: no checked history to visualize")
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("linearizability: visualizing: %v", p)
		}
	}()
	info := r.info // AddAnnotations appends: r.info keeps none of these marks
	var anns []porcupine.Annotation
	for _, m := range marks {
		a := porcupine.Annotation{Tag: pageMarkTag, Start: m.Start, End: m.End, Description: m.Label, Details: m.Details}
		if m.Crash {
			a.BackgroundColor, a.TextColor = crashColor, "#fff"
		}
		anns = append(anns, a)
	}
	if len(anns) > 0 {
		info.AddAnnotations(anns)
	}
	var page bytes.Buffer
	if err := porcupine.Visualize(regModel(r.names), info, &page); err != nil {
		return err
	}
	s, err := adaptPage(page.String())
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if _, err := w.WriteString(s); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// adaptPage puts pageScript around porcupine's render call and pageCSS in
// its head. A porcupine whose page no longer has them is an error, not a
// page drawn as before: the test that pins the porcupine version says so.
func adaptPage(page string) (string, error) {
	if strings.Count(page, renderCall) != 1 || strings.Count(page, "</head>") != 1 {
		return "", errors.New("linearizability: porcupine's page has changed: its render call or head was not found once")
	}
	page = strings.Replace(page, renderCall, "\n"+pageScript+"\n", 1)
	return strings.Replace(page, "</head>", pageCSS+"</head>", 1), nil
}
