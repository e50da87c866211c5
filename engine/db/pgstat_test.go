package db_test

import (
	"fmt"
	"testing"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

func tableStats(d *db.DB, name string) db.TableStats {
	st, ok := d.TableStats(name)
	simt.Check(ok, "no statistics for table %q", name)
	return st
}

// checkStats compares the counters that transactions feed.
func checkStats(d *db.DB, step string, ins, upd, del, live, dead int64) {
	st := tableStats(d, "t")
	want := db.TableStats{NTupIns: ins, NTupUpd: upd, NTupDel: del, NLiveTup: live, NDeadTup: dead}
	got := db.TableStats{NTupIns: st.NTupIns, NTupUpd: st.NTupUpd, NTupDel: st.NTupDel, NLiveTup: st.NLiveTup, NDeadTup: st.NDeadTup}
	simt.Check(got == want, "%s: stats %+v, want %+v", step, got, want)
}

// Every way a transaction ends feeds the counters as
// AtEOXact_PgStat_Relations does: attempts always count; a commit makes
// inserts live and leaves a dead version per update and delete; an abort
// leaves its inserts and its updates' new versions dead.
func TestPgstatCountsAtTransactionEnd(t *testing.T) {
	withDB(t, 1, func(e *env.Env, d *db.DB) {
		st := tableStats(d, "t")
		simt.Check(st == db.TableStats{Reltuples: -1}, "fresh table: %+v", st)
		_, ok := d.TableStats("nope")
		simt.Check(!ok, "statistics for a table that does not exist")
		simt.Must(d.CreateTable("a"))
		simt.Check(fmt.Sprint(d.Tables()) == "[a t]", "tables %v", d.Tables())

		s := connect(d)
		for k := uint64(0); k < 10; k++ {
			must(s.Insert("t", k, []byte("v")))
		}
		checkStats(d, "autocommit inserts", 10, 0, 0, 10, 0)
		for k := uint64(0); k < 5; k++ {
			_, err := s.Update("t", k, []byte("w"))
			must(err)
		}
		checkStats(d, "autocommit updates", 10, 5, 0, 10, 5)

		// Pending counts reach the shared entry only at transaction end.
		must(s.Begin(db.ReadCommitted))
		_, err := s.Update("t", 5, []byte("x"))
		must(err)
		_, err = s.Delete("t", 6)
		must(err)
		must(s.Insert("t", 100, []byte("y")))
		checkStats(d, "open transaction", 10, 5, 0, 10, 5)
		must(s.Commit())
		checkStats(d, "committed block", 11, 6, 1, 10, 7)

		// Rolled back: the update's new version and the insert are dead;
		// the delete never happened.
		must(s.Begin(db.RepeatableRead))
		_, err = s.Update("t", 7, []byte("x"))
		must(err)
		_, err = s.Delete("t", 8)
		must(err)
		must(s.Insert("t", 101, []byte("y")))
		must(s.Rollback())
		checkStats(d, "rolled back block", 12, 7, 2, 10, 9)

		// A unique violation has inserted its heap tuple: it aborts dead.
		err = s.Insert("t", 1, []byte("dup"))
		simt.Check(pgerr.Is(err, pgerr.UniqueViolation), "duplicate insert: %v", err)
		checkStats(d, "unique violation", 13, 7, 2, 10, 10)

		// A failed block's COMMIT rolls back.
		must(s.Begin(db.ReadCommitted))
		must(s.Insert("t", 102, []byte("z")))
		err = s.Insert("t", 2, []byte("dup"))
		simt.Check(pgerr.Is(err, pgerr.UniqueViolation), "duplicate insert: %v", err)
		err = s.Commit()
		simt.Check(pgerr.Is(err, pgerr.InFailedTransaction), "commit of a failed block: %v", err)
		checkStats(d, "failed block", 15, 7, 2, 10, 12)

		// Changes that find no row count nothing; reads count nothing.
		ok, err = s.Update("t", 999, []byte("none"))
		must(err)
		simt.Check(!ok, "updated a missing row")
		_ = get(s, 3)
		checkStats(d, "no-ops", 15, 7, 2, 10, 12)

		// Closing a session with an open block aborts it.
		s2 := connect(d)
		must(s2.Begin(db.ReadCommitted))
		_, err = s2.Update("t", 9, []byte("q"))
		must(err)
		s2.Close()
		checkStats(d, "closed session", 15, 8, 2, 10, 13)

		// Another table's counters are its own.
		must(s.Insert("a", 1, []byte("a")))
		simt.Check(tableStats(d, "a").NLiveTup == 1, "table a: %+v", tableStats(d, "a"))
		checkStats(d, "other table", 15, 8, 2, 10, 13)

		// The vacuum removes every dead version (no snapshot holds them)
		// and reports it: no dead tuples, reltuples the live rows.
		vs, err := d.Vacuum("t")
		must(err)
		simt.Check(vs.DeadTuples == 13 && vs.Tuples == 10, "vacuum %+v", vs)
		st = tableStats(d, "t")
		simt.Check(st.NDeadTup == 0 && st.NLiveTup == 10 && st.Reltuples == 10 && st.VacuumCount == 1 && st.LastVacuum > 0 && st.LastVacuum <= e.Clock.Now(),
			"after vacuum: %+v", st)
		simt.Check(st.NTupIns == 15 && st.NTupUpd == 8 && st.NTupDel == 2, "vacuum changed the attempt counters: %+v", st)
		n, err := d.CheckTable("t")
		must(err)
		simt.Check(n == 10, "%d rows", n)
	})
}

// A vacuum that an old snapshot holds back removes nothing and leaves the
// count of dead tuples alone; once the snapshot is gone the next vacuum
// takes them all off.
func TestPgstatVacuumKeepsRecentlyDead(t *testing.T) {
	withDB(t, 2, func(e *env.Env, d *db.DB) {
		s := connect(d)
		for k := uint64(0); k < 20; k++ {
			must(s.Insert("t", k, []byte("v0")))
		}
		old := connect(d)
		must(old.Begin(db.RepeatableRead))
		_ = get(old, 1)
		for k := uint64(0); k < 20; k++ {
			_, err := s.Update("t", k, []byte("v1"))
			must(err)
		}
		for k := uint64(0); k < 4; k++ {
			_, err := s.Delete("t", k)
			must(err)
		}
		simt.Check(tableStats(d, "t").NDeadTup == 24, "%+v", tableStats(d, "t"))
		vs, err := d.Vacuum("t")
		must(err)
		simt.Check(vs.DeadTuples == 0 && vs.Tuples == 40, "held-back vacuum %+v", vs)
		st := tableStats(d, "t")
		simt.Check(st.NDeadTup == 24 && st.NLiveTup == 16 && st.Reltuples == 16 && st.VacuumCount == 1, "after held-back vacuum: %+v", st)
		must(old.Commit())
		_, err = d.Vacuum("t")
		must(err)
		st = tableStats(d, "t")
		simt.Check(st.NDeadTup == 0 && st.NLiveTup == 16 && st.Reltuples == 16 && st.VacuumCount == 2, "after vacuum: %+v", st)
	})
}

// Vacuums of one table wait for each other (ShareUpdateExclusiveLock): two
// at once would both collect the same dead line pointers, and the second
// would free them again.
func TestVacuumsOfOneTableSerialize(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		withDB(t, seed, func(e *env.Env, d *db.DB) {
			s := connect(d)
			for round := 0; round < 3; round++ {
				for k := uint64(0); k < 40; k++ {
					if round == 0 {
						must(s.Insert("t", k, []byte("v")))
						continue
					}
					_, err := s.Update("t", k, []byte(fmt.Sprintf("v%d", round)))
					must(err)
				}
			}
			g := world.NewGroup(e, 3)
			removed := make([]int, 3)
			for i := range 3 {
				e.Sched.Spawn(fmt.Sprintf("vacuum %d", i), func() {
					defer g.Done()
					vs, err := d.Vacuum("t")
					must(err)
					removed[i] = vs.DeadTuples
				})
			}
			g.Wait()
			simt.Check(removed[0]+removed[1]+removed[2] == 80, "seed %d: vacuums removed %v", seed, removed)
			n, err := d.CheckTable("t")
			must(err)
			simt.Check(n == 40, "seed %d: %d rows", seed, n)
			st := tableStats(d, "t")
			simt.Check(st.NDeadTup == 0 && st.VacuumCount == 3, "seed %d: %+v", seed, st)
		})
	}
}
