package simtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegressionLivenessSkipsFaultedRecovery keeps two seeds of
// `pgdst campaign --seeds 10000 --start 20001 --fault-intensity 1` that the
// checkpoint liveness checker failed on the unmodified engine once it
// judged recoveries' checkpoints too: the drawn plan paused every process
// at checkpointer-after-delay-wait for 50 ms, and in the final recovery the
// end-of-recovery checkpoint's wait took that pause. Only a crash in the
// recovery made it skip the judgement; now any fault applied there does,
// as any fault in the workload already did.
func TestRegressionLivenessSkipsFaultedRecovery(t *testing.T) {
	for _, seed := range []uint64{24593, 27545} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := DefaultConfig(seed)
			c.FaultIntensity = 1
			res := Run(c)
			require.True(t, res.OK, "seed %d:\n%s", seed, res.Summary())
		})
	}
}
