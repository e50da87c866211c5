package db

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/xact"
)

// TxnMode is the transaction modes BEGIN takes besides the isolation
// level (BEGIN ISOLATION LEVEL ... READ ONLY DEFERRABLE).
type TxnMode uint8

// The transaction modes.
const (
	// ModeReadOnly is READ ONLY (XactReadOnly): a write fails with 25006
	// (PreventCommandIfReadOnly), and a SERIALIZABLE transaction gets
	// SSI's read-only optimizations and safe snapshots.
	ModeReadOnly TxnMode = 1 << iota
	// ModeDeferrable is DEFERRABLE (XactDeferrable): with SERIALIZABLE
	// and READ ONLY, the first snapshot waits until it is safe
	// (GetSafeSnapshot); otherwise it changes nothing, as in PostgreSQL.
	ModeDeferrable
)

func (m TxnMode) String() string {
	switch m {
	case 0:
		return "read write"
	case ModeReadOnly:
		return "read only"
	case ModeReadOnly | ModeDeferrable:
		return "read only deferrable"
	case ModeDeferrable:
		return "read write deferrable"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// BeginMode is BEGIN ISOLATION LEVEL iso with the modes of mode.
func (s *Session) BeginMode(iso Isolation, mode TxnMode) error {
	if mode&^(ModeReadOnly|ModeDeferrable) != 0 {
		return fmt.Errorf("db: unknown transaction mode %d", mode)
	}
	if err := s.Begin(iso); err != nil {
		return err
	}
	s.readOnly = mode&ModeReadOnly != 0
	s.deferrable = mode&ModeDeferrable != 0
	return nil
}

// safeSnapshotWait is where DEFERRABLE transactions sleep until their
// snapshot is known safe or unsafe (PostgreSQL's ProcWaitForSignal with
// WAIT_EVENT_SAFE_SNAPSHOT, woken by ProcSendSignal from
// ReleasePredicateLocks).
type safeSnapshotWait struct {
	mu env.Mutex
	cv env.Cond
}

func (db *DB) safeSnapshotWaiters() *safeSnapshotWait {
	if db.safeSnap == nil {
		// In the LockManager tranche: predicate.c is part of the lock
		// manager (storage/lmgr), and a tranche of its own would move
		// every seed whose lock pause draws a tranche.
		mu := db.e.Sched.NewMutex("LockManager SafeSnapshot")
		db.safeSnap = &safeSnapshotWait{mu: mu, cv: db.e.Sched.NewCond("SafeSnapshot", mu)}
	}
	return db.safeSnap
}

// safeSnapshotRetriesMax bounds GetSafeSnapshot's retries: each needs a
// read-write transaction that commits with a conflict out while the
// reader waits, so a reader retrying this often means the wakeups lie.
// safeSnapshotWakeupsMax bounds the wakeups of one wait the same way.
const (
	safeSnapshotRetriesMax = 1 << 12
	safeSnapshotWakeupsMax = 1 << 16
)

// getSafeSnapshot is GetSafeSnapshot: a SERIALIZABLE READ ONLY DEFERRABLE
// transaction's first snapshot, taken again and again until it is safe.
// Each round registers the snapshot (GetSerializableTransactionSnapshotInt)
// and, unless no read-write serializable transaction runs, sleeps until
// every one that ran at the snapshot has ended (safe) or one committed
// with a rw-conflict out to a transaction that committed before the
// snapshot (unsafe: FlagSxactUnsafe, and a new snapshot). The safe
// snapshot's transaction then runs without SIREAD locks or conflict
// checks, and can never fail with 40001.
func (s *Session) getSafeSnapshot(snap *xact.Snapshot) *xact.Snapshot {
	pl := s.db.predicateLocks()
	for try := 0; ; try++ {
		if try > safeSnapshotRetriesMax {
			panic(fmt.Sprintf("db: GetSafeSnapshot retried %d times", try))
		}
		sx := pl.Register(snap, true)
		if decided, _ := pl.SafeSnapshotVerdict(sx); !decided {
			s.db.e.Sometimes("ssi-deferrable-waited")
			w := s.db.safeSnapshotWaiters()
			w.mu.Lock()
			for i := 0; ; i++ {
				if decided, _ := pl.SafeSnapshotVerdict(sx); decided {
					break
				}
				if i > safeSnapshotWakeupsMax {
					panic(fmt.Sprintf("db: a DEFERRABLE transaction woke %d times without a verdict", i))
				}
				w.cv.Wait()
			}
			w.mu.Unlock()
		}
		if pl.EndSafeSnapshotWait(sx) {
			s.sx = sx
			return snap
		}
		// "deferrable snapshot was unsafe; trying a new one"
		snap = s.db.Procs.GetSnapshot(s.proc)
		s.snap = snap
	}
}

// ssiWakeSafeSnapshotWaiters is ReleasePredicateLocks' ProcSendSignal to
// DEFERRABLE transactions whose verdict the ending transaction decided.
func (s *Session) ssiWakeSafeSnapshotWaiters() {
	if !s.db.pred.TakeWakeup() {
		return
	}
	w := s.db.safeSnapshotWaiters()
	w.mu.Lock()
	w.cv.Broadcast()
	w.mu.Unlock()
}

// SerializableReadOnlySafe reports whether the session's SERIALIZABLE
// READ ONLY transaction runs without SSI now: its snapshot was found
// safe, at once, after a DEFERRABLE wait, or mid-transaction.
func (s *Session) SerializableReadOnlySafe() bool { return s.sx != nil && s.sx.ReadOnlySafe() }
