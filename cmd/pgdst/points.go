package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/harness/campaign"
	"github.com/pgdst/pgdst/harness/cli"
)

// cmdPoints lists the injection points: where fault plans can crash, kill
// or pause, and what a crash there means for recovery. With --campaign, it
// also shows how often a campaign hit each point and crashed there, and the
// blind spots: the points no run hit.
func cmdPoints(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("points", flag.ContinueOnError)
	campaignFile := fs.String("campaign", "", "a campaign's JSON results (campaign --json, merge -o): show its hits per point and its blind spots")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if parseOnly {
		return errParseOnly
	}
	if *campaignFile == "" {
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "POINT\tPROCESS\tWHAT A CRASH THERE MEANS")
		for _, p := range pgproc.Points {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Roles, p.What)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "SOMETIMES CONDITION\tWHAT THE ENGINE IS DOING")
		for _, c := range env.Conditions {
			fmt.Fprintf(tw, "%s\t%s\n", c.Name, c.What)
		}
		return tw.Flush()
	}
	rep, err := campaign.ReadReport(*campaignFile)
	if err != nil {
		return cli.Usage("pgdst points: %v", err)
	}
	stats := map[string]campaign.PointStat{}
	for _, p := range rep.Points {
		stats[p.Name] = p
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POINT\tPROCESS\tHITS\tRUNS HIT\tRUNS CRASHED")
	seen := map[string]bool{}
	for _, p := range pgproc.Points {
		s := stats[p.Name]
		seen[p.Name] = true
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", p.Name, p.Roles, s.Hits, s.RunsHit, s.RunsCrashed)
	}
	for _, s := range rep.Points { // points this build does not know
		if !seen[s.Name] {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", s.Name, "?", s.Hits, s.RunsHit, s.RunsCrashed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var blind []string
	for _, p := range pgproc.Points {
		if stats[p.Name].Hits == 0 {
			blind = append(blind, p.Name)
		}
	}
	fmt.Fprintf(stdout, "campaign: %d runs of %s\n", rep.Totals.Runs, rep.Params.Scope())
	if len(blind) == 0 {
		fmt.Fprintln(stdout, "blind spots: none, every point was hit")
	} else {
		fmt.Fprintf(stdout, "blind spots (%d of %d points never hit): %s\n", len(blind), len(pgproc.Points), strings.Join(blind, ", "))
	}
	// The sometimes conditions: the runs reaching each, in table order
	// (settleSometimes put them so), and those none reached.
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOMETIMES CONDITION\tRUNS REACHING IT")
	for _, s := range rep.Sometimes {
		fmt.Fprintf(tw, "%s\t%d\n", s.Name, s.Runs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.SometimesBlindSpots) == 0 {
		fmt.Fprintln(stdout, "blind spots (sometimes): none, every condition was reached")
	} else {
		fmt.Fprintf(stdout, "blind spots (sometimes, %d of %d never reached): %s\n", len(rep.SometimesBlindSpots), len(rep.Sometimes), strings.Join(rep.SometimesBlindSpots, ", "))
	}
	return nil
}
