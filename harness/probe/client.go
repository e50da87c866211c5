package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	lin "github.com/pgdst/pgdst/linearizability"
	"github.com/pgdst/pgdst/simtest"
)

// The tables, created by the probe itself. Only int, bigint and text
// columns and the statements pgdst serve is to support: a list is the
// text of its values, each preceded by a space, appended with ||.
const (
	tableRegister = "probe_register"
	tableBank     = "probe_bank"
	tableLists    = "probe_lists"
)

// regNone is what a read of a missing register row records, as in the
// simulator: a value no client writes.
const regNone = math.MaxUint64

// client is one connection's worth of work: its own random stream, its
// own history, merged with the others' at the end.
type client struct {
	p       *prober
	id      int
	rng     *rand.Rand
	conn    *pgx.Conn
	lastReg [registerKeys]uint64

	regs      []lin.RegOp
	lists     []lin.Txn
	bankReads []lin.BankRead
	bankTxns  [3]int // by outcome: unknown, ok, failed
	errs      map[string]int
	gaveUp    bool
}

func newClient(p *prober, id int) *client {
	return &client{p: p, id: id, rng: rand.New(rand.NewPCG(p.o.Seed, uint64(id))), errs: map[string]int{}}
}

// run draws and runs operations until the probe stops.
func (c *client) run(ctx context.Context) {
	defer func() {
		if c.conn != nil {
			c.conn.Close(context.Background())
		}
	}()
	for c.p.claim() {
		if !c.connect(ctx) {
			return
		}
		kind := c.p.o.Workload
		if kind == simtest.WorkloadMixed {
			kind = Workloads[c.rng.IntN(3)]
		}
		switch kind {
		case simtest.WorkloadRegister:
			c.registerOp(ctx)
		case simtest.WorkloadBank:
			c.bankTxn(ctx)
		case simtest.WorkloadAppend:
			c.appendTxn(ctx)
		}
	}
}

// connect makes sure there is a connection, retrying with backoff while
// the server is away; false means give up (the probe stopped, or the
// server stayed unreachable for reconnectMax).
func (c *client) connect(ctx context.Context) bool {
	if c.conn != nil && !c.conn.IsClosed() {
		return true
	}
	c.conn = nil
	backoff := backoffMin
	first := time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, connectTimeout)
		conn, err := pgx.Connect(cctx, c.p.o.Target)
		cancel()
		if err == nil {
			c.conn = conn
			return true
		}
		c.noteErr(err)
		if time.Since(first) > reconnectMax {
			c.gaveUp = true
			c.p.logf("client %d gives up reconnecting: %v", c.id, err)
			return false
		}
		t := time.NewTimer(backoff)
		select {
		case <-c.p.stop:
			t.Stop()
			return false
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// noteErr counts an error by its kind, for the report.
func (c *client) noteErr(err error) {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		c.errs[pe.Severity+" "+pe.Code]++
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		c.errs["timeout"]++
	default:
		c.errs["connection"]++
	}
}

// op runs one statement (Exec or a QueryRow's Scan) with the probe's
// per-statement timeout.
func (c *client) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if c.conn == nil {
		return pgconn.CommandTag{}, errNoConn
	}
	cctx, cancel := context.WithTimeout(ctx, c.p.o.OpTimeout)
	defer cancel()
	tag, err := c.conn.Exec(cctx, sql, args...)
	c.after(err)
	return tag, err
}

func (c *client) scan(ctx context.Context, sql string, args []any, dest ...any) error {
	if c.conn == nil {
		return errNoConn
	}
	cctx, cancel := context.WithTimeout(ctx, c.p.o.OpTimeout)
	defer cancel()
	err := c.conn.QueryRow(cctx, sql, args...).Scan(dest...)
	c.after(err)
	return err
}

// query runs a statement returning rows of (bigint, text-or-bigint) as
// the caller scans them.
func (c *client) query(ctx context.Context, sql string, each func(pgx.Rows) error, args ...any) error {
	if c.conn == nil {
		return errNoConn
	}
	cctx, cancel := context.WithTimeout(ctx, c.p.o.OpTimeout)
	defer cancel()
	rows, err := c.conn.Query(cctx, sql, args...)
	if err == nil {
		for rows.Next() {
			if err = each(rows); err != nil {
				break
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	c.after(err)
	return err
}

// after forgets a connection that err (or the server) closed, so that the
// next operation reconnects.
func (c *client) after(err error) {
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		c.noteErr(err)
	}
	if c.conn != nil && c.conn.IsClosed() {
		c.conn = nil
	}
}

// errNoConn is a statement of a transaction whose connection was lost at
// an earlier statement: it is never sent.
var errNoConn = errors.New("no connection: lost at an earlier statement")

// lost reports whether err leaves an autocommit statement's or a COMMIT's
// effect unknown: the server did not say it failed on a connection that
// stays usable. An error before anything was sent (pgconn.SafeToRetry) is
// certain: nothing happened. A FATAL error closes the connection, and
// PostgreSQL sends one at an immediate shutdown (quickdie) even after the
// commit record is durable, so it says nothing about the commit.
func lost(err error, connGone bool) bool {
	if err == nil || errors.Is(err, errNoConn) || pgconn.SafeToRetry(err) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return connGone || strings.EqualFold(pe.Severity, "FATAL") || strings.EqualFold(pe.Severity, "PANIC")
	}
	return true
}

func (c *client) outcome(err error) lin.Outcome {
	switch {
	case err == nil:
		return lin.OK
	case lost(err, c.conn == nil):
		return lin.Unknown
	}
	return lin.Failed
}

// isoSQL is the BEGIN of a transaction at the probe's level.
func (c *client) begin(ctx context.Context) error {
	_, err := c.exec(ctx, "BEGIN ISOLATION LEVEL "+strings.ToUpper(strings.ReplaceAll(c.p.o.Isolation, "-", " ")))
	return err
}

// end finishes a transaction: COMMIT when err is nil and the client does
// not abort, ROLLBACK otherwise (when the connection is still there). A
// COMMIT that PostgreSQL answers with ROLLBACK (the block had failed)
// failed.
func (c *client) end(ctx context.Context, err error, abort bool) (lin.Outcome, error) {
	if err != nil || abort {
		if c.conn != nil {
			_, _ = c.exec(ctx, "ROLLBACK")
		}
		if err == nil {
			err = errRolledBack
		}
		return lin.Failed, err
	}
	tag, err := c.exec(ctx, "COMMIT")
	if err == nil && tag.String() != "COMMIT" {
		return lin.Failed, fmt.Errorf("COMMIT answered %q", tag.String())
	}
	return c.outcome(err), err
}

var errRolledBack = errors.New("rolled back by the client")

// registerOp is one autocommit read, write or compare-and-set of a hot
// key. Written values are unique: the client in the high bits, as in the
// simulator.
func (c *client) registerOp(ctx context.Context) {
	key := uint64(c.rng.IntN(registerKeys))
	op := lin.RegOp{Client: c.id, Key: key}
	r := c.rng.IntN(10)
	seq := c.p.regSeq.Add(1)
	op.Call = c.p.now()
	var err error
	switch {
	case r < 4:
		op.Kind = lin.RegRead
		var v int64
		err = c.scan(ctx, "SELECT v FROM "+tableRegister+" WHERE k = $1", []any{int64(key)}, &v)
		op.Result = uint64(v)
		if errors.Is(err, pgx.ErrNoRows) {
			op.Result, err = regNone, nil
		}
		if err == nil {
			c.lastReg[key] = op.Result
		}
	case r < 7:
		op.Kind = lin.RegWrite
		op.Value = uint64(c.id+1)<<32 | seq
		var tag pgconn.CommandTag
		tag, err = c.exec(ctx, "UPDATE "+tableRegister+" SET v = $1 WHERE k = $2", int64(op.Value), int64(key))
		if err == nil && tag.RowsAffected() != 1 {
			// UPDATE 0: the row is gone; the write took no effect, and
			// the reads will show the missing row.
			op.Return, op.Outcome = c.p.now(), lin.Failed
			c.regs = append(c.regs, op)
			return
		}
		if err == nil {
			c.lastReg[key] = op.Value
		}
	case c.p.o.Unsafe == UnsafeCAS:
		// The planted bug: compare, then set, in two statements.
		op.Kind = lin.RegCAS
		op.Value = uint64(c.id+1)<<32 | seq
		op.Expect = c.lastReg[key]
		var v int64
		if err = c.scan(ctx, "SELECT v FROM "+tableRegister+" WHERE k = $1", []any{int64(key)}, &v); err == nil && uint64(v) == op.Expect {
			_, err = c.exec(ctx, "UPDATE "+tableRegister+" SET v = $1 WHERE k = $2", int64(op.Value), int64(key))
			op.Swapped = err == nil
		}
		if op.Swapped {
			c.lastReg[key] = op.Value
		}
	default:
		op.Kind = lin.RegCAS
		op.Value = uint64(c.id+1)<<32 | seq
		op.Expect = c.lastReg[key]
		var tag pgconn.CommandTag
		tag, err = c.exec(ctx, "UPDATE "+tableRegister+" SET v = $1 WHERE k = $2 AND v = $3", int64(op.Value), int64(key), int64(op.Expect))
		op.Swapped = err == nil && tag.RowsAffected() == 1
		if op.Swapped {
			c.lastReg[key] = op.Value
		}
	}
	op.Return = c.p.now()
	op.Outcome = c.outcome(err)
	c.regs = append(c.regs, op)
}

// bankTxn is a transfer between two accounts, or a read of every account
// in one snapshot. At READ COMMITTED a read is one statement (one
// snapshot) and a transfer adds in place (UPDATE ... SET balance =
// balance + d, which EvalPlanQual applies to the newest version); at
// REPEATABLE READ and SERIALIZABLE a read may also be one statement per
// account, all in the transaction's snapshot, and a transfer reads both
// balances and writes the computed ones, safe because the level fails the
// second writer of a row with 40001. --unsafe transfers does that at every
// level, READ COMMITTED included, where it loses updates.
func (c *client) bankTxn(ctx context.Context) {
	xactSnapshot := c.p.o.Isolation != simtest.IsoReadCommitted
	read := c.rng.IntN(3) == 0
	perAccount := xactSnapshot && c.rng.IntN(2) == 0
	from, to := int64(c.rng.IntN(bankAccounts)), int64(c.rng.IntN(bankAccounts-1))
	if to >= from {
		to++
	}
	amount := int64(1 + c.rng.IntN(maxAmount))
	// The legs go in account order, as an application orders its row
	// locks, so that two transfers between the same accounts queue
	// rather than deadlock (a deadlock costs deadlock_timeout).
	legs := [2][2]int64{{from, -amount}, {to, amount}}
	if to < from {
		legs[0], legs[1] = legs[1], legs[0]
	}
	call := c.p.now()
	err := c.begin(ctx)
	balances := map[uint64]int64{}
	switch {
	case err != nil:
	case read && !perAccount:
		err = c.query(ctx, "SELECT k, balance FROM "+tableBank, func(r pgx.Rows) error {
			var k, b int64
			if err := r.Scan(&k, &b); err != nil {
				return err
			}
			balances[uint64(k)] = b
			return nil
		})
	case read:
		for a := int64(0); a < bankAccounts && err == nil; a++ {
			var b int64
			if err = c.scan(ctx, "SELECT balance FROM "+tableBank+" WHERE k = $1", []any{a}, &b); err == nil {
				balances[uint64(a)] = b
			} else if errors.Is(err, pgx.ErrNoRows) {
				err = nil // a missing account: the checker says so
			}
		}
	case xactSnapshot || c.p.o.Unsafe == UnsafeTransfers:
		var bal [2]int64
		for i, leg := range legs {
			if err == nil {
				err = c.scan(ctx, "SELECT balance FROM "+tableBank+" WHERE k = $1", []any{leg[0]}, &bal[i])
			}
		}
		for i, leg := range legs {
			if err == nil {
				_, err = c.exec(ctx, "UPDATE "+tableBank+" SET balance = $1 WHERE k = $2", bal[i]+leg[1], leg[0])
			}
		}
	default:
		for _, leg := range legs {
			if err == nil {
				_, err = c.exec(ctx, "UPDATE "+tableBank+" SET balance = balance + $1 WHERE k = $2", leg[1], leg[0])
			}
		}
	}
	readOK := read && err == nil
	outcome, _ := c.end(ctx, err, false)
	c.bankTxns[outcome]++
	if readOK {
		// Every statement of the read succeeded: whatever the COMMIT
		// says, the snapshot it read must balance.
		c.bankReads = append(c.bankReads, lin.BankRead{Client: c.id, Call: call, Return: c.p.now(), Balances: balances})
	}
}

// appendTxn is one list-append transaction: reads of whole lists and
// appends of values unique per key.
func (c *client) appendTxn(ctx context.Context) {
	n := 1 + c.rng.IntN(listMopsMax)
	t := lin.Txn{Client: c.id, Call: c.p.now()}
	xactSnapshot := c.p.o.Isolation != simtest.IsoReadCommitted
	err := c.begin(ctx)
	for i := 0; i < n && err == nil; i++ {
		key := uint64(c.rng.IntN(listKeys))
		if c.rng.IntN(2) == 0 {
			var s string
			if err = c.scan(ctx, "SELECT v FROM "+tableLists+" WHERE k = $1", []any{int64(key)}, &s); err == nil {
				t.Mops = append(t.Mops, lin.Mop{Kind: lin.MopRead, Key: key, List: decodeList(s)})
			} else if errors.Is(err, pgx.ErrNoRows) {
				err = errListGone
			}
		} else {
			v := c.p.listSeq[key].Add(1)
			t.Mops = append(t.Mops, lin.Mop{Kind: lin.MopAppend, Key: key, Value: v})
			item := " " + strconv.FormatUint(v, 10)
			var tag pgconn.CommandTag
			if c.p.o.Unsafe == UnsafeAppends {
				// The planted bug: read the list, write the new whole.
				var old string
				if err = c.scan(ctx, "SELECT v FROM "+tableLists+" WHERE k = $1", []any{int64(key)}, &old); err == nil {
					tag, err = c.exec(ctx, "UPDATE "+tableLists+" SET v = $1 WHERE k = $2", old+item, int64(key))
				}
			} else {
				tag, err = c.exec(ctx, "UPDATE "+tableLists+" SET v = v || $1 WHERE k = $2", item, int64(key))
			}
			if err == nil && tag.RowsAffected() != 1 {
				err = errListGone
			}
		}
		// REPEATABLE READ and SERIALIZABLE take the transaction's one
		// snapshot at its first statement (GetTransactionSnapshot with
		// IsolationUsesXactSnapshot), so by the time that returns the
		// snapshot exists, and the checker holds the transaction to it.
		if i == 0 && err == nil && xactSnapshot {
			t.SnapshotBy = c.p.now()
		}
	}
	abort := c.rng.IntN(abortOneIn) == 0
	if err == nil && !abort {
		t.CommitCall = c.p.now()
	}
	t.Outcome, err = c.end(ctx, err, abort)
	t.Return = c.p.now()
	if err != nil {
		t.Err = err.Error()
	}
	if t.Outcome == lin.Unknown {
		// The reads of a transaction that never returned are not
		// trusted, as in the simulator.
		for i := range t.Mops {
			t.Mops[i].List = nil
		}
	}
	c.lists = append(c.lists, t)
}

var errListGone = errors.New("the list's row is missing")

// decodeList reads a list's text: its values, each after a space. A word
// that is not a number reads as MaxUint64, a value nobody appended, so the
// checker sees garbage as garbage.
func decodeList(s string) []uint64 {
	words := strings.Fields(s)
	out := make([]uint64, 0, len(words))
	for _, w := range words {
		v, err := strconv.ParseUint(w, 10, 64)
		if err != nil {
			v = math.MaxUint64
		}
		out = append(out, v)
	}
	return out
}
