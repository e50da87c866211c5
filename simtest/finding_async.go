package simtest

// asyncFinding is the Finding of op, an acknowledged transaction that
// committed with synchronous_commit = off and that recovery lost although
// PostgreSQL's promise for such a commit (asyncLossAllowed) says it may
// not be: with what broke the promise, as typed values, so that explain
// tells it from the events: a later transaction of its server lifetime
// that survived (Other), or a later synchronous commit whose WAL flush
// should have made it durable (SyncCall, SyncReturn); neither means the
// time bound alone broke. It looks in the order asyncLossAllowed does.
func (w *workload) asyncFinding(op *Op, n int, present map[*Op]int) Finding {
	f := op.finding(CheckDurability, n)
	f.Async = true
	end := w.commitEpochEnd(op)
	for _, later := range w.hist.Ops {
		if later.Call > op.Return && later.Call < end && present[later] > 0 {
			o := later.finding(CheckDurability, present[later])
			f.Other = &o
			return f
		}
	}
	if !w.rc.AsyncCommit {
		for _, sw := range w.hist.SyncWrites {
			if sw.Call > op.Return && sw.Call < end {
				f.SyncCall, f.SyncReturn = sw.Call, sw.Return
				return f
			}
		}
	}
	return f
}
