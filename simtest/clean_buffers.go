package simtest

import pgproc "github.com/pgdst/pgdst/engine/proc"

// checkCleanBuffers is the buffer pool's coherence check (buffer.CheckClean)
// at the moment the workload ends, before the crash discards the pool: a
// clean buffer that differs from the page it last read or wrote holds a
// change that was never marked dirty, which eviction or the crash would
// lose (a WAL-logged one for good once a checkpoint passes it).
func checkCleanBuffers(pm *pgproc.Postmaster, res *Result) {
	d := pm.Shared()
	if d == nil {
		return
	}
	if err := d.Pool.CheckClean(); err != nil {
		res.found(selfFinding(SelfBufferCoherence, "", 0, err))
		res.fail(CheckSelf, "at the end of the workload: %v", err)
	}
}
