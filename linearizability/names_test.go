package linearizability

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeleteReadsAsDelete: a write of the value the harness names as a
// deleted row reads delete(kN); without Deletes it stays a write, and a
// read of that value still names it.
func TestDeleteReadsAsDelete(t *testing.T) {
	none := uint64(math.MaxUint64)
	nm := Names{
		Value:   func(v uint64) string { return map[bool]string{true: "no row", false: "a value"}[v == none] },
		Deletes: func(v uint64) bool { return v == none },
	}
	require.Equal(t, "delete(k4)", regDescribeOp(regInput{kind: RegWrite, key: 4, value: none}, regOutput{}, nm))
	require.Equal(t, "write(k4, a value)", regDescribeOp(regInput{kind: RegWrite, key: 4, value: 7}, regOutput{}, nm))
	require.Equal(t, "read(k4) = no row", regDescribeOp(regInput{kind: RegRead, key: 4}, regOutput{result: none}, nm))
	require.Equal(t, "write(k4, 18446744073709551615)", regDescribeOp(regInput{kind: RegWrite, key: 4, value: none}, regOutput{}, Names{}))
}
