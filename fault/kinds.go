package fault

import (
	"fmt"
	"strconv"
)

// This file holds the small enumerations that events and triggers are made
// of. Each has a String method that gives the name used in the text form and
// a Parse function that reads it back; the names are part of the repro file
// format, so they must never change once plans have been saved with them.

// EventKind says what kind of decision point the simulator is showing the
// plan.
type EventKind uint8

const (
	// EventStep is a scheduler step: a process is about to run.
	EventStep EventKind = iota
	// EventPoint is a named injection point reached by the engine.
	EventPoint
	// EventDisk is a disk operation about to be performed.
	EventDisk
	// EventTimer is a timer (a sleep or a wait timeout) about to fire.
	EventTimer

	numEventKinds = iota
)

var eventKindNames = [numEventKinds]string{"step", "point", "disk", "timer"}

func (k EventKind) String() string { return enumString(eventKindNames[:], uint8(k), "EventKind") }

// ParseEventKind returns the EventKind named s.
func ParseEventKind(s string) (EventKind, error) {
	v, err := enumParse(eventKindNames[:], s, "event kind")
	return EventKind(v), err
}

// OpKind is the kind of a disk operation.
type OpKind uint8

const (
	OpRead OpKind = iota
	OpWrite
	// OpSync is a file's fsync (its text name is "fsync").
	OpSync
	OpRename
	OpOpen
	OpRemove
	OpTruncate
	// OpSyncDir is a directory's fsync.
	OpSyncDir
	// OpOther is any other disk operation (listing, creating a directory).
	OpOther

	numOpKinds = iota
)

var opKindNames = [numOpKinds]string{
	"read", "write", "fsync", "rename", "open", "remove", "truncate", "syncdir", "other",
}

func (k OpKind) String() string { return enumString(opKindNames[:], uint8(k), "OpKind") }

// ParseOpKind returns the OpKind named s.
func ParseOpKind(s string) (OpKind, error) {
	v, err := enumParse(opKindNames[:], s, "op")
	return OpKind(v), err
}

// FileClass is what a file holds, as the simulator classifies its path. It
// lets a plan aim at, say, heap fsyncs without knowing the engine's layout.
type FileClass uint8

const (
	FileWAL FileClass = iota
	FileHeap
	FileIndex
	FileClog
	FileControl
	FileCatalog
	FileArchive
	FileOther

	numFileClasses = iota
)

var fileClassNames = [numFileClasses]string{
	"wal", "heap", "index", "clog", "control", "catalog", "archive", "other",
}

func (c FileClass) String() string { return enumString(fileClassNames[:], uint8(c), "FileClass") }

// ParseFileClass returns the FileClass named s.
func ParseFileClass(s string) (FileClass, error) {
	v, err := enumParse(fileClassNames[:], s, "file class")
	return FileClass(v), err
}

// Role is the role of a simulated process, as in PostgreSQL's process model.
type Role uint8

const (
	RoleBackend Role = iota
	RoleBgwriter
	RoleCheckpointer
	RoleWalwriter
	RoleAutovacuum
	RoleArchiver
	RoleStartup
	RolePostmaster
	RoleLogger
	RoleOther

	numRoles = iota
)

var roleNames = [numRoles]string{
	"backend", "bgwriter", "checkpointer", "walwriter", "autovacuum",
	"archiver", "startup", "postmaster", "logger", "other",
}

func (r Role) String() string { return enumString(roleNames[:], uint8(r), "Role") }

// ParseRole returns the Role named s.
func ParseRole(s string) (Role, error) {
	v, err := enumParse(roleNames[:], s, "role")
	return Role(v), err
}

// enumString names v, or spells out an out-of-range value so that printing a
// corrupt value never panics and never looks like a valid name.
func enumString(names []string, v uint8, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// enumParse finds s among names. The lists are at most ten long, so a linear
// scan is the fastest and simplest lookup.
func enumParse(names []string, s, what string) (uint8, error) {
	for i, n := range names {
		if n == s {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q", what, s)
}
