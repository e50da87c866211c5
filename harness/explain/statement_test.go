package explain

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest"
)

// TestExplainStatementFailures: a statement-effect or engine-error failure
// is explained by its own message and the visibility rule it breaks, not
// by a crash it had nothing to do with.
func TestExplainStatementFailures(t *testing.T) {
	for _, tc := range []struct {
		checker, failure, mechanism string
	}{
		{simtest.CheckStatementEffect, "statement-effect: client 3's range transaction: statement 4, INSERT INTO hw SELECT k + 256, v FROM hw WHERE k BETWEEN 0 AND 511, returned 6 rows where its snapshot held 4 in range: it copied key 256, a row it had inserted itself (the statement saw its own writes)",
			"A statement read rows its own command had written."},
		{simtest.CheckEngineError, "engine-error: client 1's update range on hw at 5ms: attempted to update invisible tuple (SQLSTATE 55000)",
			"A statement asked heap_update or heap_delete to change a version its own command may not see."},
		{simtest.CheckEngineError, "engine-error: client 0's create table on hw at 5ms: nbtree: relation 16398 is not empty (SQLSTATE XX000)",
			"The engine raised an error without a SQLSTATE (internal_error)."},
	} {
		res := &simtest.Result{Seed: 3, Checker: tc.checker, Failures: []string{tc.failure}}
		a := Explain(res, NewRecorder())
		require.Equal(t, tc.mechanism, a.Mechanism, tc.failure)
	}
}
