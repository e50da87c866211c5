package campaign

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// TestRequireCoverage: --require-coverage passes a report in which every
// sometimes condition was reached and fails (exit 1) one in which any was
// not, naming it; the counts come in table order whatever order the
// report had them in, and a condition this build does not know is kept
// after them.
func TestRequireCoverage(t *testing.T) {
	all := &Report{}
	for i := len(env.Conditions) - 1; i >= 0; i-- {
		all.Sometimes = append(all.Sometimes, SometimesStat{Name: env.Conditions[i].Name, Runs: 1 + i})
	}
	all.Sometimes = append(all.Sometimes, SometimesStat{Name: "from-another-build", Runs: 3})
	all.settleSometimes()
	require.Empty(t, all.SometimesBlindSpots)
	require.Len(t, all.Sometimes, len(env.Conditions)+1)
	for i, c := range env.Conditions {
		require.Equal(t, SometimesStat{Name: c.Name, Runs: 1 + i}, all.Sometimes[i])
	}
	require.Equal(t, "from-another-build", all.Sometimes[len(env.Conditions)].Name)
	require.NoError(t, coverageError("pgdst campaign", all))

	some := &Report{Sometimes: []SometimesStat{{Name: "crash-restart", Runs: 5}}}
	some.settleSometimes()
	require.Len(t, some.SometimesBlindSpots, len(env.Conditions)-1)
	require.NotContains(t, some.SometimesBlindSpots, "crash-restart")
	err := coverageError("pgdst campaign", some)
	var exit *cli.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	require.Equal(t, 1, exit.Code)
	require.Contains(t, exit.Msg, "btree-leaf-split")
	require.NotContains(t, exit.Msg, "crash-restart")
}

// TestCampaignCountsSometimes: a campaign counts, per condition, the runs
// that reached it, as the runs one by one say.
func TestCampaignCountsSometimes(t *testing.T) {
	const n = 6
	mk := func(i uint64) job { return job{cfg: simtest.DefaultConfig(i + 1)} }
	st := runCampaign(n, 1, mk, campaignOpts{})
	want := make([]int, len(env.Conditions))
	for i := uint64(0); i < n; i++ {
		r := simtest.Run(mk(i).cfg)
		for k, c := range env.Conditions {
			if r.Sometimes.Has(c.Name) {
				want[k]++
			}
		}
	}
	require.Equal(t, want, st.sometimes)
	rep := newCampaignReport(Params{}, st)
	for k, c := range env.Conditions {
		require.Equal(t, SometimesStat{Name: c.Name, Runs: want[k]}, rep.Sometimes[k])
	}
	require.Contains(t, rep.SometimesBlindSpots, "create-skipped-orphan-file", "a default run meets no file a crashed CREATE TABLE left")
	require.Equal(t, n, rep.Sometimes[indexOf(t, "end-of-recovery-checkpoint")].Runs, "every run ends with a recovery")
}

func indexOf(t *testing.T, name string) int {
	for i, c := range env.Conditions {
		if c.Name == name {
			return i
		}
	}
	t.Fatalf("no condition %q", name)
	return -1
}
