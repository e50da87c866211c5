package skel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// The control file (global/pg_control): one 512-byte sector holding where
// the last checkpoint is. It is rewritten in place with a single sector
// write and fsynced, which is atomic on the disks PostgreSQL supports
// (PG_CONTROL_MAX_SAFE_SIZE); a CRC guards it all the same.
const (
	controlPath = "global/pg_control"
	controlSize = 512
	controlVer  = 1
)

var controlMagic = [8]byte{'P', 'G', 'D', 'S', 'T', 'C', 'T', 'L'}

type controlData struct {
	checkpoint wal.LSN // the last checkpoint record
	redo       wal.LSN // its REDO pointer
}

func (c controlData) encode() []byte {
	b := make([]byte, controlSize)
	copy(b, controlMagic[:])
	binary.LittleEndian.PutUint32(b[8:], controlVer)
	binary.LittleEndian.PutUint64(b[16:], uint64(c.checkpoint))
	binary.LittleEndian.PutUint64(b[24:], uint64(c.redo))
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[16:], castagnoli))
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
	if crc32.Checksum(b[16:], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return controlData{}, errors.New("incorrect checksum in control file")
	}
	return controlData{
		checkpoint: wal.LSN(binary.LittleEndian.Uint64(b[16:])),
		redo:       wal.LSN(binary.LittleEndian.Uint64(b[24:])),
	}, nil
}

// writeControl is UpdateControlFile: write the sector in place, then fsync.
// A failed fsync is a PANIC, as everywhere a durability promise is at stake.
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
