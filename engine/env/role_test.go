package env

import (
	"strings"
	"testing"
)

// TestRoleAndFileClassNames: every role and class parses back from its
// name, and an unknown name is an error that lists every valid one.
func TestRoleAndFileClassNames(t *testing.T) {
	for r := Role(0); r < NumRoles; r++ {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Fatalf("role %d: %q parses as %v, %v", r, r.String(), got, err)
		}
	}
	for c := FileClass(0); c < NumFileClasses; c++ {
		got, err := ParseFileClass(c.String())
		if err != nil || got != c {
			t.Fatalf("class %d: %q parses as %v, %v", c, c.String(), got, err)
		}
	}
	_, err := ParseRole("autovacuum")
	if err == nil || !strings.Contains(err.Error(), "autovacuum-launcher, autovacuum-worker") {
		t.Fatalf("an unknown role must list the valid ones, got %v", err)
	}
	_, err = ParseFileClass("toast")
	if err == nil || !strings.Contains(err.Error(), "wal, heap, index") {
		t.Fatalf("an unknown class must list the valid ones, got %v", err)
	}
	if Role(200).String() != "Role(200)" || FileClass(200).String() != "FileClass(200)" {
		t.Fatal("an invalid value must print as one")
	}
}

func TestRoleSet(t *testing.T) {
	s := NewRoleSet(RoleStartup, RoleBackend)
	if !s.Has(RoleBackend) || !s.Has(RoleStartup) || s.Has(RoleBgwriter) || s.Has(Role(200)) {
		t.Fatalf("set %v", s)
	}
	if s.String() != "backend, startup" {
		t.Fatalf("set prints as %q", s.String())
	}
	if got := s.Add(RoleBgwriter).Roles(); len(got) != 3 || got[1] != RoleBgwriter {
		t.Fatalf("roles %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("adding an invalid role must panic")
		}
	}()
	s.Add(NumRoles)
}
