package simtest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// reachShapes are the run shapes whose (role, point) pairs the points
// table must match: the default campaign (swarm timings, the mixed
// workload, CREATE TABLE and VACUUM in backends), the bank workload (whose
// updates give autovacuum workers dead tuples), and the insert workload
// under synchronous_commit = off with long runs: its 1000-byte rows fill
// WAL segments, and as commits do not flush, every other process that
// flushes WAL (the bgwriter before writing a page, the checkpointer for its
// record, the WAL writer, the startup process) writes it and sometimes
// crosses into a new segment; the archiver runs too. The rarest pair, the
// bgwriter creating a WAL segment, shows in 3 of that shape's 300 runs
// (at the commit that added it), so the test logs the pairs fewer than 10
// runs reach: a change that makes one vanish shows how close it was.
var reachShapes = []struct {
	name  string
	seeds int
	mk    func(seed uint64) Config
}{
	{"default", 150, DefaultConfig},
	{"bank", 100, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload = WorkloadBank
		return c
	}},
	{"insert-async", 300, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload = WorkloadInsert
		c.AsyncCommit = true
		c.Txns = 80
		return c
	}},
}

// TestPointsTableRolesAreReached checks the points table's role column
// against what runs reach, both ways: every (role, point) pair some run
// reaches while its fault plan is installed must be in the table, and
// every pair the table claims must be reached by some run. The plan
// generator pairs roles only with the points the table gives them, so a
// claimed pair that never happens is a fault that can never fire, and an
// omitted one a window no plan aims a role at.
func TestPointsTableRolesAreReached(t *testing.T) {
	reached := map[string]env.RoleSet{}
	runs := map[string]int{} // "role point": the runs that reached it
	for _, sh := range reachShapes {
		for _, r := range runSeeds(sh.seeds, sh.mk) {
			require.True(t, r.OK, "%s seed %d: %v", sh.name, r.Seed, r.Failures)
			for p, rs := range r.PointRoles {
				reached[p] |= rs
				for _, role := range rs.Roles() {
					runs[role.String()+" "+p]++
				}
			}
		}
	}
	var rare []string
	for k, n := range runs {
		if n < 10 {
			rare = append(rare, fmt.Sprintf("%s: %d runs", k, n))
		}
	}
	sort.Strings(rare)
	t.Logf("pairs fewer than 10 runs reach: %v", rare)
	table := map[string]env.RoleSet{}
	for _, p := range pgproc.Points {
		table[p.Name] = p.Roles
	}
	var omitted, never []string
	for p, rs := range reached {
		for _, role := range rs.Roles() {
			if !table[p].Has(role) {
				omitted = append(omitted, fmt.Sprintf("%s reaches %s", role, p))
			}
		}
	}
	for p, rs := range table {
		for _, role := range rs.Roles() {
			if !reached[p].Has(role) {
				never = append(never, fmt.Sprintf("%s never reaches %s", role, p))
			}
		}
	}
	sort.Strings(omitted)
	sort.Strings(never)
	require.Empty(t, omitted, "pairs runs reach that proc.Points omits")
	require.Empty(t, never, "pairs proc.Points claims that no run reaches")
}
