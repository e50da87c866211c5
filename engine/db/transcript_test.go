package db_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/simtest/world"
)

// TestIsolationTranscripts runs the transcripts in testdata/isolation: two
// or three sessions interleaving statements, each session a simulated
// process. A statement that blocks shows "<waiting>"; its result appears,
// marked "(was waiting)", when a later statement unblocks it. Rewrite the
// expected output with -rewrite after a deliberate change.
func TestIsolationTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/isolation", func(t *testing.T, path string) {
		h := newTranscript(t)
		defer h.node.Sim.KillAll()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "run" {
				d.Fatalf(t, "unknown directive %q (want run)", d.Cmd)
			}
			var out strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				name, stmt, ok := strings.Cut(line, ":")
				if !ok {
					d.Fatalf(t, "want \"session: statement\", got %q", line)
				}
				h.deliver(t, strings.TrimSpace(name), strings.TrimSpace(stmt), &out)
			}
			return out.String()
		})
	})
}

type transcript struct {
	node     *world.Node
	d        *db.DB
	sessions map[string]*tsession
	order    []string // session names in creation order
	done     []string // results finished since the last report
}

type tsession struct {
	name    string
	mu      env.Mutex
	cond    env.Cond
	inbox   []string
	pending string // a statement that has not returned yet
	waited  bool   // pending was reported as <waiting>
}

func newTranscript(t *testing.T) *transcript {
	h := &transcript{sessions: map[string]*tsession{}}
	h.node = world.NewNode(world.NewRand(1), world.NewTrace(nil), world.DefaultSchedConfig, world.DefaultLatency)
	h.node.Sim.Spawn("initdb", func() {
		cfg := testConfig()
		cfg.SharedBuffers = 32
		must(db.InitDB(h.node.Env, cfg))
		var err error
		h.d, _, err = db.Open(h.node.Env, cfg, db.RegisterAccessMethods)
		must(err)
		must(h.d.CreateTable("t"))
	})
	if st := h.node.Sim.Run(); st.Kind != world.StopAllDone {
		t.Fatalf("boot: %s\n%s", st, st.Stack)
	}
	return h
}

// deliver hands stmt to session name and runs the simulation until nothing
// more can happen (every session waits for a statement or for a lock).
func (h *transcript) deliver(t *testing.T, name, stmt string, out *strings.Builder) {
	s := h.sessions[name]
	if s == nil {
		s = &tsession{name: name}
		h.sessions[name] = s
		h.order = append(h.order, name)
		h.node.Sim.Spawn("session-"+name, func() { h.serve(s) })
	}
	if s.pending != "" {
		t.Fatalf("session %s is still waiting in %q; it cannot take %q", name, s.pending, stmt)
	}
	s.pending = stmt
	h.node.Sim.Spawn("deliver", func() {
		if s.mu == nil {
			s.mu = h.node.Env.Sched.NewMutex("inbox-" + name)
			s.cond = h.node.Env.Sched.NewCond("inbox-"+name, s.mu)
		}
		s.mu.Lock()
		s.inbox = append(s.inbox, stmt)
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	if st := h.node.Sim.Run(); st.Kind != world.StopDeadlock {
		t.Fatalf("%s: %s: the simulation did not come to rest: %s\n%s", name, stmt, st, st.Stack)
	}
	for _, line := range h.done {
		out.WriteString(line + "\n")
	}
	h.done = h.done[:0]
	if s.pending == stmt {
		fmt.Fprintf(out, "%s: %s -> <waiting>\n", name, stmt)
		s.waited = true
	}
}

// serve is a session's process: it runs statements from its inbox forever.
func (h *transcript) serve(s *tsession) {
	e := h.node.Env
	for s.mu == nil {
		e.Sched.Yield() // the deliver process makes the inbox
	}
	conn, err := h.d.Connect()
	must(err)
	for {
		s.mu.Lock()
		for len(s.inbox) == 0 {
			s.cond.Wait()
		}
		stmt := s.inbox[0]
		s.inbox = s.inbox[1:]
		s.mu.Unlock()
		line := fmt.Sprintf("%s: %s -> %s", s.name, stmt, h.exec(conn, stmt))
		if s.waited {
			line += " (was waiting)"
		}
		h.done = append(h.done, line)
		s.pending, s.waited = "", false
	}
}

func (h *transcript) exec(s *db.Session, stmt string) string {
	f := strings.Fields(stmt)
	arg := func(i int) uint64 {
		if i >= len(f) {
			return 0
		}
		n, _ := strconv.ParseUint(f[i], 10, 64)
		return n
	}
	val := func(i int) []byte {
		if i >= len(f) {
			return nil
		}
		return []byte(f[i])
	}
	var err error
	res := "ok"
	switch f[0] {
	case "begin":
		iso := db.ReadCommitted
		if len(f) > 1 {
			switch f[1] {
			case "rr":
				iso = db.RepeatableRead
			case "serializable":
				iso = db.Serializable
			}
		}
		var mode db.TxnMode
		if len(f) > 3 && f[2] == "read" && f[3] == "only" {
			mode |= db.ModeReadOnly
		}
		if f[len(f)-1] == "deferrable" {
			mode |= db.ModeDeferrable
		}
		err = s.BeginMode(iso, mode)
	case "commit":
		err = s.Commit()
	case "rollback":
		err = s.Rollback()
	case "get":
		var v []byte
		var found bool
		v, found, err = s.Get("t", arg(1))
		res = "<none>"
		if found {
			res = string(v)
		}
	case "insert":
		err = s.Insert("t", arg(1), val(2))
		res = "INSERT 1"
	case "update", "delete", "append", "cas", "add":
		var n bool
		switch f[0] {
		case "update":
			n, err = s.Update("t", arg(1), val(2))
		case "delete":
			n, err = s.Delete("t", arg(1))
		case "append": // UPDATE t SET val = val || $2 WHERE key = $1
			n, err = s.Modify("t", arg(1), func(old []byte) ([]byte, bool) {
				return append(append([]byte(nil), old...), val(2)...), true
			})
		case "cas": // UPDATE t SET val = $3 WHERE key = $1 AND val = $2
			n, err = s.Modify("t", arg(1), func(old []byte) ([]byte, bool) {
				return val(3), string(old) == string(val(2))
			})
		case "add": // UPDATE t SET val = val + $2 WHERE key = $1 AND val is a number
			n, err = s.Modify("t", arg(1), func(old []byte) ([]byte, bool) {
				v, perr := strconv.ParseInt(string(old), 10, 64)
				if perr != nil {
					return nil, false
				}
				return []byte(strconv.FormatInt(v+int64(arg(2)), 10)), true
			})
		}
		verb := map[string]string{"update": "UPDATE", "delete": "DELETE", "append": "UPDATE", "cas": "UPDATE", "add": "UPDATE"}[f[0]]
		res = verb + map[bool]string{true: " 1", false: " 0"}[n]
	case "scan":
		var parts []string
		err = s.Scan("t", arg(1), arg(2), func(k uint64, v []byte) bool {
			parts = append(parts, fmt.Sprintf("%d=%s", k, v))
			return true
		})
		res = strings.Join(parts, " ")
	case "fill": // INSERT key LO..HI, each value its key padded with dots to BYTES
		n := 0
		for k := arg(1); k <= arg(2) && err == nil; k++ {
			if err = s.Insert("t", k, paddedNumber(int64(k), int(arg(3)))); err == nil {
				n++
			}
		}
		res = fmt.Sprintf("INSERT %d", n)
	case "insert-select": // INSERT INTO t SELECT key + $3, val FROM t WHERE key BETWEEN $1 AND $2
		var n int
		n, err = s.InsertSelect("t", arg(1), arg(2), arg(3), nil)
		res = fmt.Sprintf("INSERT %d", n)
	case "update-range": // UPDATE t SET val = val + $3 WHERE key BETWEEN $1 AND $2 (the number before the dots)
		var n int
		n, err = s.UpdateRange("t", arg(1), arg(2), func(old []byte) ([]byte, bool) {
			v, ok := leadingNumber(old)
			return paddedNumber(v+int64(arg(3)), len(old)), ok
		}, nil)
		res = fmt.Sprintf("UPDATE %d", n)
	case "count": // the rows in LO..HI: how many, their keys as runs, and the sum of their numbers
		var keys []uint64
		var sum int64
		err = s.Scan("t", arg(1), arg(2), func(k uint64, v []byte) bool {
			n, _ := leadingNumber(v)
			keys, sum = append(keys, k), sum+n
			return true
		})
		res = fmt.Sprintf("%d rows %s sum %d", len(keys), keyRuns(keys), sum)
	case "locks": // the SIREAD locks of the session's serializable transaction
		res = s.PredicateLocks()
		if s.SerializableReadOnlySafe() {
			res += " (safe snapshot)"
		}
	default:
		res = "unknown statement"
	}
	var pe *pgerr.Error
	if errors.As(err, &pe) && pe.Detail != "" {
		return "ERROR: " + err.Error() + " DETAIL: " + pe.Detail + " HINT: " + pe.Hint
	}
	if err != nil {
		return "ERROR: " + err.Error()
	}
	return res
}

// paddedNumber is n in decimal, padded with dots to width bytes (or
// longer when n needs more): a row wide enough to fill pages.
func paddedNumber(n int64, width int) []byte {
	b := []byte(strconv.FormatInt(n, 10))
	for len(b) < width {
		b = append(b, '.')
	}
	return b
}

// leadingNumber reads the number paddedNumber wrote; ok false when the
// value does not start with one.
func leadingNumber(v []byte) (int64, bool) {
	s, _, _ := strings.Cut(string(v), ".")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// keyRuns writes ascending keys as runs: "1..3,7".
func keyRuns(keys []uint64) string {
	var parts []string
	for i := 0; i < len(keys); {
		j := i
		for j+1 < len(keys) && keys[j+1] == keys[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.FormatUint(keys[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", keys[i], keys[j]))
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}
