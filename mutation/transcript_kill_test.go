package mutation

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The engine's own transcript of the range statements
// (engine/db/testdata/isolation/halloween) against mutant 23, a
// HeapTupleSatisfiesMVCC that lets a command see the rows it inserted
// itself: the transcript passes on the engine as it is and fails with
// the mutant applied (the INSERT ... SELECT copies its own copies).
func TestHalloweenTranscriptKillsOwnInsertMutant(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the tree and builds engine/db's tests")
	}
	ms, err := Load(filepath.Join(root, "testdata", "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	var m *Mutant
	for _, x := range ms {
		if x.Matches("vis-own-insert-same-command") {
			m = x
		}
	}
	if m == nil {
		t.Fatal("no mutant vis-own-insert-same-command")
	}
	tree := t.TempDir()
	if err := CopyTree(root, tree); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		cmd := exec.Command("go", "test", "-count=1", "-run", "TestIsolationTranscripts/halloween", "./engine/db")
		cmd.Dir = tree
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("the transcript fails without the mutant: %v\n%s", err, out)
	}
	if err := m.ApplyTo(tree); err != nil {
		t.Fatal(err)
	}
	out, err := run()
	if err == nil {
		t.Fatalf("the transcript passes with mutant %s applied:\n%s", m.Name, out)
	}
	if !strings.Contains(out, "insert-select 1 80 40 -> INSERT 42") {
		t.Errorf("the transcript failed, but not on the copy of its own rows:\n%s", out)
	}
}
