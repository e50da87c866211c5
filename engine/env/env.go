// Package env is the seam between the engine and the world.
//
// It owns the interfaces every engine package is written against — Clock,
// Disk, Net, Scheduler, Rand, fault injection points and logging — and the
// real implementation of them (OS files with real fsync, the wall clock,
// goroutines and sync primitives, see real.go; TCP through Go's net
// package, see realnet.go). The simulated implementation lives in package
// simtest.
//
// Engine code receives an *Env explicitly and must never reach the outside
// world any other way: no os, time.Now/Sleep, math/rand, sync, or go
// statements outside this package's real implementation. The rule is enforced
// by simtest's source scan (determinism_scan_test.go).
package env

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"
)

// Env bundles the engine's view of the world. Its fields are interfaces so
// that wrappers (fault injection, tracing) compose as pebble's vfs wrappers do.
type Env struct {
	Clock Clock
	Disk  Disk
	// Net is this node's view of the network (net.go). It may be nil
	// where nothing listens or dials (tests of one package).
	Net   Net
	Sched Scheduler
	Rand  Rand
	// Points receives every named injection point. It may be nil (no-op).
	Points Injector
	// Log receives every log line. It may be nil (discarded).
	Log Logger
	// Files is told what each file the engine opens holds. It may be nil.
	Files FileClassifier
	// Events receives the engine's semantic events (Observe). It may be
	// nil.
	Events Observer
	// Reached collects the sometimes conditions the engine reaches
	// (sometimes.go). It may be nil (not collected).
	Reached *Reached
	// OnFirstReach, when set, is told the index in Conditions of each
	// condition the first time Reached gains it (Sometimes). It may be
	// nil.
	OnFirstReach func(cond int)
}

// Inject announces that the calling process has reached the named injection
// point (as PostgreSQL 17's INJECTION_POINT macro does). Under the simulator
// the fault plan may crash the node or stall the process here; under the real
// environment it is a no-op unless configured.
func (e *Env) Inject(point string) {
	if e.Points != nil {
		e.Points.Inject(point)
	}
}

// Logf writes one log line, tagged by the logger with time and process.
func (e *Env) Logf(format string, args ...any) {
	if e.Log != nil {
		e.Log.Logf(format, args...)
	}
}

// Clock is time as the engine sees it: a duration since the environment
// started (virtual under the simulator). There are no wall-clock dates in the
// engine, so nothing it does depends on when it runs.
type Clock interface {
	Now() time.Duration
	// Sleep blocks the calling process for d. Under the simulator this is a
	// timer in virtual time; other processes run meanwhile.
	Sleep(d time.Duration)
}

// Scheduler runs processes: the postmaster, backends, auxiliary processes and
// simulated clients are all processes of one Scheduler.
type Scheduler interface {
	// Spawn starts fn as a new process named name. The process ends when fn
	// returns or calls Exit.
	Spawn(name string, fn func()) Proc
	// Self is the calling process.
	Self() Proc
	// Yield offers the scheduler a chance to run another process.
	Yield()
	// Exit ends the calling process now, running its deferred calls.
	Exit()
	// NewMutex makes a lock (an LWLock). Names appear in deadlock reports.
	NewMutex(name string) Mutex
	// NewSpinLock makes a spinlock (s_lock.h): held for a few
	// instructions around shared state, never across a wait. Taking a
	// free one, and releasing one, is not a scheduling point, so a
	// simulator spends its interleavings on the LWLocks and I/O where
	// they matter; a held one is waited for like a mutex.
	NewSpinLock(name string) Mutex
	// NewCond makes a condition variable tied to m (a ConditionVariable).
	NewCond(name string, m Mutex) Cond
	// Kill terminates p abnormally, as SIGKILL does: p runs none of its
	// remaining work and never touches shared state again. A process may
	// kill itself. Killing a process that has ended does nothing.
	Kill(p Proc)
	// Reap returns the children of the calling process (the processes it
	// spawned) that ended since its last Reap, in the order they ended, and
	// how (waitpid with WNOHANG).
	Reap() []Exit
}

// Exit is how a process ended, as its parent's Reap reports it.
type Exit struct {
	Proc Proc
	// Abnormal is a PANIC, a kill or a crash: what makes the postmaster
	// start a crash-restart. A return or an Exit is normal.
	Abnormal bool
	Reason   string
}

// Proc identifies a process. IDs are small, unique within a scheduler and
// never reused, so that traces are stable.
type Proc interface {
	ID() int
	Name() string
}

// Mutex is a non-reentrant lock.
type Mutex interface {
	Lock()
	Unlock()
}

// Cond is a condition variable over a Mutex. The caller holds the mutex
// around Wait and WaitTimeout, exactly as with sync.Cond.
type Cond interface {
	Wait()
	// WaitTimeout waits at most d and reports whether it was signalled
	// (false: the timeout expired).
	WaitTimeout(d time.Duration) bool
	Signal()
	Broadcast()
}

// Rand is the one source of randomness. Under the simulator it is derived
// from the run's seed.
type Rand interface {
	Uint64() uint64
	// Intn returns a value in [0, n); n must be > 0.
	Intn(n int) int
}

// Injector receives injection points.
type Injector interface {
	Inject(point string)
}

// Logger receives log lines.
type Logger interface {
	Logf(format string, args ...any)
}

// OpenFlag selects how Disk.Open treats a missing or existing file.
type OpenFlag int

const (
	// OpenExisting fails with ErrNotExist if the file does not exist.
	OpenExisting OpenFlag = iota
	// OpenCreate creates the file if it does not exist. The new directory
	// entry is durable only after SyncDir of its directory.
	OpenCreate
	// OpenCreateExcl creates the file and fails with ErrExist if it exists.
	OpenCreateExcl
)

// Disk is a file system with Linux page-cache semantics: WriteAt lands in a
// volatile cache, File.Sync makes a file's data durable, and directory entry
// changes (create, rename, remove) are durable only after SyncDir of the
// directory. Paths are slash-separated and relative to the data directory.
type Disk interface {
	Open(path string, flag OpenFlag) (File, error)
	Remove(path string) error
	Rename(oldPath, newPath string) error
	// List returns the names (not paths) in dir, sorted.
	List(dir string) ([]string, error)
	MkdirAll(dir string) error
	SyncDir(dir string) error
}

// File is an open file. Offsets are absolute; there is no file position.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
	Path() string
}

// The error values a Disk returns. They are the standard library's, so that
// errors.Is works across the real and the simulated disk.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	ErrClosed   = fs.ErrClosed
	// EIO is an I/O error (a failed write, read or fsync).
	EIO error = syscall.EIO
	// ENOSPC means the device is full.
	ENOSPC error = syscall.ENOSPC
	// ENOTDIR is List of something that is not a directory.
	ENOTDIR error = syscall.ENOTDIR
)

// IsIOError reports whether err is an EIO from the disk.
func IsIOError(err error) bool { return errors.Is(err, EIO) }

// PanicError is what the engine panics with to report a PANIC-level error,
// as PostgreSQL's ereport(PANIC) does: the process dies abnormally and the
// whole system must crash-restart. The harness (postmaster or simulator)
// recognises it; it is not an engine bug.
type PanicError struct {
	Msg string
}

func (p *PanicError) Error() string { return "PANIC: " + p.Msg }

// Crasher is implemented by schedulers that can end a process abnormally on
// the spot. PostgreSQL's PANIC ends in abort(): the process runs no cleanup,
// and no other process may run in between. A Go panic would run deferred
// calls (unlocks, closes) that let other processes go on after the PANIC;
// the simulator's Crash stops the run there instead.
type Crasher interface {
	// Crash ends the calling process abnormally with err; it does not
	// return.
	Crash(err *PanicError)
}

// Panicf raises a PANIC: it never returns. Engine code with an *Env uses
// e.Panicf, which lets the scheduler end the process at once.
func Panicf(format string, args ...any) {
	panic(&PanicError{Msg: fmt.Sprintf(format, args...)})
}

// Panicf raises a PANIC in the calling process: through the scheduler's
// Crasher when it has one, else as a Go panic. It never returns.
func (e *Env) Panicf(format string, args ...any) {
	err := &PanicError{Msg: fmt.Sprintf(format, args...)}
	if c, ok := e.Sched.(Crasher); ok {
		c.Crash(err)
	}
	panic(err)
}
