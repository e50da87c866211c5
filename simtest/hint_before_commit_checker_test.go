package simtest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/page"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestHintBeforeCommitChecker: a heap page written with a commit hint for
// a transaction whose commit record ends past the durable WAL fails the
// run at the write (xmin or xmax); a hint whose record is durable, a
// frozen xmin, an xid with no record seen (committed in initdb's image)
// and an index page pass; nothing is judged while redo runs.
func TestHintBeforeCommitChecker(t *testing.T) {
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	cfg := db.DefaultConfig()
	cfg.SharedBuffers = 16
	var d *db.DB
	node.Sim.Spawn("test", func() {
		if err := db.InitDB(node.Env, cfg); err != nil {
			panic(err)
		}
		var err error
		if d, _, err = db.Open(node.Env, cfg, db.RegisterAccessMethods); err != nil {
			panic(err)
		}
	})
	st := node.Sim.Run()
	require.Equal(t, world.StopAllDone, st.Kind, "%s", st)
	flushed := uint64(d.WAL.FlushedNoLock())
	require.Positive(t, flushed)

	type tuple struct {
		xmin, xmax uint64
		mask       uint16
	}
	pageOf := func(ts ...tuple) []byte {
		p := make([]byte, page.BlockSize)
		page.Init(p, 0)
		for _, tu := range ts {
			b := page.EncodeHeapTuple(page.HeapTupleHeader{Xmin: tu.xmin, Xmax: tu.xmax, Infomask: tu.mask}, []byte("row"))
			_, err := page.AddItem(p, b, page.InvalidOffset, false)
			require.NoError(t, err)
		}
		page.SetLSN(p, wal.LSN(flushed))
		return p
	}
	const durable, pending, unseen = 100, 101, 102
	run := func(class env.FileClass, inRedo bool, p []byte) *Result {
		res := &Result{OK: true, Online: CheckerCounts{}}
		c := &hintBeforeCommitChecker{res: res, classOf: func(string) env.FileClass { return class }, xactEnd: map[uint64]uint64{},
			instance: func() *db.DB {
				if inRedo {
					return &db.DB{} // no WAL open for writing yet
				}
				return d
			}}
		c.event(&env.Event{Kind: env.EvWALInsert, Rmgr: xact.RMXact, Xid: durable, LSN2: flushed})
		c.event(&env.Event{Kind: env.EvWALInsert, Rmgr: xact.RMXact, Xid: pending, LSN2: flushed + 64})
		c.event(&env.Event{Kind: env.EvWALInsert, Rmgr: 9, Xid: unseen, LSN2: flushed + 64}) // not a transaction record
		c.diskOp(world.DiskOp{Kind: world.OpWrite, Path: "base/16385", Off: page.BlockSize, Data: p})
		return res
	}

	bad := run(env.FileHeap, false, pageOf(tuple{xmin: durable, mask: page.HeapXminCommitted}, tuple{xmin: pending, mask: page.HeapXminCommitted}))
	require.False(t, bad.OK)
	require.Equal(t, CheckHintBeforeCommit, bad.Checker)
	require.Contains(t, bad.Failures[0], "block 1 written with a xmin-committed hint on tuple 2 for transaction 101")
	require.Equal(t, uint64(1), bad.Online[countHeapPageWrites].Judged)
	require.Equal(t, uint64(1), bad.Online[countHintedPageWrites].Judged)

	badXmax := run(env.FileHeap, false, pageOf(tuple{xmin: durable, xmax: pending, mask: page.HeapXminCommitted | page.HeapXmaxCommitted}))
	require.False(t, badXmax.OK)
	require.Contains(t, badXmax.Failures[0], "xmax-committed hint on tuple 1 for transaction 101")

	broken := pageOf(tuple{xmin: pending, mask: page.HeapXminCommitted})
	broken[12], broken[13] = 0xff, 0xff // pd_lower past the block: nothing to follow
	badItem := pageOf(tuple{xmin: pending, mask: page.HeapXminCommitted})
	badItem[page.HeaderSize+1] &^= 0x1f // lp_off of item 1 moved below pd_upper
	for name, r := range map[string]*Result{
		"broken header":  run(env.FileHeap, false, broken),
		"broken pointer": run(env.FileHeap, false, badItem),
		"durable":        run(env.FileHeap, false, pageOf(tuple{xmin: durable, xmax: durable, mask: page.HeapXminCommitted | page.HeapXmaxCommitted})),
		"frozen":         run(env.FileHeap, false, pageOf(tuple{xmin: pending, mask: page.HeapXminCommitted | page.HeapXminInvalid})),
		"unseen":         run(env.FileHeap, false, pageOf(tuple{xmin: unseen, mask: page.HeapXminCommitted})),
		"no hint":        run(env.FileHeap, false, pageOf(tuple{xmin: pending})),
		"index":          run(env.FileIndex, false, pageOf(tuple{xmin: pending, mask: page.HeapXminCommitted})),
		"in redo":        run(env.FileHeap, true, pageOf(tuple{xmin: pending, mask: page.HeapXminCommitted})),
		"new page":       run(env.FileHeap, false, make([]byte, page.BlockSize)),
	} {
		require.True(t, r.OK, "%s: %v", name, r.Failures)
	}
}
