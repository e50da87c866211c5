package simtest

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	pgproc "github.com/pgdst/pgdst/engine/proc"
	lin "github.com/pgdst/pgdst/linearizability"
)

// The register, bank and list-append transactions (workload.go describes
// the workloads). Each returns false when the server is gone for good.

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// decodeU64 reads a register or a balance; a value of the wrong size reads
// as MaxUint64, which no client ever writes, so the checker sees garbage
// as garbage.
func decodeU64(b []byte) uint64 {
	if len(b) != 8 {
		return math.MaxUint64
	}
	return binary.LittleEndian.Uint64(b)
}

// decodeList reads a list of appended values; a ragged list reads with
// MaxUint64 at its end, a value nobody appended.
func decodeList(b []byte) []uint64 {
	out := make([]uint64, 0, len(b)/8+1)
	for len(b) >= 8 {
		out = append(out, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		out = append(out, math.MaxUint64)
	}
	return out
}

// registerOp is one autocommit read, write or compare-and-set of a hot
// key. Written values are unique: the client in the high bits.
func (s *session) registerOp() bool {
	if !s.connect() {
		return false
	}
	w := s.w
	key := uint64(s.rng.Intn(registerKeys))
	w.regSeq++
	op := lin.RegOp{Client: s.c, Key: key, Call: w.now()}
	req := pgproc.Request{Table: tableRegister, Key: key}
	kind := s.regKind()
	if kind == regKindCAS && s.lastReg[key] == regNone {
		// A compare-and-set from "no row" is an INSERT (deletes seeds).
		kind = regKindInsert
	}
	switch kind {
	case regKindRead:
		op.Kind, req.Op = lin.RegRead, pgproc.OpGet
		key = s.followKey(WorkloadRegister, key)
		op.Key, req.Key = key, key
	case regKindWrite:
		op.Kind, req.Op = lin.RegWrite, pgproc.OpUpdate
		op.Value = uint64(s.c+1)<<32 | w.regSeq
		req.Val = w.regEncode(op.Value)
	case regKindCAS:
		op.Kind, req.Op = lin.RegCAS, pgproc.OpCAS
		op.Value = uint64(s.c+1)<<32 | w.regSeq
		op.Expect = s.lastReg[key]
		req.Val, req.Expect = w.regEncode(op.Value), w.regEncode(op.Expect)
	case regKindDelete:
		// DELETE makes the register "no row" whether or not it had one.
		op.Kind, req.Op, op.Value = lin.RegWrite, pgproc.OpDelete, regNone
	default:
		// INSERT is a compare-and-set from "no row": a unique violation
		// is the comparison failing.
		op.Kind, req.Op = lin.RegCAS, pgproc.OpInsert
		op.Value, op.Expect = uint64(s.c+1)<<32|w.regSeq, regNone
		req.Val = w.regEncode(op.Value)
	}
	// Recorded before the call: a crash parks the client mid-call, and
	// the operation must then stand in the history as unknown.
	i := len(w.hist.Registers)
	w.hist.Registers = append(w.hist.Registers, op)
	resp, err := s.call(req)
	op.Return = w.now()
	op.Outcome = s.autocommitOutcome(err)
	if req.Op == pgproc.OpInsert {
		op.Outcome, op.Swapped = s.insertOutcome(err)
		if op.Swapped {
			s.lastReg[key] = op.Value
		}
	} else if err == nil {
		switch op.Kind {
		case lin.RegRead:
			op.Result = regNone // a missing row
			if resp.Found {
				op.Result = w.regDecode(resp.Val)
			}
			s.lastReg[key] = op.Result
		case lin.RegWrite:
			if !resp.Done && req.Op == pgproc.OpUpdate {
				op.Outcome = lin.Failed // UPDATE 0: the row is gone, which the final read shows
			}
			s.lastReg[key] = op.Value
		case lin.RegCAS:
			op.Swapped = resp.Done
			if resp.Done {
				s.lastReg[key] = op.Value
			}
		}
	}
	w.hist.Registers[i] = op
	if op.Outcome == lin.OK && (op.Kind == lin.RegWrite || op.Swapped) {
		w.syncWrite(time.Duration(op.Call), time.Duration(op.Return))
		w.noteCommit(s.c, WorkloadRegister, key)
	}
	return true
}

// longReadPauseMax bounds a long read's pause before each of its
// statements: long enough for several transfers and a VACUUM (client 0's
// transactions take a few milliseconds of virtual time each).
const longReadPauseMax = 20 * time.Millisecond

// bankTxn is a transfer between two accounts, or a read of every account
// in one snapshot, retried on serialization failures. Under READ
// COMMITTED a read is one statement (one snapshot); under REPEATABLE READ
// it may also be one statement per account, all in the transaction's
// snapshot. Transfers add and subtract in place (UPDATE ... SET balance =
// balance + d), so READ COMMITTED loses no update either.
func (s *session) bankTxn() bool {
	w := s.w
	read := s.rng.Intn(3) == 0
	perAccount := w.rc.usesXactSnapshot() && s.rng.Intn(2) == 0
	// On long-read seeds every REPEATABLE READ read is per account and
	// lingers between its statements: its snapshot outlives transfers
	// and the VACUUMs after them, which must keep every version it can
	// still see (GetOldestNonRemovableTransactionId).
	long := w.rc.longReads && w.rc.usesXactSnapshot()
	perAccount = perAccount || long
	from, to := uint64(s.rng.Intn(bankAccounts)), uint64(s.rng.Intn(bankAccounts-1))
	if to >= from {
		to++
	}
	amount := int64(1 + s.rng.Intn(20))
	for attempt := 0; attempt < retriesMax; attempt++ {
		if !s.connect() {
			return false
		}
		call := w.now()
		_, err := s.call(pgproc.Request{Op: pgproc.OpBegin, Iso: w.rc.iso, Mode: s.ssiBankMode(read)})
		async := false
		if err == nil && !read {
			async, err = s.setLocalAsync()
		}
		wrote := true // every UPDATE of the transfer found its row
		balances := map[uint64]int64{}
		switch {
		case err != nil:
		case read && !perAccount:
			var resp pgproc.Response
			if resp, err = s.stmt(pgproc.Request{Op: pgproc.OpScan, Table: tableBank, Lo: 0, Hi: math.MaxUint64}); err == nil {
				for _, r := range resp.Rows {
					balances[r.Key] = int64(decodeU64(r.Val))
				}
			}
		case read:
			for a := uint64(0); a < bankAccounts && err == nil; a++ {
				if long {
					w.node.Env.Clock.Sleep(time.Duration(s.rng.Intn(int(longReadPauseMax))))
				}
				var resp pgproc.Response
				if resp, err = s.stmt(pgproc.Request{Op: pgproc.OpGet, Table: tableBank, Key: a}); err == nil && resp.Found {
					balances[a] = int64(decodeU64(resp.Val))
				}
			}
		case w.rc.usesXactSnapshot():
			// Read, then write what was read: safe only because
			// REPEATABLE READ fails the write with 40001 when another
			// transfer changed the account since the snapshot.
			var bal [2]uint64
			for i, acct := range []uint64{from, to} {
				var resp pgproc.Response
				if err == nil {
					if resp, err = s.stmt(pgproc.Request{Op: pgproc.OpGet, Table: tableBank, Key: acct}); err == nil {
						bal[i] = decodeU64(resp.Val)
					}
				}
			}
			for i, acct := range []uint64{from, to} {
				if err == nil {
					var resp pgproc.Response
					resp, err = s.stmt(pgproc.Request{Op: pgproc.OpUpdate, Table: tableBank, Key: acct, Val: u64(bal[i] + uint64([2]int64{-amount, amount}[i]))})
					wrote = wrote && resp.Done
				}
			}
		default:
			// READ COMMITTED: UPDATE ... SET balance = balance + d, which
			// EvalPlanQual applies to the newest version.
			for _, leg := range []struct {
				acct  uint64
				delta int64
			}{{from, -amount}, {to, amount}} {
				if err == nil {
					var resp pgproc.Response
					resp, err = s.stmt(pgproc.Request{Op: pgproc.OpAdd, Table: tableBank, Key: leg.acct, Delta: leg.delta})
					wrote = wrote && resp.Done
				}
			}
		}
		readOK := read && err == nil
		outcome, err := s.end(err, false)
		w.hist.BankTxns++
		if outcome == OK && !read && !async && wrote {
			w.syncWrite(time.Duration(call), time.Duration(w.now()))
		}
		if readOK {
			// Every statement of the read succeeded: whatever the
			// COMMIT says, the snapshot it read must balance.
			w.hist.BankReads = append(w.hist.BankReads, lin.BankRead{Client: s.c, Call: call, Return: w.now(), Balances: balances})
		}
		if outcome != Failed || !retryable(err) {
			return true
		}
	}
	return true
}

// appendTxn is one list-append transaction: reads of whole lists and
// appends of values unique per key, retried (as a new transaction with
// new values) on serialization failures.
func (s *session) appendTxn() bool {
	w := s.w
	n := 1 + s.rng.Intn(w.rc.listMopsMax())
	for attempt := 0; attempt < retriesMax; attempt++ {
		if !s.connect() {
			return false
		}
		// Recorded before the first call and updated in place: a crash
		// parks the client mid-transaction, which must then stand in
		// the history as unknown with the appends it sent.
		id := len(w.hist.Lists)
		w.hist.Lists = append(w.hist.Lists, lin.Txn{ID: id, Client: s.c, Call: w.now()})
		// Other clients append to the history while this one waits, so
		// the entry is looked up afresh after every call, never held.
		txn := func() *lin.Txn { return &w.hist.Lists[id] }
		readOnly, mode := s.ssiReadOnlyAppendTxn()
		_, err := s.call(pgproc.Request{Op: pgproc.OpBegin, Iso: w.rc.iso, Mode: mode})
		for i := 0; i < s.ssiMops(n, readOnly) && err == nil; i++ {
			key := w.listKey(uint64(s.rng.Intn(w.rc.listKeysDrawn())))
			if readOnly {
				key = w.listKey(uint64(i)) // every list, in order (ssi_read_only.go)
			}
			s.ssiPause(readOnly)
			s.hotPause()
			if s.rng.Intn(2) == 0 || readOnly {
				key = s.followKey(WorkloadAppend, key)
				if w.rc.listInserts && s.rng.Intn(2) == 0 {
					err = s.readListRange(txn, key)
					s.noteSnapshot(txn(), i, err)
					continue
				}
				var resp pgproc.Response
				if resp, err = s.stmt(pgproc.Request{Op: pgproc.OpGet, Table: tableLists, Key: key}); err == nil {
					txn().Mops = append(txn().Mops, lin.Mop{Kind: lin.MopRead, Key: key, List: decodeList(resp.Val)})
				}
				s.noteSnapshot(txn(), i, err)
				continue
			}
			w.listSeq[key]++
			v := w.listSeq[key]
			txn().Mops = append(txn().Mops, lin.Mop{Kind: lin.MopAppend, Key: key, Value: v})
			var resp pgproc.Response
			if resp, err = s.stmt(pgproc.Request{Op: w.rc.appendOp(), Table: tableLists, Key: key, Val: u64(v)}); err == nil && !resp.Done {
				err = errListGone
			}
			s.noteSnapshot(txn(), i, err)
		}
		abort := s.rng.Intn(16) == 0
		if err == nil && !abort {
			txn().CommitCall = w.now()
		}
		outcome, err := s.end(err, abort)
		t := txn()
		t.Return, t.Outcome = w.now(), outcome
		if outcome == OK && appended(t) {
			w.syncWrite(time.Duration(t.Call), time.Duration(t.Return))
			w.noteCommit(s.c, WorkloadAppend, appendedKeys(t)...)
		}
		if err != nil {
			t.Err = err.Error()
		}
		if outcome == Unknown {
			// Reads of a transaction that never returned are not
			// trusted: its statements' replies may be partial.
			for i := range t.Mops {
				t.Mops[i].List = nil
			}
		}
		if outcome != Failed || !retryable(err) {
			return true
		}
	}
	return true
}

// noteSnapshot records, after a list-append transaction's statement i,
// when its snapshot was certainly taken: at REPEATABLE READ the first
// statement takes the transaction's one snapshot (GetTransactionSnapshot
// with IsolationUsesXactSnapshot), so by the time it returns the
// snapshot exists, and the isolation checker may hold the transaction to
// it (G-SIa). READ COMMITTED takes one per statement: nothing is noted.
func (s *session) noteSnapshot(t *lin.Txn, i int, err error) {
	if i == 0 && err == nil && s.w.rc.usesXactSnapshot() {
		t.SnapshotBy = s.w.now()
	}
}

// errListGone is an append that updated no row: the list's row is gone.
var errListGone = errors.New("append updated no row: the list's row is missing")
