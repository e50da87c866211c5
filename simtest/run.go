package simtest

import (
	"fmt"
	"io"
	"strings"
	"time"

	lin "github.com/pgdst/pgdst/linearizability"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	pgproc "github.com/pgdst/pgdst/engine/proc"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest/world"
)

// Config is everything that defines a run besides the build: with the same
// Config, a run is byte-for-byte the same run. It is plain data, written
// to and read from repro files as JSON (durations in nanoseconds, bugs by
// name).
type Config struct {
	Seed      uint64 `json:"seed"`
	Clients   int    `json:"clients"`
	Txns      int    `json:"txns"`       // per client
	WritesMax int    `json:"writes_max"` // writes per transaction, drawn in [1, WritesMax]
	// ThinkMax is the longest pause of a client before each transaction,
	// drawn uniformly in [0, ThinkMax) of virtual time.
	ThinkMax time.Duration `json:"think_max_ns"`
	// CrashMode is what the disk keeps of unsynced writes at the crash;
	// "" draws one from the seed.
	CrashMode string `json:"crash_mode"`
	// CrashStep is the step at which power fails; 0 draws one from the seed.
	CrashStep uint64 `json:"crash_step"`
	// Swarm draws the engine's timing knobs and the scheduler's switch
	// probability from the seed, as TigerBeetle's VOPR and FoundationDB's
	// knobs do, so that many seeds explore many configurations.
	Swarm bool `json:"swarm"`
	// PGTimings keeps PostgreSQL's own defaults for the background
	// processes (bgwriter_delay 200ms, checkpoint_timeout 5min) instead of
	// the scaled-down timings that make checkpoints happen within a run.
	// It overrides Swarm's timing draws.
	PGTimings bool `json:"pg_timings"`
	// Workload is what the clients do (workload.go): insert, register,
	// bank, append or mixed.
	Workload string `json:"workload"`
	// Isolation is the level of the clients' transaction blocks
	// (read-committed or repeatable-read); "" draws one from the seed
	// under Swarm and is read-committed otherwise.
	Isolation string `json:"isolation"`
	// ClientTimeout is how long a client waits for a statement's reply
	// before it abandons the connection (the outcome is then unknown); 0
	// waits forever, or under Swarm draws one from the seed.
	ClientTimeout time.Duration `json:"client_timeout_ns"`
	// AsyncCommit runs the server with synchronous_commit = off: a commit
	// is acknowledged before its WAL is durable, and the WAL writer
	// flushes it within a few wal_writer_delays. Only the insert workload
	// can be judged so (its checker knows the loss PostgreSQL allows).
	AsyncCommit bool `json:"async_commit"`
	// AsyncShare is the share, in [0, 1], of the clients' insert
	// transactions and bank transfers that SET LOCAL synchronous_commit =
	// off (async_share.go); under Swarm, unless AsyncShareSet, it is
	// drawn from the seed (0 on most seeds).
	AsyncShare    float64 `json:"async_share"`
	AsyncShareSet bool    `json:"async_share_set"`
	// HintBits is whether hint bits dirty their page: "dirty" (as
	// PostgreSQL's MarkBufferDirtyHint), "no-dirty", or "" to draw it
	// from the seed under Swarm (hint_bits.go).
	HintBits string `json:"hint_bits"`
	// LockPause is the drawn plan's pause at LWLock acquisitions: "off",
	// "any" (one on every seed, the lock drawn), a lock tranche's name,
	// or "" to draw it from the seed under Swarm (lock_pauses.go).
	LockPause string `json:"lock_pause"`
	// PredLocks is a serializable run's predicate lock limits: "default",
	// "scaled", or "" to draw them from the seed (serializable.go).
	PredLocks string `json:"pred_locks,omitempty"`
	// ListInserts is whether a serializable run's lists are made by their
	// first append (an upsert) and its B-tree pages are scaled down:
	// "on", "off", or "" to draw it from the seed (serializable.go).
	ListInserts string `json:"list_inserts,omitempty"`
	// SSIReadOnly is whether a serializable run's reading transactions
	// begin READ ONLY, DEFERRABLE too, or either: "off", "read-only",
	// "deferrable", "mixed", or "" to draw it from the seed
	// (ssi_read_only.go).
	SSIReadOnly string `json:"ssi_read_only,omitempty"`
	// HotKeys is whether a serializable run's list-append transactions
	// crowd onto a few lists, new ones among them, with long
	// transactions beside short ones: "on", "off", or "" to draw it from
	// the seed, a hot seed then running at SERIALIZABLE (hot_keys.go).
	HotKeys string `json:"hot_keys,omitempty"`
	// Autocommit makes every insert transaction one INSERT of one row
	// outside a transaction block, as psql sends a script's lines
	// (PostgreSQL commits each statement on its own: exec_simple_query's
	// implicit transaction), and none is rolled back by its client.
	// WritesMax then plays no part in them.
	Autocommit bool `json:"autocommit"`
	// RowBytes is the size of each inserted row's value, in
	// [rowBytesMin, rowBytesMax]; 0 draws one from the seed under Swarm
	// and is 1000 otherwise. Small rows pack a page with tuples
	// (pg_crash_cycle.sh's table holds one int); large ones spread a run
	// over many pages, which the bgwriter and backends then evict, and
	// change every WAL record's size and so the run's timing.
	RowBytes int      `json:"row_bytes"`
	Bugs     bugs.Set `json:"bugs"`
	// Faults is the fault plan, in package fault's text form; "" draws
	// one from the seed.
	Faults string `json:"faults"`
	// FaultIntensity in [0, 1] adds the swarm's disk and clock faults to
	// a plan drawn from the seed (0: none). Under Swarm, unless
	// FaultIntensitySet, an intensity of 0 draws one from the seed
	// instead (swarmShape), 0 on half the seeds.
	FaultIntensity float64 `json:"fault_intensity"`
	// FaultIntensitySet says FaultIntensity was chosen (--fault-intensity),
	// so that an explicit 0 means no swarm faults rather than a draw.
	FaultIntensitySet bool `json:"fault_intensity_set"`
	// FullPageWrites is full_page_writes, "on" or "off"; "" draws it from
	// the seed under Swarm (off on one seed in four) and is on otherwise.
	// Off, a data page a power loss tears cannot be repaired, and the run
	// passes only if its checksum reports it (settings.go).
	FullPageWrites string `json:"full_page_writes"`
	// DataChecksums is initdb's --data-checksums, "on" or "off"; "" draws
	// it from the seed under Swarm (off on half the seeds with
	// full_page_writes on) and is on otherwise (data_checksums.go).
	DataChecksums string `json:"data_checksums"`
	// SharedBuffers (pages), CheckpointTimeout and WALSegmentSize (bytes)
	// replace the swarm's draws or the fixed timings when not 0.
	SharedBuffers     int           `json:"shared_buffers"`
	CheckpointTimeout time.Duration `json:"checkpoint_timeout_ns"`
	WALSegmentSize    int64         `json:"wal_segment_size"`
	// WALBuffers is wal_buffers in pages; 0 draws it under Swarm
	// (wal_buffers.go) and is -1 (chosen from shared_buffers) otherwise.
	WALBuffers int `json:"wal_buffers,omitempty"`
	// ArchiveTimeout is archive_timeout; 0 draws it under Swarm (set on
	// one seed in three) and is off otherwise.
	ArchiveTimeout time.Duration `json:"archive_timeout_ns"`
	// DeadlockTimeout is deadlock_timeout; 0 draws it under Swarm (1 to
	// 39 ms on one seed in three) and is PostgreSQL's 1s otherwise.
	DeadlockTimeout time.Duration `json:"deadlock_timeout_ns"`
	// AutovacuumThreshold and AutovacuumScaleFactor are
	// autovacuum_vacuum_threshold and autovacuum_vacuum_scale_factor; nil
	// draws them from the seed under Swarm (low ones on a third of the
	// seeds, so that autovacuum runs) and is PostgreSQL's otherwise.
	AutovacuumThreshold   *int     `json:"autovacuum_vacuum_threshold,omitempty"`
	AutovacuumScaleFactor *float64 `json:"autovacuum_vacuum_scale_factor,omitempty"`
	// Scheduler is how processes interleave (scheduler.go): "random" or
	// "pct:D"; "" draws one from the seed under Swarm and is random
	// otherwise.
	Scheduler string `json:"scheduler"`
	// Deletes, ContendedKeys and BulkReads pin a dimension of the
	// workload's variety (workload_variety.go) on or off; "" draws it
	// from the seed under Swarm. RegisterBytes pins the register values'
	// size (0: drawn, 8 or wide).
	// ScriptClient pins the script client (script_client.go) on or off;
	// "" draws it from the seed under Swarm.
	ScriptClient  string `json:"script_client"`
	Deletes       string `json:"deletes"`
	ContendedKeys string `json:"contended_keys"`
	BulkReads     string `json:"bulk_reads"`
	RegisterBytes int    `json:"register_bytes"`

	// RangeStatements pins the range statements (range_statements.go)
	// on or off; "" draws them from the seed under Swarm.
	RangeStatements string `json:"range_statements"`
	// FollowReads pins the follow reads (follow_reads.go) on or off; ""
	// draws them from the seed under Swarm.
	FollowReads string `json:"follow_reads"`
	// StandbyReads pins the standby reads (standby_reads.go) on or off;
	// "" draws them from the seed under Swarm on seeds with standbys.
	StandbyReads string `json:"standby_reads,omitempty"`
	// Standbys is how many standby nodes stream the primary's WAL
	// (standby.go), in [0, 3]; 0, the default, leaves the run as it
	// was before replication existed (and the field out of the JSON).
	Standbys int `json:"standbys,omitempty"`
	// StandbysSet pins Standbys even at 0; otherwise a 0 leaves the
	// count to the swarm's draw (standby_swarm.go).
	StandbysSet bool `json:"standbys_set,omitempty"`
	// Failover powers off the primary at a moment drawn from the seed,
	// promotes standby 1 and redirects the clients to it (failover.go);
	// off, the default, the run is as it was (and the field out of the
	// JSON).
	Failover bool `json:"failover,omitempty"`
	// FailoverKind pins how a failover happens: FailoverPowerOff (the
	// old primary loses power first) or FailoverPartition (it is cut
	// off, keeps stale clients, and is fenced later); "" draws it
	// (failover.go).
	FailoverKind string `json:"failover_kind,omitempty"`
	// SyncStandbyNames is the primary's synchronous_standby_names
	// (syncrep.go; SyncStandbyNamesSet pins it even empty), SyncCommit
	// its synchronous_commit (local, remote_write, on, remote_apply),
	// SyncRepCancel the sync-rep canceller's limit (off or a duration),
	// FailoverStandbyPowerLoss whether a failover powers off standby1's
	// machine too (on, off); "" draws each under Swarm.
	SyncStandbyNames         string `json:"synchronous_standby_names,omitempty"`
	SyncStandbyNamesSet      bool   `json:"synchronous_standby_names_set,omitempty"`
	SyncCommit               string `json:"synchronous_commit,omitempty"`
	SyncRepCancel            string `json:"syncrep_cancel,omitempty"`
	FailoverStandbyPowerLoss string `json:"failover_standby_power_loss,omitempty"`
	// PITR pins the point-in-time recovery (pitr.go) on or off; ""
	// draws it from the seed under Swarm.
	PITR string `json:"pitr,omitempty"`
	// StandbyArchive pins restore_command on the standbys
	// (standby_archive.go) on or off; "" draws it from the seed under
	// Swarm on seeds with standbys that archive.
	StandbyArchive string `json:"standby_archive,omitempty"`
	// NextXid is the first xid of the cluster's initdb image, as
	// pg_resetwal -x (pg_upgrade) sets it; 0 draws it from the seed
	// under Swarm (clog_start.go), 3 pins initdb's own.
	NextXid uint64 `json:"next_xid,omitempty"`
	// FsyncQueue bounds the checkpointer's fsync request queue; 0 draws
	// it from the seed under Swarm (fsync_queue.go), 4096 pins the
	// default.
	FsyncQueue int `json:"fsync_queue,omitempty"`
	// MaxWalSenders is max_wal_senders; 0 draws it from the seed under
	// Swarm on runs with standbys (wal_senders.go) and is 10 otherwise.
	MaxWalSenders int `json:"max_wal_senders,omitempty"`

	// TraceOut, when set, receives the readable trace.
	TraceOut io.Writer `json:"-"`
	// Events, when set, receives every event of the run as it happens
	// (the report's timeline and the recorded events come from it).
	Events env.Observer `json:"-"`
}

// DefaultConfig is the embedded default workload.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Clients: 4, Txns: 12, WritesMax: 3, ThinkMax: 2 * time.Millisecond, Swarm: true, Workload: WorkloadMixed}
}

// CampaignGCPercent is the GOGC a campaign runs with (see cmd/pgdst).
const CampaignGCPercent = 1000

// Validate rejects a configuration the run cannot honour.
func (c Config) Validate() error {
	if c.Clients < 1 || c.Clients > 64 {
		return fmt.Errorf("clients must be in [1, 64], got %d", c.Clients)
	}
	if c.Txns < 1 || c.Txns > 10000 {
		return fmt.Errorf("txns must be in [1, 10000], got %d", c.Txns)
	}
	if c.WritesMax < 1 || c.WritesMax > 64 {
		return fmt.Errorf("writes must be in [1, 64], got %d", c.WritesMax)
	}
	if c.ThinkMax < 0 || c.ThinkMax > time.Minute {
		return fmt.Errorf("think-max must be in [0, 1m], got %v", c.ThinkMax)
	}
	if err := validWorkload(c.Workload); err != nil {
		return err
	}
	if c.Isolation != "" {
		if _, err := parseIsolation(c.Isolation); err != nil {
			return err
		}
	}
	if c.AsyncCommit && c.Workload != WorkloadInsert {
		return fmt.Errorf("synchronous_commit=off needs the insert workload: the %s workload's checkers assume acknowledged commits are durable", c.Workload)
	}
	if err := c.validateAsyncShare(); err != nil {
		return err
	}
	if err := c.validatePredLocks(); err != nil {
		return err
	}
	if err := c.validateListInserts(); err != nil {
		return err
	}
	if err := c.validateSSIReadOnly(); err != nil {
		return err
	}
	if err := c.validateHotKeys(); err != nil {
		return err
	}
	if err := c.validateLockPause(); err != nil {
		return err
	}
	if err := c.validateHintBits(); err != nil {
		return err
	}
	if err := c.validateDataChecksums(); err != nil {
		return err
	}
	if c.Autocommit && c.Workload != WorkloadInsert && c.Workload != WorkloadMixed {
		return fmt.Errorf("autocommit makes the insert transactions autocommit INSERTs, and the %s workload has none", c.Workload)
	}
	if c.RowBytes != 0 && (c.RowBytes < rowBytesMin || c.RowBytes > rowBytesMax) {
		return fmt.Errorf("row bytes must be in [%d, %d], got %d", rowBytesMin, rowBytesMax, c.RowBytes)
	}
	if c.ClientTimeout < 0 || c.ClientTimeout > time.Hour {
		return fmt.Errorf("client timeout must be in [0, 1h], got %v", c.ClientTimeout)
	}
	if c.CrashMode != "" {
		if _, err := world.ParseCrashMode(c.CrashMode); err != nil {
			return err
		}
	}
	if c.Faults != "" {
		p, err := fault.Parse(c.Faults)
		if err != nil {
			return fmt.Errorf("fault plan: %w", err)
		}
		if err := checkPlanPoints(p); err != nil {
			return fmt.Errorf("fault plan: %w", err)
		}
		if err := checkPlanLocks(p); err != nil {
			return fmt.Errorf("fault plan: %w", err)
		}
		if err := checkPlanProcs(p, c.Clients); err != nil {
			return fmt.Errorf("fault plan: %w", err)
		}
	}
	if c.Scheduler != "" {
		if _, err := world.ParseScheduler(c.Scheduler); err != nil {
			return err
		}
	}
	if c.FaultIntensity < 0 || c.FaultIntensity > 1 {
		return fmt.Errorf("fault intensity must be in [0, 1], got %v", c.FaultIntensity)
	}
	if err := validSettings(c); err != nil {
		return err
	}
	if err := c.validateScriptClient(); err != nil {
		return err
	}
	if err := c.validateRangeStatements(); err != nil {
		return err
	}
	if err := c.validateFollowReads(); err != nil {
		return err
	}
	if err := c.validateStandbys(); err != nil {
		return err
	}
	if err := c.validateFailover(); err != nil {
		return err
	}
	if err := c.validateFailoverKind(); err != nil {
		return err
	}
	if err := c.validateStandbyReads(); err != nil {
		return err
	}
	if err := c.validateSyncRep(); err != nil {
		return err
	}
	if err := c.validateStandbyArchive(); err != nil {
		return err
	}
	if err := c.validatePITR(); err != nil {
		return err
	}
	if err := c.validateNextXid(); err != nil {
		return err
	}
	if err := c.validateFsyncQueue(); err != nil {
		return err
	}
	if err := c.validateMaxWalSenders(); err != nil {
		return err
	}
	return c.validateVariety()
}

// resolved is a Config with every seeded choice made.
type resolved struct {
	Config
	crash    world.CrashMode
	engine   db.Config
	server   pgproc.Config
	sched    world.SchedConfig
	lat      world.Latency
	iso      db.Isolation  // the clients' transaction blocks
	timeout  time.Duration // the clients' statement timeout (0: none)
	rowBytes int           // the inserted rows' values
	// faultIntensity is the swarm faults' intensity a plan drawn from the
	// seed carries: FaultIntensity, or the seed's draw (0 when the plan is
	// given, by Faults or CrashStep).
	faultIntensity float64
	// The workload's shape, drawn under Swarm (swarmShape): bulk makes
	// some insert transactions load hundreds of rows (a B-tree leaf holds
	// about 400 keys, so leaves split); vacuumEvery is how many of client
	// 0's transactions come between its VACUUMs; longReads makes a
	// REPEATABLE READ bank read linger between its statements, so its
	// snapshot outlives other clients' commits and a vacuum.
	bulk           bool
	vacuumEvery    int
	longReads      bool
	vary           variety // workload_variety.go
	script         bool    // the last client is a script (script_client.go)
	ranges         rangeStmts
	follow         bool               // follow reads (follow_reads.go)
	standbys       int                // standby nodes (standby.go)
	failover       failoverPlan       // failover.go
	syncRep        syncRepPlan        // syncrep.go
	pitr           pitrPlan           // pitr.go
	standbyArchive standbyArchivePlan // standby_archive.go
	// asyncShare is the share of insert transactions and bank transfers
	// that commit asynchronously (async_share.go).
	asyncShare float64
	lockPause  *fault.Fault // the drawn plan's pause at LWLock acquisitions (lock_pauses.go)
	walCrash   *fault.Fault // the drawn plan's crash at a WAL boundary point (wal_crash_points.go)

	// listInserts: some lists start missing and appends upsert
	// (serializable.go).
	listInserts bool
	// ssiReadOnly is the run's READ ONLY readers (ssi_read_only.go).
	ssiReadOnly string
	// hot: list-append transactions crowd onto a few lists, with long
	// transactions beside short ones (hot_keys.go).
	hot     bool
	hotKeys int
}

// swarmRowBytes are the row sizes the swarm draws from: 1000 most often,
// as before there was a choice.
var swarmRowBytes = [...]int{rowBytesMin, 100, rowBytes, rowBytes, rowBytesMax}

func resolve(c Config, rng *world.Rand) resolved {
	r := resolved{Config: c, sched: world.DefaultSchedConfig, lat: world.DefaultLatency}
	if c.Swarm {
		r.sched.SwitchProb = 0.02 + 0.5*rng.Float64()
	}
	resolveDB(c, rng, &r)
	resolveSettings(c, &r)
	r.iso, _ = parseIsolation(IsoReadCommitted)
	if c.Isolation != "" {
		r.iso, _ = parseIsolation(c.Isolation) // Validate has checked it
	} else if c.Swarm && rng.Intn(2) == 0 {
		r.iso = db.RepeatableRead
	}
	r.timeout = c.ClientTimeout
	if c.Swarm && c.ClientTimeout == 0 {
		r.timeout = time.Duration(20+rng.Intn(180)) * time.Millisecond
	}
	if c.CrashMode == "" {
		r.crash = world.CrashMode(rng.Intn(3))
	} else {
		r.crash, _ = world.ParseCrashMode(c.CrashMode)
	}
	switch {
	case c.RowBytes != 0:
		r.rowBytes = c.RowBytes
	case c.Swarm:
		r.rowBytes = swarmRowBytes[rng.Intn(len(swarmRowBytes))]
	default:
		r.rowBytes = rowBytes
	}
	r.faultIntensity = c.FaultIntensity
	r.vacuumEvery = vacuumEveryDefault
	if c.Swarm {
		sh := swarmShape(c.Seed)
		if !c.FaultIntensitySet && c.FaultIntensity == 0 {
			r.faultIntensity = sh.faultIntensity
		}
		r.bulk, r.vacuumEvery, r.longReads = sh.bulk, sh.vacuumEvery, sh.longReads
		if r.bulk && c.RowBytes == 0 {
			// Short rows keep a bulk load's heap to a few pages: the
			// load is there for its index, and the seed's cost stays
			// near an ordinary one's.
			r.rowBytes = bulkRowBytes
		}
	}
	r.sched.PCTDepth, r.sched.PCTSeed = resolveScheduler(c)
	resolveVariety(c, &r)
	resolveScriptClient(c, &r)
	resolveRangeStatements(c, &r)
	resolveFollowReads(c, &r)
	r.asyncShare = resolveAsyncShare(c)
	r.engine.HintBitsDirty = resolveHintBits(c)
	r.lockPause = resolveLockPause(c)
	r.walCrash = resolveWALCrash(c)
	resolveDataChecksums(c, &r)
	resolveStandbys(c, &r)
	resolveFailover(c, &r)
	resolveSerializable(c, &r)
	resolveSSIReadOnly(c, &r)
	resolveSyncRep(c, &r)
	resolvePITR(c, &r)
	resolveStandbyArchive(c, &r)
	resolveNextXid(c, &r)
	resolveFsyncQueue(c, &r)
	resolveMaxWalSenders(c, &r)
	resolveWALBuffers(c, &r)
	// The postmaster's copy of the engine's settings, taken by
	// resolveSettings before the draws above that change them.
	r.server.DB = r.engine
	if c.Faults != "" || c.CrashStep != 0 {
		// The plan is the one given: no intensity takes part (dbPlan).
		r.faultIntensity = 0
	}
	return r
}

// vacuumEveryDefault is client 0's VACUUM period outside the swarm's draw.
const vacuumEveryDefault = 8

// swarmFaultIntensities are the intensities the plain campaign draws its
// disk and clock faults at (fault.Swarm), 0 on half the seeds: a bug that
// needs an EIO on fsync (the fsync-retry class) is found by some runs, and
// one that the faults would drown (their runs end early, or pass as
// "detected" after a destructive fault) by the others.
var swarmFaultIntensities = [...]float64{0, 0, 0, 0, 0.1, 0.25, 0.5, 1}

// shape is the part of a run's configuration the swarm draws from a
// stream of its own (swarmShape).
type shape struct {
	faultIntensity float64
	bulk           bool
	vacuumEvery    int
	longReads      bool
}

// swarmShape draws the seed's fault intensity and workload shape. The
// stream is its own, not the run's, so that every other draw of a seed is
// what it was before these dimensions existed: a seed whose draw is the
// old fixed shape (no faults, no bulk loads, a VACUUM every eighth
// transaction, short reads) runs exactly as it did. Each dimension is
// drawn unconditionally, in a fixed order.
func swarmShape(seed uint64) shape {
	rng := world.NewRand(seed ^ 0x7377726d73686170) // "swrmshap"
	var sh shape
	sh.faultIntensity = swarmFaultIntensities[rng.Intn(len(swarmFaultIntensities))]
	sh.bulk = rng.Intn(bulkSeedsPer) == 0
	sh.vacuumEvery = [...]int{vacuumEveryDefault, vacuumEveryDefault, vacuumEveryDefault, 2}[rng.Intn(4)]
	sh.longReads = rng.Intn(4) == 0
	return sh
}

func (r resolved) String() string {
	return r.stringDB() + r.stringSettings() + r.stringDataChecksums() + " scheduler=" + world.SchedulerName(r.sched.PCTDepth) + r.stringVariety() + fmt.Sprintf(" script_client=%v", r.script) + r.stringAsync() + r.stringRanges() + r.stringFollow() + r.stringStandbys() + r.stringFailover() + r.stringStandbyReads() + r.stringSerializable() + r.stringSyncRep() + r.stringPITR() + r.stringStandbyArchive() + r.stringNextXid() + r.stringFsyncQueue() + r.stringMaxWalSenders()
}

// Result is what a run found.
type Result struct {
	Seed     uint64
	OK       bool
	Checker  string   // the checker that failed ("" when OK)
	Failures []string // what it found, first few
	Config   string   // the resolved configuration
	// WALBuffers is the run's wal_buffers in pages (wal_buffers.go).
	WALBuffers int
	Trace      uint64
	Events     uint64
	Steps      uint64
	Virtual    time.Duration

	CrashKind   string // "power-loss" or "crash-restart"
	CrashDetail string
	Acked       int
	Unknown     int
	RecoveryDB  db.RecoveryStats
	Rows        int // visible rows after recovery
	// IndexBlocksMax is the largest index after recovery, in blocks: more
	// than 2 (the metapage and the root leaf) means a B-tree page split.
	IndexBlocksMax int
	CrashMode      string // what the disk kept at a power loss
	// Plan is the fault plan the run carried, one fault per
	// line; FaultsApplied counts the faults that fired, FaultLog lists the
	// first few, Destructive the ones beyond the recoverability limits.
	Plan string
	// FaultIntensity is the intensity of the swarm's faults in a plan
	// drawn from the seed: Config.FaultIntensity or the seed's draw (0
	// with a given plan). The plan holds the faults themselves, so a
	// reproduction that carries the plan needs no intensity.
	FaultIntensity float64
	FaultsApplied  int
	FaultLog       []string
	Destructive    []string
	// CrashRestarts lists the postmaster's crash-restarts during the
	// workload: which server process died (a PANIC, a kill) and why.
	CrashRestarts []string
	// RecoveryCrashes lists the crashes the plan caused during recovery,
	// each followed by another recovery.
	RecoveryCrashes []string
	// Detected, on a passing run, is the damage a destructive fault did
	// that the engine reported or that the limits allow (see
	// judgeBeyondLimits).
	Detected string
	// tornNoFPW lists the power losses that tore data pages while
	// full_page_writes was off (tornWithoutFPW): damage the limits
	// allow only if a page's verification reports it.
	tornNoFPW []string
	// noChecksums: the cluster ran without data checksums, so damage to a
	// data page could not be detected (judgeBeyondLimits).
	noChecksums bool
	History     *History
	// Linearizability and Isolation are the history checkers' results
	// (nil when the workload has no registers or no lists): porcupine's
	// visualization and the anomalies found, allowed ones included.
	Linearizability *lin.LinResult
	Isolation       *lin.IsolationResult
	// Notes are what the checkers could not decide, for the summary.
	Notes []string
	// PointHits counts, per injection point, the hits while the fault
	// plan was installed (the workload and the recoveries it crashed);
	// CrashedAt lists the points where the plan's crashes fired. A
	// campaign sums them to find blind spots.
	PointHits map[string]uint64
	CrashedAt []string
	// Sometimes is the set of sometimes conditions (env.Conditions) the
	// engine reached in the run, recovery included: a campaign counts the
	// runs reaching each and names those none reached.
	Sometimes env.Reached
	// FirstReach is, per condition in Sometimes (indexed as
	// env.Conditions), the scheduler step and virtual time of its first
	// reach (world.Node.FirstReach); zero for the others.
	FirstReach [64 * len(env.Reached{})]world.ReachAt `json:"-"`
	// PointRoles says, per injection point reached while the fault plan
	// was installed, which roles reached it: what the points table's role
	// column is checked against.
	PointRoles map[string]env.RoleSet
	// LockRoles says, per lock tranche, which roles acquired its locks
	// while a fault plan naming point=lwlock-acquire was installed (nil
	// otherwise: the acquisitions are then not shown to the plan).
	LockRoles map[string]env.RoleSet
	// FaultFires counts, per fault of the plan in plan order, how often
	// the simulator carried it out (in the workload and in the recoveries
	// it crashed); Applied records the first few as typed records.
	FaultFires []int
	Applied    []fault.Applied
	// AsyncLost counts acknowledged transactions lost under
	// synchronous_commit = off (within PostgreSQL's bound, or the run
	// fails).
	AsyncLost int
	// Online counts, per kind of event, the events the online checkers
	// judged and those they skipped, by reason (online_checkers.go).
	Online CheckerCounts
	// Finding is the first failure's facts as typed values (finding.go),
	// when its checker records them; nil on a passing run.
	Finding *Finding
	// XidStatus, on a run that failed durability or atomicity, is each
	// transaction's status in the recovered clog, indexed by xid (below
	// xidStatusMax): what explain needs to tell a lost commit record from
	// a commit whose status was lost. Nil otherwise.
	XidStatus []uint8 `json:"-"`
	// StandbysMade counts the standbys whose base backup completed, and
	// StandbysConverged those the standby checker found equal to the
	// primary (standby.go).
	StandbysMade      int `json:",omitempty"`
	StandbysConverged int `json:",omitempty"`
	// StandbyRestarts counts the standbys' crash-restarts and power
	// losses during the workload (standby.go's netRestart, netPowerLoss).
	StandbyRestarts int `json:",omitempty"`
	// PITR says what the point-in-time recovery did (pitr.go).
	PITR string `json:",omitempty"`
	// Failover says what the failover did (failover.go): when the primary
	// was powered off and the standby promoted, and how many commits the
	// old primary acknowledged that the new one lacks (the async loss).
	Failover *FailoverResult `json:",omitempty"`
	// StandbyReads says what the standby-read checker judged
	// (standby_reads.go).
	StandbyReads *StandbyReadsResult `json:",omitempty"`
	// lockWakeMax is the longest a sleeping lock waiter stayed asleep
	// after its lock's release (lock_wait_checker.go), for the tests
	// that measure the bound.
	lockWakeMax time.Duration
}

// FaultFired reports whether fault i of the plan (counting from 0) was
// carried out: how a systematic campaign learns that its one crash fired.
func (r *Result) FaultFired(i int) bool {
	return i >= 0 && i < len(r.FaultFires) && r.FaultFires[i] > 0
}

// TraceString is the 16-hex-digit trace hash.
func (r *Result) TraceString() string { return fmt.Sprintf("%016x", r.Trace) }

// Verdict is "ok" or "fail".
func (r *Result) Verdict() string {
	if r.OK {
		return "ok"
	}
	return "fail"
}

// The checkers a run applies, by name.
const (
	CheckDurability = "durability" // acknowledged commits survive
	CheckAtomicity  = "atomicity"  // all or nothing; nothing never committed
	CheckSelf       = "self-check" // engine self-checks after recovery
	CheckRecovery   = "recovery"   // recovery must succeed
	CheckLiveness   = "liveness"   // no deadlock, no engine bug panic
	// CheckWALBeforeData judges the I/O history as it happens: no data
	// page reaches the disk before the WAL up to its LSN is durable.
	CheckWALBeforeData = "wal-before-data"
	// CheckCheckpoint judges each checkpoint as it completes: every change
	// before its REDO pointer is durable on disk.
	CheckCheckpoint = "checkpoint"
	// CheckArchive holds the archiver to PostgreSQL's promise as it
	// happens and after recovery: a segment is notified only once
	// complete, marked archived only once its copy is durable and equal,
	// removed from pg_wal only once archived (archive_checker.go).
	CheckArchive = "archive"
	// CheckLockWakeup judges the lock manager's work: a released lock
	// wakes the backends sleeping on it at once (lock_wait_checker.go).
	CheckLockWakeup = "lock-wakeup"
	// CheckLockRetry judges it too: a backend never waits again for a
	// transaction its earlier wait saw end (a busy retry loop).
	CheckLockRetry = "lock-retry"
	// CheckProgress judges the clients' progress: in a run no fault
	// touched, none goes long without a reply (client_progress_checker.go).
	CheckProgress = "client-progress"
)

const maxFailures = 8

func (r *Result) fail(checker, format string, args ...any) {
	if r.OK {
		r.OK = false
		r.Checker = checker
	}
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, checker+": "+fmt.Sprintf(format, args...))
	}
}

// Run performs one run: initdb, boot, the workload with background
// processes under the fault plan, a crash, recovery, and the checks.
func Run(c Config) *Result {
	res := &Result{Seed: c.Seed, OK: true, History: &History{}}
	if err := c.Validate(); err != nil {
		res.found(stageFinding(StageConfig, err))
		res.fail(CheckRecovery, "invalid config: %v", err)
		return res
	}
	rng := world.NewRand(c.Seed)
	trace := world.NewTrace(c.TraceOut)
	if c.Events != nil {
		trace.SetSink(c.Events.Observe)
	}
	defer trace.Flush()
	rc := resolve(c, rng.Fork(3))
	res.Config = rc.String()
	res.WALBuffers = rc.engine.WAL.ResolveBuffers(rc.engine.SharedBuffers).WALBuffers
	trace.Emit(&env.Event{Kind: env.EvNote, Role: env.RoleOther, Name: "seed " + fmt.Sprint(c.Seed) + " config " + res.Config})
	node := newNode(rng, trace, rc.sched, rc.lat)
	sim := node.Sim
	defer func() {
		sim.KillAll()
		res.Trace, res.Events, res.Steps, res.Virtual = trace.Hash(), trace.Events(), sim.Steps(), sim.Now()
		res.Sometimes, res.FirstReach = node.Reached, node.FirstReach
		node.Disk.Release()
	}()
	runDB(res, rc, node, rng, trace)
	return res
}

// classifyCrash records how the workload phase ended: power loss at the
// crash point, or crash-restart after a PANIC (the postmaster kills every
// other process and recovers, but the OS and its page cache survive, so
// unsynced writes are not lost). Any other stop is a failure; ok is false.
func (res *Result) classifyCrash(st world.Stop, stopAction fault.Action) (powerLoss, ok bool) {
	switch st.Kind {
	case world.StopFault:
		if stopAction.Kind == fault.ActKill {
			res.CrashKind = "crash-restart"
			res.CrashDetail = fmt.Sprintf("%s (killed %s)", st.Detail, st.Proc)
			return false, true
		}
		res.CrashKind = "power-loss"
		res.CrashDetail = fmt.Sprintf("%s (in %s)", st.Detail, st.Proc)
		return true, true
	case world.StopStepLimit, world.StopRequested, world.StopInject:
		res.CrashKind = "power-loss"
		res.CrashDetail = fmt.Sprintf("%s (in %s)", st, st.Proc)
		return true, true
	case world.StopPanic:
		if _, isPanic := st.Value.(*env.PanicError); !isPanic {
			res.found(Finding{Checker: CheckLiveness, Stage: StageEnginePanic, Stop: st.Kind.String(), Proc: st.Proc, Detail: fmt.Sprint(st.Value)})
			res.fail(CheckLiveness, "engine bug: process %s panicked: %v\n%s", st.Proc, st.Value, st.Stack)
			return false, false
		}
		res.CrashKind = "crash-restart"
		res.CrashDetail = st.Detail
		return false, true
	}
	res.found(Finding{Checker: CheckLiveness, Stage: StageWorkloadStopped, Stop: st.Kind.String(), Proc: st.Proc, Detail: st.Detail})
	res.fail(CheckLiveness, "workload stopped: %s", st)
	return false, false
}

// workload is the simulated clients (workload.go): each runs Txns
// transactions of the run's workload kinds, recorded in hist.
type workload struct {
	pm         *pgproc.Postmaster
	rc         resolved
	node       *world.Node
	hist       *History
	rng        *world.Rand
	running    int
	progress   *clientProgress  // the clients' replies (client_progress_checker.go)
	crashAt    time.Duration    // virtual time the workload phase ended
	crashTimes []time.Duration  // the crash-restarts during the workload
	stallsTo   time.Duration    // when the plan's last stall stopped holding anything up (async-commit bound; 0: none)
	regSeq     uint64           // register writes so far: values are unique
	listSeq    [maxLists]uint64 // appends so far, per list: values are unique per key
	async      asyncDraws       // which transactions commit asynchronously
	flushes    *walFlushLog     // the WAL flushes of the workload (async-commit bound)
	rangeTable bool             // table hw exists (range_statements.go)
	engineErrs []engineErr      // internal errors clients received (engine_error_checker.go)
	follow     followState      // recent commits, for follow reads (follow_reads.go)
	redirect   *pgproc.Listener // the promoted standby's socket, after a failover (failover.go)
	failoverAt time.Duration    // when the failover powered the primary off (0: none)
	fo         *failover        // the run's failover, nil without one (syncrep.go asks it)
}

func (w *workload) key(client, txn, i int) uint64 {
	return uint64((client*w.rc.Txns+txn)*w.rc.WritesMax + i)
}

func value(client, txn, i int) uint64 {
	return uint64(client+1)<<40 | uint64(txn+1)<<8 | uint64(i+1)
}

// judge applies the per-transaction rules to how many of each
// transaction's writes recovery kept: an acknowledged transaction fully
// (durability); a failed one not at all, an unknown one all or nothing
// (atomicity). With synchronous_commit = off an acknowledged transaction
// may be lost, but only as PostgreSQL allows (asyncLossAllowed).
func (w *workload) judge(present map[*Op]int, res *Result) {
	for _, op := range w.hist.Ops {
		n := present[op]
		switch op.Outcome {
		case OK:
			if n == 0 && (w.rc.AsyncCommit || op.Async) {
				if why := w.asyncLossAllowed(op, present); why != "" {
					res.found(w.asyncFinding(op, n, present))
					res.fail(CheckDurability, "acknowledged %s lost under synchronous_commit=off, %s", op, why)
				}
				res.AsyncLost++
				continue
			}
			if n != len(op.Keys) {
				res.found(op.finding(CheckDurability, n))
				res.fail(CheckDurability, "acknowledged %s: %d of %d writes lost after %s", op, len(op.Keys)-n, len(op.Keys), res.CrashKind)
			}
		case Failed:
			if n != 0 {
				res.found(op.finding(CheckAtomicity, n))
				res.fail(CheckAtomicity, "failed %s: %d writes present", op, n)
			}
		case Unknown:
			if n != 0 && n != len(op.Keys) {
				res.found(op.finding(CheckAtomicity, n))
				res.fail(CheckAtomicity, "partial transaction: %s: %d of %d writes present", op, n, len(op.Keys))
			}
		}
	}
}

// asyncBound is how long an asynchronous commit may stay not durable:
// PostgreSQL's three wal_writer_delays, which assume the flush itself
// takes no time, plus the simulated disk's time for the flushes one
// commit may queue behind (the WAL writer's fsync in progress, then a new
// segment's file and directory fsyncs, then its own).
func (w *workload) asyncBound() time.Duration {
	return 3*w.rc.engine.WalWriterDelay + 4*w.rc.lat.Sync
}

// asyncLossAllowed judges one acknowledged transaction that recovery lost
// under synchronous_commit = off, and says why the loss is not allowed
// ("" when it is). PostgreSQL's promise (runtime-config-wal,
// "synchronous_commit"; XLogSetAsyncXactLSN wakes the WAL writer) is
// twofold: the loss is a suffix of the commit order of one server
// lifetime — XLogWrite hands the WAL to the kernel in LSN order and
// recovery replays it up to the first record it cannot read, so if a
// transaction that committed later in the same lifetime survived, every
// earlier one did — and it is bounded in time: the WAL writer makes an
// asynchronous commit durable within three times wal_writer_delay. The
// time bound holds only for a running system, so it is not applied to a
// commit acknowledged while the plan held a process up (a pause or a
// latency not yet over) or after a clock skew (which moves a process's
// timers for good). A pause that ended before the acknowledgment delays
// nothing after it: from then on the WAL writer runs unhindered.
func (w *workload) asyncLossAllowed(op *Op, present map[*Op]int) string {
	end := w.commitEpochEnd(op)
	for _, later := range w.hist.Ops {
		if later.Call > op.Return && later.Call < end && present[later] > 0 {
			return fmt.Sprintf("yet %s, which began after it was acknowledged, survived (the loss must be a suffix of the commit order)", later)
		}
	}
	if why := w.flushedByLaterSyncCommit(op, end); why != "" {
		return why
	}
	bound := w.asyncBound() + w.flushes.queueAllowance(op.Return, end, 4*w.rc.lat.Sync)
	if w.stallsTo <= op.Return && end-op.Return > bound {
		return fmt.Sprintf("acknowledged %v before the crash, longer than 3 x wal_writer_delay + the flushes it queued behind (at least 4 fsyncs) = %v", end-op.Return, bound)
	}
	return ""
}

// commitEpochEnd is when the server lifetime in which op committed ended:
// the first crash-restart that began at or after op's call, else the
// crash that ended the workload. A crash-restart discards the WAL buffers
// (the postmaster reinitialises shared memory after HandleChildCrash) but
// keeps what XLogWrite gave the kernel, which StartupXLOG's
// SyncDataDirectory then makes durable; so a commit record lost at a
// crash-restart says nothing of the commits of the next lifetime, which
// follow the end of the WAL recovery found.
//
// The lifetime is that of the commit, not of the client's reading of the
// reply. RecordTransactionCommit inserts the commit record before the
// backend replies, and a backend runs no more after the postmaster kills
// it; but the reply may sit in the socket until after the crash-restart
// began, and the client reads it then (issue 16: in seed 7537 the backend
// inserted its commit record at 65.845 ms and replied at 65.853 ms, the
// crash-restart began at 65.853997 ms, the client read "ok" at 65.859997
// ms). Every statement of an acknowledged transaction ran on the one
// connection the client held at its call, and a crash-restart ends every
// connection of its lifetime, so the commit came before the first
// crash-restart at or after the call.
func (w *workload) commitEpochEnd(op *Op) time.Duration {
	end := w.crashAt
	for _, t := range w.crashTimes {
		if t >= op.Call {
			end = min(end, t)
		}
	}
	return end
}

// Summary is the readable report of a run, ending with the verdict line.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config: %s\n", r.Config)
	h := r.History
	fmt.Fprintf(&b, "workload: %d insert transactions, %d acknowledged, %d unknown at the crash\n", len(h.Ops), r.Acked, r.Unknown)
	if len(h.Registers) > 0 && r.Linearizability != nil {
		fmt.Fprintf(&b, "registers: %d operations (final reads included); linearizability: %s\n", len(h.Registers), r.Linearizability.Verdict)
	}
	if h.BankTxns > 0 {
		fmt.Fprintf(&b, "bank: %d transactions, %d snapshot reads judged (final read included)\n", h.BankTxns, len(h.BankReads))
	}
	if len(h.Lists) > 0 && r.Isolation != nil {
		fmt.Fprintf(&b, "list-append: %d transactions (final read included); anomalies found: %d, forbidden at the run's level: %d\n",
			len(h.Lists), len(r.Isolation.Findings), len(r.Isolation.Forbidden))
	}
	if len(h.Ranges) > 0 {
		fmt.Fprintf(&b, "range statements: %s\n", rangeSummary(h.Ranges))
	}
	if r.AsyncLost > 0 {
		fmt.Fprintf(&b, "synchronous_commit=off: %d acknowledged transactions lost, within the bound\n", r.AsyncLost)
	}
	if f := r.Failover; f != nil {
		if f.Kind == FailoverPartition {
			fmt.Fprintf(&b, "failover: primary partitioned at %v, %s promoted at %v from timeline %d to %d (switch %s), old primary fenced at %v after %d acknowledged commits past the partition (%d while both were primaries); %d acknowledged commits lost, %d kept\n", f.At, f.Node, f.PromotedAt, f.OldTLI, f.NewTLI, wal.LSN(f.Switch), f.FencedAt, f.OldAckedLate, f.OldAckedPromoted, f.Lost, f.Kept)
		} else {
			fmt.Fprintf(&b, "failover: primary powered off at %v, %s promoted at %v from timeline %d to %d (switch %s); %d acknowledged commits lost, %d kept\n", f.At, f.Node, f.PromotedAt, f.OldTLI, f.NewTLI, wal.LSN(f.Switch), f.Lost, f.Kept)
		}
		if f.Followed+f.LeftOut+f.Unservable > 0 {
			fmt.Fprintf(&b, "failover: %d other standbys followed timeline %d, %d left out (replayed past the switch point), %d left out (needed WAL from before the new primary's base backup)\n", f.Followed, f.NewTLI, f.LeftOut, f.Unservable)
		}
	}
	if h := r.StandbyReads; h != nil {
		fmt.Fprintf(&b, "standby reads: %d read transactions judged on %d connections, the longest a prefix of %d of the primary's %d hs commits; %d writes refused (25006)\n", h.Reads, h.Conns, h.LongestPrefix, h.Commits, h.WritesRefused)
	}
	if r.PITR != "" {
		fmt.Fprintf(&b, "pitr: %s\n", r.PITR)
	}
	if r.StandbysMade > 0 {
		fmt.Fprintf(&b, "standbys: %d made from a base backup, %d caught up and equal to the primary\n", r.StandbysMade, r.StandbysConverged)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, c := range r.CrashRestarts {
		fmt.Fprintf(&b, "crash-restart during the workload: %s\n", c)
	}
	fmt.Fprintf(&b, "crash: %s: %s\n", r.CrashKind, r.CrashDetail)
	if r.Plan != "" {
		if r.FaultIntensity > 0 {
			fmt.Fprintf(&b, "fault plan (swarm faults at intensity %g):\n", r.FaultIntensity)
		} else {
			fmt.Fprintf(&b, "fault plan:\n")
		}
		for _, l := range strings.Split(strings.TrimSuffix(r.Plan, "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		fmt.Fprintf(&b, "faults applied: %d\n", r.FaultsApplied)
		for _, l := range r.FaultLog {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	for _, c := range r.RecoveryCrashes {
		fmt.Fprintf(&b, "crash during recovery: %s\n", c)
	}
	fmt.Fprintf(&b, "recovery: checkpoint %s redo %s..%s, %d records, %d files synced; %d rows after; end of WAL: %s\n",
		r.RecoveryDB.Checkpoint, r.RecoveryDB.Redo, r.RecoveryDB.End, r.RecoveryDB.Records, r.RecoveryDB.Synced, r.Rows, r.RecoveryDB.EndReason)
	fmt.Fprintf(&b, "simulated: %v virtual, %d steps, %d trace events\n", r.Virtual, r.Steps, r.Events)
	if r.Detected != "" {
		fmt.Fprintf(&b, "beyond the recoverability limits, detected: %s\n", r.Detected)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "FAIL %s\n", f)
	}
	fmt.Fprintf(&b, "seed=%d verdict=%s trace=%s", r.Seed, r.Verdict(), r.TraceString())
	return b.String()
}
