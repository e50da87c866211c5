// Package mutation is pgdst's built-in mutation testing: it measures how many
// realistic engine bugs the plain campaign (pgdst campaign --seeds N, no
// aiming flag) catches. A mutant is a small source change kept as data in
// testdata/mutants, one file per mutant, modelled on a class of PostgreSQL
// bug (a missing fsync, an off-by-one LSN comparison, two steps in the wrong
// order, a redo record skipped). The runner applies each mutant to a copy of
// the module, builds pgdst there, runs the campaign and reads its JSON.
//
// Mutants are not planted bugs: the engine carries no switch for them, and
// they go stale when the code they change moves. A stale mutant is an error
// reported in one line, never skipped, so that the set is kept up to date
// with the engine rather than silently shrinking.
package mutation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Ext is the extension of a mutant file.
const Ext = ".mutant"

// The section markers of a mutant file. Each hunk is an original snippet
// and its replacement; a mutant has one hunk or a few.
const (
	markOriginal    = "--- original"
	markReplacement = "--- replacement"
	markEnd         = "--- end"
)

// equivalentMin is the shortest equivalence argument accepted.
const equivalentMin = 40

// hunksMax bounds the hunks of one mutant: a mutant is a slip of a few lines,
// not a rewrite.
const hunksMax = 4

// Mutant is one mutant, as read from its file.
//
// The file format is plain text, chosen over unified diffs so that a mutant
// survives unrelated churn in the file it changes (line numbers and context
// lines do not matter, only the snippet itself):
//
//	file: engine/xact/xact.go
//	area: commit
//	description: RecordTransactionCommit must XLogFlush the commit record
//	  before the commit is visible or acknowledged; ... (continuation lines
//	  start with white space)
//	equivalent: (optional) why the mutant cannot change any behaviour
//	  pgdst can observe, argued from the code; continuation lines as for
//	  the description
//	--- original
//	<the exact lines of the original, tabs and all>
//	--- replacement
//	<the lines that replace them>
//	--- end
//
// Lines starting with '#' before the first hunk are comments. Each original
// snippet must occur exactly once in the file when the mutant is applied.
type Mutant struct {
	Name        string // the file name without its extension, e.g. 01-commit-no-xlogflush
	Path        string // where it was read from
	File        string // the source file it changes, relative to the module root
	Area        string // the engine subsystem, for the table
	Description string // which PostgreSQL rule it breaks, and the bug class
	// Equivalent, when not empty, is the argument that the mutant is
	// equivalent: no run of pgdst can tell it from the engine. The
	// mutation score is then also given without it; a campaign that
	// kills it refutes the argument (Result.Refuted).
	Equivalent string
	Hunks      []Hunk
	// Args are more campaign flags for this row alone: a planted bug
	// (PlantedBug) is the unmutated engine with --bug NAME.
	Args []string
}

// PlantedBug is a row for planted bug name (engine/bugs): no hunk, and
// the campaign run with --bug name, so that a way of campaigning can be
// measured on the planted bugs beside the mutants.
func PlantedBug(name string) *Mutant {
	return &Mutant{Name: "bug:" + name, Area: "planted bug", Description: "planted bug " + name, Args: []string{"--bug", name}}
}

// Hunk is one replacement of an exact snippet.
type Hunk struct {
	Original    string
	Replacement string
}

// Parse reads a mutant named name from data.
func Parse(name string, data []byte) (*Mutant, error) {
	m := &Mutant{Name: name}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	i := 0
	lastKey := ""
	equivalentLine := 0 // of the 'equivalent:' key, 0 when none
	// The header: key: value lines, continuation lines, comments.
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, "--- ") {
			break
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			switch lastKey {
			case "description":
				m.Description += " " + strings.TrimSpace(l)
			case "equivalent":
				m.Equivalent = strings.TrimSpace(m.Equivalent + " " + strings.TrimSpace(l))
			default:
				return nil, fmt.Errorf("mutant %s: line %d: continuation line after %q", name, i+1, lastKey)
			}
			continue
		}
		key, val, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("mutant %s: line %d: want 'key: value', got %q", name, i+1, l)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "file":
			m.File = val
		case "area":
			m.Area = val
		case "description":
			m.Description = val
		case "equivalent":
			if equivalentLine > 0 {
				return nil, fmt.Errorf("mutant %s: line %d: a second 'equivalent:'", name, i+1)
			}
			m.Equivalent = val
			equivalentLine = i + 1
		default:
			return nil, fmt.Errorf("mutant %s: line %d: unknown key %q", name, i+1, key)
		}
		lastKey = key
	}
	// The hunks.
	for i < len(lines) {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			i++
			continue
		}
		if l != markOriginal {
			return nil, fmt.Errorf("mutant %s: line %d: want %q, got %q", name, i+1, markOriginal, l)
		}
		orig, next, err := section(lines, i+1, markReplacement)
		if err != nil {
			return nil, fmt.Errorf("mutant %s: %w", name, err)
		}
		repl, next, err := section(lines, next, markEnd)
		if err != nil {
			return nil, fmt.Errorf("mutant %s: %w", name, err)
		}
		m.Hunks = append(m.Hunks, Hunk{Original: orig, Replacement: repl})
		i = next
	}
	switch {
	case m.File == "":
		return nil, fmt.Errorf("mutant %s: no 'file:'", name)
	case filepath.IsAbs(m.File) || strings.HasPrefix(filepath.Clean(m.File), ".."):
		return nil, fmt.Errorf("mutant %s: file %q is not inside the module", name, m.File)
	case m.Description == "":
		return nil, fmt.Errorf("mutant %s: no 'description:'", name)
	case equivalentLine > 0 && len(m.Equivalent) < equivalentMin:
		// An empty or one-word argument is a claim, not an argument: a
		// mutant is marked equivalent only with the reason it cannot
		// change what pgdst observes, for a reader to check.
		return nil, fmt.Errorf("mutant %s: line %d: 'equivalent:' needs the argument why no run can tell the mutant apart (at least %d characters), got %q",
			name, equivalentLine, equivalentMin, m.Equivalent)
	case len(m.Hunks) == 0:
		return nil, fmt.Errorf("mutant %s: no %q section", name, markOriginal)
	case len(m.Hunks) > hunksMax:
		return nil, fmt.Errorf("mutant %s: %d hunks, at most %d", name, len(m.Hunks), hunksMax)
	}
	for k, h := range m.Hunks {
		if strings.TrimSpace(h.Original) == "" {
			return nil, fmt.Errorf("mutant %s: hunk %d: empty original", name, k+1)
		}
		if h.Original == h.Replacement {
			return nil, fmt.Errorf("mutant %s: hunk %d: the replacement equals the original", name, k+1)
		}
	}
	return m, nil
}

// section returns the lines from start up to the line end, joined with
// newlines and ending with one, and the index after the end line.
func section(lines []string, start int, end string) (string, int, error) {
	for j := start; j < len(lines); j++ {
		if lines[j] == end {
			s := strings.Join(lines[start:j], "\n")
			if j > start {
				s += "\n"
			}
			return s, j + 1, nil
		}
	}
	return "", 0, fmt.Errorf("line %d: no %q after it", start, end)
}

// ErrStale says a mutant's original snippet is not in its file exactly once.
var ErrStale = errors.New("stale mutant")

// Apply returns src with the mutant's hunks applied in order. Each original
// snippet must occur exactly once in the text it is applied to; otherwise
// the error (wrapping ErrStale) says which hunk and how often it occurs.
func (m *Mutant) Apply(src []byte) ([]byte, error) {
	out := src
	for k, h := range m.Hunks {
		n := bytes.Count(out, []byte(h.Original))
		if n != 1 {
			first := strings.TrimSpace(strings.SplitN(h.Original, "\n", 2)[0])
			return nil, fmt.Errorf("%w %s: hunk %d (%q...) occurs %d times in %s, want exactly 1",
				ErrStale, m.Name, k+1, first, n, m.File)
		}
		out = bytes.Replace(out, []byte(h.Original), []byte(h.Replacement), 1)
	}
	return out, nil
}

// Baseline is the empty mutant: the engine as it is. Its campaign must pass
// every seed, or no kill means anything.
var Baseline = &Mutant{Name: "baseline", Area: "-", Description: "the unmutated engine"}

// ApplyTo applies the mutant to the module tree at root, in place.
func (m *Mutant) ApplyTo(root string) error {
	if len(m.Hunks) == 0 {
		return nil // the baseline
	}
	path := filepath.Join(root, filepath.FromSlash(m.File))
	src, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w %s: %v", ErrStale, m.Name, err)
	}
	out, err := m.Apply(src)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}

// Load reads every mutant in dir, sorted by name.
func Load(dir string) ([]*Mutant, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"+Ext))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no %s files in %s", Ext, dir)
	}
	sort.Strings(names)
	var out []*Mutant
	for _, p := range names {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		m, err := Parse(strings.TrimSuffix(filepath.Base(p), Ext), data)
		if err != nil {
			return nil, err
		}
		m.Path = p
		out = append(out, m)
	}
	return out, nil
}

// Matches reports whether the mutant is the one called name: its full name
// (01-commit-no-xlogflush), the name without the number prefix, or the
// number alone (01).
func (m *Mutant) Matches(name string) bool {
	if name == m.Name {
		return true
	}
	num, short, ok := strings.Cut(m.Name, "-")
	return ok && (name == short || name == num)
}
