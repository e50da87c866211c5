package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// A --config file holds a simtest.Config as JSON, in one of two forms:
//
//   - a config object, the same JSON as the "config" object of a repro
//     file: {"workload": "insert", "txns": 40, "faults": "crash when ..."}.
//     Fields it leaves out keep the defaults of 'pgdst run'; an unknown
//     field (names are matched exactly, case included), a value of the
//     wrong type or null, or anything after the object is an error;
//   - a whole repro file (it has a "format" field, which a config object
//     has not), read and checked as 'pgdst replay' reads it; its "config"
//     object is the configuration. So the file a failing CI run left can be
//     run again with other flags: pgdst run --config seed-7.repro.json
//     --seed 7 --txns 20.
//
// Either way the seed in the file is not used: a run's seed is --seed, a
// campaign's the seeds it runs, so that one file can describe every seed
// of a campaign. Under campaign --systematic each run's plan is one of the
// systematic plans, in place of the file's plan and crash step.

// ReadConfigFile reads a --config file.
func ReadConfigFile(path string) (simtest.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return simtest.Config{}, err
	}
	return ParseConfigFile(path, b)
}

// ParseConfigFile is ReadConfigFile on the file's bytes (fuzzed:
// FuzzParseConfig). It returns a config that Validate accepts, with the
// seed the file names (0 if none).
func ParseConfigFile(path string, b []byte) (simtest.Config, error) {
	// Decoding into a map first checks the syntax of the whole input,
	// trailing data included, and gives the field names as written.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return simtest.Config{}, fmt.Errorf("%s: not a JSON config object: %v", path, err)
	}
	if fields == nil {
		return simtest.Config{}, fmt.Errorf("%s: not a JSON config object: null", path)
	}
	if _, ok := fields["format"]; ok {
		r, err := repro.Parse(path, b)
		if err != nil {
			return simtest.Config{}, err
		}
		return r.Config, nil
	}
	// encoding/json matches names case-insensitively and lets null leave
	// a field as it was; a config file is meant to be exact, so both are
	// errors here. The names are sorted so that the error is the same
	// every time.
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	known := configFieldNames()
	for _, k := range names {
		if !known[k] {
			return simtest.Config{}, fmt.Errorf("%s: unknown config field %q (the fields: %s)", path, k, strings.Join(sortedNames(known), ", "))
		}
		if string(bytes.TrimSpace(fields[k])) == "null" {
			return simtest.Config{}, fmt.Errorf("%s: config field %q is null", path, k)
		}
	}
	c := simtest.DefaultConfig(0)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return simtest.Config{}, fmt.Errorf("%s: not a config file: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return simtest.Config{}, fmt.Errorf("%s: invalid config: %s", path, strings.TrimPrefix(err.Error(), "simtest: "))
	}
	return c, nil
}

// configFieldNames are the JSON names of the simtest.Config fields a
// config file may set: the seed, and the fields of the run flags.
func configFieldNames() map[string]bool {
	out := map[string]bool{"seed": true}
	for _, f := range RunFlags {
		for _, name := range f.JSON {
			out[name] = true
		}
	}
	return out
}

func sortedNames(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
