package explain

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/xact"
	"github.com/pgdst/pgdst/fault"
)

// model is what explain keeps of a run's events: the kinds an account
// reads, in order, and who is who (process names and roles, the client
// each backend served). It is built one event at a time (Observe), from a
// replay or from recorded events, and reads nothing but typed fields.
type model struct {
	evs   []env.Event
	procs map[int]*procInfo
	// clients are the client processes' pids in spawn order: the
	// harness spawns client c as the c-th process of role client.
	clients []int
	// connClient maps a connection to the client process that wrote on
	// it; backendConn a backend to the connection it served (both sides
	// of a connection carry the same id in net events).
	connClient  map[int64]int
	backendConn map[int]int64
	// syncEnd is when each kept fsync (by its index in evs) completed:
	// the time of its process's next I/O or semantic event (a disk.sync
	// event is stamped when the fsync starts, and the process does
	// nothing else until it returns). An fsync a crash killed has none.
	syncEnd     map[int]time.Duration
	pendingSync map[int]int // pid -> index in evs of its fsync in progress
	dropped     int         // events beyond maxEvents, not kept
}

// maxEvents bounds what a model keeps (about 200 bytes each); a
// default run's kept events are a few tens of thousands.
const maxEvents = 1 << 20

type procInfo struct {
	pid   int
	name  string
	role  env.Role
	spawn time.Duration
}

func newModel() *model {
	return &model{procs: map[int]*procInfo{}, connClient: map[int64]int{}, backendConn: map[int]int64{},
		syncEnd: map[int]time.Duration{}, pendingSync: map[int]int{}}
}

// Observe is env.Observer.
func (m *model) Observe(e env.Event) { m.add(e) }

// add takes one event.
func (m *model) add(e env.Event) {
	if i, ok := m.pendingSync[e.Pid]; ok && e.Pid != 0 && completes(e.Kind) {
		delete(m.pendingSync, e.Pid)
		if e.Kind != env.EvKilled {
			m.syncEnd[i] = e.Time
		}
	}
	if e.Kind == env.EvDiskSync && len(m.evs) < maxEvents && keptDiskClass(e.Class) {
		m.pendingSync[e.Pid] = len(m.evs) // the index it is about to get
	}
	switch e.Kind {
	case env.EvSpawn:
		m.procs[int(e.A)] = &procInfo{pid: int(e.A), name: e.Name, role: e.Role2, spawn: e.Time}
		if e.Role2 == env.RoleClient {
			m.clients = append(m.clients, int(e.A))
		}
		return
	case env.EvNetRead, env.EvNetWrite:
		switch e.Role {
		case env.RoleClient:
			m.connClient[e.A] = e.Pid
		case env.RoleBackend:
			m.backendConn[e.Pid] = e.A
		}
		return
	case env.EvExit, env.EvKilled, env.EvPanic, env.EvStop, env.EvFaultStop,
		env.EvCrash, env.EvRecoveryCrash, env.EvFault,
		env.EvWALInsert, env.EvWALFlush, env.EvBufferWrite, env.EvControlUpdate,
		env.EvCheckpointBegin, env.EvCheckpointRedo, env.EvCheckpointEnd,
		env.EvCommit, env.EvCommitAck, env.EvRecoveryBegin, env.EvRecoveryEnd, env.EvPageInvalid,
		env.EvLockWait, env.EvLockWaitEnd, env.EvLockRelease:
	case env.EvDiskWrite, env.EvDiskSync:
		if !keptDiskClass(e.Class) {
			return
		}
	case env.EvDiskOpen, env.EvDiskRename, env.EvDiskRemove, env.EvDiskSyncDir:
		// The archive's files and its status files, and pg_wal's
		// segments removed or recycled (renamed into a future
		// segment's name; not a new segment renamed into place): the
		// archive account's steps.
		recycled := e.Kind == env.EvDiskRename && e.Class == env.FileWAL && !strings.HasSuffix(e.Name, "/xlogtemp")
		if e.Class != env.FileArchive && !(e.Kind == env.EvDiskRemove && e.Class == env.FileWAL) && !recycled && e.Kind != env.EvDiskSyncDir {
			return
		}
	case env.EvInject:
		if e.Name != buffer.PointBeforeWrite && e.Name != xact.PointAfterCommitInsert {
			return // the only points an account names
		}
	default:
		return
	}
	if len(m.evs) >= maxEvents {
		m.dropped++
		return
	}
	m.evs = append(m.evs, e)
}

// keptDiskClass reports whether writes and fsyncs of files of class c are
// kept: the data files', WAL's and archive's (pages, records, archived
// segments) and the control file's (a crash between its write and its
// fsync).
func keptDiskClass(c env.FileClass) bool {
	return c == env.FileHeap || c == env.FileIndex || c == env.FileWAL || c == env.FileArchive || c == env.FileControl
}

// completes reports whether an event of kind k shows that its process's
// fsync in progress returned (or, killed, never did): anything it does
// but the scheduler's own bookkeeping, which the fsync's latency itself
// emits.
func completes(k env.EventKind) bool {
	switch k {
	case env.EvNow, env.EvRand, env.EvLock, env.EvUnlock, env.EvYield, env.EvSwitch, env.EvSleep, env.EvCondWait, env.EvBlock:
		return false
	}
	return true
}

// syncedBy reports whether fsync event s (in evs) completed before t.
func (m *model) syncedBy(s *env.Event, t time.Duration) bool {
	for i := range m.evs {
		if &m.evs[i] == s {
			end, ok := m.syncEnd[i]
			return ok && end < t
		}
	}
	return false
}

// who names process pid for a reader: "the checkpointer (p6)", "backend
// p12 (client 1's connection)".
func (m *model) who(pid int) string {
	if pid == 0 {
		return "the harness"
	}
	p := m.procs[pid]
	if p == nil {
		return fmt.Sprintf("p%d", pid)
	}
	switch p.role {
	case env.RoleBackend:
		if c := m.clientOfBackend(pid); c >= 0 {
			return fmt.Sprintf("backend p%d (client %d's connection)", pid, c)
		}
		return fmt.Sprintf("backend p%d", pid)
	case env.RoleCheckpointer:
		return fmt.Sprintf("the checkpointer p%d", pid)
	case env.RoleBgwriter:
		return fmt.Sprintf("the background writer p%d", pid)
	case env.RoleWalwriter:
		return fmt.Sprintf("the WAL writer p%d", pid)
	case env.RoleStartup:
		return fmt.Sprintf("the startup process p%d", pid)
	case env.RoleClient:
		if c := m.clientIndex(pid); c >= 0 {
			return fmt.Sprintf("client %d (p%d)", c, pid)
		}
	}
	return fmt.Sprintf("%s p%d", p.name, pid)
}

// clientIndex is the workload's number of client process pid (-1: not a client).
func (m *model) clientIndex(pid int) int {
	for i, p := range m.clients {
		if p == pid {
			return i
		}
	}
	return -1
}

// clientOfBackend is the workload's number of the client backend pid
// served (-1: unknown).
func (m *model) clientOfBackend(pid int) int {
	conn, ok := m.backendConn[pid]
	if !ok {
		return -1
	}
	cp, ok := m.connClient[conn]
	if !ok {
		return -1
	}
	return m.clientIndex(cp)
}

// backendsOf lists the backends that served client c.
func (m *model) backendsOf(c int) map[int]bool {
	out := map[int]bool{}
	for pid := range m.backendConn {
		if m.clientOfBackend(pid) == c {
			out[pid] = true
		}
	}
	return out
}

// lifetimeStart is when the server lifetime holding t began: the last
// crash or start of redo before t (a crash-restart shows as its
// recovery), or 0.
func (m *model) lifetimeStart(t time.Duration) time.Duration {
	var start time.Duration
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time >= t {
			break
		}
		if e.Kind == env.EvCrash || e.Kind == env.EvRecoveryCrash || e.Kind == env.EvRecoveryBegin {
			start = e.Time
		}
	}
	return start
}

// flushedAt is how far WAL was flushed at t in t's server lifetime, and
// the flush that got it there (nil: none in that lifetime).
func (m *model) flushedAt(t time.Duration) (uint64, *env.Event) {
	start := m.lifetimeStart(t)
	var best *env.Event
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time > t {
			break
		}
		if e.Kind == env.EvWALFlush && e.Time >= start && (best == nil || e.LSN >= best.LSN) {
			best = e
		}
	}
	if best == nil {
		return 0, nil
	}
	return best.LSN, best
}

// firstAfter is the first event after t (strictly, or at t with atOK)
// that ok accepts.
func (m *model) firstAfter(t time.Duration, atOK bool, ok func(e *env.Event) bool) *env.Event {
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time < t || (e.Time == t && !atOK) {
			continue
		}
		if ok(e) {
			return e
		}
	}
	return nil
}

// lastBefore is the last event at or before t that ok accepts.
func (m *model) lastBefore(t time.Duration, ok func(e *env.Event) bool) *env.Event {
	var out *env.Event
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time > t {
			break
		}
		if ok(e) {
			out = e
		}
	}
	return out
}

// each calls fn on every event in [from, to] that ok accepts.
func (m *model) each(from, to time.Duration, ok func(e *env.Event) bool, fn func(e *env.Event)) {
	for i := range m.evs {
		e := &m.evs[i]
		if e.Time < from {
			continue
		}
		if e.Time > to {
			break
		}
		if ok(e) {
			fn(e)
		}
	}
}

// recordEnding is the WAL record whose end is lsn (a page's pd_lsn is
// the end of the record that last changed it: PageSetLSN(EndRecPtr)),
// the last inserted at or before t; nil when none was (a change from
// before the run's initdb image, say).
func (m *model) recordEnding(lsn uint64, t time.Duration) *env.Event {
	return m.lastBefore(t, func(e *env.Event) bool { return e.Kind == env.EvWALInsert && e.LSN2 == lsn })
}

// crashAfter is the first crash at or after t.
func (m *model) crashAfter(t time.Duration) *env.Event {
	return m.firstAfter(t, true, func(e *env.Event) bool { return e.Kind == env.EvCrash })
}

// serverRole reports whether r is a server process's role.
func serverRole(r env.Role) bool { return r != env.RoleClient && r != env.RoleOther }

// endAfter is how the server lifetime holding t ended: the first power
// loss at or after t, or a crash-restart before it, shown as a server
// process killed or panicking (the first of the postmaster's kills) that
// a recovery follows with no power loss in between. restart says which.
func (m *model) endAfter(t time.Duration) (e *env.Event, restart bool) {
	crash := m.crashAfter(t)
	var cand *env.Event
	for i := range m.evs {
		x := &m.evs[i]
		if x.Time < t {
			continue
		}
		if crash != nil && x.Time >= crash.Time {
			break
		}
		switch {
		case cand == nil && (x.Kind == env.EvKilled || x.Kind == env.EvPanic) && serverRole(x.Role):
			cand = x
		case cand != nil && x.Kind == env.EvRecoveryBegin:
			return cand, true
		}
	}
	return crash, false
}

// faultsBetween lists the faults that fired in [from, to] (in process
// pid only, unless pid is 0), as sentences.
func (m *model) faultsBetween(from, to time.Duration, pid int) []string {
	var out []string
	m.each(from, to, func(e *env.Event) bool { return e.Kind == env.EvFault && (pid == 0 || e.Pid == pid) }, func(e *env.Event) {
		out = append(out, fmt.Sprintf("fault %d (%s) fired in %s at %s: %s", e.A, fault.ActionKind(e.B), m.who(e.Pid), ms(e.Time), e.Name))
	})
	return out
}

// ms prints a virtual time as milliseconds.
func ms(t time.Duration) string {
	return strconv.FormatFloat(float64(t)/float64(time.Millisecond), 'f', 3, 64) + " ms"
}

// lsn prints an LSN as PostgreSQL does (%X/%X).
func lsn(v uint64) string {
	return strings.ToUpper(strconv.FormatUint(v>>32, 16)) + "/" + strings.ToUpper(strconv.FormatUint(v&0xffffffff, 16))
}

// plural is "1 row", "2 rows".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
