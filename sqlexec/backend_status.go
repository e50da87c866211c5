package sqlexec

// The server's sessions as other sessions see them: PostgreSQL's
// BackendStatusArray (backend_status.c) reduced to what pgdst serve
// needs, which is pg_isolation_test_session_is_blocked (waitfuncs.c,
// isolationtester's way of telling that a step waits on a lock) and the
// PIDs a deadlock report names.

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// backendStatus maps PIDs (BackendKeyData's process ids) to sessions and
// the engine's backend ids to PIDs. Sessions register in NewSession and
// leave in Close.
type backendStatus struct {
	mu        sync.Mutex
	byPID     map[int]*Session
	pidOfSlot map[int]int
}

func (b *backendStatus) add(x *Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byPID == nil {
		b.byPID, b.pidOfSlot = map[int]*Session{}, map[int]int{}
	}
	b.byPID[x.PID] = x
	b.pidOfSlot[x.s.Backend()] = x.PID
}

func (b *backendStatus) remove(x *Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byPID[x.PID] == x {
		delete(b.byPID, x.PID)
	}
	if b.pidOfSlot[x.s.Backend()] == x.PID {
		delete(b.pidOfSlot, x.s.Backend())
	}
}

func (b *backendStatus) session(pid int) *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byPID[pid]
}

// pidOf is the PID of the session on engine backend slot (0: none).
func (b *backendStatus) pidOf(slot int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pidOfSlot[slot]
}

// Close leaves the server's list of sessions. The engine session is the
// caller's to close.
func (x *Session) Close() { x.cat.status.remove(x) }

// blockingPID is pg_blocking_pids(pid) for pgdst serve's only kind of
// wait, a transaction lock (a row locked or updated by an open
// transaction): the PID of the session whose transaction pid's statement
// waits for, or 0.
func (c *Catalog) blockingPID(pid int) int {
	x := c.status.session(pid)
	if x == nil {
		return 0
	}
	slot, ok := x.s.BlockedBy()
	if !ok {
		return 0
	}
	return c.status.pidOf(slot)
}

// isolationTestSessionIsBlocked is pg_isolation_test_session_is_blocked:
// whether pid waits for a lock held by one of interesting. PostgreSQL also
// counts a SERIALIZABLE READ ONLY DEFERRABLE transaction's wait for a safe
// snapshot; pgdst serve runs DEFERRABLE at once, so it never waits so.
func (c *Catalog) isolationTestSessionIsBlocked(pid int, interesting []int) bool {
	b := c.blockingPID(pid)
	if b == 0 {
		return false
	}
	for _, p := range interesting {
		if p == b {
			return true
		}
	}
	return false
}

// parseIntArray reads an int[] literal's text ('{1,2,3}'), as array_in
// does for the integers isolationtester passes.
func parseIntArray(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, newErr(CodeInvalidTextRepresentation, "malformed array literal: \"%s\"", s)
	}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(body, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, newErr(CodeInvalidTextRepresentation, "invalid input syntax for type integer: \"%s\"", strings.TrimSpace(f))
		}
		out = append(out, n)
	}
	return out, nil
}

var processNumber = regexp.MustCompile(`([Pp]rocess )(\d+)`)

// deadlockDetail shows a deadlock report's engine backend ids as the
// sessions' PIDs, which is what PostgreSQL's DeadLockReport names and what
// a client can match with pg_backend_pid().
func (c *Catalog) deadlockDetail(detail string) string {
	return processNumber.ReplaceAllStringFunc(detail, func(m string) string {
		sub := processNumber.FindStringSubmatch(m)
		slot, err := strconv.Atoi(sub[2])
		if err != nil {
			return m
		}
		if pid := c.status.pidOf(slot); pid != 0 {
			return sub[1] + strconv.Itoa(pid)
		}
		return m
	})
}
