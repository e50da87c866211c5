package proc_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// injectedPoints finds, in the engine's non-test source, every point name
// passed to Inject: literal names, and the Point... constants.
func injectedPoints(t *testing.T) map[string]string {
	t.Helper()
	lit := regexp.MustCompile(`Inject\("([a-z0-9-]+)"\)`)
	cst := regexp.MustCompile(`\bPoint[A-Za-z]*\s*=\s*"([a-z0-9-]+)"`)
	found := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range []*regexp.Regexp{lit, cst} {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				found[m[1]] = path
			}
		}
		return nil
	})
	require.NoError(t, err)
	// lwlock-acquire is no Inject point: every LWLock acquisition reaches
	// it (env.PointLWLockAcquire), with the lock's tranche, and it is
	// neither a crash point nor counted in the points table.
	require.Equal(t, "../env/lockpoint.go", filepath.ToSlash(found[env.PointLWLockAcquire]))
	delete(found, env.PointLWLockAcquire)
	return found
}

// TestPointsTableIsComplete: the table in points.go lists exactly the
// points the engine injects, so none is added without its sentence (and
// without the crash test simtest runs for every listed point).
func TestPointsTableIsComplete(t *testing.T) {
	var listed []string
	for _, p := range proc.Points {
		require.NotZero(t, p.Roles, p.Name)
		require.NotEmpty(t, p.What, p.Name)
		listed = append(listed, p.Name)
	}
	simt.RequireTableMatchesSource(t, injectedPoints(t), listed, "proc.Points")
}
