package simtest

import (
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/simtest/world"
)

// READ ONLY and DEFERRABLE transactions on SERIALIZABLE runs (issue 20:
// safe snapshots). A serializable run draws whether some of its clients'
// reading transactions declare themselves READ ONLY, and whether those
// are also DEFERRABLE: a third of the list-append transactions become
// reads only (their appends turn into reads), and the bank workload's
// reads of every account begin READ ONLY. A READ ONLY transaction is
// the Tin of the read-only anomaly; SSI must still fail one of the three
// (the reader itself when its snapshot turned out unsafe), and a safe
// snapshot must really be safe, since its transaction then runs without
// SIREAD locks: the isolation checker judges every such history at
// SERIALIZABLE. DEFERRABLE readers wait for a safe snapshot
// (GetSafeSnapshot) and must never fail with 40001.

// The values of Config.SSIReadOnly ("" draws one on serializable runs).
const (
	SSIReadOnlyOff        = "off"
	SSIReadOnlyOn         = "read-only"  // READ ONLY, not DEFERRABLE
	SSIReadOnlyDeferrable = "deferrable" // READ ONLY DEFERRABLE
	SSIReadOnlyMixed      = "mixed"      // each reader one or the other
)

// SSIReadOnlyModes lists the values of Config.SSIReadOnly.
var SSIReadOnlyModes = []string{SSIReadOnlyOff, SSIReadOnlyOn, SSIReadOnlyDeferrable, SSIReadOnlyMixed}

// ssiReadOnlyStream is this dimension's own random stream, per run and,
// xored with the client, per client: no other draw of a seed moves.
const ssiReadOnlyStream = 0x7373692d726f6e6c // "ssi-ronl"

// ssiReadOnlyTxnsPer is one list-append transaction in ssiReadOnlyTxnsPer
// that is read-only on runs with READ ONLY readers.
const ssiReadOnlyTxnsPer = 3

// resolveSSIReadOnly draws a serializable run's READ ONLY readers: off
// on a quarter of the runs, so that those keep the runs they had.
func resolveSSIReadOnly(c Config, r *resolved) {
	if r.iso != db.Serializable {
		return
	}
	rng := world.NewRand(c.Seed ^ ssiReadOnlyStream)
	r.ssiReadOnly = SSIReadOnlyModes[rng.Intn(len(SSIReadOnlyModes))]
	if c.SSIReadOnly != "" {
		r.ssiReadOnly = c.SSIReadOnly
	}
}

func (c Config) validateSSIReadOnly() error {
	if c.SSIReadOnly == "" {
		return nil
	}
	for _, m := range SSIReadOnlyModes {
		if c.SSIReadOnly == m {
			return nil
		}
	}
	return fmt.Errorf("ssi-read-only must be off, read-only, deferrable or mixed, got %q", c.SSIReadOnly)
}

// stringSSIReadOnly is the dimension in the run's config line, left out
// when off, so that a serializable run without READ ONLY readers prints
// (and traces) exactly what it did before the dimension existed.
func (r resolved) stringSSIReadOnly() string {
	if r.iso != db.Serializable || r.ssiReadOnly == SSIReadOnlyOff {
		return ""
	}
	return " ssi_read_only=" + r.ssiReadOnly
}

// ssiReaderMode is the BEGIN modes of a transaction that only reads:
// READ ONLY, and DEFERRABLE as the run's mode says; none on runs without
// READ ONLY readers.
func (s *session) ssiReaderMode() db.TxnMode {
	switch s.w.rc.ssiReadOnly {
	case SSIReadOnlyOn:
		return db.ModeReadOnly
	case SSIReadOnlyDeferrable:
		return db.ModeReadOnly | db.ModeDeferrable
	case SSIReadOnlyMixed:
		if s.ssiRand().Intn(2) == 0 {
			return db.ModeReadOnly | db.ModeDeferrable
		}
		return db.ModeReadOnly
	}
	return 0
}

// ssiBankMode is the BEGIN modes of a bank transaction: a read of every
// account is READ ONLY on runs with READ ONLY readers.
func (s *session) ssiBankMode(read bool) db.TxnMode {
	if !read {
		return 0
	}
	return s.ssiReaderMode()
}

// ssiReadOnlyAppendTxn draws whether a list-append transaction is a
// READ ONLY one (only reads), and its BEGIN modes.
func (s *session) ssiReadOnlyAppendTxn() (bool, db.TxnMode) {
	if s.w.rc.ssiReadOnly == "" || s.w.rc.ssiReadOnly == SSIReadOnlyOff {
		return false, 0
	}
	if s.ssiRand().Intn(ssiReadOnlyTxnsPer) != 0 {
		return false, 0
	}
	return true, s.ssiReaderMode()
}

// ssiMops is how many micro-operations a list-append transaction has: a
// READ ONLY one reads every list, in order, so that it sees the writes
// of every transaction that committed before its snapshot and misses
// those of every one still running -- the reader of the read-only
// anomaly, which needs it to read both a pivot's write and the write of
// a transaction the pivot has a rw-conflict out to.
func (s *session) ssiMops(n int, readOnly bool) int {
	if readOnly {
		return listKeys
	}
	return n
}

// ssiPause is a read-write list-append transaction's pause before each
// of its statements on runs with READ ONLY readers: it stretches the
// transaction so that a reader's snapshot often falls between the commit
// of a transaction it has a rw-conflict out to and its own -- the
// window of the read-only anomaly, which short transactions rarely open.
func (s *session) ssiPause(readOnly bool) {
	if readOnly || s.w.rc.ssiReadOnly == "" || s.w.rc.ssiReadOnly == SSIReadOnlyOff {
		return
	}
	s.w.node.Env.Clock.Sleep(time.Duration(s.ssiRand().Intn(int(ssiPauseMax))))
}

// ssiPauseMax bounds ssiPause.
const ssiPauseMax = 10 * time.Millisecond

// ssiRand is the client's own stream for these draws.
func (s *session) ssiRand() *world.Rand {
	if s.ssiRng == nil {
		s.ssiRng = world.NewRand(s.w.rc.Seed ^ ssiReadOnlyStream ^ uint64(s.c+1)*0x9e3779b97f4a7c15)
	}
	return s.ssiRng
}
