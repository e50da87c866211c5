package world

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/pgdst/pgdst/"

// worldMayImport is everything of the module the world's code may import:
// the env it implements and the fault plans it runs. Anything else of the
// module (the harness in simtest, linearizability, cmd, the engine's
// packages) would make the world depend on what it hosts or on what
// judges it, and bring back the import cycle engine tests worked around.
var worldMayImport = map[string]bool{module + "engine/env": true, module + "fault": true}

// badImports returns every import of the Go files under dir (recursively
// when deep), as "file: path", that bad says is wrong; tests says whether
// test files are read instead of non-test files.
func badImports(t *testing.T, dir string, deep, tests bool, bad func(path string) bool) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if path != dir && !deep {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") != tests {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if bad(p) {
				out = append(out, filepath.ToSlash(path)+": "+p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	sort.Strings(out)
	return out
}

// worldBad says whether the world's code may not import p: only the
// standard library (no dot in the first path element), engine/env and
// fault are allowed.
func worldBad(p string) bool {
	if strings.HasPrefix(p, module) {
		return !worldMayImport[p]
	}
	first, _, _ := strings.Cut(p, "/")
	return strings.Contains(first, ".")
}

// TestWorldLayering: the world imports only the standard library,
// engine/env and fault; simt, the helpers engine tests share, adds only
// the engine; and no engine package's test imports the harness (simtest):
// engine tests run on the world alone.
func TestWorldLayering(t *testing.T) {
	require.Empty(t, badImports(t, ".", false, false, worldBad), "the world imports beyond engine/env, fault and the standard library")
	// simt is the engine tests' kit: it runs on the world and may call
	// the engine (RecoverWAL), but never the harness, whose runs it would
	// otherwise drag into every engine test.
	require.Empty(t, badImports(t, "simt", false, false, func(p string) bool {
		return p != module+"simtest/world" && !strings.HasPrefix(p, module+"engine/") && worldBad(p)
	}), "simt imports beyond the world and the engine")
	root := filepath.Join("..", "..", "engine")
	_, err := os.Stat(root)
	require.NoError(t, err)
	require.Empty(t, badImports(t, root, true, true, func(p string) bool {
		return p == module+"simtest" || strings.HasPrefix(p, module+"simtest/") && !strings.HasPrefix(p, module+"simtest/world")
	}), "engine tests import the harness")
}

// TestWorldLayeringCatches: the check sees a harness import.
func TestWorldLayeringCatches(t *testing.T) {
	require.True(t, worldBad(module+"simtest"))
	require.True(t, worldBad(module+"linearizability"))
	require.True(t, worldBad(module+"cmd/pgdst"))
	require.True(t, worldBad(module+"engine/db"))
	require.True(t, worldBad("github.com/stretchr/testify/require"))
	require.False(t, worldBad(module+"engine/env"))
	require.False(t, worldBad(module+"fault"))
	require.False(t, worldBad("encoding/binary"))
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x.go"), []byte("package x\n\nimport _ \""+module+"simtest\"\n"), 0o644))
	require.Equal(t, []string{filepath.ToSlash(filepath.Join(dir, "x.go")) + ": " + module + "simtest"}, badImports(t, dir, false, false, worldBad))
}
