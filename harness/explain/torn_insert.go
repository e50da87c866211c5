package explain

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// tornByFlush finds why valid WAL ended at stop when the WAL record there
// was written by a flush before its insertion had finished copying it
// into the WAL buffers (planted bug flush-no-wait-insertions): its
// insertion event (emitted when the copy finished), the flush that first
// made its start durable, in the same server lifetime, and that flush's
// first WAL write, which came before the insertion event. The record is the last inserted before t
// that starts at stop or after the page header there.
func (m *model) tornByFlush(stop uint64, t time.Duration) (ins, flush, write *env.Event) {
	const pageHdrMax = 40 // SizeOfXLogLongPHD
	at := -1
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time > t {
			break
		}
		if e.Kind == env.EvWALInsert && e.LSN >= stop && e.LSN <= stop+pageHdrMax {
			at = i
		}
	}
	if at < 0 {
		return nil, nil, nil
	}
	ins = &m.evs[at]
	start := m.lifetimeStart(ins.Time)
	// The first flush past the record's start, and the flush before it
	// (flushes are serialized by WALWriteLock, and move forward).
	prev, f := -1, -1
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time > t {
			break
		}
		if e.Time < start || e.Kind != env.EvWALFlush {
			continue
		}
		if e.LSN > ins.LSN {
			f = i
			break
		}
		prev = i
	}
	if f < 0 {
		return nil, nil, nil
	}
	flush = &m.evs[f]
	for i := max(prev+1, 0); i < f; i++ {
		e := &m.evs[i]
		if e.Time < start || e.Pid != flush.Pid || e.Kind != env.EvDiskWrite || e.Class != env.FileWAL {
			continue
		}
		if i < at {
			return ins, flush, e // its first WAL write came before the copy was done
		}
		break
	}
	return nil, nil, nil
}

// tornRecordCause names a torn record found by tornByFlush as the cause
// of what happened (what), and reports whether it found one.
func (a *account) tornRecordCause(stop uint64, t time.Duration, what string) bool {
	ins, fl, wr := a.m.tornByFlush(stop, t)
	if ins == nil {
		return false
	}
	a.markStep(wr, "flush", fmt.Sprintf("WAL written up to %s while the record at %s was still being copied", lsn(fl.LSN), lsn(ins.LSN)))
	a.say("The WAL record at %s, inserted by %s, had not been wholly copied into the WAL buffers (its copy ended at %s) when %s began writing WAL at %s for a flush to %s, past it: it went to disk torn, and valid WAL ends there.",
		lsn(ins.LSN), a.m.who(ins.Pid), ms(ins.Time), a.m.who(fl.Pid), ms(wr.Time), lsn(fl.LSN))
	a.cause("a WAL flush wrote a record another process was still copying into the WAL buffers, torn, and "+what,
		"XLogFlush must wait for every insertion in progress below what it writes (WaitXLogInsertionsToFinish) before XLogWrite writes the WAL buffers")
	return true
}
