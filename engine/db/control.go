package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// The control file (global/pg_control, ControlFileData): where the last
// checkpoint is, and the cluster state, as PostgreSQL 15 keeps it
// (src/include/catalog/pg_control.h, xlog.c's WriteControlFile,
// ReadControlFile and UpdateControlFile, controldata_utils.c's
// update_controlfile and get_controlfile).
//
// # Fault model
//
//   - Atomicity: the encoded ControlFileData (controlDataSize bytes) fits
//     PG_CONTROL_MAX_SAFE_SIZE, one 512-byte sector, and is written as that
//     one sector in place. A sector write is atomic on the disks PostgreSQL
//     supports, and on the simulated disk (simtest/world/disk.go tears writes
//     only at sector boundaries), so a power loss before the fsync leaves
//     the old control file or the new one, never a mix.
//   - Detection: a CRC-32C covers every byte of the sector after it, and every
//     read checks it (ReadControlFile's "incorrect checksum in control
//     file"): a torn control file (two sectors of two versions, which the
//     planted bug control-two-sectors-no-crc writes) or a corrupted one is
//     refused, never believed.
//   - Errors: every open, read, write, fsync or close error of the control
//     file is a PANIC, as in update_controlfile and ReadControlFile: the
//     process dies and the postmaster goes through crash-restart (or, for
//     the startup process, gives up), never running on a control file it
//     could not write or read. A control file the startup process cannot
//     read ends startup, as ReadControlFile's PANIC ends the postmaster.
//
// Deviations: PostgreSQL zero-pads the file to PG_CONTROL_FILE_SIZE (8 kB)
// and writes all of it; pgdst writes the one sector that holds the data (the
// rest would be zeros, whatever a tear kept of them). PostgreSQL keeps
// ControlFileData in shared memory and writes it from there; pgdst re-reads
// the file where it updates one field (minRecoveryPoint, the timeline), so
// those reads are checked and PANIC on error too.
const (
	controlPath = "global/pg_control"
	// controlMaxSafeSize is PG_CONTROL_MAX_SAFE_SIZE: the most a control
	// file may hold and still be written atomically.
	controlMaxSafeSize = 512
	// controlSize is the bytes written and read: one sector.
	controlSize = controlMaxSafeSize
	// controlDataSize is sizeof(ControlFileData): the bytes encode fills.
	controlDataSize = 88
	// controlTwoSectorsSize is the file the planted bug
	// control-two-sectors-no-crc writes: ControlFileData grown past
	// PG_CONTROL_MAX_SAFE_SIZE, its checkPointCopy and what follows it in
	// a second sector.
	controlTwoSectorsSize = 2 * controlMaxSafeSize
	controlVer            = 3 // 3: data_checksum_version
)

// The static assertion of WriteControlFile and update_controlfile:
// "pg_control is too large for atomic disk writes". It fails to compile
// (a negative array length) if ControlFileData outgrows one sector.
var _ [controlMaxSafeSize - controlDataSize]byte

// State is DBState.
type State uint32

const (
	StateShutdowned      State = 1 // DB_SHUTDOWNED
	StateInCrashRecovery State = 4 // DB_IN_CRASH_RECOVERY
	StateInProduction    State = 6 // DB_IN_PRODUCTION
)

var controlMagic = [8]byte{'P', 'G', 'D', 'S', 'T', 'C', 'T', '2'}

type controlData struct {
	state      State
	checkpoint wal.LSN // the last checkpoint record
	redo       wal.LSN // its REDO pointer
	nextXid    xact.XID
	segSize    int64
	// dataChecksumVersion is data_checksum_version: 0 without data
	// checksums, PG_DATA_CHECKSUM_VERSION (1) with them; fixed at initdb.
	dataChecksumVersion uint32
	// backupStart is backupStartPoint: a standby made from a base backup
	// that began there is not consistent until it replays the backup's
	// XLOG_BACKUP_END. Zero, as on every node without a standby, it
	// leaves the encoded bytes what they were before it existed.
	backupStart wal.LSN
	// timeline is ThisTimeLineID (checkPointCopy.ThisTimeLineID): the
	// timeline the checkpoint is on. Timeline 1 is encoded as zero, so
	// that the control file of every node that was never promoted keeps
	// the bytes it had before timelines existed; decode gives 1 back.
	timeline uint32
	// minRecoveryPoint is minRecoveryPoint (minrecovery.go): a standby
	// restarted from this control file is consistent only once it has
	// replayed that far. Zero, as on every node that never wrote a page
	// in archive recovery, it leaves the encoded bytes as they were.
	minRecoveryPoint wal.LSN
}

// controlLayout is where ControlFileData's fields sit in the file. The
// magic number, version, CRC, state and checkpoint location always lead
// (pg_control_version, crc here, state, checkPoint); the fields from
// checkPointCopy on follow at redo.
type controlLayout struct {
	size int // the bytes written and read
	redo int // checkPointCopy.redo; nextXid and the rest follow it, 8 bytes apart
}

var (
	// oneSector is the faithful layout: everything in one sector.
	oneSector = controlLayout{size: controlSize, redo: 32}
	// twoSectors is planted bug control-two-sectors-no-crc's layout:
	// ControlFileData grown past PG_CONTROL_MAX_SAFE_SIZE, so that
	// checkPointCopy (the REDO pointer, nextXid, the timeline) and
	// minRecoveryPoint are in the second sector and the checkpoint
	// location in the first. A power loss before the fsync can keep
	// either sector of either version.
	twoSectors = controlLayout{size: controlTwoSectorsSize, redo: controlMaxSafeSize}
)

// layoutFor is the layout the engine writes and reads under bs.
func layoutFor(bs bugs.Set) controlLayout {
	if bs.Has(bugs.ControlTwoSectorsNoCRC) {
		return twoSectors
	}
	return oneSector
}

func (c controlData) encode() []byte { return c.encodeIn(oneSector) }

func (c controlData) encodeIn(l controlLayout) []byte {
	b := make([]byte, l.size)
	copy(b, controlMagic[:])
	binary.LittleEndian.PutUint32(b[8:], controlVer)
	binary.LittleEndian.PutUint32(b[16:], uint32(c.state))
	binary.LittleEndian.PutUint64(b[24:], uint64(c.checkpoint))
	r := l.redo
	binary.LittleEndian.PutUint64(b[r:], uint64(c.redo))
	binary.LittleEndian.PutUint64(b[r+8:], uint64(c.nextXid))
	binary.LittleEndian.PutUint64(b[r+16:], uint64(c.segSize))
	binary.LittleEndian.PutUint32(b[r+24:], c.dataChecksumVersion)
	binary.LittleEndian.PutUint64(b[r+32:], uint64(c.backupStart))
	if c.timeline > 1 {
		binary.LittleEndian.PutUint32(b[r+40:], c.timeline)
	}
	binary.LittleEndian.PutUint64(b[r+48:], uint64(c.minRecoveryPoint))
	if l == oneSector && r+56 != controlDataSize {
		panic(fmt.Sprintf("db: ControlFileData encodes to %d bytes, want %d", r+56, controlDataSize))
	}
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[16:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// decodeControl decodes a one-sector control file, its CRC checked.
func decodeControl(b []byte) (controlData, error) { return decodeIn(b, oneSector, true) }

// decodeIn is ReadControlFile's checks, in its order: the version (here
// with the magic number) first, whose mismatch says more than a bad CRC
// would, then the CRC ("incorrect checksum in control file"). checkCRC is
// false only under planted bug control-two-sectors-no-crc.
func decodeIn(b []byte, l controlLayout, checkCRC bool) (controlData, error) {
	if len(b) != l.size {
		return controlData{}, fmt.Errorf("control file has %d bytes, want %d", len(b), l.size)
	}
	if [8]byte(b[:8]) != controlMagic {
		return controlData{}, errors.New("control file has a bad magic number")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != controlVer {
		return controlData{}, fmt.Errorf("database files are incompatible with server: control file version %d, want %d", v, controlVer)
	}
	if checkCRC && crc32.Checksum(b[16:], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[12:]) {
		return controlData{}, errors.New("incorrect checksum in control file")
	}
	r := l.redo
	tli := binary.LittleEndian.Uint32(b[r+40:])
	if tli == 0 {
		tli = 1
	}
	return controlData{
		timeline:   tli,
		state:      State(binary.LittleEndian.Uint32(b[16:])),
		checkpoint: wal.LSN(binary.LittleEndian.Uint64(b[24:])),
		redo:       wal.LSN(binary.LittleEndian.Uint64(b[r:])),
		nextXid:    xact.XID(binary.LittleEndian.Uint64(b[r+8:])),
		segSize:    int64(binary.LittleEndian.Uint64(b[r+16:])),

		dataChecksumVersion: binary.LittleEndian.Uint32(b[r+24:]),
		backupStart:         wal.LSN(binary.LittleEndian.Uint64(b[r+32:])),
		minRecoveryPoint:    wal.LSN(binary.LittleEndian.Uint64(b[r+48:])),
	}, nil
}

// writeControl is update_controlfile (UpdateControlFile; WriteControlFile
// at initdb): the sector written in place, then fsynced, then closed, and
// every error on the way a PANIC ("could not write file ..."), since a
// checkpoint that cannot say where recovery starts must not carry on and
// remove the WAL before it. Between the write and the fsync a power loss
// keeps the old sector or the new one (PointControlBeforeFsync).
func writeControl(e *env.Env, bs bugs.Set, c controlData) {
	l := layoutFor(bs)
	f, err := e.Disk.Open(controlPath, env.OpenCreate)
	if err != nil {
		e.Panicf("could not open file %q: %v", controlPath, err)
	}
	b := c.encodeIn(l)
	if n, err := f.WriteAt(b, 0); err != nil || n != len(b) {
		if err == nil {
			err = env.ENOSPC // update_controlfile: "if write didn't set errno, assume problem is no disk space"
		}
		e.Panicf("could not write file %q: %v", controlPath, err)
	}
	e.Inject(PointControlBeforeFsync)
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", controlPath, err)
	}
	if err := f.Close(); err != nil {
		e.Panicf("could not close file %q: %v", controlPath, err)
	}
	e.ControlUpdated(uint64(c.checkpoint), uint64(c.redo))
	e.Inject(PointAfterControl)
}

// readControl is ReadControlFile: an open or read error, a short read, a
// foreign version or a bad CRC is a PANIC (PostgreSQL's FATAL for the last
// two, raised in the postmaster before any child runs, which ends the
// server as surely). Under planted bug control-two-sectors-no-crc the CRC
// is not checked, so a torn file is believed.
func readControl(e *env.Env, bs bugs.Set) controlData {
	l := layoutFor(bs)
	f, err := e.Disk.Open(controlPath, env.OpenExisting)
	if err != nil {
		e.Panicf("could not open file %q: %v", controlPath, err)
	}
	b := make([]byte, l.size)
	n, err := f.ReadAt(b, 0)
	_ = f.Close() // ReadControlFile's close(fd) is not checked either
	if n != l.size {
		if err != nil && !errors.Is(err, io.EOF) {
			e.Panicf("could not read file %q: %v", controlPath, err)
		}
		e.Panicf("could not read file %q: read %d of %d", controlPath, n, l.size)
	}
	c, err := decodeIn(b, l, l == oneSector)
	if err != nil {
		e.Panicf("%v", err)
	}
	return c
}

// ControlPath is the control file's path, for checkers that read it off
// the disk.
const ControlPath = controlPath

// ControlRedo decodes a control file image and returns the REDO pointer
// of the checkpoint it names (checkPointCopy.redo), for checkers that read
// what a crash would leave.
func ControlRedo(b []byte) (wal.LSN, error) {
	c, err := decodeAny(b)
	return c.redo, err
}

// ControlMinRecoveryPoint decodes a control file's minRecoveryPoint
// (InvalidLSN when none), for checkers that read it off a disk or a write.
func ControlMinRecoveryPoint(b []byte) (wal.LSN, error) {
	c, err := decodeAny(b)
	return c.minRecoveryPoint, err
}

// decodeAny decodes either layout, told apart by size, with its CRC
// checked: checkers read what is on disk whether or not planted bug
// control-two-sectors-no-crc wrote it, and want only a whole version.
func decodeAny(b []byte) (controlData, error) {
	if len(b) == controlTwoSectorsSize {
		return decodeIn(b, twoSectors, true)
	}
	return decodeControl(b)
}
