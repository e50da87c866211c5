package simtest

import (
	"bufio"
	"fmt"
	"io"
	"time"
)

// Trace feeds every scheduling decision, env call and injection point into a
// 64-bit hash (FNV-1a's constants, applied a 64-bit word at a time with a
// xor-shift after each multiply so that high bits reach low ones: a step
// is hashed millions of times per campaign second, and byte-wise FNV cost
// a tenth of a run), and optionally writes a readable line per event. The
// hash is the run's identity: same seed and same build give the same hash in
// any process under any GOMAXPROCS, so a changed hash is a changed run.
type Trace struct {
	h   uint64
	n   uint64 // events hashed
	out *bufio.Writer
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func newTrace(w io.Writer) *Trace {
	t := &Trace{h: fnvOffset}
	if w != nil {
		t.out = bufio.NewWriterSize(w, 64<<10)
	}
	return t
}

func mix(h, v uint64) uint64 {
	h = (h ^ v) * fnvPrime
	return h ^ h>>29
}

func (t *Trace) u64(v uint64) { t.h = mix(t.h, v) }

// str hashes s's length and then its bytes eight at a time, so that no two
// different strings feed the same words.
func (t *Trace) str(s string) {
	h := mix(t.h, uint64(len(s)))
	for len(s) >= 8 {
		h = mix(h, uint64(s[0])|uint64(s[1])<<8|uint64(s[2])<<16|uint64(s[3])<<24|
			uint64(s[4])<<32|uint64(s[5])<<40|uint64(s[6])<<48|uint64(s[7])<<56)
		s = s[8:]
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	t.h = mix(h, w)
}

// event hashes one event: a kind, the process, and up to two integers and a
// string. Readable output is formatted only when a trace file was asked for,
// so the hot path stays allocation-free.
func (t *Trace) event(now time.Duration, pid int, kind string, a, b int64, s string) {
	t.n++
	t.str(kind)
	t.u64(uint64(pid))
	t.u64(uint64(a))
	t.u64(uint64(b))
	t.str(s)
	if t.out != nil {
		fmt.Fprintf(t.out, "%12d p%-3d %-14s %d %d %s\n", now.Microseconds(), pid, kind, a, b, s)
	}
}

// note writes a free-form readable line (it is also hashed).
func (t *Trace) note(now time.Duration, pid int, line string) {
	t.n++
	t.str("note")
	t.str(line)
	if t.out != nil {
		fmt.Fprintf(t.out, "%12d p%-3d | %s\n", now.Microseconds(), pid, line)
	}
}

// Hash is the trace hash so far.
func (t *Trace) Hash() uint64 { return t.h }

// Events is the number of events hashed.
func (t *Trace) Events() uint64 { return t.n }

// HashString is the 16-hex-digit form printed on every run's last line.
func (t *Trace) HashString() string { return fmt.Sprintf("%016x", t.h) }

func (t *Trace) flush() error {
	if t.out != nil {
		return t.out.Flush()
	}
	return nil
}

// NewTrace makes a trace hash; w, when not nil, receives the readable
// trace. Tests that build a Node themselves use it.
func NewTrace(w io.Writer) *Trace { return newTrace(w) }
