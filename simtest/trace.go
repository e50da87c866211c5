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
// a tenth of a run), and optionally writes a readable line per event. A
// string enters the hash as its 64-bit digest (hashString), which the hot
// paths compute once per name rather than once per event. The
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

// str hashes s (its digest, one word).
func (t *Trace) str(s string) { t.u64(hashString(s)) }

// traceName is a string with its digest (hashString), computed once for the
// names the trace sees over and over: event kinds, mutex, condition and
// process names.
type traceName struct {
	s string
	h uint64
}

func newTraceName(s string) traceName { return traceName{s: s, h: hashString(s)} }

// The event kinds of the scheduler's hot paths.
var (
	tnEmpty    = newTraceName("")
	tnLock     = newTraceName("lock")
	tnUnlock   = newTraceName("unlock")
	tnBlock    = newTraceName("block")
	tnSwitch   = newTraceName("switch")
	tnCondWait = newTraceName("cond-wait")
	tnYield    = newTraceName("yield")
	tnSleep    = newTraceName("sleep")
	tnInject   = newTraceName("inject")
	tnNow      = newTraceName("now")
	tnRand     = newTraceName("rand")
	tnSpawn    = newTraceName("spawn")
	tnExit     = newTraceName("exit")
	tnKilled   = newTraceName("killed")
)

// event hashes one event: a kind, the process, and up to two integers and a
// string. Readable output is formatted only when a trace file was asked for,
// so the hot path stays allocation-free.
func (t *Trace) event(now time.Duration, pid int, kind string, a, b int64, s string) {
	t.ev(now, pid, newTraceName(kind), a, b, newTraceName(s))
}

// eventDigest is the digest of an event's kind, integers and string: the
// part of an event that does not depend on the process, so that events
// that recur with the same values (a given mutex's lock and unlock) can
// compute it once.
func eventDigest(kind traceName, a, b int64, s traceName) uint64 {
	return mix(mix(mix(kind.h, uint64(a)), uint64(b)), s.h)
}

// ev is event with the strings' digests already known.
func (t *Trace) ev(now time.Duration, pid int, kind traceName, a, b int64, s traceName) {
	if t.evd(eventDigest(kind, a, b, s), pid) {
		t.line(now, pid, &kind, a, b, &s)
	}
}

// evd hashes an event whose digest e (eventDigest) is known, and the
// process, and reports whether the caller must write the readable line.
// It is small enough to inline into the hot paths.
func (t *Trace) evd(e uint64, pid int) bool {
	t.n++
	t.h = mix(mix(t.h, e), uint64(pid))
	return t.out != nil
}

// line writes an event's readable line.
func (t *Trace) line(now time.Duration, pid int, kind *traceName, a, b int64, s *traceName) {
	fmt.Fprintf(t.out, "%12d p%-3d %-14s %d %d %s\n", now.Microseconds(), pid, kind.s, a, b, s.s)
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
