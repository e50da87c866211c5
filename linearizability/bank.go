package linearizability

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// maxBankViolations bounds the violations kept in words: the first few say
// what went wrong, and a broken snapshot usually breaks every later read.
const maxBankViolations = 10

// maxBankAccountsListed bounds how many accounts one violation lists, so a
// message stays a line long whatever the number of accounts.
const maxBankAccountsListed = 8

// BankResult is the outcome of CheckBank.
type BankResult struct {
	// Reads is the number of reads checked.
	Reads int
	// Invalid is the number of reads that violate the invariant; it may
	// exceed len(Violations).
	Invalid int
	// Violations describes the first few violating reads, in the order
	// they were given, one sentence each.
	Violations []string
}

// Valid reports whether every read saw the invariant hold.
func (r *BankResult) Valid() bool { return r != nil && r.Invalid == 0 }

// CheckBank checks the bank workload's invariant on reads, each a snapshot
// of every account: the snapshot holds exactly the accounts 0..accounts-1
// (a missing account is a lost row, an extra one a phantom), and their
// balances add up to total, because transfers move money without creating
// or destroying it. Balances may be negative; whether they can is the
// workload's business, not the invariant's.
//
// Only reads whose outcome was OK are to be passed in: a failed or unknown
// read saw nothing. A negative accounts count is reported as a violation of
// its own rather than checked against.
func CheckBank(reads []BankRead, accounts int, total int64) *BankResult {
	res := &BankResult{Reads: len(reads)}
	if accounts < 0 {
		res.Invalid = len(reads)
		res.Violations = []string{fmt.Sprintf("invalid account count %d", accounts)}
		return res
	}
	for i := range reads {
		if msg := checkBankRead(&reads[i], accounts, total); msg != "" {
			res.Invalid++
			if len(res.Violations) < maxBankViolations {
				res.Violations = append(res.Violations, msg)
			}
		}
	}
	return res
}

// checkBankRead returns what is wrong with one read, or "".
func checkBankRead(r *BankRead, accounts int, total int64) string {
	var problems []string

	// Accounts outside 0..accounts-1, in order.
	var extra []uint64
	present := 0
	for a := range r.Balances {
		if a < uint64(accounts) {
			present++
		} else {
			extra = append(extra, a)
		}
	}
	if missing := accounts - present; missing > 0 {
		var list []uint64
		for a := 0; a < accounts && len(list) < maxBankAccountsListed; a++ {
			if _, ok := r.Balances[uint64(a)]; !ok {
				list = append(list, uint64(a))
			}
		}
		problems = append(problems, fmt.Sprintf("missing %s: %s", countNoun(missing, "account"), bankListAccounts(list, missing)))
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		problems = append(problems, fmt.Sprintf("%s outside 0..%d: %s", countNoun(len(extra), "unexpected account"), accounts-1, bankListAccounts(extra, len(extra))))
	}

	// The sum over everything read, extra accounts included: that is the
	// money the snapshot claims exists.
	sum, ok := bankSum(r.Balances)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("total overflows int64, want %d", total))
	case sum != total:
		problems = append(problems, fmt.Sprintf("total %d, want %d", sum, total))
	}

	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("read by %s at %v: %s; accounts %s",
		ClientName(r.Client), time.Duration(r.Call), strings.Join(problems, "; "), bankDescribeBalances(r.Balances))
}

// bankSum adds the balances exactly, in 128 bits, and reports whether
// the sum fits an int64. Checking each partial sum for overflow instead
// would make the verdict depend on map order when large balances of both
// signs cancel out; a sum that does not fit is reported rather than wrapped
// into a plausible number.
func bankSum(b map[uint64]int64) (int64, bool) {
	var hi int64
	var lo uint64
	for _, bal := range b {
		var carry uint64
		lo, carry = bits.Add64(lo, uint64(bal), 0)
		hi += int64(carry)
		if bal < 0 {
			hi-- // sign extension of bal into the high word
		}
	}
	fits := (hi == 0 && lo <= math.MaxInt64) || (hi == -1 && lo > math.MaxInt64)
	return int64(lo), fits
}

// bankListAccounts lists the first few accounts of n.
func bankListAccounts(list []uint64, n int) string {
	s := make([]string, 0, maxBankAccountsListed)
	for _, a := range list[:min(len(list), maxBankAccountsListed)] {
		s = append(s, fmt.Sprint(a))
	}
	out := strings.Join(s, ", ")
	if n > len(s) {
		out += fmt.Sprintf(" and %d more", n-len(s))
	}
	return out
}

// bankDescribeBalances renders a snapshot in account order, abbreviated when
// long, so that the same read always reads the same.
func bankDescribeBalances(b map[uint64]int64) string {
	keys := make([]uint64, 0, len(b))
	for a := range b {
		keys = append(keys, a)
	}
	slices.Sort(keys)
	s := make([]string, 0, min(len(keys), maxBankAccountsListed)+1)
	for _, a := range keys[:min(len(keys), maxBankAccountsListed)] {
		s = append(s, fmt.Sprintf("%d:%d", a, b[a]))
	}
	if len(keys) > maxBankAccountsListed {
		s = append(s, fmt.Sprintf("... (%d accounts)", len(keys)))
	}
	return "{" + strings.Join(s, " ") + "}"
}

// countNoun says how many of a thing there are: "1 operation", "2 operations".
func countNoun(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
