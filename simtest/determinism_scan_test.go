package simtest

import (
	"go/ast"
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

// The determinism rule: code that runs inside a simulation must reach the
// world only through engine/env. These packages are scanned.
var scannedDirs = []string{"engine", "fault", "simtest", "linearizability"}

// allowed lists every exception, file by file, with the reason. Nothing
// else in the scanned trees may use what scanSource forbids.
var allowed = map[string]map[string]string{
	"engine/env/real.go": {
		"*": "the real environment is the one place the engine meets the OS",
	},
	"linearizability/register.go": {
		"time.Now":   "porcupine's wall-clock timeout: the checker runs after the simulation, and a timeout can only turn a verdict into \"unknown\" (a note, never a failure or a trace change)",
		"time.Since": "as time.Now: telling whether porcupine's timeout fired",
	},
	"linearizability/porcupine_page.go": {
		"import os": "WriteVisualizationMarked writes porcupine's HTML next to a failing run's artifacts, after the simulation",
	},
	"simtest/initdb_image.go": {
		"import sync": "the cache of initdb images is shared by a campaign's concurrent runs; an image is a pure function of its key, built by its own constant-seeded simulation, so which run built it is invisible to every run",
	},
	"simtest/world/shared_pool.go": {
		"import sync": "the pools a campaign's concurrent runs share between runs (idle coroutines, spare disk arrays); which run left a thing there is invisible to the run that takes it: which worker carries a process changes nothing, and a run overwrites or clears every spare byte it takes (TestSpareDiskArraysAreInvisible)",
	},
}

// forbiddenTime are the time functions that read or wait on the wall clock.
var forbiddenTime = map[string]bool{
	"Now": true, "Sleep": true, "After": true, "AfterFunc": true, "Tick": true,
	"NewTimer": true, "NewTicker": true, "Since": true, "Until": true,
}

// scanSource returns every violation in the Go files (tests excluded) under
// root/dirs, as "path:line: what".
func scanSource(t *testing.T, root string, dirs []string) []string {
	var out []string
	fset := token.NewFileSet()
	for _, d := range dirs {
		base := filepath.Join(root, d)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		err := filepath.WalkDir(base, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			ok := allowed[rel]
			if ok["*"] != "" {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			report := func(pos token.Pos, what string) {
				if ok[what] == "" {
					out = append(out, rel+":"+strconv.Itoa(fset.Position(pos).Line)+": "+what)
				}
			}
			timeName, envName := "", ""
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case p == "os" || strings.HasPrefix(p, "os/"):
					report(imp.Pos(), "import "+p)
				case p == "sync" || p == "sync/atomic":
					report(imp.Pos(), "import "+p)
				case p == "math/rand" || p == "math/rand/v2":
					report(imp.Pos(), "import "+p)
				case p == "github.com/pgdst/pgdst/engine/env":
					envName = "env"
					if imp.Name != nil {
						envName = imp.Name.Name
					}
				case p == "time":
					timeName = "time"
					if imp.Name != nil {
						timeName = imp.Name.Name
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					report(n.Pos(), "go")
				case *ast.SelectorExpr:
					if id, isID := n.X.(*ast.Ident); isID && timeName != "" && id.Name == timeName && forbiddenTime[n.Sel.Name] {
						report(n.Pos(), "time."+n.Sel.Name)
					}
					// A PANIC must go through e.Panicf, so that the
					// simulator ends the process at once (env.Crasher).
					if id, isID := n.X.(*ast.Ident); isID && envName != "" && id.Name == envName && n.Sel.Name == "Panicf" {
						report(n.Pos(), "env.Panicf")
					}
				}
				return true
			})
			return nil
		})
		require.NoError(t, err)
	}
	sort.Strings(out)
	return out
}

func TestDeterminismSourceScan(t *testing.T) {
	violations := scanSource(t, "..", scannedDirs)
	require.Empty(t, violations, "code that runs in the simulation must reach the world only through engine/env")
}

// TestDeterminismSourceScanCatches proves the scan can fail: a file with
// every forbidden construct must be reported once per construct.
func TestDeterminismSourceScanCatches(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "engine", "planted")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	src := `package planted

import (
	"math/rand"
	"os"
	"sync"
	clock "time"

	"github.com/pgdst/pgdst/engine/env"
)

var mu sync.Mutex

func f() {
	_ = clock.Now()
	clock.Sleep(1)
	<-clock.After(1)
	go f()
	_ = rand.Int()
	_, _ = os.Open("x")
	_ = clock.Duration(5) // allowed: a type, not the wall clock
	env.Panicf("x")
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "planted.go"), []byte(src), 0o644))
	got := scanSource(t, root, []string{"engine"})
	want := []string{
		"engine/planted/planted.go:15: time.Now",
		"engine/planted/planted.go:16: time.Sleep",
		"engine/planted/planted.go:17: time.After",
		"engine/planted/planted.go:18: go",
		"engine/planted/planted.go:22: env.Panicf",
		"engine/planted/planted.go:4: import math/rand",
		"engine/planted/planted.go:5: import os",
		"engine/planted/planted.go:6: import sync",
	}
	require.Equal(t, want, got)
}
