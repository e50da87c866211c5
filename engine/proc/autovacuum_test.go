package proc_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// avSpawner stands in for the postmaster: it starts the launcher's
// workers as plain simulated processes and watches how many run at once.
// The simulator runs one process at a time, so plain counters do.
type avSpawner struct {
	e                   *env.Env
	delay               time.Duration // before each worker starts: a slow fork
	names               []string
	running, maxRunning int
}

func (s *avSpawner) Spawn(role env.Role, name string, fn func()) env.Proc {
	if role != env.RoleAutovacuumWorker {
		panic("the launcher spawns workers only")
	}
	s.names = append(s.names, name)
	s.running++
	s.maxRunning = max(s.maxRunning, s.running)
	return s.e.SpawnAs(role, name, func() {
		defer func() { s.running-- }()
		if s.delay > 0 {
			s.e.Clock.Sleep(s.delay)
		}
		fn()
	})
}

// avLog keeps the log lines and passes them on.
type avLog struct {
	next  env.Logger
	lines []string
}

func (l *avLog) Logf(format string, args ...any) {
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	if l.next != nil {
		l.next.Logf(format, args...)
	}
}

func avDBConfig() db.Config {
	cfg := db.DefaultConfig()
	cfg.SharedBuffers = 64
	cfg.MaxConnections = 16
	cfg.WAL = wal.Config{SegmentSize: wal.SegmentSizeMin}
	return cfg
}

// avBoot makes a cluster with the given tables and opens it.
func avBoot(e *env.Env, cfg db.Config, tables ...string) *db.DB {
	simt.Must(db.InitDB(e, cfg))
	d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
	simt.Must(err)
	for _, name := range tables {
		simt.Must(d.CreateTable(name))
	}
	return d
}

func avConnect(d *db.DB) *db.Session {
	s, err := d.Connect()
	simt.Must(err)
	return s
}

// avChurn inserts rows [0, n) into table, updates every row rounds times
// and deletes the first del rows: rounds*n + del dead versions, n - del
// live rows.
func avChurn(s *db.Session, table string, n, rounds, del int) {
	for k := range n {
		simt.Must(s.Insert(table, uint64(k), []byte("v0")))
	}
	for r := 1; r <= rounds; r++ {
		for k := range n {
			ok, err := s.Update(table, uint64(k), fmt.Appendf(nil, "v%d", r))
			simt.Must(err)
			simt.Check(ok, "update of %s/%d found no row", table, k)
		}
	}
	for k := range del {
		ok, err := s.Delete(table, uint64(k))
		simt.Must(err)
		simt.Check(ok, "delete of %s/%d found no row", table, k)
	}
}

// avUpdates updates rows [lo, lo+span) round-robin, n updates in all.
func avUpdates(s *db.Session, table string, lo, span, n int) {
	for i := range n {
		_, err := s.Update(table, uint64(lo+i%span), fmt.Appendf(nil, "u%d", i))
		simt.Must(err)
	}
}

func avStats(d *db.DB, table string) db.TableStats {
	st, ok := d.TableStats(table)
	simt.Check(ok, "no statistics for %q", table)
	return st
}

// avStop kills the launcher and waits, bounded, for its workers to end.
func avStop(e *env.Env, launcher env.Proc, sp *avSpawner) {
	e.Sched.Kill(launcher)
	for i := 0; sp.running > 0; i++ {
		simt.Check(i < 1000, "autovacuum workers still running")
		e.Clock.Sleep(time.Second)
	}
}

func TestAutovacuumConfig(t *testing.T) {
	c := proc.DefaultAutovacuumConfig()
	require.Equal(t, proc.AutovacuumConfig{Naptime: time.Minute, MaxWorkers: 3, VacuumThreshold: 50, VacuumScaleFactor: 0.2}, c)
	require.NoError(t, c.Validate())
	for _, bad := range []func(*proc.AutovacuumConfig){
		func(c *proc.AutovacuumConfig) { c.Naptime = 0 },
		func(c *proc.AutovacuumConfig) { c.MaxWorkers = 0 },
		func(c *proc.AutovacuumConfig) { c.VacuumThreshold = -1 },
		func(c *proc.AutovacuumConfig) { c.VacuumScaleFactor = -0.1 },
		func(c *proc.AutovacuumConfig) { c.VacuumScaleFactor = 101 },
	} {
		c := proc.DefaultAutovacuumConfig()
		bad(&c)
		require.Error(t, c.Validate(), "%+v", c)
	}
}

// NeedsVacuum is relation_needs_vacanalyze's test: strictly more dead
// tuples than threshold + scale factor × reltuples, with a never-vacuumed
// table's reltuples (-1) taken as 0.
func TestNeedsVacuum(t *testing.T) {
	cfg := proc.DefaultAutovacuumConfig()
	for _, c := range []struct {
		reltuples, dead int64
		want            bool
	}{
		{-1, 50, false}, {-1, 51, true}, {0, 50, false}, {0, 51, true},
		{100, 70, false}, {100, 71, true}, {1000, 250, false}, {1000, 251, true},
		{15, 53, false}, {15, 54, true}, // 50 + 0.2*15 = 53
	} {
		st := db.TableStats{Reltuples: c.reltuples, NDeadTup: c.dead}
		require.Equal(t, c.want, proc.NeedsVacuum(st, cfg), "%+v", c)
	}
	cfg.VacuumScaleFactor = 0
	require.False(t, proc.NeedsVacuum(db.TableStats{Reltuples: 1 << 40, NDeadTup: 50}, cfg))
	require.True(t, proc.NeedsVacuum(db.TableStats{Reltuples: 1 << 40, NDeadTup: 51}, cfg))
}

// The launcher starts a worker on each table over its threshold after a
// naptime, never more than autovacuum_max_workers at once, never one on a
// table below it; the workers remove the dead tuples and reset the count;
// after the vacuum the scale factor raises the threshold by the table's
// size.
func TestAutovacuumVacuumsTablesOverThreshold(t *testing.T) {
	hot := []string{"h1", "h2", "h3", "h4", "h5"}
	sawMax := false
	for seed := uint64(1); seed <= 4; seed++ {
		node := simt.Sim(t, seed, func(e *env.Env) {
			cfg := proc.DefaultAutovacuumConfig()
			cfg.MaxWorkers = 2
			d := avBoot(e, avDBConfig(), append([]string{"q"}, hot...)...)
			s := avConnect(d)
			for _, name := range hot[:4] {
				avChurn(s, name, 20, 3, 5) // 65 dead, 15 live
			}
			// h5: aborted inserts leave dead tuples.
			simt.Must(s.Begin(db.ReadCommitted))
			for k := range 60 {
				simt.Must(s.Insert("h5", uint64(k), []byte("gone")))
			}
			simt.Must(s.Rollback())
			avChurn(s, "q", 20, 0, 0)
			avUpdates(s, "q", 0, 20, 10) // 10 dead: below 50
			for _, name := range hot[:4] {
				st := avStats(d, name)
				simt.Check(st.NDeadTup == 65 && st.NLiveTup == 15, "%s before: %+v", name, st)
			}
			st := avStats(d, "h5")
			simt.Check(st.NDeadTup == 60 && st.NLiveTup == 0 && st.NTupIns == 60, "h5 before: %+v", st)

			sp := &avSpawner{e: e}
			launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
			e.Clock.Sleep(cfg.Naptime - time.Millisecond)
			simt.Check(len(sp.names) == 0, "seed %d: workers %v before the first naptime", seed, sp.names)
			vacuumed := func() bool {
				for _, name := range hot {
					if avStats(d, name).VacuumCount == 0 {
						return false
					}
				}
				return sp.running == 0
			}
			for i := 0; !vacuumed(); i++ {
				simt.Check(i < 10, "seed %d: tables not vacuumed after %d naptimes; workers %v", seed, i, sp.names)
				e.Clock.Sleep(cfg.Naptime)
			}
			simt.Check(sp.maxRunning <= cfg.MaxWorkers, "seed %d: %d workers at once", seed, sp.maxRunning)
			sawMax = sawMax || sp.maxRunning == cfg.MaxWorkers
			want := []string{"autovacuum worker 1", "autovacuum worker 2", "autovacuum worker 3", "autovacuum worker 4", "autovacuum worker 5"}
			simt.Check(slices.Equal(sp.names, want), "seed %d: workers %v", seed, sp.names)
			for _, name := range hot {
				st := avStats(d, name)
				live := int64(15)
				if name == "h5" {
					live = 0
				}
				simt.Check(st.NDeadTup == 0 && st.VacuumCount == 1 && st.NLiveTup == live && st.Reltuples == live,
					"seed %d: %s after autovacuum: %+v", seed, name, st)
				n, err := d.CheckTable(name)
				simt.Must(err)
				simt.Check(int64(n) == live, "seed %d: %s has %d rows", seed, name, n)
			}
			st = avStats(d, "q")
			simt.Check(st.VacuumCount == 0 && st.NDeadTup == 10, "seed %d: q below threshold was vacuumed: %+v", seed, st)

			// h1 now has reltuples 15: its threshold is 50 + 0.2*15 = 53.
			avUpdates(s, "h1", 5, 15, 53)
			e.Clock.Sleep(2 * cfg.Naptime)
			simt.Check(len(sp.names) == 5, "seed %d: a worker at the threshold: %v", seed, sp.names)
			avUpdates(s, "h1", 5, 15, 1)
			for i := 0; avStats(d, "h1").VacuumCount < 2 || sp.running > 0; i++ {
				simt.Check(i < 10, "seed %d: h1 over its scaled threshold not vacuumed", seed)
				e.Clock.Sleep(cfg.Naptime)
			}
			simt.Check(len(sp.names) == 6, "seed %d: workers %v", seed, sp.names)
			st = avStats(d, "h1")
			simt.Check(st.NDeadTup == 0 && st.Reltuples == 15, "seed %d: h1 after second autovacuum: %+v", seed, st)
			avStop(e, launcher, sp)
		})
		require.True(t, node.Reached.Has("autovacuum-ran"), "seed %d: %v", seed, node.Reached.Names())
	}
	require.True(t, sawMax, "no seed ran autovacuum_max_workers workers at once")
}

// A table with exactly the threshold's dead tuples gets no worker, however
// long the launcher runs; one more dead tuple and it does.
func TestAutovacuumBelowThresholdNothingRuns(t *testing.T) {
	simt.Sim(t, 7, func(e *env.Env) {
		cfg := proc.DefaultAutovacuumConfig()
		d := avBoot(e, avDBConfig(), "t", "u")
		s := avConnect(d)
		avChurn(s, "t", 10, 5, 0) // 50 dead
		avChurn(s, "u", 20, 0, 0) // none
		// Uncommitted changes do not count: a long transaction's 100
		// updates are invisible to autovacuum until it ends.
		open := avConnect(d)
		simt.Must(open.Begin(db.ReadCommitted))
		avUpdates(open, "u", 0, 10, 100)
		// Deletes rolled back leave nothing dead.
		simt.Must(s.Begin(db.ReadCommitted))
		for k := 10; k < 20; k++ {
			_, err := s.Delete("u", uint64(k))
			simt.Must(err)
		}
		simt.Must(s.Rollback())
		simt.Check(avStats(d, "t").NDeadTup == 50, "t: %+v", avStats(d, "t"))
		simt.Check(avStats(d, "u").NDeadTup == 0, "u: %+v", avStats(d, "u"))

		sp := &avSpawner{e: e}
		launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
		e.Clock.Sleep(5*cfg.Naptime + time.Second)
		simt.Check(len(sp.names) == 0, "workers below the threshold: %v", sp.names)
		simt.Must(open.Commit())
		simt.Check(avStats(d, "u").NDeadTup == 100, "u: %+v", avStats(d, "u"))
		avUpdates(s, "t", 0, 10, 1)
		for i := 0; avStats(d, "t").VacuumCount == 0 || avStats(d, "u").VacuumCount == 0 || sp.running > 0; i++ {
			simt.Check(i < 5, "t and u over the threshold not vacuumed: %v", sp.names)
			e.Clock.Sleep(cfg.Naptime)
		}
		simt.Check(len(sp.names) == 2, "workers %v", sp.names)
		for _, c := range []struct {
			name string
			rows int
		}{{"t", 10}, {"u", 20}} {
			name, rows := c.name, c.rows
			n, err := d.CheckTable(name)
			simt.Must(err)
			simt.Check(n == rows, "%s has %d rows", name, n)
			simt.Check(avStats(d, name).NDeadTup == 0, "%s: %+v", name, avStats(d, name))
		}
		avStop(e, launcher, sp)
	})
}

// While a worker is on a table, later rounds leave the table alone, even
// though its statistics still say it needs vacuum; other tables get their
// own workers meanwhile.
func TestAutovacuumOneWorkerPerTable(t *testing.T) {
	simt.Sim(t, 5, func(e *env.Env) {
		cfg := proc.DefaultAutovacuumConfig()
		d := avBoot(e, avDBConfig(), "a", "b")
		s := avConnect(d)
		avChurn(s, "a", 20, 3, 0)
		sp := &avSpawner{e: e, delay: 10 * cfg.Naptime} // ten rounds pass before it vacuums
		launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
		e.Clock.Sleep(5*cfg.Naptime + time.Second)
		simt.Check(slices.Equal(sp.names, []string{"autovacuum worker 1"}) && sp.running == 1, "workers %v, %d running", sp.names, sp.running)
		simt.Check(avStats(d, "a").NDeadTup == 60, "a: %+v", avStats(d, "a"))
		avChurn(s, "b", 20, 3, 0)
		e.Clock.Sleep(cfg.Naptime)
		simt.Check(len(sp.names) == 2 && sp.running == 2, "workers %v, %d running", sp.names, sp.running)
		for i := 0; sp.running > 0; i++ {
			simt.Check(i < 20, "workers still running")
			e.Clock.Sleep(cfg.Naptime)
		}
		simt.Check(len(sp.names) == 2, "workers %v", sp.names)
		for _, name := range []string{"a", "b"} {
			st := avStats(d, name)
			simt.Check(st.VacuumCount == 1 && st.NDeadTup == 0, "%s: %+v", name, st)
		}
		avStop(e, launcher, sp)
	})
}

// A worker checks the table again before it vacuums
// (table_recheck_autovac): a manual VACUUM since the launcher looked
// leaves it nothing to do.
func TestAutovacuumWorkerRechecks(t *testing.T) {
	simt.Sim(t, 6, func(e *env.Env) {
		cfg := proc.DefaultAutovacuumConfig()
		d := avBoot(e, avDBConfig(), "a")
		s := avConnect(d)
		avChurn(s, "a", 20, 3, 0)
		sp := &avSpawner{e: e, delay: cfg.Naptime / 2}
		launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
		e.Clock.Sleep(cfg.Naptime + cfg.Naptime/4)
		simt.Check(len(sp.names) == 1 && sp.running == 1, "workers %v, %d running", sp.names, sp.running)
		_, err := d.Vacuum("a")
		simt.Must(err)
		for i := 0; sp.running > 0; i++ {
			simt.Check(i < 20, "worker still running")
			e.Clock.Sleep(time.Second)
		}
		st := avStats(d, "a")
		simt.Check(st.VacuumCount == 1 && st.NDeadTup == 0, "a: %+v", st)
		avStop(e, launcher, sp)
	})
}

// Autovacuum runs beside clients that keep updating and vacuuming by hand:
// the workers and the manual vacuums take turns on a table, the counts
// stay sane, and the tables check out.
func TestAutovacuumWithConcurrentWorkload(t *testing.T) {
	tables := []string{"a", "b", "c"}
	for seed := uint64(1); seed <= 6; seed++ {
		simt.Sim(t, seed, func(e *env.Env) {
			cfg := proc.DefaultAutovacuumConfig()
			cfg.Naptime = 200 * time.Millisecond
			cfg.VacuumThreshold = 20
			d := avBoot(e, avDBConfig(), tables...)
			s := avConnect(d)
			for _, name := range tables {
				avChurn(s, name, 30, 0, 0)
			}
			sp := &avSpawner{e: e}
			launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
			g := world.NewGroup(e, len(tables))
			updates := make([]int64, len(tables)) // committed or not
			for c, name := range tables {
				e.Sched.Spawn(fmt.Sprintf("client %d", c), func() {
					defer g.Done()
					cs := avConnect(d)
					defer cs.Close()
					for i := range 150 {
						k := uint64(e.Rand.Intn(30))
						switch r := e.Rand.Intn(20); {
						case r == 0:
							_, err := d.Vacuum(name)
							simt.Must(err)
						case r < 3:
							simt.Must(cs.Begin(db.ReadCommitted))
							_, err := cs.Update(name, k, []byte("rolled back"))
							simt.Must(err)
							simt.Must(cs.Rollback())
							updates[c]++
						default:
							_, err := cs.Update(name, k, fmt.Appendf(nil, "%d", i))
							simt.Must(err)
							updates[c]++
						}
						e.Clock.Sleep(time.Duration(e.Rand.Intn(20)) * time.Millisecond)
					}
				})
			}
			g.Wait()
			avStop(e, launcher, sp)
			simt.Check(len(sp.names) > 0, "seed %d: no autovacuum worker ran", seed)
			simt.Check(sp.maxRunning <= cfg.MaxWorkers, "seed %d: %d workers at once", seed, sp.maxRunning)
			for c, name := range tables {
				st := avStats(d, name)
				simt.Check(st.NTupUpd == updates[c] && st.NTupIns == 30, "seed %d: %s: %d updates, %+v", seed, name, updates[c], st)
				_, err := d.Vacuum(name)
				simt.Must(err)
				st = avStats(d, name)
				simt.Check(st.NDeadTup == 0 && st.NLiveTup == 30, "seed %d: %s after a final vacuum: %+v", seed, name, st)
				n, err := d.CheckTable(name)
				simt.Must(err)
				simt.Check(n == 30, "seed %d: %s has %d rows", seed, name, n)
			}
		})
	}
}

// A vacuum that fails (here: the table's heap cannot be read) is logged by
// the worker, which exits normally; the launcher carries on and a later
// worker succeeds.
func TestAutovacuumVacuumErrorIsLogged(t *testing.T) {
	rng := world.NewRand(3)
	node := world.NewNode(rng, world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	failing := false
	var heapPath string
	node.Disk.SetFaultHook(func(op world.DiskOp) world.DiskFault {
		if failing && op.Kind == world.OpRead && op.Path == heapPath {
			return world.DiskFault{Kind: world.FaultEIO}
		}
		return world.DiskFault{}
	}, rng.Fork(9))
	logs := &avLog{next: node.Env.Log}
	node.Env.Log = logs
	node.Sim.Spawn("test", func() {
		e := node.Env
		cfg := proc.DefaultAutovacuumConfig()
		dcfg := avDBConfig()
		dcfg.SharedBuffers = 16
		d := avBoot(e, dcfg, "t", "z")
		s := avConnect(d)
		avChurn(s, "t", 20, 3, 0) // 60 dead
		// Push t's pages out of shared buffers, so the vacuum must read.
		simt.Must(s.Begin(db.ReadCommitted))
		for k := range 800 {
			simt.Must(s.Insert("z", uint64(k), make([]byte, 200)))
		}
		simt.Must(s.Commit())
		def, _ := d.Catalog.Lookup("t")
		heapPath = smgr.RelPath(def.Heap, smgr.MainForkNum)
		failing = true

		sp := &avSpawner{e: e}
		launcher := e.Sched.Spawn("autovacuum launcher", func() { proc.AutovacuumLauncherMain(e, d, sp, cfg) })
		e.Clock.Sleep(cfg.Naptime + time.Second)
		simt.Check(len(sp.names) == 1 && sp.running == 0, "workers %v, %d running", sp.names, sp.running)
		failed := slices.ContainsFunc(logs.lines, func(l string) bool {
			return strings.Contains(l, `automatic vacuum of table "t" failed`) && strings.Contains(l, "input/output error")
		})
		simt.Check(failed, "no log of the failed vacuum in %q", logs.lines)
		simt.Check(avStats(d, "t").NDeadTup == 60 && avStats(d, "t").VacuumCount == 0, "t: %+v", avStats(d, "t"))
		failing = false
		for i := 0; avStats(d, "t").VacuumCount == 0 || sp.running > 0; i++ {
			simt.Check(i < 5, "t not vacuumed once the disk reads again: %v", sp.names)
			e.Clock.Sleep(cfg.Naptime)
		}
		simt.Check(avStats(d, "t").NDeadTup == 0, "t: %+v", avStats(d, "t"))
		n, err := d.CheckTable("t")
		simt.Must(err)
		simt.Check(n == 20, "t has %d rows", n)
		avStop(e, launcher, sp)
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}
