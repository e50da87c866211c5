package simtest

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRegisterValueName: every register value a history can hold reads as
// what it is, following the encoding the register workload writes.
func TestRegisterValueName(t *testing.T) {
	require.Equal(t, "no row", registerValueName(math.MaxUint64))
	require.Equal(t, "0 (the opening value)", registerValueName(0))
	require.Equal(t, "client 1's value 11", registerValueName(2<<32|11))
	require.Equal(t, "client 0's value 1", registerValueName(1<<32|1))
	require.Equal(t, "7 (no client writes it)", registerValueName(7))
}

// TestCheckerNamesDistinct: every checker a run applies has a name of its
// own, so a failure's checker says which one judged it (the archive and
// lock-wait checkers among them).
func TestCheckerNamesDistinct(t *testing.T) {
	names := []string{CheckDurability, CheckAtomicity, CheckSelf, CheckRecovery, CheckLiveness,
		CheckWALBeforeData, CheckHintBeforeCommit, CheckCheckpoint, CheckArchive, CheckLockWakeup, CheckLockRetry, CheckProgress,
		CheckLinearizability, CheckIsolation, CheckBank, CheckUnique, CheckStatementEffect, CheckEngineError, CheckStandby, CheckFailover, CheckStandbyReads, CheckPITR}
	seen := map[string]bool{}
	for _, n := range names {
		require.NotEmpty(t, n)
		require.False(t, seen[n], "checker name %q used twice", n)
		seen[n] = true
	}
}
