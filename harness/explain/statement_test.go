package explain

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest"
)

// TestExplainStatementFailures: a statement-effect or engine-error failure
// is explained from its Finding (the statement, what it did wrong, the
// SQLSTATE) and the visibility rule it breaks, not by a crash it had
// nothing to do with; the failure's wording takes no part.
func TestExplainStatementFailures(t *testing.T) {
	own := simtest.Finding{Checker: simtest.CheckStatementEffect, Client: 3, Stmt: 4, StmtKind: simtest.RangeInsertSelect,
		Effect: simtest.EffectOwnWrites, Detail: "statement 4, INSERT INTO hw SELECT k + 256, v FROM hw WHERE k BETWEEN 0 AND 511, returned 6 rows where its snapshot held 4 in range: it copied key 256, a row it had inserted itself (the statement saw its own writes)"}
	wrong := own
	wrong.Effect, wrong.Detail = simtest.EffectWrongRows, "statement 4, INSERT INTO hw SELECT k + 256, v FROM hw WHERE k BETWEEN 0 AND 511, returned 3 rows where its snapshot held 4 in range: key 3 was not copied"
	for _, tc := range []struct {
		f         simtest.Finding
		mechanism string
	}{
		{own, "A statement read rows its own command had written."},
		{wrong, "A multi-row statement's result differs from the rows its snapshot held in its range."},
		{simtest.Finding{Checker: simtest.CheckEngineError, Client: 1, Stage: "update range", Table: "hw", Code: "55000", Detail: "attempted to update invisible tuple"},
			"A statement asked heap_update or heap_delete to change a version its own command may not see."},
		{simtest.Finding{Checker: simtest.CheckEngineError, Client: 0, Stage: "create table", Table: "hw", Code: "XX000", Detail: "nbtree: relation 16398 is not empty"},
			"The engine raised an internal error (SQLSTATE XX000): one of its invariants broke."},
	} {
		// The failure line says nothing the account could lean on.
		f := tc.f
		res := &simtest.Result{Seed: 3, Checker: f.Checker, Failures: []string{f.Checker + ": something went wrong"}, Finding: &f}
		a := Explain(res, NewRecorder())
		require.Equal(t, tc.mechanism, a.Mechanism, "%+v", f)
		if f.Checker == simtest.CheckStatementEffect {
			require.Contains(t, a.Text, "statement 4 (INSERT ... SELECT)")
		}
	}
}
