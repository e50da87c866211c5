package clog_test

import (
	"testing"

	"github.com/pgdst/pgdst/engine/clog"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world"
)

// benchClog runs fn with a bootstrapped clog, under the real environment
// (OS files, real mutex) and under the simulator (where every lock is a
// scheduling point that feeds the trace hash).
func benchClog(b *testing.B, fn func(b *testing.B, c *clog.CLOG)) {
	b.Run("real", func(b *testing.B) {
		e, err := env.NewReal(b.TempDir(), 1)
		if err != nil {
			b.Fatal(err)
		}
		e.Log = nil
		if err := clog.Bootstrap(e); err != nil {
			b.Fatal(err)
		}
		c, err := clog.Open(e, &fakeWAL{inserted: 1 << 40}, clog.Config{})
		if err != nil {
			b.Fatal(err)
		}
		fn(b, c)
	})
	b.Run("sim", func(b *testing.B) {
		st, _ := world.InSim(1, func(e *env.Env) {
			if err := clog.Bootstrap(e); err != nil {
				panic(err)
			}
			c, err := clog.Open(e, &fakeWAL{inserted: 1 << 40}, clog.Config{})
			if err != nil {
				panic(err)
			}
			fn(b, c)
		})
		if st.Kind != world.StopAllDone {
			b.Fatalf("%v", st)
		}
	})
}

// BenchmarkGetStatus looks up xids on a page already in a buffer.
func BenchmarkGetStatus(b *testing.B) {
	benchClog(b, func(b *testing.B, c *clog.CLOG) {
		for x := uint64(3); x < 1000; x++ {
			if err := c.SetStatus(x, clog.Committed, wal.LSN(x)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, _, err := c.GetStatus(3 + uint64(i)%997); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSetStatus records commits of consecutive xids on cached pages
// (ExtendCLOG zeroes a page every 32768 xids; no page is written).
func BenchmarkSetStatus(b *testing.B) {
	benchClog(b, func(b *testing.B, c *clog.CLOG) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			x := clog.FirstNormalXid + uint64(i)%(6*clog.XactsPerPage)
			if _, err := c.ExtendCLOG(x); err != nil {
				b.Fatal(err)
			}
			if err := c.SetStatus(x, clog.Committed, wal.LSN(1+i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
