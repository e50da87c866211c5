package clog_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// redoRec is one clog-relevant WAL record: a CLOG_ZEROPAGE (zero) or a
// status from a commit or abort record.
type redoRec struct {
	lsn    wal.LSN
	zero   bool
	pageno uint64
	xid    uint64
	status clog.Status
}

func (r redoRec) String() string {
	if r.zero {
		return fmt.Sprintf("%d:zero(%d)", r.lsn, r.pageno)
	}
	return fmt.Sprintf("%d:%d=%s", r.lsn, r.xid, r.status)
}

func replay(c *clog.CLOG, recs []redoRec) error {
	for _, r := range recs {
		var err error
		if r.zero {
			err = c.RedoZeroPage(r.pageno)
		} else {
			err = c.RedoSetStatus(r.xid, r.status, r.lsn)
		}
		if err != nil {
			return fmt.Errorf("redo %v: %w", r, err)
		}
	}
	return nil
}

// snapshotStatus reads the status and group LSN of every xid in xids.
func snapshotStatus(c *clog.CLOG, xids []uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	for _, x := range xids {
		st, lsn, err := c.GetStatus(x)
		if err != nil {
			return nil, err
		}
		out[x] = fmt.Sprintf("%s@%d", st, lsn)
	}
	return out, nil
}

// Replaying a WAL twice gives what replaying it once gives, statuses and
// group LSNs alike, and so does replaying it again after a checkpoint and a
// crash of any kind.
func TestRedoIdempotent(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		pages := rapid.Uint64Range(1, 40).Draw(rt, "pages")
		n := rapid.IntRange(1, 60).Draw(rt, "xacts")
		buffers := rapid.IntRange(2, 4).Draw(rt, "buffers")
		seed := rapid.Uint64().Draw(rt, "seed")
		var recs []redoRec
		lsn := wal.LSN(0)
		for p := uint64(1); p < pages; p++ {
			lsn++
			recs = append(recs, redoRec{lsn: lsn, zero: true, pageno: p})
		}
		used := map[uint64]bool{}
		var xids []uint64
		for range n {
			x := rapid.Uint64Range(clog.FirstNormalXid, pages*clog.XactsPerPage-1).Draw(rt, "xid")
			if used[x] {
				continue
			}
			used[x] = true
			xids = append(xids, x)
			final := []clog.Status{clog.Committed, clog.Aborted}[rapid.IntRange(0, 1).Draw(rt, "final")]
			if rapid.Bool().Draw(rt, "sub") {
				lsn++
				recs = append(recs, redoRec{lsn: lsn, xid: x, status: clog.SubCommitted})
			}
			lsn++
			recs = append(recs, redoRec{lsn: lsn, xid: x, status: final})
		}
		mode := world.CrashMode(rapid.IntRange(0, 2).Draw(rt, "crash"))

		run := func(times int, crash bool) map[uint64]string {
			var out map[uint64]string
			var err error
			st, node := world.InSim(seed, func(e *env.Env) {
				if err = clog.Bootstrap(e); err != nil {
					return
				}
				c, err2 := clog.Open(e, nil, clog.Config{Buffers: buffers, InRecovery: true})
				if err2 != nil {
					err = err2
					return
				}
				for range times {
					if err = replay(c, recs); err != nil {
						return
					}
				}
				if crash {
					err = c.Checkpoint()
				}
				if err == nil && !crash {
					out, err = snapshotStatus(c, xids)
				}
			})
			if st.Kind != world.StopAllDone || err != nil {
				rt.Fatalf("replay x%d: %v %v\n%s", times, st, err, st.Stack)
			}
			if crash {
				node.Disk.Crash(world.NewRand(seed), mode)
				stop := node.Reboot(func(e *env.Env) {
					c, err2 := clog.Open(e, nil, clog.Config{Buffers: buffers, InRecovery: true})
					if err2 != nil {
						err = err2
						return
					}
					if err = replay(c, recs); err == nil {
						out, err = snapshotStatus(c, xids)
					}
				})
				if stop.Kind != world.StopAllDone || err != nil {
					rt.Fatalf("replay after crash: %v %v\n%s", stop, err, stop.Stack)
				}
			}
			return out
		}
		once := run(1, false)
		if twice := run(2, false); fmt.Sprint(once) != fmt.Sprint(twice) {
			rt.Fatalf("replayed twice:\n%v\nonce:\n%v", twice, once)
		}
		if again := run(1, true); fmt.Sprint(once) != fmt.Sprint(again) {
			rt.Fatalf("replayed after a checkpoint and a %v crash:\n%v\nonce:\n%v", mode, again, once)
		}
	})
}

// The model-based test: a random history of xid assignment, commits
// (synchronous and asynchronous), aborts, sub-commits, lookups, WAL
// flushes, checkpoints and power losses, against a map of what each xid
// may read as. After a crash, recovery replays the durable WAL after the
// last checkpoint's REDO pointer, exactly as the startup process will.
//
// Checked throughout: every lookup is allowed by the model; a committed
// xid's group LSN is durable or reported as needing a flush whenever its
// commit record is not durable (the hint-bit rule); and no page reaches the
// disk with a committed xid whose commit record is not yet durable (WAL
// before data).

type opKind int

const (
	opAssign opKind = iota
	opCommitSync
	opCommitAsync
	opAbort
	opSubCommit
	opGet
	opFlush
	opCheckpoint
	opCrash
)

type op struct {
	kind opKind
	arg  int
}

func (o op) String() string {
	return fmt.Sprintf("%v(%d)", [...]string{"assign", "commit-sync", "commit-async", "abort", "subcommit", "get", "flush", "checkpoint", "crash"}[o.kind], o.arg)
}

var opGen = rapid.Custom(func(t *rapid.T) op {
	k := rapid.SampledFrom([]opKind{
		opAssign, opAssign, opAssign, opCommitSync, opCommitAsync, opCommitAsync,
		opAbort, opSubCommit, opGet, opGet, opFlush, opCheckpoint, opCrash,
	}).Draw(t, "kind")
	return op{kind: k, arg: rapid.IntRange(0, 1<<20).Draw(t, "arg")}
})

// allowed is a set of statuses, one bit per Status.
type allowed uint8

func only(s clog.Status) allowed         { return 1 << s }
func (a allowed) has(s clog.Status) bool { return a&(1<<s) != 0 }

type modelState struct {
	w         *fakeWAL
	log       []redoRec // every inserted record; cut at the durable end at a crash
	nextXid   uint64
	live      []uint64 // assigned, unfinished xids of this lifecycle
	sub       map[uint64]bool
	may       map[uint64]allowed // what each known xid may read as
	commitLSN map[uint64]wal.LSN // commit record LSN of every committed xid
	redo      wal.LSN            // REDO pointer of the last checkpoint
	ckptNext  uint64             // its nextXid
	buffers   int
}

// walBeforeData checks a page write against the WAL.
func (m *modelState) walBeforeData(path string, off int64, p []byte) error {
	var seg uint64
	if _, err := fmt.Sscanf(path, clog.Dir+"/%X", &seg); err != nil {
		return err
	}
	pg := seg*clog.PagesPerSegment + uint64(off)/clog.PageSize
	base := pg * clog.XactsPerPage
	for i, b := range p {
		if b == 0 {
			continue
		}
		for k := range uint64(4) {
			xid := base + uint64(i)*4 + k
			if statusIn(p, xid) != clog.Committed {
				continue
			}
			l, ok := m.commitLSN[xid]
			if !ok {
				return fmt.Errorf("page %d written with xid %d committed, which no commit record says", pg, xid)
			}
			if l > m.w.flushed {
				return fmt.Errorf("page %d written with xid %d committed at %d before the WAL was flushed past %d", pg, xid, l, m.w.flushed)
			}
		}
	}
	return nil
}

func (m *modelState) insert(r redoRec) wal.LSN {
	r.lsn = m.w.insert()
	m.log = append(m.log, r)
	return r.lsn
}

// run executes ops until the first crash and returns how many it used.
func (m *modelState) run(c *clog.CLOG, ops []op) (int, error) {
	for i, o := range ops {
		switch o.kind {
		case opAssign:
			// A stride of 1 most of the time, sometimes enough to cross
			// pages and segments; ExtendCLOG for every first xid passed.
			stride := []uint64{1, 1, 1, 7, 5000, 40000, clog.XactsPerSegment}[o.arg%7]
			xid := m.nextXid + stride - 1
			for x := (m.nextXid + clog.XactsPerPage - 1) / clog.XactsPerPage * clog.XactsPerPage; x <= xid; x += clog.XactsPerPage {
				zeroed, err := c.ExtendCLOG(x)
				if err != nil {
					return i, err
				}
				if !zeroed {
					return i, fmt.Errorf("ExtendCLOG(%d) zeroed nothing", x)
				}
				m.insert(redoRec{zero: true, pageno: clog.PageOf(x)})
			}
			m.nextXid = xid + 1
			m.live = append(m.live, xid)
			m.may[xid] = only(clog.InProgress)
		case opCommitSync, opCommitAsync, opAbort, opSubCommit:
			if len(m.live) == 0 {
				continue
			}
			j := o.arg % len(m.live)
			xid := m.live[j]
			if o.kind == opSubCommit {
				if m.sub[xid] {
					continue
				}
				// A sub-commit has no WAL record of its own.
				if err := c.SetStatus(xid, clog.SubCommitted, wal.InvalidLSN); err != nil {
					return i, err
				}
				m.sub[xid] = true
				m.may[xid] = only(clog.SubCommitted)
				continue
			}
			m.live = append(m.live[:j], m.live[j+1:]...)
			st := clog.Committed
			if o.kind == opAbort {
				st = clog.Aborted
			}
			l := m.insert(redoRec{xid: xid, status: st})
			commit := wal.InvalidLSN
			switch o.kind {
			case opCommitSync:
				m.w.Flush(l)
				m.commitLSN[xid] = l
			case opCommitAsync:
				commit = l
				m.commitLSN[xid] = l
			}
			if err := c.SetStatus(xid, st, commit); err != nil {
				return i, err
			}
			m.may[xid] = only(st)
		case opGet:
			xids := sortedXids(m.may)
			if len(xids) == 0 {
				continue
			}
			if err := m.check(c, xids[o.arg%len(xids)]); err != nil {
				return i, err
			}
		case opFlush:
			if m.w.inserted > 0 {
				m.w.Flush(wal.LSN(1 + o.arg%int(m.w.inserted)))
			}
		case opCheckpoint:
			redo := m.w.inserted // records after it are replayed
			if err := c.Checkpoint(); err != nil {
				return i, err
			}
			m.w.Flush(m.w.insert()) // the checkpoint record
			m.redo, m.ckptNext = redo, m.nextXid
		case opCrash:
			return i, nil
		}
	}
	return len(ops), nil
}

// check compares one lookup with the model and the hint-bit rule.
func (m *modelState) check(c *clog.CLOG, xid uint64) error {
	st, lsn, err := c.GetStatus(xid)
	if err != nil {
		return err
	}
	if !m.may[xid].has(st) {
		return fmt.Errorf("xid %d reads %s, model allows %08b", xid, st, m.may[xid])
	}
	if st == clog.Committed && !m.w.NeedsFlush(lsn) && m.commitLSN[xid] > m.w.flushed {
		return fmt.Errorf("xid %d: group LSN %d says durable, commit record %d is not (flushed %d)", xid, lsn, m.commitLSN[xid], m.w.flushed)
	}
	return nil
}

// crash forgets what power loss takes and returns the records to redo.
func (m *modelState) crash() []redoRec {
	m.w.crash()
	durable := m.log[:0:0]
	for _, r := range m.log {
		if r.lsn <= m.w.flushed {
			durable = append(durable, r)
		}
	}
	m.log = durable
	next := m.ckptNext
	final := map[uint64]bool{}
	var redo []redoRec
	for _, r := range durable {
		if !r.zero {
			final[r.xid] = true
			next = max(next, r.xid+1)
		}
		if r.lsn > m.redo {
			redo = append(redo, r)
		}
	}
	for _, xid := range sortedXids(m.may) {
		switch {
		case xid >= next:
			// Never assigned as far as the WAL knows: it will be again.
			delete(m.may, xid)
			delete(m.commitLSN, xid)
		case !final[xid]:
			// Its backend died before a durable commit or abort: the
			// disk may hold what was set without WAL, never a commit.
			a := only(clog.InProgress)
			if m.sub[xid] {
				a |= only(clog.SubCommitted)
			}
			if m.may[xid].has(clog.Aborted) {
				a |= only(clog.Aborted)
			}
			m.may[xid] = a
			delete(m.commitLSN, xid)
		}
	}
	m.nextXid, m.live = next, nil
	return redo
}

func TestModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ops := rapid.SliceOfN(opGen, 20, 300).Draw(rt, "ops")
		seed := rapid.Uint64().Draw(rt, "seed")
		modes := rapid.SliceOfN(rapid.IntRange(0, 2), 8, 8).Draw(rt, "crash modes")
		m := &modelState{
			w:         &fakeWAL{},
			nextXid:   clog.FirstNormalXid,
			ckptNext:  clog.FirstNormalXid,
			sub:       map[uint64]bool{},
			may:       map[uint64]allowed{},
			commitLSN: map[uint64]wal.LSN{},
			buffers:   rapid.IntRange(2, 4).Draw(rt, "buffers"),
		}
		var spyErr error
		spy := &spyDisk{onWrite: func(path string, off int64, p []byte) {
			if err := m.walBeforeData(path, off, p); err != nil && spyErr == nil {
				spyErr = err
			}
		}}
		rng := world.NewRand(seed)
		pos := 0
		var node *world.Node
		var redo []redoRec
		// Each life runs ops up to the next crash; the last life after
		// the ops are used up only recovers and checks.
		for crashes, done := 0, false; !done; crashes++ {
			done = pos >= len(ops)
			var err error
			body := func(e0 *env.Env) {
				e := withDisk(e0, spy)
				var c *clog.CLOG
				if node == nil {
					if err = clog.Bootstrap(e0); err != nil {
						return
					}
					if c, err = clog.Open(e, m.w, clog.Config{Buffers: m.buffers}); err != nil {
						return
					}
				} else {
					// The startup process: redo, then end of recovery.
					if c, err = clog.Open(e, nil, clog.Config{Buffers: m.buffers, InRecovery: true}); err != nil {
						return
					}
					if err = replay(c, redo); err != nil {
						return
					}
					if err = c.EndRecovery(m.w, m.nextXid); err != nil {
						return
					}
					// The end-of-recovery checkpoint, which makes the
					// trimmed page durable before any xid is assigned.
					if _, err = m.run(c, []op{{kind: opCheckpoint}}); err != nil {
						return
					}
					for _, xid := range sortedXids(m.may) {
						if err = m.check(c, xid); err != nil {
							err = fmt.Errorf("after recovery: %w", err)
							return
						}
					}
				}
				if pos < len(ops) {
					n, err2 := m.run(c, ops[pos:])
					pos += n + 1
					err = err2
				}
			}
			var st world.Stop
			if node == nil {
				st, node = world.InSim(seed, body)
			} else {
				st = node.Reboot(body)
			}
			if st.Kind != world.StopAllDone {
				rt.Fatalf("life %d: %v\n%s", crashes, st, st.Stack)
			}
			if err != nil {
				rt.Fatalf("life %d, op %d of %v: %v", crashes, pos, ops, err)
			}
			if spyErr != nil {
				rt.Fatalf("life %d: WAL before data: %v", crashes, spyErr)
			}
			node.Disk.Crash(rng, world.CrashMode(modes[crashes%len(modes)]))
			redo = m.crash()
		}
	})
}
