package env

import (
	"fmt"
	"strconv"
	"time"
)

// EventKind is what an Event records. Everything that matters in a run is
// an event: the simulator's own (scheduling, env calls, injection points),
// the harness's (crash, fault applied) and the engine's semantic ones (WAL
// insert and flush, buffer writes, checkpoints, commits, recovery). The
// trace hash, the readable trace and the report are all derived from
// events, so that nothing downstream parses text.
type EventKind uint8

// The event kinds. The comment on each says which payload fields it uses;
// the others are zero.
const (
	EvNone EventKind = iota

	// Scheduling (simulator).
	EvSpawn     // A: the child's pid; Role2: its role; Name: its name
	EvExit      // the process ended normally
	EvKilled    // the process was killed; Name: why, or its name at a KillAll
	EvPanic     // the process raised a PANIC or a Go panic; Name: the message
	EvStop      // the process asked the run to stop; Name: why
	EvFaultStop // the fault plan stopped the run here; Name: the fault
	EvSwitch    // A: the pid the scheduler switched to
	EvBlock     // A: the pid that runs next; Name: what the process waits for
	EvYield     // a plain scheduling point
	EvSleep     // A: the duration in ns
	EvLock      // Name: the mutex
	EvUnlock    // Name: the mutex
	EvCondWait  // A: the timeout in ns (-1: none); Name: the condition
	EvNow       // A: the clock reading in ns
	EvRand      // A: the value drawn; B: its bound (0: none)
	EvInject    // Name: the injection point

	// Disk operations, in the simulator's DiskOpKind order. Class: the
	// file's class; A: offset (truncate: the size); B: length; Name: path;
	// Name2: a rename's destination.
	EvDiskOpen
	EvDiskRead
	EvDiskWrite
	EvDiskSync
	EvDiskTruncate
	EvDiskSize
	EvDiskClose
	EvDiskRemove
	EvDiskRename
	EvDiskList
	EvDiskMkdir
	EvDiskSyncDir

	// Network operations. Name: the host; A, B as listed.
	EvNetListen // A: port
	EvNetAccept // A: port; B: connections queued
	EvNetDial   // A: port
	EvNetRead   // A: connection id; B: bytes asked for
	EvNetWrite  // A: connection id; B: bytes
	EvNetClose  // A: connection id or port; B: side (or queue length)
	EvNetFault  // A: the fault's value (e.g. ns of latency); Name: "KIND FROM TO"

	// The harness.
	EvNote          // Name: free text the harness writes for a reader (seed, config, plan)
	EvLog           // Name: a server log line, as the logger wrote it (for reading only)
	EvCrash         // Name: the crash kind and what caused it
	EvRecoveryCrash // Name: how recovery stopped
	EvFault         // A: the fault's number in the plan, from 1; B: its action's kind (fault.ActionKind); Class: the file class a disk fault hit; Name: what it did and to what
	EvImage         // A: the image's trace hash; B: its events; the run starts from an initdb image

	// The engine's semantic events (Env.Observe).
	EvWALInsert       // LSN: start; LSN2: end; Rmgr: the resource manager; Xid
	EvWALFlush        // LSN: flushed up to
	EvBufferWrite     // Rel, Block: the page; LSN: its page LSN
	EvControlUpdate   // LSN: the checkpoint record; LSN2: its REDO point
	EvCheckpointBegin // A: the checkpoint's flags
	EvCheckpointRedo  // LSN: the REDO point
	EvCheckpointEnd   // LSN: the checkpoint record; LSN2: its REDO point
	EvCommit          // Xid; LSN: the commit record's end
	EvCommitAck       // Xid; LSN: the commit record's end; the backend replies to the client
	EvRecoveryBegin   // LSN: where redo starts
	EvRecoveryEnd     // redo is done. LSN: where it started; LSN2: where it ended; A: records replayed
	EvPageInvalid     // Rel, Block: a page read from disk failed verification (checksum, header)
	EvLockWait        // Xid: the transaction waited for; A: the waiter's backend id; B: 1 if it is held (the waiter sleeps)
	EvLockWaitEnd     // Xid: the transaction waited for; A: the waiter's backend id; B: 0 it ended, 1 deadlock_detected
	EvLockRelease     // Xid: the transaction whose lock ends; A: the backends sleeping on it

	NumEventKinds = iota
)

var eventKindNames = [NumEventKinds]string{
	"none",
	"spawn", "exit", "killed", "proc-panic", "stop", "fault-stop", "switch", "block",
	"yield", "sleep", "lock", "unlock", "cond-wait", "now", "rand", "inject",
	"disk.open", "disk.read", "disk.write", "disk.sync", "disk.truncate", "disk.size",
	"disk.close", "disk.remove", "disk.rename", "disk.list", "disk.mkdir", "disk.syncdir",
	"net.listen", "net.accept", "net.dial", "net.read", "net.write", "net.close", "net.fault",
	"note", "log", "crash", "recovery-crash", "fault", "image",
	"wal.insert", "wal.flush", "buffer.write", "control.update",
	"checkpoint.begin", "checkpoint.redo", "checkpoint.end",
	"commit", "commit.ack", "recovery.begin", "recovery.end",
	"page.invalid",
	"lock.wait", "lock.wait-end", "lock.release",
}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseEventKind returns the kind named s (String's inverse).
func ParseEventKind(s string) (EventKind, bool) {
	for i, n := range eventKindNames {
		if n == s {
			return EventKind(i), true
		}
	}
	return 0, false
}

// MarshalText is the kind's name, so that recorded events read as text.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText is MarshalText's inverse.
func (k *EventKind) UnmarshalText(b []byte) error {
	v, ok := ParseEventKind(string(b))
	if !ok {
		return fmt.Errorf("unknown event kind %q", b)
	}
	*k = v
	return nil
}

// IsDisk says k is a disk operation.
func (k EventKind) IsDisk() bool { return k >= EvDiskOpen && k <= EvDiskSyncDir }

// Event is one thing that happened in a run. The emitter fills Kind and the
// payload; the environment stamps Time, Node, Pid and Role.
type Event struct {
	Kind EventKind `json:"kind"`
	// Stamped by the environment.
	Time time.Duration `json:"t"`              // virtual time
	Node string        `json:"node,omitempty"` // the node: of a disk, network or engine event ("" for the scheduler's own)
	Pid  int           `json:"pid"`            // the process (0: the harness)
	Role Role          `json:"role"`           // the process's role

	// The payload: which fields a kind uses is said at the kind.
	Class FileClass `json:"class,omitempty"`
	Role2 Role      `json:"role2,omitempty"` // a spawned child's role
	Rmgr  uint8     `json:"rmgr,omitempty"`
	Xid   uint64    `json:"xid,omitempty"`
	Rel   uint32    `json:"rel,omitempty"`
	Block uint32    `json:"block,omitempty"`
	A     int64     `json:"a,omitempty"`
	B     int64     `json:"b,omitempty"`
	LSN   uint64    `json:"lsn,omitempty"`
	LSN2  uint64    `json:"lsn2,omitempty"`
	Name  string    `json:"name,omitempty"`
	// Name2 is a rename's destination (Name is its source).
	Name2 string `json:"name2,omitempty"`
	// NameHash, when not 0, is the simulator's digest of Name, cached by
	// an emitter that repeats the same name (a mutex, a path).
	NameHash uint64 `json:"-"`
}

// Observer receives the engine's semantic events. The simulator stamps
// and records them; the real environment has none.
type Observer interface {
	Observe(e Event)
}

// Observe reports a semantic event (the simulator hashes and records it;
// with no observer it costs a nil check).
func (e *Env) Observe(ev Event) {
	if e.Events != nil {
		e.Events.Observe(ev)
	}
}

// The engine's semantic events, one typed method each, so that an emit is
// one line where the engine knows the fact. LSNs are wal.LSN values.

// WALInserted: a record of resource manager rmgr (and transaction xid, 0
// for none) now occupies [start, end) of the WAL (XLogInsert).
func (e *Env) WALInserted(start, end uint64, rmgr uint8, xid uint64) {
	e.Observe(Event{Kind: EvWALInsert, LSN: start, LSN2: end, Rmgr: rmgr, Xid: xid})
}

// WALFlushed: the WAL is durable up to upto (XLogFlush's write and fsync).
func (e *Env) WALFlushed(upto uint64) { e.Observe(Event{Kind: EvWALFlush, LSN: upto}) }

// BufferWritten: the page of relation file rel, block block, with page LSN
// pageLSN, was written to the kernel (FlushBuffer).
func (e *Env) BufferWritten(rel, block uint32, pageLSN uint64) {
	e.Observe(Event{Kind: EvBufferWrite, Rel: rel, Block: block, LSN: pageLSN})
}

// ControlUpdated: the control file, fsynced, names checkpoint and its REDO
// point (UpdateControlFile).
func (e *Env) ControlUpdated(checkpoint, redo uint64) {
	e.Observe(Event{Kind: EvControlUpdate, LSN: checkpoint, LSN2: redo})
}

// CheckpointBegan: a checkpoint with flags starts (CreateCheckPoint).
func (e *Env) CheckpointBegan(flags int64) { e.Observe(Event{Kind: EvCheckpointBegin, A: flags}) }

// CheckpointRedo: the checkpoint took its REDO point.
func (e *Env) CheckpointRedo(redo uint64) { e.Observe(Event{Kind: EvCheckpointRedo, LSN: redo}) }

// CheckpointEnded: the checkpoint's record is at checkpoint and the
// control file names it.
func (e *Env) CheckpointEnded(checkpoint, redo uint64) {
	e.Observe(Event{Kind: EvCheckpointEnd, LSN: checkpoint, LSN2: redo})
}

// Committed: transaction xid's commit record ends at lsn, and the commit
// is complete (RecordTransactionCommit); the backend may acknowledge.
func (e *Env) Committed(xid, lsn uint64) { e.Observe(Event{Kind: EvCommit, Xid: xid, LSN: lsn}) }

// CommitAcked: the backend replied to its client that xid committed.
func (e *Env) CommitAcked(xid, lsn uint64) {
	e.Observe(Event{Kind: EvCommitAck, Xid: xid, LSN: lsn})
}

// RecoveryBegan: redo starts at redo (StartupXLOG's "redo starts at").
func (e *Env) RecoveryBegan(redo uint64) { e.Observe(Event{Kind: EvRecoveryBegin, LSN: redo}) }

// RecoveryEnded: redo from redo is done at end, records records replayed
// ("redo done at").
func (e *Env) RecoveryEnded(redo, end uint64, records int64) {
	e.Observe(Event{Kind: EvRecoveryEnd, LSN: redo, LSN2: end, A: records})
}

// PageInvalid: the page of relation file rel, block block, read from
// disk, failed verification ("invalid page in block"; ReadBuffer_common's
// PageIsVerifiedExtended). Rare, so cheap: explain names the page a failed
// recovery or self-check tripped on.
func (e *Env) PageInvalid(rel, block uint32) {
	e.Observe(Event{Kind: EvPageInvalid, Rel: rel, Block: block})
}

// LockWaitBegan: backend starts waiting for transaction xid to end
// (XactLockTableWait); held says xid's lock is held, so it sleeps.
func (e *Env) LockWaitBegan(backend int, xid uint64, held bool) {
	var b int64
	if held {
		b = 1
	}
	e.Observe(Event{Kind: EvLockWait, Xid: xid, A: int64(backend), B: b})
}

// LockWaitEnded: backend's wait for xid is over: xid ended, or (deadlock)
// the wait failed with deadlock_detected.
func (e *Env) LockWaitEnded(backend int, xid uint64, deadlock bool) {
	var b int64
	if deadlock {
		b = 1
	}
	e.Observe(Event{Kind: EvLockWaitEnd, Xid: xid, A: int64(backend), B: b})
}

// LockReleased: transaction xid's lock ends (LockRelease at commit or
// abort) with sleepers backends waiting for it, which it must wake
// (ProcLockWakeup).
func (e *Env) LockReleased(xid uint64, sleepers int) {
	e.Observe(Event{Kind: EvLockRelease, Xid: xid, A: int64(sleepers)})
}
