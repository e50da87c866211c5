package serve

// Isolation conformance: the same transcripts of concurrent sessions run
// against pgdst serve and against PostgreSQL 15 (internal/pgtest), and
// their outputs must match, except where a transcript says why pgdst
// differs.
//
// A transcript (testdata/conformance/*, cockroachdb datadriven) is a
// "run" block of lines "setup: SQL" (run first, on a connection of its
// own, output not shown) and "NAME: SQL" (a step of session NAME, each
// session a connection of its own, sent as one simple Query as
// isolationtester's PQsendQuery does). The steps run in the order given,
// one at a time, like a PostgreSQL isolation spec's permutation:
//
//   - A step is sent, and the runner waits until it has either returned
//     or is observed blocked: pg_isolation_test_session_is_blocked(pid,
//     the sessions' pids) on a monitor connection, isolationtester's own
//     test, which pgdst serve implements over its lock manager's wait-for
//     edges (sqlexec/backend_status.go). A blocked step prints
//     "<waiting ...>".
//   - After each step, the steps still waiting are looked at in the order
//     they began to wait: one that returned, or is no longer blocked and
//     then returns, prints "NAME: <... completed>" and its result.
//   - A step of a session whose previous step is still waiting first
//     waits for that one to return (a deadlock victim's error, say), and
//     prints it, before it is sent.
//   - At the end of the block the runner waits for every waiting step;
//     then each session rolls back and disconnects.
//
// Every wait is bounded (stepTimeout); no output depends on how long
// anything took, only on whether a session is blocked, which both servers
// report from their lock tables. Results print as a header line of column
// names, one line per row (NULL as NULL) and the command tag; errors as
// "ERROR:  message (SQLSTATE code)" with DETAIL and HINT lines, with
// session pids shown as session names and transaction ids as N, since
// neither is the same from one server to the other.
//
// "run differs=WORD" marks a block whose pgdst output legitimately
// differs (a fidelity note of the README): the expected output is
// PostgreSQL's, followed by pgdst's after a "---- pgdst serve (differs:
// WORD)" line. Without the mark,
// any difference fails the test; with it, no difference fails it too (the
// note has gone stale).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/internal/pgtest"
)

// stepTimeout bounds every wait for a step: to return or be seen
// blocked, and a waiting step's wait to return.
const stepTimeout = 20 * time.Second

// pollInterval is how often a running step's blocked state is asked for.
const pollInterval = 2 * time.Millisecond

func TestIsolationConformance(t *testing.T) {
	pg := pgtest.Start(t)
	s := startServer(t, "", 0)
	host, port, _ := net.SplitHostPort(s.Addr())
	targets := []struct{ name, url string }{
		{"postgresql", pg.URL},
		{"pgdst", fmt.Sprintf("postgres://postgres@%s:%s/postgres?sslmode=disable", host, port)},
	}
	datadriven.Walk(t, "testdata/conformance", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "run" {
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			differs := ""
			if d.HasArg("differs") {
				d.ScanArgs(t, "differs", &differs)
			}
			outs := make([]string, len(targets))
			for i, tg := range targets {
				outs[i] = runTranscript(t, tg.url, d.Input)
			}
			out := outs[0]
			diff := lineDiff(outs[0], outs[1])
			switch {
			case diff != "" && differs == "":
				t.Errorf("%s: pgdst serve differs from PostgreSQL 15 where the transcript claims the same behaviour:\n%s", d.Pos, diff)
			case diff == "" && differs != "":
				t.Errorf("%s: marked differs=%s, but pgdst serve now behaves as PostgreSQL 15: drop the mark (and the README's note)", d.Pos, differs)
			}
			if diff != "" {
				out += "---- pgdst serve (differs: " + differs + "):\n" + outs[1]
			}
			return out
		})
	})
}

// lineDiff lists the lines where b differs from a, by a longest common
// subsequence: "- " lines only in a (PostgreSQL), "+ " only in b (pgdst).
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("- " + x[i] + "\n")
			i++
		default:
			sb.WriteString("+ " + y[j] + "\n")
			j++
		}
	}
	return sb.String()
}

type tsession struct {
	name   string
	conn   *pgconn.PgConn
	pid    uint32
	active *tstep // the step still waiting, if any
}

type tstep struct {
	sess     *tsession
	sql      string
	finished chan struct{} // closed once results and err are set
	results  []*pgconn.Result
	err      error
}

type trunner struct {
	t        *testing.T
	ctx      context.Context
	url      string
	mon      *pgconn.PgConn
	sessions map[string]*tsession
	order    []*tsession
	waiting  []*tstep
	out      strings.Builder
}

// runTranscript runs one block's lines against url and returns what it
// printed.
func runTranscript(t *testing.T, url, input string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mon, err := pgconn.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer mon.Close(context.Background())
	r := &trunner{t: t, ctx: ctx, url: url, mon: mon, sessions: map[string]*tsession{}}
	defer r.close()
	for _, line := range strings.Split(input, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, sql, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%q: want NAME: SQL", line)
		}
		name, sql = strings.TrimSpace(name), strings.TrimSpace(sql)
		if name == "setup" {
			if _, err := mon.Exec(ctx, sql).ReadAll(); err != nil {
				t.Fatalf("%s: setup %q: %v", url, sql, err)
			}
			continue
		}
		r.step(name, sql)
	}
	r.finish()
	return r.out.String()
}

func (r *trunner) session(name string) *tsession {
	if s, ok := r.sessions[name]; ok {
		return s
	}
	c, err := pgconn.Connect(r.ctx, r.url)
	if err != nil {
		r.t.Fatalf("connect %s for %s: %v", r.url, name, err)
	}
	s := &tsession{name: name, conn: c, pid: c.PID()}
	r.sessions[name] = s
	r.order = append(r.order, s)
	return s
}

func (r *trunner) step(name, sql string) {
	s := r.session(name)
	if s.active != nil {
		// The session is still in its previous step: wait for it,
		// as isolationtester does, before sending this one.
		st := s.active
		select {
		case <-st.finished:
		case <-time.After(stepTimeout):
			r.t.Fatalf("%s: %s: step %q still waiting after %v", r.url, name, st.sql, stepTimeout)
		}
		r.complete(st)
	}
	st := &tstep{sess: s, sql: sql, finished: make(chan struct{})}
	go func() {
		st.results, st.err = s.conn.Exec(r.ctx, sql).ReadAll()
		close(st.finished)
	}()
	fmt.Fprintf(&r.out, "%s: %s", name, sql)
	if r.settle(st) {
		r.out.WriteString("\n")
		r.print(st)
	} else {
		r.out.WriteString(" <waiting ...>\n")
		s.active = st
		r.waiting = append(r.waiting, st)
	}
	r.poll()
}

// settle waits until st returns (true) or is blocked by another session
// (false), bounded by stepTimeout.
func (r *trunner) settle(st *tstep) bool {
	deadline := time.Now().Add(stepTimeout)
	for {
		select {
		case <-st.finished:
			return true
		case <-time.After(pollInterval):
		}
		if r.blocked(st.sess) {
			// It may have returned while we asked.
			select {
			case <-st.finished:
				return true
			default:
				return false
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: %s: step %q neither returned nor blocked within %v", r.url, st.sess.name, st.sql, stepTimeout)
		}
	}
}

// blocked asks the server whether s waits for a lock another session
// holds.
func (r *trunner) blocked(s *tsession) bool {
	var pids []string
	for _, o := range r.order {
		if o != s {
			pids = append(pids, fmt.Sprint(o.pid))
		}
	}
	q := fmt.Sprintf("SELECT pg_isolation_test_session_is_blocked(%d, '{%s}')", s.pid, strings.Join(pids, ","))
	res, err := r.mon.Exec(r.ctx, q).ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		r.t.Fatalf("%s: %s: %v", r.url, q, err)
	}
	return string(res[0].Rows[0][0]) == "t"
}

// poll reports the waiting steps that have returned or stopped being
// blocked, in the order they began to wait.
func (r *trunner) poll() {
	for _, st := range append([]*tstep(nil), r.waiting...) {
		if r.settle(st) {
			r.complete(st)
		}
	}
}

func (r *trunner) complete(st *tstep) {
	fmt.Fprintf(&r.out, "%s: <... completed>\n", st.sess.name)
	r.print(st)
	st.sess.active = nil
	for i, w := range r.waiting {
		if w == st {
			r.waiting = append(r.waiting[:i], r.waiting[i+1:]...)
			break
		}
	}
}

// finish waits for every waiting step, then ends the sessions.
func (r *trunner) finish() {
	for len(r.waiting) > 0 {
		st := r.waiting[0]
		select {
		case <-st.finished:
		case <-time.After(stepTimeout):
			r.t.Fatalf("%s: %s: step %q still waiting at the end, after %v", r.url, st.sess.name, st.sql, stepTimeout)
		}
		r.complete(st)
		r.poll()
	}
}

func (r *trunner) close() {
	for _, s := range r.order {
		if s.active != nil {
			select {
			case <-s.active.finished:
			case <-time.After(stepTimeout):
			}
		}
		s.conn.Close(context.Background())
	}
}

var xidInDetail = regexp.MustCompile(`transaction \d+`)

// print writes a step's results, or its error.
func (r *trunner) print(st *tstep) {
	for _, res := range st.results {
		if res.Err != nil {
			break
		}
		if len(res.FieldDescriptions) > 0 {
			names := make([]string, len(res.FieldDescriptions))
			for i, f := range res.FieldDescriptions {
				names[i] = f.Name
			}
			r.out.WriteString(strings.Join(names, " | ") + "\n")
			for _, row := range res.Rows {
				vals := make([]string, len(row))
				for i, v := range row {
					if v == nil {
						vals[i] = "NULL"
					} else {
						vals[i] = string(v)
					}
				}
				r.out.WriteString(strings.Join(vals, " | ") + "\n")
			}
		}
		r.out.WriteString(res.CommandTag.String() + "\n")
	}
	if st.err == nil {
		return
	}
	var pe *pgconn.PgError
	if !errors.As(st.err, &pe) {
		r.t.Fatalf("%s: %s: %q: %v", r.url, st.sess.name, st.sql, st.err)
	}
	fmt.Fprintf(&r.out, "ERROR:  %s (SQLSTATE %s)\n", pe.Message, pe.Code)
	if pe.Detail != "" {
		fmt.Fprintf(&r.out, "DETAIL:  %s\n", r.normalize(pe.Detail))
	}
	if pe.Hint != "" {
		fmt.Fprintf(&r.out, "HINT:  %s\n", pe.Hint)
	}
}

// normalize shows session pids as session names and transaction ids as
// N: a deadlock report names both, and neither is the same on two
// servers.
func (r *trunner) normalize(s string) string {
	names := make([]*tsession, len(r.order))
	copy(names, r.order)
	// Longer pids first, so that 123 does not replace part of 1234.
	sort.Slice(names, func(i, j int) bool { return len(fmt.Sprint(names[i].pid)) > len(fmt.Sprint(names[j].pid)) })
	s = xidInDetail.ReplaceAllString(s, "transaction N")
	for _, n := range names {
		s = regexp.MustCompile(`\b`+fmt.Sprint(n.pid)+`\b`).ReplaceAllString(s, n.name)
	}
	return s
}

// TestIsolationTestSessionIsBlocked: pgdst serve's
// pg_isolation_test_session_is_blocked, which the conformance runner asks,
// says true exactly while a session waits for a lock one of the given
// sessions holds; a deadlock's detail names the sessions' PIDs (those of
// pg_backend_pid) and a per-session deadlock_timeout picks the victim.
// Needs no PostgreSQL.
func TestIsolationTestSessionIsBlocked(t *testing.T) {
	s := startServer(t, "", 0)
	a, b, mon := connect(t, s), connect(t, s), connect(t, s)
	_, err := a.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY, v int)")
	require.NoError(t, err)
	_, err = a.Exec(ctx(t), "INSERT INTO t VALUES (1, 0), (2, 0)")
	require.NoError(t, err)
	pa, pb := a.PgConn().PID(), b.PgConn().PID()
	blocked := func(pid uint32, others ...uint32) bool {
		strs := make([]string, len(others))
		for i, o := range others {
			strs[i] = fmt.Sprint(o)
		}
		var v bool
		require.NoError(t, mon.QueryRow(ctx(t), fmt.Sprintf("SELECT pg_isolation_test_session_is_blocked(%d, '{%s}')", pid, strings.Join(strs, ","))).Scan(&v))
		return v
	}
	require.False(t, blocked(pb, pa))
	_, err = a.Exec(ctx(t), "SET deadlock_timeout = '30s'")
	require.NoError(t, err)
	_, err = b.Exec(ctx(t), "SET deadlock_timeout = 200")
	require.NoError(t, err)
	for _, c := range []*pgx.Conn{a, b} {
		_, err = c.Exec(ctx(t), "BEGIN")
		require.NoError(t, err)
	}
	_, err = a.Exec(ctx(t), "UPDATE t SET v = 1 WHERE id = 1")
	require.NoError(t, err)
	_, err = b.Exec(ctx(t), "UPDATE t SET v = 2 WHERE id = 2")
	require.NoError(t, err)
	aDone := make(chan error, 1)
	go func() { _, err := a.Exec(context.Background(), "UPDATE t SET v = 1 WHERE id = 2"); aDone <- err }()
	require.Eventually(t, func() bool { return blocked(pa, pb) }, 10*time.Second, 5*time.Millisecond)
	require.False(t, blocked(pa), "blocked by none of no sessions")
	require.False(t, blocked(pa, pa+1000), "blocked by a session not in the list")
	require.False(t, blocked(pb, pa))
	// b closes the cycle; with 200 ms against a's 30 s, b is the victim.
	_, err = b.Exec(ctx(t), "UPDATE t SET v = 2 WHERE id = 1")
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "40P01", pe.Code)
	require.Equal(t, "deadlock detected", pe.Message)
	require.Equal(t, fmt.Sprintf("Process %d waits for ShareLock on transaction", pb), pe.Detail[:len(fmt.Sprintf("Process %d waits for ShareLock on transaction", pb))])
	require.Contains(t, pe.Detail, fmt.Sprintf("blocked by process %d.\nProcess %d waits", pa, pa))
	require.Equal(t, "See server log for query details.", pe.Hint)
	_, err = b.Exec(ctx(t), "ROLLBACK")
	require.NoError(t, err)
	select {
	case err := <-aDone:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a still waits after b rolled back")
	}
	require.False(t, blocked(pa, pb))
	_, err = a.Exec(ctx(t), "COMMIT")
	require.NoError(t, err)

	for q, code := range map[string]string{
		"SELECT pg_isolation_test_session_is_blocked(1, '{1,x}')": "22P02",
		"SELECT pg_isolation_test_session_is_blocked(1, '1,2')":   "22P02",
		"SET deadlock_timeout = '0'":                              "22023",
		"SET deadlock_timeout = '5 fortnights'":                   "22023",
	} {
		_, err := mon.Exec(ctx(t), q)
		require.Equal(t, code, pgCode(err), "%s: %v", q, err)
	}
	var v string
	_, err = mon.Exec(ctx(t), "SET deadlock_timeout = '2s'")
	require.NoError(t, err)
	require.NoError(t, mon.QueryRow(ctx(t), "SHOW deadlock_timeout").Scan(&v))
	require.Equal(t, "2s", v)
}
