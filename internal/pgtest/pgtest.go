// Package pgtest starts a private PostgreSQL server for a test: initdb into
// a fresh directory, pg_ctl start on a free loopback port and a private
// unix socket directory, pg_ctl stop in the test's cleanup. Tests that
// point pgdst at a real PostgreSQL (probe, later serve's conformance
// transcripts) share it.
//
// The binaries come from $PGDST_PG_BIN, else Debian's
// /usr/lib/postgresql/15/bin. Without them a test skips with one line,
// except under CI (CI set and not "false" or "0"), where it fails: .ci/run
// installs postgresql-15, so a missing server there is a broken setup, not
// a reason to pass.
//
// PostgreSQL refuses to run as root (initdb and postgres both check
// geteuid), and CI may well run the tests as root. Then the server's
// directory is handed to an unprivileged account (postgres, which Debian's
// package creates, else nobody) and every PostgreSQL binary runs as that
// account: directly through the process credentials for the commands this
// package runs, and through runuser for the shell commands it hands out
// (Server.Shell), such as a probe's --fault-cmd.
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultBin is where Debian's postgresql-15 package puts the server's
// binaries.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// startTimeout bounds pg_ctl's wait for the server to accept connections
// (and to stop): a loaded CI machine replaying WAL after an immediate
// restart can take a while.
const startTimeout = 120 * time.Second

// Server is one private PostgreSQL server.
type Server struct {
	Bin     string // directory of initdb, pg_ctl, postgres
	Base    string // the directory holding everything below; removed at cleanup
	DataDir string
	SockDir string
	LogFile string
	Port    int
	// URL connects to it over loopback TCP as the superuser "postgres",
	// without TLS.
	URL string
	// RunAs is the account the server runs as when the test runs as
	// root ("" otherwise).
	RunAs string
	cred  *syscall.Credential
}

// FindBin returns the directory of PostgreSQL's binaries, or an error that
// says where it looked.
func FindBin() (string, error) {
	dir := os.Getenv("PGDST_PG_BIN")
	if dir == "" {
		dir = DefaultBin
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("no PostgreSQL server binaries in %s (%s missing; install postgresql-15 or set PGDST_PG_BIN)", dir, b)
		}
	}
	return dir, nil
}

// InCI reports whether the tests run under CI, where a missing PostgreSQL
// is a failure rather than a skip.
func InCI() bool {
	ci := os.Getenv("CI")
	return ci != "" && ci != "false" && ci != "0"
}

// Start starts a server for t and stops it, and removes its files, when t
// ends. Without PostgreSQL it skips t (fails it under CI).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := FindBin()
	if err != nil {
		if InCI() {
			t.Fatalf("%v; CI=true: .ci/run installs postgresql-15", err)
		}
		t.Skipf("skipped: %v", err)
	}
	s, err := start(bin)
	if s != nil {
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Logf("pgtest: stop: %v", err)
			}
			os.RemoveAll(s.Base)
		})
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// start makes the directories, runs initdb and starts the server. A
// non-nil Server is returned whenever there is something to clean up.
func start(bin string) (*Server, error) {
	base, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Base: base, DataDir: filepath.Join(base, "data"), SockDir: filepath.Join(base, "sock"), LogFile: filepath.Join(base, "server.log")}
	if err := os.Mkdir(s.SockDir, 0o700); err != nil {
		return s, err
	}
	if os.Geteuid() == 0 {
		if err := s.dropRoot(); err != nil {
			return s, err
		}
	}
	// -N: no fsync of the fresh cluster, which the test throws away
	// anyway; the server itself runs with fsync on.
	if out, err := s.Command("initdb", "-D", s.DataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N").CombinedOutput(); err != nil {
		return s, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	// A free port can be taken between our probe and the server's bind;
	// a few attempts make that race harmless.
	for attempt := 0; ; attempt++ {
		s.Port, err = freePort()
		if err != nil {
			return s, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.Port, s.SockDir)
		out, err := s.Command("pg_ctl", "start", "-D", s.DataDir, "-l", s.LogFile, "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-o", opts).CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(s.LogFile)
			return s, fmt.Errorf("pg_ctl start: %v: %s; server log: %s", err, lastLines(out), lastLines(log))
		}
	}
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s, nil
}

// dropRoot gives the server's directory to an unprivileged account and
// makes every PostgreSQL command run as it.
func (s *Server) dropRoot() error {
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("running as root and neither a postgres nor a nobody account exists to run PostgreSQL as: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("account %s: %v", u.Username, err)
	}
	// MkdirTemp made base 0700 and root's: the account needs to own it.
	for _, p := range []string{s.Base, s.SockDir} {
		if err := os.Chown(p, int(uid), int(gid)); err != nil {
			return err
		}
	}
	s.RunAs = u.Username
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return nil
}

// Command is one of the server's binaries with args, run as the server's
// account.
func (s *Server) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.Bin, name), args...)
	cmd.Dir = s.Base
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		// HOME and the like stay root's; PostgreSQL reads none of them
		// for these commands, but a locale or a pager might.
		cmd.Env = append(os.Environ(), "HOME="+s.Base)
	}
	return cmd
}

// Shell is a shell command line that runs one of the server's binaries
// with args as the server's account: what a --fault-cmd needs.
func (s *Server) Shell(name string, args ...string) string {
	words := []string{shellQuote(filepath.Join(s.Bin, name))}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	line := strings.Join(words, " ")
	if s.RunAs != "" {
		line = "runuser -u " + shellQuote(s.RunAs) + " -- " + line
	}
	return line
}

// RestartImmediate is the shell command line of a crash and restart:
// pg_ctl restart -m immediate (the postmaster SIGQUITs every backend, no
// shutdown checkpoint, crash recovery at the next start), waiting until
// the server accepts connections again. pg_ctl restart reuses the options
// the server was started with (postmaster.opts).
func (s *Server) RestartImmediate() string {
	return s.Shell("pg_ctl", "restart", "-D", s.DataDir, "-m", "immediate", "-l", s.LogFile, "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)))
}

// Stop stops the server at once (-m immediate): the data is thrown away.
func (s *Server) Stop() error {
	if _, err := os.Stat(filepath.Join(s.DataDir, "postmaster.pid")); err != nil {
		return nil // never started, or already stopped
	}
	out, err := s.Command("pg_ctl", "stop", "-D", s.DataDir, "-m", "immediate", "-w", "-t", strconv.Itoa(int(startTimeout/time.Second))).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, lastLines(out))
	}
	return nil
}

// Log is the server's log so far, for a failing test's message.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogFile)
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lastLines keeps the end of a command's output for an error message.
func lastLines(b []byte) string {
	b = bytes.TrimSpace(b)
	lines := strings.Split(string(b), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// shellQuote quotes s for sh when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
