package sqlexec

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/pgerr"
)

// CatalogTable is the engine table that holds the SQL tables'
// definitions, one row each, keyed by the table's id: it is WAL-logged
// and recovered like any table, so a definition is as durable as the
// commit that wrote it.
const CatalogTable = "pgdst_sql_tables"

// catalogFormat is the version byte of a definition row.
const catalogFormat = 1

// createRetriesMax bounds the engine table names CREATE TABLE tries when
// earlier ones are taken (orphans a crash or a DROP left).
const createRetriesMax = 1000

// Column is a table's column.
type Column struct {
	Name    string
	Type    Type
	NotNull bool
}

// Table is a SQL table's definition.
type Table struct {
	ID     uint64
	Name   string
	Engine string // the engine table holding its rows
	Cols   []Column
	PK     int // the primary key column's index
}

// col finds a column by name.
func (t *Table) col(name string) int {
	for i, c := range t.Cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

func encodeTable(t *Table) []byte {
	b := []byte{catalogFormat}
	str := func(s string) { b = binary.AppendUvarint(b, uint64(len(s))); b = append(b, s...) }
	str(t.Name)
	str(t.Engine)
	b = binary.AppendUvarint(b, uint64(t.PK))
	b = binary.AppendUvarint(b, uint64(len(t.Cols)))
	for _, c := range t.Cols {
		str(c.Name)
		b = binary.LittleEndian.AppendUint32(b, uint32(c.Type))
		if c.NotNull {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func decodeTable(id uint64, b []byte) (*Table, error) {
	bad := fmt.Errorf("catalog row %d is malformed", id)
	if len(b) == 0 || b[0] != catalogFormat {
		return nil, bad
	}
	b = b[1:]
	uv := func() (uint64, bool) {
		v, w := binary.Uvarint(b)
		if w <= 0 {
			return 0, false
		}
		b = b[w:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	t := &Table{ID: id}
	var ok1, ok2, ok3, ok4 bool
	var pk, n uint64
	t.Name, ok1 = str()
	t.Engine, ok2 = str()
	pk, ok3 = uv()
	n, ok4 = uv()
	if !ok1 || !ok2 || !ok3 || !ok4 || n > 1600 || pk >= n {
		return nil, bad
	}
	t.PK = int(pk)
	for i := uint64(0); i < n; i++ {
		name, ok := str()
		if !ok || len(b) < 5 {
			return nil, bad
		}
		t.Cols = append(t.Cols, Column{Name: name, Type: Type(binary.LittleEndian.Uint32(b)), NotNull: b[4] != 0})
		b = b[5:]
	}
	if len(b) != 0 {
		return nil, bad
	}
	return t, nil
}

// Catalog is the server's table definitions, shared by every session: the
// rows of CatalogTable, cached. DDL is serialized by its mutex.
type Catalog struct {
	mu     sync.Mutex
	tables map[string]*Table
	nextID uint64
	// status is the server's sessions (backend_status.go), shared as
	// the catalog is.
	status backendStatus
}

// LoadCatalog creates CatalogTable on a fresh cluster and reads every
// definition through s (which must not be in a transaction block).
func LoadCatalog(d *db.DB, s *db.Session) (*Catalog, error) {
	if _, ok := d.Catalog.Lookup(CatalogTable); !ok {
		if err := d.CreateTable(CatalogTable); err != nil && !pgerr.Is(err, pgerr.DuplicateTable) {
			return nil, fmt.Errorf("creating the SQL catalog: %w", err)
		}
	}
	c := &Catalog{tables: map[string]*Table{}, nextID: 1}
	var derr error
	err := s.Scan(CatalogTable, 0, math.MaxUint64, func(key uint64, val []byte) bool {
		t, err := decodeTable(key, val)
		if err != nil {
			derr = err
			return false
		}
		c.tables[t.Name] = t
		c.nextID = max(c.nextID, key+1)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("reading the SQL catalog: %w", err)
	}
	return c, nil
}

// Lookup finds a table by name.
func (c *Catalog) Lookup(name string) (*Table, bool) {
	c.mu.Lock()
	t, ok := c.tables[name]
	c.mu.Unlock()
	return t, ok
}

// Names lists the tables, sorted.
func (c *Catalog) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.tables))
	for n := range c.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// create defines t: a fresh engine table for its rows, then its
// definition row, committed by s (autocommit). A crash in between leaves
// an engine table no definition names, which later CREATEs skip.
func (c *Catalog) create(d *db.DB, s *db.Session, t *Table, ifNotExists bool) (notice string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.tables[t.Name]; ok {
		if ifNotExists {
			return fmt.Sprintf("relation %q already exists, skipping", t.Name), nil
		}
		return "", newErr(CodeDuplicateTable, "relation %q already exists", t.Name)
	}
	id := c.nextID
	for attempt := 0; ; attempt++ {
		if attempt >= createRetriesMax {
			return "", newErr(CodeInternalError, "no free engine table name after %d attempts", createRetriesMax)
		}
		t.Engine = fmt.Sprintf("sql_%d", id)
		err := d.CreateTable(t.Engine)
		if err == nil {
			break
		}
		if !pgerr.Is(err, pgerr.DuplicateTable) {
			return "", err
		}
		id++
	}
	t.ID = id
	c.nextID = id + 1
	if err := s.Insert(CatalogTable, id, encodeTable(t)); err != nil {
		return "", err
	}
	c.tables[t.Name] = t
	return "", nil
}

// drop removes t's definition (autocommit through s). Its engine table
// stays, unreferenced: the engine has no DROP of its own.
func (c *Catalog) drop(s *db.Session, name string, missingOK bool) (notice string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tables[name]
	if !ok {
		if missingOK {
			return fmt.Sprintf("table %q does not exist, skipping", name), nil
		}
		return "", newErr(CodeUndefinedTable, "table %q does not exist", name)
	}
	if _, err := s.Delete(CatalogTable, t.ID); err != nil {
		return "", err
	}
	delete(c.tables, name)
	return "", nil
}
