// Package cli is pgdst's command line: the one table of the flags that
// define a run (runflags.go), from which the flag sets of run and
// campaign, the --config JSON fields, the reproduce command and the
// shrinker's steps toward the defaults all come; the --config file
// (config.go); checked flag values (values.go); and what every command
// shares: exit statuses, flag parsing that turns every problem into one
// line, shell quoting.
//
// Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/pgdst/pgdst/simtest"
)

// ExitError carries an exit status out of a command, with the one line
// to print on stderr ("" prints nothing).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// Usage is a bad-usage error: exit status 2 and one line.
func Usage(format string, args ...any) error {
	return &ExitError{Code: 2, Msg: OneLine(fmt.Sprintf(format, args...))}
}

// Failed is exit status 1 with msg ("" prints nothing): a check failed.
func Failed(msg string) error { return &ExitError{Code: 1, Msg: msg} }

// OneLine keeps an error message to one line, as exit status 2 promises.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	return s
}

// positional is what a command's -h says it takes besides flags.
func positional(command string) string {
	switch command {
	case "replay", "shrink", "explain":
		return " FILE (a repro file, e.g. out/seed-1.repro.json)"
	case "report":
		return " DIR (a campaign's --artifacts directory) --seed N"
	case "merge":
		return " FILE... (campaign JSON files of the shards)"
	}
	return ""
}

// ParseFlags parses a command's flags, turning every problem into one line
// and exit status 2 (-h prints the flags and exits 0).
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, "usage: pgdst %s [flags]%s\n", fs.Name(), positional(fs.Name()))
			fs.PrintDefaults()
			return &ExitError{Code: 0}
		}
		return Usage("pgdst %s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return Usage("pgdst %s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// ParseFlagsAndFiles parses flags that may come before or after the
// command's file arguments (pgdst replay FILE --force) and returns the
// files. The flag package stops at the first argument that is not a flag,
// so the arguments are split first: a flag, its value when it takes one,
// and everything after "--" as files.
func ParseFlagsAndFiles(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
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
			continue // ParseFlags reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := ParseFlags(fs, flags, stdout); err != nil {
		return nil, err
	}
	return files, nil
}

// ParseInterleaved parses flags that may come before, between or after
// the positional arguments, and returns those.
func ParseInterleaved(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fmt.Fprintf(stdout, "usage: pgdst %s [flags]%s\n", fs.Name(), positional(fs.Name()))
				fs.PrintDefaults()
				return nil, &ExitError{Code: 0}
			}
			return nil, Usage("pgdst %s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Given reports whether the flag name was set on fs's command line.
func Given(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// UseCores runs the Go scheduler on as many threads as there are runs at
// once (unless GOMAXPROCS is set): each run is single-threaded, and a spare
// core only lets the runtime move a run's goroutines across threads at
// every handoff, which costs a quarter of a run.
func UseCores(jobs int) {
	if os.Getenv("GOMAXPROCS") == "" && jobs < runtime.NumCPU() {
		runtime.GOMAXPROCS(jobs)
	}
}

// Verdict is the last line of a run's summary, the verdict line.
func Verdict(res *simtest.Result) string {
	return fmt.Sprintf("seed=%d verdict=%s trace=%s", res.Seed, res.Verdict(), res.TraceString())
}

// ShellQuote makes s one word for a POSIX shell: as it is when it holds
// only characters no shell treats specially, else in single quotes, with
// each single quote inside closing the quotes, escaped, and reopening them.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
