package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/simtest"
)

// FuzzParseConfig: no input makes the config reader panic; whatever it
// accepts is a valid config that reads back the same from its JSON.
func FuzzParseConfig(f *testing.F) {
	good, _ := json.Marshal(simtest.DefaultConfig(3))
	f.Add(good)
	f.Add([]byte(`{"workload": "insert", "faults": "crash when nth=2\n", "bugs": "ack-before-flush"}`))
	f.Add([]byte(`{"format": 1, "seed": 1, "config": {}}`))
	f.Add([]byte(`{"clients": null}`))
	f.Add([]byte(`{} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfigFile("f.json", b)
		if err != nil {
			return
		}
		require.NoError(t, c.Validate())
		again, err := json.Marshal(c)
		require.NoError(t, err)
		back, err := ParseConfigFile("f.json", again)
		require.NoError(t, err, "%s", again)
		require.Equal(t, c, back)
	})
}

// TestTableCoversConfig: every field of simtest.Config but the seed
// belongs to exactly one run flag, so that every field can be given on the
// command line, is written in the reproduce command, and is a field a
// --config file may name. A field added to simtest.Config without a flag
// fails here.
func TestTableCoversConfig(t *testing.T) {
	owner := map[string]string{}
	for _, f := range RunFlags {
		for _, name := range f.JSON {
			require.Empty(t, owner[name], "field %s belongs to --%s and --%s", name, owner[name], f.Name)
			owner[name] = f.Name
		}
	}
	want := map[string]bool{}
	t0 := reflect.TypeFor[simtest.Config]()
	for i := 0; i < t0.NumField(); i++ {
		name, _, _ := strings.Cut(t0.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && name != "seed" {
			want[name] = true
		}
	}
	got := map[string]bool{}
	for name := range owner {
		got[name] = true
	}
	require.Equal(t, want, got)
}
