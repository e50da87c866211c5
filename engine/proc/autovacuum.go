package proc

import (
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// AutovacuumConfig is autovacuum's part of postgresql.conf.
type AutovacuumConfig struct {
	Naptime           time.Duration // autovacuum_naptime: the launcher's sleep between rounds
	MaxWorkers        int           // autovacuum_max_workers: workers running at once
	VacuumThreshold   int           // autovacuum_vacuum_threshold: dead tuples always tolerated
	VacuumScaleFactor float64       // autovacuum_vacuum_scale_factor: and this fraction of reltuples
}

// DefaultAutovacuumConfig is PostgreSQL's defaults.
func DefaultAutovacuumConfig() AutovacuumConfig {
	return AutovacuumConfig{
		Naptime:           time.Minute,
		MaxWorkers:        3,
		VacuumThreshold:   50,
		VacuumScaleFactor: 0.2,
	}
}

// Validate rejects what PostgreSQL's GUC ranges reject.
func (c AutovacuumConfig) Validate() error {
	switch {
	case c.Naptime <= 0:
		return errors.New("autovacuum_naptime must be positive")
	case c.MaxWorkers < 1 || c.MaxWorkers > 262143:
		return fmt.Errorf("autovacuum_max_workers must be in [1, 262143], got %d", c.MaxWorkers)
	case c.VacuumThreshold < 0:
		return fmt.Errorf("autovacuum_vacuum_threshold must not be negative, got %d", c.VacuumThreshold)
	case !(c.VacuumScaleFactor >= 0 && c.VacuumScaleFactor <= 100):
		return fmt.Errorf("autovacuum_vacuum_scale_factor must be in [0, 100], got %v", c.VacuumScaleFactor)
	}
	return nil
}

// NeedsVacuum is the vacuum half of relation_needs_vacanalyze: a table
// needs vacuum when its dead tuples exceed autovacuum_vacuum_threshold +
// autovacuum_vacuum_scale_factor × reltuples, reltuples taken as 0 before
// the table's first vacuum.
func NeedsVacuum(st db.TableStats, cfg AutovacuumConfig) bool {
	reltuples := float64(max(st.Reltuples, 0))
	// The conversion rounds the product, so no platform fuses it with
	// the addition: the same decision everywhere.
	vacthresh := float64(cfg.VacuumThreshold) + float64(cfg.VacuumScaleFactor*reltuples)
	return float64(st.NDeadTup) > vacthresh
}

// avShmem is the launcher's and its workers' shared state
// (AutoVacuumShmem's worker slots, and the per-worker table that
// do_autovacuum's other workers skip): the tables a worker holds, in
// launch order. Its length is the number of running workers, never more
// than autovacuum_max_workers. It belongs to one launcher: a launcher
// ends only by a crash-restart, which ends its workers with it.
type avShmem struct {
	mu      env.Mutex // AutovacuumLock, as a spinlock: never held across a wait
	running []string
}

// claim takes a worker slot for table; false if every slot is taken or a
// worker already holds the table.
func (av *avShmem) claim(table string, maxWorkers int) bool {
	av.mu.Lock()
	defer av.mu.Unlock()
	if len(av.running) >= maxWorkers {
		return false
	}
	for _, t := range av.running {
		if t == table {
			return false
		}
	}
	av.running = append(av.running, table)
	return true
}

// full reports whether every worker slot is taken.
func (av *avShmem) full(maxWorkers int) bool {
	av.mu.Lock()
	defer av.mu.Unlock()
	return len(av.running) >= maxWorkers
}

// release frees table's slot (FreeWorkerInfo, at the worker's exit).
func (av *avShmem) release(table string) {
	av.mu.Lock()
	defer av.mu.Unlock()
	for i, t := range av.running {
		if t == table {
			av.running = append(av.running[:i], av.running[i+1:]...)
			return
		}
	}
	panic(fmt.Sprintf("autovacuum: worker slot of table %q released twice", table))
}

// AutovacuumLauncherMain is the autovacuum launcher (AutoVacLauncherMain):
// every autovacuum_naptime it looks at every table's statistics, in name
// order, and starts a worker through sp for each table that needs vacuum
// (NeedsVacuum) and has no worker yet, while fewer than
// autovacuum_max_workers run. Each worker vacuums one table and exits.
//
// PostgreSQL's launcher starts one worker per database per naptime and
// lets the worker walk the database's tables (do_autovacuum); with one
// database, one worker per table is the same work spread over the slots
// sooner. A table left over when the slots are full waits for the next
// round (PostgreSQL's launcher also waits for its schedule).
//
// Like every auxiliary process's, its loop runs until the postmaster ends
// it; each round is bounded by the tables in the catalog. cfg must be
// valid (the postmaster's configuration check): an invalid one is a bug.
func AutovacuumLauncherMain(e *env.Env, d *db.DB, sp Spawner, cfg AutovacuumConfig) {
	if err := cfg.Validate(); err != nil {
		panic("autovacuum launcher: " + err.Error())
	}
	av := &avShmem{mu: e.Sched.NewSpinLock("AutovacuumLock")}
	started := 0
	for {
		e.Clock.Sleep(cfg.Naptime)
		started = avLaunchRound(e, d, sp, cfg, av, started)
	}
}

// avLaunchRound is one wake-up of the launcher: it starts workers for the
// tables that need vacuum and returns how many workers it has started in
// all (the number in their names).
func avLaunchRound(e *env.Env, d *db.DB, sp Spawner, cfg AutovacuumConfig, av *avShmem, started int) int {
	for _, name := range d.Tables() {
		if av.full(cfg.MaxWorkers) {
			break
		}
		st, ok := d.TableStats(name)
		if !ok || !NeedsVacuum(st, cfg) {
			continue
		}
		if !av.claim(name, cfg.MaxWorkers) {
			continue // a worker is on it, or every slot is taken
		}
		started++
		sp.Spawn(env.RoleAutovacuumWorker, fmt.Sprintf("autovacuum worker %d", started), func() {
			autoVacWorkerMain(e, d, cfg, av, name)
		})
	}
	return started
}

// autoVacWorkerMain is one autovacuum worker (AutoVacWorkerMain and
// do_autovacuum for one table): it checks that the table still needs
// vacuum (table_recheck_autovac: a manual VACUUM may have run since the
// launcher looked), vacuums it — which reports to the table's statistics
// (pgstat_report_vacuum) — and exits. A failed vacuum is logged and left
// for a later round: it is an ERROR in the worker, not a PANIC.
func autoVacWorkerMain(e *env.Env, d *db.DB, cfg AutovacuumConfig, av *avShmem, name string) {
	defer av.release(name)
	if st, ok := d.TableStats(name); !ok || !NeedsVacuum(st, cfg) {
		return
	}
	vs, err := d.Vacuum(name)
	if err != nil {
		e.Logf("automatic vacuum of table %q failed: %v", name, err)
		return
	}
	e.Sometimes("autovacuum-ran")
	e.Logf("automatic vacuum of table %q: pages: %d scanned; tuples: %d removed, %d remain; index entries: %d removed",
		name, vs.Pages, vs.DeadTuples, vs.Tuples, vs.IndexRemoved)
}
