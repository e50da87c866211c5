package simt

import (
	"sort"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// RecoverWAL scans the WAL from its oldest segment and opens it at the end
// of valid WAL, as the startup does (wal.Open re-notifies complete segments
// that lost their archive status). It panics on any error.
func RecoverWAL(e *env.Env, c wal.Config) *wal.WAL {
	start, err := wal.FirstSegmentStart(e, c)
	Must(err)
	r, err := wal.NewReader(e, c, start, wal.InvalidLSN)
	Must(err)
	for i := 0; ; i++ {
		Check(i < 1_000_000, "RecoverWAL: no end of WAL")
		_, ok, err := r.Next()
		Must(err)
		if !ok {
			break
		}
	}
	end, last := r.End(), r.Last()
	Must(r.Close())
	w, err := wal.Open(e, c, end, last)
	Must(err)
	return w
}

// WALSegments lists, ascending, the segment numbers whose files are in a
// disk snapshot's pg_wal.
func WALSegments(c wal.Config, snap map[string][]byte) []uint64 {
	var out []uint64
	for p := range snap {
		if name, ok := strings.CutPrefix(p, wal.Dir+"/"); ok {
			if seg, ok := wal.ParseSegmentName(c, name); ok {
				out = append(out, seg)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
