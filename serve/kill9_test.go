package serve

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// buildPgdst builds the pgdst binary for the subprocess tests.
func buildPgdst(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgdst")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/pgdst/pgdst/cmd/pgdst").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freePort returns a loopback port nobody listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serveProc is pgdst serve as a subprocess.
type serveProc struct {
	cmd  *exec.Cmd
	addr string
}

// startServeProc starts `pgdst serve` on dir and waits until it listens.
func startServeProc(t *testing.T, bin, dir string, port int) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "-q")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("pgdst serve did not start listening within 60s")
	}
	return &serveProc{cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port)}
}

// TestKill9Durability is the real-mode crash test: acknowledged inserts
// over pgx, kill -9 of the server in the middle of them, a restart on the
// same files (crash recovery), and every acknowledged row must be there.
// Three cycles, each bounded in time.
func TestKill9Durability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pgdst and runs it as a subprocess; skipped with -short")
	}
	bin := buildPgdst(t)
	dir := t.TempDir()
	port := freePort(t)
	acked := map[int64]bool{}
	var mu sync.Mutex
	const cycles = 3
	for cycle := 0; cycle < cycles; cycle++ {
		p := startServeProc(t, bin, dir, port)
		url := fmt.Sprintf("postgres://u@%s/d?sslmode=disable", p.addr)
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c, err := pgx.Connect(cctx, url)
		require.NoError(t, err)
		if cycle == 0 {
			_, err = c.Exec(cctx, "CREATE TABLE acked (id bigint PRIMARY KEY, cycle int, pad text)")
			require.NoError(t, err)
		}
		// Every row acknowledged before must have survived every crash.
		rows, err := c.Query(cctx, "SELECT id FROM acked")
		require.NoError(t, err)
		present := map[int64]bool{}
		for rows.Next() {
			var id int64
			require.NoError(t, rows.Scan(&id))
			present[id] = true
		}
		require.NoError(t, rows.Err())
		mu.Lock()
		missing := 0
		for id := range acked {
			if !present[id] {
				missing++
			}
		}
		t.Logf("cycle %d: %d rows acknowledged so far, %d present after recovery, %d missing", cycle, len(acked), len(present), missing)
		require.Zero(t, missing, "acknowledged rows lost by kill -9")
		mu.Unlock()
		_ = c.Close(cctx)

		// Writers insert until the kill; only rows whose INSERT
		// returned success count as acknowledged.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cw, err := pgx.Connect(cctx, url)
				if err != nil {
					return
				}
				defer cw.Close(context.Background())
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := int64(cycle)<<40 | int64(w)<<32 | int64(i)
					if _, err := cw.Exec(cctx, "INSERT INTO acked VALUES ($1, $2, $3)", id, cycle, strings.Repeat("x", 100)); err != nil {
						return // the server died: the outcome of this insert is unknown
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Second)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		_ = p.cmd.Wait()
		close(stop)
		wg.Wait()
		cancel()
	}
	// The last crash's rows, checked by one more start.
	p := startServeProc(t, bin, dir, port)
	c, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://u@%s/d?sslmode=disable", p.addr))
	require.NoError(t, err)
	defer c.Close(context.Background())
	n := 0
	for id := range acked {
		var got int64
		require.NoError(t, c.QueryRow(context.Background(), "SELECT id FROM acked WHERE id = $1", id).Scan(&got), "acknowledged row %d lost", id)
		n++
	}
	require.Greater(t, n, 0, "no insert was acknowledged: the test checked nothing")
	// SIGTERM is a clean fast shutdown.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait())
}
