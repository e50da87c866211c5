package db

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestControlRoundTrip: every field of the control file decodes as it was
// encoded, and a node that never was a standby nor promoted writes the
// bytes it wrote before backupStart, timeline and minRecoveryPoint
// existed (zero in their slots).
func TestControlRoundTrip(t *testing.T) {
	c := controlData{state: StateInArchiveRecovery, checkpoint: 0x1234, redo: 0x1200, nextXid: 99, segSize: 1 << 19,
		dataChecksumVersion: 1, backupStart: 0x1100, timeline: 3, minRecoveryPoint: 0x1300}
	got, err := decodeControl(c.encode())
	require.NoError(t, err)
	require.Equal(t, c, got)

	plain := controlData{state: StateInProduction, checkpoint: 0x40, redo: 0x28, nextXid: 3, segSize: 1 << 19, timeline: 1}
	b := plain.encode()
	require.Equal(t, make([]byte, 16), b[64:80], "backupStart and timeline slots of a plain node")
	require.Equal(t, make([]byte, 8), b[80:88], "minRecoveryPoint slot of a plain node")
	got, err = decodeControl(b)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	require.Equal(t, wal.InvalidLSN, got.minRecoveryPoint)

	b[81] ^= 1 // a flipped bit anywhere past the CRC is caught
	_, err = decodeControl(b)
	require.ErrorContains(t, err, "incorrect checksum")
}

// TestControlDataFitsOneSector: ControlFileData encodes into one sector
// (PG_CONTROL_MAX_SAFE_SIZE), the rest of which is zeros, so the one
// write update_controlfile makes is atomic; the planted bug's layout
// needs two.
func TestControlDataFitsOneSector(t *testing.T) {
	c := controlData{state: StateInArchiveRecovery, checkpoint: ^wal.LSN(0), redo: ^wal.LSN(0), nextXid: 1<<64 - 1, segSize: 1 << 30,
		dataChecksumVersion: 1, backupStart: ^wal.LSN(0), timeline: 1<<32 - 1, minRecoveryPoint: ^wal.LSN(0)}
	b := c.encode()
	require.Len(t, b, controlMaxSafeSize)
	require.Equal(t, make([]byte, controlMaxSafeSize-controlDataSize), b[controlDataSize:], "bytes past ControlFileData")
	require.Len(t, c.encodeIn(twoSectors), 2*controlMaxSafeSize)
}

// tornControl is a two-sector control file torn by a power loss: the
// first sector of next (the new checkpoint location) and the second of
// prev (the old REDO pointer).
func tornControl() (prev, next controlData, torn []byte) {
	prev = controlData{state: StateInProduction, checkpoint: 0x2000, redo: 0x1800, nextXid: 10, segSize: 1 << 16, timeline: 1}
	next = controlData{state: StateInProduction, checkpoint: 0x5000, redo: 0x4800, nextXid: 20, segSize: 1 << 16, timeline: 1}
	torn = append(next.encodeIn(twoSectors)[:controlMaxSafeSize:controlMaxSafeSize], prev.encodeIn(twoSectors)[controlMaxSafeSize:]...)
	return prev, next, torn
}

// TestTornControlFileDetected: a control file torn between two sectors
// fails ReadControlFile's CRC check; read without it, as planted bug
// control-two-sectors-no-crc reads it, it is believed: a new checkpoint
// location with an old REDO pointer.
func TestTornControlFileDetected(t *testing.T) {
	prev, next, torn := tornControl()
	_, err := decodeIn(torn, twoSectors, true)
	require.ErrorContains(t, err, "incorrect checksum in control file")
	_, err = decodeAny(torn)
	require.ErrorContains(t, err, "incorrect checksum in control file", "the checkers' decoder checks the CRC of either layout")

	got, err := decodeIn(torn, twoSectors, false)
	require.NoError(t, err, "the bug believes the torn file")
	require.Equal(t, next.checkpoint, got.checkpoint)
	require.Equal(t, prev.redo, got.redo)
	require.Equal(t, prev.nextXid, got.nextXid)
}

// initControl writes c as initdb's first control file, durably: global/
// made and its entry fsynced, as initdb does.
func initControl(t *testing.T, e *env.Env, bs bugs.Set, c controlData) {
	require.NoError(t, e.Disk.MkdirAll("global"))
	writeControl(e, bs, c)
	require.NoError(t, e.Disk.SyncDir("global"))
	require.NoError(t, e.Disk.SyncDir(""))
}

// controlPanic runs fn in a simulated process on a disk whose operations
// hook fails, and returns the PANIC it raised (nil if none).
func controlPanic(t *testing.T, hook func(op world.DiskOp) error, fn func(e *env.Env)) *env.PanicError {
	t.Helper()
	_, node := world.InSim(1, func(e *env.Env) {
		initControl(t, e, 0, controlData{state: StateShutdowned, checkpoint: 0x40, redo: 0x28, nextXid: 3, segSize: 1 << 16, timeline: 1})
	})
	node.Disk.SetHook(hook)
	st := node.Reboot(fn)
	if st.Kind != world.StopPanic {
		return nil
	}
	var pe *env.PanicError
	require.True(t, errors.As(st.Value.(error), &pe), "%v", st.Value)
	return pe
}

// TestControlFileErrorsPanic: an I/O error on the control file is a PANIC
// wherever it happens (update_controlfile's write, fsync and close,
// ReadControlFile's open and read), and so is a file whose CRC fails.
func TestControlFileErrorsPanic(t *testing.T) {
	c := controlData{state: StateInProduction, checkpoint: 0x80, redo: 0x60, nextXid: 5, segSize: 1 << 16, timeline: 1}
	failOn := func(kind world.DiskOpKind) func(op world.DiskOp) error {
		return func(op world.DiskOp) error {
			if op.Kind == kind && op.Path == controlPath {
				return env.EIO
			}
			return nil
		}
	}
	write := func(e *env.Env) { writeControl(e, 0, c) }
	read := func(e *env.Env) { readControl(e, 0) }
	for _, tc := range []struct {
		name string
		kind world.DiskOpKind
		fn   func(e *env.Env)
		msg  string
	}{
		{"write", world.OpWrite, write, `could not write file "global/pg_control"`},
		{"fsync", world.OpSync, write, `could not fsync file "global/pg_control"`},
		{"open for write", world.OpOpen, write, `could not open file "global/pg_control"`},
		{"open for read", world.OpOpen, read, `could not open file "global/pg_control"`},
		{"read", world.OpRead, read, `could not read file "global/pg_control"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pe := controlPanic(t, failOn(tc.kind), tc.fn)
			require.NotNil(t, pe, "an error on the control file must be a PANIC")
			require.Contains(t, pe.Msg, tc.msg)
		})
	}
	t.Run("crc", func(t *testing.T) {
		pe := controlPanic(t, nil, func(e *env.Env) {
			f, err := e.Disk.Open(controlPath, env.OpenExisting)
			require.NoError(t, err)
			b := c.encode()
			b[40] ^= 1
			_, err = f.WriteAt(b, 0)
			require.NoError(t, err)
			readControl(e, 0)
		})
		require.NotNil(t, pe)
		require.Contains(t, pe.Msg, "incorrect checksum in control file")
	})
	require.Nil(t, controlPanic(t, nil, func(e *env.Env) { write(e); require.Equal(t, c, readControl(e, 0)) }), "no error, no PANIC")
}

// TestControlPowerLossKeepsOneVersion: a power loss between the control
// file's write and its fsync, in the disk's torn mode, leaves the old
// version or the new one, never a mix (one sector). With planted bug
// control-two-sectors-no-crc the same power losses leave mixes, which
// readControl believes: a checkpoint location and a REDO pointer from
// two different checkpoints.
func TestControlPowerLossKeepsOneVersion(t *testing.T) {
	prev, next, _ := tornControl()
	for _, bs := range []bugs.Set{0, bugs.Set(0).With(bugs.ControlTwoSectorsNoCRC)} {
		seen := map[string]int{}
		for seed := uint64(1); seed <= 32; seed++ {
			_, node := world.InSim(seed, func(e *env.Env) {
				initControl(t, e, bs, prev)
				f, err := e.Disk.Open(controlPath, env.OpenExisting)
				require.NoError(t, err)
				_, err = f.WriteAt(next.encodeIn(layoutFor(bs)), 0) // update_controlfile's write, not yet its fsync
				require.NoError(t, err)
			})
			node.Disk.Crash(world.NewRand(seed), world.CrashTorn)
			var got controlData
			require.Equal(t, world.StopAllDone, node.Reboot(func(e *env.Env) { got = readControl(e, bs) }).Kind)
			switch {
			case got == prev:
				seen["old"]++
			case got == next:
				seen["new"]++
			default:
				require.True(t, bs.Has(bugs.ControlTwoSectorsNoCRC), "seed %d: a one-sector control file came back as a mix: %+v", seed, got)
				require.True(t, got.checkpoint != got.redo+0x800, "a mix pairs one checkpoint's location with another's REDO")
				seen["mix"]++
			}
		}
		t.Logf("bugs %v: %v", bs, seen)
		require.Positive(t, seen["old"])
		require.Positive(t, seen["new"])
		if bs.Has(bugs.ControlTwoSectorsNoCRC) {
			require.Positive(t, seen["mix"], "the bug's two sectors tear")
		}
	}
}
