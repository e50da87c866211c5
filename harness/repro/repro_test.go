package repro

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/simtest"
)

// failingRepro makes the repro of a seed that fails with a planted bug.
func failingRepro(t testing.TB) *File {
	for seed := uint64(1); seed < 50; seed++ {
		c := simtest.DefaultConfig(seed)
		c.Bugs = c.Bugs.With(bugs.AckBeforeFlush)
		if res := simtest.Run(c); !res.OK {
			return New(c, res, "go run ./cmd/pgdst run --seed N --bug ack-before-flush")
		}
	}
	t.Fatal("no seed in 1..49 fails with ack-before-flush")
	return nil
}

// TestReproRoundTrip: a written repro reads back equal, with the plan the
// run drew made explicit, and its config is the same run.
func TestReproRoundTrip(t *testing.T) {
	r := failingRepro(t)
	require.NotEmpty(t, r.Config.Faults, "the drawn plan is made explicit")
	path := filepath.Join(t.TempDir(), "seed.repro.json")
	require.NoError(t, Write(path, r))
	back, err := Read(path)
	require.NoError(t, err)
	require.Equal(t, r, back)
	res := simtest.Run(back.Config)
	require.Equal(t, r.Failure.Trace, res.TraceString())
	require.Equal(t, r.Failure.Checker, res.Checker)
}

// TestReproRejectsBadFiles: every kind of bad file is one clear error.
func TestReproRejectsBadFiles(t *testing.T) {
	r := failingRepro(t)
	good, err := json.Marshal(r)
	require.NoError(t, err)
	for name, b := range map[string]string{
		"empty":         "",
		"truncated":     string(good[:len(good)/2]),
		"not json":      "seed=1 verdict=fail",
		"trailing":      string(good) + "{}",
		"unknown field": strings.Replace(string(good), `"format":1`, `"format":1,"colour":"red"`, 1),
		"other format":  strings.Replace(string(good), `"format":1`, `"format":2`, 1),
		"bad bug":       strings.Replace(string(good), `"bugs":"ack-before-flush"`, `"bugs":"no-such-bug"`, 1),
		"bad workload":  strings.Replace(string(good), `"workload":"mixed"`, `"workload":"nope"`, 1),
		"no failure":    strings.Replace(string(good), `"checker":"`+r.Failure.Checker+`"`, `"checker":""`, 1),
	} {
		_, err := Parse("f.json", []byte(b))
		require.Error(t, err, name)
		require.NotContains(t, err.Error(), "\n", name)
	}
}

// FuzzParseRepro: no input makes the repro reader panic, and whatever it
// accepts has a valid config.
func FuzzParseRepro(f *testing.F) {
	good, _ := json.Marshal(&File{Format: Format, Seed: 1, Config: simtest.DefaultConfig(1), Failure: Failure{Checker: "durability"}})
	f.Add(good)
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse("f.json", b)
		if err == nil {
			require.NoError(t, r.Config.Validate())
		}
	})
}

// TestReadsFormat1Files: a repro file written by the build before the
// harness left package main (commit 28d9850, cmd/pgdst run --artifacts)
// reads back with its config intact; the JSON format did not change.
func TestReadsFormat1Files(t *testing.T) {
	r, err := Read("testdata/format1.repro.json")
	require.NoError(t, err)
	require.Equal(t, 1, r.Format)
	require.Equal(t, uint64(4), r.Seed)
	require.Equal(t, simtest.WorkloadInsert, r.Config.Workload)
	require.Equal(t, 30*time.Millisecond, r.Config.ClientTimeout)
	require.Equal(t, 1500*time.Microsecond, r.Config.ThinkMax)
	require.True(t, r.Config.Bugs.Has(bugs.AckBeforeFlush))
	require.NotEmpty(t, r.Config.Faults, "the drawn plan was written out")
	require.Equal(t, "durability", r.Failure.Checker)
}
