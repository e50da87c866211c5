package serve

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// needTool returns the path of a PostgreSQL client tool, skipping the test
// with one line when it is missing, except under CI=true, where the setup
// installs postgresql-client-15 and a missing tool is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p := "/usr/bin/" + name
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing under CI=true (the CI setup installs postgresql-client-15)", p)
		}
		t.Skipf("%s not installed: the psql/pgbench test needs postgresql-client-15", p)
	}
	return p
}

// TestPsqlAndPgbench drives pgdst serve with PostgreSQL's own client
// tools: psql -c, and pgbench running a custom script (random ids,
// UPDATE ... SET x = x + :delta, SELECT, INSERT) on 4 clients.
func TestPsqlAndPgbench(t *testing.T) {
	psql, pgbench := needTool(t, "psql"), needTool(t, "pgbench")
	s := startServer(t, "", 0)
	host, port, _ := net.SplitHostPort(s.Addr())
	env := append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER=bench", "PGDATABASE=bench", "PGCONNECT_TIMEOUT=10")
	run := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %v: %s", name, args, out)
		return string(out)
	}
	var vals []string
	for i := 1; i <= 100; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 0)", i))
	}
	out := run(psql, "-X", "-v", "ON_ERROR_STOP=1",
		"-c", "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL)",
		"-c", "CREATE TABLE hist (hid bigint PRIMARY KEY, aid int, delta int)",
		"-c", "INSERT INTO acct VALUES "+strings.Join(vals, ", "),
		"-c", "SELECT id, bal FROM acct WHERE id <= 2 ORDER BY id")
	require.Contains(t, out, "CREATE TABLE")
	require.Contains(t, out, "INSERT 0 100")
	require.Contains(t, out, "(2 rows)")
	// psql reports errors with SQLSTATE under VERBOSITY verbose.
	cmd := exec.Command(psql, "-X", "-v", "VERBOSITY=verbose", "-c", "SELECT * FROM nope")
	cmd.Env = env
	eout, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(eout), "42P01")

	// psql's Ctrl-C: SIGINT makes psql send a CancelRequest for its
	// statement, blocked here on a row another transaction updated.
	holder := connect(t, s)
	tx, err := holder.Begin(ctx(t))
	require.NoError(t, err)
	_, err = tx.Exec(ctx(t), "UPDATE acct SET bal = bal WHERE id = 1")
	require.NoError(t, err)
	var psqlOut bytes.Buffer
	blocked := exec.Command(psql, "-X", "-c", "UPDATE acct SET bal = bal + 1 WHERE id = 1")
	blocked.Env, blocked.Stdout, blocked.Stderr = env, &psqlOut, &psqlOut
	require.NoError(t, blocked.Start())
	// SIGINT before psql's UPDATE waits would end psql itself, not
	// cancel a statement: wait until the server sees a session blocked
	// by the holder, as isolationtester does.
	waitBlockedBy(t, s, holder.PgConn().PID())
	require.NoError(t, blocked.Process.Signal(syscall.SIGINT))
	waitErr := make(chan error, 1)
	go func() { waitErr <- blocked.Wait() }()
	select {
	case err := <-waitErr:
		require.Error(t, err, "psql: %s", psqlOut.String())
	case <-time.After(20 * time.Second):
		_ = blocked.Process.Kill()
		t.Fatalf("psql's Ctrl-C did not cancel its blocked UPDATE: %s", psqlOut.String())
	}
	require.Contains(t, psqlOut.String(), "canceling statement due to user request")
	require.NoError(t, tx.Rollback(ctx(t)))

	script := filepath.Join(t.TempDir(), "script.sql")
	require.NoError(t, os.WriteFile(script, []byte(PgbenchScript(100)), 0o600))
	out = run(pgbench, "-n", "-f", script, "-c", "4", "-T", "3")
	t.Logf("pgbench:\n%s", out)
	require.Contains(t, out, "number of failed transactions: 0")
	require.Regexp(t, `tps = [0-9.]+`, out)

	// The bank invariant: the balances add up to the deltas recorded.
	c := connect(t, s)
	sum := func(q string) (n int64) {
		rows, err := c.Query(ctx(t), q)
		require.NoError(t, err)
		for rows.Next() {
			var v int64
			require.NoError(t, rows.Scan(&v))
			n += v
		}
		require.NoError(t, rows.Err())
		return n
	}
	require.Equal(t, sum("SELECT delta::bigint FROM hist"), sum("SELECT bal FROM acct"))
}

// PgbenchScript is the custom pgbench script of the test and of
// bench/pgbench_serve.sh: a transfer-like update of a random account, a
// read of it, and a history row, each its own transaction (pgbench -n
// without BEGIN/COMMIT).
func PgbenchScript(accounts int) string {
	return fmt.Sprintf(`\set id random(1, %d)
\set delta random(-5000, 5000)
\set hid random(1, 9000000000000000000)
UPDATE acct SET bal = bal + :delta WHERE id = :id;
SELECT bal FROM acct WHERE id = :id;
INSERT INTO hist (hid, aid, delta) VALUES (:hid, :id, :delta);
`, accounts)
}

// waitBlockedBy waits (at most 30 s) until some session of s waits for a
// lock held by the session with process id holder, asking
// pg_isolation_test_session_is_blocked about every session the server has.
func waitBlockedBy(t *testing.T, s *Server, holder uint32) {
	t.Helper()
	probe := connect(t, s)
	defer probe.Close(ctx(t))
	for i := 0; i < 600; i++ {
		s.mu.Lock()
		pids := make([]uint32, 0, len(s.backends))
		for pid := range s.backends {
			pids = append(pids, pid)
		}
		s.mu.Unlock()
		for _, pid := range pids {
			var blocked bool
			q := fmt.Sprintf("SELECT pg_isolation_test_session_is_blocked(%d, '{%d}')", pid, holder)
			require.NoError(t, probe.QueryRow(ctx(t), q).Scan(&blocked))
			if blocked {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no session became blocked by process %d within 30 s", holder)
}
