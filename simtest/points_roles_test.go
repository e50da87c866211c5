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
// with long runs (its 1000-byte rows fill WAL segments, so every process
// that flushes WAL, the bgwriter included, sometimes writes it and crosses
// into a new segment, and the archiver runs). Measured at the commit that
// added the test: the rarest pairs (the checkpointer and the startup
// process creating a WAL segment, the bgwriter flushing WAL) first show on
// insert seeds 166, 58 and 4.
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
	{"insert-long", 200, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.Workload = WorkloadInsert
		c.Txns = 40
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
	for _, sh := range reachShapes {
		for _, r := range runSeeds(sh.seeds, sh.mk) {
			require.True(t, r.OK, "%s seed %d: %v", sh.name, r.Seed, r.Failures)
			for p, rs := range r.PointRoles {
				reached[p] |= rs
			}
		}
	}
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
