package proc

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// promoteArchiving runs a standby with archive_mode = on whose archive is
// on another machine's disk (the shared archive), promotes it, commits
// enough rows on timeline 2 to complete a segment or more, and lets its
// archiver run. It returns the archive's and archive_status's listings.
func promoteArchiving(t *testing.T, set bugs.Set) (archive, status []string, partial string) {
	t.Helper()
	node := world.NewNode(world.NewRand(5), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.SetTimeLimit(time.Hour)
	shared := node.NewPeer("archive", world.NewRand(9), 0)
	e := node.Env
	var setupErr, callErr error
	var pm *Postmaster
	node.Sim.Spawn("test", func() {
		cfg := unreachableStandbyConfig()
		cfg.DB.WAL.ArchiveMode = true
		cfg.DB.Bugs = set
		cfg.ArchiveMode = true
		cfg.Archiver = ArchiverConfig{WAL: cfg.DB.WAL, ArchiveDir: "archive", ArchiveDisk: shared.Disk, Delay: 5 * time.Millisecond}
		var l *Listener
		if pm, l, setupErr = startPromotedStandby(e, cfg); setupErr != nil {
			return
		}
		c, err := l.Dial()
		if callErr = err; err != nil {
			node.Sim.RequestStop("test done")
			return
		}
		if _, callErr = c.Call(Request{Op: OpCreateTable, Table: "t"}); callErr == nil {
			for k := uint64(0); k < 150 && callErr == nil; k++ {
				_, callErr = c.Call(Request{Op: OpInsert, Table: "t", Key: k, Val: make([]byte, 1000)})
			}
		}
		c.Close()
		e.Clock.Sleep(200 * time.Millisecond) // the archiver's passes
		node.Sim.RequestStop("test done")
	})
	st := node.Sim.Run()
	node.Sim.KillAll()
	require.NoError(t, setupErr)
	require.NoError(t, callErr)
	require.Equal(t, world.StopRequested, st.Kind, "%s\n%s", st, st.Stack)
	require.NotNil(t, pm.DB(), "the promoted standby accepts connections")
	require.Equal(t, uint32(2), pm.DB().TimeLineID())
	archive, err := shared.Disk.List("archive")
	require.NoError(t, err)
	status, err = e.Disk.List(wal.StatusDir)
	require.NoError(t, err)
	cfg := wal.Config{SegmentSize: 64 << 10}
	partial = wal.SegmentNameTLI(cfg, 1, uint64(pm.Recoveries()[0].End)/uint64(cfg.SegmentSize)) + ".partial"
	return archive, status, partial
}

// TestPromotedStandbyArchives: once promoted, a standby with archive_mode
// = on starts its archiver (PM_RUN) and archives, into the shared
// archive, its new timeline's history file (writeTimeLineHistory's
// XLogArchiveNotify), the old timeline's last segment as .partial
// (CleanupAfterArchiveRecovery) and the new timeline's segments as they
// complete, each then marked .done; nothing of timeline 1 is archived
// under its complete name. With the planted bug promote-no-history-archive
// the history file never reaches the archive.
func TestPromotedStandbyArchives(t *testing.T) {
	archive, status, partial := promoteArchiving(t, 0)
	require.Contains(t, archive, "00000002.history")
	require.Contains(t, archive, partial)
	require.Contains(t, status, "00000002.history.done")
	require.Contains(t, status, partial+".done")
	tl2 := 0
	for _, n := range archive {
		if len(n) == 24 && n[:8] == "00000002" {
			tl2++
			require.Contains(t, status, n+".done")
		}
		require.False(t, len(n) == 24 && n[:8] == "00000001", "timeline 1's segment %s archived under its complete name", n)
	}
	require.Positive(t, tl2, "no segment of timeline 2 archived: %v", archive)

	archive, status, partial = promoteArchiving(t, bugs.Set(0).With(bugs.PromoteNoHistoryArchive))
	require.NotContains(t, archive, "00000002.history")
	require.NotContains(t, status, "00000002.history.ready")
	require.Contains(t, archive, partial)
}
