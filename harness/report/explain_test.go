package report

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/repro"
	"github.com/pgdst/pgdst/simtest"
)

// TestReportShowsTheExplanation: a failing run's page opens with
// explain's account and marks its moments (the lost commit's
// acknowledgment, the crash) on the timeline.
func TestReportShowsTheExplanation(t *testing.T) {
	set, err := bugs.ParseSet("ack-before-flush")
	require.NoError(t, err)
	var cfg simtest.Config
	var res *simtest.Result
	for seed := uint64(1); seed <= 40; seed++ {
		cfg = simtest.DefaultConfig(seed)
		cfg.Workload, cfg.Clients, cfg.Txns, cfg.Bugs = simtest.WorkloadInsert, 2, 4, set
		if res = simtest.Run(cfg); !res.OK && res.Checker == simtest.CheckDurability {
			break
		}
	}
	require.False(t, res.OK, "no seed in 1..40 fails durability")
	dir := t.TempDir()
	path := filepath.Join(dir, "seed-1.repro.json")
	require.NoError(t, repro.Write(path, repro.New(cfg, res, cli.Command(cfg))))
	out := filepath.Join(dir, "r.html")
	require.NoError(t, Run(path, out, 0, false, DefaultEvents, io.Discard, io.Discard))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	page := string(b)
	require.Contains(t, page, `<div class="why" id="why">`)
	require.Contains(t, page, "Why: The commit was acknowledged before its commit record was durable.")
	require.Less(t, strings.Index(page, `id="why"`), strings.Index(page, "<h2>Timeline</h2>"), "the explanation comes before the timeline")
	require.Contains(t, page, `class="mk why"`)
	require.Regexp(t, `class="mk why"[^>]*><title>explain at [^<]*acknowledged`, page)
	require.Regexp(t, `class="mk why"[^>]*><title>explain at [^<]*: crash`, page)
}
