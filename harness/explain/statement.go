package explain

import (
	"fmt"
	"strings"

	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest"
)

// statement explains a statement-effect or engine-error failure. Both are
// judged on what a client was told while the server ran, inside one
// transaction, so no crash or recovery takes part: the account is the
// failure itself and the rule it breaks.
func (a *account) statement() {
	if f := a.res.Finding; a.res.Checker == simtest.CheckEngineError && f != nil {
		a.engineError(f)
		return
	}
	f := a.res.Finding
	if f == nil {
		// A statement-effect failure always records its Finding; without
		// one there is nothing typed to explain from.
		a.say("%s.", strings.TrimSuffix(strings.TrimPrefix(a.res.Failures[0], a.res.Checker+": "), "."))
		a.cause("a multi-row statement's result differs from the rows its snapshot held in its range",
			"the statement's scan sees exactly its snapshot, at its command id, and each row it qualifies is inserted or updated once")
		return
	}
	where := "its reads"
	if f.Stmt > 0 {
		where = fmt.Sprintf("its statement %d (%s)", f.Stmt, stmtKindName(f.StmtKind))
	}
	a.say("Client %d's range transaction, called at %s (%s), went wrong at %s: %s.", f.Client, ms(f.Call), f.Outcome, where, strings.TrimSuffix(f.Detail, "."))
	if f.Effect == simtest.EffectOwnWrites {
		a.cause("a statement read rows its own command had written",
			"a scan sees nothing its own command wrote: HeapTupleSatisfiesMVCC hides a version whose cmin (or cmax) is not below the scan's curcid, and CommandCounterIncrement runs only after the statement (the Halloween problem)")
		return
	}
	a.cause("a multi-row statement's result differs from the rows its snapshot held in its range",
		"the statement's scan sees exactly its snapshot, at its command id, and each row it qualifies is inserted or updated once")
}

// stmtKindName names a range statement's kind as SQL.
func stmtKindName(kind string) string {
	switch kind {
	case simtest.RangeInsertSelect:
		return "INSERT ... SELECT"
	case simtest.RangeUpdate:
		return "a range UPDATE"
	}
	return "INSERT"
}

// engineError: a client received an error only a bug raises, told from
// its Finding's SQLSTATE.
func (a *account) engineError(f *simtest.Finding) {
	on := ""
	if f.Table != "" {
		on = " on " + f.Table
	}
	a.say("Client %d's %s%s at %s received the error %q.", f.Client, f.Stage, on, ms(f.Return), f.Detail)
	if f.Code == string(pgerr.ObjectNotInPrerequisiteState) {
		a.cause("a statement asked heap_update or heap_delete to change a version its own command may not see",
			"the executor only hands heap_update versions its scan's snapshot and command id show, and HeapTupleSatisfiesUpdate judges them by the same cmin/cmax rule as HeapTupleSatisfiesMVCC; TM_Invisible there is an error, never a row to skip")
		return
	}
	a.cause("the engine raised an internal error (SQLSTATE XX000): one of its invariants broke",
		"every ERROR a client can be shown carries its code (errcode_for_file_access for a failed file operation); XX000 means an invariant broke")
}
