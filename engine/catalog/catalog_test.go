package catalog_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/catalog"
	"github.com/pgdst/pgdst/engine/smgr"
)

func TestMapRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(t, "n")
		m := catalog.Map{NextOID: rapid.Uint32().Draw(t, "next")}
		for i := 0; i < n; i++ {
			m.Tables = append(m.Tables, catalog.Table{
				Name: fmt.Sprintf("t%03d%s", i, rapid.StringMatching(`[a-z]{0,20}`).Draw(t, "suffix")),
				OID:  rapid.Uint32().Draw(t, "oid"), Heap: smgr.RelFileNumber(i*2 + 1), Index: smgr.RelFileNumber(i*2 + 2),
			})
		}
		b := m.Encode()
		got, err := catalog.DecodeMap(b)
		require.NoError(t, err)
		require.Equal(t, m.NextOID, got.NextOID)
		require.Equal(t, len(m.Tables), len(got.Tables))
		for i := range m.Tables {
			require.Equal(t, m.Tables[i], got.Tables[i])
		}
		cut := rapid.IntRange(0, len(b)-1).Draw(t, "cut")
		_, err = catalog.DecodeMap(b[:cut])
		require.Error(t, err)
	})
}

func FuzzDecodeMap(f *testing.F) {
	m := catalog.Map{NextOID: 16384, Tables: []catalog.Table{{Name: "accounts", OID: 16384, Heap: 16385, Index: 16386}}}
	f.Add(m.Encode())
	f.Add([]byte("PGDSTMAP"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := catalog.DecodeMap(b)
		if err != nil {
			return
		}
		if _, err := catalog.DecodeMap(got.Encode()); err != nil {
			t.Fatalf("a decoded map does not re-encode: %v", err)
		}
	})
}
