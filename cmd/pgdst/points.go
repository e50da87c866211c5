package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	pgproc "github.com/pgdst/pgdst/engine/proc"
)

// cmdPoints lists the injection points: where fault plans can crash, kill
// or pause, and what a crash there means for recovery.
func cmdPoints(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("points", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT\tPROCESS\tWHAT A CRASH THERE MEANS")
	for _, p := range pgproc.Points {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Process, p.What)
	}
	return tw.Flush()
}
