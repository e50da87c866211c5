// Package serve is pgdst serve: the engine on the operating system's
// files, clock and network (engine/env's real implementation), speaking
// PostgreSQL's wire protocol v3 (pgproto3, server side) to real clients,
// with SQL parsed by PostgreSQL's own parser (package sqlexec).
//
// The postmaster and every auxiliary process (checkpointer, background
// writer, WAL writer, autovacuum launcher) run as in the simulator, on
// env.NewReal's goroutines; client connections are accepted here, each
// served by a backend process of its own.
package serve

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/sqlexec"
)

// Config is pgdst serve's configuration.
type Config struct {
	// Listen is host:port. The host must be a loopback address unless
	// ListenAny is set.
	Listen    string
	ListenAny bool
	// DataDir is the data directory: initdb'd when empty, recovered when
	// not.
	DataDir string
	// MaxConnections is max_connections (0: PostgreSQL's 100).
	MaxConnections int
	// Log receives the server's log lines (nil: discarded).
	Log io.Writer
	// StartTimeout bounds initdb and recovery (0: 10 minutes).
	StartTimeout time.Duration
	// PasswordFile, when set, makes every connection authenticate with
	// SCRAM-SHA-256 against it (see LoadPasswordFile); empty: trust.
	PasswordFile string
}

// Server is a running pgdst serve.
type Server struct {
	cfg  Config
	e    *env.Env
	pm   *proc.Postmaster
	d    *db.DB
	cat  *sqlexec.Catalog
	ln   env.Listener
	addr string

	// passwords: nil under trust authentication.
	passwords *Passwords

	mu       sync.Mutex
	backends map[uint32]*backend // by process id
	nextPID  uint32
	stopping bool
	done     chan struct{} // closed when the server stops
	started  chan struct{} // closed once recovery is done
	exits    chan env.Exit
	err      error // why it stopped, when not by Shutdown
	wg       sync.WaitGroup
}

// IsLoopback says whether host names this machine's loopback interface.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start initdbs or recovers the data directory, starts the postmaster and
// its auxiliary processes, and listens. It returns once the server
// accepts connections.
func Start(cfg Config) (*Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %v", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("--listen %q: bad port", cfg.Listen)
	}
	if !IsLoopback(host) && !cfg.ListenAny {
		if cfg.PasswordFile != "" {
			return nil, fmt.Errorf("--listen %q is not a loopback address: pgdst serve has no SSL (passwords are SCRAM-SHA-256, but the session is not encrypted), so listening beyond this machine needs --listen-any", cfg.Listen)
		}
		return nil, fmt.Errorf("--listen %q is not a loopback address: pgdst serve trusts every client (no password), so listening beyond this machine needs --listen-any", cfg.Listen)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("--data is required")
	}
	var passwords *Passwords
	if cfg.PasswordFile != "" {
		// Before initdb or recovery: a bad file fails fast and touches
		// nothing.
		if passwords, err = LoadPasswordFile(cfg.PasswordFile); err != nil {
			return nil, err
		}
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = 100
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 10 * time.Minute
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	e, err := env.NewReal(cfg.DataDir, binary.LittleEndian.Uint64(seed[:]))
	if err != nil {
		return nil, err
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	e.Log = env.NewRealLogger(logw, e.Clock, e.Sched)
	realNet := e.Net

	dcfg := db.DefaultConfig()
	dcfg.MaxConnections = cfg.MaxConnections
	names, err := e.Disk.List(".")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		e.Logf("initdb: the data directory %s is empty; creating a cluster", cfg.DataDir)
		if err := db.InitDB(e, dcfg); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	} else if _, err := e.Disk.List("global"); err != nil {
		return nil, fmt.Errorf("%s is neither empty nor a pgdst data directory (no global/)", cfg.DataDir)
	}

	pcfg := proc.DefaultConfig()
	pcfg.DB = dcfg
	// The postmaster's server loop only reaps here (connections come
	// through this package's listener), so it may poll slowly.
	pcfg.ServerLoopTimeout = 50 * time.Millisecond
	pcfg.MaxCrashRestarts = 1
	pmEnv := *e
	pmEnv.Net = idleNet{clock: e.Clock}
	ready := make(chan *db.DB, 2)
	pm, err := proc.NewPostmaster(&pmEnv, pcfg, proc.NewListenerAt(&pmEnv, env.Addr{Node: "postmaster", Port: 1}))
	if err != nil {
		return nil, err
	}
	pm.OnReady(func(d *db.DB) { ready <- d })
	s := &Server{cfg: cfg, e: e, passwords: passwords, pm: pm, backends: map[uint32]*backend{}, done: make(chan struct{}), started: make(chan struct{}), exits: make(chan env.Exit, 64), nextPID: 1000}
	go s.reap()
	e.SpawnAs(env.RolePostmaster, "postmaster", pm.Main)
	gone := s.postmasterGone()
	select {
	case s.d = <-ready:
		close(s.started)
	case <-time.After(cfg.StartTimeout):
		return nil, fmt.Errorf("the server did not finish recovery within %v", cfg.StartTimeout)
	case err := <-gone:
		return nil, err
	}
	// The SQL catalog is read by a backend of its own, as every
	// catalog access is a backend's.
	if err := s.inBackend("catalog loader", func() error {
		ses, err := s.d.Connect()
		if err != nil {
			return err
		}
		defer ses.Close()
		s.cat, err = sqlexec.LoadCatalog(s.d, ses)
		return err
	}); err != nil {
		return nil, err
	}
	ln, err := realNet.Listen(env.Addr{Node: host, Port: port})
	if err != nil {
		return nil, fmt.Errorf("could not listen on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	s.addr = net.JoinHostPort(host, strconv.Itoa(ln.Addr().Port))
	e.Logf("listening on %s", s.addr)
	e.Logf("database system is ready to accept connections")
	go s.acceptLoop()
	go s.watch(ready)
	return s, nil
}

// reap collects the ended processes spawned outside any process (the
// postmaster and the backends are children of "main") and passes them
// on, until the server stops.
func (s *Server) reap() {
	for {
		for _, x := range s.e.Sched.Reap() {
			select {
			case s.exits <- x:
			case <-s.done:
				return
			}
		}
		select {
		case <-s.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postmasterGone waits for the postmaster to give up during startup.
func (s *Server) postmasterGone() <-chan error {
	ch := make(chan error, 1)
	go func() {
		for {
			select {
			case x := <-s.exits:
				if x.Proc.Name() == "postmaster" {
					err := s.pm.Fatal()
					if err == nil {
						err = fmt.Errorf("the postmaster exited: %s", x.Reason)
					}
					ch <- err
					return
				}
			case <-s.started:
				return
			}
		}
	}()
	return ch
}

// inBackend runs fn in a backend process and waits for it.
func (s *Server) inBackend(name string, fn func() error) error {
	ch := make(chan error, 1)
	finished := false
	s.e.SpawnAs(env.RoleBackend, name, func() {
		defer func() {
			if !finished {
				ch <- fmt.Errorf("%s: the process failed (PANIC)", name)
			}
		}()
		err := fn()
		finished = true
		ch <- err
	})
	return <-ch
}

// watch stops the server when a process dies abnormally or the
// postmaster crash-restarts: pgdst serve does not crash-restart (its
// backends are not the postmaster's), it exits, and the next start
// recovers from the WAL, as restart_after_crash = off does.
func (s *Server) watch(ready <-chan *db.DB) {
	for {
		select {
		case <-s.done:
			return
		case <-ready:
			s.fail(errors.New("the postmaster crash-restarted after a server process failed; exiting (restart pgdst serve to recover)"))
			return
		case x := <-s.exits:
			if x.Abnormal {
				s.fail(fmt.Errorf("server process %q (PID %d) was terminated: %s", x.Proc.Name(), x.Proc.ID(), x.Reason))
				return
			}
			if x.Proc.Name() == "postmaster" {
				s.fail(fmt.Errorf("the postmaster exited: %v", s.pm.Fatal()))
				return
			}
		}
	}
}

// fail stops the server abruptly, as a crash: no shutdown checkpoint.
func (s *Server) fail(err error) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.stopping = true
	s.err = err
	s.mu.Unlock()
	s.e.Logf("PANIC: %v", err)
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.terminateAll()
	close(s.done)
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.addr }

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is why the server stopped when it failed (nil after Shutdown).
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Server) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping || errors.Is(err, env.ErrNetClosed) {
				return
			}
			s.e.Logf("accept: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.startConn(nc)
		}()
	}
}

// terminateAll cancels every backend's statement and closes its socket:
// each backend then ends, rolling its transaction back.
func (s *Server) terminateAll() {
	s.mu.Lock()
	bs := make([]*backend, 0, len(s.backends))
	for _, b := range s.backends {
		bs = append(bs, b)
	}
	s.mu.Unlock()
	for _, b := range bs {
		b.terminate()
	}
}

// Shutdown is a fast shutdown (SIGTERM, SIGINT): stop accepting, end every
// session (their transactions roll back), then a shutdown checkpoint, so
// that the next start has nothing to redo.
func (s *Server) Shutdown(timeout time.Duration) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		<-s.done
		return s.err
	}
	s.stopping = true
	s.mu.Unlock()
	s.e.Logf("received fast shutdown request")
	_ = s.ln.Close()
	s.e.Logf("aborting any active transactions")
	s.terminateAll()
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(timeout):
		s.e.Logf("some backends did not end within %v; checkpointing anyway", timeout)
	}
	s.e.Logf("shutting down")
	err := s.inBackend("shutdown checkpoint", func() error { return s.d.RequestCheckpointWait(db.CheckpointForce) })
	if err != nil {
		s.e.Logf("shutdown checkpoint failed: %v", err)
	} else {
		s.e.Logf("database system is shut down")
	}
	close(s.done)
	return err
}

// idleNet is the postmaster's network: pgdst serve accepts the clients
// itself, so the postmaster's own socket never gets a connection (its
// Accept just waits out its deadline).
type idleNet struct{ clock env.Clock }

func (n idleNet) Node() string { return "postmaster" }
func (n idleNet) Listen(addr env.Addr) (env.Listener, error) {
	return &idleListener{clock: n.clock, addr: addr}, nil
}
func (n idleNet) Dial(addr env.Addr, _ time.Duration) (env.Conn, error) {
	return nil, &env.NetError{Op: "dial", Addr: addr, Err: env.ErrConnRefused}
}

type idleListener struct {
	clock    env.Clock
	addr     env.Addr
	mu       sync.Mutex
	deadline time.Duration
	closed   bool
}

func (l *idleListener) Accept() (env.Conn, error) {
	l.mu.Lock()
	d, closed := l.deadline, l.closed
	l.mu.Unlock()
	if closed {
		return nil, env.ErrNetClosed
	}
	if wait := d - l.clock.Now(); wait > 0 {
		l.clock.Sleep(wait)
	}
	return nil, env.ErrTimeout
}
func (l *idleListener) SetDeadline(t time.Duration) { l.mu.Lock(); l.deadline = t; l.mu.Unlock() }
func (l *idleListener) Close() error                { l.mu.Lock(); l.closed = true; l.mu.Unlock(); return nil }
func (l *idleListener) Addr() env.Addr              { return l.addr }
