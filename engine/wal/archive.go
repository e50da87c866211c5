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

// statusPathOf is StatusFilePath for any file archive_status tracks: a
// segment of any timeline, an old timeline's last segment renamed
// .partial, or a timeline history file (xlogarchive.c keys the status by
// the file's name, whatever it holds).
func statusPathOf(name, suffix string) string { return StatusDir + "/" + name + suffix }

// HistoryFileName is TLHistoryFileName: the name of timeline tli's history
// file in pg_wal and in the archive.
func HistoryFileName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }

// isHistoryFileName is IsTLHistoryFileName.
func isHistoryFileName(name string) bool {
	base, ok := strings.CutSuffix(name, ".history")
	if !ok || len(base) != 8 {
		return false
	}
	_, ok = hex8(base)
	return ok
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

// Notify is NotifyFile for segment seg of timeline 1.
func (a *ArchiveStatus) Notify(seg uint64) error { return a.NotifyFile(SegmentName(a.cfg, seg)) }

// NotifyFile creates <name>.ready durably (XLogArchiveNotify): create the
// file, fsync it, fsync archive_status. The directory is created durably on
// first use. An existing .ready is kept. Failure is returned; callers log
// it, as PostgreSQL does, because a missing .ready of a segment is
// re-created later (a history file's or a .partial's is not, in
// PostgreSQL either).
func (a *ArchiveStatus) NotifyFile(name string) error {
	return a.createStatusFile(statusPathOf(name, readySuffix))
}

// createStatusFile creates the status file path durably: create it (and
// archive_status first, durably, if it is missing), fsync it, fsync
// archive_status. An existing file is kept.
func (a *ArchiveStatus) createStatusFile(path string) error {
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

// ForceDone is XLogArchiveForceDone: mark name archived without archiving
// it, for a segment that this node did not produce and must not archive
// with archive_mode = on (a standby's streamed segments, XLogWalRcvClose;
// segments restored from the archive, KeepFileRestoredFromArchive). An
// existing .ready is renamed to .done, else .done is created; both
// durably.
func (a *ArchiveStatus) ForceDone(name string) error {
	ready, done := statusPathOf(name, readySuffix), statusPathOf(name, doneSuffix)
	if err := a.e.Disk.Rename(ready, done); err == nil {
		if err := a.e.Disk.SyncDir(StatusDir); err != nil {
			return fmt.Errorf("could not fsync directory %q: %w", StatusDir, err)
		}
		return nil
	} else if !errors.Is(err, env.ErrNotExist) {
		return fmt.Errorf("could not rename file %q to %q: %w", ready, done, err)
	}
	return a.createStatusFile(done)
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

// parseStatus splits a status file name into the segment file it names
// (of any timeline) and its suffix; it reports false for any other file's
// status (a .partial's, a history file's).
func (a *ArchiveStatus) parseStatus(name string) (segFile, string, bool) {
	for _, suffix := range []string{readySuffix, doneSuffix} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if tli, seg, ok := ParseSegmentNameTLI(a.cfg, base); ok {
				return segFile{tli: tli, seg: seg, name: base}, suffix, true
			}
		}
	}
	return segFile{}, "", false
}

// ReadyList returns the segments of timeline 1 that have a .ready file,
// oldest first (ReadyFiles, for tests).
func (a *ArchiveStatus) ReadyList() ([]uint64, error) {
	names, err := a.ReadyFiles()
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, n := range names {
		if seg, ok := ParseSegmentName(a.cfg, n); ok {
			out = append(out, seg)
		}
	}
	return out, nil
}

// ReadyFiles returns the files that have a .ready file, in the order
// pgarch_readyXlog hands them to the archiver (ready_file_comparator):
// timeline history files first, so that a new timeline's history reaches
// the archive before its WAL, then by name, which for segments is oldest
// first and, within a segment number, the older timeline first. A file
// that also has .done is included: the archiver finds its copy already
// archived and marks it done.
func (a *ArchiveStatus) ReadyFiles() ([]string, error) {
	_, names, err := a.statusFiles()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if base, ok := strings.CutSuffix(n, readySuffix); ok && base != "" {
			out = append(out, base)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if hi, hj := isHistoryFileName(out[i]), isHistoryFileName(out[j]); hi != hj {
			return hi
		}
		return out[i] < out[j]
	})
	return out, nil
}

// MarkDone is MarkDoneFile for segment seg of timeline 1.
func (a *ArchiveStatus) MarkDone(seg uint64) error { return a.MarkDoneFile(SegmentName(a.cfg, seg)) }

// MarkDoneFile renames <name>.ready to <name>.done and fsyncs
// archive_status (pgarch_archiveDone, a durable_rename). It is idempotent:
// with .ready already gone and .done present it only makes sure .done is
// durable.
func (a *ArchiveStatus) MarkDoneFile(name string) error {
	ready, done := statusPathOf(name, readySuffix), statusPathOf(name, doneSuffix)
	if err := a.e.Disk.Rename(ready, done); err != nil {
		if !errors.Is(err, env.ErrNotExist) {
			return fmt.Errorf("could not rename file %q to %q: %w", ready, done, err)
		}
		if ok, derr := a.IsDoneFile(name); derr != nil || !ok {
			return fmt.Errorf("could not rename file %q to %q: %w", ready, done, err)
		}
	}
	if err := a.e.Disk.SyncDir(StatusDir); err != nil {
		return fmt.Errorf("could not fsync directory %q: %w", StatusDir, err)
	}
	return nil
}

// IsDone is IsDoneFile for segment seg of timeline 1.
func (a *ArchiveStatus) IsDone(seg uint64) (bool, error) {
	return a.IsDoneFile(SegmentName(a.cfg, seg))
}

// IsDoneFile reports whether <name>.done exists: the file is archived.
func (a *ArchiveStatus) IsDoneFile(name string) (bool, error) {
	f, err := a.e.Disk.Open(statusPathOf(name, doneSuffix), env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}

// Cleanup is CleanupFile for segment seg of timeline 1.
func (a *ArchiveStatus) Cleanup(seg uint64) error { return a.CleanupFile(SegmentName(a.cfg, seg)) }

// CleanupFile removes both status files of name, if present, without
// fsyncing the directory (XLogArchiveCleanup; the caller fsyncs).
func (a *ArchiveStatus) CleanupFile(name string) error {
	var first error
	for _, suffix := range []string{readySuffix, doneSuffix} {
		p := statusPathOf(name, suffix)
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
// no-op unless c.ArchiveMode. Open and OpenOnTimeline call it (renotify),
// so the startup need not.
func RenotifyArchive(e *env.Env, c Config) error {
	if !c.ArchiveMode {
		return nil
	}
	files, err := listSegmentFiles(e, c)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return nil
	}
	last := files[len(files)-1]
	return renotify(e, c, files, last.seg, last.tli)
}

// renotify is RenotifyArchive given pg_wal's segment files and the
// segment the WAL is filling (cur) on its timeline tli. Only tli's own
// segments are notified: a segment of an older timeline in pg_wal was
// streamed or restored from the archive, which PostgreSQL marks .done at
// once (XLogWalRcvClose, KeepFileRestoredFromArchive with archive_mode =
// on), so a missing status there (a crash before XLogArchiveForceDone)
// is taken as done too rather than archived by this node. (PostgreSQL's
// XLogArchiveCheckDone would notify it; here a standby's first streamed
// segment may begin at a page, not at the segment's start, and must not
// reach the archive.)
func renotify(e *env.Env, c Config, files []segFile, cur uint64, tli uint32) error {
	a := NewArchiveStatus(e, c)
	set, names, err := a.statusFiles()
	if err != nil {
		return err
	}
	present := make(map[string]bool, len(files))
	for _, f := range files {
		present[f.name] = true
	}
	removed := 0
	for _, n := range names { // sorted, so the removals are in a fixed order
		f, suffix, ok := a.parseStatus(n)
		if !ok {
			continue // a .partial's or a history file's status
		}
		stale := f.seg >= cur ||
			(suffix == doneSuffix && !present[f.name]) ||
			(suffix == readySuffix && set[f.name+doneSuffix])
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
	for _, f := range files {
		if f.seg >= cur {
			break
		}
		if f.tli != tli || set[f.name+readySuffix] || set[f.name+doneSuffix] {
			continue
		}
		if err := a.NotifyFile(f.name); err != nil {
			return err
		}
		e.Logf("re-notified WAL segment %s for archiving", f.name)
	}
	return nil
}

// notifyArchive is XLogArchiveNotifySeg for the WAL writer: segment seg of
// the WAL's timeline is complete. A failure is logged, not raised (the
// startup and the next checkpoint re-notify).
func (w *WAL) notifyArchive(seg uint64) {
	name := SegmentNameTLI(w.cfg, w.timeline(), seg)
	if err := NewArchiveStatus(w.e, w.cfg).NotifyFile(name); err != nil {
		w.e.Logf("could not notify WAL segment %s for archiving: %v", name, err)
	}
}

// archivedPrefix returns how many of files (ascending by segment) may be
// removed: the leading run of complete (wholly flushed) segments whose
// .done exists (XLogArchiveCheckDone). The first segment without .done
// stops the run, so that pg_wal never has a hole (PostgreSQL checks each
// segment on its own; the archiver goes oldest first, so the two differ
// only after a lost status file). A segment of the WAL's timeline with
// neither .ready nor .done is re-notified; one of an older timeline with
// neither is taken as done (renotify says why). Without archive mode every
// segment may go.
func (w *WAL) archivedPrefix(files []segFile) int {
	if !w.cfg.ArchiveMode {
		return len(files)
	}
	a := NewArchiveStatus(w.e, w.cfg)
	set, _, err := a.statusFiles()
	if err != nil {
		w.e.Logf("could not read archive status: %v", err)
		return 0
	}
	complete := w.cfg.segOf(w.Flushed()) // segments before it are complete
	for i, f := range files {
		if f.seg >= complete {
			return i // never notify a segment the writer has not finished
		}
		if set[f.name+doneSuffix] || f.tli != w.timeline() && !set[f.name+readySuffix] {
			continue
		}
		if !set[f.name+readySuffix] {
			w.notifyArchive(f.seg)
		}
		return i
	}
	return len(files)
}

// cleanupArchiveStatus removes the status files of removed segments and
// fsyncs archive_status. Failures are logged: an orphan .done is harmless
// and RenotifyArchive removes it.
func (w *WAL) cleanupArchiveStatus(removed []segFile) {
	if !w.cfg.ArchiveMode || len(removed) == 0 {
		return
	}
	a := NewArchiveStatus(w.e, w.cfg)
	for _, f := range removed {
		if err := a.CleanupFile(f.name); err != nil {
			w.e.Logf("%v", err)
		}
	}
	if err := w.e.Disk.SyncDir(StatusDir); err != nil {
		w.e.Logf("could not fsync directory %q: %v", StatusDir, err)
	}
}
