package env_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// TestSometimesTableIsComplete: env.Conditions lists exactly the
// conditions the engine's source declares with Sometimes("..."), so none
// is reached without being listed (and named when never reached), and
// none is listed that nothing can reach.
func TestSometimesTableIsComplete(t *testing.T) {
	call := regexp.MustCompile(`Sometimes\("([a-z0-9-]+)"\)`)
	found := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			found[m[1]] = path
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, found, "the scan found no Sometimes call: is it run from engine/env?")
	var listed []string
	for _, c := range env.Conditions {
		require.NotEmpty(t, c.What, c.Name)
		listed = append(listed, c.Name)
	}
	simt.RequireTableMatchesSource(t, found, listed, "env.Conditions")
}

// TestReachedSet: Add, Has, Len and Names agree, an unlisted name panics
// (so a misspelt call fails the first run reaching it), and an Env
// without a set ignores a listed name.
func TestReachedSet(t *testing.T) {
	var r env.Reached
	require.Zero(t, r.Len())
	last := env.Conditions[len(env.Conditions)-1].Name
	r.Add(last)
	r.Add("crash-restart")
	r.Add("crash-restart")
	require.Equal(t, 2, r.Len())
	require.True(t, r.Has(last))
	require.True(t, r.Has("crash-restart"))
	require.False(t, r.Has("btree-leaf-split"))
	require.False(t, r.Has("no-such-condition"))
	names := r.Names()
	require.Len(t, names, 2)
	require.Contains(t, names, last)
	require.Panics(t, func() { r.Add("no-such-condition") })

	e := &env.Env{}
	require.False(t, e.Collecting())
	e.Sometimes("crash-restart") // no set: nothing to record, no panic
	require.Panics(t, func() { e.Sometimes("no-such-condition") })
	e.Reached = &r
	require.True(t, e.Collecting())
	e.Sometimes("btree-leaf-split")
	require.True(t, r.Has("btree-leaf-split"))
}
