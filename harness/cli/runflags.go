package cli

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/simtest"
	"github.com/pgdst/pgdst/simtest/world"
)

// RunFlag describes one flag of the run configuration, everything about
// it in one place: its name, help and check; the simtest.Config fields it
// sets (by JSON name); how a value given on the command line sets them;
// the words that give a config's fields in the reproduce command; and how
// the shrinker moves them toward the defaults. The flag sets of run and
// campaign, the fields a --config file may name, the reproduce command and
// the shrinker's configuration steps are all made from RunFlags.
type RunFlag struct {
	Name string
	Help string
	// Default is the flag's text at its default, shown by -h ("": none).
	Default string
	// JSON names the simtest.Config fields the flag sets, as a --config
	// file and a repro file name them. Every field but the seed belongs to
	// exactly one flag (a test checks it).
	JSON []string
	// Bool flags take no value (--no-swarm); Repeat flags may be given
	// more than once, each value adding to the others (--bug, --fault).
	Bool, Repeat bool
	// Check judges one value as given on the command line; its error is
	// one line that names neither the flag nor the value (the flag
	// package adds both).
	Check func(v string) error
	// Apply sets c's fields from the values given, checked, in order (one
	// value unless Repeat). The plan flags --faults, --fault and
	// --no-faults have none: they set the plan together (applyPlan).
	Apply func(c *simtest.Config, vals []string)
	// Words are the flag's words in the command that runs c, already
	// quoted for a shell: none when c's fields are at their defaults.
	Words func(c simtest.Config) []string
	// Shrink tries simpler values of the flag's fields through the
	// shrinker (nil: the flag is not shrunk as a knob; the plan's faults
	// are shrunk by the shrinker itself).
	Shrink func(s Shrinker)
}

// Shrinker is what a flag's Shrink step needs of the shrinker.
type Shrinker interface {
	// Config is the smallest failing config so far.
	Config() simtest.Config
	// Checker is the checker the runs must keep failing.
	Checker() string
	// Try runs c and keeps it when it still fails with the checker.
	Try(c simtest.Config) bool
	// Lower lowers a number from cur toward floor (floor itself, else by
	// bisection), mk making the config with the number at a value.
	Lower(cur, floor uint64, mk func(v uint64) simtest.Config)
}

// Flag names the plan logic and the commands refer to.
const (
	flagFaults         = "faults"
	flagFault          = "fault"
	flagNoFaults       = "no-faults"
	flagCrashStep      = "crash-step"
	flagFaultIntensity = "fault-intensity"
)

// RunFlags is the table, in the order the reproduce command writes the
// flags.
var RunFlags = []RunFlag{
	enumFlag("workload", "workload", simtest.Workloads, nil,
		"what the clients do: "+strings.Join(simtest.Workloads, ", "),
		func(c *simtest.Config) *string { return &c.Workload },
		func(s Shrinker) {
			if s.Config().Workload != simtest.WorkloadMixed {
				return
			}
			for _, w := range checkerWorkloads(s.Checker()) {
				c := s.Config()
				c.Workload = w
				if s.Try(c) {
					return
				}
			}
		}),
	enumFlag("isolation", "isolation", simtest.Isolations, checkIsolation,
		"isolation level of the clients' transactions: "+strings.Join(simtest.Isolations, ", ")+" (default: drawn from the seed)",
		func(c *simtest.Config) *string { return &c.Isolation },
		func(s Shrinker) {
			// Without swarm, "" is read committed; with it, "" draws a level.
			c := s.Config()
			c.Isolation = ""
			if c.Swarm {
				c.Isolation = simtest.IsoReadCommitted
			}
			s.Try(c)
		}),
	{
		Name: "synchronous-commit", JSON: []string{"async_commit", "synchronous_commit"}, Default: "on",
		Help:  "synchronous_commit: off (acknowledged commits may be lost within PostgreSQL's bound; needs --workload insert), or local, remote_write, on or remote_apply, which differ with synchronous standbys (--synchronous-standby-names; the level is drawn from the seed when not given)",
		Check: func(v string) error { return oneOf(v, append([]string{"off"}, simtest.SyncCommitLevels...)) },
		Apply: func(c *simtest.Config, vals []string) {
			v := last(vals)
			c.AsyncCommit, c.SyncCommit = v == "off", v
			if v == "off" {
				c.SyncCommit = ""
			}
		},
		Words: func(c simtest.Config) []string {
			if c.AsyncCommit {
				return []string{"--synchronous-commit", "off"}
			}
			return wordsIf(c.SyncCommit != "", "--synchronous-commit", c.SyncCommit)
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			c.AsyncCommit, c.SyncCommit = false, ""
			s.Try(c)
		},
	},
	durationFlag("client-timeout", "client_timeout_ns", 0, time.Hour,
		"how long a client waits for a reply before it abandons the connection (default: drawn from the seed; with --no-swarm, forever)",
		func(c *simtest.Config) *time.Duration { return &c.ClientTimeout }),
	intFlag("clients", "clients", 1, 64, "simulated client processes", func(c *simtest.Config) *int { return &c.Clients }, true),
	intFlag("txns", "txns", 1, 10000, "transactions per client", func(c *simtest.Config) *int { return &c.Txns }, true),
	intFlag("writes", "writes_max", 1, 64, "most writes per transaction", func(c *simtest.Config) *int { return &c.WritesMax }, true),
	durationFlag("think-max", "think_max_ns", 0, time.Minute,
		"longest virtual pause of a client between transactions",
		func(c *simtest.Config) *time.Duration { return &c.ThinkMax }),
	enumFlag("crash-mode", "crash_mode", crashModes, checkCrashMode,
		"what survives of unsynced writes: drop-all, random-subset or torn (default: drawn from the seed)",
		func(c *simtest.Config) *string { return &c.CrashMode }, nil),
	{
		Name: flagCrashStep, JSON: []string{"crash_step"},
		Help:  "crash at this scheduler step, >= 1 (default: drawn from the seed)",
		Check: func(v string) error { _, err := parseUint(v, 1); return err },
		Apply: func(c *simtest.Config, vals []string) { c.CrashStep, _ = parseUint(last(vals), 1) },
		Words: func(c simtest.Config) []string {
			return wordsIf(c.CrashStep != 0, "--"+flagCrashStep, strconv.FormatUint(c.CrashStep, 10))
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			c.CrashStep = 0
			s.Try(c)
		},
	},
	boolFlag("no-swarm", "swarm", "use fixed engine timings instead of drawing them from the seed",
		func(c *simtest.Config) *bool { return &c.Swarm }, true),
	boolFlag("pg-timings", "pg_timings", "keep PostgreSQL's default bgwriter_delay and checkpoint_timeout",
		func(c *simtest.Config) *bool { return &c.PGTimings }, false),
	boolFlag("autocommit", "autocommit", "make each insert transaction one autocommit INSERT of one row, as psql runs a script (insert and mixed workloads)",
		func(c *simtest.Config) *bool { return &c.Autocommit }, false),
	drawnIntFlag("row-bytes", "row_bytes", simtest.RowBytesMin, simtest.RowBytesMax,
		fmt.Sprintf("size of each inserted row's value, in [%d, %d] (default: drawn from the seed; with --no-swarm, 1000)", simtest.RowBytesMin, simtest.RowBytesMax),
		func(c *simtest.Config) *int { return &c.RowBytes }),
	varietyFlag("deletes", "deletes", "register clients also DELETE keys and INSERT them again",
		func(c *simtest.Config) *string { return &c.Deletes }, deletesOn),
	varietyFlag("contended-keys", "contended_keys", "insert transactions also insert keys other clients insert (unique violations are then legitimate)",
		func(c *simtest.Config) *string { return &c.ContendedKeys }, contendedKeysOn),
	varietyFlag("bulk-reads", "bulk_reads", "a client reads table t by key and key range while the others' bulk loads split its index (on: forces the bulk loads)",
		func(c *simtest.Config) *string { return &c.BulkReads }, bulkReadsOn),
	registerBytesFlag,
	varietyFlag("script-client", "script_client", "the last client is a script: autocommit INSERTs back to back, four times as many as the others' transactions",
		func(c *simtest.Config) *string { return &c.ScriptClient }, scriptClientOn),
	varietyFlag("range-statements", "range_statements", "clients also run INSERT INTO hw SELECT ... FROM hw and range UPDATEs, statements that must not read the rows they write themselves (the Halloween problem)",
		func(c *simtest.Config) *string { return &c.RangeStatements }, rangeStatementsOn),
	varietyFlag("follow-reads", "follow_reads", "clients' reads often read the keys another client committed a moment before (a queue consumer, a dashboard polling a writer)",
		func(c *simtest.Config) *string { return &c.FollowReads }, followReadsOn),
	{
		Name: "standbys", JSON: []string{"standbys", "standbys_set"},
		Help:  "standby nodes made from a base backup of the primary, streaming its WAL, and judged after the run by the standby checker (issue 19), in [0, 3] (default: drawn from the seed, one or two on one seed in 16, else none; with --no-swarm, none)",
		Check: func(v string) error { _, err := parseInt(v, 0, 3); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.Standbys, _ = parseInt(last(vals), 0, 3)
			c.StandbysSet = true
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.Standbys != 0 || c.StandbysSet, "--standbys", strconv.Itoa(c.Standbys))
		},
		// A count drawn from the seed goes with the swarm, which the
		// shrinker turns off as a whole; a count given is tried lower.
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.Standbys > 0 {
				c.Standbys--
				c.StandbysSet = true
				s.Try(c)
			}
		},
	},
	varietyFlag("standby-reads", "standby_reads", "clients on each standby run REPEATABLE READ reads of table hs, which writers on the primary append to, judged by the standby-read checker (a prefix of the primary's commit order, monotonic per connection); only on runs with standbys and no failover",
		func(c *simtest.Config) *string { return &c.StandbyReads }, standbyReadsOn),
	varietyFlag("standby-archive", "standby_archive", "give the standbys restore_command reading the primary's archive (the archive as a standby's WAL source, before pg_wal and streaming, and after a failed stream), and on some seeds a small wal_keep_size so that a lagging standby must restore from it; needs standbys, turns archive_mode on (issue 19)",
		func(c *simtest.Config) *string { return &c.StandbyArchive }, simtest.StandbyArchiveOf),
	varietyFlag("pitr", "pitr", "take a base backup with recovery.signal while the workload runs, and after it restore the backup from the archive to a recovery target drawn among the commits (recovery_target_lsn, _xid or _time, inclusive or not), judged by the PITR checker against the primary's WAL cut at the target; archive_mode on (issue 19)",
		func(c *simtest.Config) *string { return &c.PITR }, simtest.PITROf),
	boolFlag("failover", "failover", "at a moment drawn from the seed, power off the primary, promote standby 1 and redirect the clients to it; the old primary stays off (issue 19; needs --standbys)",
		func(c *simtest.Config) *bool { return &c.Failover }, false),
	enumFlag("failover-kind", "failover_kind", simtest.FailoverKinds, nil,
		"how a failover happens: power-off (the old primary loses power, then standby 1 is promoted) or partition (the old primary is cut off from its standbys and most clients, standby 1 is promoted, a drawn share of clients keeps writing to the old primary until it is fenced by a power-off a drawn window later); default: drawn from the seed (needs --failover)",
		func(c *simtest.Config) *string { return &c.FailoverKind }, nil),
	{
		Name: "synchronous-standby-names", JSON: []string{"synchronous_standby_names", "synchronous_standby_names_set"},
		Help: "the primary's synchronous_standby_names, PostgreSQL's grammar over the standbys' names standby1, standby2, ...: 'FIRST 1 (standby1)', 'ANY 1 (standby1, standby2)', 'standby1', '*'; '' pins asynchronous replication (default: drawn from the seed on half the seeds that draw standbys, else asynchronous)",
		Check: func(v string) error {
			if _, err := db.ParseSyncStandbyNames(v); err != nil {
				return fmt.Errorf("want FIRST n (names), ANY n (names), a list of names, or *")
			}
			return nil
		},
		Apply: func(c *simtest.Config, vals []string) {
			c.SyncStandbyNames, c.SyncStandbyNamesSet = last(vals), true
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.SyncStandbyNames != "" || c.SyncStandbyNamesSet, "--synchronous-standby-names", ShellQuote(c.SyncStandbyNames))
		},
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.SyncStandbyNames != "" {
				c.SyncStandbyNames, c.SyncStandbyNamesSet = "", true
				s.Try(c)
			}
		},
	},
	{
		Name: "syncrep-cancel", JSON: []string{"syncrep_cancel"},
		Help:  "with synchronous standbys, an operator cancels (or on one in four terminates) every backend waiting for them longer than this: off, or a duration up to 1s (default: drawn from the seed, 20ms to 200ms)",
		Check: func(v string) error { _, err := simtest.ParseSyncRepCancel(v); return err },
		Apply: func(c *simtest.Config, vals []string) { c.SyncRepCancel = last(vals) },
		Words: func(c simtest.Config) []string {
			return wordsIf(c.SyncRepCancel != "", "--syncrep-cancel", c.SyncRepCancel)
		},
	},
	varietyFlag("failover-standby-power-loss", "failover_standby_power_loss", "with synchronous standbys, a failover powers off standby1's machine with the primary's; it boots and is promoted from what its disk kept",
		func(c *simtest.Config) *string { return &c.FailoverStandbyPowerLoss }, func(c simtest.Config) bool { return c.FailoverStandbyPowerLoss == simtest.VarietyOn }),
	{
		Name: "scheduler", JSON: []string{"scheduler"},
		Help:  "how processes interleave: random (a seeded switch at each yield point) or pct:D (PCT of depth D in [1, 8]: random priorities, D-1 priority change points) (default: drawn from the seed; with --no-swarm, random)",
		Check: func(v string) error { _, err := world.ParseScheduler(v); return err },
		Apply: func(c *simtest.Config, vals []string) { c.Scheduler = last(vals) },
		Words: func(c simtest.Config) []string { return wordsIf(c.Scheduler != "", "--scheduler", c.Scheduler) },
	},
	{
		Name: "bug", JSON: []string{"bugs"}, Repeat: true,
		Help:  "switch on a planted bug (repeatable, or several joined by commas; see 'pgdst bugs')",
		Check: func(v string) error { _, err := bugs.ParseSet(v); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.Bugs = 0
			for _, v := range vals {
				set, _ := bugs.ParseSet(v)
				c.Bugs |= set
			}
		},
		Words: func(c simtest.Config) []string {
			var w []string
			for _, b := range c.Bugs.Names() {
				w = append(w, "--bug", b)
			}
			return w
		},
		Shrink: func(s Shrinker) {
			// Keep one planted bug at least: a failure with none is an
			// engine bug, which deserves its own repro rather than a
			// shrunk one.
			for _, n := range s.Config().Bugs.Names() {
				if len(s.Config().Bugs.Names()) == 1 {
					return
				}
				id, _ := bugs.Parse(n)
				c := s.Config()
				c.Bugs &^= bugs.Set(0).With(id)
				s.Try(c)
			}
		},
	},
	{
		// The file's faults are written as --fault lines in the
		// reproduce command, which then needs no file.
		Name:  flagFaults,
		Help:  "run this fault plan (a file, one fault per line; see 'pgdst faults') instead of one drawn from the seed",
		Check: func(v string) error { return nonEmpty(v) },
	},
	{
		Name: flagFault, JSON: []string{"faults"}, Repeat: true,
		Help:  "run this fault, written as a line of a plan (repeatable; see 'pgdst faults'); the plan is then exactly the faults given (with --faults: the file's and these)",
		Check: func(v string) error { _, err := fault.ParseFault(v); return err },
		Words: func(c simtest.Config) []string {
			var w []string
			for _, l := range PlanLines(c.Faults) {
				w = append(w, "--"+flagFault, ShellQuote(l))
			}
			return w
		},
	},
	{
		// An explicit plan without faults: the run's plan is
		// --crash-step's crash alone, if there is one, which
		// --crash-step without a plan flag gives too (a crash step
		// leaves nothing to draw); otherwise it is exactly empty, which
		// is --no-faults.
		Name: flagNoFaults, Bool: true, Check: checkBool,
		Help: "run with an empty fault plan: no fault at all, the run ends in a power loss after the workload (not with --fault, --faults, --crash-step or --fault-intensity)",
		Words: func(c simtest.Config) []string {
			return wordsIf(c.Faults != "" && len(PlanLines(c.Faults)) == 0 && c.CrashStep == 0, "--"+flagNoFaults)
		},
	},
	{
		Name: "async-share", JSON: []string{"async_share", "async_share_set"},
		Help:  "share in [0, 1] of the insert transactions and bank transfers that SET LOCAL synchronous_commit = off (default: drawn from the seed, 0 on most seeds)",
		Check: func(v string) error { _, err := parseIntensity(v); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.AsyncShare, _ = parseIntensity(last(vals))
			c.AsyncShareSet = true
		},
		Words: func(c simtest.Config) []string {
			return wordsIf(c.AsyncShare != 0 || c.AsyncShareSet, "--async-share", strconv.FormatFloat(c.AsyncShare, 'g', -1, 64))
		},
		// A share drawn from the seed goes with the swarm, which the
		// shrinker turns off as a whole; a share given is tried at 0.
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.AsyncShare != 0 {
				c.AsyncShare = 0
				s.Try(c)
			}
		},
	},
	enumFlag("lock-pause", "lock_pause", simtest.LockPauseModes(), nil,
		"a pause of one role at one lock's LWLock acquisitions in the drawn plan (point=lwlock-acquire): off, any (on every seed, the lock drawn) or the lock's name (default: drawn from the seed, on one seed in four, the lock drawn)",
		func(c *simtest.Config) *string { return &c.LockPause }, nil),
	enumFlag("pred-locks", "pred_locks", simtest.PredLocksModes, nil,
		"a SERIALIZABLE run's predicate lock limits: default (PostgreSQL's) or scaled (max_pred_locks_per_transaction 8 and few transaction records, so locks are promoted and committed transactions summarized) (default: drawn from the seed)",
		func(c *simtest.Config) *string { return &c.PredLocks }, nil),
	enumFlag("list-inserts", "list_inserts", []string{"on", "off"}, nil,
		"on a SERIALIZABLE run, whether half of the lists are made by their first append (INSERT ... ON CONFLICT DO UPDATE) and B-tree pages hold few items, so that phantoms and leaf splits meet SIREAD locks (default: drawn from the seed)",
		func(c *simtest.Config) *string { return &c.ListInserts }, nil),
	enumFlag("ssi-read-only", "ssi_read_only", simtest.SSIReadOnlyModes, nil,
		"on a SERIALIZABLE run, whether a third of the list-append transactions and every bank read are READ ONLY readers: off, read-only, deferrable (READ ONLY DEFERRABLE: they wait for a safe snapshot) or mixed (default: drawn from the seed, off on a quarter of serializable runs)",
		func(c *simtest.Config) *string { return &c.SSIReadOnly }, nil),
	enumFlag("hot-keys", "hot_keys", []string{"on", "off"}, nil,
		"on a SERIALIZABLE run, whether the list-append transactions crowd onto four lists, half of them new ones made by their first append, with the odd clients' transactions long (a pause of up to 10ms before each statement) beside the others' short ones (default: drawn from the seed, on one seed in eight with list-append transactions, which then runs at SERIALIZABLE when its level is drawn)",
		func(c *simtest.Config) *string { return &c.HotKeys }, nil),
	enumFlag("hint-bits", "hint_bits", simtest.HintBitsModes, nil,
		"whether a hint bit dirties its page: dirty (PostgreSQL's MarkBufferDirtyHint, with a full-page image for the first hint after a checkpoint) or no-dirty (default: drawn from the seed, dirty on half the seeds)",
		func(c *simtest.Config) *string { return &c.HintBits }, nil),
	{
		Name: flagFaultIntensity, JSON: []string{"fault_intensity", "fault_intensity_set"},
		Help:  "add the swarm's disk and clock faults, drawn from the seed, at this intensity in [0, 1] (default: drawn from the seed, 0 on half the seeds; 0 turns them off)",
		Check: func(v string) error { _, err := parseIntensity(v); return err },
		Apply: func(c *simtest.Config, vals []string) {
			c.FaultIntensity, _ = parseIntensity(last(vals))
			c.FaultIntensitySet = true
		},
		// Only a plan drawn from the seed takes the swarm's faults
		// (simtest's dbPlan): with an explicit plan or a crash step the
		// intensity draws nothing, and the command leaves it out.
		Words: func(c simtest.Config) []string {
			return wordsIf((c.FaultIntensity != 0 || c.FaultIntensitySet) && c.Faults == "" && c.CrashStep == 0,
				"--"+flagFaultIntensity, strconv.FormatFloat(c.FaultIntensity, 'g', -1, 64))
		},
		Shrink: func(s Shrinker) {
			if c := s.Config(); c.FaultIntensity != 0 && c.Faults != "" {
				c.FaultIntensity = 0
				s.Try(c)
			}
		},
	},
	// The engine's settings (runflags_settings.go).
	fullPageWritesFlag(),
	dataChecksumsFlag(),
	sharedBuffersFlag(),
	walBuffersFlag(),
	checkpointTimeoutFlag(),
	archiveTimeoutFlag(),
	deadlockTimeoutFlag(),
	walSegmentSizeFlag(),
	autovacuumThresholdFlag(),
	autovacuumScaleFactorFlag(),
	// The coverage draws (runflags_coverage.go).
	nextXidFlag(),
	fsyncQueueFlag(),
	maxWalSendersFlag(),
}

// Lookup is the RunFlag named name (nil if none).
func Lookup(name string) *RunFlag {
	for i := range RunFlags {
		if RunFlags[i].Name == name {
			return &RunFlags[i]
		}
	}
	return nil
}

// Words are the reproduce command's words for c: the flags of 'pgdst run'
// for every field that differs from its default, one --fault per line of
// an explicit plan, --no-faults for an explicit empty one.
func Words(c simtest.Config) []string {
	var w []string
	for _, f := range RunFlags {
		if f.Words != nil {
			w = append(w, f.Words(c)...)
		}
	}
	return w
}

// Flags is Words joined, with a leading space unless there are none: what
// a campaign prints and records as its workload flags.
func Flags(c simtest.Config) string {
	w := Words(c)
	if len(w) == 0 {
		return ""
	}
	return " " + strings.Join(w, " ")
}

// Command is the command line that runs c: its run is c's run, to the
// trace hash.
func Command(c simtest.Config) string {
	return fmt.Sprintf("go run ./cmd/pgdst run --seed %d%s", c.Seed, Flags(c))
}

// EmptyPlan is the Faults text of an explicit plan without faults: ""
// would mean "draw a plan from the seed", so the comment keeps it
// explicit. It is what --no-faults and the shrinker write, and any plan
// text without a fault line means the same run.
const EmptyPlan = "# no faults\n"

// PlanLines is a Faults text's faults, one a line ("" and an empty plan
// give none).
func PlanLines(text string) []string {
	p, err := fault.Parse(text)
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range p.Faults {
		out = append(out, f.String())
	}
	return out
}

// RunFlagSet holds the run flags of one command line as they are parsed.
type RunFlagSet struct {
	vals       map[string][]string // the values given, by flag
	configFile string

	// Filled by Prepare.
	faultsText string // the --faults file's contents
	// file is the --config file's configuration (nil without --config),
	// and fileSeed the seed it names, which the run does not use.
	file     *simtest.Config
	fileSeed uint64
}

// runValue is a RunFlag's flag.Value: it checks each value and keeps it.
type runValue struct {
	set *RunFlagSet
	f   *RunFlag
}

func (v *runValue) String() string {
	if v == nil || v.f == nil {
		return ""
	}
	if vals := v.set.vals[v.f.Name]; len(vals) > 0 {
		return strings.Join(vals, ",")
	}
	return v.f.Default
}

func (v *runValue) Set(s string) error {
	if err := v.f.Check(s); err != nil {
		return err
	}
	if v.f.Repeat {
		v.set.vals[v.f.Name] = append(v.set.vals[v.f.Name], s)
	} else {
		v.set.vals[v.f.Name] = []string{s}
	}
	return nil
}

func (v *runValue) IsBoolFlag() bool { return v != nil && v.f != nil && v.f.Bool }

// Register defines the run flags, and --config, on fs.
func (r *RunFlagSet) Register(fs *flag.FlagSet) {
	r.vals = map[string][]string{}
	for i := range RunFlags {
		f := &RunFlags[i]
		fs.Var(&runValue{r, f}, f.Name, f.Help)
	}
	fs.StringVar(&r.configFile, "config", "", "start from this configuration (JSON: a repro file, or the \"config\" object of one); the flags given override its fields, and its seed is not used")
}

// Given reports whether the run flag name was given.
func (r *RunFlagSet) Given(name string) bool { return len(r.vals[name]) > 0 }

// GivenNames lists the run flags given, in the table's order.
func (r *RunFlagSet) GivenNames() []string {
	var out []string
	for _, f := range RunFlags {
		if r.Given(f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

// boolGiven reports whether the bool flag name was given as true.
func (r *RunFlagSet) boolGiven(name string) bool {
	v := r.vals[name]
	return len(v) > 0 && must(strconv.ParseBool(last(v)))
}

// PlanGiven says whether the plan flags (--faults, --fault, --no-faults)
// say what the fault plan is.
func (r *RunFlagSet) PlanGiven() bool {
	return r.Given(flagFaults) || r.Given(flagFault) || r.boolGiven(flagNoFaults)
}

// CrashStepGiven says whether --crash-step was given.
func (r *RunFlagSet) CrashStepGiven() bool { return r.Given(flagCrashStep) }

// File is the --config file's path and the seed it names ("", 0 without).
func (r *RunFlagSet) File() (path string, seed uint64) {
	if r.file == nil {
		return "", 0
	}
	return r.configFile, r.fileSeed
}

// Prepare checks the flags together once they are parsed, and reads the
// files they name: the --config file and the --faults plan. It must run
// before Config.
func (r *RunFlagSet) Prepare() error {
	clash := func(names ...string) string {
		var given []string
		for _, name := range names {
			if r.Given(name) {
				given = append(given, "--"+name)
			}
		}
		return strings.Join(given, " and ")
	}
	if r.boolGiven(flagNoFaults) {
		if c := clash(flagFault, flagFaults, flagCrashStep, flagFaultIntensity); c != "" {
			return fmt.Errorf("--no-faults makes the plan exactly empty: drop %s", c)
		}
	}
	if r.Given(flagFaultIntensity) {
		// The swarm's faults join a plan drawn from the seed; a plan
		// given by flags is exactly what it says (simtest's dbPlan).
		if c := clash(flagFault, flagFaults, flagCrashStep); c != "" {
			return fmt.Errorf("--fault-intensity adds faults to the plan drawn from the seed, and %s give the plan exactly: drop one", c)
		}
	}
	if r.configFile != "" {
		c, err := ReadConfigFile(r.configFile)
		if err != nil {
			return fmt.Errorf("--config: %s", OneLine(err.Error()))
		}
		r.fileSeed = c.Seed
		r.file = &c
	}
	if r.Given(flagFaults) {
		path := last(r.vals[flagFaults])
		text, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading the fault plan: %w", err)
		}
		if len(text) == 0 {
			return fmt.Errorf("fault plan %s is empty", path)
		}
		r.faultsText = string(text)
	}
	return nil
}

// Config is the run of seed the flags describe: the --config file's
// configuration, else the defaults, with the fields of every flag given
// replaced (--bug the whole set of bugs, --fault, --faults and --no-faults
// the whole plan).
func (r *RunFlagSet) Config(seed uint64) (simtest.Config, error) {
	c := simtest.DefaultConfig(seed)
	if r.file != nil {
		c = *r.file
		c.Seed = seed
	}
	for _, f := range RunFlags {
		if f.Apply != nil && r.Given(f.Name) {
			f.Apply(&c, r.vals[f.Name])
		}
	}
	r.applyPlan(&c)
	return c, c.Validate()
}

// applyPlan sets the plan from --faults, --fault and --no-faults. A
// --config file's plan stays unless a plan flag replaces it: an explicit
// --no-faults=false, say, is no plan of its own.
func (r *RunFlagSet) applyPlan(c *simtest.Config) {
	if !r.PlanGiven() {
		return
	}
	c.Faults = r.faultsText
	for _, l := range r.vals[flagFault] {
		c.Faults += "\n" + l + "\n"
	}
	if r.boolGiven(flagNoFaults) {
		// Exactly empty: the file's crash step and swarm faults would
		// add faults to it (the flags cannot: Prepare rejects them with
		// --no-faults).
		c.Faults, c.CrashStep, c.FaultIntensity = EmptyPlan, 0, 0
	}
}

// checkerWorkloads are the single workloads to try instead of mixed, the
// one the checker judges first.
func checkerWorkloads(checker string) []string {
	first := map[string]string{
		simtest.CheckIsolation:       simtest.WorkloadAppend,
		simtest.CheckLinearizability: simtest.WorkloadRegister,
		simtest.CheckBank:            simtest.WorkloadBank,
		simtest.CheckDurability:      simtest.WorkloadInsert,
		simtest.CheckAtomicity:       simtest.WorkloadInsert,
	}[checker]
	out := []string{}
	if first != "" {
		out = append(out, first)
	}
	for _, w := range []string{simtest.WorkloadInsert, simtest.WorkloadRegister, simtest.WorkloadBank, simtest.WorkloadAppend} {
		if w != first {
			out = append(out, w)
		}
	}
	return out
}

// The kinds of flag the table is made of.

// enumFlag is a string field that takes one of values; check, when set,
// judges a value instead (other spellings, a better message).
func enumFlag(name, jsonName string, values []string, check func(string) error, help string, field func(*simtest.Config) *string, shrink func(Shrinker)) RunFlag {
	def := *field(ptr(simtest.DefaultConfig(0)))
	if check == nil {
		check = func(v string) error { return oneOf(v, values) }
	}
	return RunFlag{
		Name: name, JSON: []string{jsonName}, Help: help, Default: def,
		Check:  check,
		Apply:  func(c *simtest.Config, vals []string) { *field(c) = last(vals) },
		Words:  func(c simtest.Config) []string { return wordsIf(*field(&c) != def, "--"+name, *field(&c)) },
		Shrink: shrink,
	}
}

// crashModes are the crash modes as flags write them.
var crashModes = []string{"drop-all", "random-subset", "torn"}

// checkCrashMode takes the spellings simtest.ParseCrashMode reads (drop,
// subset), with a message of its own: simtest's carries its package name.
func checkCrashMode(v string) error {
	if _, err := world.ParseCrashMode(v); err != nil {
		return fmt.Errorf("want %s", orList(crashModes))
	}
	return nil
}

// checkIsolation checks an isolation level's name.
func checkIsolation(v string) error { return oneOf(v, simtest.Isolations) }

// drawnIntFlag is an int flag in [lo, hi] whose field is 0 when not
// given (the seed draws it, or the run's default applies): only a given
// value is written back, and the shrinker tries the field at 0.
func drawnIntFlag(name, jsonName string, lo, hi int, help string, field func(*simtest.Config) *int) RunFlag {
	return RunFlag{
		Name: name, JSON: []string{jsonName}, Help: help,
		Check: func(v string) error { _, err := parseInt(v, lo, hi); return err },
		Apply: func(c *simtest.Config, vals []string) { *field(c), _ = parseInt(last(vals), lo, hi) },
		Words: func(c simtest.Config) []string {
			return wordsIf(*field(&c) != 0, "--"+name, strconv.Itoa(*field(&c)))
		},
		Shrink: func(s Shrinker) {
			c := s.Config()
			*field(&c) = 0
			s.Try(c)
		},
	}
}

func intFlag(name, jsonName string, lo, hi int, help string, field func(*simtest.Config) *int, lower bool) RunFlag {
	def := *field(ptr(simtest.DefaultConfig(0)))
	f := RunFlag{
		Name: name, JSON: []string{jsonName}, Help: fmt.Sprintf("%s, in [%d, %d]", help, lo, hi), Default: strconv.Itoa(def),
		Check: func(v string) error { _, err := parseInt(v, lo, hi); return err },
		Apply: func(c *simtest.Config, vals []string) { *field(c), _ = parseInt(last(vals), lo, hi) },
		Words: func(c simtest.Config) []string {
			return wordsIf(*field(&c) != def, "--"+name, strconv.Itoa(*field(&c)))
		},
	}
	if lower {
		f.Shrink = func(s Shrinker) {
			s.Lower(uint64(*field(ptr(s.Config()))), uint64(lo), func(v uint64) simtest.Config {
				c := s.Config()
				*field(&c) = int(v)
				return c
			})
		}
	}
	return f
}

func durationFlag(name, jsonName string, lo, hi time.Duration, help string, field func(*simtest.Config) *time.Duration) RunFlag {
	def := *field(ptr(simtest.DefaultConfig(0)))
	shown := Duration(def)
	if def == 0 {
		shown = "" // the help says what 0 means
	}
	return RunFlag{
		Name: name, JSON: []string{jsonName}, Help: help, Default: shown,
		Check: func(v string) error { _, err := parseDurationIn(v, lo, hi); return err },
		Apply: func(c *simtest.Config, vals []string) { *field(c), _ = parseDurationIn(last(vals), lo, hi) },
		Words: func(c simtest.Config) []string { return wordsIf(*field(&c) != def, "--"+name, Duration(*field(&c))) },
		Shrink: func(s Shrinker) {
			c := s.Config()
			*field(&c) = def
			s.Try(c)
		},
	}
}

// boolFlag is a flag that sets a bool field to the opposite of its
// default (--no-swarm clears Swarm). With simpler, the shrinker tries the
// flag given (fixed timings are simpler than swarm's draws); without, it
// tries the field at its default.
func boolFlag(name, jsonName, help string, field func(*simtest.Config) *bool, simpler bool) RunFlag {
	def := *field(ptr(simtest.DefaultConfig(0)))
	return RunFlag{
		Name: name, JSON: []string{jsonName}, Help: help, Bool: true,
		Check: checkBool,
		Apply: func(c *simtest.Config, vals []string) { *field(c) = def != must(strconv.ParseBool(last(vals))) },
		Words: func(c simtest.Config) []string { return wordsIf(*field(&c) != def, "--"+name) },
		Shrink: func(s Shrinker) {
			c := s.Config()
			*field(&c) = def != simpler
			s.Try(c)
		},
	}
}

func ptr[T any](v T) *T { return &v }

func must[T any](v T, _ error) T { return v }

func last(vals []string) string { return vals[len(vals)-1] }

func wordsIf(cond bool, words ...string) []string {
	if !cond {
		return nil
	}
	return words
}

func checkBool(v string) error {
	if _, err := strconv.ParseBool(v); err != nil {
		return fmt.Errorf("want true or false")
	}
	return nil
}

func nonEmpty(v string) error {
	if v == "" {
		return fmt.Errorf("want a file name")
	}
	return nil
}

func oneOf(v string, values []string) error {
	if slices.Contains(values, v) {
		return nil
	}
	return fmt.Errorf("want %s", orList(values))
}

// orList is "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

func parseInt(v string, lo, hi int) (int, error) { return intNumber.in(v, lo, hi) }

func parseUint(v string, lo uint64) (uint64, error) { return uintNumber.in(v, lo, math.MaxUint64) }

func parseDurationIn(v string, lo, hi time.Duration) (time.Duration, error) {
	return durationNumber.in(v, lo, hi)
}

func parseIntensity(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if !(x >= 0 && x <= 1) { // NaN too
		return 0, fmt.Errorf("must be in [0, 1]")
	}
	return x, nil
}
