// Package catalog holds the tables of a cluster: their names, OIDs and the
// relation files of each table's heap and primary-key index.
//
// It is kept the way PostgreSQL's relation mapper keeps the mapped catalogs
// (relmapper.c): one small map file, global/pg_catalog.map, rewritten as a
// whole. A change is WAL-logged first with the complete new map and the
// record flushed (write_relmap_file's XLogInsert + XLogFlush), then the file
// is replaced durably (written to a temporary file, fsynced, renamed,
// directory fsynced); redo of the record rewrites the file and creates the
// relation files. So after any crash the map is either the old or the new
// one, and never names a relation whose creation was lost.
//
// It owns the map file and the table definitions. It must never touch
// pages or tuples.
package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/pgerr"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
)

// RMRelMap is the resource manager of map records (RM_RELMAP_ID); RMSmgr
// that of relation-file creation (RM_SMGR_ID).
const (
	RMRelMap   = 7
	InfoUpdate = 0x00 // XLOG_RELMAP_UPDATE
	RMSmgr     = 2
	InfoCreate = 0x10 // XLOG_SMGR_CREATE
	mapPath    = "global/pg_catalog.map"
	tmpPath    = "global/pg_catalog.map.tmp"
	// FirstOID is where user objects start (FirstNormalObjectId).
	FirstOID = 16384
	// TablesMax bounds the map, so a corrupt count cannot make a reader
	// allocate without limit.
	TablesMax = 4096
	// NameMax is NAMEDATALEN - 1.
	NameMax = 63
)

// Table is one table's definition.
type Table struct {
	Name  string
	OID   uint32
	Heap  smgr.RelFileNumber
	Index smgr.RelFileNumber // the primary-key B-tree
}

// Map is the set of tables and the next OID to hand out.
type Map struct {
	NextOID uint32
	Tables  []Table // sorted by name
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the map's bytes: magic, count, next OID, tables, CRC.
func (m *Map) Encode() []byte {
	b := []byte("PGDSTMAP")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Tables)))
	b = binary.LittleEndian.AppendUint32(b, m.NextOID)
	for _, t := range m.Tables {
		b = append(b, uint8(len(t.Name)))
		b = append(b, t.Name...)
		b = binary.LittleEndian.AppendUint32(b, t.OID)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Heap))
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Index))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// ErrBadMap is a map that does not decode.
var ErrBadMap = errors.New("catalog: invalid map")

// DecodeMap decodes a map; it never panics on arbitrary input.
func DecodeMap(b []byte) (Map, error) {
	var m Map
	if len(b) < 8+4+4+4 || string(b[:8]) != "PGDSTMAP" {
		return m, fmt.Errorf("%w: bad header", ErrBadMap)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return m, fmt.Errorf("%w: bad checksum", ErrBadMap)
	}
	n := binary.LittleEndian.Uint32(body[8:])
	if n > TablesMax {
		return m, fmt.Errorf("%w: %d tables", ErrBadMap, n)
	}
	m.NextOID = binary.LittleEndian.Uint32(body[12:])
	off := 16
	for i := uint32(0); i < n; i++ {
		if off >= len(body) {
			return Map{}, fmt.Errorf("%w: truncated", ErrBadMap)
		}
		l := int(body[off])
		off++
		if l == 0 || l > NameMax || off+l+12 > len(body) {
			return Map{}, fmt.Errorf("%w: bad table entry", ErrBadMap)
		}
		t := Table{Name: string(body[off : off+l])}
		off += l
		t.OID = binary.LittleEndian.Uint32(body[off:])
		t.Heap = smgr.RelFileNumber(binary.LittleEndian.Uint32(body[off+4:]))
		t.Index = smgr.RelFileNumber(binary.LittleEndian.Uint32(body[off+8:]))
		off += 12
		if i > 0 && m.Tables[i-1].Name >= t.Name {
			return Map{}, fmt.Errorf("%w: tables out of order", ErrBadMap)
		}
		m.Tables = append(m.Tables, t)
	}
	if off != len(body) {
		return Map{}, fmt.Errorf("%w: trailing bytes", ErrBadMap)
	}
	return m, nil
}

// Catalog is the running cluster's catalog.
type Catalog struct {
	e    *env.Env
	smgr *smgr.SMgr
	wal  *wal.WAL
	mu   env.Mutex // RelationMappingLock
	m    Map
}

// Init writes the empty map (initdb).
func Init(e *env.Env) error {
	return writeMap(e, Map{NextOID: FirstOID})
}

// Load reads the map (RelationMapInitializePhase2). A missing or corrupt
// map is an error: the caller PANICs, as load_relmap_file does.
func Load(e *env.Env, s *smgr.SMgr) (*Catalog, error) {
	m, err := readMap(e)
	if err != nil {
		return nil, err
	}
	c := &Catalog{e: e, smgr: s, mu: e.Sched.NewMutex("RelationMappingLock"), m: m}
	for _, t := range m.Tables {
		c.setClasses(t)
	}
	return c, nil
}

// setClasses tells the storage manager which of t's relations is the heap
// and which the index, so that their files carry their classes.
func (c *Catalog) setClasses(t Table) {
	c.smgr.SetClass(t.Heap, env.FileHeap)
	c.smgr.SetClass(t.Index, env.FileIndex)
}

// SetWAL gives the catalog the WAL once recovery has reopened it.
func (c *Catalog) SetWAL(w *wal.WAL) { c.wal = w }

// Lookup finds a table by name.
func (c *Catalog) Lookup(name string) (Table, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := slices.BinarySearchFunc(c.m.Tables, name, func(t Table, n string) int { return strings.Compare(t.Name, n) })
	if !found {
		return Table{}, false
	}
	return c.m.Tables[i], true
}

// Tables lists every table, sorted by name.
func (c *Catalog) Tables() []Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.m.Tables)
}

// Create defines a table (CREATE TABLE with a primary key), in the order
// that keeps every crash consistent:
//
//  1. each relation file is created and its creation WAL-logged
//     (XLOG_SMGR_CREATE), in RelationCreateStorage's order: smgrcreate,
//     then log_smgrcreate, so that a failed creation leaves no record
//     (the transam README's "Write-Ahead Logging for Filesystem Actions":
//     a crash in between leaves a harmless orphan file);
//  2. build fills the new relations (the index's metapage and root),
//     WAL-logging as it goes;
//  3. the new map is WAL-logged and flushed — which makes 1 and 2 durable
//     too — and only then installed.
//
// A crash before 3 leaves orphan files and no table; after 3, redo
// recreates the files, rebuilds the relations and the map.
func (c *Catalog) Create(name string, build func(Table) error) (Table, error) {
	if name == "" || len(name) > NameMax {
		return Table{}, pgerr.New(pgerr.InvalidParameterValue, "invalid table name %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := slices.BinarySearchFunc(c.m.Tables, name, func(t Table, n string) int { return strings.Compare(t.Name, n) })
	if found {
		return Table{}, pgerr.New(pgerr.DuplicateTable, "relation %q already exists", name)
	}
	if len(c.m.Tables) >= TablesMax {
		return Table{}, pgerr.New(pgerr.ProgramLimitExceeded, "too many tables")
	}
	// GetNewRelFileNumber: a relation number whose file exists is an
	// orphan a crashed CREATE TABLE left (step 1 below; the map's next OID
	// stays where it was, since its record never became durable), and is
	// skipped rather than reused: building the new index over the
	// orphan's pages fails with "relation is not empty", and so would
	// every CREATE TABLE after it. PostgreSQL checks for the file first;
	// here the exclusive create that step 1 makes anyway is the check, so
	// a CREATE TABLE that meets no orphan costs nothing more.
	oid := c.m.NextOID
	var t Table
	for attempt := 0; ; attempt++ {
		if attempt >= orphansMax {
			return Table{}, fmt.Errorf("could not find a free relfilenumber after %d orphaned files", orphansMax)
		}
		t = Table{Name: name, OID: oid, Heap: smgr.RelFileNumber(oid + 1), Index: smgr.RelFileNumber(oid + 2)}
		c.setClasses(t)
		fresh, err := c.createStorage(t)
		if err != nil {
			return Table{}, err
		}
		if fresh {
			break
		}
		c.e.Sometimes("create-skipped-orphan-file")
		oid += 3
	}
	next := Map{NextOID: oid + 3, Tables: slices.Clone(c.m.Tables)}
	next.Tables = slices.Insert(next.Tables, i, t)
	if build != nil {
		if err := build(t); err != nil {
			return Table{}, err
		}
	}
	_, end := c.wal.Insert(&wal.Record{Rmid: RMRelMap, Info: InfoUpdate, Payload: next.Encode()})
	c.wal.Flush(end)
	c.e.Inject("catalog-after-record")
	if err := c.apply(next, false); err != nil {
		// The record is durable: the map must follow it.
		c.e.Panicf("could not install the catalog map: %v", err)
	}
	return t, nil
}

// orphansMax bounds the orphaned relation files Create skips: each is
// what one crashed CREATE TABLE left.
const orphansMax = 1000

// createStorage is step 1 of Create: each of t's relation files created
// and its creation WAL-logged. fresh is false when a file exists already
// (an orphan); a file made before it is then an orphan too, as harmless
// as the others.
func (c *Catalog) createStorage(t Table) (fresh bool, err error) {
	for _, rel := range []smgr.RelFileNumber{t.Heap, t.Index} {
		if err := c.smgr.Create(rel, smgr.MainForkNum, false); err != nil {
			if errors.Is(err, env.ErrExist) {
				return false, nil
			}
			return false, err
		}
		c.wal.Insert(&wal.Record{Rmid: RMSmgr, Info: InfoCreate, Payload: binary.LittleEndian.AppendUint32(nil, uint32(rel))})
	}
	return true, nil
}

// CheckPoint is CheckPointRelationMap: a checkpoint takes and releases the
// catalog's lock after taking its REDO pointer, so that a map update whose
// record precedes the REDO pointer has its map file written and fsynced
// before the checkpoint completes. Create holds the lock from before the
// record to after the file is durable (write_relmap_file under
// RelationMappingLock); without this wait a checkpoint could complete
// between the two, and recovery from its REDO would never replay a record
// whose map file a crash then lost.
func (c *Catalog) CheckPoint() {
	c.mu.Lock()
	//lint:ignore SA2001 the wait for the holder is the point
	c.mu.Unlock()
}

// apply creates the map's relation files that are missing and installs it.
func (c *Catalog) apply(m Map, isRedo bool) error {
	for _, t := range m.Tables {
		c.setClasses(t)
		for _, rel := range []smgr.RelFileNumber{t.Heap, t.Index} {
			if err := c.smgr.Create(rel, smgr.MainForkNum, isRedo); err != nil && !(isRedo || errors.Is(err, env.ErrExist)) {
				return err
			}
		}
	}
	if err := writeMap(c.e, m); err != nil {
		return err
	}
	c.m = m
	return nil
}

// Redo replays a map record (relmap_redo: the whole map is rewritten) or a
// relation-file creation (smgr_redo).
func (c *Catalog) Redo(rec wal.Record) error {
	if rec.Rmid == RMSmgr {
		if rec.Info != InfoCreate || len(rec.Payload) != 4 {
			return fmt.Errorf("catalog: bad smgr record")
		}
		return c.smgr.Create(smgr.RelFileNumber(binary.LittleEndian.Uint32(rec.Payload)), smgr.MainForkNum, true)
	}
	if rec.Rmid != RMRelMap || rec.Info != InfoUpdate {
		return fmt.Errorf("catalog: not a map record")
	}
	m, err := DecodeMap(rec.Payload)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apply(m, true)
}

// writeMap replaces the map file durably (durable_rename).
func writeMap(e *env.Env, m Map) error {
	e.ClassifyFile(tmpPath, env.FileCatalog)
	e.ClassifyFile(mapPath, env.FileCatalog)
	_ = e.Disk.Remove(tmpPath)
	f, err := e.Disk.Open(tmpPath, env.OpenCreateExcl)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(m.Encode(), 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		e.Panicf("could not fsync file %q: %v", tmpPath, err)
	}
	f.Close()
	if err := e.Disk.Rename(tmpPath, mapPath); err != nil {
		return err
	}
	if err := e.Disk.SyncDir("global"); err != nil {
		e.Panicf("could not fsync directory %q: %v", "global", err)
	}
	return nil
}

func readMap(e *env.Env) (Map, error) {
	e.ClassifyFile(mapPath, env.FileCatalog)
	f, err := e.Disk.Open(mapPath, env.OpenExisting)
	if err != nil {
		return Map{}, fmt.Errorf("could not open catalog map %q: %w", mapPath, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return Map{}, err
	}
	if size > int64(TablesMax*(NameMax+13)+32) {
		return Map{}, fmt.Errorf("%w: %d bytes", ErrBadMap, size)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); err != nil && int64(n) != size {
		return Map{}, err
	}
	return DecodeMap(b)
}
