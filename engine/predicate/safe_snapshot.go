package predicate

import (
	"fmt"
	"slices"

	"github.com/pgdst/pgdst/engine/xact"
)

// Safe snapshots (README-SSI "Read Only Transactions"; Ports and Grittner
// 2012, section 4). A READ ONLY transaction can only be part of a
// dangerous structure as Tin, with a pivot that ran concurrently with it
// and has a rw-conflict out to a transaction that committed before the
// read-only transaction's snapshot. So when every read-write serializable
// transaction that was running at the snapshot has ended, and none ended
// committed with such a conflict out, the snapshot is safe: the
// transaction can drop its SIREAD locks and conflicts and read on without
// SSI, and it can never fail with 40001. When one did commit with such a
// conflict, the snapshot is unsafe: the transaction keeps full SSI (and a
// DEFERRABLE one takes a new snapshot and tries again).

// optOut is GetSerializableTransactionSnapshotInt's early return for a
// READ ONLY transaction with no read-write serializable transaction to
// fear (WritableSxactCount == 0, or every one running is doomed): the
// transaction runs without a SERIALIZABLEXACT. Here it gets one already
// released, which every entry point takes as "no SSI" (PostgreSQL's
// InvalidSerializableXact).
func (m *Manager) optOut(snap *xact.Snapshot) *Sxact {
	m.e.Sometimes("ssi-ro-safe")
	return &Sxact{id: -2, xmin: snap.Xmin, snap: snap, flags: flagReadOnly | flagROSafe, released: true}
}

// registerPossibleUnsafe is the READ ONLY branch of
// GetSerializableTransactionSnapshotInt: every read-write serializable
// transaction still running (not committed, not doomed) is a possible
// unsafe conflict of ro (SetPossibleUnsafeConflict). It reports whether
// there is any.
func (m *Manager) registerPossibleUnsafe(ro *Sxact) bool {
	for _, w := range m.active {
		if w.has(flagCommitted) || w.has(flagDoomed) || w.has(flagReadOnly) {
			continue
		}
		ro.possibleUnsafe = append(ro.possibleUnsafe, w)
		w.possibleUnsafe = append(w.possibleUnsafe, ro)
	}
	return len(ro.possibleUnsafe) > 0
}

// unlinkPossibleUnsafe is ReleaseRWConflict on a possibleUnsafeConflicts
// link.
func unlinkPossibleUnsafe(ro, w *Sxact) {
	if i := slices.Index(ro.possibleUnsafe, w); i >= 0 {
		ro.possibleUnsafe = slices.Delete(ro.possibleUnsafe, i, i+1)
	}
	if i := slices.Index(w.possibleUnsafe, ro); i >= 0 {
		w.possibleUnsafe = slices.Delete(w.possibleUnsafe, i, i+1)
	}
}

// forgetPossibleUnsafe is ReleasePredicateLocks for a declared READ ONLY
// transaction: its list of read-write transactions that might make it
// unsafe is cleared.
func (m *Manager) forgetPossibleUnsafe(ro *Sxact) {
	for i := 0; len(ro.possibleUnsafe) > 0; i++ {
		if i > len(m.active) {
			panic(fmt.Sprintf("predicate: transaction %d's possible unsafe conflicts do not shrink", ro.id))
		}
		unlinkPossibleUnsafe(ro, ro.possibleUnsafe[0])
	}
}

// judgeReadOnly is ReleasePredicateLocks for a read-write transaction w:
// w leaves the possible conflicts of every READ ONLY transaction that
// took its snapshot while w ran. If w committed, wrote, and has a
// conflict out to a transaction that committed before that snapshot,
// the read-only transaction is unsafe (FlagSxactUnsafe); otherwise, once
// w was its last possible conflict, it is safe (SXACT_FLAG_RO_SAFE), and
// drops its locks itself at its next read. A DEFERRABLE one waiting for
// the verdict is woken (ProcSendSignal). It runs after w's conflict-out
// flags are final.
func (m *Manager) judgeReadOnly(w *Sxact, commit bool) {
	for _, ro := range slices.Clone(w.possibleUnsafe) {
		if !ro.has(flagReadOnly) || ro.has(flagROSafe) {
			panic(fmt.Sprintf("predicate: transaction %d, a possible unsafe conflict of %d, is not read-only and undecided", ro.id, w.id))
		}
		if commit && w.didWrite && w.has(flagConflictOut) && w.earliestOutConflictCommit <= ro.lastCommitBeforeSnapshot {
			m.flagUnsafe(ro)
		} else {
			unlinkPossibleUnsafe(ro, w)
			if len(ro.possibleUnsafe) == 0 {
				ro.flags |= flagROSafe
			}
		}
		if ro.has(flagDeferrableWaiting) && (ro.has(flagROSafe) || ro.has(flagROUnsafe)) {
			m.wake = true
		}
	}
	if len(w.possibleUnsafe) != 0 {
		panic(fmt.Sprintf("predicate: transaction %d ended with %d possible unsafe conflicts left", w.id, len(w.possibleUnsafe)))
	}
}

// flagUnsafe is FlagSxactUnsafe: ro's snapshot is not safe, so its other
// possible conflicts no longer matter.
func (m *Manager) flagUnsafe(ro *Sxact) {
	ro.flags |= flagROUnsafe
	m.forgetPossibleUnsafe(ro)
	m.e.Sometimes("ssi-ro-unsafe")
}

// releaseSafe is ReleasePredicateLocks(false, true): a READ ONLY
// transaction whose snapshot is safe lets go of its locks and conflicts
// mid-transaction (SerializationNeededForRead, or GetSafeSnapshot once
// its wait is over). From here on the transaction runs as under
// REPEATABLE READ, and nothing it does can fail with 40001.
func (m *Manager) releaseSafe(s *Sxact) {
	if !s.has(flagReadOnly) || !s.has(flagROSafe) || len(s.possibleUnsafe) != 0 {
		panic(fmt.Sprintf("predicate: transaction %d released as safe but not read-only and safe", s.id))
	}
	m.release(s, false)
	m.e.Sometimes("ssi-ro-safe")
}

// ReadOnlySafe reports whether s, a READ ONLY transaction, runs without
// SSI now (its snapshot was safe and it released its locks), for tests
// and transcripts.
func (s *Sxact) ReadOnlySafe() bool { return s.has(flagROSafe) && s.released }

// SafeSnapshotVerdict is, for a DEFERRABLE transaction registered with
// Register(snap, true), whether its snapshot is known safe or unsafe
// yet: GetSafeSnapshot's wait condition (possibleUnsafeConflicts empty,
// or SxactIsROUnsafe). One that opted out at once is decided and safe.
func (m *Manager) SafeSnapshotVerdict(s *Sxact) (decided, safe bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.released {
		return true, s.has(flagROSafe)
	}
	if !s.has(flagReadOnly) {
		panic(fmt.Sprintf("predicate: transaction %d waits for a safe snapshot but is not read-only", s.id))
	}
	s.flags |= flagDeferrableWaiting
	switch {
	case s.has(flagROUnsafe):
		return true, false
	case len(s.possibleUnsafe) == 0:
		return true, true
	}
	return false, false
}

// EndSafeSnapshotWait is the end of one round of GetSafeSnapshot's
// loop, once SafeSnapshotVerdict has decided: a safe snapshot's
// transaction drops its locks and runs without SSI from here
// (ReleasePredicateLocks(false, true)); an unsafe one's record is
// released, and the caller takes a new snapshot and registers again
// (ReleasePredicateLocks(false, false)). It reports safe.
func (m *Manager) EndSafeSnapshotWait(s *Sxact) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.released {
		return s.has(flagROSafe)
	}
	s.flags &^= flagDeferrableWaiting
	if s.has(flagROUnsafe) {
		m.release(s, false)
		return false
	}
	s.flags |= flagROSafe
	m.releaseSafe(s)
	return true
}

// TakeWakeup reports, once, whether a DEFERRABLE transaction waiting for
// a safe snapshot has learned its verdict since the last call: its
// backend must be woken.
func (m *Manager) TakeWakeup() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.wake
	m.wake = false
	return w
}
