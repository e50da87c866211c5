package world

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
)

// AppendEvent appends e's readable trace line (without the newline): the
// virtual time in µs, the process, the kind and the payload the kind uses.
// It is the one place the readable trace's wording comes from; nothing
// reads it back.
func AppendEvent(b []byte, e *env.Event) []byte {
	b = appendPadded(b, strconv.FormatInt(e.Time.Microseconds(), 10), 12, true)
	b = append(b, " p"...)
	b = appendPadded(b, strconv.Itoa(e.Pid), 3, false)
	b = append(b, ' ')
	switch e.Kind {
	case env.EvNote, env.EvLog:
		return append(append(b, "| "...), e.Name...)
	case env.EvCrash:
		return append(append(b, "| crash: "...), e.Name...)
	case env.EvRecoveryCrash:
		return append(append(b, "| crash during recovery: "...), e.Name...)
	case env.EvFault:
		b = append(b, "| fault "...)
		b = strconv.AppendInt(b, e.A, 10)
		return append(append(b, ": "...), e.Name...)
	case env.EvImage:
		b = append(b, "| initdb image "...)
		b = appendHex(b, uint64(e.A))
		b = append(b, " ("...)
		b = strconv.AppendInt(b, e.B, 10)
		return append(b, " events)"...)
	}
	b = appendPadded(b, e.Kind.String(), 14, false)
	b = append(b, ' ')
	switch e.Kind {
	case env.EvWALInsert:
		b = appendLSN(append(b, "start="...), e.LSN)
		b = appendLSN(append(b, " end="...), e.LSN2)
		b = strconv.AppendUint(append(b, " rmgr="...), uint64(e.Rmgr), 10)
		return strconv.AppendUint(append(b, " xid="...), e.Xid, 10)
	case env.EvWALFlush:
		return appendLSN(append(b, "upto="...), e.LSN)
	case env.EvPageInvalid:
		b = strconv.AppendUint(append(b, "rel="...), uint64(e.Rel), 10)
		return strconv.AppendUint(append(b, " block="...), uint64(e.Block), 10)
	case env.EvBufferWrite:
		b = strconv.AppendUint(append(b, "rel="...), uint64(e.Rel), 10)
		b = strconv.AppendUint(append(b, " block="...), uint64(e.Block), 10)
		return appendLSN(append(b, " lsn="...), e.LSN)
	case env.EvControlUpdate, env.EvCheckpointEnd:
		b = appendLSN(append(b, "checkpoint="...), e.LSN)
		return appendLSN(append(b, " redo="...), e.LSN2)
	case env.EvCheckpointBegin:
		return strconv.AppendInt(append(b, "flags="...), e.A, 10)
	case env.EvCheckpointRedo, env.EvRecoveryBegin:
		return appendLSN(append(b, "redo="...), e.LSN)
	case env.EvCommit, env.EvCommitAck:
		b = strconv.AppendUint(append(b, "xid="...), e.Xid, 10)
		return appendLSN(append(b, " lsn="...), e.LSN)
	case env.EvLockWait, env.EvLockWaitEnd, env.EvLockRelease:
		b = strconv.AppendUint(append(b, "xid="...), e.Xid, 10)
		b = strconv.AppendInt(append(b, " a="...), e.A, 10)
		return strconv.AppendInt(append(b, " b="...), e.B, 10)
	case env.EvRecoveryEnd:
		b = appendLSN(append(b, "redo="...), e.LSN)
		b = appendLSN(append(b, " end="...), e.LSN2)
		return strconv.AppendInt(append(b, " records="...), e.A, 10)
	case env.EvSpawn:
		b = strconv.AppendInt(b, e.A, 10)
		b = append(append(b, " role="...), e.Role2.String()...)
		return append(append(b, ' '), e.Name...)
	}
	b = strconv.AppendInt(b, e.A, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.B, 10)
	b = append(b, ' ')
	b = append(b, e.Name...)
	if e.Name2 != "" {
		b = append(append(b, " -> "...), e.Name2...)
	}
	if e.Kind.IsDisk() {
		b = append(append(b, " class="...), e.Class.String()...)
	}
	return b
}

func appendPadded(b []byte, s string, w int, right bool) []byte {
	if right {
		for i := len(s); i < w; i++ {
			b = append(b, ' ')
		}
	}
	b = append(b, s...)
	if !right {
		for i := len(s); i < w; i++ {
			b = append(b, ' ')
		}
	}
	return b
}

func appendHex(b []byte, v uint64) []byte {
	s := strconv.FormatUint(v, 16)
	for i := len(s); i < 16; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendLSN appends an LSN as PostgreSQL prints it (%X/%X).
func appendLSN(b []byte, lsn uint64) []byte {
	b = append(b, strings.ToUpper(strconv.FormatUint(lsn>>32, 16))...)
	b = append(b, '/')
	return append(b, strings.ToUpper(strconv.FormatUint(lsn&0xffffffff, 16))...)
}

// FormatEvent is e's readable trace line.
func FormatEvent(e *env.Event) string { return string(AppendEvent(nil, e)) }

// event stamps e with the virtual time and process p (nil: the harness)
// and hashes it into the trace.
func (s *Sim) event(p *proc, e *env.Event) {
	e.Time = s.now
	if p != nil {
		e.Pid, e.Role = p.id, p.role
	} else {
		e.Role = env.RoleOther
	}
	s.trace.Emit(e)
}

// HarnessEvent is an event of the harness's own (pid 0): a crash, a fault
// applied, a note for the reader.
func (s *Sim) HarnessEvent(e env.Event) { s.event(nil, &e) }

// Observe is env.Observer: the engine's semantic events, stamped with the
// node and the running process.
func (n *Node) Observe(e env.Event) {
	e.Node = n.Name
	n.Sim.event(n.Sim.cur, &e)
	if n.WatchEvents != nil && n.Sim.running {
		n.watch(e)
	}
}

// watch shows WatchEvents a copy of e that does not escape: one of the
// node's own (which WatchEvents must not keep), or a fresh one if watchers
// nest deeper than it holds.
func (n *Node) watch(e env.Event) {
	if n.watchDepth >= len(n.watched) {
		c := e
		n.WatchEvents(&c)
		return
	}
	w := &n.watched[n.watchDepth]
	*w = e
	n.watchDepth++
	n.WatchEvents(w)
	n.watchDepth--
}

// Recorded reports whether an event is kept in a run's recorded events
// (NAME.events.jsonl): everything but the scheduler's own bookkeeping
// (clock reads, random draws, locks, switches, waits), which the readable
// trace and the hash keep and no reader of events needs.
func Recorded(k env.EventKind) bool {
	switch k {
	case env.EvNow, env.EvRand, env.EvLock, env.EvUnlock, env.EvYield, env.EvSwitch, env.EvSleep, env.EvCondWait, env.EvBlock:
		return false
	}
	return true
}

// EventWriter writes events as JSON lines (one env.Event per line).
type EventWriter struct {
	enc *json.Encoder
	err error
}

// NewEventWriter writes to w.
func NewEventWriter(w io.Writer) *EventWriter { return &EventWriter{enc: json.NewEncoder(w)} }

// Observe records e if Recorded says so (env.Observer); the first error
// sticks (Err).
func (w *EventWriter) Observe(e env.Event) {
	if w.err == nil && Recorded(e.Kind) {
		w.err = w.enc.Encode(&e)
	}
}

// Err is the first write error.
func (w *EventWriter) Err() error { return w.err }

// maxEventLine bounds one recorded event's line (a fault plan note is the
// longest).
const maxEventLine = 1 << 20

// ReadEvents decodes JSON lines written by EventWriter and hands each
// event to fn, in order.
func ReadEvents(r io.Reader, fn func(env.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	for line := 1; sc.Scan(); line++ {
		var e env.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("event line %d: %w", line, err)
		}
		fn(e)
	}
	return sc.Err()
}
