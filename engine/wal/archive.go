package wal

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
)

// WAL archiving status (archive_mode), as PostgreSQL's xlogarchive.c keeps
// it: pg_wal/archive_status/<segment>.ready says a completed segment waits
// for the archiver; <segment>.done says it is safely in the archive, so the
// checkpoint may remove it.
//
// Life of a segment with Config.ArchiveMode on:
//
//  1. The WAL writer completes it (Flush writes and fsyncs its last byte:
//     the write position moves past its end, which an XLOG_SWITCH also
//     does) and creates <seg>.ready durably (XLogArchiveNotifySeg).
//  2. The archiver (engine/proc/archiver.go) copies it to the archive
//     durably and renames .ready to .done durably (pgarch_archiveDone).
//  3. The checkpoint's RemoveSegmentsBefore removes it only once .done
//     exists (XLogArchiveCheckDone), then its status file
//     (XLogArchiveCleanup).
//
// Fault model. Every status change is made durable before anything relies
// on it (.ready: create, fsync the file, fsync archive_status; .done: rename,
// fsync archive_status), and a status file is never the only record of a
// fact that matters:
//
//   - a lost .ready (a crash before the directory fsync, or a failed
//     notification, which is only logged as in XLogArchiveNotify) is
//     re-created at startup by Open (RenotifyArchive) and by the next
//     checkpoint's XLogArchiveCheckDone, for every complete segment that
//     has neither .ready nor .done;
//   - a lost .done (a crash between the rename and its directory fsync)
//     brings .ready back, or, with a non-atomic rename, leaves neither or
//     both: the archiver archives the segment again and finds an identical
//     copy already in the archive, so it only marks it done; .done wins over
//     .ready wherever both exist;
//   - a .done whose segment is gone (the segment's removal was durable, the
//     status file's was not) is an orphan that RenotifyArchive removes;
//     a .ready whose segment is gone is removed by the archiver.
//
// A segment is removed only once its .done exists, which the archiver
// renames into place only after the copy is durable, so no segment can
// leave pg_wal before a durable copy of it is in the archive. (The removal
// may come between the rename and its directory fsync, as in PostgreSQL,
// whose XLogArchiveCheckDone only stats .done: a crash that loses the
// rename then leaves a .ready whose segment is gone, which the archiver
// removes.)

// StatusDir holds the archive status files (XLOGDIR "/archive_status").
const StatusDir = Dir + "/archive_status"

// The status file suffixes.
const (
	readySuffix = ".ready"
	doneSuffix  = ".done"
)

// statusPath is StatusFilePath.
func statusPath(c Config, seg uint64, suffix string) string {
	return StatusDir + "/" + SegmentName(c, seg) + suffix
}

// ArchiveStatus reads and changes the archive status files of one data
// directory. The WAL (as writer and as checkpoint remover) and the archiver
// process each use their own; the files are the shared state.
type ArchiveStatus struct {
	e   *env.Env
	cfg Config
}

// NewArchiveStatus returns the status helpers for the WAL configured by c.
func NewArchiveStatus(e *env.Env, c Config) *ArchiveStatus {
	return &ArchiveStatus{e: e, cfg: c}
}

// Notify creates <seg>.ready durably (XLogArchiveNotify): create the file,
// fsync it, fsync archive_status. The directory is created durably on first
// use. An existing .ready is kept. Failure is returned; callers log it, as
// PostgreSQL does, because a missing .ready is re-created later.
func (a *ArchiveStatus) Notify(seg uint64) error {
	path := statusPath(a.cfg, seg, readySuffix)
	f, err := a.e.Disk.Open(path, env.OpenCreate)
	if errors.Is(err, env.ErrNotExist) {
		if err := a.makeDir(); err != nil {
			return err
		}
		f, err = a.e.Disk.Open(path, env.OpenCreate)
	}
	if err != nil {
		return fmt.Errorf("could not create archive status file %q: %w", path, err)
	}
	serr := f.Sync()
	f.Close()
	if serr != nil {
		return fmt.Errorf("could not fsync archive status file %q: %w", path, serr)
	}
	if err := a.e.Disk.SyncDir(StatusDir); err != nil {
		return fmt.Errorf("could not fsync directory %q: %w", StatusDir, err)
	}
	return nil
}

// makeDir creates archive_status durably: its entry in pg_wal is fsynced.
func (a *ArchiveStatus) makeDir() error {
	if err := a.e.Disk.MkdirAll(StatusDir); err != nil {
		return fmt.Errorf("could not create directory %q: %w", StatusDir, err)
	}
	if err := a.e.Disk.SyncDir(Dir); err != nil {
		return fmt.Errorf("could not fsync directory %q: %w", Dir, err)
	}
	return nil
}

// statusFiles lists archive_status as a set of names (empty if the
// directory does not exist yet).
func (a *ArchiveStatus) statusFiles() (map[string]bool, []string, error) {
	names, err := a.e.Disk.List(StatusDir)
	if errors.Is(err, env.ErrNotExist) {
		return map[string]bool{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("could not read directory %q: %w", StatusDir, err)
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set, names, nil
}

// parseStatus splits a status file name into its segment and suffix.
func (a *ArchiveStatus) parseStatus(name string) (uint64, string, bool) {
	for _, suffix := range []string{readySuffix, doneSuffix} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if seg, ok := ParseSegmentName(a.cfg, base); ok {
				return seg, suffix, true
			}
		}
	}
	return 0, "", false
}

// ReadyList returns the segments that have a .ready file, oldest first
// (pgarch_readyXlog picks the oldest). A segment that also has .done is
// included: the archiver finds its copy already archived and marks it done.
func (a *ArchiveStatus) ReadyList() ([]uint64, error) {
	_, names, err := a.statusFiles()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range names {
		if seg, suffix, ok := a.parseStatus(n); ok && suffix == readySuffix {
			out = append(out, seg)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// MarkDone renames <seg>.ready to <seg>.done and fsyncs archive_status
// (pgarch_archiveDone, a durable_rename). It is idempotent: with .ready
// already gone and .done present it only makes sure .done is durable.
func (a *ArchiveStatus) MarkDone(seg uint64) error {
	ready, done := statusPath(a.cfg, seg, readySuffix), statusPath(a.cfg, seg, doneSuffix)
	if err := a.e.Disk.Rename(ready, done); err != nil {
		if !errors.Is(err, env.ErrNotExist) {
			return fmt.Errorf("could not rename file %q to %q: %w", ready, done, err)
		}
		if ok, derr := a.IsDone(seg); derr != nil || !ok {
			return fmt.Errorf("could not rename file %q to %q: %w", ready, done, err)
		}
	}
	if err := a.e.Disk.SyncDir(StatusDir); err != nil {
		return fmt.Errorf("could not fsync directory %q: %w", StatusDir, err)
	}
	return nil
}

// IsDone reports whether <seg>.done exists: the segment is archived.
func (a *ArchiveStatus) IsDone(seg uint64) (bool, error) {
	f, err := a.e.Disk.Open(statusPath(a.cfg, seg, doneSuffix), env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

// Cleanup removes both status files of seg, if present, without fsyncing
// the directory (XLogArchiveCleanup; the caller fsyncs).
func (a *ArchiveStatus) Cleanup(seg uint64) error {
	var first error
	for _, suffix := range []string{readySuffix, doneSuffix} {
		p := statusPath(a.cfg, seg, suffix)
		if err := a.e.Disk.Remove(p); err != nil && !errors.Is(err, env.ErrNotExist) && first == nil {
			first = fmt.Errorf("could not remove file %q: %w", p, err)
		}
	}
	return first
}

// RenotifyArchive repairs the archive status after a crash, as
// XLogArchiveCheckDone does for each segment it is asked about: every
// complete segment in pg_wal (all but the newest, which the WAL is still
// filling) that has neither .ready nor .done gets .ready; a status file
// naming the newest segment or a later one is stale (that segment is not
// complete) and is removed; a .done whose segment is gone is an orphan and
// is removed; where both .ready and .done exist, .ready is removed. A
// no-op unless c.ArchiveMode. Open calls it, so the startup need not.
func RenotifyArchive(e *env.Env, c Config) error {
	if !c.ArchiveMode {
		return nil
	}
	segs, err := listSegments(e, c)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return nil
	}
	return renotify(e, c, segs, segs[len(segs)-1])
}

// renotify is RenotifyArchive given pg_wal's segments and the one the WAL
// is filling (cur).
func renotify(e *env.Env, c Config, segs []uint64, cur uint64) error {
	a := NewArchiveStatus(e, c)
	set, names, err := a.statusFiles()
	if err != nil {
		return err
	}
	present := make(map[uint64]bool, len(segs))
	for _, s := range segs {
		present[s] = true
	}
	removed := 0
	for _, n := range names { // sorted, so the removals are in a fixed order
		seg, suffix, ok := a.parseStatus(n)
		if !ok {
			continue
		}
		stale := seg >= cur ||
			(suffix == doneSuffix && !present[seg]) ||
			(suffix == readySuffix && set[SegmentName(c, seg)+doneSuffix])
		if !stale {
			continue
		}
		if err := e.Disk.Remove(StatusDir + "/" + n); err != nil && !errors.Is(err, env.ErrNotExist) {
			return fmt.Errorf("could not remove file %q: %w", StatusDir+"/"+n, err)
		}
		e.Logf("removed stale archive status file %q", n)
		removed++
	}
	if removed > 0 {
		if err := e.Disk.SyncDir(StatusDir); err != nil {
			return fmt.Errorf("could not fsync directory %q: %w", StatusDir, err)
		}
	}
	for _, s := range segs {
		if s >= cur {
			break
		}
		name := SegmentName(c, s)
		if set[name+readySuffix] || set[name+doneSuffix] {
			continue
		}
		if err := a.Notify(s); err != nil {
			return err
		}
		e.Logf("re-notified WAL segment %s for archiving", name)
	}
	return nil
}

// notifyArchive is XLogArchiveNotifySeg for the WAL writer: a failure is
// logged, not raised (the startup and the next checkpoint re-notify).
func (w *WAL) notifyArchive(seg uint64) {
	if err := NewArchiveStatus(w.e, w.cfg).Notify(seg); err != nil {
		w.e.Logf("could not notify WAL segment %s for archiving: %v", SegmentName(w.cfg, seg), err)
	}
}

// archivedPrefix returns how many of segs (ascending) may be removed: the
// leading run of complete (wholly flushed) segments whose .done exists
// (XLogArchiveCheckDone). The
// first segment without .done stops the run, so that pg_wal never has a
// hole (PostgreSQL checks each segment on its own; the archiver goes oldest
// first, so the two differ only after a lost status file). A segment with
// neither .ready nor .done is re-notified. Without archive mode every
// segment may go.
func (w *WAL) archivedPrefix(segs []uint64) int {
	if !w.cfg.ArchiveMode {
		return len(segs)
	}
	a := NewArchiveStatus(w.e, w.cfg)
	set, _, err := a.statusFiles()
	if err != nil {
		w.e.Logf("could not read archive status: %v", err)
		return 0
	}
	complete := w.cfg.segOf(w.Flushed()) // segments before it are complete
	for i, s := range segs {
		if s >= complete {
			return i // never notify a segment the writer has not finished
		}
		name := SegmentName(w.cfg, s)
		if set[name+doneSuffix] {
			continue
		}
		if !set[name+readySuffix] {
			w.notifyArchive(s)
		}
		return i
	}
	return len(segs)
}

// cleanupArchiveStatus removes the status files of removed segments and
// fsyncs archive_status. Failures are logged: an orphan .done is harmless
// and RenotifyArchive removes it.
func (w *WAL) cleanupArchiveStatus(removed []uint64) {
	if !w.cfg.ArchiveMode || len(removed) == 0 {
		return
	}
	a := NewArchiveStatus(w.e, w.cfg)
	for _, s := range removed {
		if err := a.Cleanup(s); err != nil {
			w.e.Logf("%v", err)
		}
	}
	if err := w.e.Disk.SyncDir(StatusDir); err != nil {
		w.e.Logf("could not fsync directory %q: %v", StatusDir, err)
	}
}
