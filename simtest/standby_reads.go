package simtest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world"
)

// Standby reads (issue 19, hot standby): on a seed with standbys (and no
// failover), the run also has writers on the primary and readers on
// every standby, on a table of their own, hs, judged by the standby-read
// checker. The existing clients and their checkers are untouched.
//
// The table holds a log row (key 0) and hsKeys data rows. Each writer
// transaction, at READ COMMITTED, appends its token to the log row first,
// then to the data rows its token names, then commits: the log row's row
// lock is held to the commit, so the log row's list is exactly the
// primary's commit order of the writers' transactions, whatever their
// outcome was to the client (an unknown outcome is in the log or not, as
// the primary decided). A token is unique: writer, sequence number and
// the mask of the data rows it writes.
//
// Each reader runs REPEATABLE READ transactions on a standby: a read of
// the log row, then a scan of the whole table, then COMMIT. The checker
// (after the run, against the primary's final log row F) requires of
// every read that committed:
//
//   - its two statements saw the same log (one snapshot);
//   - its log is a prefix of F (nothing the primary did not commit, in
//     the primary's order);
//   - every data row holds exactly the tokens of that prefix that name it,
//     in order: the read sees the effects of the transactions committed up
//     to one point of the primary's commit order, and nothing else (no
//     read skew, no aborted or intermediate data, no row twice);
//   - per connection, the prefixes never shrink (a connection stays on
//     one standby, and its standby's replay only moves forward).
//
// Standby reads are off on failover seeds (the primary's commit order
// then has two timelines) and on runs whose primary lost WAL it had
// flushed to a destructive fault (its final log is not the commit order
// the standbys streamed).

// CheckStandbyReads judges standby reads (standby_reads.go).
const CheckStandbyReads = "standby-reads"

const (
	countStandbyReads = CheckStandbyReads + ": read transactions"
	hsTable           = "hs"
	hsKeys            = 6 // data rows 1..hsKeys; key 0 is the log row
	hsWriters         = 2
	hsReadersPer      = 2   // readers per standby
	hsTxnsMax         = 400 // bounds each client's loop
	hsCallTimeout     = 500 * time.Millisecond
	// hsReadsTarget and hsReadBudget end a reader: after that many
	// committed reads, or that much virtual time after the run's start
	// (a standby is ready some 100-250 ms in, after its base backup).
	// The readers count among the workload's clients, so the run stops
	// when they are done too, at most hsGrace after the others.
	hsReadsTarget = 12
	hsReadBudget  = 500 * time.Millisecond
	// hsGrace is how long the readers go on once every other client is
	// done: a standby not ready by then would hold the run open for
	// nothing.
	hsGrace = 100 * time.Millisecond
	// hsVacuumEvery: writer 0 vacuums hs after every hsVacuumEvery-th
	// transaction; hsWriteTryEvery: a reader's transaction tries a
	// write on its standby once in hsWriteTryEvery (an application that
	// sends a write to a replica), which must fail with 25006.
	hsVacuumEvery   = 2
	hsWriteTryEvery = 6
	hsTokenBytes    = 4
	// standbyReadsStream keys the draw ("hstbyrds").
	standbyReadsStream = 0x687374627972647
)

// standbyReadsDrawn is the seed's draw: on seven seeds in eight among
// those eligible (the others keep the standby runs as they were, but
// for the running-xacts records).
func standbyReadsDrawn(seed uint64) bool {
	return world.NewRand(seed^standbyReadsStream).Intn(8) != 0
}

// standbyReadsOn says whether r's run has standby reads: pinned by
// Config.StandbyReads, else drawn under Swarm; never without standbys or
// with a failover.
func standbyReadsOn(r resolved) bool {
	if r.standbys == 0 || r.failover.on {
		return false
	}
	switch r.StandbyReads {
	case VarietyOn:
		return true
	case VarietyOff:
		return false
	}
	return r.Swarm && standbyReadsDrawn(r.Seed)
}

func (c Config) validateStandbyReads() error {
	return validateOnOff("standby reads", c.StandbyReads)
}

// StandbyReadsOf reports whether c's run has standby reads.
func StandbyReadsOf(c Config) bool {
	return standbyReadsOn(resolve(c, world.NewRand(c.Seed).Fork(3)))
}

func (r resolved) stringStandbyReads() string {
	if !standbyReadsOn(r) {
		return ""
	}
	return " standby_reads=on"
}

// hsRead is one standby read transaction that committed.
type hsRead struct {
	node      string
	conn      int // the reading connection, numbered across the run
	call, ret time.Duration
	log       []byte // the log row as the first statement read it
	rows      []pgproc.Row
}

// standbyReads is a run's standby-read workload and its record.
type standbyReads struct {
	rc    resolved
	node  *world.Node
	ready bool // table hs and its rows exist on the primary
	conns int
	reads []hsRead
	// refused counts the writes standbys refused with 25006; wroteOn
	// names the standbys where a write succeeded (a failure).
	refused int
	wroteOn []string
	rng     *world.Rand // the readers' draws inside a transaction
	w       *workload   // the run's workload, whose clients the readers count among
	// readers is how many readers still run; othersDoneAt is when the
	// workload's other clients were first seen all done (0: not yet).
	readers      int
	othersDoneAt time.Duration
	// applySb is the standby every acknowledgement promises a
	// remote_apply commit is replayed on (nil: none), and applyReads
	// the writers' reads there after their acks (syncrep_apply_read.go).
	applySb    *standby
	applyReads []applyRead
}

// overtime reports whether the readers have gone on hsGrace past the
// end of every other client.
func (h *standbyReads) overtime() bool {
	now := h.node.Env.Clock.Now()
	if h.w.running > h.readers {
		return false
	}
	if h.othersDoneAt == 0 {
		h.othersDoneAt = now
	}
	return now-h.othersDoneAt > hsGrace
}

// startStandbyReads spawns the writers on the primary at l and the
// readers on each standby, when the run has standby reads.
func startStandbyReads(rc resolved, node *world.Node, l *pgproc.Listener, s *standbySet, w *workload) *standbyReads {
	if s == nil || !standbyReadsOn(rc) {
		return nil
	}
	h := &standbyReads{rc: rc, node: node, w: w, rng: world.NewRand(rc.Seed ^ standbyReadsStream).Fork(2), applySb: applyReadStandby(rc, s)}
	h.readers = len(s.nodes) * hsReadersPer
	w.running += h.readers
	rng := world.NewRand(rc.Seed ^ standbyReadsStream).Fork(1)
	for w := 0; w < hsWriters; w++ {
		wr := rng.Fork(uint64(w))
		node.Env.SpawnAs(env.RoleClient, fmt.Sprintf("hs-writer-%d", w), func() { h.writer(l, w, wr) })
	}
	for i, sb := range s.nodes {
		for j := 0; j < hsReadersPer; j++ {
			rr := rng.Fork(uint64(100 + 10*i + j))
			node.Env.SpawnAs(env.RoleClient, fmt.Sprintf("hs-reader-%s-%d", sb.node.Name, j), func() { h.reader(sb, rr) })
		}
	}
	return h
}

// call is one statement with the run's client timeout; err is the
// transport's or the statement's.
func hsCall(c *pgproc.Conn, req pgproc.Request) (pgproc.Response, error) {
	resp, err := c.CallTimeout(req, hsCallTimeout)
	if err == nil {
		err = resp.Err
	}
	return resp, err
}

// setup creates hs and its rows on the primary, in one transaction for
// the rows, tolerating a table or rows a lost reply already made.
func (h *standbyReads) setup(c *pgproc.Conn) bool {
	if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpCreateTable, Table: hsTable}); err != nil && pgerr.CodeOf(err) != pgerr.DuplicateTable {
		return false
	}
	if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpBegin, Iso: db.ReadCommitted}); err != nil {
		return false
	}
	for k := uint64(0); k <= hsKeys; k++ {
		if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpInsert, Table: hsTable, Key: k}); err != nil {
			_, _ = hsCall(c, pgproc.Request{Op: pgproc.OpRollback})
			return pgerr.CodeOf(err) == pgerr.UniqueViolation
		}
	}
	_, err := hsCall(c, pgproc.Request{Op: pgproc.OpCommit})
	return err == nil
}

// writer is one writer on the primary: writer 0 makes the table, then
// both append tokens until the workload stops.
func (h *standbyReads) writer(l *pgproc.Listener, w int, rng *world.Rand) {
	e := h.node.Env
	var c, sc *pgproc.Conn // sc: on the synchronous standby (readAfterAck)
	for i := 0; w != 0 && !h.ready && i < hsTxnsMax; i++ {
		e.Clock.Sleep(2 * time.Millisecond) // writer 0 makes the table
	}
	for t := 0; t < hsTxnsMax; t++ {
		if c == nil || c.Gone() {
			if c != nil {
				c.Close()
			}
			var err error
			if c, err = l.DialFrom(h.node.Clients); err != nil {
				c = nil
				e.Clock.Sleep(2 * time.Millisecond)
				continue
			}
		}
		if !h.ready {
			if w == 0 && h.setup(c) {
				h.ready = true
			}
			e.Clock.Sleep(time.Millisecond)
			continue
		}
		mask := byte(1 + rng.Intn(1<<hsKeys-1))
		tok := []byte{byte(w), byte(t >> 8), byte(t), mask}
		gen, call := h.applyGen()
		if h.writeTxn(c, tok, rng) {
			h.readAfterAck(&sc, tok, gen, call)
		}
		if w == 0 && t%hsVacuumEvery == hsVacuumEvery-1 {
			// VACUUM hs: its prune records, replayed, conflict with
			// the standby snapshots that may still need the versions
			// they remove.
			_, _ = hsCall(c, pgproc.Request{Op: pgproc.OpVacuum, Table: hsTable})
		}
		e.Clock.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
	}
	if c != nil {
		c.Close()
	}
	if sc != nil {
		sc.Close()
	}
}

// writeTxn appends tok to the log row, then to its data rows, with a
// pause between (an application's work inside its transaction), and
// commits. Any error rolls back (the connection may be gone: the next
// transaction dials again). It reports whether the primary acknowledged
// the commit (a reply with no sync-rep WARNING).
func (h *standbyReads) writeTxn(c *pgproc.Conn, tok []byte, rng *world.Rand) bool {
	if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpBegin, Iso: db.ReadCommitted}); err != nil {
		return false
	}
	ok := true
	for k := uint64(0); k <= hsKeys && ok; k++ {
		if k > 0 && tok[3]&(1<<(k-1)) == 0 {
			continue
		}
		_, err := hsCall(c, pgproc.Request{Op: pgproc.OpAppend, Table: hsTable, Key: k, Val: tok})
		ok = err == nil
		if k == 0 && ok {
			h.node.Env.Clock.Sleep(time.Duration(rng.Intn(2000)) * time.Microsecond)
		}
	}
	if !ok {
		if !c.Gone() {
			_, _ = hsCall(c, pgproc.Request{Op: pgproc.OpRollback})
		}
		return false
	}
	resp, err := hsCall(c, pgproc.Request{Op: pgproc.OpCommit})
	return err == nil && resp.Warning == ""
}

// reader is one reader on standby sb: a read transaction after another,
// on one connection until it ends.
func (h *standbyReads) reader(sb *standby, rng *world.Rand) {
	e := h.node.Env
	var c *pgproc.Conn
	conn, done := 0, 0
	for t := 0; t < hsTxnsMax && done < hsReadsTarget && e.Clock.Now() < hsReadBudget && !h.overtime(); t++ {
		e.Clock.Sleep(time.Duration(500+rng.Intn(2500)) * time.Microsecond)
		if c == nil || c.Gone() {
			if c != nil {
				c.Close()
				c = nil
			}
			if sb.l == nil || !h.ready {
				continue
			}
			var err error
			if c, err = sb.l.DialFrom(h.node.Clients); err != nil {
				c = nil
				continue // 57P03 until the standby is consistent and ready
			}
			h.conns++
			conn = h.conns
		}
		if h.readTxn(c, sb, conn) {
			done++
		}
	}
	if c != nil {
		c.Close()
	}
	// The last client to finish stops the run (workload.client).
	h.readers--
	h.w.running--
	if h.w.running == 0 {
		h.w.quietTail()
		h.node.Sim.RequestStop("workload done")
	}
}

// readTxn is one REPEATABLE READ read of the log row and the whole
// table, recorded when it commits.
func (h *standbyReads) readTxn(c *pgproc.Conn, sb *standby, conn int) bool {
	e := h.node.Env
	r := hsRead{node: sb.node.Name, conn: conn, call: e.Clock.Now()}
	if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpBegin, Iso: db.RepeatableRead}); err != nil {
		return false
	}
	resp, err := hsCall(c, pgproc.Request{Op: pgproc.OpGet, Table: hsTable, Key: 0})
	if err == nil {
		r.log = resp.Val
		if !resp.Found {
			r.log = nil
		}
		// The application's work between its statements: the
		// snapshot is held meanwhile, and replay goes on.
		e.Clock.Sleep(time.Duration(h.rng.Intn(2000)) * time.Microsecond)
		resp, err = hsCall(c, pgproc.Request{Op: pgproc.OpScan, Table: hsTable, Lo: 0, Hi: hsKeys})
		r.rows = resp.Rows
	}
	if err == nil && h.rng.Intn(hsWriteTryEvery) == 0 {
		_, werr := hsCall(c, pgproc.Request{Op: pgproc.OpAppend, Table: hsTable, Key: 1, Val: []byte{0xff, 0xff, 0xff, 0xff}})
		code := pgerr.CodeOf(werr)
		switch {
		case code == pgerr.ReadOnlySQLTransaction:
			h.refused++
		case werr == nil:
			h.wroteOn = append(h.wroteOn, sb.node.Name)
		}
		if werr == nil || code != "" {
			// The transaction block failed (or, wrongly, wrote):
			// it ends here without its read.
			_, _ = hsCall(c, pgproc.Request{Op: pgproc.OpRollback})
			return false
		}
		err = werr
	}
	if err != nil {
		if !c.Gone() {
			_, _ = hsCall(c, pgproc.Request{Op: pgproc.OpRollback})
		}
		return false
	}
	if _, err := hsCall(c, pgproc.Request{Op: pgproc.OpCommit}); err != nil {
		return false
	}
	r.ret = e.Clock.Now()
	h.reads = append(h.reads, r)
	return true
}

// judge checks every recorded read against final, the primary's final
// rows of hs (nil: the primary has no such table).
func (h *standbyReads) judge(res *Result, final []pgproc.Row, destructive bool) {
	if h == nil {
		return
	}
	if destructive {
		res.Online.skipped(countStandbyReads, "a destructive fault on the primary", uint64(len(h.reads)))
		return
	}
	if len(h.wroteOn) > 0 {
		h.fail(res, hsRead{node: h.wroteOn[0]}, "an UPDATE succeeded in a transaction on hot standby %s, which must refuse it with 25006", h.wroteOn[0])
		return
	}
	var F []byte
	for _, r := range final {
		if r.Key == 0 {
			F = r.Val
		}
	}
	if len(F)%hsTokenBytes != 0 {
		h.fail(res, hsRead{}, "the primary's final log row has %d bytes, not whole tokens", len(F))
		return
	}
	sum := &StandbyReadsResult{Commits: len(F) / hsTokenBytes, Conns: h.conns, WritesRefused: h.refused}
	res.StandbyReads = sum
	prefix := map[int]int{} // connection -> the longest log it read
	for _, r := range h.reads {
		sum.Reads++
		res.Online.judged(countStandbyReads, 1)
		if len(r.rows) == 0 && r.log == nil {
			continue // before the table's rows were replayed
		}
		if why := hsJudgeRead(r, F); why != "" {
			h.fail(res, r, "%s", why)
			return
		}
		n := len(r.log) / hsTokenBytes
		if p, ok := prefix[r.conn]; ok && n < p {
			h.fail(res, r, "connection %d read the first %d commits of the primary's order after it had read the first %d (not monotonic)", r.conn, n, p)
			return
		}
		prefix[r.conn] = n
		sum.LongestPrefix = max(sum.LongestPrefix, n)
	}
}

// StandbyReadsResult is what the standby-read checker judged: the read
// transactions, their connections, the primary's hs commits and the
// longest prefix of them a read saw.
type StandbyReadsResult struct {
	Reads, Conns           int
	Commits, LongestPrefix int
	WritesRefused          int
}

// hsJudgeRead is the checker's rule for one read against the primary's
// final log F; "" when it holds.
func hsJudgeRead(r hsRead, F []byte) string {
	scanLog, seen := []byte(nil), map[uint64]bool{}
	found := false
	for _, row := range r.rows {
		if seen[row.Key] {
			return fmt.Sprintf("row %d visible twice in one scan", row.Key)
		}
		seen[row.Key] = true
		if row.Key == 0 {
			scanLog, found = row.Val, true
		}
	}
	if len(seen) != hsKeys+1 {
		return fmt.Sprintf("the scan saw %d of the table's %d rows (they were inserted together)", len(seen), hsKeys+1)
	}
	if !found || !bytes.Equal(scanLog, r.log) {
		return fmt.Sprintf("the log row read %s, then %s in the same REPEATABLE READ transaction", hsTokens(r.log), hsTokens(scanLog))
	}
	if len(r.log)%hsTokenBytes != 0 || len(r.log) > len(F) || !bytes.Equal(F[:len(r.log)], r.log) {
		return fmt.Sprintf("the log row read %s is not a prefix of the primary's commit order %s", hsTokens(r.log), hsTokens(F))
	}
	for _, row := range r.rows {
		if row.Key == 0 {
			continue
		}
		var want []byte
		for i := 0; i+hsTokenBytes <= len(r.log); i += hsTokenBytes {
			if r.log[i+3]&(1<<(row.Key-1)) != 0 {
				want = append(want, r.log[i:i+hsTokenBytes]...)
			}
		}
		if !bytes.Equal(row.Val, want) {
			return fmt.Sprintf("row %d holds %s, but the first %d commits of the primary's order (the log row read) give it %s: read skew or data not committed by that point", row.Key, hsTokens(row.Val), len(r.log)/hsTokenBytes, hsTokens(want))
		}
	}
	return ""
}

// hsTokens prints a list of tokens as writer.seq items.
func hsTokens(b []byte) string {
	var out []byte
	out = append(out, '[')
	for i := 0; i+hsTokenBytes <= len(b); i += hsTokenBytes {
		if i > 0 {
			out = append(out, ' ')
		}
		out = fmt.Appendf(out, "w%d.%d", b[i], int(b[i+1])<<8|int(b[i+2]))
	}
	if len(b)%hsTokenBytes != 0 {
		out = fmt.Appendf(out, " +%d bytes", len(b)%hsTokenBytes)
	}
	return string(append(out, ']'))
}

func (h *standbyReads) fail(res *Result, r hsRead, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	res.found(Finding{Checker: CheckStandbyReads, Node: r.node, Call: r.call, Return: r.ret, Detail: detail})
	res.fail(CheckStandbyReads, "standby read on %s (connection %d, %v-%v): %s", r.node, r.conn, r.call, r.ret, detail)
}
