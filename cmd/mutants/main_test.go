package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A mutant file's 'equivalent:' field is checked when the mutants are
// loaded, before anything is built: an argument passes --check, an empty
// one is an error (exit 1), never a mutant silently counted as
// equivalent. The rest of the field (scores, refuted arguments, infection)
// is tested in package mutation.
func TestCheckEquivalentField(t *testing.T) {
	root := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("engine/x/x.go", "package x\n\nfunc f() int {\n\ta := 1\n\treturn a\n}\n")
	const head = "file: engine/x/x.go\narea: x\ndescription: a must be 1.\n"
	const hunk = "--- original\n\ta := 1\n--- replacement\n\ta := 2\n--- end\n"
	dir := filepath.Join(root, "mutants")
	write("mutants/01-argued.mutant", head+"equivalent: a is never read by anything that pgdst observes,\n  so its value cannot matter.\n"+hunk)
	if code := run([]string{"--check", "--dir", dir, "--root", root}); code != 0 {
		t.Fatalf("--check with an argued mutant: exit %d, want 0", code)
	}
	write("mutants/02-empty.mutant", head+"equivalent:\n"+hunk)
	if code := run([]string{"--check", "--dir", dir, "--root", root}); code != 1 {
		t.Fatalf("--check with an empty 'equivalent:': exit %d, want 1", code)
	}
}
