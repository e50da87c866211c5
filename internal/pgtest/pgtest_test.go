package pgtest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestStartRestartStop starts a server, writes a row, crashes and restarts
// it with the shell command a probe's --fault-cmd would run, and reads the
// row back: the helper works as root (through the postgres account) and
// as anyone else.
func TestStartRestartStop(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("connect %s: %v\n%s", s.URL, err, s.Log())
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (k int PRIMARY KEY, v bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO t VALUES (1, 42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if out, err := exec.Command("sh", "-c", s.RestartImmediate()).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", s.RestartImmediate(), err, out)
	}
	conn, err = pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("connect after restart: %v\n%s", err, s.Log())
	}
	defer conn.Close(ctx)
	var v int64
	if err := conn.QueryRow(ctx, "SELECT v FROM t WHERE k = 1").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after an immediate restart: v = %d, %v; want 42", v, err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a/b-c": "a/b-c", "a b": "'a b'", "it's": `'it'\''s'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
