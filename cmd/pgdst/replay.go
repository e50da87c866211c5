package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pgdst/pgdst/simtest"
)

// cmdReplay re-runs a repro file and says whether the run fails as it was
// recorded: the same checker and the same trace hash. A repro file written
// by another build is refused unless --force, because a changed build
// usually means a changed run.
//
// Exit status: 0 identical, 1 it differs, 2 bad input (a missing,
// malformed or truncated file, another build without --force).
func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	force := fs.Bool("force", false, "replay a repro file written by another build")
	traceFile := fs.String("trace", "", "write the readable trace of the replay to this file")
	verbose := fs.Bool("v", false, "print the replay's whole summary")
	files, err := parseFlagsAndFiles(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageErr("pgdst replay: want one repro file, got %d (usage: pgdst replay FILE [--force])", len(files))
	}
	if parseOnly {
		return errParseOnly
	}
	r, err := readRepro(files[0])
	if err != nil {
		return usageErr("pgdst replay: %s", oneLine(err.Error()))
	}
	if this := buildID(); r.Build != this {
		msg := fmt.Sprintf("pgdst replay: repro file from build %s, this is build %s", r.Build, this)
		if !*force {
			return usageErr("%s (--force replays it anyway)", msg)
		}
		fmt.Fprintf(stderr, "%s; replaying anyway (--force)\n", msg)
	}
	cfg := r.Config
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return usageErr("pgdst replay: %s", oneLine(err.Error()))
		}
		defer f.Close()
		cfg.TraceOut = f
	}
	useCores(1)
	res := simtest.Run(cfg)
	if *verbose {
		fmt.Fprintln(stdout, res.Summary())
	}
	diffs := replayDiffs(r, res)
	if len(diffs) == 0 {
		fmt.Fprintf(stdout, "identical: fails %s again, trace %s\n", res.Checker, res.TraceString())
		if !*verbose {
			fmt.Fprintln(stdout, verdictOf(res))
		}
		return nil
	}
	fmt.Fprintf(stdout, "differs from the recording (%s):\n", files[0])
	for _, d := range diffs {
		fmt.Fprintf(stdout, "  %s\n", d)
	}
	if !*verbose {
		fmt.Fprintln(stdout, verdictOf(res))
	}
	return &exitError{code: 1}
}

// replayDiffs compares a replay with the recorded failure: the verdict, the
// checker and the trace hash, each as "what: recorded X, now Y".
func replayDiffs(r *Repro, res *simtest.Result) []string {
	var diffs []string
	if res.OK { // a repro file always records a failure
		diffs = append(diffs, fmt.Sprintf("verdict:    recorded fail, now %s", res.Verdict()))
	}
	if res.Checker != r.Failure.Checker {
		now := res.Checker
		if now == "" {
			now = "(none: the run passes)"
		}
		diffs = append(diffs, fmt.Sprintf("checker:    recorded %s, now %s", r.Failure.Checker, now))
	}
	if res.TraceString() != r.Failure.Trace {
		diffs = append(diffs, fmt.Sprintf("trace hash: recorded %s, now %s", r.Failure.Trace, res.TraceString()))
	}
	return diffs
}

// verdictOf is the last line of a run's summary, the verdict line.
func verdictOf(res *simtest.Result) string {
	return fmt.Sprintf("seed=%d verdict=%s trace=%s", res.Seed, res.Verdict(), res.TraceString())
}

// oneLine keeps an error message to one line, as exit status 2 promises.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	return s
}

// parseFlagsAndFiles parses flags that may come before or after the
// command's file arguments (pgdst replay FILE --force) and returns the
// files. The flag package stops at the first argument that is not a flag,
// so the arguments are split first: a flag, its value when it takes one,
// and everything after "--" as files.
func parseFlagsAndFiles(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var flags, files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			files = append(files, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // parseFlags reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := parseFlags(fs, flags, stdout); err != nil {
		return nil, err
	}
	return files, nil
}
