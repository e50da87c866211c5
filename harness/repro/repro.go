// Package repro is the repro file: everything needed to run one failing
// seed again, exactly. `pgdst replay` re-runs it; `pgdst shrink` reduces it.
package repro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/pgdst/pgdst/simtest"
)

// A repro file holds the full Config (the fault plan made explicit), the
// build that failed, and what failed.
//
// Compatibility: the JSON is simtest.Config's own encoding, unchanged since
// format 1, so every file written by earlier builds reads back as it was
// (testdata/format1.repro.json is one such file, kept as a test).

// Format is the repro file format's version; a reader refuses others.
const Format = 1

// File is one repro file.
type File struct {
	Format int    `json:"format"`
	Build  string `json:"build"` // BuildID() of the binary that wrote it
	Seed   uint64 `json:"seed"`
	// Config is the run's full configuration, with Faults set to the plan
	// the run carried, so a later build's plan draws cannot change it.
	Config simtest.Config `json:"config"`
	// ResolvedConfig is the configuration with every seeded choice made,
	// as the run printed it (for people; replay uses Config).
	ResolvedConfig string  `json:"resolved_config"`
	Failure        Failure `json:"failure"`
	// Command reproduces the run from the command line.
	Command string `json:"command"`
}

// Failure is what a failing run found.
type Failure struct {
	Checker  string   `json:"checker"`
	Failures []string `json:"failures"`
	Trace    string   `json:"trace"` // the run's trace hash
}

// New describes a finished run for its repro file.
func New(cfg simtest.Config, res *simtest.Result, command string) *File {
	cfg.TraceOut = nil
	if cfg.Faults == "" {
		// The drawn plan already holds --crash-step's crash (and the
		// swarm faults of --fault-intensity): with an explicit plan the
		// crash step would add its crash a second time.
		cfg.Faults, cfg.CrashStep = res.Plan, 0
	}
	return &File{
		Format: Format, Build: BuildID(), Seed: res.Seed, Config: cfg, ResolvedConfig: res.Config,
		Failure: Failure{Checker: res.Checker, Failures: res.Failures, Trace: res.TraceString()},
		Command: command,
	}
}

// BuildID names the binary: the module version and, when built from a
// VCS checkout, the revision and whether the tree was modified.
func BuildID() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	id := bi.Main.Path + "@" + bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev != "" {
		id += " " + rev + modified
	}
	return id
}

// Write writes r as indented JSON to path.
func Write(path string, r *File) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads and validates a repro file: malformed or truncated JSON,
// unknown fields, another format version or an invalid config is an error
// of one line.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse is Read on the file's bytes (fuzzed: FuzzParseRepro).
func Parse(path string, b []byte) (*File, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r File
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: not a repro file: %v", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a repro file: trailing data after the JSON object", path)
	}
	if r.Format != Format {
		return nil, fmt.Errorf("%s: repro format %d, this build reads format %d", path, r.Format, Format)
	}
	if r.Config.Seed != r.Seed {
		return nil, fmt.Errorf("%s: seed %d disagrees with the config's seed %d", path, r.Seed, r.Config.Seed)
	}
	if err := r.Config.Validate(); err != nil {
		return nil, fmt.Errorf("%s: invalid config: %v", path, err)
	}
	if r.Failure.Checker == "" {
		return nil, errors.New(path + ": the repro file records no failure")
	}
	return &r, nil
}

// Diffs compares a replay with the recorded failure: the verdict, the
// checker and the trace hash, each as "what: recorded X, now Y".
func (r *File) Diffs(res *simtest.Result) []string {
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
