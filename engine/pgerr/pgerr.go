// Package pgerr is the engine's error type: a PostgreSQL SQLSTATE code and a
// message, so that clients (simulated ones now, pgx over the wire later)
// see the codes PostgreSQL would send (errcodes.txt).
package pgerr

import (
	"errors"
	"fmt"
)

// Code is a five-character SQLSTATE.
type Code string

// The codes the engine raises.
const (
	UniqueViolation         Code = "23505"
	SerializationFailure    Code = "40001"
	ReadOnlySQLTransaction  Code = "25006" // a write in a READ ONLY transaction, or on a hot standby (PreventCommandIfReadOnly)
	DeadlockDetected        Code = "40P01"
	TooManyConnections      Code = "53300"
	DiskFull                Code = "53100"
	ProgramLimitExceeded    Code = "54000"
	FeatureNotSupported     Code = "0A000"
	InFailedTransaction     Code = "25P02"
	NoActiveTransaction     Code = "25P01"
	ActiveTransaction       Code = "25001"
	UndefinedTable          Code = "42P01"
	DuplicateTable          Code = "42P07"
	DataCorrupted           Code = "XX001"
	IndexCorrupted          Code = "XX002"
	InternalError           Code = "XX000"
	IOError                 Code = "58030"
	QueryCanceled           Code = "57014"
	AdminShutdown           Code = "57P01"
	CrashShutdown           Code = "57P02"
	InvalidParameterValue   Code = "22023"
	NullValueNotAllowed     Code = "22004"
	StringDataRightTruncate Code = "22001"
	// NumericValueOutOfRange is an integer overflow ("bigint out of
	// range"), as an INSERT ... SELECT key + d meets past 2^64.
	NumericValueOutOfRange Code = "22003"
	// ObjectNotInPrerequisiteState is heap_update's and heap_delete's
	// "attempted to update invisible tuple": the executor handed them a
	// version its own command may not change, which only a bug does.
	ObjectNotInPrerequisiteState Code = "55000"
	// TriggeredDataChangeViolation is ExecUpdate's "tuple to be updated
	// was already modified by an operation triggered by the current
	// command".
	TriggeredDataChangeViolation Code = "27000"

	// Connection establishment and loss (class 08, and 57P03), as a
	// client sees them through libpq.
	CannotConnectNow  Code = "57P03" // the postmaster is not accepting connections yet
	ConnectionFailure Code = "08006" // the server closed the connection
	UnableToConnect   Code = "08001" // sqlclient_unable_to_establish_sqlconnection
	ProtocolViolation Code = "08P01" // a replication command out of turn
	// Replication (walsender.c's errors).
	UndefinedObject Code = "42704" // a timeline not in the server's history
	UndefinedFile   Code = "58P01" // requested WAL segment has already been removed
)

// Error is an error with a SQLSTATE.
type Error struct {
	Code Code
	Msg  string
	// Detail and Hint are errdetail and errhint, when the error has them.
	Detail, Hint string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (SQLSTATE %s)", e.Msg, e.Code) }

// New makes an Error.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns err's SQLSTATE, or "" when it has none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Is reports whether err carries code.
func Is(err error, code Code) bool { return CodeOf(err) == code }
