package db_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// txnModel is one client's view: committed rows, and the open
// transaction's overlay (nil value: deleted in the transaction).
type txnModel struct {
	committed map[uint64]string
	overlay   map[uint64]*string
	inTxn     bool
	failed    bool
}

func (m *txnModel) get(k uint64) (string, bool) {
	if m.inTxn {
		if v, ok := m.overlay[k]; ok {
			if v == nil {
				return "", false
			}
			return *v, true
		}
	}
	v, ok := m.committed[k]
	return v, ok
}

func (m *txnModel) set(k uint64, v *string) {
	if m.inTxn {
		m.overlay[k] = v
		return
	}
	if v == nil {
		delete(m.committed, k)
	} else {
		m.committed[k] = *v
	}
}

// TestSessionModel drives one session with random statements, in and out
// of transaction blocks, and compares every answer with the model: reads
// see the transaction's own writes, ROLLBACK undoes them, COMMIT keeps
// them, a duplicate key fails with 23505 and fails the transaction (25P02
// until ROLLBACK), and a COMMIT of a failed transaction rolls back.
func TestSessionModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		type op struct {
			kind int
			key  uint64
			val  string
		}
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) op {
			return op{
				kind: rapid.IntRange(0, 8).Draw(t, "kind"),
				key:  uint64(rapid.IntRange(0, 12).Draw(t, "key")),
				val:  fmt.Sprintf("v%d", rapid.IntRange(0, 99).Draw(t, "val")),
			}
		}), 1, 80).Draw(rt, "ops")
		st, _ := world.InSim(1, func(e *env.Env) {
			cfg := testConfig()
			cfg.SharedBuffers = 32
			must(db.InitDB(e, cfg))
			d, _, err := db.Open(e, cfg, db.RegisterAccessMethods)
			must(err)
			must(d.CreateTable("t"))
			s := connect(d)
			m := &txnModel{committed: map[uint64]string{}}
			for i, o := range ops {
				where := fmt.Sprintf("op %d %+v", i, o)
				if m.failed && o.kind != 5 && o.kind != 6 {
					_, _, err := s.Get("t", o.key)
					if !pgerr.Is(err, pgerr.InFailedTransaction) {
						panic(where + ": a failed transaction accepted a statement")
					}
					continue
				}
				switch o.kind {
				case 0, 1: // insert
					err := s.Insert("t", o.key, []byte(o.val))
					if _, exists := m.get(o.key); exists {
						if !pgerr.Is(err, pgerr.UniqueViolation) {
							panic(fmt.Sprintf("%s: duplicate insert gave %v", where, err))
						}
						if m.inTxn {
							m.failed = true
						}
						continue
					}
					must(err)
					v := o.val
					m.set(o.key, &v)
				case 2: // update
					done, err := s.Update("t", o.key, []byte(o.val))
					must(err)
					_, exists := m.get(o.key)
					if done != exists {
						panic(fmt.Sprintf("%s: update reported %v, model says %v", where, done, exists))
					}
					if exists {
						v := o.val
						m.set(o.key, &v)
					}
				case 3: // delete
					done, err := s.Delete("t", o.key)
					must(err)
					_, exists := m.get(o.key)
					if done != exists {
						panic(fmt.Sprintf("%s: delete reported %v, model says %v", where, done, exists))
					}
					m.set(o.key, nil)
				case 4: // begin
					err := s.Begin(db.Isolation(o.key % 2))
					if m.inTxn {
						if !pgerr.Is(err, pgerr.ActiveTransaction) {
							panic(where + ": nested BEGIN accepted")
						}
						continue
					}
					must(err)
					m.inTxn, m.overlay = true, map[uint64]*string{}
				case 5: // commit
					err := s.Commit()
					switch {
					case !m.inTxn:
						if !pgerr.Is(err, pgerr.NoActiveTransaction) {
							panic(where + ": COMMIT outside a transaction accepted")
						}
					case m.failed:
						if !pgerr.Is(err, pgerr.InFailedTransaction) {
							panic(where + ": COMMIT of a failed transaction did not roll back")
						}
					default:
						must(err)
						for _, k := range slices.Sorted(maps.Keys(m.overlay)) {
							m.inTxn = false
							m.set(k, m.overlay[k])
						}
					}
					m.inTxn, m.failed, m.overlay = false, false, nil
				case 6: // rollback
					must(s.Rollback())
					m.inTxn, m.failed, m.overlay = false, false, nil
				case 7: // get
					v, ok, err := s.Get("t", o.key)
					must(err)
					mv, mok := m.get(o.key)
					if ok != mok || string(v) != mv {
						panic(fmt.Sprintf("%s: got %q/%v, model %q/%v", where, v, ok, mv, mok))
					}
				case 8: // scan everything
					var keys []uint64
					must(s.Scan("t", 0, 100, func(k uint64, _ []byte) bool { keys = append(keys, k); return true }))
					var want []uint64
					for k := uint64(0); k <= 12; k++ {
						if _, ok := m.get(k); ok {
							want = append(want, k)
						}
					}
					if !slices.Equal(keys, want) {
						panic(fmt.Sprintf("%s: scan %v, model %v", where, keys, want))
					}
				}
			}
			if _, err := d.CheckTable("t"); err != nil && !m.inTxn {
				panic(err)
			}
		})
		require.Equal(rt, world.StopAllDone, st.Kind, "%s", st)
	})
}
