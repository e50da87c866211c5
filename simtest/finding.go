package simtest

import (
	"time"

	"github.com/pgdst/pgdst/engine/db"
	lin "github.com/pgdst/pgdst/linearizability"
)

// Finding is what the checker that failed a run found first, as typed
// values: `pgdst explain` (harness/explain) joins it with the run's events
// to say why the run failed, and must never read a failure's words back.
// Which fields a checker fills is said at each; the others are zero.
type Finding struct {
	Checker string

	// The transaction (durability, atomicity): a client's transaction of
	// the insert workload (List false; Txn is the client's n-th) or a
	// list-append (List true; Txn is its ID in the list history).
	List         bool
	Client, Txn  int
	Call, Return time.Duration
	Outcome      Outcome
	// Writes is how many rows (appends) the transaction wrote, Present how
	// many of them recovery kept.
	Writes, Present int
	// Async: the transaction committed with synchronous_commit = off,
	// and its loss breaks what PostgreSQL promises of such a commit
	// (asyncFinding): Other is then a later transaction of its server
	// lifetime that survived, or SyncCall and SyncReturn (non-zero) a
	// later synchronous commit that should have flushed it.
	Async                bool
	SyncCall, SyncReturn time.Duration

	// The page (wal-before-data, checkpoint): its file and block in the
	// file (Path, FileBlock) and, when the checker knows it, its relation
	// and block in the relation (Rel, Block; HasRel).
	Path       string
	FileBlock  uint32
	HasRel     bool
	Rel, Block uint32
	PageLSN    uint64 // the page's pd_lsn: as written (wal-before-data), in memory (checkpoint)
	WALDurable uint64 // wal-before-data: how far WAL was durable at the write (0 with NoInstance)
	NoInstance bool   // wal-before-data: written while no WAL was open for writing (redo, initdb)
	DiskLSN    uint64 // checkpoint: the page's pd_lsn durably on disk (0: none)
	Redo       uint64 // checkpoint: the REDO pointer the control file now names
	Dirty      bool   // checkpoint: the buffer is dirty in memory

	// The checkpoint's wait (liveness): when the checkpoint that waited
	// too long for commits in their critical section took its REDO
	// pointer, and how long it waited (StillWaiting: it was still waiting
	// at the end).
	RedoAt, Waited time.Duration
	StillWaiting   bool

	// Isolation is the level of the clients' transactions (bank):
	// IsoReadCommitted or IsoRepeatableRead.
	Isolation string

	// The key (unique): the table and key shown twice, or inserted by
	// two acknowledged transactions, the Finding's and Other's.
	Table string
	Key   uint64
	Other *Finding

	// The standby (standby): Node is the standby's name; StandbyWAL is
	// how far its WAL receiver had flushed when the workload stopped,
	// PrimaryWAL where the primary's final recovery found its WAL ended
	// (a standby ahead of it holds WAL the primary lost).
	Node                   string
	StandbyWAL, PrimaryWAL uint64
	// StandbyAhead: the standby wrote WAL beyond what the primary had
	// flushed at that moment (the online check; StandbyWAL and
	// PrimaryWAL are then those two positions).
	StandbyAhead bool
	// MinRecoveryPoint: a standby's minRecoveryPoint was wrong. From the
	// standby checker, the standby called itself consistent after a
	// restart having replayed only to StandbyWAL while its disk held
	// data pages changed up to PageLSN; from wal-before-data, its
	// control file named minRecoveryPoint PageLSN beyond its durable WAL.
	MinRecoveryPoint bool

	// The segment (archive): its name, what the checker caught (an
	// Archive* constant), and what the archive durably held of it: Copy
	// (a Copy* constant, "" when the copy was not judged), CopyBytes held
	// and WantBytes the completed segment's length (0 if unknown).
	Segment              string
	Archive, Copy        string
	CopyBytes, WantBytes int

	// The lock wait (lock-wakeup, lock-retry): the waiter (Pid, its
	// backend id Backend) and the transaction whose lock it waited for
	// (Xid). lock-wakeup: it went to sleep at Since, the lock was released
	// at Released, and it was still asleep at At (Woke: it woke then; else
	// the server stopped then), Late after the release not counting Paused
	// the plan paused it, against Limit. lock-retry: At its Waits-th wait
	// for Xid since a wait saw Xid end, against Baseline (a fault-free
	// run's most, lockRetryMax).
	Pid, Backend                             int
	Xid                                      uint64
	Since, Released, At, Late, Paused, Limit time.Duration
	Woke                                     bool
	Waits, Baseline                          int

	// The client's silence (client-progress): Client went Gap without a
	// reply, until At, in a run no fault, pause or crash-restart touched,
	// against Limit.
	Gap time.Duration

	// The hint (hint-before-commit): the page (Path, FileBlock, PageLSN,
	// WALDurable: how far WAL was durable at the write), its line pointer
	// Tuple whose Hint ("xmin" or "xmax") says committed for Xid, whose
	// commit record ends at CommitLSN.
	Tuple     int
	Hint      string
	CommitLSN uint64

	// What the engine's self-check found (self-check), a Self* constant,
	// in Table (and at Key for a search), with the error's SQLSTATE Code
	// (pgerr.CodeOf: "" when it had none) and its message, Detail, quoted
	// only. Recovery (recovery): Stage is where starting the server
	// stopped (a Stage* constant), with Code and Detail likewise.
	Self, Stage, Code, Detail string
	// Liveness beyond the checkpoint's wait: Stage is StageEnginePanic
	// (Proc hit a Go panic, an engine assertion: Detail is its value) or
	// Stage{Workload,Recovery}Stopped (the simulation stopped for Stop, a
	// world.StopKind's name such as "deadlock", in Proc if one).
	Stop, Proc string
	// The statement (statement-effect): in Client's range transaction
	// (Call, Return, Outcome), its Stmt-th statement (0: the
	// transaction's reads) of kind StmtKind (a Range* constant), and what
	// was wrong, Effect (an Effect* constant); Detail says it in words.
	Stmt             int
	StmtKind, Effect string
	// Initdb: the checker caught it while initdb built the image every
	// run starts from (its events come before the run's own).
	Initdb bool
}

// found records f as the run's Finding if it is the run's first failure:
// call it just before the res.fail it goes with.
func (r *Result) found(f Finding) {
	if r.OK && r.Finding == nil {
		r.Finding = &f
	}
}

// finding is op's Finding for checker, with n of its writes present.
func (op *Op) finding(checker string, n int) Finding {
	return Finding{Checker: checker, Client: op.Client, Txn: op.Index, Call: op.Call, Return: op.Return, Outcome: op.Outcome, Writes: len(op.Keys), Present: n}
}

// BankTotal is the money the bank workload's accounts hold together: what
// every snapshot read of them must add up to.
const BankTotal = bankTotal

// isolationName is the run's level as its configuration spells it.
func (r resolved) isolationName() string {
	switch r.iso {
	case db.RepeatableRead:
		return IsoRepeatableRead
	case db.Serializable:
		return IsoSerializable
	}
	return IsoReadCommitted
}

// listFinding is list-append t's Finding for checker: n of its appends
// present.
func listFinding(t *lin.Txn, checker string, appends, n int) Finding {
	return Finding{Checker: checker, List: true, Client: t.Client, Txn: t.ID, Call: time.Duration(t.Call), Return: time.Duration(t.Return),
		Outcome: t.Outcome, Writes: appends, Present: n}
}
