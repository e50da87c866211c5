package serve

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/require"
)

// rfc7677Secret is the RFC 7677 example's user ("pencil", its salt, 4096
// iterations) in pg_authid.rolpassword's form.
func rfc7677Secret(t *testing.T) scramSecret {
	salt, err := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	require.NoError(t, err)
	stored, server := scramKeys("pencil", salt, 4096)
	return scramSecret{iterations: 4096, salt: salt, storedKey: stored, serverKey: server}
}

// TestScramRFC7677Vector replays RFC 7677's example exchange (section 3)
// against the server side: the client's proof is accepted and the server
// signature is the RFC's.
func TestScramRFC7677Vector(t *testing.T) {
	x := &scramExchange{user: "user", secret: rfc7677Secret(t), known: true}
	cf, err := parseClientFirst([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	require.Nil(t, err)
	x.first = cf
	x.serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	final := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	v, ok, serr := x.finish([]byte(final))
	require.Nil(t, serr)
	require.True(t, ok)
	require.Equal(t, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", v)
	// One flipped proof byte fails; so does the right proof for a mock
	// (unknown) user.
	bad := strings.Replace(final, "p=dHz", "p=dHy", 1)
	_, ok, serr = x.finish([]byte(bad))
	require.Nil(t, serr)
	require.False(t, ok)
	x.known = false
	_, ok, serr = x.finish([]byte(final))
	require.Nil(t, serr)
	require.False(t, ok)
}

func TestPasswordFileErrors(t *testing.T) {
	good := rfc7677Secret(t).String()
	p, err := parsePasswordFile("f", []byte("# comment\n\nalice:se:cret\r\nuser:"+good+"\n"))
	require.NoError(t, err)
	require.Len(t, p.secrets, 2)
	require.Equal(t, good, p.secrets["user"].String())
	require.Equal(t, scramDefaultIterations, p.secrets["alice"].iterations)
	require.Len(t, p.secrets["alice"].salt, scramSaltBytes)
	stored, _ := scramKeys("se:cret", p.secrets["alice"].salt, scramDefaultIterations)
	require.Equal(t, stored, p.secrets["alice"].storedKey)
	for _, c := range []struct{ file, want string }{
		{"alice:x\nbob\n", "line 2: want user:password"},
		{":x\n", "line 1: empty user name"},
		{"alice:\n", "line 1: empty password"},
		{"alice:x\nalice:y\n", "line 2: user \"alice\" listed twice"},
		{"a:SCRAM-SHA-256$4096:c2FsdA==\n", "line 1: user \"a\": a SCRAM secret is"},
		{"a:SCRAM-SHA-256$0:c2FsdA==$" + strings.Repeat("A", 44) + ":" + strings.Repeat("A", 44) + "\n", "bad SCRAM iteration count"},
		{"a:SCRAM-SHA-256$4096:!!$" + strings.Repeat("A", 44) + ":" + strings.Repeat("A", 44) + "\n", "bad SCRAM salt"},
		{"a:SCRAM-SHA-256$4096:c2FsdA==$QUJD:QUJD\n", "bad SCRAM StoredKey or ServerKey"},
		{"# nobody\n", "no users"},
	} {
		_, err := parsePasswordFile("f", []byte(c.file))
		require.Error(t, err, c.file)
		require.Contains(t, err.Error(), c.want, c.file)
		require.NotContains(t, err.Error(), "\n")
	}
	_, err = LoadPasswordFile(filepath.Join(t.TempDir(), "missing"))
	require.ErrorContains(t, err, "--password-file")
}

// startScramServer starts pgdst serve with a password file: alice's plain
// password, and the RFC 7677 user's stored secret.
func startScramServer(t *testing.T) *Server {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "passwords")
	require.NoError(t, os.WriteFile(pw, []byte("alice:s3cret:x\nuser:"+rfc7677Secret(t).String()+"\n"), 0o600))
	s, err := Start(Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), PasswordFile: pw})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(10 * time.Second) })
	return s
}

func connectAs(s *Server, user, password string) (*pgx.Conn, error) {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host, port, _ := net.SplitHostPort(s.Addr())
	cfg, err := pgx.ParseConfig("postgres://" + host + ":" + port + "/db?sslmode=disable")
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Password = user, password
	return pgx.ConnectConfig(c, cfg)
}

func TestScramAuthentication(t *testing.T) {
	s := startScramServer(t)
	for _, u := range [][2]string{{"alice", "s3cret:x"}, {"user", "pencil"}} {
		c, err := connectAs(s, u[0], u[1])
		require.NoError(t, err, u[0])
		var one int32
		require.NoError(t, c.QueryRow(ctx(t), "SELECT 1").Scan(&one))
		require.Equal(t, int32(1), one)
		require.NoError(t, c.Close(context.Background()))
	}
	for _, u := range [][2]string{{"alice", "wrong"}, {"alice", ""}, {"nobody", "s3cret:x"}} {
		_, err := connectAs(s, u[0], u[1])
		var pe *pgconn.PgError
		require.True(t, errors.As(err, &pe), "%s/%s: %v", u[0], u[1], err)
		require.Equal(t, "FATAL", pe.Severity)
		require.Equal(t, "28P01", pe.Code)
		require.Equal(t, `password authentication failed for user "`+u[0]+`"`, pe.Message)
	}
}

// rawAuth sends a startup packet and then, after AuthenticationSASL, the
// given SASLInitialResponse; it returns the server's answer.
func rawAuth(t *testing.T, s *Server, init *pgproto3.SASLInitialResponse) pgproto3.BackendMessage {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	fe := pgproto3.NewFrontend(nc, nc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "alice"}})
	require.NoError(t, fe.Flush())
	msg, err := fe.Receive()
	require.NoError(t, err)
	sasl, ok := msg.(*pgproto3.AuthenticationSASL)
	require.True(t, ok, "got %T", msg)
	require.Equal(t, []string{"SCRAM-SHA-256"}, sasl.AuthMechanisms)
	fe.Send(init)
	require.NoError(t, fe.Flush())
	msg, err = fe.Receive()
	require.NoError(t, err)
	return msg
}

func TestScramMalformedInitialResponse(t *testing.T) {
	s := startScramServer(t)
	for _, c := range []struct {
		init       *pgproto3.SASLInitialResponse
		code, want string
	}{
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("garbage")}, "08P01", "malformed SCRAM message"},
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: nil}, "08P01", "malformed SCRAM message"},
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("p=tls-server-end-point,,n=,r=abc")}, "08P01", "malformed SCRAM message"},
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=a\x01b")}, "08P01", "non-printable characters in SCRAM nonce"},
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256-PLUS", Data: []byte("n,,n=,r=abc")}, "08P01", "client selected an invalid SASL authentication mechanism"},
		{&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,a=bob,n=,r=abc")}, "0A000", "client uses authorization identity, but it is not supported"},
	} {
		msg := rawAuth(t, s, c.init)
		er, ok := msg.(*pgproto3.ErrorResponse)
		require.True(t, ok, "%q: got %T", c.init.Data, msg)
		require.Equal(t, "FATAL", er.Severity)
		require.Equal(t, c.code, er.Code, "%q", c.init.Data)
		require.Equal(t, c.want, er.Message, "%q", c.init.Data)
	}
	// The channel-binding refusal says why.
	er := rawAuth(t, s, &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("p=tls-server-end-point,,n=,r=abc")}).(*pgproto3.ErrorResponse)
	require.Contains(t, er.Detail, "channel binding")
	// The server still serves others.
	c, err := connectAs(s, "alice", "s3cret:x")
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
}

// TestTrustWithoutPasswordFile: without --password-file the startup
// packet is answered with AuthenticationOk at once, whatever the
// client's password.
func TestTrustWithoutPasswordFile(t *testing.T) {
	s := startServer(t, "", 0)
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer nc.Close()
	require.NoError(t, nc.SetDeadline(time.Now().Add(10*time.Second)))
	fe := pgproto3.NewFrontend(nc, nc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "anyone"}})
	require.NoError(t, fe.Flush())
	msg, err := fe.Receive()
	require.NoError(t, err)
	require.IsType(t, &pgproto3.AuthenticationOk{}, msg)
	c, err := connectAs(s, "anyone", "whatever")
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
}

// TestPsqlScram: libpq's SCRAM client (psql with PGPASSWORD) against the
// password file.
func TestPsqlScram(t *testing.T) {
	psql := needTool(t, "psql")
	s := startScramServer(t)
	host, port, _ := net.SplitHostPort(s.Addr())
	run := func(password string) (string, error) {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(c, psql, "-X", "-At", "-c", "SELECT 41 + 1")
		cmd.Env = append(os.Environ(), "PGHOST="+host, "PGPORT="+port, "PGUSER=alice", "PGDATABASE=db",
			"PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10", "PGSSLMODE=disable", "PGCHANNELBINDING=disable")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("s3cret:x")
	require.NoError(t, err, out)
	require.Equal(t, "42\n", out)
	out, err = run("wrong")
	require.Error(t, err)
	require.Contains(t, out, `password authentication failed for user "alice"`)
}
