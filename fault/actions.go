package fault

// Actions are what a fault does when its trigger fires. The simulator
// performs them; this file only names them, says which events each can act
// on, and holds their arguments.
//
// # Fault model
//
// For every action, what the engine must SURVIVE (carry on, or restart and
// recover, with every commit acknowledged under synchronous_commit=on intact,
// no partial transaction and no wrong answer) and what it must only DETECT
// (stop with a clear error or a PANIC; never return or persist wrong data).
//
//   - crash: power loss of the whole node. Unsynced writes are dropped, kept
//     at random, or torn at 512-byte sectors (mode=drop-all, random-subset,
//     torn; empty means the run's own crash mode), and directory entries
//     follow the disk model in simtest/world/disk.go. SURVIVE: recovery from WAL
//     must restore every acknowledged commit; full-page images repair pages
//     torn by the crash. With rename=non-atomic (a file system that does not
//     keep a rename whole across power loss), a rename not yet made durable
//     by a directory fsync may leave neither name or both after the crash.
//     SURVIVE when every rename the engine depends on was followed by a
//     directory fsync, as PostgreSQL's durable_rename does; otherwise DETECT:
//     refuse to start with a clear error, never run on a stale file.
//   - kill: one process dies abnormally (proc=NAME or role=ROLE, else the
//     process that raised the event). The page cache belongs to the kernel,
//     so nothing written is lost, but shared memory may hold half-done work:
//     locks held, a buffer half modified. SURVIVE: as in PostgreSQL, the
//     postmaster kills every other process, reinitializes shared memory and
//     runs crash recovery; acknowledged commits survive.
//   - pause: a process stops for a virtual duration (for=DURATION). SURVIVE:
//     correctness must never depend on timing. Waiters may time out with a
//     clear error, which is not a failure.
//   - fsync-eio: fsync returns EIO, and the kernel drops the dirty data and
//     marks it clean, so a retried fsync succeeds and the data is gone (the
//     2018 "fsyncgate" behaviour of Linux). DETECT with a PANIC, as
//     PostgreSQL does since then: an engine that retries the fsync and
//     carries on has lost data silently. The crash recovery that follows the
//     PANIC redoes the lost changes from WAL, so the node as a whole
//     SURVIVES; a failed WAL fsync PANICs before the commit is acknowledged.
//   - write-eio: a write returns EIO and stores nothing. SURVIVE: a data
//     page write fails with a clear error and the buffer stays dirty to be
//     written again; a WAL write failure is a PANIC (as in PostgreSQL)
//     followed by recovery; no commit whose WAL was not written and synced
//     is acknowledged.
//   - read-eio: a read returns EIO. SURVIVE: the query fails with a clear
//     error and a later read may succeed; never a made-up page.
//   - enospc: a write returns ENOSPC and stores nothing. SURVIVE, as for
//     write-eio: data writes fail with a clear error and stay dirty, WAL
//     writes PANIC, nothing acknowledged is lost.
//   - torn-write: a write stores only some of its 512-byte sectors but
//     reports success. DETECT: reading the page back must fail its checksum
//     with a clear error; crash recovery may repair it from a full-page
//     image, but that is not required.
//   - lost-write: a write reports success but is never stored, so the file
//     keeps an older, self-consistent page with a valid checksum. Neither
//     PostgreSQL nor this engine can detect that in general when it reads
//     the page back. The engine must not make it worse (no crash of its own
//     making); a run in which it fired is a test of the checkers, which
//     should report the stale data the engine then serves.
//   - misdirected-write: a write reports success but lands at offset+by
//     (by=BYTES, default 8192, may be negative). DETECT at the place it
//     landed: the page checksum mixes in the block number, as PostgreSQL's
//     does, so a page read at the wrong block fails its checksum. The place
//     it was meant for suffers a lost write (see lost-write).
//   - bitflip: latent corruption, bits=N (default 1) bits flipped in the
//     stored bytes a read covers, before the read. DETECT: a data page fails
//     its checksum with a clear error, never a wrong answer; a WAL record
//     fails its CRC, which redo takes for the end of WAL, as PostgreSQL
//     does, so the checkers may then report commits lost after that point.
//   - latency: a disk operation takes for=DURATION longer. SURVIVE: only
//     time changes.
//   - clock-skew: a timer (a sleep or a wait timeout) fires late or early by
//     up to max=DURATION. SURVIVE: timeouts and timed background work are
//     hints; correctness must not depend on when they fire.
//
// Actions whose effects the engine can survive are the ones Swarm prefers;
// the destructive ones (torn, lost and misdirected writes, bit flips) it
// draws rarely, because a run they hit is judged on detection alone.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ActionKind names an action. The zero value is no action: an Action whose
// Kind was never set fails Validate rather than silently being a crash.
type ActionKind uint8

const (
	actInvalid ActionKind = iota
	ActCrash
	ActKill
	ActPause
	ActFsyncEIO
	ActWriteEIO
	ActReadEIO
	ActENOSPC
	ActTornWrite
	ActLostWrite
	ActMisdirectedWrite
	ActBitFlip
	ActLatency
	ActClockSkew
	// ActPromote is a failover (simtest's failover.go): the primary
	// loses power and a standby is promoted (node=NAME picks it, else
	// standby 1). The swarm never draws it.
	ActPromote

	numActionKinds = iota
)

var actionNames = [numActionKinds]string{
	"", "crash", "kill", "pause", "fsync-eio", "write-eio", "read-eio", "enospc",
	"torn-write", "lost-write", "misdirected-write", "bitflip", "latency", "clock-skew", "promote",
}

func (k ActionKind) String() string {
	if k == actInvalid {
		return "ActionKind(0)"
	}
	return enumString(actionNames[:], uint8(k), "ActionKind")
}

// ParseActionKind returns the ActionKind named s.
func ParseActionKind(s string) (ActionKind, error) {
	if s == "" {
		return actInvalid, fmt.Errorf("unknown action %q", s)
	}
	v, err := enumParse(actionNames[:], s, "action")
	return ActionKind(v), err
}

func (k ActionKind) valid() bool { return k > actInvalid && k < numActionKinds }

// Applies reports whether an action of kind k can act on ev: crash, kill and
// pause on scheduler steps, injection points and disk operations; fsync-eio
// on fsyncs; the write faults on writes; read-eio and bitflip on reads;
// latency on any disk operation; clock-skew on timers only. State.Eval never
// evaluates a trigger on an event its action does not apply to, which is what
// makes nth count only the events a fault could act on.
func (k ActionKind) Applies(ev *Event) bool {
	switch k {
	case ActCrash, ActKill, ActPause:
		return ev.Kind == EventStep || ev.Kind == EventPoint || ev.Kind == EventDisk
	case ActFsyncEIO:
		return ev.Kind == EventDisk && ev.Op == OpSync
	case ActWriteEIO, ActENOSPC, ActTornWrite, ActLostWrite, ActMisdirectedWrite:
		return ev.Kind == EventDisk && ev.Op == OpWrite
	case ActReadEIO, ActBitFlip:
		return ev.Kind == EventDisk && ev.Op == OpRead
	case ActLatency:
		return ev.Kind == EventDisk
	case ActClockSkew:
		return ev.Kind == EventTimer
	case ActPromote:
		return ev.Kind == EventStep || ev.Kind == EventPoint || ev.Kind == EventDisk
	}
	panic("fault: Applies on invalid action kind " + k.String())
}

// Crash modes. The empty mode means the run's own crash mode.
const (
	ModeDropAll      = "drop-all"
	ModeRandomSubset = "random-subset"
	ModeTorn         = "torn"
)

// Argument defaults and bounds. The bounds are far beyond any useful value;
// they exist so that a typo (or a fuzzer) cannot ask the simulator for a
// 290-year pause or a flip of more bits than a page has.
const (
	// DefaultMisdirectBy is the default by= of misdirected-write: the next
	// 8 KiB page.
	DefaultMisdirectBy = 8192
	// DefaultBitFlipBits is the default bits= of bitflip.
	DefaultBitFlipBits = 1

	maxMisdirectBy = 1 << 30
	maxFlipBits    = 8 * 8192
	maxArgDuration = 24 * time.Hour
	maxTimes       = 1_000_000_000
)

// Action is what a fault does and its arguments. Only the fields its Kind
// takes may be set (Validate checks it), so that two equal plans print the
// same and a printed plan parses back to an equal one.
type Action struct {
	Kind ActionKind
	// Mode is the crash mode: "", ModeDropAll, ModeRandomSubset or ModeTorn
	// (crash).
	Mode string
	// NonAtomicRename makes renames not yet made durable non-atomic across
	// the crash (crash).
	NonAtomicRename bool
	// Proc names the process to kill or pause (kill, pause).
	Proc string
	// Role picks the process to kill or pause by role when Proc is empty and
	// HasRole is set (kill, pause). With neither, the action hits the process
	// that raised the event.
	Role    Role
	HasRole bool
	// For is the pause or the added latency (pause, latency).
	For time.Duration
	// Max bounds the clock skew (clock-skew).
	Max time.Duration
	// Bits is how many bits to flip (bitflip).
	Bits int
	// By is the misdirection offset in bytes (misdirected-write).
	By int64
	// Node names the standby to promote (promote; empty: the run's first
	// standby). Which names exist is the run's business (simtest checks
	// it against its standbys); here it is only a name.
	Node string
}

// Validate reports whether a is a well-formed action: a known kind, the
// arguments it needs, values in range and no field set that its kind does
// not take.
func (a Action) Validate() error {
	if !a.Kind.valid() {
		return fmt.Errorf("invalid action kind %d", uint8(a.Kind))
	}
	// used is a with only the fields a.Kind takes: anything else set shows
	// up as a difference.
	used := Action{Kind: a.Kind}
	switch a.Kind {
	case ActCrash:
		switch a.Mode {
		case "", ModeDropAll, ModeRandomSubset, ModeTorn:
		default:
			return fmt.Errorf("crash: unknown mode %q (want drop-all, random-subset or torn)", a.Mode)
		}
		used.Mode, used.NonAtomicRename = a.Mode, a.NonAtomicRename
	case ActKill, ActPause:
		if a.Kind == ActPause {
			if a.For == 0 {
				return fmt.Errorf("pause needs for=DURATION")
			}
			if err := checkArgDuration(a.Kind, "for", a.For); err != nil {
				return err
			}
			used.For = a.For
		}
		if a.Proc != "" && a.HasRole {
			return fmt.Errorf("%s: proc= and role= exclude each other", a.Kind)
		}
		if a.Proc != "" {
			if err := checkName(a.Proc); err != nil {
				return fmt.Errorf("%s: proc=: %v", a.Kind, err)
			}
		}
		if a.HasRole && a.Role >= numRoles {
			return fmt.Errorf("%s: invalid role %d", a.Kind, uint8(a.Role))
		}
		used.Proc, used.HasRole = a.Proc, a.HasRole
		if a.HasRole {
			used.Role = a.Role
		}
	case ActLatency:
		if a.For == 0 {
			return fmt.Errorf("latency needs for=DURATION")
		}
		if err := checkArgDuration(a.Kind, "for", a.For); err != nil {
			return err
		}
		used.For = a.For
	case ActClockSkew:
		if a.Max == 0 {
			return fmt.Errorf("clock-skew needs max=DURATION")
		}
		if err := checkArgDuration(a.Kind, "max", a.Max); err != nil {
			return err
		}
		used.Max = a.Max
	case ActBitFlip:
		if a.Bits < 1 || a.Bits > maxFlipBits {
			return fmt.Errorf("bitflip: bits must be in 1..%d, got %d", maxFlipBits, a.Bits)
		}
		used.Bits = a.Bits
	case ActMisdirectedWrite:
		if a.By == 0 || a.By > maxMisdirectBy || a.By < -maxMisdirectBy {
			return fmt.Errorf("misdirected-write: by must be non-zero and within ±%d, got %d", maxMisdirectBy, a.By)
		}
		used.By = a.By
	case ActPromote:
		if a.Node != "" {
			if err := checkName(a.Node); err != nil {
				return fmt.Errorf("promote: node=: %v", err)
			}
		}
		used.Node = a.Node
	}
	if used != a {
		return fmt.Errorf("%s: fields set that %s does not take", a.Kind, a.Kind)
	}
	return nil
}

func checkArgDuration(k ActionKind, arg string, d time.Duration) error {
	if d <= 0 || d > maxArgDuration {
		return fmt.Errorf("%s: %s must be in (0, %s], got %s", k, arg, formatDuration(maxArgDuration), formatDuration(d))
	}
	return nil
}

// newAction returns an action of kind k with its text defaults, before any
// argument is applied.
func newAction(k ActionKind) Action {
	a := Action{Kind: k}
	switch k {
	case ActBitFlip:
		a.Bits = DefaultBitFlipBits
	case ActMisdirectedWrite:
		a.By = DefaultMisdirectBy
	}
	return a
}

// setArg applies one key=value argument of the text form to a. Whether the
// result is complete (say, pause without for=) is Validate's business; setArg
// only rejects keys the kind does not take and values that do not parse.
func (a *Action) setArg(key, val string) error {
	bad := func(err error) error { return fmt.Errorf("%s: %s=: %v", a.Kind, key, err) }
	switch {
	case key == "mode" && a.Kind == ActCrash:
		switch val {
		case ModeDropAll, ModeRandomSubset, ModeTorn:
			a.Mode = val
		default:
			return fmt.Errorf("crash: unknown mode %q (want drop-all, random-subset or torn)", val)
		}
	case key == "rename" && a.Kind == ActCrash:
		switch val {
		case "atomic":
			a.NonAtomicRename = false
		case "non-atomic":
			a.NonAtomicRename = true
		default:
			return fmt.Errorf("crash: unknown rename %q (want atomic or non-atomic)", val)
		}
	case key == "proc" && (a.Kind == ActKill || a.Kind == ActPause):
		if err := checkName(val); err != nil {
			return bad(err)
		}
		a.Proc = val
	case key == "role" && (a.Kind == ActKill || a.Kind == ActPause):
		r, err := ParseRole(val)
		if err != nil {
			return bad(err)
		}
		a.Role, a.HasRole = r, true
	case key == "for" && (a.Kind == ActPause || a.Kind == ActLatency):
		d, err := parseDuration(val)
		if err != nil {
			return bad(err)
		}
		if err := checkArgDuration(a.Kind, key, d); err != nil {
			return err
		}
		a.For = d
	case key == "max" && a.Kind == ActClockSkew:
		d, err := parseDuration(val)
		if err != nil {
			return bad(err)
		}
		if err := checkArgDuration(a.Kind, key, d); err != nil {
			return err
		}
		a.Max = d
	case key == "bits" && a.Kind == ActBitFlip:
		n, err := strconv.Atoi(val)
		if err != nil {
			return bad(fmt.Errorf("not a number: %q", val))
		}
		a.Bits = n
	case key == "by" && a.Kind == ActMisdirectedWrite:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return bad(fmt.Errorf("not a number: %q", val))
		}
		a.By = n
	case key == "node" && a.Kind == ActPromote:
		if err := checkName(val); err != nil {
			return bad(err)
		}
		a.Node = val
	default:
		return fmt.Errorf("%s: unknown argument %q", a.Kind, key)
	}
	return nil
}

// appendArgs appends a's arguments in canonical order, each preceded by a
// space, leaving out the ones equal to their defaults.
func (a Action) appendArgs(b []byte) []byte {
	switch a.Kind {
	case ActCrash:
		if a.Mode != "" {
			b = append(b, " mode="...)
			b = append(b, a.Mode...)
		}
		if a.NonAtomicRename {
			b = append(b, " rename=non-atomic"...)
		}
	case ActKill, ActPause:
		if a.Kind == ActPause {
			b = append(b, " for="...)
			b = append(b, formatDuration(a.For)...)
		}
		if a.Proc != "" {
			b = append(b, " proc="...)
			b = append(b, a.Proc...)
		}
		if a.HasRole {
			b = append(b, " role="...)
			b = append(b, a.Role.String()...)
		}
	case ActLatency:
		b = append(b, " for="...)
		b = append(b, formatDuration(a.For)...)
	case ActClockSkew:
		b = append(b, " max="...)
		b = append(b, formatDuration(a.Max)...)
	case ActBitFlip:
		if a.Bits != DefaultBitFlipBits {
			b = append(b, " bits="...)
			b = strconv.AppendInt(b, int64(a.Bits), 10)
		}
	case ActMisdirectedWrite:
		if a.By != DefaultMisdirectBy {
			b = append(b, " by="...)
			b = strconv.AppendInt(b, a.By, 10)
		}
	case ActPromote:
		if a.Node != "" {
			b = append(b, " node="...)
			b = append(b, a.Node...)
		}
	}
	return b
}

// String prints a as in the text form: its kind and arguments.
func (a Action) String() string {
	return string(a.appendArgs([]byte(a.Kind.String())))
}

// formatDuration prints d as Go does, but with "us" for microseconds, so
// that the text form stays ASCII; time.ParseDuration reads both.
func formatDuration(d time.Duration) string {
	return strings.Replace(d.String(), "µ", "u", 1)
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		// time's message repeats the whole input with its own quoting;
		// ours is shorter and names the expected syntax.
		return 0, fmt.Errorf("bad duration %q (want e.g. 10ms, 1.5s)", s)
	}
	return d, nil
}
