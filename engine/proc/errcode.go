package proc

import (
	"errors"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// sqlstateOf is the SQLSTATE a client receives for an error the engine
// raised without one. PostgreSQL reports a failed file operation with
// errcode_for_file_access, which names the errno (EIO: io_error, ENOSPC:
// disk_full), and a page that fails verification as data_corrupted
// ("invalid page in block"); everything else is internal_error (XX000),
// which no correct engine sends, so the harness judges it as an engine
// fault.
func sqlstateOf(err error) pgerr.Code {
	switch {
	case errors.Is(err, env.EIO):
		return pgerr.IOError
	case errors.Is(err, env.ENOSPC):
		return pgerr.DiskFull
	case errors.Is(err, page.ErrChecksum), errors.Is(err, page.ErrCorrupt):
		return pgerr.DataCorrupted
	}
	return pgerr.InternalError
}
