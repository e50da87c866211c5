package world

import (
	"bufio"
	"fmt"
	"io"

	"github.com/pgdst/pgdst/engine/env"
)

// Trace feeds every event of a run (env.Event: scheduling decisions, env
// calls, injection points, the harness's crashes and faults, the engine's
// semantic events) into a 64-bit hash (FNV-1a's constants, applied a 64-bit
// word at a time with a xor-shift after each multiply so that high bits
// reach low ones: an event is hashed millions of times per campaign second,
// and byte-wise FNV cost a tenth of a run), and, when asked, writes the
// event's readable line and hands the event to a sink. Both the hash
// (eventDigest) and the line (FormatEvent) are computed from the Event
// alone: one encoder. A string enters the hash as its 64-bit digest
// (hashString), which the hot paths compute once per name rather than
// once per event. The hash is the run's identity: same seed and same build
// give the same hash in any process under any GOMAXPROCS, so a changed
// hash is a changed run.
type Trace struct {
	h    uint64
	n    uint64 // events hashed
	out  *bufio.Writer
	sink func(env.Event)
	// slow says an event must also be written or handed to the sink.
	slow bool
	line []byte // the readable line being formatted
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func newTrace(w io.Writer) *Trace {
	t := &Trace{h: fnvOffset}
	if w != nil {
		t.out = bufio.NewWriterSize(w, 64<<10)
		t.slow = true
	}
	return t
}

// Readable says the trace writes a readable trace or hands events to a
// sink (the slow path).
func (t *Trace) Readable() bool { return t.slow }

// Fresh is a new trace hash, from the start, that writes to t's readable
// output and hands events to t's sink: a readable trace re-runs an initdb
// image's build into it, with the build's own hash.
func (t *Trace) Fresh() *Trace {
	return &Trace{h: fnvOffset, out: t.out, sink: t.sink, slow: t.slow}
}

// SetSink makes the trace hand every event to sink as it is hashed.
func (t *Trace) SetSink(sink func(env.Event)) {
	t.sink = sink
	t.slow = t.out != nil || sink != nil
}

func mix(h, v uint64) uint64 {
	h = (h ^ v) * fnvPrime
	return h ^ h>>29
}

// hashString hashes s's length and then its bytes eight at a time, so that
// no two different strings feed the same words, into a 64-bit digest that
// the trace mixes in as one word.
func hashString(s string) uint64 {
	h := mix(fnvOffset, uint64(len(s)))
	for len(s) >= 8 {
		h = mix(h, uint64(s[0])|uint64(s[1])<<8|uint64(s[2])<<16|uint64(s[3])<<24|
			uint64(s[4])<<32|uint64(s[5])<<40|uint64(s[6])<<48|uint64(s[7])<<56)
		s = s[8:]
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	return mix(h, w)
}

// hashEmpty is hashString("").
var hashEmpty = hashString("")

// traceName is a string with its digest (hashString), computed once for the
// names the trace sees over and over: mutex, condition, process and file
// names.
type traceName struct {
	s string
	h uint64
}

func newTraceName(s string) traceName { return traceName{s: s, h: hashString(s)} }

// eventDigest is the digest of an event's kind and payload: the part of an
// event that does not depend on the process, so that events that recur
// with the same values (a given mutex's lock and unlock) can compute it
// once. Time, Node and Role are not hashed: the process (hashed by emit)
// determines its node and role, and time enters the hash through the
// events that read the clock.
func eventDigest(e *env.Event) uint64 {
	nh := e.NameHash
	if nh == 0 {
		nh = hashEmpty
		if e.Name != "" {
			nh = hashString(e.Name)
		}
	}
	h := mix(fnvOffset, uint64(e.Kind)|uint64(e.Class)<<8|uint64(e.Role2)<<16|uint64(e.Rmgr)<<24)
	// The engine's fields are zero in the scheduler's events, which are
	// most of a run's: they skip the words (the length differs, so no
	// event of one shape feeds the words of the other).
	if relBlock := uint64(e.Rel) | uint64(e.Block)<<32; e.Xid|relBlock|e.LSN|e.LSN2 != 0 {
		h = mix(mix(mix(mix(h, e.Xid), relBlock), e.LSN), e.LSN2)
	}
	h = mix(h, uint64(e.A))
	h = mix(h, uint64(e.B))
	if e.Name2 != "" {
		h = mix(h, hashString(e.Name2))
	}
	return mix(h, nh)
}

// Emit hashes one event whose Time and Pid (and Role, Node) are stamped.
func (t *Trace) Emit(e *env.Event) { t.emitD(eventDigest(e), e) }

// emitD is emit with the event's digest (eventDigest) known.
func (t *Trace) emitD(d uint64, e *env.Event) {
	if t.hashD(d, e.Pid) {
		t.record(e)
	}
}

// hashD hashes an event of digest d in process pid and reports whether
// the caller must also record it (t.record). It is small enough to inline
// into the hot paths, which call record themselves.
func (t *Trace) hashD(d uint64, pid int) bool {
	t.n++
	t.h = mix(mix(t.h, d), uint64(pid))
	return t.slow
}

// record writes e's readable line and hands it to the sink.
func (t *Trace) record(e *env.Event) {
	if t.out != nil {
		t.line = AppendEvent(t.line[:0], e)
		t.line = append(t.line, '\n')
		t.out.Write(t.line)
	}
	if t.sink != nil {
		t.sink(*e)
	}
}

// Hash is the trace hash so far.
func (t *Trace) Hash() uint64 { return t.h }

// Events is the number of events hashed.
func (t *Trace) Events() uint64 { return t.n }

// HashString is the 16-hex-digit form printed on every run's last line.
func (t *Trace) HashString() string { return fmt.Sprintf("%016x", t.h) }

// Flush writes out what the readable trace has buffered.
func (t *Trace) Flush() error {
	if t.out != nil {
		return t.out.Flush()
	}
	return nil
}

// NewTrace makes a trace hash; w, when not nil, receives the readable
// trace. Tests that build a Node themselves use it.
func NewTrace(w io.Writer) *Trace { return newTrace(w) }
