package db

import (
	"fmt"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/wal"
)

// Following a timeline switch (issue 19): after a failover the other
// standbys, pointed at the new primary, must follow its new timeline, as
// PostgreSQL's do with recovery_target_timeline = latest.
//
// The WAL sender serves any timeline of its server's history
// (StartReplication, tliSwitchPoint): a historic timeline up to its
// switch point, then the stream ends with the next timeline's ID and
// start. The WAL receiver fetches the history files it lacks
// (WalRcvFetchTimeLineHistoryFiles, TIMELINE_HISTORY) into pg_wal and
// tells the startup process, which rescans (rescanLatestTimeLine): a new
// timeline is followed only if the standby's timeline is in its history
// and it forked off at or after the standby's replay position. From then
// on the standby reads each segment from the timeline that owns it
// (XLogFileReadAnyTLI over expectedTLEs, archive_recovery.go's tlisFor).

// SendTimeLine is what StartReplication needs to stream timeline tli of
// this server's history: for a historic timeline, the switch point it
// streams up to and the timeline after it; and, for each segment, the
// timeline whose copy of it to read (WalSndSegmentOpen).
type SendTimeLine struct {
	TLI      uint32
	Historic bool
	SwitchAt wal.LSN
	Next     uint32
	tles     []timeLineEntry // this server's history, newest first
	segSize  uint64
}

// FileTLI is the timeline whose file holds segment seg of the stream: the
// newest timeline not after the one streamed that begins at or before
// the segment, except that a historic timeline's last segment is read
// from the next timeline's copy (WalSndSegmentOpen: the old timeline's
// copy became .partial at the promotion).
func (t *SendTimeLine) FileTLI(seg uint64) uint32 {
	if t.Historic && seg == uint64(t.SwitchAt)/t.segSize {
		return t.Next
	}
	for _, e := range t.tles { // bounded by the history's length
		if e.tli > t.TLI || e.begin != wal.InvalidLSN && uint64(e.begin)/t.segSize > seg {
			continue
		}
		return e.tli
	}
	return 1
}

// StartReplicationTimeLine is StartReplication's timeline check for a
// request to stream timeline tli from start. Timeline 1 on a server that
// never switched reads no file.
func (db *DB) StartReplicationTimeLine(tli uint32, start wal.LSN) (*SendTimeLine, error) {
	cur := max(db.timeline, 1)
	t := &SendTimeLine{TLI: tli, tles: []timeLineEntry{{tli: cur}}, segSize: uint64(db.cfg.WAL.SegmentSize)}
	if tli == 0 || tli > cur {
		return nil, pgerr.New(pgerr.UndefinedObject, "requested timeline %d is not in this server's history", tli)
	}
	if cur == 1 {
		return t, nil
	}
	tles, err := db.readHistoryTLEs(cur)
	if err != nil {
		return nil, err
	}
	t.tles = tles
	if tli == cur {
		return t, nil
	}
	// tliSwitchPoint: the historic timeline ends where its child
	// begins.
	for i := 1; i < len(tles); i++ {
		if tles[i].tli == tli {
			t.Historic, t.SwitchAt, t.Next = true, tles[i-1].begin, tles[i-1].tli
		}
	}
	if !t.Historic {
		return nil, pgerr.New(pgerr.UndefinedObject, "requested timeline %d is not in this server's history", tli)
	}
	if start > t.SwitchAt {
		// StartReplication: "requested starting point %X/%X on
		// timeline %u is not in this server's history".
		return nil, pgerr.New(pgerr.ObjectNotInPrerequisiteState, "requested starting point %s on timeline %d is not in this server's history: this server's history forked from timeline %d at %s", start, tli, tli, t.SwitchAt)
	}
	return t, nil
}

// readHistoryTLEs reads timeline tli's history file from pg_wal into
// expectedTLEs' form, newest first (readTimeLineHistory).
func (db *DB) readHistoryTLEs(tli uint32) ([]timeLineEntry, error) {
	b, err := db.TimeLineHistoryFile(tli)
	if err != nil {
		return nil, err
	}
	tlis, switches, err := ParseHistory(b)
	if err != nil {
		return nil, fmt.Errorf("invalid data in history file of timeline %d: %w", tli, err)
	}
	if len(tlis) == 0 || tlis[len(tlis)-1] >= tli {
		return nil, fmt.Errorf("invalid data in history file of timeline %d: parent %v", tli, tlis)
	}
	out := []timeLineEntry{{tli: tli, begin: switches[len(switches)-1]}}
	for i := len(tlis) - 1; i >= 0; i-- {
		begin := wal.InvalidLSN
		if i > 0 {
			begin = switches[i-1]
		}
		out = append(out, timeLineEntry{tli: tlis[i], begin: begin})
	}
	return out, nil
}

// TimeLineHistoryFile is the content of timeline tli's history file
// (SendTimeLineHistory reads it whole).
func (db *DB) TimeLineHistoryFile(tli uint32) ([]byte, error) {
	e := db.e
	f, err := e.Disk.Open(historyPath(tli), env.OpenExisting)
	if err != nil {
		return nil, pgerr.New(pgerr.UndefinedFile, "could not open file %q: %v", historyPath(tli), err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil || size > 64<<10 {
		return nil, fmt.Errorf("could not read file %q: size %d: %v", historyPath(tli), size, err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) != size {
		return nil, fmt.Errorf("could not read file %q: %v", historyPath(tli), err)
	}
	return b, nil
}

// HasTimeLineHistory is existsTimeLineHistory in pg_wal.
func (db *DB) HasTimeLineHistory(tli uint32) bool {
	if tli <= 1 {
		return true
	}
	f, err := db.e.Disk.Open(historyPath(tli), env.OpenExisting)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// WriteTimeLineHistoryFile is writeTimeLineHistoryFile: the WAL
// receiver's copy of a history file the primary sent, made durable under
// its name (a temporary file, fsync, durable_rename). Content that does
// not parse as tli's history is refused.
func (db *DB) WriteTimeLineHistoryFile(tli uint32, content []byte) error {
	e := db.e
	tlis, _, err := ParseHistory(content)
	if err != nil || len(tlis) == 0 || tlis[len(tlis)-1] >= tli {
		return fmt.Errorf("invalid history file of timeline %d from the primary: %v", tli, err)
	}
	tmp := wal.Dir + "/xlogtemp.history"
	_ = e.Disk.Remove(tmp)
	f, err := e.Disk.Open(tmp, env.OpenCreateExcl)
	if err != nil {
		return fmt.Errorf("could not create file %q: %w", tmp, err)
	}
	if _, err := f.WriteAt(content, 0); err != nil {
		f.Close()
		return fmt.Errorf("could not write to file %q: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", tmp, err)
	}
	f.Close()
	if err := e.Disk.Rename(tmp, historyPath(tli)); err != nil {
		return fmt.Errorf("could not rename file %q to %q: %w", tmp, historyPath(tli), err)
	}
	if err := e.Disk.SyncDir(wal.Dir); err != nil {
		e.Panicf("could not fsync directory %q: %v", wal.Dir, err)
	}
	e.Sometimes("walreceiver-history-fetched")
	return nil
}

// The WAL receiver's timeline state in WalRcvData. tli, ended and
// histories are read and written without the spinlock, as Begin and End
// are (promote.go): the simulator runs one process at a time and none of
// these has a scheduling point, and taking the lock would change the trace
// of every run with a standby.

// WantedTimeline is the timeline the startup process asked to stream
// (receiveStartTLI).
func (w *WalRcv) WantedTimeline() uint32 { return max(w.tli, 1) }

// EndOfTimeline is the receiver reaching the end of the timeline it
// streamed for request gen (WalRcvWaitForStartPosition): it waits for new
// orders from the startup process.
func (w *WalRcv) EndOfTimeline(gen int) {
	if w.gen == gen {
		w.ended = true
	}
}

// Ended reports whether the stream for request gen reached the end of
// its timeline.
func (w *WalRcv) Ended(gen int) bool { return w.ended && w.gen == gen }

// HistoryFetched records that the receiver wrote a history file the
// startup process has not seen (it rescans, rescanLatestTimeLine).
func (w *WalRcv) HistoryFetched() { w.histories++ }

// Refused reports whether the last START_REPLICATION was refused;
// SetRefused records it (the receiver asks IDENTIFY_SYSTEM after one).
func (w *WalRcv) Refused() bool { return w.refused }

// SetRefused records whether START_REPLICATION was refused.
func (w *WalRcv) SetRefused(r bool) { w.refused = r }

// requestOn is RequestXLogStreaming(tli, start). PostgreSQL starts
// streaming at the beginning of start's segment; here the receiver starts
// at start, as on timeline 1 (the engine's receivers always have), and a
// new timeline's copy of the switch segment is made by followTimeline.
func (w *WalRcv) requestOn(tli uint32, start wal.LSN) {
	w.tli, w.ended = tli, false
	w.RequestStreaming(start)
}

// tliOfPoint is tliOfPointInHistory over expectedTLEs: the timeline whose
// WAL holds ptr (1 when recovery follows timeline 1 alone).
func (db *DB) tliOfPoint(ptr wal.LSN) uint32 { return tliOfPointIn(db.tles, ptr) }

// tliOfPointIn is tliOfPointInHistory over tles, newest first.
func tliOfPointIn(tles []timeLineEntry, ptr wal.LSN) uint32 {
	for _, t := range tles { // newest first
		if t.begin == wal.InvalidLSN || t.begin <= ptr {
			return t.tli
		}
	}
	return 1
}

// standbyReader opens the standby's WAL at start: timeline 1's names
// alone while recovery follows timeline 1, else each segment from the
// timeline that owns it (XLogFileReadAnyTLI).
func (db *DB) standbyReader(start, prev wal.LSN) (*wal.Reader, error) {
	if db.tles == nil && db.timeline > 1 {
		db.initTimelines()
	}
	if len(db.tles) <= 1 && max(db.timeline, 1) == 1 {
		return wal.NewReader(db.e, db.cfg.WAL, start, prev)
	}
	return wal.NewRestoringReader(db.e, db.cfg.WAL, start, prev, db.tlisFor, func(uint32, uint64) {})
}

// streamTimeline is the timeline WaitForWALToBecomeAvailable asks to
// stream from start: tliOfPointInHistory of the record to read there.
func (db *DB) streamTimeline(start wal.LSN) uint32 {
	if db.tles == nil {
		return max(db.timeline, 1)
	}
	return db.tliOfPoint(start)
}

// followTimeline is WaitForWALToBecomeAvailable's rescan when the
// receiver has no more WAL to give: if it fetched a history file since
// the last look, rescanLatestTimeLine; on a switch, streaming starts
// again from next on the timeline that owns it. It reports whether it
// asked for streaming again.
//
// The next record is read from the switch point when the last record
// replayed ends there: the old timeline's next record may lie past a
// segment switch's unused rest, but the new timeline's follows the switch
// point at once (the promotion ended its redo there). It returns where
// to read next.
func (db *DB) followTimeline(next wal.LSN) (wal.LSN, bool) {
	w := db.walRcv
	if w.histories == w.historiesSeen {
		return next, false
	}
	old := max(db.timeline, 1)
	w.historiesSeen = w.histories
	if !db.rescanLatestTimeLine(old, db.replayed) {
		return next, false
	}
	// The stream starts on the new timeline at its switch point, or
	// where the WAL read next is if that is later (only the planted bug
	// follows from there): the WAL before the switch point is in pg_wal
	// already, the receiver having stopped there.
	sw := wal.InvalidLSN
	for i := 1; i < len(db.tles); i++ {
		if db.tles[i].tli == old {
			sw = db.tles[i-1].begin
		}
	}
	if sw == db.replayed {
		next = sw
	}
	start := max(next, sw)
	tli := db.streamTimeline(start)
	w.requestOn(tli, start)
	db.e.Logf("restarted WAL streaming at %s on timeline %d", start, tli)
	return next, true
}

// rescanLatestTimeLine is rescanLatestTimeLine: the newest timeline whose
// history pg_wal holds becomes the recovery target if the current one is
// in its history and it forked off at or after replayed, the end of the
// last record replayed.
func (db *DB) rescanLatestTimeLine(cur uint32, replayed wal.LSN) bool {
	e := db.e
	newest := findNewestTimeLine(e, cur)
	if newest == cur {
		return false
	}
	tles, err := db.readHistoryTLEs(newest)
	if err != nil {
		e.Logf("%v", err)
		return false
	}
	i := 0
	for i < len(tles) && tles[i].tli != cur {
		i++
	}
	if i == len(tles) || i == 0 {
		e.Logf("new timeline %d is not a child of database system timeline %d", newest, cur)
		return false
	}
	// The current timeline ends where its child in the new history
	// begins.
	if end := tles[i-1].begin; end < replayed {
		e.Logf("new timeline %d forked off current database system timeline %d before current recovery point %s", newest, cur, replayed)
		e.Sometimes("standby-timeline-forked-before-replay")
		// Planted bug timeline-follow-past-fork: follow it anyway.
		if !db.cfg.Bugs.Has(bugs.TimelineFollowPastFork) {
			db.forkRefused = true
			return false
		}
	}

	db.tles, db.timeline = tles, newest
	// The control file names the timeline recovery now follows (as a
	// restartpoint would, CreateRestartPoint's minRecoveryPointTLI), so
	// that a restart, or a crash recovery of this data directory, reads
	// the new timeline's segments from its history.
	db.ctlMu.Lock()
	ctl := readControl(e, db.cfg.Bugs)
	ctl.timeline = newest
	writeControl(e, db.cfg.Bugs, ctl)
	db.ctlMu.Unlock()
	e.Logf("new target timeline is %d", newest)
	e.Sometimes("standby-followed-timeline")
	return true
}

// TimelineForkRefused reports whether the startup process refused a
// new timeline that forked off before its replay position.
func (db *DB) TimelineForkRefused() bool { return db.forkRefused }

// PrepareTimelineSegment is called by the WAL receiver before it streams
// timeline tli from from: when pg_wal has no copy of from's segment
// under tli's name, the newest older timeline's copy is copied up to from
// (XLogInitNewTimeline), so that the new timeline's segment holds the WAL
// before from that a restart reads from it. (PostgreSQL's receiver
// streams whole segments from their start, RequestXLogStreaming; here it
// starts at from, so the prefix comes from this node's own copy.)
func (db *DB) PrepareTimelineSegment(tli uint32, from wal.LSN) {
	e, c := db.e, db.cfg.WAL
	if tli <= 1 {
		return
	}
	seg := uint64(from) / uint64(c.SegmentSize)
	if f, err := e.Disk.Open(wal.SegmentPathTLI(c, tli, seg), env.OpenExisting); err == nil {
		f.Close()
		return
	}
	for src := tli - 1; src >= 1 && src+64 > tli; src-- {
		f, err := e.Disk.Open(wal.SegmentPathTLI(c, src, seg), env.OpenExisting)
		if err != nil {
			continue
		}
		f.Close()
		if err := wal.InitNewTimeline(e, c, src, tli, from); err != nil {
			e.Panicf("%v", err)
		}
		return
	}
}
