// Package linearizability owns the histories that simulated clients record
// and the checkers that judge them: linearizability of single-key register
// operations (with porcupine), Elle-style isolation anomalies of
// list-append transactions, and the bank workload's invariant.
//
// It is pure: it never touches the engine, the simulator or the disk, and
// reads no clock but one: the wall clock behind CheckRegisters' timeout,
// which can turn a verdict into "unknown" and does nothing else. A history
// is plain data (virtual times are nanoseconds since the run began), so a
// checker can be fed a history recorded by the simulator, one built by hand
// in a test, or one decoded from a repro file.
package linearizability

import (
	"fmt"
	"strconv"
	"strings"
)

// Outcome is what a client learned about an operation.
type Outcome uint8

const (
	// Unknown: the client never heard back (a crash or a terminated
	// connection); the operation may or may not have taken effect.
	Unknown Outcome = iota
	// OK: the operation was acknowledged.
	OK
	// Failed: the engine reported an error; the operation had no effect.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// MopKind is the kind of one micro-operation of a list-append transaction.
type MopKind uint8

const (
	// MopRead reads a key's whole list.
	MopRead MopKind = iota + 1
	// MopAppend appends one value, unique over the whole history, to a
	// key's list.
	MopAppend
)

// Mop is one micro-operation of a list-append transaction, as Elle's
// [:r k v] and [:append k v].
type Mop struct {
	Kind MopKind
	Key  uint64
	// Value is the appended value (MopAppend).
	Value uint64
	// List is what a read returned (MopRead, when the transaction's
	// outcome is OK; nil means the key was empty or the read never
	// returned).
	List []uint64
}

func (m Mop) String() string {
	if m.Kind == MopAppend {
		return fmt.Sprintf("append(%d, %d)", m.Key, m.Value)
	}
	s := make([]string, len(m.List))
	for i, v := range m.List {
		s[i] = fmt.Sprint(v)
	}
	return fmt.Sprintf("r(%d)=[%s]", m.Key, strings.Join(s, " "))
}

// Txn is one list-append transaction as its client recorded it.
type Txn struct {
	ID     int // index in the history
	Client int
	// Call and Return are virtual nanoseconds; Return is meaningful only
	// when Outcome is not Unknown.
	Call, Return int64
	Outcome      Outcome
	Mops         []Mop
	Err          string // why it failed, or what ended it unknown
	// SnapshotBy, when positive, is a time by which the transaction's
	// one snapshot was certainly taken (the return of its first
	// statement): set only for a transaction that runs on one snapshot
	// (PostgreSQL's REPEATABLE READ), it claims snapshot semantics, and
	// the checker then forbids it to see a commit begun after that time
	// (G-SIa).
	SnapshotBy int64
	// CommitCall, when positive, is when the transaction's COMMIT was
	// sent: it cannot have committed earlier.
	CommitCall int64
}

// AppendsKept counts t's appends and how many of them a final read kept,
// kept holding the (key, element) pairs the final read returned: the
// durability and atomicity checks of a list-append history compare the
// two (all of an acknowledged transaction's, none of a failed one's).
func (t *Txn) AppendsKept(kept map[[2]uint64]bool) (n, appends int) {
	for _, m := range t.Mops {
		if m.Kind == MopAppend {
			appends++
			if kept[[2]uint64{m.Key, m.Value}] {
				n++
			}
		}
	}
	return n, appends
}

func (t *Txn) String() string {
	m := make([]string, len(t.Mops))
	for i, mop := range t.Mops {
		m[i] = mop.String()
	}
	return fmt.Sprintf("T%d (%s, %s) [%s]", t.ID, ClientName(t.Client), t.Outcome, strings.Join(m, " "))
}

// RegKind is the kind of a register operation.
type RegKind uint8

const (
	RegRead RegKind = iota + 1
	RegWrite
	RegCAS // compare-and-set: write Value if the register holds Expect
)

// RegOp is one single-key register operation, an autocommit statement.
// Registers start at 0 (the workload creates every key with value 0
// before the clients start).
type RegOp struct {
	Client       int
	Call, Return int64 // virtual nanoseconds; Return only when not Unknown
	Kind         RegKind
	Key          uint64
	Value        uint64 // RegWrite, RegCAS: the value written
	Expect       uint64 // RegCAS: the value compared
	Result       uint64 // RegRead: the value read
	Swapped      bool   // RegCAS: whether the comparison held
	Outcome      Outcome
}

// BankRead is one read of every account in one snapshot.
type BankRead struct {
	Client       int
	Call, Return int64
	Balances     map[uint64]int64 // account -> balance, as read
}

// FinalReader is the client of the reads a harness adds after recovery,
// one per key or table, to judge what recovery kept by the same rules as
// what the clients saw.
const FinalReader = -1

// ClientName names a client in an explanation: "client 2", or "the reader
// after recovery" for FinalReader.
func ClientName(c int) string {
	if c == FinalReader {
		return "the reader after recovery"
	}
	return fmt.Sprintf("client %d", c)
}

// Names gives the harness's meaning to the numbers a history holds, so
// that an explanation says "client 1's write 11" or "no row" where the
// history has 8589934603 or 18446744073709551615. A nil Value prints the
// number.
type Names struct {
	Value func(v uint64) string
	// Deletes reports whether a write of v removes the row (the harness
	// writes its "no row" value for a DELETE): such a write reads
	// delete(kN), not write(kN, no row). Nil: no write deletes.
	Deletes func(v uint64) bool
}

func (nm Names) deletes(v uint64) bool { return nm.Deletes != nil && nm.Deletes(v) }

func (nm Names) value(v uint64) string {
	if nm.Value == nil {
		return strconv.FormatUint(v, 10)
	}
	return nm.Value(v)
}
