package proc

// The archiver (pgarch.c): with archive_mode = on, it copies every
// completed WAL segment to the archive directory, oldest first, and marks
// it archived, which is what lets the checkpoint remove it from pg_wal.
//
// One segment (pgarch_ArchiverCopyLoop, then pgarch_archiveXlog with a
// built-in archive command that behaves like the documented
// "test ! -f archive/%f && cp pg_wal/%p archive/%f", made durable):
//
//  1. take the first pg_wal/archive_status/<seg>.ready (pgarch_readyXlog:
//     a timeline history file first, else the oldest segment; <seg> may
//     also be a segment of a later timeline or an old timeline's last
//     segment renamed <seg>.partial at a promotion);
//  2. if archive/<seg> already holds an identical copy, fsync it and the
//     archive directory and go to 8; if it holds a different one, fail (a
//     safe archive_command never overwrites an archived file);
//  3. write pg_wal/<seg> to archive/<seg>.tmp (a fresh file);
//     Inject("archiver-after-copy");
//  4. fsync archive/<seg>.tmp; Inject("archiver-after-fsync");
//  5. read the copy back and compare it with the segment (a write the disk
//     lost or tore without an error is caught here, not in a restore);
//  6. rename archive/<seg>.tmp to archive/<seg>;
//  7. fsync the archive directory;
//  8. rename <seg>.ready to <seg>.done and fsync archive_status
//     (pgarch_archiveDone).
//
// Fault model: what a crash (power loss: unsynced data and directory
// entries may vanish, renames may be non-atomic) leaves at each point, and
// why the next archiver pass repairs it. The .ready file is durable before
// step 1 (wal.ArchiveStatus.Notify), and nothing before step 8 touches it,
// so after a crash anywhere before step 8 finishes the segment is still
// .ready (or, if the .ready itself was lost, the startup re-creates it:
// wal.Open calls wal.RenotifyArchive) and is archived again:
//
//   - during 3, or after it (archiver-after-copy): archive/<seg>.tmp is
//     missing, partial or torn; archive/<seg> does not exist. The next pass
//     removes the leftover .tmp (ArchiverMain removes every *.tmp when it
//     starts; step 3 removes its own) and copies afresh.
//   - after 4 (archiver-after-fsync), or after 5: .tmp is complete and
//     durable, but may lack its name if the archive directory's entry for
//     it was never fsynced; archive/<seg> does not exist: as above.
//   - after 6, before 7: the rename may be lost, kept, or (non-atomic)
//     half-done, leaving .tmp, archive/<seg>, or both; whichever names
//     exist hold the complete, fsynced copy. The next pass finds the
//     identical archive/<seg> (step 2) and marks it done, or copies again.
//   - after 7, before or during 8: archive/<seg> is durable; .ready is
//     still there, or with a non-atomic rename of .ready to .done, .ready
//     and .done both, or neither (then the startup re-notifies). The next
//     pass takes step 2 and marks it done; .done wins where both exist.
//   - after 8: done; the checkpoint may now remove the segment and then its
//     .done (a .done that outlives its segment is an orphan the startup
//     removes; a .ready whose segment is gone is removed in step 1, as
//     pgarch_ArchiverCopyLoop removes "orphan archive status files").
//
// A segment therefore never leaves pg_wal (which needs a durable .done)
// before a durable, complete, verified copy of it is in the archive, and
// every crash leaves either that, or a .ready that makes the archiver try
// again. Disk errors (EIO, ENOSPC, a failed fsync) are logged and the pass
// stops: the same segment is retried on the next wake-up, as PostgreSQL
// retries a failing archive_command, and newer segments wait behind it.
// They are never a PANIC: the archiver only reads pg_wal, and a failed
// fsync of an archive copy is harmless because the copy is written afresh
// (a new file) before it is fsynced again.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// The archiver's injection points (see points.go).
const (
	PointArchiverAfterCopy  = "archiver-after-copy"
	PointArchiverAfterFsync = "archiver-after-fsync"
)

// archiverChunk is the size of each read and write of a copy.
const archiverChunk = 64 << 10

// archiveTempSuffix names a copy in progress.
const archiveTempSuffix = ".tmp"

// ArchiverConfig configures the archiver.
type ArchiverConfig struct {
	// WAL must be the server's WAL configuration (the segment size names
	// the files); archive mode must be on in it for segments to be kept
	// until archived.
	WAL wal.Config
	// ArchiveDir is where copies go, relative to the data directory (the
	// destination of archive_command), or to ArchiveDisk's root.
	ArchiveDir string
	// ArchiveDisk, when set, is the disk the archive is on: shared
	// storage that archive_command reaches from this node, as the
	// archive of a primary and of the standby promoted after it must be
	// one (the simulation's failover gives the promoted standby the
	// disk of the old primary's machine, where the archive always was).
	// Nil is the data directory's own disk.
	ArchiveDisk env.Disk
	// Delay is how long the archiver sleeps between passes. PostgreSQL's
	// archiver waits on its latch, which a completed segment sets, with a
	// 60 s timeout (PGARCH_AUTOWAKE_INTERVAL); here it simply wakes every
	// Delay.
	Delay time.Duration
	// Bugs are the planted bugs (the server's; the postmaster copies them
	// in).
	Bugs bugs.Set
}

// DefaultArchiverConfig is PostgreSQL's default WAL with archive mode on,
// archiving to "archive" every second.
func DefaultArchiverConfig() ArchiverConfig {
	w := wal.DefaultConfig()
	w.ArchiveMode = true
	return ArchiverConfig{WAL: w, ArchiveDir: "archive", Delay: time.Second}
}

// Validate rejects a configuration the archiver cannot run with.
func (c ArchiverConfig) Validate() error {
	if err := c.WAL.Validate(); err != nil {
		return err
	}
	dir := path.Clean(c.ArchiveDir)
	switch {
	case c.Delay <= 0:
		return errors.New("the archiver delay must be positive")
	case c.ArchiveDir == "" || dir == "." || strings.HasPrefix(dir, "/") || dir == ".." || strings.HasPrefix(dir, "../"):
		return fmt.Errorf("invalid archive directory %q", c.ArchiveDir)
	case dir == wal.Dir || strings.HasPrefix(dir, wal.Dir+"/"):
		return fmt.Errorf("the archive directory %q must not be inside %s", c.ArchiveDir, wal.Dir)
	}
	return nil
}

// archiver is one archiver process's state.
type archiver struct {
	e        *env.Env
	ad       env.Disk // the archive's disk (ArchiveDisk, or e.Disk)
	cfg      ArchiverConfig
	dir      string
	st       *wal.ArchiveStatus
	dirReady bool // the archive directory exists durably
	src, dst []byte
}

func newArchiver(e *env.Env, cfg ArchiverConfig) *archiver {
	if err := cfg.Validate(); err != nil {
		panic("proc: archiver: " + err.Error())
	}
	ad := cfg.ArchiveDisk
	if ad == nil {
		ad = e.Disk
	}
	return &archiver{e: e, ad: ad, cfg: cfg, dir: path.Clean(cfg.ArchiveDir), st: wal.NewArchiveStatus(e, cfg.WAL)}
}

// ArchiverMain is the archiver process (PgArchiverMain, pgarch_MainLoop):
// it archives whatever is ready, sleeps Delay, and again, forever. It
// never returns and never PANICs: failures are logged and retried.
func ArchiverMain(e *env.Env, cfg ArchiverConfig) {
	a := newArchiver(e, cfg)
	if a.prepare() == nil {
		a.removeTemps()
	}
	for {
		a.copyLoop()
		e.Clock.Sleep(cfg.Delay)
	}
}

// ArchiveReady runs one archiver pass (pgarch_ArchiverCopyLoop) in the
// calling process and returns how many segments it archived, and the
// error that stopped it early, if any.
func ArchiveReady(e *env.Env, cfg ArchiverConfig) (int, error) {
	return newArchiver(e, cfg).copyLoop()
}

// prepare creates the archive directory durably: every new directory's
// entry is fsynced in its parent.
func (a *archiver) prepare() error {
	if a.dirReady {
		return nil
	}
	if err := a.ad.MkdirAll(a.dir); err != nil {
		return fmt.Errorf("could not create archive directory %q: %w", a.dir, err)
	}
	for d := a.dir; d != "." && d != ""; d = path.Dir(d) { // bounded by the depth
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		if err := a.ad.SyncDir(parent); err != nil {
			return fmt.Errorf("could not fsync directory %q: %w", parent, err)
		}
	}
	a.dirReady = true
	return nil
}

// removeTemps removes the copies in progress a crash left behind.
func (a *archiver) removeTemps() {
	names, err := a.ad.List(a.dir)
	if err != nil {
		a.e.Logf("archiver: could not read directory %q: %v", a.dir, err)
		return
	}
	removed := false
	for _, n := range names {
		if strings.HasSuffix(n, archiveTempSuffix) {
			if err := a.ad.Remove(a.dir + "/" + n); err != nil && !errors.Is(err, env.ErrNotExist) {
				a.e.Logf("archiver: could not remove file %q: %v", a.dir+"/"+n, err)
				continue
			}
			removed = true
		}
	}
	if removed {
		if err := a.ad.SyncDir(a.dir); err != nil {
			a.e.Logf("archiver: could not fsync directory %q: %v", a.dir, err)
		}
	}
}

// copyLoop is pgarch_ArchiverCopyLoop: archive every ready file in
// pgarch_readyXlog's order (timeline history files first, then segments
// oldest first, wal.ArchiveStatus.ReadyFiles), stopping at the first
// failure (which is logged) so that segments are archived in order. It is
// bounded by the ready list's length.
func (a *archiver) copyLoop() (int, error) {
	if err := a.prepare(); err != nil {
		a.e.Logf("archiver: %v", err)
		return 0, err
	}
	ready, err := a.st.ReadyFiles()
	if err != nil {
		a.e.Logf("archiver: %v", err)
		return 0, err
	}
	if len(ready) > 1 {
		a.e.Sometimes("archiver-behind")
	}
	n := 0
	for _, name := range ready {
		if err := a.archiveSegment(name); err != nil {
			a.e.Sometimes("archiver-failed")
			err = fmt.Errorf("archiving write-ahead log file %q failed: %w", name, err)
			a.e.Logf("archiver: %v; will retry", err)
			return n, err
		}
		n++
	}
	return n, nil
}

// archiveSegment is pgarch_archiveXlog followed by pgarch_archiveDone, for
// one file of pg_wal (steps 1 to 8 of the header comment): a segment of
// any timeline, an old timeline's last segment renamed .partial, or a
// timeline history file.
func (a *archiver) archiveSegment(name string) error {
	e := a.e
	srcPath := wal.Dir + "/" + name
	dstPath := a.dir + "/" + name
	src, err := e.Disk.Open(srcPath, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		// The segment is gone (removed after a .done that a crash turned
		// back into .ready): the status file is an orphan.
		if err := a.st.CleanupFile(name); err != nil {
			return err
		}
		if err := e.Disk.SyncDir(wal.StatusDir); err != nil {
			return fmt.Errorf("could not fsync directory %q: %w", wal.StatusDir, err)
		}
		e.Logf("archiver: removed orphan archive status file for %q", name)
		return nil
	}
	if err != nil {
		return err
	}
	defer src.Close()
	size, err := src.Size()
	if err != nil {
		return err
	}

	// Step 2: an identical copy is already archived.
	if done, err := a.alreadyArchived(src, size, dstPath); err != nil || done {
		if err != nil {
			return err
		}
		if err := a.ad.SyncDir(a.dir); err != nil {
			return fmt.Errorf("could not fsync directory %q: %w", a.dir, err)
		}
		if err := a.st.MarkDoneFile(name); err != nil {
			return err
		}
		e.Logf("archiver: %q was already archived", name)
		return nil
	}

	// Steps 3 to 5: a fresh, durable, verified copy under a temporary name.
	tmpPath := dstPath + archiveTempSuffix
	if err := a.ad.Remove(tmpPath); err != nil && !errors.Is(err, env.ErrNotExist) {
		return fmt.Errorf("could not remove file %q: %w", tmpPath, err)
	}
	dst, err := a.ad.Open(tmpPath, env.OpenCreateExcl)
	if err != nil {
		return fmt.Errorf("could not create file %q: %w", tmpPath, err)
	}
	// Planted bug archiver-done-before-durable: the copy is never
	// fsynced, yet it is renamed into place and marked done.
	if a.cfg.Bugs.Has(bugs.ArchiverDoneBeforeDurable) {
		dst = noSyncFile{dst}
	}
	err = a.copyTo(dst, src, size)
	if err == nil {
		e.Inject(PointArchiverAfterCopy)
		if err = dst.Sync(); err != nil {
			err = fmt.Errorf("could not fsync file %q: %w", tmpPath, err)
		}
	}
	if err == nil {
		e.Inject(PointArchiverAfterFsync)
		var same bool
		if same, err = a.equal(src, dst, size); err == nil && !same {
			err = fmt.Errorf("the copy %q does not read back as %q", tmpPath, srcPath)
		}
	}
	dst.Close()
	if err != nil {
		return err // the .tmp is removed by the next attempt
	}

	// Steps 6 and 7: durable_rename into place.
	if err := a.ad.Rename(tmpPath, dstPath); err != nil {
		return fmt.Errorf("could not rename file %q to %q: %w", tmpPath, dstPath, err)
	}
	if err := a.ad.SyncDir(a.dir); err != nil {
		return fmt.Errorf("could not fsync directory %q: %w", a.dir, err)
	}

	// Step 8.
	if err := a.st.MarkDoneFile(name); err != nil {
		return err
	}
	e.Logf("archiver: archived write-ahead log file %q", name)
	return nil
}

// alreadyArchived reports whether dstPath holds an identical copy of src
// (fsyncing it, so that the copy is durable before it is marked done). A
// different file there is an error: it is never overwritten.
func (a *archiver) alreadyArchived(src env.File, size int64, dstPath string) (bool, error) {
	dst, err := a.ad.Open(dstPath, env.OpenExisting)
	if errors.Is(err, env.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer dst.Close()
	same, err := a.equal(src, dst, size)
	if err != nil {
		return false, err
	}
	if !same {
		return false, fmt.Errorf("archive file %q already exists with different contents", dstPath)
	}
	if err := dst.Sync(); err != nil {
		return false, fmt.Errorf("could not fsync file %q: %w", dstPath, err)
	}
	a.e.Sometimes("archiver-already-archived")
	return true, nil
}

// copyTo copies the size bytes of src to dst, chunk by chunk.
func (a *archiver) copyTo(dst, src env.File, size int64) error {
	if a.src == nil {
		a.src = make([]byte, archiverChunk)
	}
	for off := int64(0); off < size; off += archiverChunk { // size/chunk steps
		n := int(min(archiverChunk, size-off))
		if err := readFull(src, a.src[:n], off); err != nil {
			return err
		}
		if _, err := dst.WriteAt(a.src[:n], off); err != nil {
			return fmt.Errorf("could not write to file %q: %w", dst.Path(), err)
		}
	}
	return nil
}

// equal reports whether x and y both hold exactly size bytes and the same
// ones.
func (a *archiver) equal(x, y env.File, size int64) (bool, error) {
	ysize, err := y.Size()
	if err != nil {
		return false, err
	}
	if ysize != size {
		return false, nil
	}
	if a.src == nil {
		a.src = make([]byte, archiverChunk)
	}
	if a.dst == nil {
		a.dst = make([]byte, archiverChunk)
	}
	for off := int64(0); off < size; off += archiverChunk { // size/chunk steps
		n := int(min(archiverChunk, size-off))
		if err := readFull(x, a.src[:n], off); err != nil {
			return false, err
		}
		if err := readFull(y, a.dst[:n], off); err != nil {
			return false, err
		}
		if !bytes.Equal(a.src[:n], a.dst[:n]) {
			return false, nil
		}
	}
	return true, nil
}

// readFull reads exactly len(p) bytes at off.
func readFull(f env.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("could not read file %q at %d: %w", f.Path(), off, err)
}

// noSyncFile is a file whose fsync does nothing (the planted bug
// archiver-done-before-durable).
type noSyncFile struct{ env.File }

// Sync does not make the file durable.
func (noSyncFile) Sync() error { return nil }
