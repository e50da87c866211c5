package simtest

import (
	"strings"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// archiveDir and controlPath are where the runs keep the archive
// (resolveDB's archive_command target) and the control file.
const (
	archiveDir  = "archive"
	controlPath = "global/pg_control"
)

// newNode is world.NewNode with the engine's fixed files classified: the
// world knows no engine path, the harness does.
func newNode(rng *world.Rand, trace *world.Trace, sched world.SchedConfig, lat world.Latency) *world.Node {
	n := world.NewNode(rng, trace, sched, lat)
	n.FixedClass = fixedFileClass
	return n
}

// fixedFileClass is what a file the engine did not register holds: the
// engine's fixed files, the WAL and its archive, the clog and the control
// file, named by the engine's own constants. A relation file the catalog
// has not named yet (one redo creates before the map record that names
// it) is "other".
func fixedFileClass(path string) env.FileClass {
	switch {
	case strings.HasPrefix(path, wal.Dir+"/archive_status/"), strings.HasPrefix(path, archiveDir+"/"):
		return env.FileArchive
	case strings.HasPrefix(path, wal.Dir+"/"):
		return env.FileWAL
	case strings.HasPrefix(path, clog.Dir+"/"):
		return env.FileClog
	case path == controlPath:
		return env.FileControl
	}
	return env.FileOther
}
