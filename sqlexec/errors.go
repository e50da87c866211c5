package sqlexec

import (
	"errors"
	"fmt"

	"github.com/pgdst/pgdst/engine/pgerr"
)

// The SQLSTATEs this package raises itself (errcodes.txt).
const (
	CodeSyntaxError                 = "42601"
	CodeFeatureNotSupported         = "0A000"
	CodeUndefinedTable              = "42P01"
	CodeUndefinedColumn             = "42703"
	CodeDuplicateTable              = "42P07"
	CodeDuplicateColumn             = "42701"
	CodeUndefinedFunction           = "42883"
	CodeDatatypeMismatch            = "42804"
	CodeInvalidTextRepresentation   = "22P02"
	CodeInvalidBinaryRepresentation = "22P03"
	CodeNumericValueOutOfRange      = "22003"
	CodeDivisionByZero              = "22012"
	CodeNotNullViolation            = "23502"
	CodeUniqueViolation             = "23505"
	CodeInvalidTableDefinition      = "42P16"
	CodeActiveTransaction           = "25001"
	CodeNoActiveTransaction         = "25P01"
	CodeInFailedTransaction         = "25P02"
	CodeUndefinedObject             = "42704"
	CodeDataCorrupted               = "XX001"
	CodeInternalError               = "XX000"
	CodeProtocolViolation           = "08P01"
	CodeSyntaxErrorOrAccess         = "42000"
	CodeTooManyColumns              = "54011"
	CodeQueryCanceled               = "57014"
	CodeCardinalityViolation        = "21000"
	CodeInvalidParameterValue       = "22023"
	CodeUndefinedParameter          = "42P02"
)

// Error is a statement's error as the wire reports it (ErrorResponse's
// fields).
type Error struct {
	Severity string // ERROR unless set
	Code     string
	Message  string
	Detail   string
	Hint     string
	// Position is the 1-based character offset in the query string the
	// error points at, 0 when none.
	Position int
}

func (e *Error) Error() string { return fmt.Sprintf("%s (SQLSTATE %s)", e.Message, e.Code) }

func newErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// unsupported is 0A000 naming what pgdst serve does not support.
func unsupported(format string, args ...any) *Error {
	return &Error{Code: CodeFeatureNotSupported, Message: fmt.Sprintf(format, args...) + " is not supported by pgdst serve"}
}

// at sets the error's position from a parse-tree location (0-based byte
// offset, -1 unknown) within a statement starting at base.
func (e *Error) at(loc int32, base int) *Error {
	if loc >= 0 && e.Position == 0 {
		e.Position = base + int(loc) + 1
	}
	return e
}

// AsError turns any error into an Error: the engine's SQLSTATE errors
// keep their code, message, detail and hint; an error without one is
// XX000, as elog(ERROR) without errcode is.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var pe *pgerr.Error
	if errors.As(err, &pe) {
		return &Error{Code: string(pe.Code), Message: pe.Msg, Detail: pe.Detail, Hint: pe.Hint}
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}
