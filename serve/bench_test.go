package serve

import (
	"context"
	"testing"
)

// BenchmarkPointSelect is one autocommit primary-key SELECT over pgx's
// extended protocol, end to end (no fsync: a read-only commit writes no
// WAL).
func BenchmarkPointSelect(b *testing.B) {
	s, err := Start(Config{Listen: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Shutdown(0) }()
	c, err := pgxConnect(s)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, v bigint); INSERT INTO t VALUES (1, 1), (2, 2)"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var v int64
		if err := c.QueryRow(ctx, "SELECT v FROM t WHERE id = $1", 1+i%2).Scan(&v); err != nil {
			b.Fatal(err)
		}
	}
}
