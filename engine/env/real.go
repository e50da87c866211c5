// This file is the real (operating-system) implementation of the env
// interfaces: the wall clock, OS files with real fsync rooted at a data
// directory, goroutines as processes, sync-based mutexes and condition
// variables, a seeded math/rand/v2 PCG source, a no-op injector and a logger
// writing to an io.Writer.
//
// It is the one place in engine/ allowed to use os, time.Now/Sleep, timers,
// sync primitives and go statements. Every other engine package reaches the
// world only through an *Env, so that the simulator (package simtest) can
// substitute its own deterministic implementation.

package env

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// NewReal returns an Env backed by the operating system: files under
// dataDir (created if missing), the wall clock, TCP (as node "localhost"),
// goroutines, and randomness
// seeded from seed. Log lines go to os.Stderr; Points is a *RealInjector that
// does nothing until given a hook.
//
// The concrete types are reachable by type assertion, e.g.
// e.Sched.(*RealScheduler).Wait().
func NewReal(dataDir string, seed uint64) (*Env, error) {
	disk, err := NewOSDisk(dataDir)
	if err != nil {
		return nil, err
	}
	clock := NewRealClock()
	sched := NewRealScheduler()
	return &Env{
		Clock:  clock,
		Disk:   disk,
		Net:    NewRealNet(clock, ""),
		Sched:  sched,
		Rand:   NewRealRand(seed),
		Points: NewRealInjector(),
		Log:    NewRealLogger(os.Stderr, clock, sched),
	}, nil
}

// ---------------------------------------------------------------------------
// Clock

// RealClock is the wall clock, measured monotonically from its creation.
type RealClock struct {
	start time.Time
}

// NewRealClock returns a clock whose Now is the time elapsed since this call.
func NewRealClock() *RealClock { return &RealClock{start: time.Now()} }

// Now returns the (monotonic) time elapsed since the clock was created.
func (c *RealClock) Now() time.Duration { return time.Since(c.start) }

// Sleep blocks the calling goroutine for d.
func (c *RealClock) Sleep(d time.Duration) { time.Sleep(d) }

// ---------------------------------------------------------------------------
// Disk

// OSDisk is a Disk over the operating system's files below a root
// directory. Paths are slash-separated and relative to the root; absolute
// paths and paths that escape the root lexically ("..") are rejected with an
// error satisfying errors.Is(err, fs.ErrInvalid). Symbolic links are not
// policed: the data directory is the engine's own.
//
// Errors from the OS are returned as *fs.PathError or *os.LinkError carrying
// the relative path, still wrapping the syscall errno, so errors.Is works
// against ErrNotExist, ErrExist, EIO, ENOSPC and ErrClosed.
type OSDisk struct {
	root string
}

// NewOSDisk returns a Disk rooted at root, creating the directory (mode
// 0700, as PostgreSQL's data directory) if it is missing.
func NewOSDisk(root string) (*OSDisk, error) {
	if root == "" {
		return nil, errors.New("env: NewOSDisk: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("env: NewOSDisk %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("env: NewOSDisk: %w", err)
	}
	return &OSDisk{root: abs}, nil
}

// Root returns the absolute OS path of the disk's root directory.
func (d *OSDisk) Root() string { return d.root }

// resolve validates rel and returns its OS path. "" and "." name the root.
func (d *OSDisk) resolve(op, rel string) (string, error) {
	if strings.Contains(rel, "\x00") {
		return "", &fs.PathError{Op: op, Path: rel, Err: fmt.Errorf("%w: NUL in path", fs.ErrInvalid)}
	}
	if path.IsAbs(rel) || filepath.IsAbs(rel) {
		return "", &fs.PathError{Op: op, Path: rel, Err: fmt.Errorf("%w: absolute path not allowed (paths are relative to the data directory)", fs.ErrInvalid)}
	}
	clean := path.Clean(rel) // keeps any leading ".." that climbs out
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", &fs.PathError{Op: op, Path: rel, Err: fmt.Errorf("%w: path escapes the data directory", fs.ErrInvalid)}
	}
	return filepath.Join(d.root, filepath.FromSlash(clean)), nil
}

// relErr rewrites the OS path inside an OS error to the relative path the
// caller used, keeping the wrapped errno.
func relErr(err error, rel string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: rel, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &os.LinkError{Op: le.Op, Old: rel, New: le.New, Err: le.Err}
	}
	return err
}

// Open opens the file at p read-write (mode 0600 when created).
func (d *OSDisk) Open(p string, flag OpenFlag) (File, error) {
	osPath, err := d.resolve("open", p)
	if err != nil {
		return nil, err
	}
	var of int
	switch flag {
	case OpenExisting:
		of = os.O_RDWR
	case OpenCreate:
		of = os.O_RDWR | os.O_CREATE
	case OpenCreateExcl:
		of = os.O_RDWR | os.O_CREATE | os.O_EXCL
	default:
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w: unknown OpenFlag %d", fs.ErrInvalid, flag)}
	}
	f, err := os.OpenFile(osPath, of, 0o600)
	if err != nil {
		return nil, relErr(err, p)
	}
	return &osFile{f: f, path: p}, nil
}

// Remove removes a file or an empty directory.
func (d *OSDisk) Remove(p string) error {
	osPath, err := d.resolve("remove", p)
	if err != nil {
		return err
	}
	return relErr(os.Remove(osPath), p)
}

// Rename renames oldPath to newPath, replacing newPath if it exists.
func (d *OSDisk) Rename(oldPath, newPath string) error {
	oldOS, err := d.resolve("rename", oldPath)
	if err != nil {
		return err
	}
	newOS, err := d.resolve("rename", newPath)
	if err != nil {
		return err
	}
	if err := os.Rename(oldOS, newOS); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			return &os.LinkError{Op: le.Op, Old: oldPath, New: newPath, Err: le.Err}
		}
		return err
	}
	return nil
}

// List returns the sorted names of the entries in dir.
func (d *OSDisk) List(dir string) ([]string, error) {
	osPath, err := d.resolve("readdir", dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(osPath) // sorted by name
	if err != nil {
		return nil, relErr(err, dir)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// MkdirAll creates dir and any missing parents (mode 0700).
func (d *OSDisk) MkdirAll(dir string) error {
	osPath, err := d.resolve("mkdir", dir)
	if err != nil {
		return err
	}
	return relErr(os.MkdirAll(osPath, 0o700), dir)
}

// SyncDir fsyncs the directory dir, making entry changes in it durable, as
// PostgreSQL's fsync_fname(dir, true) does. Like PostgreSQL, it ignores
// EBADF and EINVAL from fsync, which some systems return for directories.
func (d *OSDisk) SyncDir(dir string) error {
	osPath, err := d.resolve("syncdir", dir)
	if err != nil {
		return err
	}
	f, err := os.Open(osPath)
	if err != nil {
		return relErr(err, dir)
	}
	serr := f.Sync()
	if errors.Is(serr, syscall.EBADF) || errors.Is(serr, syscall.EINVAL) {
		serr = nil
	}
	cerr := f.Close()
	if serr != nil {
		return relErr(serr, dir)
	}
	return relErr(cerr, dir)
}

// osFile is an open OS file.
type osFile struct {
	f    *os.File
	path string
}

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = relErr(err, f.path)
	}
	return n, err
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.f.WriteAt(p, off)
	return n, relErr(err, f.path)
}

// Sync is a real fsync.
func (f *osFile) Sync() error { return relErr(f.f.Sync(), f.path) }

func (f *osFile) Truncate(size int64) error { return relErr(f.f.Truncate(size), f.path) }

func (f *osFile) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, relErr(err, f.path)
	}
	return fi.Size(), nil
}

func (f *osFile) Close() error { return relErr(f.f.Close(), f.path) }

// Path returns the slash-separated path relative to the disk root, as given
// to Open.
func (f *osFile) Path() string { return f.path }

// ---------------------------------------------------------------------------
// Scheduler

// RealScheduler runs processes as goroutines.
//
// Self finds the calling process through a registry keyed by goroutine
// (gkey: its g pointer), since the Scheduler interface passes no
// context. Self from a goroutine that was not started by Spawn (such as a
// test's or main's goroutine) returns a process with ID 0 named "main".
// Goroutines started by other means inside a process are not that process.
//
// A process that panics with a *PanicError is recovered and recorded (see
// Failures); any other panic is an engine bug and is re-raised, crashing
// the OS process.
type RealScheduler struct {
	nextID atomic.Int64

	mu       sync.Mutex
	idle     *sync.Cond // signalled when running drops to 0
	procs    map[uint64]*realProc
	running  int
	failures []Failure
	// main is the process of every goroutine Spawn did not start, this
	// scheduler's own: its ended children (Reap) are guarded by mu, so
	// two schedulers in one OS process (two servers in one test) must
	// not share it.
	main *realProc
}

// Failure records a process that died with a PANIC.
type Failure struct {
	Proc  Proc
	Err   *PanicError
	Stack []byte // the stack at the panic
}

// NewRealScheduler returns an empty scheduler.
func NewRealScheduler() *RealScheduler {
	s := &RealScheduler{procs: make(map[uint64]*realProc), main: &realProc{id: 0, name: "main"}}
	s.idle = sync.NewCond(&s.mu)
	return s
}

type realProc struct {
	id     int
	name   string
	parent *realProc
	killed atomic.Bool
	exits  []Exit // ended children not yet reaped; guarded by RealScheduler.mu
}

func (p *realProc) ID() int      { return p.id }
func (p *realProc) Name() string { return p.name }

// Spawn starts fn in a new goroutine as a process named name. IDs start at
// 1 and increase.
func (s *RealScheduler) Spawn(name string, fn func()) Proc {
	p := &realProc{id: int(s.nextID.Add(1)), name: name, parent: s.self()}
	s.mu.Lock()
	s.running++
	s.mu.Unlock()
	go s.run(p, fn)
	return p
}

func (s *RealScheduler) run(p *realProc, fn func()) {
	id := gkey()
	s.mu.Lock()
	s.procs[id] = p
	s.mu.Unlock()
	// One deferred call, so that re-raising a bug panic below happens before
	// the bookkeeping: Wait must not return (and let a caller exit cleanly)
	// while the OS process is crashing.
	defer func() {
		// recover returns nil on a normal return and on Exit (Goexit).
		exit := Exit{Proc: p, Abnormal: p.killed.Load()}
		if exit.Abnormal {
			exit.Reason = "killed"
		}
		if r := recover(); r != nil {
			pe, ok := r.(*PanicError)
			if !ok {
				panic(r) // an engine bug: crash loudly, with the original stack
			}
			stack := debug.Stack()
			s.mu.Lock()
			s.failures = append(s.failures, Failure{Proc: p, Err: pe, Stack: stack})
			s.mu.Unlock()
			exit.Abnormal, exit.Reason = true, pe.Error()
		}
		s.mu.Lock()
		p.parent.exits = append(p.parent.exits, exit)
		delete(s.procs, id)
		s.running--
		if s.running == 0 {
			s.idle.Broadcast()
		}
		s.mu.Unlock()
	}()
	fn()
}

// Self returns the calling process (ID 0 "main" outside any process).
func (s *RealScheduler) Self() Proc { return s.self() }

func (s *RealScheduler) self() *realProc {
	id := gkey()
	s.mu.Lock()
	p, ok := s.procs[id]
	s.mu.Unlock()
	if !ok {
		return s.main
	}
	return p
}

// Yield is runtime.Gosched; a killed process ends here.
func (s *RealScheduler) Yield() {
	if s.self().killed.Load() {
		runtime.Goexit()
	}
	runtime.Gosched()
}

// Kill marks p killed. A goroutine cannot be stopped from outside: p ends
// at its next Yield (at once if it kills itself), and its parent's Reap
// then reports it abnormal. Under the simulator, Kill is immediate.
func (s *RealScheduler) Kill(p Proc) {
	rp, ok := p.(*realProc)
	if !ok || rp == s.main {
		return
	}
	rp.killed.Store(true)
	if rp == s.self() {
		runtime.Goexit()
	}
}

// Reap returns the calling process's ended children since its last Reap.
func (s *RealScheduler) Reap() []Exit {
	p := s.self()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := p.exits
	p.exits = nil
	return out
}

// Exit ends the calling goroutine with runtime.Goexit, running its deferred
// calls. It must be called from a process, not from main.
func (s *RealScheduler) Exit() { runtime.Goexit() }

// NewMutex returns a sync.Mutex-based lock.
func (s *RealScheduler) NewMutex(name string) Mutex { return &realMutex{name: name} }

// NewSpinLock returns a sync.Mutex-based lock: the OS scheduler has no
// scheduling points to save.
func (s *RealScheduler) NewSpinLock(name string) Mutex { return &realMutex{name: name} }

// NewCond returns a condition variable over m.
func (s *RealScheduler) NewCond(name string, m Mutex) Cond {
	return &realCond{name: name, m: m}
}

// Wait blocks until no spawned process is running (processes spawned while
// waiting are waited for too).
func (s *RealScheduler) Wait() {
	s.mu.Lock()
	for s.running > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}

// Running returns the number of processes still running.
func (s *RealScheduler) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Failures returns the processes that died with a *PanicError so far, in
// the order they died.
func (s *RealScheduler) Failures() []Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Failure(nil), s.failures...)
}

// ---------------------------------------------------------------------------
// Mutex and Cond

type realMutex struct {
	mu   sync.Mutex
	name string
}

func (m *realMutex) Lock()   { m.mu.Lock() }
func (m *realMutex) Unlock() { m.mu.Unlock() }

// realCond is a condition variable with timeouts: each waiter gets a
// channel, queued FIFO under c.mu (a lock private to the cond, so Signal and
// Broadcast may be called with or without m held, as with sync.Cond).
type realCond struct {
	name    string
	m       Mutex
	mu      sync.Mutex
	waiters []*condWaiter
}

type condWaiter struct {
	ch        chan struct{} // closed when signalled
	signalled bool          // guarded by realCond.mu
}

func (c *realCond) Wait() { c.wait(false, 0) }

func (c *realCond) WaitTimeout(d time.Duration) bool { return c.wait(true, d) }

// wait queues a waiter before releasing m, so a Signal issued by anyone who
// takes m after us cannot be lost. On timeout the waiter removes itself
// under c.mu; if a signal beat it there, the wait counts as signalled.
func (c *realCond) wait(timed bool, d time.Duration) bool {
	w := &condWaiter{ch: make(chan struct{})}
	c.mu.Lock()
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()

	c.m.Unlock()
	signalled := true
	if !timed {
		<-w.ch
	} else {
		t := time.NewTimer(max(d, 0))
		select {
		case <-w.ch:
		case <-t.C:
			c.mu.Lock()
			if !w.signalled {
				signalled = false
				for i, x := range c.waiters {
					if x == w {
						c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
						break
					}
				}
			}
			c.mu.Unlock()
		}
		t.Stop()
	}
	c.m.Lock()
	return signalled
}

// Signal wakes the longest-waiting waiter, if any.
func (c *realCond) Signal() {
	c.mu.Lock()
	if len(c.waiters) > 0 {
		w := c.waiters[0]
		c.waiters[0] = nil
		c.waiters = c.waiters[1:]
		w.signalled = true
		close(w.ch)
	}
	c.mu.Unlock()
}

// Broadcast wakes every waiter.
func (c *realCond) Broadcast() {
	c.mu.Lock()
	for _, w := range c.waiters {
		w.signalled = true
		close(w.ch)
	}
	c.waiters = nil
	c.mu.Unlock()
}

// ---------------------------------------------------------------------------
// Rand

// RealRand is a math/rand/v2 PCG source seeded from a seed, safe for
// concurrent use. Its sequence is reproducible for a seed only as long as
// math/rand/v2's PCG and IntN do not change, and the interleaving of
// concurrent callers is not reproducible at all.
type RealRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// NewRealRand returns a source seeded from seed.
func NewRealRand(seed uint64) *RealRand {
	return &RealRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Uint64 returns 64 random bits.
func (r *RealRand) Uint64() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Uint64()
}

// Intn returns a value in [0, n); it panics if n <= 0.
func (r *RealRand) Intn(n int) int {
	if n <= 0 {
		panic("env: Rand.Intn with n <= 0")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.IntN(n)
}

// ---------------------------------------------------------------------------
// Injector

// RealInjector ignores injection points unless a hook is set.
type RealInjector struct {
	hook atomic.Pointer[func(point string)]
}

// NewRealInjector returns an injector with no hook.
func NewRealInjector() *RealInjector { return &RealInjector{} }

// SetHook makes every later Inject call fn (in the injecting process); nil
// removes the hook.
func (i *RealInjector) SetHook(fn func(point string)) {
	if fn == nil {
		i.hook.Store(nil)
		return
	}
	i.hook.Store(&fn)
}

// Inject calls the hook, if any.
func (i *RealInjector) Inject(point string) {
	if fn := i.hook.Load(); fn != nil {
		(*fn)(point)
	}
}

// ---------------------------------------------------------------------------
// Logger

// RealLogger writes lines "<elapsed> [<proc name>] message" to a writer,
// one Write per line. Elapsed is the clock's Now in seconds with
// microsecond precision.
type RealLogger struct {
	mu    sync.Mutex
	w     io.Writer
	clock Clock
	sched Scheduler
}

// NewRealLogger returns a logger writing to w (os.Stderr if nil), stamping
// lines with clock.Now() and sched.Self().Name(). A nil clock or scheduler
// leaves that part out ("-").
func NewRealLogger(w io.Writer, clock Clock, sched Scheduler) *RealLogger {
	if w == nil {
		w = os.Stderr
	}
	return &RealLogger{w: w, clock: clock, sched: sched}
}

// Logf formats and writes one line. Write errors are ignored.
func (l *RealLogger) Logf(format string, args ...any) {
	elapsed, name := "-", "-"
	if l.clock != nil {
		elapsed = fmt.Sprintf("%.6f", l.clock.Now().Seconds())
	}
	if l.sched != nil {
		name = l.sched.Self().Name()
	}
	msg := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	line := elapsed + " [" + name + "] " + msg + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, line)
}
