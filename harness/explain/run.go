package explain

import (
	"fmt"
	"io"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// Replay runs the repro file's config again with a Recorder and explains
// the result. The run is deterministic: with the build that wrote the
// file it is the recorded run; with another, it says so (Account.Text
// then explains the replay).
func Replay(r *repro.File) (*Account, *simtest.Result) {
	rec := NewRecorder()
	cfg := r.Config
	cfg.TraceOut, cfg.Events = nil, rec
	res := simtest.Run(cfg)
	return Explain(res, rec), res
}

// Run is `pgdst explain FILE`: it prints the account of the repro file's
// failure. Exit status (through cli's errors): 0 explained, 1 the replay
// passed or failed differently from the recording, 2 bad input.
func Run(path string, stdout, stderr io.Writer) error {
	r, err := repro.Read(path)
	if err != nil {
		return cli.Usage("pgdst explain: %s", cli.OneLine(err.Error()))
	}
	if err := r.Config.Validate(); err != nil {
		return cli.Usage("pgdst explain: %s: %s", path, cli.OneLine(err.Error()))
	}
	cli.UseCores(1)
	acc, res := Replay(r)
	if res.OK {
		return cli.Failed(fmt.Sprintf("pgdst explain: the repro passes with this build (trace %s; recorded: %s failed, trace %s): nothing to explain",
			res.TraceString(), r.Failure.Checker, r.Failure.Trace))
	}
	if res.TraceString() != r.Failure.Trace || res.Checker != r.Failure.Checker {
		fmt.Fprintf(stderr, "pgdst explain: the replay differs from the recording (this build: %s, trace %s; recorded: %s, trace %s); explaining the replay\n",
			res.Checker, res.TraceString(), r.Failure.Checker, r.Failure.Trace)
	}
	fmt.Fprintln(stdout, acc.String())
	return nil
}
