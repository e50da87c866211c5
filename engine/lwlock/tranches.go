package lwlock

import "github.com/pgdst/pgdst/engine/env"

// Tranche is a named class of the engine's LWLocks, as PostgreSQL names
// its locks in wait events (lwlocknames.txt, the built-in tranches): every
// scheduler mutex the engine makes (env.Scheduler.NewMutex) and every
// LWLock of this package belongs to the tranche its name starts with
// (env.LockTranche). A fault plan names one by lock=NAME with
// point=lwlock-acquire; the simulator rejects a name not listed here.
type Tranche struct {
	Name string
	// Roles are the processes that take a lock of the tranche, among
	// those a drawn pause is aimed at (backend, bgwriter, checkpointer,
	// walwriter), as runs take them (simtest checks each claimed pair is
	// reached): a pause aimed at a role that never takes the lock could
	// never fire.
	Roles env.RoleSet
	What  string // what the lock protects, with PostgreSQL's name
}

var (
	trBackend      = env.RoleBackend
	trBgwriter     = env.RoleBgwriter
	trCheckpointer = env.RoleCheckpointer
	trWalwriter    = env.RoleWalwriter
)

// Tranches lists every tranche of the engine's locks. A test checks that
// every name the engine's source gives NewMutex and New starts with a
// listed tranche, and that nothing else is listed.
var Tranches = []Tranche{
	{"ProcArrayLock", env.NewRoleSet(trBackend, trBgwriter, trCheckpointer), "the proc array of running transactions and latestCompletedXid: taken to publish an xid, to take a snapshot and to end a transaction, and by the background writer's running-xacts record on a primary with standbys (ProcArrayLock, LogStandbySnapshot)"},
	{"XidGenLock", env.NewRoleSet(trBackend, trBgwriter, trCheckpointer), "the next transaction id, and the clog extension for it (XidGenLock, GetNewTransactionId)"},
	{"CLogControlLock", env.NewRoleSet(trBackend, trCheckpointer), "the clog's pages in memory: commit and abort status updates and lookups (XactSLRULock, once CLogControlLock)"},
	{"WALInsertLock", env.NewRoleSet(trBackend, trBgwriter, trCheckpointer), "one of the NUM_XLOGINSERT_LOCKS WAL insertion locks, held while a record is copied into the WAL buffers, all of them to take a checkpoint's REDO pointer or switch segments (WALInsertLocks, WALInsertLockAcquireExclusive)"},
	{"WALWriteLock", env.NewRoleSet(trBackend, trBgwriter, trCheckpointer, trWalwriter), "writing and flushing WAL (WALWriteLock, XLogWrite)"},
	{"BufferContent", env.NewRoleSet(trBackend, trBgwriter, trCheckpointer), "one shared buffer's page contents (the buffer content lock)"},
	{"extend", env.NewRoleSet(trBackend), "extending one relation fork by a block (the relation extension lock, LockRelationForExtension)"},
	{"heap", env.NewRoleSet(trBackend), "one heap relation's insertion target and counters (RelationGetBufferForTuple's cached target block)"},
	{"BtreeMetaCache", env.NewRoleSet(trBackend), "one B-tree's cached metapage (rd_amcache)"},
	{"RelationMappingLock", env.NewRoleSet(trBackend, trCheckpointer), "the relation map of the catalog (RelationMappingLock)"},
	{"SMgrSync", env.NewRoleSet(trCheckpointer), "the queue of pending fsync requests (the checkpointer's request queue, CheckpointerCommLock)"},
	{"LockManager", env.NewRoleSet(trBackend), "the heavyweight lock table (the lock manager's partition locks)"},
	{"CheckpointLock", env.NewRoleSet(trCheckpointer), "one checkpoint at a time (CheckpointLock, before PostgreSQL 14)"},
	{"CheckpointerComm", env.NewRoleSet(trBackend, trCheckpointer, trWalwriter), "checkpoint requests to the checkpointer, from the WAL writer past max_wal_size and from a backend's pg_backup_start (CheckpointerCommLock, RequestCheckpoint)"},
	{"RelCache", env.NewRoleSet(trBackend), "the relation cache of open tables (RelationCacheInsert)"},
	{"VacuumLock", env.NewRoleSet(trBackend), "one VACUUM of a table at a time (the ShareUpdateExclusiveLock VACUUM takes)"},
	{"ControlFileLock", env.NewRoleSet(trCheckpointer), "the control file: a checkpoint's or restartpoint's update, and a standby's minRecoveryPoint moved before a page write (ControlFileLock, UpdateMinRecoveryPoint)"},
}

// TrancheNames lists the tranches' names, in table order.
func TrancheNames() []string {
	out := make([]string, len(Tranches))
	for i, t := range Tranches {
		out[i] = t.Name
	}
	return out
}
