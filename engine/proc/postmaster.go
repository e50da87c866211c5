package proc

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// Config is the server's configuration: the storage engine's, and the
// processes' own, each with PostgreSQL's default.
type Config struct {
	DB db.Config
	// Autovacuum turns the autovacuum launcher on (autovacuum = on).
	Autovacuum     bool
	AutovacuumConf AutovacuumConfig
	// ArchiveMode starts the archiver (archive_mode = on); the WAL then
	// keeps segments until they are archived.
	ArchiveMode bool
	Archiver    ArchiverConfig
	// ServerLoopTimeout is how long the postmaster's ServerLoop waits for
	// a connection before it looks for ended children again (PostgreSQL
	// learns of them by SIGCHLD at once; polling is the simulator's
	// stand-in for the signal). Under the simulator a child's abnormal
	// exit cuts the wait short, as SIGCHLD does, so that a PANIC's
	// crash-restart is not delayed (simtest/world's recordExit); the
	// startup loop's sleep still polls.
	ServerLoopTimeout time.Duration
	// PrimaryConninfo is primary_conninfo: where a standby's WAL
	// receiver connects. The zero Addr (a primary's) starts no receiver
	// and makes no WAL receiver shared memory.
	PrimaryConninfo env.Addr
	WalReceiver     WalReceiverConfig
	// MaxCrashRestarts bounds crash-restarts in one postmaster lifetime,
	// so that a fault that recurs forever ends the run instead of looping
	// (PostgreSQL has no bound; restart_after_crash = on).
	MaxCrashRestarts int
}

// DefaultConfig is PostgreSQL's defaults.
func DefaultConfig() Config {
	return Config{
		DB:                db.DefaultConfig(),
		Autovacuum:        true,
		AutovacuumConf:    DefaultAutovacuumConfig(),
		Archiver:          DefaultArchiverConfig(),
		WalReceiver:       DefaultWalReceiverConfig(),
		ServerLoopTimeout: time.Millisecond,
		MaxCrashRestarts:  100,
	}
}

// Validate rejects a configuration the server cannot run with.
func (c Config) Validate() error {
	if err := c.DB.Validate(); err != nil {
		return err
	}
	switch {
	case c.ServerLoopTimeout <= 0:
		return errors.New("the postmaster's server loop timeout must be positive")
	case c.MaxCrashRestarts < 0:
		return errors.New("max crash restarts must not be negative")
	}
	if c.PrimaryConninfo != (env.Addr{}) {
		return c.WalReceiver.Validate()
	}
	return nil
}

// pmState is the postmaster's state (PMState).
type pmState uint8

const (
	pmStartup  pmState = iota // PM_STARTUP: the startup process recovers
	pmRun                     // PM_RUN: accepting connections
	pmWaitDead                // PM_WAIT_DEAD_END: crash-restart, waiting for children to die
	pmDead                    // the postmaster gave up
)

// Postmaster is the postmaster (PostmasterMain, ServerLoop): it creates
// shared memory, starts the checkpointer and the background writer so they
// help with recovery, then the startup process (PostgreSQL 15's order),
// then, once recovery is done, the other auxiliary processes; it accepts
// connections and
// starts one backend per connection, up to max_connections. When any
// server process dies abnormally it performs PostgreSQL's crash-restart
// (HandleChildCrash, PostmasterStateMachine): terminate every other server
// process, end every client connection, reinitialise shared memory and run
// recovery again, then accept connections again.
type Postmaster struct {
	e   *env.Env // the postmaster's own environment (its Log is the logger)
	cfg Config
	l   *Listener
	log *Logger

	state      pmState
	gen        int              // shared-memory generation, bumped at each crash-restart
	shared     *db.DB           // the current generation's shared memory, from its creation
	shmem      *db.DB           // shared, once the startup process has recovered it (nil before)
	live       map[int]env.Proc // every server process of this generation, by id
	backends   map[int]*Conn    // by process id
	aux        map[int]string   // auxiliary process ids of this generation, by id
	restarts   int              // crash-restarts so far
	crashes    []string         // why each crash-restart happened
	crashTimes []time.Duration  // when each crash-restart began
	nBackends  int              // backends started, for their names
	fatal      error            // why the postmaster gave up, if it did
	onReady    func(d *db.DB)   // called when a generation starts accepting connections
	recovery   []db.RecoveryStats
}

// NewPostmaster makes the postmaster for a data directory already created
// by db.InitDB, serving connections made through l.
func NewPostmaster(e *env.Env, cfg Config, l *Listener) (*Postmaster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pm := &Postmaster{cfg: cfg, l: l, live: map[int]env.Proc{}, backends: map[int]*Conn{}, aux: map[int]string{}}
	pm.log = NewLogger(e)
	pe := *e
	pe.Log = pm.log
	pm.e = &pe
	return pm, nil
}

// OnReady registers fn, called in the postmaster each time a generation of
// shared memory is recovered and starts accepting connections.
func (pm *Postmaster) OnReady(fn func(d *db.DB)) { pm.onReady = fn }

// DB is the current generation's shared memory, nil while recovering.
func (pm *Postmaster) DB() *db.DB { return pm.shmem }

// Shared is the current generation's shared memory from the moment it is
// created, before the checkpointer, the background writer and the startup
// process attach to it, through recovery (RecoveryInProgress says which)
// and after; nil only between a crash-restart's kill and the next
// generation. Checkers that judge events during recovery read it.
func (pm *Postmaster) Shared() *db.DB { return pm.shared }

// Restarts is how many crash-restarts happened.
func (pm *Postmaster) Restarts() int { return pm.restarts }

// Crashes says, for each crash-restart, which process died and why.
func (pm *Postmaster) Crashes() []string { return pm.crashes }

// CrashTimes is when each crash-restart began, in the order of Crashes.
func (pm *Postmaster) CrashTimes() []time.Duration { return pm.crashTimes }

// Fatal is why the postmaster gave up, or nil.
func (pm *Postmaster) Fatal() error { return pm.fatal }

// Recoveries is what each recovery of this postmaster's life found.
func (pm *Postmaster) Recoveries() []db.RecoveryStats { return pm.recovery }

// Spawn is the Spawner of the current generation: the process is
// terminated by the next crash-restart.
func (pm *Postmaster) Spawn(role env.Role, name string, fn func()) env.Proc {
	p := pm.e.SpawnAs(role, name, fn)
	pm.live[p.ID()] = p
	return p
}

// Main is the postmaster process's body. It returns only when it gives up
// (a failed recovery, or too many crash-restarts); Fatal then says why.
func (pm *Postmaster) Main() {
	e := pm.e
	pm.e.SpawnAs(env.RoleLogger, "logger", pm.log.SysLoggerMain)
	for {
		if crashed, ok := pm.startup(); !ok {
			if pm.fatal != nil {
				return
			}
			pm.crashRestart(crashed)
			if pm.restarts >= pm.cfg.MaxCrashRestarts {
				pm.giveUp(fmt.Errorf("postmaster: %d crash-restarts; giving up", pm.restarts))
				return
			}
			continue
		}
		pm.startAuxiliaries()
		pm.state = pmRun
		pm.l.Listen()
		e.Logf("database system is ready to accept connections")
		if pm.onReady != nil {
			pm.onReady(pm.shmem)
		}
		crashed := pm.serverLoop()
		pm.crashRestart(crashed)
		if pm.restarts >= pm.cfg.MaxCrashRestarts {
			pm.giveUp(fmt.Errorf("postmaster: %d crash-restarts; giving up", pm.restarts))
			return
		}
	}
}

// startup creates the generation's shared memory, starts the checkpointer
// and the background writer, then runs the startup process to completion
// (PM_STARTUP), and reports whether it recovered. A startup process that
// dies is fatal, as in PostgreSQL ("aborting startup due to startup
// process failure"): Fatal is then set. The checkpointer or the
// background writer dying abnormally meanwhile (a PANIC in the
// end-of-recovery checkpoint, say) is a crash like any other
// (HandleChildCrash): startup returns it, not ok, for a crash-restart.
func (pm *Postmaster) startup() (crashed env.Exit, ok bool) {
	e := pm.e
	pm.state = pmStartup
	pm.shmem = nil
	d, err := db.NewShared(e, pm.cfg.DB)
	if err != nil {
		pm.giveUp(fmt.Errorf("could not create shared memory: %v", err))
		return env.Exit{}, false
	}
	pm.shared = d
	if pm.cfg.PrimaryConninfo != (env.Addr{}) {
		d.InitWalRcv() // WalRcvShmemInit: a standby's receiver state
	}
	// "Start bgwriter and checkpointer so they can help with recovery"
	// (PostmasterMain), then the startup process.
	pm.startAux("checkpointer")
	pm.startAux("bgwriter")
	var stats db.RecoveryStats
	done := false
	sp := pm.Spawn(env.RoleStartup, "startup", func() {
		StartupProcessMain(pm.e, d, func(st db.RecoveryStats) { stats, done = st, true })
	})
	for {
		for _, x := range e.Sched.Reap() {
			id := x.Proc.ID()
			if _, ours := pm.live[id]; !ours {
				continue // a process of the previous generation, already killed
			}
			delete(pm.live, id)
			if id == sp.ID() {
				if x.Abnormal || !done {
					pm.giveUp(fmt.Errorf("startup process failed: %s; aborting startup due to startup process failure", x.Reason))
					return env.Exit{}, false
				}
				pm.shmem = d
				pm.recovery = append(pm.recovery, stats)
				return env.Exit{}, true
			}
			if x.Abnormal {
				return x, false
			}
			if c, ok := pm.backends[id]; ok {
				c.Terminate() // a hot standby backend ended (hotstandby.go)
				delete(pm.backends, id)
				continue
			}
			name := pm.aux[id]
			delete(pm.aux, id)
			e.Logf("%s exited; restarting it", name)
			pm.startAux(name)
		}
		pm.maybeStartWalReceiver(d)
		if pm.hotStandbyServe(d) {
			continue
		}
		e.Clock.Sleep(pm.cfg.ServerLoopTimeout)
	}
}

// maybeStartWalReceiver starts the WAL receiver once the startup process
// has asked for streaming (the postmaster's PMSIGNAL_START_WALRECEIVER
// handling, MaybeStartWalReceiver), unless one runs already.
func (pm *Postmaster) maybeStartWalReceiver(d *db.DB) {
	rcv := d.WalRcv()
	if rcv == nil {
		return
	}
	if _, _, wanted := rcv.Wanted(); !wanted {
		return
	}
	for _, name := range pm.aux {
		if name == "walreceiver" {
			return
		}
	}
	pm.startAux("walreceiver")
}

func (pm *Postmaster) giveUp(err error) {
	pm.state = pmDead
	pm.fatal = err
	pm.l.Unlisten()
	pm.e.Logf("%v", err)
}

// startAuxiliaries starts the processes that run beside the backends
// once the startup is done (reaper's "start the auxiliary processes"):
// the checkpointer and the background writer run already.
func (pm *Postmaster) startAuxiliaries() {
	pm.startAux("walwriter")
	if pm.cfg.Autovacuum {
		pm.startAux("autovacuum launcher")
	}
	if pm.cfg.ArchiveMode {
		pm.startAux("archiver")
	}
}

// serverLoop accepts connections and reaps children until one dies
// abnormally, which it returns (ServerLoop, reaper).
func (pm *Postmaster) serverLoop() env.Exit {
	e := pm.e
	for {
		if c, ok := pm.l.Accept(pm.cfg.ServerLoopTimeout); ok {
			// canAcceptConnections' MaxLivePostmasterChildren: twice
			// the backends and WAL senders there may be. A backend
			// beyond max_connections is refused by its own
			// InitProcess (db.Connect), and a WAL sender, which has
			// reserved slots, is not (BackendMain).
			if len(pm.backends) >= 2*(pm.cfg.DB.MaxConnections+pm.cfg.DB.MaxWalSenders) {
				pm.l.Reject(c, pgerr.New(pgerr.TooManyConnections, "sorry, too many clients already"))
			} else {
				pm.startBackend(c)
			}
		}
		for _, x := range e.Sched.Reap() {
			id := x.Proc.ID()
			if _, ours := pm.live[id]; !ours {
				continue // killed by an earlier crash-restart, or the logger
			}
			delete(pm.live, id)
			if x.Abnormal {
				return x
			}
			if c, ok := pm.backends[id]; ok {
				c.Terminate() // the backend ended; its client sees the end
				delete(pm.backends, id)
			}
			if name, ok := pm.aux[id]; ok {
				// An auxiliary process never ends by itself; one that did
				// is restarted (reaper restarts the bgwriter and others).
				delete(pm.aux, id)
				e.Logf("%s exited; restarting it", name)
				pm.startAux(name)
			}
		}
	}
}

// startAux starts, or restarts, the auxiliary process name of this
// generation.
func (pm *Postmaster) startAux(name string) {
	e, d := pm.e, pm.shared
	var fn func()
	switch name {
	case "checkpointer":
		fn = func() { CheckpointerMain(e, d) }
	case "bgwriter":
		fn = func() { BackgroundWriterMain(e, d) }
	case "walwriter":
		fn = func() { WalWriterMain(e, d) }
	case "autovacuum launcher":
		fn = func() { AutovacuumLauncherMain(e, d, pm, pm.cfg.AutovacuumConf) }
	case "archiver":
		fn = func() {
			cfg := pm.cfg.Archiver
			cfg.Bugs = pm.cfg.DB.Bugs
			ArchiverMain(e, cfg)
		}
	case "walreceiver":
		fn = func() { WalReceiverMain(e, d, pm.cfg.PrimaryConninfo, pm.cfg.WalReceiver) }
	default:
		panic("proc: restarting an unknown auxiliary process " + name)
	}
	p := pm.Spawn(auxRole(name), name, fn)
	pm.aux[p.ID()] = name
}

// auxRole is the role of the auxiliary process the postmaster starts
// under name (the names are the postmaster's own, one per process kind, as
// PostgreSQL's BackendType has one description per type).
func auxRole(name string) env.Role {
	switch name {
	case "checkpointer":
		return env.RoleCheckpointer
	case "bgwriter":
		return env.RoleBgwriter
	case "walwriter":
		return env.RoleWalwriter
	case "autovacuum launcher":
		return env.RoleAutovacuumLauncher
	case "archiver":
		return env.RoleArchiver
	case "walreceiver":
		return env.RoleWalreceiver
	}
	panic("proc: no role for the auxiliary process " + name)
}

// startBackend forks a backend for an accepted connection (BackendStartup).
func (pm *Postmaster) startBackend(c *Conn) {
	d := pm.shmem
	pm.nBackends++
	p := pm.Spawn(env.RoleBackend, fmt.Sprintf("backend %d", pm.nBackends), func() { BackendMain(pm.e, d, c) })
	pm.backends[p.ID()] = c
}

// crashRestart is HandleChildCrash followed by the reinitialisation: stop
// accepting, terminate every other server process of this generation (they
// may have been in the middle of changing shared memory), end every client
// connection, and drop the shared memory; Main then runs recovery again.
func (pm *Postmaster) crashRestart(crashed env.Exit) {
	e := pm.e
	pm.state = pmWaitDead
	pm.restarts++
	e.Sometimes("crash-restart")
	why := fmt.Sprintf("server process %q (PID %d) was terminated: %s", crashed.Proc.Name(), crashed.Proc.ID(), crashed.Reason)
	pm.crashes = append(pm.crashes, why)
	pm.crashTimes = append(pm.crashTimes, e.Clock.Now())
	e.Logf("%s", why)
	e.Logf("terminating any other active server processes")
	pm.l.Unlisten()
	ids := make([]int, 0, len(pm.live))
	for id := range pm.live {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		e.Sched.Kill(pm.live[id])
	}
	ids = ids[:0]
	for id := range pm.backends {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		pm.backends[id].Terminate()
	}
	clear(pm.backends)
	clear(pm.aux)
	clear(pm.live)
	pm.shared, pm.shmem = nil, nil
	pm.gen++
	e.Logf("all server processes terminated; reinitializing")
}
