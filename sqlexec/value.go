// Package sqlexec is pgdst serve's SQL layer: it parses statements with
// PostgreSQL's own parser (pg_query_go, which embeds libpg_query), plans
// the small subset the engine can run, and executes it through an engine
// session (engine/db.Session). The engine stores rows as a uint64 key and
// a byte-string value; this package maps a table's integer primary key
// onto the key (order-preserving) and the other columns onto the value.
//
// It is real-mode code, outside the simulator: the engine core never
// imports it, so the simulator builds and runs without cgo.
package sqlexec

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is a column or expression type, named by its PostgreSQL OID.
type Type uint32

// The types pgdst serve knows (pg_type.dat's OIDs).
const (
	TypeBool Type = 16
	TypeInt8 Type = 20
	TypeInt4 Type = 23
	TypeText Type = 25
	// TypeUnknown is an untyped string literal ('...'), resolved to the
	// type its context wants, as PostgreSQL's unknown pseudo-type is.
	TypeUnknown Type = 705
)

func (t Type) String() string {
	switch t {
	case TypeBool:
		return "boolean"
	case TypeInt8:
		return "bigint"
	case TypeInt4:
		return "integer"
	case TypeText, TypeUnknown:
		return "text"
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Size is pg_type.typlen, as RowDescription reports it.
func (t Type) Size() int16 {
	switch t {
	case TypeBool:
		return 1
	case TypeInt8:
		return 8
	case TypeInt4:
		return 4
	}
	return -1
}

// kind is what a Value holds.
type kind uint8

const (
	kNull kind = iota
	kInt
	kText
	kBool
)

// Value is one datum.
type Value struct {
	k kind
	i int64
	s string
}

// Null is SQL NULL.
var Null = Value{}

// Int is an integer datum.
func Int(i int64) Value { return Value{k: kInt, i: i} }

// Text is a text datum.
func Text(s string) Value { return Value{k: kText, s: s} }

// Bool is a boolean datum.
func Bool(b bool) Value {
	if b {
		return Value{k: kBool, i: 1}
	}
	return Value{k: kBool}
}

// IsNull reports whether v is NULL.
func (v Value) IsNull() bool { return v.k == kNull }

// String is v's text output form (NULL: "").
func (v Value) String() string {
	switch v.k {
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kText:
		return v.s
	case kBool:
		if v.i != 0 {
			return "t"
		}
		return "f"
	}
	return ""
}

// Format encodes v for the wire in format 0 (text) or 1 (binary) as type
// t; nil is NULL.
func (v Value) Format(t Type, format int16) []byte {
	if v.k == kNull {
		return nil
	}
	if format == 1 {
		switch t {
		case TypeInt8:
			return binary.BigEndian.AppendUint64(nil, uint64(v.i))
		case TypeInt4:
			return binary.BigEndian.AppendUint32(nil, uint32(int32(v.i)))
		case TypeBool:
			return []byte{byte(v.i)}
		}
	}
	return []byte(v.String())
}

// ParseParam decodes a Bind parameter of type t in format 0 or 1.
func ParseParam(b []byte, t Type, format int16) (Value, error) {
	if b == nil {
		return Null, nil
	}
	if format == 1 {
		switch t {
		case TypeInt8:
			if len(b) != 8 {
				return Null, newErr(CodeInvalidBinaryRepresentation, "incorrect binary data format in bind parameter")
			}
			return Int(int64(binary.BigEndian.Uint64(b))), nil
		case TypeInt4:
			if len(b) != 4 {
				return Null, newErr(CodeInvalidBinaryRepresentation, "incorrect binary data format in bind parameter")
			}
			return Int(int64(int32(binary.BigEndian.Uint32(b)))), nil
		case TypeBool:
			if len(b) != 1 {
				return Null, newErr(CodeInvalidBinaryRepresentation, "incorrect binary data format in bind parameter")
			}
			return Bool(b[0] != 0), nil
		}
		return Text(string(b)), nil
	}
	return coerce(Text(string(b)), t)
}

// coerce converts v (an untyped literal's text, typically) to type t, as
// PostgreSQL's input functions do (int4in, int8in, boolin).
func coerce(v Value, t Type) (Value, error) {
	if v.k == kNull {
		return v, nil
	}
	switch t {
	case TypeInt4, TypeInt8:
		switch v.k {
		case kInt:
			return checkRange(v.i, t)
		case kText:
			i, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
			if err != nil {
				if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
					return Null, newErr(CodeNumericValueOutOfRange, "value \"%s\" is out of range for type %s", v.s, t)
				}
				return Null, newErr(CodeInvalidTextRepresentation, "invalid input syntax for type %s: \"%s\"", t, v.s)
			}
			return checkRange(i, t)
		}
	case TypeText, TypeUnknown:
		if v.k == kText {
			return v, nil
		}
		return Text(v.String()), nil
	case TypeBool:
		switch v.k {
		case kBool:
			return v, nil
		case kText:
			switch strings.ToLower(strings.TrimSpace(v.s)) {
			case "t", "true", "yes", "on", "1", "y":
				return Bool(true), nil
			case "f", "false", "no", "off", "0", "n":
				return Bool(false), nil
			}
			return Null, newErr(CodeInvalidTextRepresentation, "invalid input syntax for type boolean: \"%s\"", v.s)
		}
	}
	return Null, newErr(CodeDatatypeMismatch, "cannot use a value of type %s as %s", kindType(v.k), t)
}

func kindType(k kind) Type {
	switch k {
	case kInt:
		return TypeInt8
	case kBool:
		return TypeBool
	}
	return TypeText
}

// checkRange fails an integer outside t's range (int4's overflow check).
func checkRange(i int64, t Type) (Value, error) {
	if t == TypeInt4 && (i < math.MinInt32 || i > math.MaxInt32) {
		return Null, newErr(CodeNumericValueOutOfRange, "integer out of range")
	}
	return Int(i), nil
}

// The row's value bytes: one tag byte per column (kind), then its data
// (an int as 8 bytes little-endian, a text as a uvarint length and its
// bytes, a bool as one byte). The key column is not stored in the value.
func encodeRow(t *Table, row []Value) []byte {
	var b []byte
	for i, v := range row {
		if i == t.PK {
			continue
		}
		b = append(b, byte(v.k))
		switch v.k {
		case kInt:
			b = binary.LittleEndian.AppendUint64(b, uint64(v.i))
		case kText:
			b = binary.AppendUvarint(b, uint64(len(v.s)))
			b = append(b, v.s...)
		case kBool:
			b = append(b, byte(v.i))
		}
	}
	return b
}

// decodeRow is encodeRow's inverse, with the key put back in its column.
func decodeRow(t *Table, key uint64, val []byte) ([]Value, error) {
	row := make([]Value, len(t.Cols))
	for i := range t.Cols {
		if i == t.PK {
			row[i] = Int(keyToInt(key))
			continue
		}
		if len(val) == 0 {
			return nil, newErr(CodeDataCorrupted, "row of table %q is too short", t.Name)
		}
		k := kind(val[0])
		val = val[1:]
		switch k {
		case kNull:
			row[i] = Null
		case kInt:
			if len(val) < 8 {
				return nil, newErr(CodeDataCorrupted, "row of table %q is truncated", t.Name)
			}
			row[i] = Int(int64(binary.LittleEndian.Uint64(val)))
			val = val[8:]
		case kText:
			n, w := binary.Uvarint(val)
			if w <= 0 || uint64(len(val)-w) < n {
				return nil, newErr(CodeDataCorrupted, "row of table %q is truncated", t.Name)
			}
			row[i] = Text(string(val[w : w+int(n)]))
			val = val[w+int(n):]
		case kBool:
			if len(val) < 1 {
				return nil, newErr(CodeDataCorrupted, "row of table %q is truncated", t.Name)
			}
			row[i] = Bool(val[0] != 0)
			val = val[1:]
		default:
			return nil, newErr(CodeDataCorrupted, "row of table %q has a bad column tag %d", t.Name, k)
		}
	}
	if len(val) != 0 {
		return nil, newErr(CodeDataCorrupted, "row of table %q has %d trailing bytes", t.Name, len(val))
	}
	return row, nil
}

// intToKey maps an int64 onto the engine's uint64 key preserving order
// (the sign bit flipped), so that a key-range scan is an integer range.
func intToKey(i int64) uint64 { return uint64(i) ^ (1 << 63) }

func keyToInt(k uint64) int64 { return int64(k ^ (1 << 63)) }
