package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// startServer starts pgdst serve on a fresh data directory and a free
// loopback port; it is shut down when the test ends.
func startServer(t *testing.T, dir string, maxConns int) *Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir, MaxConnections: maxConns})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(10 * time.Second) })
	return s
}

func connString(s *Server, user string) string {
	host, port, _ := net.SplitHostPort(s.Addr())
	return fmt.Sprintf("postgres://%s@%s:%s/db?sslmode=disable", user, host, port)
}

func connect(t *testing.T, s *Server) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, connString(s, "alice"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// pgCode is an error's SQLSTATE ("" when it has none).
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestConnectParameters(t *testing.T) {
	s := startServer(t, "", 0)
	c := connect(t, s)
	pc := c.PgConn()
	require.Equal(t, "15.0", pc.ParameterStatus("server_version"))
	require.Equal(t, "UTF8", pc.ParameterStatus("server_encoding"))
	require.Equal(t, "UTF8", pc.ParameterStatus("client_encoding"))
	require.Equal(t, "on", pc.ParameterStatus("standard_conforming_strings"))
	require.Equal(t, "on", pc.ParameterStatus("integer_datetimes"))
	require.Equal(t, "ISO, MDY", pc.ParameterStatus("DateStyle"))
	require.NotZero(t, pc.PID())
	var v string
	require.NoError(t, c.QueryRow(ctx(t), "SELECT version()").Scan(&v))
	require.Contains(t, v, "PostgreSQL 15")
	var one, two int32
	var txt string
	require.NoError(t, c.QueryRow(ctx(t), "SELECT 1, 1 + 1, 'x'").Scan(&one, &two, &txt))
	require.Equal(t, []any{int32(1), int32(2), "x"}, []any{one, two, txt})
}

func TestCRUD(t *testing.T) {
	s := startServer(t, "", 0)
	c := connect(t, s)
	tag, err := c.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY, x bigint NOT NULL, s text)")
	require.NoError(t, err)
	require.Equal(t, "CREATE TABLE", tag.String())
	tag, err = c.Exec(ctx(t), "INSERT INTO t VALUES (1, 10, 'a'), (2, 20, NULL), (3, 30, 'c')")
	require.NoError(t, err)
	require.Equal(t, "INSERT 0 3", tag.String())
	// The extended protocol with parameters (pgx's default).
	tag, err = c.Exec(ctx(t), "INSERT INTO t (id, x, s) VALUES ($1, $2, $3)", 4, int64(40), "d")
	require.NoError(t, err)
	require.Equal(t, "INSERT 0 1", tag.String())
	var ret int64
	require.NoError(t, c.QueryRow(ctx(t), "INSERT INTO t VALUES (5, 50, 'e') RETURNING x * 2").Scan(&ret))
	require.Equal(t, int64(100), ret)

	type r struct {
		id int32
		x  int64
		s  *string
	}
	read := func(q string, args ...any) []r {
		rows, err := c.Query(ctx(t), q, args...)
		require.NoError(t, err)
		var out []r
		for rows.Next() {
			var v r
			require.NoError(t, rows.Scan(&v.id, &v.x, &v.s))
			out = append(out, v)
		}
		require.NoError(t, rows.Err())
		return out
	}
	got := read("SELECT * FROM t WHERE x >= $1 AND s IS NOT NULL ORDER BY id DESC LIMIT 2", 20)
	require.Len(t, got, 2)
	require.Equal(t, []int32{5, 4}, []int32{got[0].id, got[1].id})
	got = read("SELECT id, x, s FROM t WHERE id IN (1, 2) OR NOT (x < 50) ORDER BY 1")
	require.Equal(t, []int32{1, 2, 5}, []int32{got[0].id, got[1].id, got[2].id})
	require.Nil(t, got[1].s)
	got = read("SELECT id, x % 3 + 1 - 1, s FROM t WHERE id <> 3 AND x % 20 = 0 ORDER BY x")
	require.Equal(t, []int32{2, 4}, []int32{got[0].id, got[1].id})
	require.Equal(t, int64(20%3), got[0].x)

	tag, err = c.Exec(ctx(t), "UPDATE t SET x = x + $1, s = 'u' WHERE id = $2", 7, 1)
	require.NoError(t, err)
	require.Equal(t, "UPDATE 1", tag.String())
	tag, err = c.Exec(ctx(t), "UPDATE t SET x = -x WHERE x > 25")
	require.NoError(t, err)
	require.Equal(t, "UPDATE 3", tag.String())
	got = read("SELECT * FROM t ORDER BY id")
	require.Equal(t, []int64{17, 20, -30, -40, -50}, []int64{got[0].x, got[1].x, got[2].x, got[3].x, got[4].x})
	require.Equal(t, "u", *got[0].s)
	tag, err = c.Exec(ctx(t), "DELETE FROM t WHERE x < 0 AND id <> 4")
	require.NoError(t, err)
	require.Equal(t, "DELETE 2", tag.String())
	tag, err = c.Exec(ctx(t), "DELETE FROM t WHERE id = 4")
	require.NoError(t, err)
	require.Equal(t, "DELETE 1", tag.String())
	require.Len(t, read("SELECT * FROM t"), 2)

	// Simple protocol, several statements in one message.
	_, err = c.PgConn().Exec(ctx(t), "UPDATE t SET x = 0 WHERE id = 1; SELECT x FROM t WHERE id = 1; DROP TABLE t").ReadAll()
	require.NoError(t, err)
	_, err = c.Exec(ctx(t), "SELECT * FROM t")
	require.Equal(t, "42P01", pgCode(err))
	_, err = c.Exec(ctx(t), "DROP TABLE IF EXISTS t")
	require.NoError(t, err)
}

func TestErrors(t *testing.T) {
	s := startServer(t, "", 0)
	c := connect(t, s)
	_, err := c.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY, x int)")
	require.NoError(t, err)
	_, err = c.Exec(ctx(t), "INSERT INTO t VALUES (1, 1)")
	require.NoError(t, err)

	_, err = c.Exec(ctx(t), "SELECT * FRM t")
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "42601", pe.Code)
	require.Equal(t, "ERROR", pe.Severity)
	require.Equal(t, `syntax error at or near "FRM"`, pe.Message)
	require.Equal(t, int32(10), pe.Position)

	cases := map[string]string{
		"INSERT INTO t VALUES (1, 2)":                   "23505",
		"SELECT * FROM missing":                         "42P01",
		"SELECT nope FROM t":                            "42703",
		"SELECT count(*) FROM t":                        "0A000",
		"SELECT * FROM t a JOIN t b ON a.id=b.id":       "0A000",
		"INSERT INTO t VALUES (2, 3000000000)":          "22003",
		"INSERT INTO t VALUES (NULL, 1)":                "23502",
		"SELECT 1 / 0":                                  "22012",
		"INSERT INTO t VALUES ('abc', 1)":               "22P02",
		"CREATE TABLE t (id int PRIMARY KEY)":           "42P07",
		"CREATE TABLE u (id int)":                       "0A000",
		"CREATE SEQUENCE s":                             "0A000",
		"SAVEPOINT a":                                   "0A000",
		"SHOW nonsense":                                 "42704",
		"UPDATE t SET id = 2":                           "0A000",
		"SELECT * FROM t WHERE x = 1 FOR UPDATE NOWAIT": "0A000",
	}
	for q, code := range cases {
		_, err := c.Exec(ctx(t), q)
		require.Equal(t, code, pgCode(err), "%s: %v", q, err)
	}
	_, err = c.Exec(ctx(t), "INSERT INTO t VALUES (1, 2)")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, `duplicate key value violates unique constraint "t_pkey"`, pe.Message)
	require.Equal(t, "Key (id)=(1) already exists.", pe.Detail)
	_, err = c.Exec(ctx(t), "SELECT 1 UNION SELECT 2")
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Message, "UNION")
}

func TestTransactionStatus(t *testing.T) {
	s := startServer(t, "", 0)
	c := connect(t, s)
	pc := c.PgConn()
	exec := func(q string) error { _, err := pc.Exec(ctx(t), q).ReadAll(); return err }
	require.NoError(t, exec("CREATE TABLE t (id int PRIMARY KEY, x int)"))
	require.Equal(t, byte('I'), pc.TxStatus())
	require.NoError(t, exec("BEGIN ISOLATION LEVEL REPEATABLE READ"))
	require.Equal(t, byte('T'), pc.TxStatus())
	rr, err := pc.Exec(ctx(t), "SHOW transaction_isolation").ReadAll()
	require.NoError(t, err)
	require.Equal(t, "repeatable read", string(rr[0].Rows[0][0]))
	require.NoError(t, exec("INSERT INTO t VALUES (1, 1)"))
	require.Equal(t, "23505", pgCode(exec("INSERT INTO t VALUES (1, 1)")))
	require.Equal(t, byte('E'), pc.TxStatus())
	require.Equal(t, "25P02", pgCode(exec("SELECT 1")))
	require.Equal(t, "25P02", pgCode(exec("BEGIN")))
	require.Equal(t, "25P02", pgCode(exec("SET application_name = 'x'")))
	res, err := pc.Exec(ctx(t), "COMMIT").ReadAll()
	require.NoError(t, err)
	require.Equal(t, "ROLLBACK", res[0].CommandTag.String()) // COMMIT of an aborted block
	require.Equal(t, byte('I'), pc.TxStatus())
	rows, err := pc.Exec(ctx(t), "SELECT * FROM t").ReadAll()
	require.NoError(t, err)
	require.Empty(t, rows[0].Rows)

	// A layer error (not the engine's) aborts the block too.
	require.NoError(t, exec("START TRANSACTION READ ONLY"))
	require.Equal(t, "42P01", pgCode(exec("SELECT * FROM nope")))
	require.Equal(t, byte('E'), pc.TxStatus())
	require.NoError(t, exec("ROLLBACK"))
	// READ ONLY forbids writes.
	require.NoError(t, exec("BEGIN READ ONLY"))
	require.Equal(t, "25006", pgCode(exec("INSERT INTO t VALUES (2, 2)")))
	require.NoError(t, exec("ABORT"))
	// SET TRANSACTION before the first query; END commits.
	require.NoError(t, exec("BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
	rr, err = pc.Exec(ctx(t), "SHOW transaction_isolation").ReadAll()
	require.NoError(t, err)
	require.Equal(t, "serializable", string(rr[0].Rows[0][0]))
	require.NoError(t, exec("INSERT INTO t VALUES (3, 3)"))
	require.Equal(t, "25001", pgCode(exec("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")))
	require.NoError(t, exec("ROLLBACK"))
	require.NoError(t, exec("BEGIN; INSERT INTO t VALUES (4, 4); END"))
	require.Equal(t, byte('I'), pc.TxStatus())
	rows, err = pc.Exec(ctx(t), "SELECT x FROM t WHERE id = 4").ReadAll()
	require.NoError(t, err)
	require.Len(t, rows[0].Rows, 1)
	// Several data statements in one message are one transaction: the
	// second's error rolls the first back.
	require.Equal(t, "23505", pgCode(exec("INSERT INTO t VALUES (10, 1); INSERT INTO t VALUES (10, 2)")))
	require.Equal(t, byte('I'), pc.TxStatus())
	rows, err = pc.Exec(ctx(t), "SELECT x FROM t WHERE id = 10").ReadAll()
	require.NoError(t, err)
	require.Empty(t, rows[0].Rows)
	require.NoError(t, exec("INSERT INTO t VALUES (11, 1); UPDATE t SET x = 5 WHERE id = 11"))
	rows, err = pc.Exec(ctx(t), "SELECT x FROM t WHERE id = 11").ReadAll()
	require.NoError(t, err)
	require.Equal(t, "5", string(rows[0].Rows[0][0]))
	// Warnings, not errors.
	var notices []string
	cfg, err := pgx.ParseConfig(connString(s, "bob"))
	require.NoError(t, err)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		notices = append(notices, n.Severity+" "+n.Code+" "+n.Message)
	}
	c2, err := pgx.ConnectConfig(ctx(t), cfg)
	require.NoError(t, err)
	defer c2.Close(context.Background())
	_, err = c2.Exec(ctx(t), "COMMIT")
	require.NoError(t, err)
	_, err = c2.Exec(ctx(t), "VACUUM")
	require.NoError(t, err)
	_, err = c2.Exec(ctx(t), "CHECKPOINT")
	require.NoError(t, err)
	require.Equal(t, []string{"WARNING 25P01 there is no transaction in progress"}, notices)
}

func TestExtendedProtocolModes(t *testing.T) {
	s := startServer(t, "", 0)
	c := connect(t, s)
	_, err := c.Exec(ctx(t), "CREATE TABLE kv (k bigint PRIMARY KEY, v text)")
	require.NoError(t, err)
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol}
	for i, m := range modes {
		_, err := c.Exec(ctx(t), "INSERT INTO kv VALUES ($1, $2)", m, int64(i), fmt.Sprintf("v%d", i))
		require.NoError(t, err, "mode %v", m)
		var v string
		require.NoError(t, c.QueryRow(ctx(t), "SELECT v FROM kv WHERE k = $1", m, int64(i)).Scan(&v), "mode %v", m)
		require.Equal(t, fmt.Sprintf("v%d", i), v)
	}
	// A prepared statement used many times, and a batch.
	_, err = c.Prepare(ctx(t), "get", "SELECT k, v FROM kv WHERE k >= $1 ORDER BY k LIMIT $2")
	require.NoError(t, err)
	rows, err := c.Query(ctx(t), "get", 1, 2)
	require.NoError(t, err)
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int64, error) {
		var k int64
		var v string
		return k, r.Scan(&k, &v)
	})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, ks)
	b := &pgx.Batch{}
	b.Queue("UPDATE kv SET v = v || '!' WHERE k = $1", 0)
	b.Queue("SELECT v FROM kv WHERE k = $1", 0)
	br := c.SendBatch(ctx(t), b)
	_, err = br.Exec()
	require.NoError(t, err)
	var v string
	require.NoError(t, br.QueryRow().Scan(&v))
	require.Equal(t, "v0!", v)
	require.NoError(t, br.Close())
	// A batch is one implicit transaction (everything up to Sync): its
	// second INSERT's 23505 rolls its first back.
	b = &pgx.Batch{}
	b.Queue("INSERT INTO kv VALUES ($1, 'batch')", 100)
	b.Queue("INSERT INTO kv VALUES ($1, 'batch')", 100)
	err = c.SendBatch(ctx(t), b).Close()
	require.Equal(t, "23505", pgCode(err), "%v", err)
	require.Equal(t, byte('I'), c.PgConn().TxStatus())
	var n int
	rows, err = c.Query(ctx(t), "SELECT k FROM kv WHERE k = 100")
	require.NoError(t, err)
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.Zero(t, n, "the batch's first INSERT survived its second's error")
	// An error in the extended protocol is reported, and the connection goes on.
	_, err = c.Exec(ctx(t), "SELECT v FROM kv WHERE k = $1", "not a number")
	require.Error(t, err)
	require.NoError(t, c.Ping(ctx(t)))
}

// TestBlockedUpdate: an UPDATE of a row another transaction updated waits
// for it (a real wait), and goes on from the committed version.
func TestBlockedUpdate(t *testing.T) {
	s := startServer(t, "", 0)
	a, b := connect(t, s), connect(t, s)
	_, err := a.Exec(ctx(t), "CREATE TABLE acct (id int PRIMARY KEY, bal bigint)")
	require.NoError(t, err)
	_, err = a.Exec(ctx(t), "INSERT INTO acct VALUES (1, 100)")
	require.NoError(t, err)
	tx, err := a.Begin(ctx(t))
	require.NoError(t, err)
	_, err = tx.Exec(ctx(t), "UPDATE acct SET bal = bal + 1 WHERE id = 1")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(context.Background(), "UPDATE acct SET bal = bal * 2 WHERE id = 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the second UPDATE did not wait for the first transaction: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Commit(ctx(t)))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second UPDATE was not released by the COMMIT")
	}
	var bal int64
	require.NoError(t, a.QueryRow(ctx(t), "SELECT bal FROM acct WHERE id = 1").Scan(&bal))
	require.Equal(t, int64(202), bal) // (100 + 1) * 2: EvalPlanQual on the committed version

	// FOR UPDATE blocks the same way, and REPEATABLE READ gets 40001.
	tx, err = a.Begin(ctx(t))
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow(ctx(t), "SELECT bal FROM acct WHERE id = 1 FOR UPDATE").Scan(&bal))
	tx2, err := b.BeginTx(ctx(t), pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	require.NoError(t, tx2.QueryRow(ctx(t), "SELECT bal FROM acct WHERE id = 1").Scan(&bal))
	go func() {
		_, err := tx2.Exec(context.Background(), "UPDATE acct SET bal = 0 WHERE id = 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the UPDATE did not wait for FOR UPDATE: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Commit(ctx(t)))
	select {
	case err := <-done:
		require.Equal(t, "40001", pgCode(err))
	case <-time.After(10 * time.Second):
		t.Fatal("the UPDATE was not released by the COMMIT")
	}
	require.NoError(t, tx2.Rollback(ctx(t)))
}

// TestCancelRequest: pgx sends a CancelRequest when a query's context is
// canceled; the blocked statement fails with 57014, and the session goes
// on.
func TestCancelRequest(t *testing.T) {
	s := startServer(t, "", 0)
	a, b := connect(t, s), connect(t, s)
	_, err := a.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY, x int)")
	require.NoError(t, err)
	_, err = a.Exec(ctx(t), "INSERT INTO t VALUES (1, 0)")
	require.NoError(t, err)
	tx, err := a.Begin(ctx(t))
	require.NoError(t, err)
	_, err = tx.Exec(ctx(t), "UPDATE t SET x = 1 WHERE id = 1")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(context.Background(), "UPDATE t SET x = 2 WHERE id = 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the UPDATE did not wait: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	// What psql's Ctrl-C sends: a CancelRequest on a new connection with
	// the session's process id and secret key.
	require.NoError(t, b.PgConn().CancelRequest(ctx(t)))
	select {
	case err := <-done:
		require.Equal(t, "57014", pgCode(err), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the CancelRequest did not end the blocked UPDATE")
	}
	require.NoError(t, tx.Rollback(ctx(t)))
	var x int32
	require.NoError(t, b.QueryRow(ctx(t), "SELECT x FROM t WHERE id = 1").Scan(&x))
	require.Equal(t, int32(0), x)
}

func TestMaxConnections(t *testing.T) {
	s := startServer(t, "", 2)
	connect(t, s)
	connect(t, s)
	_, err := pgx.Connect(ctx(t), connString(s, "carol"))
	require.Error(t, err)
	require.Equal(t, "53300", pgCode(err), "%v", err)
	require.Contains(t, err.Error(), "sorry, too many clients already")
}

// TestBadWireBytes: malformed messages end that connection with a
// protocol error, and only that one.
func TestBadWireBytes(t *testing.T) {
	s := startServer(t, "", 0)
	good := connect(t, s)
	startup := []byte{0, 0, 0, 0x13, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x', 0, 0}
	startup[3] = byte(len(startup) - 0)
	bad := [][]byte{
		{0, 0, 0, 8, 1, 2, 3, 4},                                          // an unknown startup code
		{0xff, 0xff, 0xff, 0xff},                                          // a startup length out of range
		append(append([]byte{}, startup...), 'Q', 0, 0, 0, 2),             // a length below 4
		append(append([]byte{}, startup...), 'Q', 0x7f, 0xff, 0xff, 0xff), // too long
		append(append([]byte{}, startup...), 'q', 0, 0, 0, 4),             // an unknown type
		append(append([]byte{}, startup...), 'B', 0, 0, 0, 6, 'x', 0),     // a truncated Bind
		append(append([]byte{}, startup...), 'P', 0, 0, 0, 5, 0),          // a Parse without its query
	}
	for i, msg := range bad {
		nc, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		_, err = nc.Write(msg)
		require.NoError(t, err)
		require.NoError(t, nc.SetReadDeadline(time.Now().Add(10*time.Second)))
		all, err := io.ReadAll(nc)
		require.NoError(t, err, "case %d: the server did not close the connection", i)
		if i >= 2 {
			require.Contains(t, string(all), "08P01", "case %d", i)
		}
		_ = nc.Close()
		require.NoError(t, good.Ping(ctx(t)), "case %d broke another connection", i)
	}
}

// TestSSLRequestAndConcurrency: sslmode=prefer gets 'N' and goes on in
// the clear; many sessions insert at once.
func TestSSLRequestAndConcurrency(t *testing.T) {
	s := startServer(t, "", 0)
	host, port, _ := net.SplitHostPort(s.Addr())
	c, err := pgx.Connect(ctx(t), fmt.Sprintf("postgres://u@%s:%s/d?sslmode=prefer", host, port))
	require.NoError(t, err)
	defer c.Close(context.Background())
	_, err = c.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY, w int)")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cw, err := pgx.Connect(context.Background(), connString(s, "w"))
			if err != nil {
				errs <- err
				return
			}
			defer cw.Close(context.Background())
			for i := 0; i < 25; i++ {
				if _, err := cw.Exec(context.Background(), "INSERT INTO t VALUES ($1, $2)", w*1000+i, w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rows, err := c.Query(ctx(t), "SELECT id FROM t")
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 200, n)
}

func TestListenNeedsLoopback(t *testing.T) {
	_, err := Start(Config{Listen: "0.0.0.0:0", DataDir: t.TempDir()})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "--listen-any"), "%v", err)
}

// TestRestartKeepsData: a fast shutdown, then a start on the same
// directory, finds the tables and rows.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(Config{Listen: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	c, err := pgx.Connect(ctx(t), connString(s, "a"))
	require.NoError(t, err)
	_, err = c.Exec(ctx(t), "CREATE TABLE t (id bigint PRIMARY KEY, s text); INSERT INTO t VALUES (-5, 'neg'), (7, 'pos')")
	require.NoError(t, err)
	_ = c.Close(ctx(t))
	require.NoError(t, s.Shutdown(10*time.Second))
	s2 := startServer(t, dir, 0)
	c2 := connect(t, s2)
	rows, err := c2.Query(ctx(t), "SELECT id, s FROM t ORDER BY id")
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var id int64
		var v string
		require.NoError(t, rows.Scan(&id, &v))
		got = append(got, fmt.Sprintf("%d %s", id, v))
	}
	require.Equal(t, []string{"-5 neg", "7 pos"}, got)
}

func pgxConnect(s *Server) (*pgx.Conn, error) {
	return pgx.Connect(context.Background(), connString(s, "bench"))
}

// TestPanicStopsServer: a PANIC in a backend stops the whole server (no
// crash-restart: restart_after_crash = off), closing every connection,
// with the PANIC as its error.
func TestPanicStopsServer(t *testing.T) {
	s := startServer(t, "", 0)
	a, b := connect(t, s), connect(t, s)
	_, err := a.Exec(ctx(t), "CREATE TABLE t (id int PRIMARY KEY)")
	require.NoError(t, err)
	inj, ok := s.e.Points.(*env.RealInjector)
	require.True(t, ok)
	inj.SetHook(func(point string) {
		if point == db.PointAfterSnapshot {
			s.e.Panicf("test PANIC at %s", point)
		}
	})
	_, err = a.Exec(ctx(t), "INSERT INTO t VALUES (1)")
	require.Error(t, err)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after a backend's PANIC")
	}
	require.ErrorContains(t, s.Err(), "test PANIC")
	require.Error(t, b.Ping(ctx(t)), "another session survived the PANIC")
	_, err = pgx.Connect(ctx(t), connString(s, "late"))
	require.Error(t, err)
}
