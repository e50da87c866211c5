package campaign

import (
	"fmt"
	"regexp"
)

// Per-run trace hashes (`pgdst campaign --trace-hashes`). A run's trace hash
// is its identity: same config, same build, same hash. Two builds that give
// a seed the same hash ran it event for event alike, so comparing a
// mutated engine's hashes with the unmutated engine's, seed by seed, says
// which runs the mutation changed at all (the "infection" of the RIP model
// of mutation analysis: reach, infect, propagate), whether or not any
// checker judged them wrong. The list is opt-in: 2000 seeds add about 48 KB
// to the JSON, which ordinary campaigns do not need.

// traceHashRe is one entry of Report.TraceHashes: a trace hash as
// simtest.Result.TraceString writes it, or "" for a run the report does not
// hold.
var traceHashRe = regexp.MustCompile(`^([0-9a-f]{16})?$`)

// traceHashList returns the trace hashes by run index (job.index): entry i
// is run i's hash, "" for an index this campaign did not run (another
// shard's, or one after an interruption). Trailing "" are left out, so a
// campaign of one shard that ran nothing has an empty list.
func traceHashList(byIndex map[uint64]uint64, planned uint64) []string {
	var last uint64
	for i := range byIndex {
		if i >= planned {
			panic(fmt.Sprintf("campaign: trace hash of run %d, of %d planned", i, planned))
		}
		last = max(last, i+1)
	}
	out := make([]string, last)
	for i, h := range byIndex {
		out[i] = fmt.Sprintf("%016x", h)
	}
	return out
}

// checkTraceHashes validates a report's trace hashes: present exactly when
// its params say so, at most one per planned run, each a hash or "".
func checkTraceHashes(rep *Report) error {
	if !rep.Params.TraceHashes {
		if len(rep.TraceHashes) > 0 {
			return fmt.Errorf("trace_hashes given but params.trace_hashes is false")
		}
		return nil
	}
	if uint64(len(rep.TraceHashes)) > rep.Params.Seeds {
		return fmt.Errorf("%d trace hashes for %d runs", len(rep.TraceHashes), rep.Params.Seeds)
	}
	for i, h := range rep.TraceHashes {
		if !traceHashRe.MatchString(h) {
			return fmt.Errorf("trace_hashes[%d]: %q is not a 16-hex-digit trace hash", i, h)
		}
	}
	return nil
}

// mergeTraceHashes lays the shards' lists over one another: the shards
// hold disjoint runs (mergeReports refused overlapping shards), so at most
// one list has a hash at each index.
func mergeTraceHashes(lists [][]string) ([]string, error) {
	n := 0
	for _, l := range lists {
		n = max(n, len(l))
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]string, n)
	for _, l := range lists {
		for i, h := range l {
			if h == "" {
				continue
			}
			if out[i] != "" {
				return nil, fmt.Errorf("two inputs have a trace hash for run %d", i)
			}
			out[i] = h
		}
	}
	return out, nil
}
