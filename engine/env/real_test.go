package env

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// eventually polls cond until it holds, failing after a generous deadline.
// The deadline is only an upper bound; it never decides a passing result.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func TestNewRealCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "pgdata")
	e, err := NewReal(dir, 1)
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, fi.IsDir())
	require.NotNil(t, e.Clock)
	require.NotNil(t, e.Disk)
	require.NotNil(t, e.Sched)
	require.NotNil(t, e.Rand)
	require.NotNil(t, e.Points)
	require.NotNil(t, e.Log)
	e.Inject("no-op") // no hook: nothing happens
}

func TestOSDiskRoundTrip(t *testing.T) {
	root := t.TempDir()
	d, err := NewOSDisk(root)
	require.NoError(t, err)

	require.NoError(t, d.MkdirAll("base/1"))
	f, err := d.Open("base/1/1259", OpenCreateExcl)
	require.NoError(t, err)
	require.Equal(t, "base/1/1259", f.Path())

	n, err := f.WriteAt([]byte("hello, world"), 0)
	require.NoError(t, err)
	require.Equal(t, 12, n)
	n, err = f.WriteAt([]byte("WORLD"), 7)
	require.NoError(t, err)
	require.Equal(t, 5, n)
	require.NoError(t, f.Sync())

	buf := make([]byte, 12)
	n, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, 12, n)
	require.Equal(t, "hello, WORLD", string(buf))

	// A read past the end is short with io.EOF, unwrapped.
	n, err = f.ReadAt(buf, 7)
	require.Equal(t, 5, n)
	require.Equal(t, io.EOF, err)

	size, err := f.Size()
	require.NoError(t, err)
	require.Equal(t, int64(12), size)

	require.NoError(t, f.Truncate(5))
	size, err = f.Size()
	require.NoError(t, err)
	require.Equal(t, int64(5), size)
	require.NoError(t, f.Close())
	require.ErrorIs(t, f.Close(), ErrClosed)

	// The file really is on the OS disk under the root.
	raw, err := os.ReadFile(filepath.Join(root, "base", "1", "1259"))
	require.NoError(t, err)
	require.Equal(t, "hello", string(raw))

	// OpenExisting and OpenCreate on an existing file keep its contents.
	f, err = d.Open("base/1/1259", OpenExisting)
	require.NoError(t, err)
	size, err = f.Size()
	require.NoError(t, err)
	require.Equal(t, int64(5), size)
	require.NoError(t, f.Close())
	f, err = d.Open("base/1/1259", OpenCreate)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	// List is sorted and gives names, not paths.
	for _, name := range []string{"c", "a", "b"} {
		f, err := d.Open("base/1/"+name, OpenCreate)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	names, err := d.List("base/1")
	require.NoError(t, err)
	require.Equal(t, []string{"1259", "a", "b", "c"}, names)
	names, err = d.List("")
	require.NoError(t, err)
	require.Equal(t, []string{"base"}, names)

	require.NoError(t, d.Rename("base/1/1259", "base/1/z"))
	require.NoError(t, d.Rename("base/1/a", "base/1/b")) // replaces b
	names, err = d.List("base/1")
	require.NoError(t, err)
	require.Equal(t, []string{"b", "c", "z"}, names)

	require.NoError(t, d.Remove("base/1/c"))
	names, err = d.List("base/1")
	require.NoError(t, err)
	require.Equal(t, []string{"b", "z"}, names)

	require.NoError(t, d.SyncDir("base/1"))
	require.NoError(t, d.SyncDir(""))
	require.NoError(t, d.SyncDir("."))
}

func TestOSDiskErrors(t *testing.T) {
	root := t.TempDir()
	d, err := NewOSDisk(root)
	require.NoError(t, err)

	f, err := d.Open("x", OpenCreateExcl)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	_, err = d.Open("x", OpenCreateExcl)
	require.ErrorIs(t, err, ErrExist)
	require.Contains(t, err.Error(), "x")
	require.NotContains(t, err.Error(), root, "errors name the relative path")

	_, err = d.Open("missing", OpenExisting)
	require.ErrorIs(t, err, ErrNotExist)
	require.Contains(t, err.Error(), "missing")

	_, err = d.Open("x", OpenFlag(99))
	require.ErrorIs(t, err, fs.ErrInvalid)

	require.ErrorIs(t, d.Remove("missing"), ErrNotExist)
	require.ErrorIs(t, d.Rename("missing", "y"), ErrNotExist)
	_, err = d.List("missing")
	require.ErrorIs(t, err, ErrNotExist)
	require.ErrorIs(t, d.SyncDir("missing"), ErrNotExist)

	for _, bad := range []string{"..", "../x", "a/../../x", "/etc/passwd", "/"} {
		_, err := d.Open(bad, OpenCreate)
		require.ErrorIs(t, err, fs.ErrInvalid, bad)
		require.Contains(t, err.Error(), bad)
		require.ErrorIs(t, d.Remove(bad), fs.ErrInvalid, bad)
		require.ErrorIs(t, d.Rename("x", bad), fs.ErrInvalid, bad)
		require.ErrorIs(t, d.Rename(bad, "x"), fs.ErrInvalid, bad)
		_, err = d.List(bad)
		require.ErrorIs(t, err, fs.ErrInvalid, bad)
		require.ErrorIs(t, d.MkdirAll(bad), fs.ErrInvalid, bad)
		require.ErrorIs(t, d.SyncDir(bad), fs.ErrInvalid, bad)
	}
	_, err = os.Stat(filepath.Join(filepath.Dir(root), "x"))
	require.ErrorIs(t, err, ErrNotExist, "nothing was created outside the root")

	// ".." that stays inside the root is fine.
	f, err = d.Open("sub/../x", OpenExisting)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func TestClock(t *testing.T) {
	c := NewRealClock()
	a := c.Now()
	require.GreaterOrEqual(t, a, time.Duration(0))
	c.Sleep(2 * time.Millisecond)
	b := c.Now()
	require.GreaterOrEqual(t, b-a, 2*time.Millisecond)
}

func TestSchedulerCounter(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("counter")
	const procs, incs = 50, 200
	counter := 0
	ids := make(map[int]bool)
	for i := 0; i < procs; i++ {
		p := s.Spawn("worker", func() {
			for j := 0; j < incs; j++ {
				m.Lock()
				counter++
				m.Unlock()
				if j%50 == 0 {
					s.Yield()
				}
			}
		})
		require.Equal(t, i+1, p.ID(), "IDs start at 1 and increase")
		require.Equal(t, "worker", p.Name())
		ids[p.ID()] = true
	}
	s.Wait()
	require.Equal(t, 0, s.Running())
	require.Len(t, ids, procs)
	m.Lock()
	require.Equal(t, procs*incs, counter)
	m.Unlock()
	require.Empty(t, s.Failures())
}

func TestSchedulerSelf(t *testing.T) {
	s := NewRealScheduler()
	require.Equal(t, 0, s.Self().ID())
	require.Equal(t, "main", s.Self().Name())

	var parentSelf, childSelf, child Proc
	parent := s.Spawn("parent", func() {
		parentSelf = s.Self()
		child = s.Spawn("child", func() {
			childSelf = s.Self()
		})
	})
	s.Wait() // also waits for the child spawned while waiting
	require.Same(t, parent, parentSelf)
	require.Same(t, child, childSelf)
	require.Equal(t, "child", childSelf.Name())
	require.Equal(t, 2, childSelf.ID())
	s.mu.Lock()
	require.Empty(t, s.procs, "finished processes are unregistered")
	s.mu.Unlock()
}

func TestSchedulerExitRunsDefers(t *testing.T) {
	s := NewRealScheduler()
	deferred, after := false, false
	s.Spawn("exiter", func() {
		defer func() { deferred = true }()
		s.Exit()
		after = true
	})
	s.Wait()
	require.True(t, deferred)
	require.False(t, after)
	require.Empty(t, s.Failures())
}

func TestSchedulerPanicErrorRecorded(t *testing.T) {
	s := NewRealScheduler()
	deferred := false
	p := s.Spawn("checkpointer", func() {
		defer func() { deferred = true }()
		Panicf("could not fsync file %q", "pg_wal/000000010000000000000001")
	})
	ok := s.Spawn("bystander", func() {})
	s.Wait()
	require.True(t, deferred)
	fails := s.Failures()
	require.Len(t, fails, 1)
	require.Same(t, p, fails[0].Proc)
	require.NotSame(t, ok, fails[0].Proc)
	require.Equal(t, `could not fsync file "pg_wal/000000010000000000000001"`, fails[0].Err.Msg)
	require.Contains(t, fails[0].Err.Error(), "PANIC: ")
	require.NotEmpty(t, fails[0].Stack)
}

// startWaiters spawns n processes that wait on c until *tokens > 0, then
// take a token and count themselves in *woken. It returns once all n are
// blocked in Wait (registered on c and m released).
func startWaiters(t *testing.T, s *RealScheduler, m Mutex, c Cond, n int, tokens, woken *int) {
	t.Helper()
	waiting := 0
	for i := 0; i < n; i++ {
		s.Spawn("waiter", func() {
			m.Lock()
			waiting++
			for *tokens == 0 {
				c.Wait()
			}
			*tokens--
			*woken++
			m.Unlock()
		})
	}
	// Each waiter counts itself and enters Wait, which queues it before
	// releasing m; so once we hold m and see n, all n are queued.
	eventually(t, "waiters to block", func() bool {
		m.Lock()
		defer m.Unlock()
		return waiting == n
	})
}

func condWaiters(c Cond) int {
	rc := c.(*realCond)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.waiters)
}

func TestCondSignal(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	c := s.NewCond("c", m)
	tokens, woken := 0, 0
	startWaiters(t, s, m, c, 3, &tokens, &woken)
	require.Equal(t, 3, condWaiters(c))

	for i := 1; i <= 3; i++ {
		m.Lock()
		tokens++
		c.Signal()
		require.Equal(t, 3-i, condWaiters(c), "Signal wakes exactly one")
		m.Unlock()
		eventually(t, "one more waiter to wake", func() bool {
			m.Lock()
			defer m.Unlock()
			return woken == i
		})
	}
	s.Wait()
	require.Equal(t, 0, tokens)
	c.Signal() // with no waiters: no effect
	require.Equal(t, 0, condWaiters(c))
}

func TestCondSignalIsFIFO(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	c := s.NewCond("c", m)
	var order []int
	for i := 0; i < 3; i++ {
		s.Spawn("waiter", func() {
			m.Lock()
			c.Wait()
			order = append(order, i)
			m.Unlock()
		})
		eventually(t, "waiter to queue", func() bool { return condWaiters(c) == i+1 })
	}
	for i := 0; i < 3; i++ {
		m.Lock()
		c.Signal()
		m.Unlock()
		eventually(t, "waiter to run", func() bool {
			m.Lock()
			defer m.Unlock()
			return len(order) == i+1
		})
	}
	s.Wait()
	require.Equal(t, []int{0, 1, 2}, order)
}

func TestCondBroadcast(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	c := s.NewCond("c", m)
	tokens, woken := 0, 0
	startWaiters(t, s, m, c, 5, &tokens, &woken)
	m.Lock()
	tokens = 5
	c.Broadcast()
	require.Equal(t, 0, condWaiters(c))
	m.Unlock()
	s.Wait()
	require.Equal(t, 5, woken)
	require.Equal(t, 0, tokens)
}

func TestCondWaitTimeoutExpires(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	c := s.NewCond("c", m)
	clock := NewRealClock()

	m.Lock()
	start := clock.Now()
	signalled := c.WaitTimeout(5 * time.Millisecond)
	elapsed := clock.Now() - start
	require.False(t, signalled)
	require.GreaterOrEqual(t, elapsed, 5*time.Millisecond)
	require.Equal(t, 0, condWaiters(c), "a timed-out waiter removes itself")
	m.Unlock() // WaitTimeout returned holding m: this would fatal otherwise

	m.Lock()
	require.False(t, c.WaitTimeout(0))
	require.False(t, c.WaitTimeout(-time.Second))
	m.Unlock()
	require.Equal(t, 0, condWaiters(c))
}

func TestCondWaitTimeoutSignalled(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	c := s.NewCond("c", m)
	var result *bool
	s.Spawn("waiter", func() {
		m.Lock()
		r := c.WaitTimeout(time.Minute) // upper bound only
		result = &r
		m.Unlock()
	})
	eventually(t, "waiter to queue", func() bool { return condWaiters(c) == 1 })
	m.Lock()
	c.Signal()
	m.Unlock()
	s.Wait()
	require.NotNil(t, result)
	require.True(t, *result)
}

// TestCondNoLostWakeup runs a producer/consumer hand-off through untimed
// Wait; a lost wakeup would hang it (caught by the eventually bound).
func TestCondNoLostWakeup(t *testing.T) {
	s := NewRealScheduler()
	m := s.NewMutex("m")
	notEmpty := s.NewCond("notEmpty", m)
	const consumers, items = 4, 400
	queue, consumed := 0, 0
	for i := 0; i < consumers; i++ {
		s.Spawn("consumer", func() {
			for {
				m.Lock()
				for queue == 0 && consumed < items {
					// Mix timed and untimed waits.
					if i%2 == 0 {
						notEmpty.Wait()
					} else {
						notEmpty.WaitTimeout(time.Millisecond)
					}
				}
				if consumed == items {
					m.Unlock()
					return
				}
				queue--
				consumed++
				if consumed == items {
					notEmpty.Broadcast()
				}
				m.Unlock()
			}
		})
	}
	s.Spawn("producer", func() {
		for i := 0; i < items; i++ {
			m.Lock()
			queue++
			notEmpty.Signal()
			m.Unlock()
			if i%16 == 0 {
				s.Yield()
			}
		}
	})
	eventually(t, "all items consumed", func() bool { return s.Running() == 0 })
	s.Wait()
	require.Equal(t, items, consumed)
	require.Equal(t, 0, queue)
}

func TestRealRand(t *testing.T) {
	a, b, c := NewRealRand(42), NewRealRand(42), NewRealRand(43)
	same, differ := true, false
	for i := 0; i < 100; i++ {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		same = same && x == y
		differ = differ || x != z
	}
	require.True(t, same, "same seed, same sequence")
	require.True(t, differ, "different seed, different sequence")
	for i := 0; i < 1000; i++ {
		v := a.Intn(7)
		require.True(t, v >= 0 && v < 7)
	}
	require.Equal(t, 0, a.Intn(1))
	require.Panics(t, func() { a.Intn(0) })

	// Safe for concurrent use (checked by -race).
	s := NewRealScheduler()
	for i := 0; i < 8; i++ {
		s.Spawn("r", func() {
			for j := 0; j < 100; j++ {
				a.Intn(100)
			}
		})
	}
	s.Wait()
}

func TestRealInjector(t *testing.T) {
	in := NewRealInjector()
	in.Inject("before-hook") // no-op
	var got []string
	in.SetHook(func(p string) { got = append(got, p) })
	e := &Env{Points: in}
	e.Inject("checkpoint-before-fsync")
	in.SetHook(nil)
	e.Inject("ignored")
	require.Equal(t, []string{"checkpoint-before-fsync"}, got)
}

func TestRealLogger(t *testing.T) {
	var buf bytes.Buffer
	s := NewRealScheduler()
	l := NewRealLogger(&buf, NewRealClock(), s)
	e := &Env{Log: l}
	e.Logf("starting %d", 1)
	s.Spawn("walwriter", func() { e.Logf("flushed to %X\n", 255) })
	s.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	re := regexp.MustCompile(`^\d+\.\d{6} \[(\w+)\] (.*)$`)
	m0 := re.FindStringSubmatch(lines[0])
	require.NotNil(t, m0, lines[0])
	require.Equal(t, []string{"main", "starting 1"}, m0[1:])
	m1 := re.FindStringSubmatch(lines[1])
	require.NotNil(t, m1, lines[1])
	require.Equal(t, []string{"walwriter", "flushed to FF"}, m1[1:])

	// Without clock or scheduler, and with a nil writer (stderr).
	var buf2 bytes.Buffer
	NewRealLogger(&buf2, nil, nil).Logf("x")
	require.Equal(t, "- [-] x\n", buf2.String())
	require.NotNil(t, NewRealLogger(nil, nil, nil).w)
}

func TestInterfacesSatisfied(*testing.T) {
	var (
		_ Clock     = (*RealClock)(nil)
		_ Disk      = (*OSDisk)(nil)
		_ File      = (*osFile)(nil)
		_ Scheduler = (*RealScheduler)(nil)
		_ Rand      = (*RealRand)(nil)
		_ Injector  = (*RealInjector)(nil)
		_ Logger    = (*RealLogger)(nil)
	)
}

// TestSchedulerOtherPanicCrashes checks that a panic that is not a
// *PanicError (an engine bug) is re-raised and kills the OS process. It runs
// the crash in a child test process.
func TestSchedulerOtherPanicCrashes(t *testing.T) {
	if os.Getenv("PGDST_ENV_CRASH_CHILD") == "1" {
		s := NewRealScheduler()
		s.Spawn("buggy", func() { panic("index out of range, say") })
		s.Wait()
		os.Exit(0) // not reached
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSchedulerOtherPanicCrashes$")
	cmd.Env = append(os.Environ(), "PGDST_ENV_CRASH_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, string(out))
	require.Contains(t, string(out), "index out of range, say")
}
