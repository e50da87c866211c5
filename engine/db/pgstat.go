package db

// The cumulative statistics of tables (pgstat_relation.c), as much of them
// as autovacuum needs: every backend counts the rows its transaction
// inserts, updates and deletes per table (pgstat_count_heap_insert,
// pgstat_count_heap_update, pgstat_count_heap_delete, into a
// PgStat_TableXactStatus), and at transaction end folds them into the
// table's shared entry (AtEOXact_PgStat_Relations, then
// pgstat_relation_flush_cb, which PostgreSQL runs a little later from
// pgstat_report_stat; here it is the same step). A vacuum reports what it
// left (pgstat_report_vacuum, and vac_update_relstats for reltuples).
//
// The shared entries hang off the relcache entries (type table), which
// live as long as the instance's shared memory: a crash-restart starts
// with empty statistics, as PostgreSQL discards its statistics after crash
// recovery. They are hints for autovacuum, never used for correctness.

import (
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// TableStats is one table's row of pg_stat_user_tables, plus reltuples.
type TableStats struct {
	// NTupIns, NTupUpd and NTupDel count rows inserted, updated and
	// deleted, by committed and aborted transactions alike (n_tup_ins,
	// n_tup_upd, n_tup_del).
	NTupIns, NTupUpd, NTupDel int64
	// NLiveTup estimates the live rows (n_live_tup): committed inserts
	// minus committed deletes, reset by every vacuum.
	NLiveTup int64
	// NDeadTup estimates the dead row versions (n_dead_tup): one per
	// committed update or delete and per aborted insert or update; a
	// vacuum subtracts the ones it removed.
	NDeadTup int64
	// Reltuples is pg_class.reltuples, the live rows the last vacuum
	// estimated; -1 before the first vacuum (PostgreSQL 14's "never
	// vacuumed"), which autovacuum takes as 0.
	Reltuples int64
	// VacuumCount counts completed vacuums (vacuum_count plus
	// autovacuum_count); LastVacuum is the env clock when the latest one
	// ended, meaningful once VacuumCount > 0.
	VacuumCount int64
	LastVacuum  time.Duration
}

// tableStat is a table's shared statistics entry (PgStatShared_Relation),
// guarded by a spinlock: it is held for a few additions, never across a
// wait.
type tableStat struct {
	mu env.Mutex
	st TableStats
}

func newTableStat(e *env.Env) *tableStat {
	return &tableStat{mu: e.Sched.NewSpinLock("PgStatRelation"), st: TableStats{Reltuples: -1}}
}

// xactTabStat is one table's pending counts in the current transaction
// (PgStat_TableXactStatus).
type xactTabStat struct {
	t                          *table
	inserted, updated, deleted int64
}

// pgstatXact finds or adds the transaction's pending counts for t. The
// list is in order of first use, so the flush takes the entries' locks in
// a deterministic order; it holds at most one entry per table.
func (s *Session) pgstatXact(t *table) *xactTabStat {
	for _, x := range s.pgstat {
		if x.t == t {
			return x
		}
	}
	x := &xactTabStat{t: t}
	s.pgstat = append(s.pgstat, x)
	return x
}

// pgstatCountInsert is pgstat_count_heap_insert: a heap tuple was
// inserted, whatever becomes of the statement.
func (s *Session) pgstatCountInsert(t *table) { s.pgstatXact(t).inserted++ }

// pgstatCountUpdate is pgstat_count_heap_update.
func (s *Session) pgstatCountUpdate(t *table) { s.pgstatXact(t).updated++ }

// pgstatCountDelete is pgstat_count_heap_delete.
func (s *Session) pgstatCountDelete(t *table) { s.pgstatXact(t).deleted++ }

// atEOXactPgStat is AtEOXact_PgStat_Relations followed by
// pgstat_relation_flush_cb: the transaction's counts go into the shared
// entries. Attempts count either way; a commit makes inserted rows live
// and leaves one dead version per update and delete; an abort leaves its
// inserted rows and its updates' new versions dead, and its deletes
// undone. Live and dead counts are clamped at zero, as the flush does.
func (s *Session) atEOXactPgStat(commit bool) {
	for i, x := range s.pgstat {
		e := x.t.stat
		e.mu.Lock()
		e.st.NTupIns += x.inserted
		e.st.NTupUpd += x.updated
		e.st.NTupDel += x.deleted
		if commit {
			e.st.NLiveTup = max(e.st.NLiveTup+x.inserted-x.deleted, 0)
			e.st.NDeadTup += x.updated + x.deleted
		} else {
			e.st.NDeadTup += x.inserted + x.updated
		}
		e.mu.Unlock()
		s.pgstat[i] = nil
	}
	s.pgstat = s.pgstat[:0]
}

// pgstatReportVacuum is pgstat_report_vacuum with vac_update_relstats'
// reltuples: a vacuum that made st.DeadTuples line pointers reusable
// takes that many dead tuples off the count (PostgreSQL sets the count to
// the dead tuples the vacuum saw but could not remove; subtracting keeps
// the ones that concurrent transactions reported meanwhile), and the
// tuples it left with storage, less those still counted dead, are the
// new estimate of live rows.
func (db *DB) pgstatReportVacuum(t *table, st VacuumStats) {
	now := db.e.Clock.Now()
	e := t.stat
	e.mu.Lock()
	e.st.NDeadTup = max(e.st.NDeadTup-int64(st.DeadTuples), 0)
	live := max(int64(st.Tuples)-e.st.NDeadTup, 0)
	e.st.NLiveTup = live
	e.st.Reltuples = live
	e.st.VacuumCount++
	e.st.LastVacuum = now
	e.mu.Unlock()
}

// TableStats returns a table's statistics (pg_stat_get_live_tuples and
// friends); false if there is no such table.
func (db *DB) TableStats(name string) (TableStats, bool) {
	t, err := db.openTable(name)
	if err != nil {
		return TableStats{}, false
	}
	t.stat.mu.Lock()
	st := t.stat.st
	t.stat.mu.Unlock()
	return st, true
}

// Tables lists the tables' names, sorted.
func (db *DB) Tables() []string {
	defs := db.Catalog.Tables()
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return names
}
