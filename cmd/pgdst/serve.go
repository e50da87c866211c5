//go:build !nosql

package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/serve"
)

// cmdServe is pgdst serve: the engine on the operating system's files,
// clock and network, for PostgreSQL clients (psql, pgbench, pgx). It runs
// until SIGTERM or SIGINT, which are a fast shutdown.
func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5432", "host:port to listen on (a loopback address unless --listen-any)")
	listenAny := fs.Bool("listen-any", false, "allow --listen on a non-loopback address: every client is trusted without a password")
	data := fs.String("data", "", "the data directory: initdb'd when empty, crash-recovered when not (required)")
	maxConns := cli.Int(fs, "max-connections", 100, 1, 10000, "max_connections: further connections get SQLSTATE 53300")
	passwordFile := fs.String("password-file", "", "SCRAM-SHA-256 authentication for every connection: lines user:password or user:SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey> (default: trust)")
	quiet := fs.Bool("q", false, "do not log to stderr")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usage("pgdst serve: unexpected argument %q (usage: pgdst serve --data DIR [--listen HOST:PORT])", fs.Arg(0))
	}
	if *data == "" {
		return cli.Usage("pgdst serve: --data DIR is required")
	}
	if host, _, err := net.SplitHostPort(*listen); err == nil && !serve.IsLoopback(host) && *listenAny {
		if *passwordFile == "" {
			fmt.Fprintf(stderr, "WARNING: listening on %s, beyond this machine: pgdst serve trusts every client (trust authentication, no password, no SSL)\n", *listen)
		} else {
			fmt.Fprintf(stderr, "WARNING: listening on %s, beyond this machine: SCRAM-SHA-256 passwords, but no SSL\n", *listen)
		}
	}
	if parseOnly {
		return errParseOnly
	}
	var logw io.Writer = stderr
	if *quiet {
		logw = io.Discard
	}
	// Signals first: a SIGTERM during recovery must not kill the
	// process with the default action.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	s, err := serve.Start(serve.Config{Listen: *listen, ListenAny: *listenAny, DataDir: *data, MaxConnections: *maxConns, Log: logw, PasswordFile: *passwordFile})
	if err != nil {
		return cli.Failed("pgdst serve: " + cli.OneLine(err.Error()))
	}
	fmt.Fprintf(stdout, "pgdst serve: listening on %s (data %s); psql -h %s -p %s\n", s.Addr(), *data, hostOf(s.Addr()), portOf(s.Addr()))
	select {
	case got := <-sig:
		fmt.Fprintf(stderr, "pgdst serve: %v: fast shutdown\n", got)
		if err := s.Shutdown(30 * time.Second); err != nil {
			return cli.Failed("pgdst serve: shutdown checkpoint failed: " + cli.OneLine(err.Error()))
		}
		return nil
	case <-s.Done():
		return cli.Failed("pgdst serve: " + cli.OneLine(fmt.Sprint(s.Err())))
	}
}

func hostOf(addr string) string { h, _, _ := net.SplitHostPort(addr); return h }
func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
