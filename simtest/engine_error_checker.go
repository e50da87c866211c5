package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/pgerr"
	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// CheckEngineError fails a run in which a client received an error that
// only a broken engine raises: internal_error (XX000, an ERROR raised
// without a SQLSTATE, elog(ERROR)'s code: "unexpected TM result", an
// update chain that leads to another key, a wait that never ends), or
// heap_update's and heap_delete's "attempted to update invisible tuple"
// (55000, which pgdst raises nowhere else). The statement failing is the
// engine's own account of a broken invariant, and no application retries
// its way around it; yet every workload records a failed statement as a
// transaction that did not happen, and judges nothing more. Errors a
// healthy engine sends under faults carry their own codes (58030 for
// EIO, 53100 for ENOSPC, XX001 for a page that fails verification:
// engine/proc's sqlstateOf), so they pass.
const CheckEngineError = "engine-error"

// engineErrorsMax bounds the errors a run keeps for its report.
const engineErrorsMax = 8

// isEngineError reports whether err is one that only a bug raises.
func isEngineError(err error) bool {
	switch pgerr.CodeOf(err) {
	case pgerr.InternalError, pgerr.ObjectNotInPrerequisiteState:
		return true
	}
	return false
}

// noteEngineError records err if it is an engine error, with the client
// and the statement that received it.
func (w *workload) noteEngineError(c int, r pgproc.Request, err error) {
	if err == nil || !isEngineError(err) || len(w.engineErrs) >= engineErrorsMax {
		return
	}
	what := r.Op.String()
	if r.Table != "" {
		what += " on " + r.Table
	}
	now := w.node.Env.Clock.Now()
	w.engineErrs = append(w.engineErrs, engineErr{fmt.Sprintf("client %d's %s at %v: %v", c, what, now, err),
		Finding{Checker: CheckEngineError, Client: c, Return: now, Table: r.Table, Code: string(pgerr.CodeOf(err)), Stage: r.Op.String(), Detail: err.Error()}})
}

// engineErr is one engine error a client received: the failure's words
// and its Finding (Stage is the statement's operation, Detail the error).
type engineErr struct {
	msg string
	f   Finding
}

// checkEngineErrors fails the run for every engine error a client received.
func (w *workload) checkEngineErrors(res *Result) {
	for _, e := range w.engineErrs {
		res.found(e.f)
		res.fail(CheckEngineError, "%s", e.msg)
	}
}
