package simtest

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/lwlock"
)

// TestLockTranchesTableRolesAreReached checks the lock tranches table's
// role column against what runs take, among the roles a drawn lock pause
// is aimed at, both ways: a pair the table claims must be reached (else
// a drawn pause could never fire), and a pair reached must be claimed
// (else no drawn pause aims there). Every tranche must be taken by some
// run, and nothing outside the table (the harness's own locks aside).
func TestLockTranchesTableRolesAreReached(t *testing.T) {
	reached := map[string]env.RoleSet{}
	for _, r := range runSeeds(120, func(seed uint64) Config {
		c := DefaultConfig(seed)
		c.LockPause = LockPauseAny
		return c
	}) {
		require.True(t, r.OK, "seed %d: %v", r.Seed, r.Failures)
		require.NotNil(t, r.LockRoles, "seed %d: the plan names lwlock-acquire, so acquisitions are shown to it", r.Seed)
		for tr, rs := range r.LockRoles {
			reached[tr] |= rs
		}
	}
	var names []string
	for tr := range reached {
		names = append(names, tr)
	}
	sort.Strings(names)
	for _, tr := range names {
		t.Logf("%s: %v", tr, reached[tr])
	}
	var omitted, never []string
	table := map[string]bool{}
	for _, tr := range lwlock.Tranches {
		table[tr.Name] = true
		got := reached[tr.Name]
		require.NotZero(t, got, "no run took a lock of tranche %s", tr.Name)
		for _, role := range lockPauseRoles {
			switch {
			case tr.Roles.Has(role) && !got.Has(role):
				never = append(never, fmt.Sprintf("%s %s", role, tr.Name))
			case !tr.Roles.Has(role) && got.Has(role):
				omitted = append(omitted, fmt.Sprintf("%s %s", role, tr.Name))
			}
		}
	}
	for _, tr := range names {
		if !table[tr] && tr != "group" {
			omitted = append(omitted, "tranche "+tr)
		}
	}
	require.Empty(t, omitted, "reached but not in lwlock.Tranches")
	require.Empty(t, never, "in lwlock.Tranches but never reached")
}
