package buffer_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/simtest/world"
)

// The model-based test drives one process through a random sequence of
// buffer-pool operations and compares every read with a model: a slice of
// block versions, plus the versions as of the last checkpoint, which is
// exactly what a drop-all power loss must leave. Operations are data
// (printable, drawn up front) so that rapid can shrink a failing sequence;
// they run inside the simulator, split into incarnations by crashes.

type opKind int

const (
	opModify opKind = iota
	opRead
	opPin
	opUnpin
	opExtend
	opCheckpoint
	opBgwriter
	opCrash
	numOpKinds
)

var opNames = [...]string{"modify", "read", "pin", "unpin", "extend", "checkpoint", "bgwriter", "crash"}

type op struct {
	Kind opKind
	Arg  int // block (as an index into the current blocks), pin index, or page limit
}

func (o op) String() string { return fmt.Sprintf("%s(%d)", opNames[o.Kind], o.Arg) }

const modelBuffers = 3

type modelState struct {
	versions []uint64 // current version of each block
	durable  []uint64 // versions at the last checkpoint
	pinned   []buffer.Buffer
}

// runOps runs one incarnation's operations. A mismatch panics, which ends
// the run with StopPanic and the message.
func runOps(e *env.Env, w *fakeWAL, m *modelState, ops []op, first bool) {
	f := newFixture(e, modelBuffers, w)
	if first {
		ok(f.sm.Create(rel, smgr.MainForkNum, false))
		_, err := f.pool.BufferSync()
		ok(err)
	}
	m.pinned = nil
	distinctPinned := func() int {
		s := slices.Clone(m.pinned)
		slices.Sort(s)
		return len(slices.Compact(s))
	}
	for i, o := range ops {
		n := len(m.versions)
		switch o.Kind {
		case opModify, opRead, opPin:
			if n == 0 {
				continue
			}
			blk := smgr.BlockNumber(o.Arg % n)
			b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blk)
			if err != nil {
				check(errors.Is(err, buffer.ErrNoUnpinnedBuffers) && distinctPinned() == modelBuffers,
					"op %d %v: %v with %d distinct buffers pinned", i, o, err, distinctPinned())
				continue
			}
			switch o.Kind {
			case opModify:
				m.versions[blk]++
				f.modify(b, blk, m.versions[blk])
				f.pool.ReleaseBuffer(b)
			case opRead:
				f.pool.LockBuffer(b, buffer.Share)
				v, err := pageVersion(f.pool.BufferGetPage(b), uint32(blk))
				f.pool.UnlockReleaseBuffer(b)
				ok(err)
				check(v == m.versions[blk], "op %d %v: block %d version %d, model %d", i, o, blk, v, m.versions[blk])
			case opPin:
				m.pinned = append(m.pinned, b)
			}
		case opUnpin:
			if len(m.pinned) == 0 {
				continue
			}
			j := o.Arg % len(m.pinned)
			f.pool.ReleaseBuffer(m.pinned[j])
			m.pinned = slices.Delete(m.pinned, j, j+1)
		case opExtend:
			b, blk, err := f.pool.ExtendBuffer(rel, smgr.MainForkNum)
			if err != nil {
				check(errors.Is(err, buffer.ErrNoUnpinnedBuffers) && distinctPinned() == modelBuffers,
					"op %d %v: %v", i, o, err)
				continue
			}
			check(int(blk) == n, "op %d: extended block %d, model has %d", i, blk, n)
			m.versions = append(m.versions, 1)
			f.modify(b, blk, 1)
			f.pool.ReleaseBuffer(b)
		case opCheckpoint:
			_, err := f.pool.BufferSync()
			ok(err)
			m.durable = slices.Clone(m.versions)
		case opBgwriter:
			written, err := f.pool.BgBufferSync(o.Arg%4 + 1)
			ok(err)
			check(written <= o.Arg%4+1, "bgwriter wrote %d over its limit", written)
		}
		ok(f.pool.CheckInvariants())
	}
	// Every block reads back as the model says, pinned or not.
	for blk := range m.versions {
		if distinctPinned() == modelBuffers {
			break
		}
		v, err := f.readVersion(smgr.BlockNumber(blk))
		ok(err)
		check(v == m.versions[blk], "final: block %d version %d, model %d", blk, v, m.versions[blk])
	}
}

func TestModelRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) op {
			return op{
				Kind: opKind(rapid.IntRange(0, int(numOpKinds)-1).Draw(t, "kind")),
				Arg:  rapid.IntRange(0, 15).Draw(t, "arg"),
			}
		}), 1, 80).Draw(rt, "ops")
		seed := rapid.Uint64().Draw(rt, "seed")

		// Split the sequence into incarnations at each crash.
		var parts [][]op
		cur := []op{}
		for _, o := range ops {
			if o.Kind == opCrash {
				parts = append(parts, cur)
				cur = []op{}
				continue
			}
			cur = append(cur, o)
		}
		parts = append(parts, cur)

		w := &fakeWAL{}
		m := &modelState{}
		st, node := world.InSim(seed, func(e *env.Env) { runOps(e, w, m, parts[0], true) })
		for i := 1; ; i++ {
			if st.Kind != world.StopAllDone {
				rt.Fatalf("incarnation %d: %s\nops %s", i, st, strings.Trim(fmt.Sprint(ops), "[]"))
			}
			if i == len(parts) {
				break
			}
			// Power loss: only the last checkpoint's versions survive.
			node.Disk.Crash(world.NewRand(seed+uint64(i)), world.CrashDropAll)
			m.versions = slices.Clone(m.durable)
			part := parts[i]
			st = node.Reboot(func(e *env.Env) { runOps(e, w, m, part, false) })
		}
	})
}
