package proc

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
)

// loggerQueueMax bounds the lines waiting for the logger; beyond it lines
// are counted and dropped (the syslogger's pipe would block the writer,
// which a simulated run must not depend on).
const loggerQueueMax = 4096

// Logger is the logger process's collector (syslogger): every server
// process logs through it; each line is tagged with the virtual time, the
// process name and pid when it is logged, and the logger process writes
// the lines in order into the run's log (the env Logger beneath: the
// simulator's trace, or the real log). It implements env.Logger.
type Logger struct {
	e       *env.Env // the environment beneath: its Log is where lines go
	mu      env.Mutex
	cv      env.Cond
	queue   []string
	dropped int
}

// NewLogger makes the collector over e's log.
func NewLogger(e *env.Env) *Logger {
	mu := e.Sched.NewSpinLock("SysLoggerQueue")
	return &Logger{e: e, mu: mu, cv: e.Sched.NewCond("SysLoggerQueue", mu)}
}

// Logf queues one line, tagged as the log_line_prefix "%m [%p] %b" would.
func (l *Logger) Logf(format string, args ...any) {
	name, pid := "postmaster", 0
	if p := l.e.Sched.Self(); p != nil {
		name, pid = p.Name(), p.ID()
	}
	line := fmt.Sprintf("%v [%d] %s: %s", l.e.Clock.Now(), pid, name, fmt.Sprintf(format, args...))
	l.mu.Lock()
	if len(l.queue) >= loggerQueueMax {
		l.dropped++
	} else {
		l.queue = append(l.queue, line)
	}
	l.cv.Signal()
	l.mu.Unlock()
}

// SysLoggerMain is the logger process: it writes queued lines as they come.
func (l *Logger) SysLoggerMain() {
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && l.dropped == 0 {
			l.cv.Wait()
		}
		lines, dropped := l.queue, l.dropped
		l.queue, l.dropped = nil, 0
		l.mu.Unlock()
		for _, line := range lines {
			l.e.Log.Logf("%s", line)
		}
		if dropped > 0 {
			l.e.Log.Logf("logger: %d lines dropped (queue full)", dropped)
		}
	}
}
