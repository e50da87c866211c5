package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/probe"
)

// cmdProbe runs the workloads and checkers against a PostgreSQL server
// (harness/probe).
//
// Exit status: 0 every check passed, 1 a check failed, 2 bad usage or a
// server the probe could not use.
func cmdProbe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	var o probe.Options
	fs.StringVar(&o.Target, "target", "", "the PostgreSQL server: a URL such as postgres://user@127.0.0.1:5432/db?sslmode=disable (required)")
	fs.StringVar(&o.Workload, "workload", "mixed", "the workload: "+strings.Join(probe.Workloads, ", ")+" (mixed: each operation draws one of the others)")
	fs.StringVar(&o.Isolation, "isolation", "read-committed", "the transactions' isolation level, and the level the isolation checker holds them to: "+strings.Join(probe.Isolations, ", "))
	clients := cli.Int(fs, "clients", probe.DefaultClients, 1, 1000, "concurrent clients, one connection each")
	duration := cli.DurationFlag(fs, "duration", probe.DefaultDuration, 0, math.MaxInt64, "stop starting operations after this long (0: only --ops bounds the run)")
	ops := cli.Int(fs, "ops", 0, 0, math.MaxInt, "stop after this many operations over all clients (0: only --duration bounds the run)")
	seed := fs.Uint64("seed", 0, "the seed of the clients' choices and the fault moments (0: drawn from the clock, and printed)")
	fs.StringVar(&o.FaultCmd, "fault-cmd", "", "a shell command run at seeded moments during the run, e.g. 'pg_ctl -D DIR -m immediate restart -w'")
	faultEvery := cli.DurationFlag(fs, "fault-every", 0, 0, math.MaxInt64, fmt.Sprintf("the mean time between fault commands (default %v with --fault-cmd)", probe.DefaultFaultEvery))
	opTimeout := cli.DurationFlag(fs, "op-timeout", probe.DefaultOpTimeout, time.Millisecond, math.MaxInt64, "abandon a statement after this long (its connection is closed; a COMMIT in flight is unknown)")
	fs.StringVar(&o.Unsafe, "unsafe", "", "plant a client bug, to see the checkers fire: 'transfers' (bank transfers read, then write balances without a row lock: lost updates at read-committed), 'appends' (an append reads the list, then writes the whole), 'cas' (compare-and-set as a SELECT, then an UPDATE)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	artifacts := fs.String("artifacts", "", "write probe.json, history.json and, if the registers are not linearizable, porcupine.html to this directory")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	o.Clients, o.Duration, o.Ops, o.FaultEvery, o.OpTimeout = *clients, *duration, *ops, *faultEvery, *opTimeout
	if !cli.Given(fs, "duration") && cli.Given(fs, "ops") {
		o.Duration = 0 // --ops alone bounds the run
	}
	o.Seed = *seed
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	if !*quiet {
		o.Log = stderr
	}
	if err := o.Validate(); err != nil {
		return cli.Usage("pgdst probe: %v", err)
	}
	if parseOnly {
		return errParseOnly
	}
	fmt.Fprintf(stderr, "pgdst probe: seed %d (--seed %d repeats the clients' choices)\n", o.Seed, o.Seed)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := probe.Run(ctx, o)
	if err != nil {
		return cli.Usage("pgdst probe: %v", err)
	}
	res.Print(stdout)
	if *jsonOut != "" {
		if err := res.Report().WriteJSON(*jsonOut); err != nil {
			return cli.Usage("pgdst probe: --json: %v", err)
		}
	}
	if *artifacts != "" {
		wrote, err := res.WriteArtifacts(*artifacts)
		if err != nil {
			return cli.Usage("pgdst probe: --artifacts: %v", err)
		}
		fmt.Fprintf(stderr, "artifacts: %s\n", strings.Join(wrote, " "))
	}
	if !res.OK() {
		fmt.Fprintf(stderr, "reproduce (same choices, not the same timing): %s\n", o.Command())
		return cli.Failed("")
	}
	return nil
}
