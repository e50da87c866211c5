package fault

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
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

// FileClass is what a file holds, as the engine registers it (env.FileClass).
// It lets a plan aim at, say, heap fsyncs without knowing the engine's
// layout.
type FileClass = env.FileClass

// The file classes (env's).
const (
	FileWAL     = env.FileWAL
	FileHeap    = env.FileHeap
	FileIndex   = env.FileIndex
	FileClog    = env.FileClog
	FileControl = env.FileControl
	FileCatalog = env.FileCatalog
	FileArchive = env.FileArchive
	FileOther   = env.FileOther

	numFileClasses = env.NumFileClasses
)

// ParseFileClass returns the FileClass named s; an unknown name is an error
// that lists the valid ones.
func ParseFileClass(s string) (FileClass, error) { return env.ParseFileClass(s) }

// Role is the role of a process, which it carries from its spawn
// (env.Role): postmaster, backend, the auxiliary processes, clients.
type Role = env.Role

// The roles (env's).
const (
	RoleBackend            = env.RoleBackend
	RoleBgwriter           = env.RoleBgwriter
	RoleCheckpointer       = env.RoleCheckpointer
	RoleWalwriter          = env.RoleWalwriter
	RoleAutovacuumLauncher = env.RoleAutovacuumLauncher
	RoleAutovacuumWorker   = env.RoleAutovacuumWorker
	RoleArchiver           = env.RoleArchiver
	RoleStartup            = env.RoleStartup
	RolePostmaster         = env.RolePostmaster
	RoleLogger             = env.RoleLogger
	RoleClient             = env.RoleClient
	RoleOther              = env.RoleOther
	RoleWalreceiver        = env.RoleWalreceiver

	numRoles = env.NumRoles
)

// ParseRole returns the Role named s; an unknown name is an error that
// lists the valid ones.
func ParseRole(s string) (Role, error) { return env.ParseRole(s) }

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
	var valid []string
	for _, n := range names {
		if n != "" {
			valid = append(valid, n)
		}
	}
	return 0, fmt.Errorf("unknown %s %q (valid: %s)", what, s, strings.Join(valid, ", "))
}
