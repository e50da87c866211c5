package proc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// An error the engine raised without a SQLSTATE reaches the client with
// the one PostgreSQL would send: a disk's errno as errcode_for_file_access
// maps it, a failed page verification as data_corrupted, and only the
// rest as internal_error, which the harness judges an engine fault.
func TestSQLStateOfUncodedErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want pgerr.Code
	}{
		{fmt.Errorf("could not read block 1 in file %q: %w", "base/1", env.EIO), pgerr.IOError},
		{fmt.Errorf("could not extend file %q: %w", "base/1", env.ENOSPC), pgerr.DiskFull},
		{fmt.Errorf("invalid page in block 3: %w", page.ErrChecksum), pgerr.DataCorrupted},
		{fmt.Errorf("block 3: %w", page.ErrCorrupt), pgerr.DataCorrupted},
		{errors.New("unexpected TM result 9"), pgerr.InternalError},
	} {
		// Across the connection, as a client decodes it.
		got := (&decoder{appendErr(nil, tc.err)}).err()
		if pgerr.CodeOf(got) != tc.want {
			t.Errorf("%v: the client gets %v, want SQLSTATE %s", tc.err, got, tc.want)
		}
	}
	// A coded error keeps its own code.
	coded := fmt.Errorf("statement: %w", pgerr.New(pgerr.SerializationFailure, "could not serialize access"))
	if got := (&decoder{appendErr(nil, coded)}).err(); pgerr.CodeOf(got) != pgerr.SerializationFailure {
		t.Errorf("coded error: the client gets %v", got)
	}
}
