package db_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestRangeStatementsSkipTheirOwnWrites: INSERT INTO t SELECT k + 40, v
// FROM t WHERE k BETWEEN 1 AND 80 over 40 rows of 500 bytes (three heap
// pages, the copies landing on the last, which the scan reads after them)
// returns each of the 40 rows once, and the scan did meet copies of its
// own and skip them (the sometimes condition); a range UPDATE of the 80
// rows then returns each once, with its value increased once.
func TestRangeStatementsSkipTheirOwnWrites(t *testing.T) {
	node := world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	node.Sim.Spawn("test", func() {
		cfg := testConfig()
		cfg.SharedBuffers = 32
		require.NoError(t, db.InitDB(node.Env, cfg))
		d, _, err := db.Open(node.Env, cfg, db.RegisterAccessMethods)
		require.NoError(t, err)
		require.NoError(t, d.CreateTable("t"))
		s, err := d.Connect()
		require.NoError(t, err)
		defer s.Close()
		val := func(n uint64) []byte {
			b := make([]byte, 500)
			binary.LittleEndian.PutUint64(b, n)
			return b
		}
		for k := uint64(1); k <= 40; k++ {
			require.NoError(t, s.Insert("t", k, val(k)))
		}
		copied := map[uint64]uint64{}
		n, err := s.InsertSelect("t", 1, 80, 40, func(k uint64, v []byte) {
			_, dup := copied[k]
			require.False(t, dup, "key %d inserted twice", k)
			copied[k] = binary.LittleEndian.Uint64(v)
		})
		require.NoError(t, err)
		require.Equal(t, 40, n)
		for k := uint64(41); k <= 80; k++ {
			require.Equal(t, k-40, copied[k], "key %d", k)
		}
		require.True(t, node.Reached.Has("scan-skipped-own-write"), "the scan never met a row of its own: the test no longer tests the rule")

		updated := map[uint64]uint64{}
		n, err = s.UpdateRange("t", 1, 80, func(old []byte) ([]byte, bool) {
			v := append([]byte(nil), old...)
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(old)+1000)
			return v, true
		}, func(k uint64, v []byte) {
			_, dup := updated[k]
			require.False(t, dup, "key %d updated twice", k)
			updated[k] = binary.LittleEndian.Uint64(v)
		})
		require.NoError(t, err)
		require.Equal(t, 80, n)
		for k := uint64(1); k <= 80; k++ {
			want := k + 1000
			if k > 40 {
				want = k - 40 + 1000
			}
			require.Equal(t, want, updated[k], "key %d", k)
		}
	})
	st := node.Sim.Run()
	require.Equal(t, world.StopAllDone, st.Kind, "%s\n%s", st, st.Stack)
}
