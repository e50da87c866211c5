package simtest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/pgerr"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
)

// The workloads: what the simulated clients do, and the tables they do it
// on. Each kind records its own history (history.go) and is judged by its
// own checker after recovery (check.go):
//
//   - insert: write transactions of fresh keys into table t, each key
//     written once, so recovery can be judged transaction by transaction
//     (durability, atomicity).
//   - register: autocommit reads, writes and compare-and-sets of a few hot
//     keys of table reg; judged for linearizability (porcupine).
//   - bank: transfers between the accounts of table bank inside
//     transactions, and reads of every account in one snapshot; the total
//     never changes.
//   - append: Elle's list-append transactions on table lists; judged for
//     isolation anomalies at the level the run asked for.
//   - mixed: each transaction draws one of the above.

// Workload names.
const (
	WorkloadInsert   = "insert"
	WorkloadRegister = "register"
	WorkloadBank     = "bank"
	WorkloadAppend   = "append"
	WorkloadMixed    = "mixed"
)

// Workloads lists the workload names, for flags and errors.
var Workloads = []string{WorkloadInsert, WorkloadRegister, WorkloadBank, WorkloadAppend, WorkloadMixed}

// Isolation level names, as the run's configuration spells them.
const (
	IsoReadCommitted  = "read-committed"
	IsoRepeatableRead = "repeatable-read"
)

// Isolations lists the isolation levels a run may ask for.
var Isolations = []string{IsoReadCommitted, IsoRepeatableRead, IsoSerializable}

func parseIsolation(s string) (db.Isolation, error) {
	switch s {
	case IsoReadCommitted:
		return db.ReadCommitted, nil
	case IsoRepeatableRead:
		return db.RepeatableRead, nil
	case IsoSerializable:
		return db.Serializable, nil
	}
	return 0, fmt.Errorf("unknown isolation level %q (known: %s)", s, strings.Join(Isolations, ", "))
}

func validWorkload(s string) error {
	for _, w := range Workloads {
		if s == w {
			return nil
		}
	}
	return fmt.Errorf("unknown workload %q (known: %s)", s, strings.Join(Workloads, ", "))
}

// The tables of the workloads and their fixed shapes.
const (
	tableRegister = "reg"
	tableBank     = "bank"
	tableLists    = "lists"

	registerKeys = 4   // hot keys: contention is the point
	bankAccounts = 5   // accounts 0..4
	bankBalance  = 100 // each account's opening balance
	bankTotal    = bankAccounts * bankBalance
	listKeys     = 8
	listMopsMax  = 4                      // micro-operations per list-append transaction
	retriesMax   = 3                      // attempts of a transaction that hits 40001 or 40P01
	stmtThinkMax = 500 * time.Microsecond // a client's work between the statements of a block
)

// kinds returns the transaction kinds a workload draws from.
func kinds(workload string) []string {
	if workload == WorkloadMixed {
		return []string{WorkloadInsert, WorkloadRegister, WorkloadBank, WorkloadAppend}
	}
	if workload == workloadFailoverMixed {
		return []string{WorkloadInsert, WorkloadBank} // failover.go
	}
	return []string{workload}
}

// tablesFor lists the tables a workload needs besides t, which every run
// creates (so the crash checkers always have it), with their initial rows.
func tablesFor(workload string) []string {
	var out []string
	for _, k := range kinds(workload) {
		switch k {
		case WorkloadRegister:
			out = append(out, tableRegister)
		case WorkloadBank:
			out = append(out, tableBank)
		case WorkloadAppend:
			out = append(out, tableLists)
		}
	}
	sort.Strings(out)
	return out
}

// initialRows are a workload table's rows before the clients start.
func initialRows(name string) (keys []uint64, vals [][]byte) {
	switch name {
	case tableRegister:
		for k := uint64(0); k < registerKeys; k++ {
			keys, vals = append(keys, k), append(vals, u64(0))
		}
	case tableBank:
		for k := uint64(0); k < bankAccounts; k++ {
			keys, vals = append(keys, k), append(vals, u64(bankBalance))
		}
	case tableLists:
		for k := uint64(0); k < listKeys; k++ {
			keys, vals = append(keys, k), append(vals, []byte{})
		}
	}
	return keys, vals
}

// session is one client's connection, reopened after the server ends it
// (a crash-restart) or after the client abandons it (a timeout).
type session struct {
	w       *workload
	l       *pgproc.Listener
	conn    *pgproc.Conn
	c       int
	rng     *world.Rand
	lastReg [registerKeys]uint64 // the register values this client last saw, for its CASes
	ssiRng  *world.Rand          // READ ONLY readers' draws (ssi_read_only.go)
	hotRng  *world.Rand          // hot runs' long clients' pauses (hot_keys.go)
}

// connect makes sure there is a connection; false means the server is gone
// for good.
func (s *session) connect() bool {
	if s.conn != nil {
		return true
	}
	conn, err := s.w.dial(s.l, s.c)
	if err != nil {
		return false
	}
	s.conn = conn
	return true
}

// call sends one statement and returns its reply; err is the statement's
// error or the connection's. When the connection is lost (terminated by
// the server or abandoned after a timeout), s forgets it.
func (s *session) call(r pgproc.Request) (pgproc.Response, error) {
	var resp pgproc.Response
	var err error
	if s.conn == nil {
		// Lost after an earlier statement of the same transaction
		// succeeded (terminated right after its reply).
		return resp, pgproc.ErrConnectionTerminated
	}
	if s.w.rc.timeout > 0 {
		resp, err = s.conn.CallTimeout(r, s.w.rc.timeout)
	} else {
		resp, err = s.conn.Call(r)
	}
	if err == nil {
		err = resp.Err
	}
	if err == nil && resp.Warning != "" {
		// A sync-rep WARNING (syncrep.go): committed locally, perhaps
		// not replicated; the client gives the connection up and takes
		// the commit's outcome for unknown.
		err = errSyncRepWarning
		s.conn.Close()
	}
	s.w.noteEngineError(s.c, r, err)
	if s.w.progress != nil {
		s.w.progress.replied(s.c, s.w.node.Env.Clock.Now(), err)
	}
	if s.lost(err) {
		s.conn = nil
	}
	return resp, err
}

// stmt is a statement inside a transaction block, after the client's
// own work between statements (up to stmtThinkMax of virtual time): an
// application's round trips are what keep transactions open long enough
// to overlap.
func (s *session) stmt(r pgproc.Request) (pgproc.Response, error) {
	s.w.node.Env.Clock.Sleep(time.Duration(s.rng.Intn(int(stmtThinkMax))))
	return s.call(r)
}

// lost reports whether err means the connection is gone, so the fate of a
// COMMIT in flight is unknown.
func (s *session) lost(err error) bool {
	return errors.Is(err, pgproc.ErrConnectionTerminated) || errors.Is(err, pgproc.ErrClientTimeout) || errors.Is(err, errSyncRepWarning) ||
		(s.conn != nil && s.conn.Terminated())
}

// autocommitOutcome is what the client of an autocommit statement learned
// from its reply: the server commits before it replies, so a reply is an
// acknowledgement, a lost connection leaves the commit unknown, and an
// error is a statement that took no effect.
func (s *session) autocommitOutcome(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case s.lost(err):
		return Unknown
	}
	return Failed
}

// end finishes a transaction block: COMMIT if err is nil and the client
// does not abort, ROLLBACK otherwise (if the connection is still there).
// It returns the outcome and, unless OK, why.
func (s *session) end(err error, abort bool) (Outcome, error) {
	committing := err == nil && !abort
	switch {
	case committing:
		_, err = s.call(pgproc.Request{Op: pgproc.OpCommit})
	case err == nil:
		if _, err = s.call(pgproc.Request{Op: pgproc.OpRollback}); err == nil {
			err = errRolledBack
		}
	case s.conn != nil:
		_, _ = s.call(pgproc.Request{Op: pgproc.OpRollback})
	}
	switch {
	case err == nil:
		return OK, nil
	case committing && s.lost(err):
		return Unknown, err
	}
	return Failed, err
}

// retryable is an error after which a client runs the transaction again:
// serialization_failure and deadlock_detected, as applications must.
func retryable(err error) bool {
	return pgerr.Is(err, pgerr.SerializationFailure) || pgerr.Is(err, pgerr.DeadlockDetected)
}

func (w *workload) now() int64 { return int64(w.node.Env.Clock.Now()) }
