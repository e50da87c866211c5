package env

import (
	"fmt"
	"strconv"
	"strings"
)

// Role is what a process is, in PostgreSQL's process model (BackendType in
// miscadmin.h). The engine knows what it spawns, so a process carries its
// role from its spawn (Scheduler.SpawnAs): fault plans aim at roles
// (role=checkpointer), the injection-point table says which roles reach each
// point, and nothing guesses a role from a process's name.
type Role uint8

// The roles. Backend is first, so that [RoleBackend, NumRoles) spans
// every role; the names are part of the fault plans' text form (and so of
// repro files) and must never change, nor their numbers (the trace).
const (
	RoleBackend Role = iota
	RoleBgwriter
	RoleCheckpointer
	RoleWalwriter
	RoleAutovacuumLauncher
	RoleAutovacuumWorker
	RoleArchiver
	RoleStartup
	RolePostmaster
	RoleLogger
	// RoleClient is a simulated client: not a server process.
	RoleClient
	// RoleOther is anything else: a test's or the harness's own process
	// (initdb's bootstrap, a check run after recovery).
	RoleOther
	// RoleWalreceiver is a standby's WAL receiver (B_WAL_RECEIVER). It
	// comes after RoleOther, which was last before replication existed,
	// so that no older role's number (and no trace) changed. A WAL
	// sender is a backend (am_walsender), as PostgreSQL forks it.
	RoleWalreceiver

	NumRoles = iota
)

var roleNames = [NumRoles]string{
	"backend", "bgwriter", "checkpointer", "walwriter", "autovacuum-launcher",
	"autovacuum-worker", "archiver", "startup", "postmaster", "logger", "client", "other", "walreceiver",
}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// ParseRole returns the Role named s. An unknown name is an error that
// lists the valid ones.
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames {
		if n == s {
			return Role(i), nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (valid: %s)", s, strings.Join(roleNames[:], ", "))
}

// RoleSet is a set of roles.
type RoleSet uint32

// NewRoleSet is the set of roles rs.
func NewRoleSet(rs ...Role) RoleSet {
	var s RoleSet
	for _, r := range rs {
		s = s.Add(r)
	}
	return s
}

func (s RoleSet) Add(r Role) RoleSet {
	if r >= NumRoles {
		panic("env: adding an invalid role to a RoleSet")
	}
	return s | 1<<r
}

func (s RoleSet) Has(r Role) bool { return r < NumRoles && s&(1<<r) != 0 }

// Roles lists the set's roles in Role order.
func (s RoleSet) Roles() []Role {
	var out []Role
	for r := Role(0); r < NumRoles; r++ {
		if s.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// String is the roles' names, comma-separated, in Role order.
func (s RoleSet) String() string {
	var b strings.Builder
	for _, r := range s.Roles() {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// FileClass is what a file holds. The engine says it: the catalog tells the
// storage manager which relation files are heaps and which indexes, and the
// storage manager registers each segment it opens (Env.ClassifyFile); the
// other classes are the engine's fixed files and directories. A fault plan
// aims at a class (file=index) without knowing the engine's layout.
type FileClass uint8

// The file classes. WAL is first and Other last; the names are part of the
// fault plans' text form. The engine uses only the main fork of each
// relation, so there is no free-space-map or visibility-map class.
const (
	FileWAL FileClass = iota
	FileHeap
	FileIndex
	FileClog
	FileControl
	// FileCatalog is the relation map (global/pg_catalog.map, relmapper.c).
	FileCatalog
	FileArchive
	FileOther

	NumFileClasses = iota
)

var fileClassNames = [NumFileClasses]string{
	"wal", "heap", "index", "clog", "control", "catalog", "archive", "other",
}

func (c FileClass) String() string {
	if int(c) < len(fileClassNames) {
		return fileClassNames[c]
	}
	return "FileClass(" + strconv.Itoa(int(c)) + ")"
}

// ParseFileClass returns the FileClass named s. An unknown name is an
// error that lists the valid ones.
func ParseFileClass(s string) (FileClass, error) {
	for i, n := range fileClassNames {
		if n == s {
			return FileClass(i), nil
		}
	}
	return 0, fmt.Errorf("unknown file class %q (valid: %s)", s, strings.Join(fileClassNames[:], ", "))
}

// FileClassifier is told the class of each file the engine opens. It may
// be nil (the real environment keeps no classes).
type FileClassifier interface {
	ClassifyFile(path string, class FileClass)
}

// RoleSpawner is a Scheduler that records the role of the processes it
// spawns. Both the simulator and the real scheduler implement it; Spawn
// alone gives RoleOther.
type RoleSpawner interface {
	SpawnAs(role Role, name string, fn func()) Proc
}

// SpawnAs starts fn as a process of the given role (Scheduler.Spawn, with
// the role recorded where the scheduler keeps roles).
func (e *Env) SpawnAs(role Role, name string, fn func()) Proc {
	if rs, ok := e.Sched.(RoleSpawner); ok {
		return rs.SpawnAs(role, name, fn)
	}
	return e.Sched.Spawn(name, fn)
}

// RoleProc is a Proc that knows its role (the simulator's processes do).
type RoleProc interface {
	Role() Role
}

// SelfRole is the calling process's role, RoleOther where the scheduler
// keeps none.
func (e *Env) SelfRole() Role {
	if p, ok := e.Sched.Self().(RoleProc); ok {
		return p.Role()
	}
	return RoleOther
}

// ClassifyFile tells the environment what the file at path holds.
func (e *Env) ClassifyFile(path string, class FileClass) {
	if e.Files != nil {
		e.Files.ClassifyFile(path, class)
	}
}
