package campaign

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/env"
	lin "github.com/pgdst/pgdst/linearizability"
)

// pageMarks watches a run's events, passing them on to next, for what
// porcupine's page draws in its server row: each crash, up to the
// recovery that follows it, and each recovery's redo, so that the reads
// after recovery are seen to come after the crash.
type pageMarks struct {
	next     env.Observer
	marks    []lin.PageMark
	crash    *lin.PageMark // a crash whose recovery has not begun
	redoFrom int64         // -1: no redo in progress
}

func newPageMarks(next env.Observer) *pageMarks { return &pageMarks{next: next, redoFrom: -1} }

// Observe is env.Observer.
func (p *pageMarks) Observe(e env.Event) {
	p.next.Observe(e)
	t := int64(e.Time)
	switch e.Kind {
	case env.EvCrash, env.EvRecoveryCrash:
		p.flushCrash(t)
		label := "crash"
		if e.Kind == env.EvRecoveryCrash {
			label = "crash in recovery"
		}
		p.crash = &lin.PageMark{Start: t, End: t, Label: label, Details: fmt.Sprintf("%s at %v: %s", label, time.Duration(t), e.Name), Crash: true}
		p.redoFrom = -1
	case env.EvRecoveryBegin:
		p.flushCrash(t)
		p.redoFrom = t
	case env.EvRecoveryEnd:
		if p.redoFrom >= 0 {
			p.marks = append(p.marks, lin.PageMark{Start: p.redoFrom, End: t, Label: "redo",
				Details: fmt.Sprintf("recovery replayed %d WAL records, %X/%X .. %X/%X", e.A, e.LSN>>32, uint32(e.LSN), e.LSN2>>32, uint32(e.LSN2))})
			p.redoFrom = -1
		}
	}
}

// flushCrash ends the pending crash's mark at t.
func (p *pageMarks) flushCrash(t int64) {
	if p.crash != nil {
		p.crash.End = t
		p.marks = append(p.marks, *p.crash)
		p.crash = nil
	}
}

// done returns the marks, a crash with no recovery after it as a point.
func (p *pageMarks) done() []lin.PageMark {
	if p.crash != nil {
		p.marks = append(p.marks, *p.crash)
		p.crash = nil
	}
	return p.marks
}
