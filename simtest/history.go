package simtest

import (
	"fmt"
	"time"

	lin "github.com/pgdst/pgdst/linearizability"
)

// Outcome is what a client learned about an operation (package
// linearizability's, so that histories pass to its checkers as they are).
type Outcome = lin.Outcome

// The outcomes.
const (
	// Unknown: the client never heard back (a crash, a terminated or
	// abandoned connection); the operation may or may not have taken
	// effect.
	Unknown = lin.Unknown
	// OK: the operation was acknowledged.
	OK = lin.OK
	// Failed: the engine reported an error; the operation had no effect.
	Failed = lin.Failed
)

// Op is one recorded client operation: here, a write transaction.
type Op struct {
	Client  int
	Index   int // the client's n-th transaction
	Call    time.Duration
	Return  time.Duration // meaningful only when Outcome is not Unknown
	Keys    []uint64
	Values  []uint64
	Outcome Outcome
	Err     string
	// Async: the transaction set synchronous_commit off (SET LOCAL), so
	// its acknowledgement did not wait for its commit to be durable.
	Async bool
}

func (op *Op) String() string {
	ret := "never returned"
	if op.Outcome != Unknown {
		ret = fmt.Sprintf("returned %s at %v", op.Outcome, op.Return)
	}
	// No xid: a client over a connection never learns it, as a
	// PostgreSQL client does not unless it asks (txid_current()).
	return fmt.Sprintf("client %d txn %d (%d writes, called at %v, %s)", op.Client, op.Index, len(op.Keys), op.Call, ret)
}

// History is every operation of a run, in call order, by workload.
type History struct {
	Ops       []*Op          // the insert workload's transactions
	Registers []lin.RegOp    // the register workload's statements
	Lists     []lin.Txn      // the list-append transactions
	BankReads []lin.BankRead // the bank workload's snapshot reads
	BankTxns  int            // bank transactions, reads and transfers
	KeyReads  []KeyRead      // the bulk reader's reads of table t
	Ranges    []RangeTxn     // the range transactions (range_statements.go)
	// SyncWrites are the acknowledged transactions, of every workload,
	// that wrote and committed with synchronous_commit on: each one's
	// WAL flush made every earlier commit durable (async_share.go).
	SyncWrites []Span
}

func (h *History) begin(client, index int, keys, vals []uint64, now time.Duration) *Op {
	op := &Op{Client: client, Index: index, Call: now, Keys: keys, Values: vals}
	h.Ops = append(h.Ops, op)
	return op
}

// Count returns how many operations ended with outcome o.
func (h *History) Count(o Outcome) int {
	n := 0
	for _, op := range h.Ops {
		if op.Outcome == o {
			n++
		}
	}
	return n
}
