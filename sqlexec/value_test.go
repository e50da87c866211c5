package sqlexec

import (
	"math"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/stretchr/testify/require"
)

func TestRowEncodingRoundTrip(t *testing.T) {
	tab := &Table{Name: "t", PK: 1, Cols: []Column{{Name: "a", Type: TypeText}, {Name: "id", Type: TypeInt8}, {Name: "b", Type: TypeInt4}, {Name: "c", Type: TypeBool}, {Name: "d", Type: TypeText}}}
	row := []Value{Text("héllo"), Int(-42), Int(math.MinInt32), Bool(true), Null}
	got, err := decodeRow(tab, intToKey(-42), encodeRow(tab, row))
	require.NoError(t, err)
	require.Equal(t, row, got)
	// Truncated and padded values are errors, never panics.
	enc := encodeRow(tab, row)
	for n := 0; n < len(enc); n++ {
		_, err := decodeRow(tab, 0, enc[:n])
		require.Error(t, err, "prefix %d", n)
	}
	_, err = decodeRow(tab, 0, append(enc, 0))
	require.Error(t, err)
}

func TestKeyOrder(t *testing.T) {
	vals := []int64{math.MinInt64, -5, -1, 0, 1, 7, math.MaxInt64}
	for i := 1; i < len(vals); i++ {
		require.Less(t, intToKey(vals[i-1]), intToKey(vals[i]))
		require.Equal(t, vals[i], keyToInt(intToKey(vals[i])))
	}
}

func TestCatalogRowRoundTrip(t *testing.T) {
	tab := &Table{ID: 9, Name: "accounts", Engine: "sql_9", PK: 0, Cols: []Column{{Name: "id", Type: TypeInt4, NotNull: true}, {Name: "s", Type: TypeText}}}
	got, err := decodeTable(9, encodeTable(tab))
	require.NoError(t, err)
	require.Equal(t, tab, got)
	enc := encodeTable(tab)
	for n := 0; n < len(enc); n++ {
		_, err := decodeTable(9, enc[:n])
		require.Error(t, err, "prefix %d", n)
	}
}

func TestArithmeticOverflow(t *testing.T) {
	_, err := arith("+", Int(math.MaxInt32), Int(1), TypeInt4)
	require.Equal(t, CodeNumericValueOutOfRange, AsError(err).Code)
	v, err := arith("+", Int(math.MaxInt32), Int(1), TypeInt8)
	require.NoError(t, err)
	require.Equal(t, Int(math.MaxInt32+1), v)
	_, err = arith("*", Int(math.MaxInt64/2+1), Int(2), TypeInt8)
	require.Equal(t, CodeNumericValueOutOfRange, AsError(err).Code)
	_, err = arith("-", Int(math.MinInt64), Int(1), TypeInt8)
	require.Equal(t, CodeNumericValueOutOfRange, AsError(err).Code)
	_, err = arith("/", Int(math.MinInt64), Int(-1), TypeInt8)
	require.Equal(t, CodeNumericValueOutOfRange, AsError(err).Code)
	v, err = arith("%", Int(math.MinInt64), Int(-1), TypeInt8)
	require.NoError(t, err)
	require.Equal(t, Int(0), v)
	_, err = arith("%", Int(1), Int(0), TypeInt8)
	require.Equal(t, CodeDivisionByZero, AsError(err).Code)
	v, err = arith("%", Int(-7), Int(3), TypeInt4) // int4mod: the sign of the dividend
	require.NoError(t, err)
	require.Equal(t, Int(-1), v)
}

// eval compiles and evaluates one scalar expression with PostgreSQL's
// parser, over no table.
func eval(t *testing.T, sql string) Value {
	t.Helper()
	res, err := pg.Parse("SELECT " + sql)
	require.NoError(t, err)
	var params []Type
	c := &compiler{params: &params, sess: &Session{}}
	e, err := c.compile(res.Stmts[0].Stmt.GetSelectStmt().TargetList[0].GetResTarget().Val, 0)
	require.NoError(t, err, sql)
	v, err := e.eval(&evalEnv{})
	require.NoError(t, err, sql)
	return v
}

func TestThreeValuedLogic(t *testing.T) {
	cases := map[string]Value{
		"NULL AND false":   Bool(false),
		"NULL AND true":    Null,
		"NULL OR true":     Bool(true),
		"NULL OR false":    Null,
		"NOT (NULL = 1)":   Null,
		"1 IN (2, NULL)":   Null,
		"1 IN (1, NULL)":   Bool(true),
		"1 NOT IN (2, 3)":  Bool(true),
		"NULL IS NULL":     Bool(true),
		"1 IS NOT NULL":    Bool(true),
		"'a' < 'b'":        Bool(true),
		"3 <> 3":           Bool(false),
		"-(2 + 3) * 4 % 7": Int(-6),
		"'ab' || 'c'":      Text("abc"),
		"'12'::int + 1":    Int(13),
		"5000000000 > 1":   Bool(true),
		"true::int":        Int(1),
	}
	for sql, want := range cases {
		require.Equal(t, want, eval(t, sql), sql)
	}
}
