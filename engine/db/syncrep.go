package db

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/engine/xact"
)

// Synchronous replication (issue 19; PostgreSQL 15's syncrep.c): with
// synchronous_standby_names set and synchronous_commit at remote_write or
// above, a committing backend waits, after its commit record is flushed
// locally and the clog is set but before the transaction becomes visible
// to others (RecordTransactionCommit calls SyncRepWaitForLSN before
// CommitTransaction's ProcArrayEndTransaction), until the synchronous
// standbys' reported write, flush or apply positions pass its commit
// record's end. The WAL senders release the waiters on each status update
// (SyncRepReleaseWaiters). A wait ended by a cancel or a termination
// leaves the transaction committed locally but perhaps not replicated:
// PostgreSQL's documented hazard, with its WARNING.

// SyncCommitLevel is synchronous_commit (SyncCommitLevel in xact.h).
type SyncCommitLevel uint8

// The levels, in PostgreSQL's order. SyncCommitDefault is the unset
// value: Config.SynchronousCommit's on or off decides.
const (
	SyncCommitDefault SyncCommitLevel = iota
	SyncCommitOff
	SyncCommitLocal
	SyncCommitRemoteWrite
	SyncCommitOn
	SyncCommitRemoteApply
)

var syncCommitNames = [...]string{"", "off", "local", "remote_write", "on", "remote_apply"}

func (l SyncCommitLevel) String() string {
	if int(l) < len(syncCommitNames) {
		return syncCommitNames[l]
	}
	return fmt.Sprintf("synchronous_commit(%d)", uint8(l))
}

// ParseSyncCommitLevel reads synchronous_commit as PostgreSQL spells it
// (synchronous_commit_options; "true"/"false" and "1"/"0" are on and off
// there too).
func ParseSyncCommitLevel(s string) (SyncCommitLevel, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "false", "no", "0":
		return SyncCommitOff, nil
	case "local":
		return SyncCommitLocal, nil
	case "remote_write":
		return SyncCommitRemoteWrite, nil
	case "on", "true", "yes", "1":
		return SyncCommitOn, nil
	case "remote_apply":
		return SyncCommitRemoteApply, nil
	}
	return 0, fmt.Errorf("invalid value for parameter \"synchronous_commit\": %q (known: off, local, remote_write, on, remote_apply)", s)
}

// SyncCommit is the configuration's effective synchronous_commit.
func (c Config) SyncCommit() SyncCommitLevel {
	switch {
	case c.SynchronousCommitLevel != SyncCommitDefault:
		return c.SynchronousCommitLevel
	case c.SynchronousCommit:
		return SyncCommitOn
	}
	return SyncCommitOff
}

// The wait modes (SYNC_REP_WAIT_WRITE, _FLUSH, _APPLY), one queue each.
const (
	syncRepWaitWrite = iota
	syncRepWaitFlush
	syncRepWaitApply
	syncRepWaitModes
)

// syncRepMode is the queue a level waits in (SyncRepWaitMode).
func syncRepMode(l SyncCommitLevel) int {
	switch l {
	case SyncCommitRemoteWrite:
		return syncRepWaitWrite
	case SyncCommitRemoteApply:
		return syncRepWaitApply
	}
	return syncRepWaitFlush
}

// SyncStandbys is synchronous_standby_names parsed (SyncRepConfigData):
// FIRST Num of Names by priority, or ANY Num of them (Quorum). The zero
// value is the empty setting: asynchronous replication.
type SyncStandbys struct {
	Quorum bool
	Num    int
	Names  []string
}

// Defined reports whether synchronous standbys are asked for
// (WalSndCtl->sync_standbys_defined).
func (s SyncStandbys) Defined() bool { return s.Num > 0 }

func (s SyncStandbys) String() string {
	if !s.Defined() {
		return ""
	}
	m := "FIRST"
	if s.Quorum {
		m = "ANY"
	}
	return fmt.Sprintf("%s %d (%s)", m, s.Num, strings.Join(s.Names, ", "))
}

// syncNamesMax bounds the names of synchronous_standby_names.
const syncNamesMax = 64

// ParseSyncStandbyNames parses synchronous_standby_names with
// PostgreSQL's grammar (syncrep_gram.y, syncrep_scanner.l): `FIRST n
// (s1, s2, ...)`, `ANY n (s1, ...)`, `n (s1, ...)` (FIRST), a bare list
// `s1, s2` (FIRST 1), a name being an identifier, a number, a
// double-quoted string or `*`. Keywords are case-insensitive. Empty
// (or blank) is asynchronous replication. n must be positive (check_
// synchronous_standby_names: "number of synchronous standbys (%d) must
// be greater than zero").
func ParseSyncStandbyNames(s string) (SyncStandbys, error) {
	toks, err := syncRepScan(s)
	if err != nil {
		return SyncStandbys{}, err
	}
	if len(toks) == 0 {
		return SyncStandbys{}, nil
	}
	bad := func(why string) (SyncStandbys, error) {
		return SyncStandbys{}, fmt.Errorf("invalid value for parameter \"synchronous_standby_names\": %q: %s", s, why)
	}
	var out SyncStandbys
	i := 0
	explicit := false
	if t := toks[0]; t.keyword() {
		if len(toks) < 2 || !toks[1].num {
			return bad(fmt.Sprintf("syntax error: a number must follow %s", strings.ToUpper(t.s)))
		}
		out.Quorum = strings.EqualFold(t.s, "ANY")
		i, explicit = 1, true
	}
	if toks[i].num && i+1 < len(toks) && toks[i+1].s == "(" && !toks[i+1].quoted {
		n, err := strconv.Atoi(toks[i].s)
		if err != nil {
			return bad("number of synchronous standbys out of range")
		}
		if n <= 0 {
			return bad(fmt.Sprintf("number of synchronous standbys (%d) must be greater than zero", n))
		}
		out.Num = n
		i += 2
		if toks[len(toks)-1].s != ")" || toks[len(toks)-1].quoted {
			return bad("syntax error: missing \")\"")
		}
		toks = toks[:len(toks)-1]
		explicit = true
	} else if explicit {
		return bad("syntax error: expected \"(\" after the number")
	} else {
		out.Num = 1 // the pre-9.6 list: FIRST 1
	}
	// A comma-separated list of names from toks[i:].
	for want := true; i < len(toks); i++ {
		t := toks[i]
		switch {
		case want && t.name():
			out.Names = append(out.Names, t.s)
			want = false
		case !want && t.s == "," && !t.quoted:
			want = true
			if i == len(toks)-1 {
				return bad("syntax error at end of input")
			}
		default:
			return bad(fmt.Sprintf("syntax error at or near %q", t.s))
		}
	}
	switch {
	case len(out.Names) == 0:
		return bad("syntax error: no standby names")
	case len(out.Names) > syncNamesMax:
		return bad(fmt.Sprintf("more than %d standby names", syncNamesMax))
	}
	return out, nil
}

// syncRepToken is one token of synchronous_standby_names.
type syncRepToken struct {
	s           string
	quoted, num bool
}

// name reports whether the token can be a standby name (NAME or NUM).
func (t syncRepToken) name() bool {
	return t.quoted || t.num || t.s == "*" || (t.s != "," && t.s != "(" && t.s != ")" && !t.keyword())
}

// keyword reports whether the token is FIRST or ANY, which the scanner
// takes for keywords wherever they are unquoted.
func (t syncRepToken) keyword() bool {
	return !t.quoted && (strings.EqualFold(t.s, "FIRST") || strings.EqualFold(t.s, "ANY"))
}

// syncRepScan is syncrep_scanner.l: identifiers (letters, digits, _ and
// $, not starting with a digit), numbers, "quoted" names ("" for a
// quote), *, commas and parentheses, separated by white space.
func syncRepScan(s string) ([]syncRepToken, error) {
	var toks []syncRepToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',' || c == '(' || c == ')' || c == '*':
			toks = append(toks, syncRepToken{s: s[i : i+1]})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(s) {
					return nil, fmt.Errorf("invalid value for parameter \"synchronous_standby_names\": %q: unterminated quoted identifier", s)
				}
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if b.Len() == 0 {
				return nil, fmt.Errorf("invalid value for parameter \"synchronous_standby_names\": %q: zero-length quoted identifier", s)
			}
			toks = append(toks, syncRepToken{s: b.String(), quoted: true})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			toks = append(toks, syncRepToken{s: s[i:j], num: true})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9' || s[j] >= 0x80) {
				j++
			}
			toks = append(toks, syncRepToken{s: s[i:j]})
			i = j
		default:
			return nil, fmt.Errorf("invalid value for parameter \"synchronous_standby_names\": %q: syntax error at or near %q", s, string(c))
		}
	}
	return toks, nil
}

// Priority is a standby's sync_standby_priority
// (SyncRepGetStandbyPriority): its 1-based place in the list for FIRST,
// 1 for every listed standby under ANY, 0 for one not listed (an
// asynchronous standby). `*` matches every name; names compare without
// regard to case (pg_strcasecmp).
func (s SyncStandbys) Priority(appName string) int {
	for i, n := range s.Names {
		if n == "*" || strings.EqualFold(n, appName) {
			if s.Quorum {
				return 1
			}
			return i + 1
		}
	}
	return 0
}

// SyncCandidate is one standby a sync-rep computation looks at
// (SyncRepStandbyData): its reported positions, its priority, its WAL
// sender's slot, and whether it is the caller's own.
type SyncCandidate struct {
	Write, Flush, Apply wal.LSN
	Priority            int
	Slot                int
	Me                  bool
}

// SyncRepGetSyncRecPtr computes the positions every synchronous
// standby has reached (SyncRepGetSyncRecPtr over
// SyncRepGetCandidateStandbys): candidates are the streaming standbys
// with a priority and a valid flush position. FIRST n takes the n of
// highest priority (ties by WAL sender slot) and the oldest of each
// position among them (SyncRepGetOldestSyncRecPtr); ANY n takes, for
// each position, the n-th newest among all candidates
// (SyncRepGetNthLatestSyncRecPtr). ok is false when there are fewer than
// n candidates, or when the caller's standby is not among the synchronous
// ones (am_sync): only a synchronous standby's WAL sender releases
// waiters.
func SyncRepGetSyncRecPtr(cfg SyncStandbys, cands []SyncCandidate) (write, flush, apply wal.LSN, ok bool) {
	var c []SyncCandidate
	for _, x := range cands {
		if x.Priority > 0 && x.Flush != wal.InvalidLSN {
			c = append(c, x)
		}
	}
	if !cfg.Defined() || len(c) < cfg.Num {
		return 0, 0, 0, false
	}
	if !cfg.Quorum && len(c) > cfg.Num {
		slices.SortStableFunc(c, func(a, b SyncCandidate) int {
			if a.Priority != b.Priority {
				return a.Priority - b.Priority
			}
			return a.Slot - b.Slot
		})
		c = c[:cfg.Num]
	}
	if !slices.ContainsFunc(c, func(x SyncCandidate) bool { return x.Me }) {
		return 0, 0, 0, false
	}
	if !cfg.Quorum {
		write, flush, apply = c[0].Write, c[0].Flush, c[0].Apply
		for _, x := range c[1:] {
			write, flush, apply = min(write, x.Write), min(flush, x.Flush), min(apply, x.Apply)
		}
		return write, flush, apply, true
	}
	nth := func(get func(SyncCandidate) wal.LSN) wal.LSN {
		v := make([]wal.LSN, len(c))
		for i, x := range c {
			v[i] = get(x)
		}
		slices.Sort(v)
		return v[len(v)-cfg.Num] // the Num-th newest
	}
	return nth(func(x SyncCandidate) wal.LSN { return x.Write }), nth(func(x SyncCandidate) wal.LSN { return x.Flush }), nth(func(x SyncCandidate) wal.LSN { return x.Apply }), true
}

// The WARNINGs of a sync-rep wait that ends without the standbys'
// confirmation (SyncRepWaitForLSN), and their DETAIL.
const (
	SyncRepCancelWarning    = "canceling wait for synchronous replication due to user request"
	SyncRepTerminateWarning = "canceling the wait for synchronous replication and terminating connection due to administrator command"
	SyncRepWarningDetail    = "The transaction has already committed locally, but might not have been replicated to the standby."
)

// syncRepWaiter is one backend in a sync-rep queue (its PGPROC's
// waitLSN, syncRepState and queue link).
type syncRepWaiter struct {
	slot  int
	lsn   wal.LSN
	mode  int
	since time.Duration
	// done is SYNC_REP_WAIT_COMPLETE; cancel and die are the pending
	// interrupts (QueryCancelPending, ProcDiePending) a cancel or a
	// termination sets.
	done, cancel, die bool
}

// syncRepCtl is the sync-rep part of WalSndCtl: SyncRepLock, the
// released positions per mode (walsndctl->lsn), the queues in LSN order
// (SyncRepQueue), and what each ended wait left for its session.
type syncRepCtl struct {
	mu     env.Mutex
	cv     env.Cond
	cfg    SyncStandbys
	lsn    [syncRepWaitModes]wal.LSN
	queue  [syncRepWaitModes][]*syncRepWaiter
	ending map[int]syncRepEnd // by proc slot: how its last wait ended
}

// syncRepEnd is what a wait that was not confirmed leaves its session:
// the WARNING given, and whether the backend must now end (die).
type syncRepEnd struct {
	warning string
	die     bool
}

// initSyncRep makes the sync-rep state of a primary's shared memory and
// hooks the wait into the transaction manager's commit, when recovery
// ends under a postmaster. The setting was validated with the
// configuration.
func (db *DB) initSyncRep() {
	cfg, err := ParseSyncStandbyNames(db.cfg.SynchronousStandbyNames)
	if err != nil {
		panic(fmt.Sprintf("db: %v", err)) // Config.Validate rejects it first
	}
	level := db.cfg.SyncCommit()
	// SyncRepRequested: max_wal_senders > 0 and synchronous_commit
	// above local.
	if !cfg.Defined() || db.cfg.MaxWalSenders == 0 || level <= SyncCommitLocal {
		db.syncRep = nil
		return
	}
	// SyncRepLock is an LWLock in PostgreSQL; here a spinlock (held for
	// a few instructions, never across a scheduling point, and released
	// by the condition's Wait), so that the LWLock tranche table, from
	// which the swarm draws its lock pauses by index, and with it every
	// seed's draw, stays as it was.
	mu := db.e.Sched.NewSpinLock("SyncRepLock")
	db.syncRep = &syncRepCtl{mu: mu, cv: db.e.Sched.NewCond("SyncRep", mu), cfg: cfg, ending: map[int]syncRepEnd{}}
	mode := syncRepMode(level)
	db.Xacts.SyncRepWait = func(p *xact.Proc, end wal.LSN) { db.syncRepWaitForLSN(p.Slot(), end, mode) }
}

// syncRepWaitForLSN is SyncRepWaitForLSN: wait until the synchronous
// standbys have passed lsn in mode, or until a cancel or a termination
// ends the wait with its WARNING (the transaction stays committed
// locally: it is in the clog and about to leave the proc array).
func (db *DB) syncRepWaitForLSN(slot int, lsn wal.LSN, mode int) {
	sr, e := db.syncRep, db.e
	sr.mu.Lock()
	end := sr.wait(e, slot, lsn, mode)
	sr.mu.Unlock()
	// The WARNING is written once the lock is given up: logging is a
	// scheduling point, and the lock a spinlock.
	switch {
	case end.die:
		e.Logf("WARNING: %s\nDETAIL: %s", SyncRepTerminateWarning, SyncRepWarningDetail)
		e.Sometimes("syncrep-wait-terminated")
	case end.warning != "":
		e.Logf("WARNING: %s\nDETAIL: %s", SyncRepCancelWarning, SyncRepWarningDetail)
		e.Sometimes("syncrep-wait-canceled")
	}
}

// wait is syncRepWaitForLSN's part under SyncRepLock: it returns how an
// unconfirmed wait ended (the zero value when the standbys confirmed).
func (sr *syncRepCtl) wait(e *env.Env, slot int, lsn wal.LSN, mode int) syncRepEnd {
	if lsn <= sr.lsn[mode] {
		return syncRepEnd{} // already confirmed by an earlier release
	}
	w := &syncRepWaiter{slot: slot, lsn: lsn, mode: mode, since: e.Clock.Now()}
	// SyncRepQueueInsert: the queue is kept in LSN order, searched from
	// its tail where a new commit's LSN most likely belongs.
	q := sr.queue[mode]
	i := len(q)
	for i > 0 && q[i-1].lsn > lsn {
		i--
	}
	sr.queue[mode] = slices.Insert(q, i, w)
	e.Sometimes("syncrep-wait")
	// Each pass waits for a wakeup (a release, a cancel, a
	// termination), so the loop ends with one of them; the bound only
	// guards against a lost wakeup turning into a silent spin.
	for pass := 0; ; pass++ {
		if pass > 1<<30 {
			panic("db: sync-rep wait woken a billion times")
		}
		if w.done {
			return syncRepEnd{}
		}
		if w.die {
			// ProcDiePending: the backend will end after the commit;
			// nothing more goes to its client (whereToSendOutput =
			// DestNone).
			sr.cancelWait(w)
			end := syncRepEnd{warning: SyncRepTerminateWarning, die: true}
			sr.ending[slot] = end
			return end
		}
		if w.cancel {
			sr.cancelWait(w)
			end := syncRepEnd{warning: SyncRepCancelWarning}
			sr.ending[slot] = end
			return end
		}
		sr.cv.Wait()
	}
}

// cancelWait is SyncRepCancelWait: the waiter leaves its queue.
func (sr *syncRepCtl) cancelWait(w *syncRepWaiter) {
	q := sr.queue[w.mode]
	if i := slices.Index(q, w); i >= 0 {
		sr.queue[w.mode] = slices.Delete(q, i, i+1)
	}
}

// takeSyncRepEnd returns, once, how the last sync-rep wait of the
// backend in slot ended when the standbys did not confirm it.
func (db *DB) takeSyncRepEnd(slot int) syncRepEnd {
	sr := db.syncRep
	if sr == nil {
		return syncRepEnd{}
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	end, ok := sr.ending[slot]
	if ok {
		delete(sr.ending, slot)
	}
	return end
}

// SyncRepWaiter is a backend waiting for synchronous replication, as
// pg_stat_activity shows it (wait_event SyncRep): its proc slot (its
// pid here), the commit LSN it waits for, and since when.
type SyncRepWaiter struct {
	Slot  int
	LSN   wal.LSN
	Since time.Duration
}

// SyncRepWaiters lists the backends waiting for synchronous
// replication, in slot order.
func (db *DB) SyncRepWaiters() []SyncRepWaiter {
	sr := db.syncRep
	if sr == nil {
		return nil
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	var out []SyncRepWaiter
	for _, q := range sr.queue {
		for _, w := range q {
			out = append(out, SyncRepWaiter{Slot: w.slot, LSN: w.lsn, Since: w.since})
		}
	}
	slices.SortFunc(out, func(a, b SyncRepWaiter) int { return a.Slot - b.Slot })
	return out
}

// InterruptSyncRepWait is pg_cancel_backend (terminate false) or
// pg_terminate_backend (true) of the backend in slot, as the backend
// waiting in SyncRepWaitForLSN sees it: the interrupt is set and its
// latch woken. It reports whether that backend was waiting; a backend
// that is not (its wait just ended) is left alone, which is what a
// cancel arriving after the wait's end comes to for a commit.
func (db *DB) InterruptSyncRepWait(slot int, terminate bool) bool {
	sr := db.syncRep
	if sr == nil {
		return false
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for _, q := range sr.queue {
		for _, w := range q {
			if w.slot == slot {
				if terminate {
					w.die = true
				} else {
					w.cancel = true
				}
				sr.cv.Broadcast()
				return true
			}
		}
	}
	return false
}

// SyncRepReleaseWaiters is the WAL sender in slot taking its standby's
// status update (ProcessStandbyReplyMessage calls SyncRepReleaseWaiters):
// when its standby is a synchronous one, the positions every synchronous
// standby has reached are computed, each mode's released position moves
// forward to them, and the waiters they pass are woken
// (SyncRepWakeQueue).
func (db *DB) SyncRepReleaseWaiters(slot int) {
	sr := db.syncRep
	if sr == nil {
		return
	}
	me := &db.walSnds[slot]
	if !me.InUse || !me.Streaming || me.Flush == wal.InvalidLSN || sr.cfg.Priority(me.AppName) == 0 {
		return
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	var cands []SyncCandidate
	for i := range db.walSnds {
		ws := &db.walSnds[i]
		if ws.InUse && ws.Streaming {
			cands = append(cands, SyncCandidate{Write: ws.Write, Flush: ws.Flush, Apply: ws.Apply, Priority: sr.cfg.Priority(ws.AppName), Slot: i, Me: i == slot})
		}
	}
	write, flush, apply, ok := SyncRepGetSyncRecPtr(sr.cfg, cands)
	if !ok {
		return
	}
	if db.cfg.Bugs.Has(bugs.SyncRepReleaseAtWrite) {
		// Planted bug syncrep-release-at-write: the flush queue is
		// released by the write position, as if remote_write were asked.
		flush = max(flush, write)
	}
	woken := false
	for mode, pos := range [syncRepWaitModes]wal.LSN{write, flush, apply} {
		if sr.lsn[mode] >= pos {
			continue
		}
		sr.lsn[mode] = pos
		// SyncRepWakeQueue: the queue is in LSN order; wake its head
		// while the released position covers it.
		q := sr.queue[mode]
		n := 0
		for n < len(q) && q[n].lsn <= pos {
			q[n].done = true
			n++
		}
		if n > 0 {
			woken = true
			e := db.e
			switch mode {
			case syncRepWaitWrite:
				e.Sometimes("syncrep-released-write")
			case syncRepWaitFlush:
				e.Sometimes("syncrep-released-flush")
			default:
				e.Sometimes("syncrep-released-apply")
			}
			sr.queue[mode] = slices.Delete(q, 0, n)
		}
	}
	if woken {
		sr.cv.Broadcast()
	}
}

// validateSyncRep is Config.Validate's check of the sync-rep settings.
func (c Config) validateSyncRep() error {
	if _, err := ParseSyncStandbyNames(c.SynchronousStandbyNames); err != nil {
		return err
	}
	switch l := c.SynchronousCommitLevel; {
	case l > SyncCommitRemoteApply:
		return fmt.Errorf("invalid value for parameter \"synchronous_commit\": %d", uint8(l))
	case l != SyncCommitDefault && (l == SyncCommitOff) == c.SynchronousCommit:
		return fmt.Errorf("synchronous_commit = %s contradicts SynchronousCommit = %v", l, c.SynchronousCommit)
	}
	return nil
}
