package campaign

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

func TestParseShard(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, c := range []struct {
		s, env string
		i, n   int
	}{{"", "", 0, 1}, {"0/1", "", 0, 1}, {"3/8", "", 3, 8}, {"auto/8", "7", 7, 8}, {"auto/8", "0", 0, 8}} {
		i, n, err := ParseShard(c.s, env(c.env))
		require.NoError(t, err, c.s)
		require.Equal(t, [2]int{c.i, c.n}, [2]int{i, n}, c.s)
	}
	for _, c := range []struct{ s, env string }{{"auto/8", "8"}, {"auto/8", "x"}, {"1/1", ""}, {"/2", ""}, {"1/", ""}, {"1/2/3", ""}} {
		_, _, err := ParseShard(c.s, env(c.env))
		require.Error(t, err, "%q with %q", c.s, c.env)
	}
	// The shards partition the seeds.
	for seeds := uint64(0); seeds < 20; seeds++ {
		for n := 1; n < 6; n++ {
			var sum uint64
			for i := 0; i < n; i++ {
				sum += shardSize(seeds, i, n)
			}
			require.Equal(t, seeds, sum, "%d seeds in %d shards", seeds, n)
		}
	}
}

// TestCampaignMemoryFlat: a campaign keeps nothing of a passing run. The
// live heap with a 1200-seed campaign's results held is no more than with
// a 400-seed one's plus 64 KiB: under 82 bytes per extra seed (a kept
// Result, or even its point-hit map, is over a kilobyte).
func TestCampaignMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1600 seeds")
	}
	old := debug.SetGCPercent(simtest.CampaignGCPercent)
	defer debug.SetGCPercent(old)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	cli.UseCores(2)
	mk := func(i uint64) job { return job{cfg: simtest.DefaultConfig(i + 1)} }
	small := runCampaign(400, 2, mk, campaignOpts{})
	heapSmall := liveHeap()
	require.Equal(t, 400, small.runs)
	runtime.KeepAlive(small)
	small = nil
	large := runCampaign(1200, 2, mk, campaignOpts{})
	heapLarge := liveHeap()
	require.Equal(t, 1200, large.runs)
	runtime.KeepAlive(large)
	t.Logf("live heap: %d B after 400 seeds, %d B after 1200 (%+.1f B per extra seed)",
		heapSmall, heapLarge, float64(int64(heapLarge)-int64(heapSmall))/800)
	require.LessOrEqual(t, heapLarge, heapSmall+64<<10)
}
