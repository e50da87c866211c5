package linearizability

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func bankSnap(client int, call time.Duration, balances ...int64) BankRead {
	m := make(map[uint64]int64, len(balances))
	for a, b := range balances {
		m[uint64(a)] = b
	}
	return BankRead{Client: client, Call: int64(call), Return: int64(call) + 1000, Balances: m}
}

// TestBankValid checks that snapshots with every account and the right
// total pass, negative balances included.
func TestBankValid(t *testing.T) {
	reads := []BankRead{
		bankSnap(0, time.Millisecond, 250, 250, 250, 250),
		bankSnap(1, 2*time.Millisecond, 1000, 0, 0, 0),
		bankSnap(2, 3*time.Millisecond, -500, 1500, 0, 0),
	}
	res := CheckBank(reads, 4, 1000)
	if !res.Valid() || res.Reads != 3 || len(res.Violations) != 0 {
		t.Fatalf("got %+v, want 3 valid reads", res)
	}
	if res := CheckBank(nil, 4, 1000); !res.Valid() || res.Reads != 0 {
		t.Errorf("no reads: %+v", res)
	}
	if res := CheckBank([]BankRead{{}}, 0, 0); !res.Valid() {
		t.Errorf("no accounts, empty snapshot: %+v", res)
	}
}

// TestBankViolations checks that each way a snapshot can be wrong is found
// and said plainly.
func TestBankViolations(t *testing.T) {
	extra := bankSnap(3, 13200*time.Microsecond, 250, 250, 250, 250)
	extra.Balances[9] = 0
	cases := []struct {
		name string
		read BankRead
		want string
	}{
		{"wrong total", bankSnap(2, 13200*time.Microsecond, 250, 240, 250, 250),
			"read by client 2 at 13.2ms: total 990, want 1000; accounts {0:250 1:240 2:250 3:250}"},
		{"missing account", bankSnap(1, time.Millisecond, 500, 500, 0),
			"read by client 1 at 1ms: missing 1 account: 3; accounts {0:500 1:500 2:0}"},
		{"missing account and money", bankSnap(1, time.Millisecond, 500, 250, 0),
			"read by client 1 at 1ms: missing 1 account: 3; total 750, want 1000; accounts {0:500 1:250 2:0}"},
		{"extra account", extra,
			"read by client 3 at 13.2ms: 1 unexpected account outside 0..3: 9; accounts {0:250 1:250 2:250 3:250 9:0}"},
		{"nil snapshot", BankRead{Client: 4},
			"read by client 4 at 0s: missing 4 accounts: 0, 1, 2, 3; total 0, want 1000; accounts {}"},
		{"overflow", bankSnap(5, 0, math.MaxInt64, 1, 0, 0),
			"read by client 5 at 0s: total overflows int64, want 1000"},
		{"negative overflow", bankSnap(5, 0, math.MinInt64, -1, 0, 0),
			"read by client 5 at 0s: total overflows int64, want 1000"},
		// Large balances that cancel are summed exactly whatever the
		// map order.
		{"cancelling", bankSnap(5, 0, math.MaxInt64, 1, -1, math.MinInt64),
			"read by client 5 at 0s: total -1, want 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok := bankSnap(0, 0, 1000, 0, 0, 0)
			res := CheckBank([]BankRead{ok, tc.read, ok}, 4, 1000)
			if res.Valid() || res.Invalid != 1 || res.Reads != 3 || len(res.Violations) != 1 {
				t.Fatalf("got %+v, want one violation", res)
			}
			if !strings.HasPrefix(res.Violations[0], tc.want) {
				t.Errorf("violation\n%s\nwant\n%s", res.Violations[0], tc.want)
			}
		})
	}
}

// TestBankManyViolations checks that the words are bounded (a few reads, a
// few accounts per read) while the count is not, and that the output does
// not depend on map order.
func TestBankManyViolations(t *testing.T) {
	var reads []BankRead
	for i := range 50 {
		r := BankRead{Client: i, Balances: map[uint64]int64{}}
		for a := range 100 {
			r.Balances[uint64(a+1000)] = 1 // every account wrong
		}
		reads = append(reads, r)
	}
	res := CheckBank(reads, 100, 100)
	if res.Valid() || res.Invalid != 50 || len(res.Violations) != maxBankViolations {
		t.Fatalf("invalid %d, %d violations", res.Invalid, len(res.Violations))
	}
	want := "read by client 0 at 0s: missing 100 accounts: 0, 1, 2, 3, 4, 5, 6, 7 and 92 more; " +
		"100 unexpected accounts outside 0..99: 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007 and 92 more; " +
		"accounts {1000:1 1001:1 1002:1 1003:1 1004:1 1005:1 1006:1 1007:1 ... (100 accounts)}"
	for range 5 {
		if got := CheckBank(reads, 100, 100).Violations[0]; got != want {
			t.Fatalf("violation\n%s\nwant\n%s", got, want)
		}
	}
	if bad := CheckBank(reads, -1, 0); bad.Valid() || !strings.Contains(fmt.Sprint(bad.Violations), "invalid account count -1") {
		t.Errorf("negative account count: %+v", bad)
	}
	var nilRes *BankResult
	if nilRes.Valid() {
		t.Error("nil result is valid")
	}
}
