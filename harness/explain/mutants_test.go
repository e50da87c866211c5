package explain

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgdst/pgdst/mutation"
)

// TestExplainMutantRuns: real failing runs of the checkers whose accounts
// checkers.go holds, from the mutants that these checkers kill in the
// plain campaign (docs/mutants.md): each mutant is applied to a copy of
// the module, its failing seed run there with --artifacts, and `pgdst
// explain` on the repro must name the mechanism the mutant plants. It
// builds pgdst once per mutant (5-10 s each, about 55 s in all), so -short skips
// it; the hand-made cases in checkers_test.go run always.
func TestExplainMutantRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pgdst once per mutant")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mutation.Load(filepath.Join(root, "testdata", "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mutant  string
		seed    uint64
		args    []string
		checker string
		says    string
	}{
		{"lock-release-before-clog", 9, nil, "lock-retry", "released its lock before its commit was recorded, so its waiter saw it still in progress and waited again"},
		{"lmgr-release-no-wakeup", 9, nil, "lock-wakeup", "lock did not wake the backend sleeping on it (a lost wakeup)"},
		{"archive-done-before-fsync", 14, nil, "archive", "done before its copy was fsynced"},
		{"buf-just-dirtied-ignored", 1044, []string{"--hot-keys", "off"}, "self-check", "changed without MarkBufferDirty"},
		{"archive-remove-unarchived", 41, nil, "archive", "was removed from pg_wal before the archiver had archived it"},
		{"hint-ignores-async-commit-lsn", 53, []string{"--bulk-reads", "on", "--async-share", "1", "--hint-bits", "dirty", "--data-checksums", "off", "--isolation", "repeatable-read"},
			"hint-before-commit", "a hint bit marked asynchronously committed xid 20 committed on a page written before its commit record was durable"},
		{"nbtree-scan-stops-at-highkey", 12, nil, "self-check", "a B-tree search from the root missed a key the leaf level holds"},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			var m *mutation.Mutant
			for _, x := range ms {
				if x.Matches(tc.mutant) {
					m = x
				}
			}
			if m == nil {
				t.Fatalf("no mutant %s", tc.mutant)
			}
			tree := filepath.Join(t.TempDir(), "src")
			if err := mutation.CopyTree(root, tree); err != nil {
				t.Fatal(err)
			}
			if err := m.ApplyTo(tree); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(tree, "pgdst-explain-test")
			build := exec.Command("go", "build", "-trimpath", "-tags", "nosql", "-o", bin, "./cmd/pgdst")
			build.Dir = tree
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			art := filepath.Join(tree, "art")
			seed := strconv.FormatUint(tc.seed, 10)
			run := exec.Command(bin, append(append([]string{"run", "--seed", seed}, tc.args...), "--artifacts", art)...)
			run.Dir = tree
			if out, err := run.CombinedOutput(); err == nil {
				t.Fatalf("seed %d passed with the mutant:\n%s", tc.seed, out)
			}
			repro := filepath.Join(art, "seed-"+seed+".repro.json")
			out, err := exec.Command(bin, "explain", repro).CombinedOutput()
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			text := strings.Join(strings.Fields(string(out)), " ")
			if !strings.Contains(text, "failed "+tc.checker+".") {
				t.Fatalf("the run failed another checker than %s:\n%s", tc.checker, out)
			}
			if !strings.Contains(text, tc.says) {
				t.Fatalf("the account does not say %q:\n%s", tc.says, out)
			}
		})
	}
}
