package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// The control file (global/pg_control, ControlFileData): where the last
// checkpoint is, and the cluster state. It is one 512-byte sector rewritten
// in place and fsynced, which is atomic on the disks PostgreSQL supports
// (PG_CONTROL_MAX_SAFE_SIZE); a CRC guards it all the same.
const (
	controlPath = "global/pg_control"
	controlSize = 512
	controlVer  = 3 // 3: data_checksum_version
)

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

func (c controlData) encode() []byte {
	b := make([]byte, controlSize)
	copy(b, controlMagic[:])
	binary.LittleEndian.PutUint32(b[8:], controlVer)
	binary.LittleEndian.PutUint32(b[16:], uint32(c.state))
	binary.LittleEndian.PutUint64(b[24:], uint64(c.checkpoint))
	binary.LittleEndian.PutUint64(b[32:], uint64(c.redo))
	binary.LittleEndian.PutUint64(b[40:], uint64(c.nextXid))
	binary.LittleEndian.PutUint64(b[48:], uint64(c.segSize))
	binary.LittleEndian.PutUint32(b[56:], c.dataChecksumVersion)
	binary.LittleEndian.PutUint64(b[64:], uint64(c.backupStart))
	if c.timeline > 1 {
		binary.LittleEndian.PutUint32(b[72:], c.timeline)
	}
	binary.LittleEndian.PutUint64(b[80:], uint64(c.minRecoveryPoint))
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[16:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func decodeControl(b []byte) (controlData, error) {
	if len(b) != controlSize {
		return controlData{}, fmt.Errorf("control file has %d bytes, want %d", len(b), controlSize)
	}
	if [8]byte(b[:8]) != controlMagic {
		return controlData{}, errors.New("control file has a bad magic number")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != controlVer {
		return controlData{}, fmt.Errorf("control file version %d, want %d", v, controlVer)
	}
	if crc32.Checksum(b[16:], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b[12:]) {
		return controlData{}, errors.New("incorrect checksum in control file")
	}
	tli := binary.LittleEndian.Uint32(b[72:])
	if tli == 0 {
		tli = 1
	}
	return controlData{
		timeline:   tli,
		state:      State(binary.LittleEndian.Uint32(b[16:])),
		checkpoint: wal.LSN(binary.LittleEndian.Uint64(b[24:])),
		redo:       wal.LSN(binary.LittleEndian.Uint64(b[32:])),
		nextXid:    xact.XID(binary.LittleEndian.Uint64(b[40:])),
		segSize:    int64(binary.LittleEndian.Uint64(b[48:])),

		dataChecksumVersion: binary.LittleEndian.Uint32(b[56:]),
		backupStart:         wal.LSN(binary.LittleEndian.Uint64(b[64:])),
		minRecoveryPoint:    wal.LSN(binary.LittleEndian.Uint64(b[80:])),
	}, nil
}

// writeControl is UpdateControlFile: write the sector in place, then fsync;
// a failed fsync is a PANIC.
func writeControl(e *env.Env, c controlData) error {
	f, err := e.Disk.Open(controlPath, env.OpenCreate)
	if err != nil {
		return fmt.Errorf("could not open control file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(c.encode(), 0); err != nil {
		return fmt.Errorf("could not write control file: %w", err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync control file: %v", err)
	}
	e.ControlUpdated(uint64(c.checkpoint), uint64(c.redo))
	e.Inject(PointAfterControl)
	return nil
}

func readControl(e *env.Env) (controlData, error) {
	f, err := e.Disk.Open(controlPath, env.OpenExisting)
	if err != nil {
		return controlData{}, fmt.Errorf("could not open control file %q: %w", controlPath, err)
	}
	defer f.Close()
	b := make([]byte, controlSize)
	n, err := f.ReadAt(b, 0)
	if err != nil && n != controlSize {
		return controlData{}, fmt.Errorf("could not read control file: %w", err)
	}
	return decodeControl(b)
}

// ControlPath is the control file's path, for checkers that read it off
// the disk.
const ControlPath = controlPath

// ControlRedo decodes a control file image and returns the REDO pointer
// of the checkpoint it names (checkPointCopy.redo), for checkers that read
// what a crash would leave.
func ControlRedo(b []byte) (wal.LSN, error) {
	c, err := decodeControl(b)
	return c.redo, err
}

// ControlMinRecoveryPoint decodes a control file's minRecoveryPoint
// (InvalidLSN when none), for checkers that read it off a disk or a write.
func ControlMinRecoveryPoint(b []byte) (wal.LSN, error) {
	c, err := decodeControl(b)
	return c.minRecoveryPoint, err
}
