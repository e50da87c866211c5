package simtest

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	lin "github.com/pgdst/pgdst/linearizability"
)

// The history checkers of the register, bank and list-append workloads,
// run after recovery with the engine quiet: a final read of every
// workload table joins each history as its last operation (after every
// other one in real time), so that what recovery kept is judged by the
// same rules as what clients saw.

// The history checkers, by name (see also run.go's crash checkers).
const (
	// CheckLinearizability: the register history is linearizable
	// (porcupine), final reads included.
	CheckLinearizability = "linearizability"
	// CheckIsolation: the list-append history shows no anomaly the
	// run's isolation level forbids (Elle-style).
	CheckIsolation = "isolation"
	// CheckBank: every snapshot read of the accounts balances.
	CheckBank = "bank"
)

// porcupineTimeout bounds the linearizability check of one run; a history
// porcupine cannot decide within it is reported as unknown, not failed.
const porcupineTimeout = 10 * time.Second

// createWorkloadTables is initdb's part for the workload: its tables with
// their opening rows, committed before anything can crash.
func createWorkloadTables(d *db.DB, workload string) error {
	for _, name := range tablesFor(workload) {
		if err := d.CreateTable(name); err != nil {
			return err
		}
		s, err := d.Connect()
		if err != nil {
			return err
		}
		keys, vals := initialRows(name)
		for i, k := range keys {
			if err = s.Insert(name, k, vals[i]); err != nil {
				break
			}
		}
		s.Close()
		if err != nil {
			return fmt.Errorf("initial rows of %s: %w", name, err)
		}
	}
	return nil
}

// checkHistories reads every workload table after recovery and judges
// the register, bank and list-append histories.
func (w *workload) checkHistories(d *db.DB, res *Result) {
	tables := tablesFor(w.rc.Workload)
	if len(tables) == 0 {
		return
	}
	s, err := d.Connect()
	if err != nil {
		res.found(stageFinding(StageConnect, err))
		res.fail(CheckRecovery, "connect after recovery: %v", err)
		return
	}
	defer s.Close()
	final := map[string]map[uint64][]byte{}
	// A key shown twice is judged after the history checkers: the more
	// specific of them (an aborted write read, a lost update) name the
	// same damage with its cause, when they see it.
	type dup struct {
		table string
		key   uint64
	}
	var dups []dup
	for _, name := range tables {
		rows := map[uint64][]byte{}
		if err := s.Scan(name, 0, math.MaxUint64, func(k uint64, v []byte) bool {
			if _, seen := rows[k]; seen && len(dups) < maxFailures {
				dups = append(dups, dup{name, k})
			}
			rows[k] = append([]byte(nil), v...)
			return true
		}); err != nil {
			res.found(stageFinding(StageScan, err))
			res.fail(CheckRecovery, "scan of %s after recovery: %v", name, err)
			return
		}
		final[name] = rows
	}
	at := w.now()
	for _, name := range tables {
		switch name {
		case tableRegister:
			w.checkRegisters(final[name], at, res)
		case tableBank:
			w.checkBank(final[name], at, res)
		case tableLists:
			w.checkLists(final[name], at, res)
		}
	}
	for _, d := range dups {
		res.found(Finding{Checker: CheckUnique, Table: d.table, Key: d.key})
		res.fail(CheckUnique, "the final scan of %s shows key %d twice", d.table, d.key)
	}
	if !res.OK && res.XidStatus == nil {
		// A lost list append needs the recovered clog as much as a lost
		// insert does (checkDB): explain tells a lost commit record from
		// a commit whose status was lost by it.
		res.XidStatus = xidStatuses(d)
	}
}

// registerValueName says what a register value is: a register write's
// value is (client+1)<<32 | the workload's count of register writes so far
// (unique, workload_kinds.go), a missing row reads as MaxUint64, and the
// opening rows hold 0.
func registerValueName(v uint64) string {
	switch {
	case v == math.MaxUint64:
		return "no row"
	case v == 0:
		return "0 (the opening value)"
	case v>>32 == 0 || v>>32 > 1<<16:
		return fmt.Sprintf("%d (no client writes it)", v)
	}
	return fmt.Sprintf("client %d's value %d", v>>32-1, v&0xffffffff)
}

// checkRegisters adds a final read of each register and runs porcupine.
func (w *workload) checkRegisters(rows map[uint64][]byte, at int64, res *Result) {
	h := w.hist
	for k := uint64(0); k < registerKeys; k++ {
		v := regNone
		if b, ok := rows[k]; ok {
			v = w.regDecode(b)
		}
		h.Registers = append(h.Registers, lin.RegOp{Client: lin.FinalReader, Call: at, Return: at + 1, Kind: lin.RegRead, Key: k, Result: v, Outcome: lin.OK})
	}
	r := lin.CheckRegistersNamed(h.Registers, porcupineTimeout, lin.Names{Value: registerValueName, Deletes: func(v uint64) bool { return v == regNone }})
	res.Linearizability = r
	switch r.Verdict {
	case "illegal":
		res.fail(CheckLinearizability, "register history of %d operations is not linearizable: %s", len(h.Registers), r.Explanation)
	case "unknown":
		res.Notes = append(res.Notes, fmt.Sprintf("linearizability: porcupine gave up after %v on %d operations", porcupineTimeout, len(h.Registers)))
	}
}

// checkBank adds a final read of every account and checks that every
// snapshot read balances.
func (w *workload) checkBank(rows map[uint64][]byte, at int64, res *Result) {
	h := w.hist
	balances := map[uint64]int64{}
	for k, b := range rows {
		balances[k] = int64(decodeU64(b))
	}
	h.BankReads = append(h.BankReads, lin.BankRead{Client: lin.FinalReader, Call: at, Return: at + 1, Balances: balances})
	r := lin.CheckBank(h.BankReads, bankAccounts, bankTotal)
	if len(r.Violations) > 0 {
		res.found(Finding{Checker: CheckBank, Isolation: w.rc.isolationName()})
	}
	for _, v := range r.Violations {
		res.fail(CheckBank, "%s", v)
	}
}

// checkLists judges what recovery kept of the lists (every append of an
// acknowledged transaction present, none of a failed one, all or none of
// an unknown one's, and no value nobody appended), then adds a final read
// of every list and runs the isolation checker at the run's level.
func (w *workload) checkLists(rows map[uint64][]byte, at int64, res *Result) {
	h := w.hist
	kept := map[[2]uint64]bool{} // (key, value) present after recovery
	final := lin.Txn{ID: len(h.Lists), Client: lin.FinalReader, Call: at, Return: at + 1, Outcome: lin.OK}
	keys := make([]uint64, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		list := decodeList(rows[k])
		for _, v := range list {
			kept[[2]uint64{k, v}] = true
		}
		final.Mops = append(final.Mops, lin.Mop{Kind: lin.MopRead, Key: k, List: list})
	}
	for i := range h.Lists {
		t := &h.Lists[i]
		n, appends := t.AppendsKept(kept)
		switch {
		case t.Outcome == lin.OK && n != appends:
			res.found(listFinding(t, CheckDurability, appends, n))
			res.fail(CheckDurability, "acknowledged list-append %s: %d of %d appends lost after %s", t, appends-n, appends, res.CrashKind)
		case t.Outcome == lin.Failed && n != 0:
			res.found(listFinding(t, CheckAtomicity, appends, n))
			res.fail(CheckAtomicity, "failed list-append %s: %d appends present", t, n)
		case t.Outcome == lin.Unknown && n != 0 && n != appends:
			res.found(listFinding(t, CheckAtomicity, appends, n))
			res.fail(CheckAtomicity, "partial list-append %s: %d of %d appends present", t, n, appends)
		}
	}
	h.Lists = append(h.Lists, final)
	level := lin.ReadCommitted
	switch w.rc.iso {
	case db.RepeatableRead:
		level = lin.RepeatableRead
	case db.Serializable:
		level = lin.Serializable
	}
	r := lin.CheckIsolation(h.Lists, level)
	res.Isolation = r
	for _, f := range r.Forbidden {
		res.fail(CheckIsolation, "%s at %s: %s", f.Anomaly, level, f.Explanation)
	}
}
