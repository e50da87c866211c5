package campaign

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest"
)

// runTraceCampaign runs seeds 1..seeds (shard of shards) into a JSON file
// and reads it back.
func runTraceCampaign(t *testing.T, path string, seeds uint64, jobs, shard, shards int, traces bool) *Report {
	t.Helper()
	err := Run(Options{Start: 1, Seeds: seeds, Jobs: jobs, Shard: shard, Shards: shards, JSON: path,
		Base: simtest.DefaultConfig(1), TraceHashes: traces}, io.Discard, io.Discard)
	require.NoError(t, err)
	rep, err := ReadReport(path)
	require.NoError(t, err)
	return rep
}

// TestTraceHashes: --trace-hashes lists each seed's trace hash in seed
// order, the one `pgdst run --seed N` prints, whatever the workers; shards
// hold theirs at their own indices and merge into the unsharded list;
// without the flag the JSON has no list at all.
func TestTraceHashes(t *testing.T) {
	const seeds = 6
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	one := runTraceCampaign(t, p("one.json"), seeds, 1, 0, 1, true)
	three := runTraceCampaign(t, p("three.json"), seeds, 3, 0, 1, true)
	require.True(t, one.Params.TraceHashes)
	require.Len(t, one.TraceHashes, seeds)
	require.Equal(t, one.TraceHashes, three.TraceHashes, "the list depends on --jobs")
	for i, h := range one.TraceHashes {
		want := simtest.Run(simtest.DefaultConfig(uint64(i) + 1)).TraceString()
		require.Equal(t, want, h, "seed %d", i+1)
	}
	require.NotEqual(t, one.TraceHashes[0], one.TraceHashes[1], "two seeds, one hash: the list says nothing")

	s0 := runTraceCampaign(t, p("s0.json"), seeds, 1, 0, 2, true)
	s1 := runTraceCampaign(t, p("s1.json"), seeds, 1, 1, 2, true)
	for i := range seeds {
		mine, other := s0, s1
		if i%2 == 1 {
			mine, other = s1, s0
		}
		require.Equal(t, one.TraceHashes[i], mine.TraceHashes[i], "index %d in its shard", i)
		if i < len(other.TraceHashes) {
			require.Empty(t, other.TraceHashes[i], "index %d in the other shard", i)
		}
	}
	merged, err := mergeReports([]*Report{s1, s0}, []string{"s1", "s0"})
	require.NoError(t, err)
	require.Equal(t, one.TraceHashes, merged.TraceHashes)

	plain := runTraceCampaign(t, p("plain.json"), seeds, 1, 1, 2, false)
	raw, err := os.ReadFile(p("plain.json"))
	require.NoError(t, err)
	require.NotContains(t, string(raw), "trace_hashes", "the list is opt-in")
	_, err = mergeReports([]*Report{s0, plain}, []string{"s0", "plain"})
	require.ErrorContains(t, err, "trace_hashes", "merge must refuse to mix shards with and without the list")
}

// TestTraceHashesChecked: a report's list must match its params, hold no
// more entries than runs, and each entry must be a hash or "".
func TestTraceHashesChecked(t *testing.T) {
	ok := &Report{Params: Params{Seeds: 3, TraceHashes: true}, TraceHashes: []string{"0123456789abcdef", "", "fedcba9876543210"}}
	require.NoError(t, checkTraceHashes(ok))
	for name, rep := range map[string]*Report{
		"list without the param": {Params: Params{Seeds: 3}, TraceHashes: []string{"0123456789abcdef"}},
		"too many":               {Params: Params{Seeds: 1, TraceHashes: true}, TraceHashes: []string{"0123456789abcdef", "0123456789abcdef"}},
		"short":                  {Params: Params{Seeds: 1, TraceHashes: true}, TraceHashes: []string{"0123"}},
		"upper case":             {Params: Params{Seeds: 1, TraceHashes: true}, TraceHashes: []string{"0123456789ABCDEF"}},
	} {
		require.Error(t, checkTraceHashes(rep), name)
	}
	_, err := mergeTraceHashes([][]string{{"0123456789abcdef"}, {"fedcba9876543210"}})
	require.ErrorContains(t, err, "run 0")
	got, err := mergeTraceHashes([][]string{{"", "0123456789abcdef"}, {"fedcba9876543210"}})
	require.NoError(t, err)
	require.Equal(t, []string{"fedcba9876543210", "0123456789abcdef"}, got)
	require.Equal(t, []string{"", "000000000000002a"}, traceHashList(map[uint64]uint64{1: 42}, 2))
	require.Empty(t, traceHashList(nil, 2))
	require.Panics(t, func() { traceHashList(map[uint64]uint64{2: 1}, 2) })
}
